#pragma once
/// \file
/// Mixed precision: which dtype the forward pass computes in, and the guard that
/// turns LibTorch's autocast on for a scope.
///
///     tlearn::Trainer trainer(model, tlearn::TrainerOptions().precision(tlearn::Precision::BF16));
///
/// BF16 runs autocast to bfloat16 (CUDA; on the CPU too, where it is fast on
/// processors with AVX-512 BF16 or AMX); FP16 runs autocast to float16 and needs
/// loss scaling (train/grad_scaler.hpp), which the Trainer then does itself.
/// Weights, gradients and optimizer state stay in float32 either way.

#include <torch/torch.h>

#include <string>

namespace tlearn {

enum class Precision { FP32, BF16, FP16 };

/// "fp32", "bf16", "fp16".
std::string to_string(Precision precision);

namespace detail {
/// Autocast on `device` to `precision`'s dtype while the guard lives (nothing
/// for FP32); the previous autocast state comes back when it ends, exceptions
/// included. Throws an Error where this LibTorch cannot autocast to that dtype
/// on that device (float16 on the CPU with LibTorch 1.13).
class AutocastGuard {
 public:
  AutocastGuard(torch::Device device, Precision precision);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType device_;
  bool on_ = false, prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kFloat;
};
}  // namespace detail

}  // namespace tlearn
