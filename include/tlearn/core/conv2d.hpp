#pragma once
/// \file
/// The Conv2d that tlearn models build: torch's Conv2d (same options, parameter
/// names and maths) that can also run with its weights prepacked for oneDNN.
///
/// Why: on the CPU every call of torch::conv2d reorders the weights into
/// oneDNN's blocked layout before convolving. At batch 32 that cost hides behind
/// the arithmetic; at batch 1 it does not (resnet50 at batch 1: 22.5 images/s
/// without prepacking, 25.0 with; `bench_models inference resnet50 1 --optimized
/// [--no-prepack]`).
/// optimize_for_inference turns prepacking on; then, whenever no gradient is
/// being recorded, the layer reorders its weights once per input shape (through
/// LibTorch's mkldnn_prepacked operators, the ones TorchScript's frozen graphs
/// use) and reuses them, in float32 or bf16. Anything it cannot serve that way (gradients, other
/// devices or dtypes, "same" padding, a LibTorch without oneDNN) goes through
/// torch's own forward, and a weight changed in place (an optimizer step,
/// load_state_dict) is packed again, so the cache never returns stale weights.
///
/// The price: a packed copy of the weights per input shape in use (at most
/// kMaxPackedCopies of them; for resnet50 a copy is 94 MB, the 23.5 million
/// Conv2d parameters that `summary resnet50` lists).
///
/// With set_fused_relu(true) (optimize_for_inference, where a folded BatchNorm
/// leaves conv + ReLU adjacent) the layer also applies the ReLU that follows it,
/// inside oneDNN when prepacked, and that ReLU passes its input through
/// (nn/activation.hpp). Both do so only while no tap records, so recorded rows
/// keep their own outputs.

#include <torch/torch.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <vector>

#include "tlearn/core/prepackable.hpp"
#include "tlearn/core/tap.hpp"
#include "tlearn/detail/compat.hpp"

namespace tlearn::nn {

class Conv2dImpl : public torch::nn::Conv2dImpl, public Prepackable {
 public:
  using torch::nn::Conv2dImpl::Conv2dImpl;

  /// Packed copies kept, one per input shape (and fused ReLU or not): batch 1
  /// and a larger batch, say, plus room for a second image size; more evict
  /// the oldest.
  static constexpr size_t kMaxPackedCopies = 4;

  torch::Tensor forward(const torch::Tensor& input) {
    const torch::Tensor x = tf_same_padding_ ? pad_tf_same(input) : input;
    const bool relu = fused_relu_ && !tap_recording();
    if (auto output = run_prepacked(x, relu); output.defined()) return output;
    auto output = torch::nn::Conv2dImpl::forward(x);
    return relu ? output.relu_() : output;
  }

  /// TensorFlow's "same" padding (timm's Conv2dSame, for weights trained in
  /// TensorFlow): the input is padded by what its size and the stride need, the odd
  /// row and column at the bottom and right, instead of by the fixed `padding`
  /// (which this sets to 0).
  void set_tf_same_padding(bool on) {
    std::lock_guard<std::mutex> lock(mutex_);
    tf_same_padding_ = on;
    if (on) options.padding(torch::ExpandingArray<2>(0));
    packed_.clear();
  }
  bool tf_same_padding() const { return tf_same_padding_; }

  /// Applies the ReLU that follows this layer as part of it (see the file comment).
  void set_fused_relu(bool on) { fused_relu_ = on; }
  bool fused_relu() const { return fused_relu_; }

  /// Turns prepacked inference on or off (off drops the packed copies).
  void set_prepacked(bool on) override {
    std::lock_guard<std::mutex> lock(mutex_);
    prepack_ = on;
    packed_.clear();
  }
  bool prepacked() const override { return prepack_; }

  /// How many packed copies of the weights this layer holds now (tests and diagnostics).
  size_t packed_copies() {
    std::lock_guard<std::mutex> lock(mutex_);
    return packed_.size();
  }

  /// Whether this LibTorch offers the operators prepacking needs.
  static bool prepacking_available() { return PrepackedConvOps::get().prepack.has_value(); }

 private:
  /// LibTorch's prepacking operators, looked up once; empty where this LibTorch
  /// was built without them.
  struct PrepackedConvOps {
    std::optional<c10::OperatorHandle> prepack, run;

    static const PrepackedConvOps& get() {
      static const PrepackedConvOps ops = [] {
        PrepackedConvOps found;
        auto& dispatcher = c10::Dispatcher::singleton();
        auto prepack = dispatcher.findOp(c10::OperatorName("mkldnn_prepacked::conv2d_prepack", ""));
        auto run = dispatcher.findOp(c10::OperatorName("mkldnn_prepacked::conv2d_run", ""));
        if (prepack && run) {
          found.prepack = *prepack;
          found.run = *run;
        }
        return found;
      }();
      return ops;
    }
  };

