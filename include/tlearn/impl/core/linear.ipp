// Implementation of tlearn/core/linear.hpp.
#include "tlearn/core/linear.hpp"
#include "tlearn/detail/packed_weights.hpp"

#include <optional>
#include <string>

namespace tlearn::nn {

namespace {

/// oneDNN's linear operators, looked up once; empty where this LibTorch lacks them.
struct OneDnnLinearOps {
  std::optional<c10::OperatorHandle> reorder_weight, linear;

  static const OneDnnLinearOps& get() {
    static const OneDnnLinearOps ops = [] {
      OneDnnLinearOps found;
      auto reorder = detail::find_operator("mkldnn::_reorder_linear_weight");
      auto pointwise = detail::find_operator("mkldnn::_linear_pointwise");
      if (reorder && pointwise) found.reorder_weight = reorder, found.linear = pointwise;
      return found;
    }();
    return ops;
  }
};

}  // namespace

bool PackedLinearWeights::available() { return OneDnnLinearOps::get().linear.has_value(); }

bool PackedLinearWeights::can_run(const torch::Tensor& input, const torch::Tensor& weight,
                                  const torch::Tensor& bias) const {
  if (torch::GradMode::is_enabled() || !available()) return false;
  // float32, or bf16 (oneDNN's AVX-512 BF16 / AMX kernels), with weights of the input's dtype.
  const auto dtype = input.scalar_type();
  if (!input.device().is_cpu() || (dtype != torch::kFloat && dtype != torch::kBFloat16)) return false;
  if (input.dim() < 1 || input.numel() == 0 || input.size(-1) != weight.size(1)) return false;
  // Inference tensors carry no version counter, so a change to them could not be seen.
  if (!weight.device().is_cpu() || weight.scalar_type() != dtype || weight.is_inference()) return false;
  return !bias.defined() || (bias.scalar_type() == dtype && !bias.is_inference());
}

torch::Tensor PackedLinearWeights::linear(const torch::Tensor& input, const torch::Tensor& weight,
                                          const torch::Tensor& bias) {
  if (!can_run(input, weight, bias)) return {};
  torch::Tensor packed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stamp_.update(weight, bias)) {  // weights replaced or changed in place: pack again
      packed_ = torch::Tensor();
      unsupported_ = false;
    }
    if (unsupported_) return {};
    if (!packed_.defined()) {
      // The batch-size hint only tunes the layout; one packed copy serves every row count.
      torch::jit::Stack stack{weight, c10::IValue()};
      try {
        OneDnnLinearOps::get().reorder_weight->callBoxed(&stack);
      } catch (const c10::Error&) {
        unsupported_ = true;  // torch::linear serves this layer
        return {};
      }
      packed_ = stack.back().toTensor();
    }
    packed = packed_;
  }
  torch::jit::Stack stack{input,
                          packed,
                          bias.defined() ? c10::IValue(bias) : c10::IValue(),
                          c10::IValue(std::string("none")),
                          c10::IValue(c10::List<c10::optional<c10::Scalar>>()),
                          c10::IValue(std::string())};
  try {
    OneDnnLinearOps::get().linear->callBoxed(&stack);
  } catch (const c10::Error&) {
    // oneDNN declined this dtype on this CPU (bf16 without AVX-512): don't ask again.
    std::lock_guard<std::mutex> lock(mutex_);
    unsupported_ = true;
    return {};
  }
  return stack.back().toTensor();
}

void PackedLinearWeights::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  packed_ = torch::Tensor();
  stamp_.reset();
}

bool PackedLinearWeights::packed() {
  std::lock_guard<std::mutex> lock(mutex_);
  return packed_.defined();
}

torch::Tensor LinearImpl::forward(const torch::Tensor& input) {
  if (prepack_)
    if (auto output = packed_.linear(input, weight, bias); output.defined()) return output;
  return torch::nn::LinearImpl::forward(input);
}

void LinearImpl::set_prepacked(bool on) {
  prepack_ = on;
  packed_.clear();
}

}  // namespace tlearn::nn
