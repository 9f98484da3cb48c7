#pragma once
/// \file
/// The Conv2d that tlearn models build: torch's Conv2d (same options, parameter
/// names and maths) that can also run with its weights prepacked for oneDNN and
/// apply the activation that follows it.
///
/// Why: on the CPU every call of torch::conv2d reorders the weights into
/// oneDNN's blocked layout before convolving. At batch 32 that cost hides behind
/// the arithmetic; at batch 1 it does not (`bench_models inference resnet50 1
/// --optimized [--no-prepack]` measures the difference).
/// optimize_for_inference turns prepacking on; then, whenever no gradient is
/// being recorded, the layer reorders its weights once per input shape and
/// reuses them, in float32 or bf16: channels-last inputs through oneDNN's
/// pointwise convolution on LibTorch 2.x (the operator torch.compile's CPU
/// kernels call), others (and all on 1.13) through LibTorch's mkldnn_prepacked
/// operators (TorchScript's frozen graphs').
/// Anything it cannot serve that way (gradients, other devices or dtypes,
/// "same" padding, a LibTorch without oneDNN) goes through torch's own forward,
/// and a weight changed in place (an optimizer step, load_state_dict) is packed
/// again, so the cache never returns stale weights.
///
/// The price: a packed copy of the weights per input shape in use (at most
/// kMaxPackedCopies of them; for resnet50 a copy is 94 MB, the 23.5 million
/// Conv2d parameters that `summary resnet50` lists).
///
/// With set_fused_activation (optimize_for_inference, where a folded BatchNorm
/// leaves conv + activation adjacent) the layer also applies the activation that
/// follows it: inside oneDNN when prepacked (ReLU always; ReLU6, SiLU and
/// Hardswish through the pointwise convolution), else right after, in place. That activation module
/// then passes its input through (nn/activation.hpp). Both do so only while no
/// tap records, so recorded rows keep their own outputs.
///
/// forward_add joins a residual block's last convolution with the sum that
/// follows it (and that sum's activation): with prepacked weights on LibTorch
/// 2.x, oneDNN adds the shortcut as a post-op of the convolution, so the sum and
/// a ReLU never run as passes of their own over memory (other activations do
/// run after it: LibTorch's operator takes ReLU alone after a sum). That matters
/// most in bf16, where LibTorch's separate add and ReLU cost more than the
/// convolution (`bench_models inference resnet50 32 --optimized --dtype bfloat16`).

#include <torch/torch.h>

#include <mutex>
#include <vector>

#include "tlearn/core/activation.hpp"
#include "tlearn/core/prepackable.hpp"
#include "tlearn/detail/packed_weights.hpp"

namespace tlearn::nn {

class Conv2dImpl : public torch::nn::Conv2dImpl, public Prepackable {
 public:
  using torch::nn::Conv2dImpl::Conv2dImpl;

  /// Packed copies kept, one per input shape (and fused activation or not):
  /// batch 1 and a larger batch, say, plus room for a second image size; more
  /// evict the oldest.
  static constexpr size_t kMaxPackedCopies = 4;

  torch::Tensor forward(const torch::Tensor& input);

  /// activation(conv(input) + other): a residual block's last convolution, its
  /// sum with the shortcut `other` (the convolution's output shape) and the
  /// activation after the sum (None, or a fusable_activation() kind), in one
  /// oneDNN call where prepacked (see the file comment), else in three steps.
  /// The layer's own fused activation must be None: it would come before the sum.
  torch::Tensor forward_add(const torch::Tensor& input, const torch::Tensor& other, Activation activation);

  /// TensorFlow's "same" padding (timm's Conv2dSame, for weights trained in
  /// TensorFlow): the input is padded by what its size and the stride need, the odd
  /// row and column at the bottom and right, instead of by the fixed `padding`
  /// (which this sets to 0).
  void set_tf_same_padding(bool on);
  bool tf_same_padding() const { return tf_same_padding_; }
  /// Fixed zero padding of the input, {left, right, top, bottom}, instead of the
  /// symmetric `padding` (which this sets to 0): Keras' ZeroPadding2D(((0, 1), (0, 1)))
  /// before a "valid" strided convolution.
  void set_input_padding(const std::vector<int64_t>& left_right_top_bottom);
  /// Whether the layer pads its input itself (TensorFlow's "same", or set_input_padding).
  bool pads_input() const { return tf_same_padding_ || !input_padding_.empty(); }
  /// `x` as the layer convolves it: padded as pads_input() says, else `x` itself
  /// (Keras' ZeroPadding2D rows show it).
  torch::Tensor pad_input(const torch::Tensor& x) const;

  /// Applies `activation`, the layer that follows this one, as part of this
  /// layer (see the file comment); Activation::None turns it off. Only
  /// fusable_activation() kinds are accepted.
  void set_fused_activation(Activation activation);
  Activation fused_activation() const { return fused_activation_; }
  /// Shorthands for the ReLU, the one kind every LibTorch fuses inside oneDNN.
  void set_fused_relu(bool on) { set_fused_activation(on ? Activation::ReLU : Activation::None); }
  bool fused_relu() const { return fused_activation_ == Activation::ReLU; }
  /// ReLU, ReLU6, SiLU, Hardswish.
  static bool fusable_activation(Activation activation);

  /// Turns prepacked inference on or off (off drops the packed copies).
  void set_prepacked(bool on) override;
  bool prepacked() const override { return prepack_; }

  /// How many packed copies of the weights this layer holds now (tests and diagnostics).
  size_t packed_copies();

  /// Whether this LibTorch offers the operators prepacking needs.
  static bool prepacking_available();
  /// Whether it applies ReLU6, SiLU and Hardswish inside oneDNN too (LibTorch 2.x).
  static bool fuses_every_activation();
  /// Whether forward_add runs in one oneDNN call when prepacked (LibTorch 2.x).
  static bool fuses_residual_add();

 private:
  struct Packed {
    std::vector<int64_t> shape;
    bool pointwise;        ///< oneDNN's pointwise convolution, else mkldnn_prepacked
    Activation activation;  ///< baked into mkldnn_prepacked's context: ReLU or None
    c10::IValue context;    ///< mkldnn_prepacked's context, or the reordered weight
  };

  /// The prepacked convolution's output with `activation` applied, or an
  /// undefined tensor when this call must go through torch's forward.
  torch::Tensor run_prepacked(const torch::Tensor& input, Activation activation);
  /// The same for forward_add; undefined unless oneDNN adds `other` itself.
  torch::Tensor run_prepacked_add(const torch::Tensor& input, const torch::Tensor& other, Activation activation);
  /// The shape this layer's output has for `input` (already padded).
  std::vector<int64_t> output_shape(const torch::Tensor& input) const;
  /// TensorFlow's rule: output size ceil(in / stride), total padding what that needs.
  torch::Tensor pad_tf_same(const torch::Tensor& x) const;
  bool can_run_prepacked(const torch::Tensor& input) const;
  /// The packed weights for this input's shape, packing them on first use;
  /// nullptr when oneDNN declines this configuration.
  Packed* packed_for(const torch::Tensor& input, Activation activation);

  bool prepack_ = false;
  Activation fused_activation_ = Activation::None;
  bool tf_same_padding_ = false;
  std::vector<int64_t> input_padding_;  ///< constant_pad_nd's order; empty: none
  bool unsupported_ = false;
  std::vector<Packed> packed_;
  detail::WeightStamp stamp_;
  std::mutex mutex_;
};

TORCH_MODULE(Conv2d);

}  // namespace tlearn::nn
