#pragma once
/// \file
/// Where a module computes: every tensor tlearn makes for a model (dry runs,
/// probes, inputs it moves) takes its device and dtype from here, so a model
/// moved with `->to(torch::kCUDA)` or `->to(torch::kDouble)` works everywhere.

#include <torch/torch.h>

namespace tlearn {

/// The device and dtype of `module`'s first floating-point parameter (else
/// buffer); CPU float32 for a module that has none.
torch::TensorOptions module_options(const torch::nn::Module& module);

/// `x` on `module`'s device; a floating-point `x` also in its dtype (integer
/// tensors such as labels keep theirs).
torch::Tensor to_module(const torch::Tensor& x, const torch::nn::Module& module);

}  // namespace tlearn