  struct Packed {
    std::vector<int64_t> shape;
    bool fuse_relu;
    c10::IValue context;
  };

  /// The prepacked convolution's output, or an undefined tensor when this call
  /// must go through torch's forward.
  torch::Tensor run_prepacked(const torch::Tensor& input, bool fuse_relu) {
    if (!prepack_ || !can_run_prepacked(input)) return {};
    std::lock_guard<std::mutex> lock(mutex_);
    auto* context = packed_for(input, fuse_relu);
    if (context == nullptr) return {};
    torch::jit::Stack stack{input.contiguous(input.suggest_memory_format()), *context};
    PrepackedConvOps::get().run->callBoxed(&stack);
    return stack.back().toTensor();
  }

  /// TensorFlow's rule: output size ceil(in / stride), total padding what that needs.
  torch::Tensor pad_tf_same(const torch::Tensor& x) const {
    std::vector<int64_t> pad;  // constant_pad_nd's order: left, right, top, bottom
    for (int64_t d : {1, 0}) {
      const int64_t in = x.size(x.dim() - 2 + d), k = (*options.kernel_size())[size_t(d)];
      const int64_t s = (*options.stride())[size_t(d)], dilation = (*options.dilation())[size_t(d)];
      const int64_t total = std::max<int64_t>(((in + s - 1) / s - 1) * s + (k - 1) * dilation + 1 - in, 0);
      pad.push_back(total / 2);
      pad.push_back(total - total / 2);
    }
    return torch::constant_pad_nd(x, pad, 0);
  }

  bool can_run_prepacked(const torch::Tensor& input) const {
    if (torch::GradMode::is_enabled() || !prepacking_available()) return false;
    // float32, or bf16 (oneDNN's AVX-512 BF16 / AMX kernels), with weights of the input's dtype.
    const auto dtype = input.scalar_type();
    if (input.dim() != 4 || !input.device().is_cpu() || (dtype != torch::kFloat && dtype != torch::kBFloat16)) return false;
    if (!weight.device().is_cpu() || weight.scalar_type() != dtype || weight.is_inference()) return false;
    if (bias.defined() && (bias.scalar_type() != dtype || bias.is_inference())) return false;
    return tlearn::detail::compat::variant_get_if<torch::ExpandingArray<2>>(&options.padding()) &&
           tlearn::detail::compat::variant_get_if<torch::enumtype::kZeros>(&options.padding_mode());
  }

  /// The packed weights for this input's shape, packing them on first use;
  /// nullptr when oneDNN declines this configuration.
  c10::IValue* packed_for(const torch::Tensor& input, bool fuse_relu) {
    // Weights replaced or changed in place since packing: start over.
    const auto* weight_impl = weight.unsafeGetTensorImpl();
    const int64_t version = weight._version() + (bias.defined() ? bias._version() : 0);
    if (weight_impl != packed_weight_ || version != packed_version_) {
      packed_.clear();
      packed_weight_ = weight_impl;
      packed_version_ = version;
      unsupported_ = false;
    }
    if (unsupported_) return nullptr;
    const auto shape = input.sizes().vec();
    for (auto& p : packed_)
      if (p.shape == shape && p.fuse_relu == fuse_relu) return &p.context;
    if (packed_.size() == kMaxPackedCopies) packed_.erase(packed_.begin());
    const auto& padding = *tlearn::detail::compat::variant_get_if<torch::ExpandingArray<2>>(&options.padding());
    torch::jit::Stack stack{weight,
                            bias.defined() ? c10::IValue(bias) : c10::IValue(),
                            c10::IValue(c10::IntArrayRef(*options.stride()).vec()),
                            c10::IValue(c10::IntArrayRef(*padding).vec()),
                            c10::IValue(c10::IntArrayRef(*options.dilation()).vec()),
                            c10::IValue(options.groups()),
                            c10::IValue(shape),
                            c10::IValue(std::string(fuse_relu ? "relu" : "none"))};
    try {
      PrepackedConvOps::get().prepack->callBoxed(&stack);
    } catch (const c10::Error&) {
      unsupported_ = true;  // torch's own forward serves this layer
      return nullptr;
    }
    packed_.push_back({shape, fuse_relu, stack.back()});
    return &packed_.back().context;
  }

  bool prepack_ = false;
  bool fused_relu_ = false;
  bool tf_same_padding_ = false;
  bool unsupported_ = false;
  std::vector<Packed> packed_;
  const c10::TensorImpl* packed_weight_ = nullptr;
  int64_t packed_version_ = -1;
  std::mutex mutex_;
};

TORCH_MODULE(Conv2d);

}  // namespace tlearn::nn
