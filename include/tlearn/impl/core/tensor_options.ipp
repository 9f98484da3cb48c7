// Implementation of tlearn/core/tensor_options.hpp.
#include "tlearn/core/tensor_options.hpp"

namespace tlearn {

torch::TensorOptions module_options(const torch::nn::Module& module) {
  for (const auto& p : module.parameters())
    if (p.defined() && p.is_floating_point()) return p.options().requires_grad(false);
  for (const auto& b : module.buffers())
    if (b.defined() && b.is_floating_point()) return b.options().requires_grad(false);
  return torch::TensorOptions().dtype(torch::kFloat);
}

torch::Tensor to_module(const torch::Tensor& x, const torch::nn::Module& module) {
  const auto options = module_options(module);
  if (!x.is_floating_point()) return x.to(options.device());
  return x.to(options.device(), options.dtype().toScalarType());
}

}  // namespace tlearn
