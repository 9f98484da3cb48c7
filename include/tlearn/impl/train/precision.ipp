// Implementation of tlearn/train/precision.hpp.
#include "tlearn/core/error.hpp"
#include "tlearn/detail/compat.hpp"
#include "tlearn/train/precision.hpp"

namespace tlearn {

std::string to_string(Precision precision) {
  switch (precision) {
    case Precision::FP32:
      return "fp32";
    case Precision::BF16:
      return "bf16";
    case Precision::FP16:
      return "fp16";
  }
  return "?";
}

namespace detail {

AutocastGuard::AutocastGuard(torch::Device device, Precision precision) : device_(device.type()) {
  if (precision == Precision::FP32) return;
  if (device_ != c10::DeviceType::CPU && device_ != c10::DeviceType::CUDA)
    throw Error("precision " + to_string(precision) + ": autocast runs on CPU and CUDA devices, not on " +
                device.str() + "; use Precision::FP32 there");
  if (precision == Precision::FP16 && device_ == c10::DeviceType::CPU && !compat::kCpuAutocastFloat16)
    throw Error("precision fp16: this LibTorch (" TORCH_VERSION
                ") has no float16 autocast on the CPU; use "
                "Precision::BF16 on the CPU, or LibTorch 2.4 or newer");
  const auto dtype = precision == Precision::BF16 ? at::kBFloat16 : at::kHalf;
  prev_enabled_ = compat::autocast_enabled(device_);
  prev_dtype_ = compat::autocast_dtype(device_);
  compat::set_autocast_enabled(device_, true);
  compat::set_autocast_dtype(device_, dtype);
  at::autocast::increment_nesting();
  on_ = true;
}

AutocastGuard::~AutocastGuard() {
  if (!on_) return;
  // Cast weights are cached while autocast is on; the outermost guard frees them.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  compat::set_autocast_enabled(device_, prev_enabled_);
  compat::set_autocast_dtype(device_, prev_dtype_);
}

}  // namespace detail
}  // namespace tlearn
