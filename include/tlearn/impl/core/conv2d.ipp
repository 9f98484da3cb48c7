// Implementation of tlearn/core/conv2d.hpp.
#include "tlearn/core/conv2d.hpp"
#include "tlearn/core/tap.hpp"
#include "tlearn/detail/compat.hpp"
#include "tlearn/detail/packed_weights.hpp"

#include <algorithm>
#include <optional>
#include <string>

namespace tlearn::nn {

namespace {

/// LibTorch's operators for convolving with prepacked weights, looked up once.
/// LibTorch 2.x: oneDNN's pointwise convolution (any unary post-op) and its
/// weight reorder. 1.13: mkldnn_prepacked's context (ReLU the one post-op).
/// Empty where this LibTorch was built without oneDNN.
struct PrepackedConvOps {
  std::optional<c10::OperatorHandle> reorder_weight, pointwise, pointwise_binary;  // 2.x
  std::optional<c10::OperatorHandle> prepack, run;                                  // 1.13 and later

  bool has_pointwise() const { return reorder_weight && pointwise; }
  bool has_pointwise_binary() const { return has_pointwise() && pointwise_binary; }
  bool has_prepacked() const { return prepack && run; }

  static const PrepackedConvOps& get() {
    static const PrepackedConvOps ops = [] {
      PrepackedConvOps found;
      found.reorder_weight = detail::find_operator("mkldnn::_reorder_convolution_weight");
      found.pointwise = detail::find_operator("mkldnn::_convolution_pointwise");
      found.pointwise_binary = detail::find_operator("mkldnn::_convolution_pointwise", "binary");
      found.prepack = detail::find_operator("mkldnn_prepacked::conv2d_prepack");
      found.run = detail::find_operator("mkldnn_prepacked::conv2d_run");
      return found;
    }();
    return ops;
  }
};

/// oneDNN's post-op for `activation`: its name and scalars in _convolution_pointwise.
std::pair<std::string, c10::List<c10::optional<c10::Scalar>>> pointwise_post_op(Activation activation) {
  c10::List<c10::optional<c10::Scalar>> scalars;
  switch (activation) {
    case Activation::ReLU:
      return {"relu", scalars};
    case Activation::ReLU6:
      scalars.push_back(c10::Scalar(0.0));
      scalars.push_back(c10::Scalar(6.0));
      return {"hardtanh", scalars};
    case Activation::SiLU:
      return {"swish", scalars};
    case Activation::Hardswish:
      return {"hardswish", scalars};
    default:
      return {"none", scalars};
  }
}

std::vector<int64_t> int_list(c10::IntArrayRef values) { return values.vec(); }

}  // namespace

bool Conv2dImpl::prepacking_available() {
  const auto& ops = PrepackedConvOps::get();
  return ops.has_pointwise() || ops.has_prepacked();
}

bool Conv2dImpl::fuses_every_activation() { return PrepackedConvOps::get().has_pointwise(); }

bool Conv2dImpl::fuses_residual_add() { return PrepackedConvOps::get().has_pointwise_binary(); }

bool Conv2dImpl::fusable_activation(Activation activation) {
  return activation == Activation::ReLU || activation == Activation::ReLU6 || activation == Activation::SiLU ||
         activation == Activation::Hardswish;
}

torch::Tensor Conv2dImpl::forward(const torch::Tensor& input) {
  const torch::Tensor x = pad_input(input);
  const Activation activation = tap_recording() ? Activation::None : fused_activation_;
  if (auto output = run_prepacked(x, activation); output.defined()) return output;
  // In place on the layer's own output, unless autograd may need it.
  return apply_activation(activation, torch::nn::Conv2dImpl::forward(x), !torch::GradMode::is_enabled());
}

torch::Tensor Conv2dImpl::forward_add(const torch::Tensor& input, const torch::Tensor& other, Activation activation) {
  TORCH_CHECK(activation == Activation::None || fusable_activation(activation), "Conv2d::forward_add cannot apply ",
              activation_name(activation), " after the sum; use ReLU, ReLU6, SiLU, Hardswish or None");
  TORCH_CHECK(fused_activation_ == Activation::None, "Conv2d::forward_add: this layer fuses ",
              activation_name(fused_activation_), ", which would come before the sum; set_fused_activation(None) first");
  const torch::Tensor x = pad_input(input);
  if (auto output = run_prepacked_add(x, other, activation); output.defined()) return output;
  const bool inplace = !torch::GradMode::is_enabled();
  auto y = torch::nn::Conv2dImpl::forward(x);
  y = inplace ? y.add_(other) : y + other;
  return apply_activation(activation, y, inplace);
}

void Conv2dImpl::set_tf_same_padding(bool on) {
  std::lock_guard<std::mutex> lock(mutex_);
  tf_same_padding_ = on;
  if (on) options.padding(torch::ExpandingArray<2>(0));
  packed_.clear();
}

void Conv2dImpl::set_input_padding(const std::vector<int64_t>& left_right_top_bottom) {
  TORCH_CHECK(left_right_top_bottom.size() == 4, "Conv2d::set_input_padding takes {left, right, top, bottom}, got ",
              left_right_top_bottom.size(), " numbers");
  std::lock_guard<std::mutex> lock(mutex_);
  input_padding_ = left_right_top_bottom;
  options.padding(torch::ExpandingArray<2>(0));
  packed_.clear();
}

torch::Tensor Conv2dImpl::pad_input(const torch::Tensor& x) const {
  if (tf_same_padding_) return pad_tf_same(x);
  return input_padding_.empty() ? x : torch::constant_pad_nd(x, input_padding_, 0);
}

void Conv2dImpl::set_fused_activation(Activation activation) {
  TORCH_CHECK(activation == Activation::None || fusable_activation(activation), "Conv2d cannot apply ",
              activation_name(activation), " itself; fuse ReLU, ReLU6, SiLU or Hardswish");
  fused_activation_ = activation;
}

void Conv2dImpl::set_prepacked(bool on) {
  std::lock_guard<std::mutex> lock(mutex_);
  prepack_ = on;
  packed_.clear();
}

size_t Conv2dImpl::packed_copies() {
  std::lock_guard<std::mutex> lock(mutex_);
  return packed_.size();
}

torch::Tensor Conv2dImpl::run_prepacked(const torch::Tensor& input, Activation activation) {
  if (!prepack_ || !can_run_prepacked(input)) return {};
  const auto& ops = PrepackedConvOps::get();
  const auto x = input.contiguous(input.suggest_memory_format());
  std::lock_guard<std::mutex> lock(mutex_);
  auto* packed = packed_for(x, activation);
  if (packed == nullptr) return {};
  if (packed->pointwise) {
    const auto& padding = *tlearn::detail::compat::variant_get_if<torch::ExpandingArray<2>>(&options.padding());
    auto [post_op, scalars] = pointwise_post_op(activation);
    torch::jit::Stack stack{x,
                            packed->context,
                            bias.defined() ? c10::IValue(bias) : c10::IValue(),
                            c10::IValue(int_list(*padding)),
                            c10::IValue(int_list(*options.stride())),
                            c10::IValue(int_list(*options.dilation())),
                            c10::IValue(options.groups()),
                            c10::IValue(post_op),
                            c10::IValue(scalars),
                            c10::IValue(std::string())};
    ops.pointwise->callBoxed(&stack);
    return stack.back().toTensor();
  }
  torch::jit::Stack stack{x, packed->context};
  ops.run->callBoxed(&stack);
  // mkldnn_prepacked applies ReLU inside; any other activation follows in place.
  auto output = stack.back().toTensor();
  return packed->activation == Activation::ReLU ? output : apply_activation(activation, output, /*inplace=*/true);
}

torch::Tensor Conv2dImpl::run_prepacked_add(const torch::Tensor& input, const torch::Tensor& other,
                                            Activation activation) {
  const auto& ops = PrepackedConvOps::get();
  if (!prepack_ || !ops.has_pointwise_binary() || !can_run_prepacked(input)) return {};
  // oneDNN's binary post-op broadcasts, so a shortcut of another shape must
  // not get this far; and it reads `other` in the output's channels-last layout.
  const auto cl = torch::MemoryFormat::ChannelsLast;
  if (!input.is_contiguous(cl) || !other.defined() || !other.device().is_cpu() ||
      other.scalar_type() != input.scalar_type() || !other.is_contiguous(cl) || other.sizes().vec() != output_shape(input))
    return {};
  std::lock_guard<std::mutex> lock(mutex_);
  auto* packed = packed_for(input, Activation::None);
  if (packed == nullptr || !packed->pointwise) return {};
  const auto& padding = *tlearn::detail::compat::variant_get_if<torch::ExpandingArray<2>>(&options.padding());
  // After a binary post-op, LibTorch's operator takes ReLU alone; any other
  // activation follows in place.
  const bool relu_inside = activation == Activation::ReLU;
  torch::jit::Stack stack{input,
                          other,
                          packed->context,
                          bias.defined() ? c10::IValue(bias) : c10::IValue(),
                          c10::IValue(int_list(*padding)),
                          c10::IValue(int_list(*options.stride())),
                          c10::IValue(int_list(*options.dilation())),
                          c10::IValue(options.groups()),
                          c10::IValue(std::string("add")),
                          c10::IValue(),  // alpha: other is added once
                          relu_inside ? c10::IValue(std::string("relu")) : c10::IValue(),  // "none" is refused
                          c10::IValue(c10::List<c10::optional<c10::Scalar>>()),
                          c10::IValue(std::string())};
  ops.pointwise_binary->callBoxed(&stack);
  auto output = stack.back().toTensor();
  return relu_inside ? output : apply_activation(activation, output, /*inplace=*/true);
}

std::vector<int64_t> Conv2dImpl::output_shape(const torch::Tensor& input) const {
  const auto& padding = *tlearn::detail::compat::variant_get_if<torch::ExpandingArray<2>>(&options.padding());
  std::vector<int64_t> shape{input.size(0), options.out_channels()};
  for (size_t d = 0; d < 2; ++d) {
    const int64_t in = input.size(int64_t(d) + 2), k = (*options.kernel_size())[d];
    const int64_t s = (*options.stride())[d], dilation = (*options.dilation())[d];
    shape.push_back((in + 2 * (*padding)[d] - dilation * (k - 1) - 1) / s + 1);
  }
  return shape;
}

torch::Tensor Conv2dImpl::pad_tf_same(const torch::Tensor& x) const {
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

bool Conv2dImpl::can_run_prepacked(const torch::Tensor& input) const {
  if (torch::GradMode::is_enabled() || !prepacking_available()) return false;
  // float32, or bf16 (oneDNN's AVX-512 BF16 / AMX kernels), with weights of the input's dtype.
  const auto dtype = input.scalar_type();
  if (input.dim() != 4 || !input.device().is_cpu() || (dtype != torch::kFloat && dtype != torch::kBFloat16)) return false;
  // Inference tensors carry no version counter, so a change to them could not be seen.
  if (!weight.device().is_cpu() || weight.scalar_type() != dtype || weight.is_inference()) return false;
  if (bias.defined() && (bias.scalar_type() != dtype || bias.is_inference())) return false;
  return tlearn::detail::compat::variant_get_if<torch::ExpandingArray<2>>(&options.padding()) &&
         tlearn::detail::compat::variant_get_if<torch::enumtype::kZeros>(&options.padding_mode());
}

Conv2dImpl::Packed* Conv2dImpl::packed_for(const torch::Tensor& input, Activation activation) {
  if (stamp_.update(weight, bias)) {  // weights replaced or changed in place: start over
    packed_.clear();
    unsupported_ = false;
  }
  if (unsupported_) return nullptr;
  const auto& ops = PrepackedConvOps::get();
  // oneDNN's pointwise convolution writes channels-last whatever its input, so
  // it serves channels-last inputs (what optimize_for_inference sets up), and
  // takes its post-op per call: one packed weight for every activation.
  // mkldnn_prepacked keeps the input's layout and bakes ReLU or none in.
  const bool pointwise = ops.has_pointwise() && input.is_contiguous(torch::MemoryFormat::ChannelsLast);
  if (!pointwise && !ops.has_prepacked()) return nullptr;
  const Activation key = !pointwise && activation == Activation::ReLU ? Activation::ReLU : Activation::None;
  const auto shape = input.sizes().vec();
  for (auto& p : packed_)
    if (p.shape == shape && p.pointwise == pointwise && p.activation == key) return &p;
  if (packed_.size() == kMaxPackedCopies) packed_.erase(packed_.begin());
  const auto& padding = *tlearn::detail::compat::variant_get_if<torch::ExpandingArray<2>>(&options.padding());
  torch::jit::Stack stack;
  try {
    if (pointwise) {
      stack = {weight,
               c10::IValue(int_list(*padding)),
               c10::IValue(int_list(*options.stride())),
               c10::IValue(int_list(*options.dilation())),
               c10::IValue(options.groups()),
               c10::IValue(shape)};
      ops.reorder_weight->callBoxed(&stack);
    } else {
      stack = {weight,
               bias.defined() ? c10::IValue(bias) : c10::IValue(),
               c10::IValue(int_list(*options.stride())),
               c10::IValue(int_list(*padding)),
               c10::IValue(int_list(*options.dilation())),
               c10::IValue(options.groups()),
               c10::IValue(shape),
               c10::IValue(std::string(key == Activation::ReLU ? "relu" : "none"))};
      ops.prepack->callBoxed(&stack);
    }
  } catch (const c10::Error&) {
    unsupported_ = true;  // torch's own forward serves this layer
    return nullptr;
  }
  packed_.push_back({shape, pointwise, key, stack.back()});
  return &packed_.back();
}

}  // namespace tlearn::nn
