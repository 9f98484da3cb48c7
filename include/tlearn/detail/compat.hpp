#pragma once
/// \file
/// The differences between the LibTorch versions tlearn supports (Debian's
/// 1.13 and today's 2.x), in one place. Everything else in tlearn calls these
/// and never tests TORCH_VERSION itself. Internal.

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <ATen/ATen.h>

#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>
#include <variant>

namespace tlearn::detail::compat {

/// LibTorch 2.4 replaced the per-device autocast functions (set_enabled,
/// set_cpu_enabled, get_autocast_gpu_dtype, ...) with device-generic ones and
/// deprecated the old names.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
inline constexpr bool kDeviceGenericAutocast = true;

inline bool autocast_enabled(c10::DeviceType device) { return at::autocast::is_autocast_enabled(device); }
inline void set_autocast_enabled(c10::DeviceType device, bool on) { at::autocast::set_autocast_enabled(device, on); }
inline at::ScalarType autocast_dtype(c10::DeviceType device) { return at::autocast::get_autocast_dtype(device); }
inline void set_autocast_dtype(c10::DeviceType device, at::ScalarType dtype) {
  at::autocast::set_autocast_dtype(device, dtype);
}
#else
inline constexpr bool kDeviceGenericAutocast = false;

inline bool autocast_enabled(c10::DeviceType device) {
  return device == c10::DeviceType::CPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
}
inline void set_autocast_enabled(c10::DeviceType device, bool on) {
  if (device == c10::DeviceType::CPU) {
    at::autocast::set_cpu_enabled(on);
  } else {
    at::autocast::set_enabled(on);
  }
}
inline at::ScalarType autocast_dtype(c10::DeviceType device) {
  return device == c10::DeviceType::CPU ? at::autocast::get_autocast_cpu_dtype()
                                        : at::autocast::get_autocast_gpu_dtype();
}
inline void set_autocast_dtype(c10::DeviceType device, at::ScalarType dtype) {
  if (device == c10::DeviceType::CPU) {
    at::autocast::set_autocast_cpu_dtype(dtype);
  } else {
    at::autocast::set_autocast_gpu_dtype(dtype);
  }
}
#endif

/// LibTorch 2.x's options variants (Conv2dOptions::padding, ...) are std::variant;
/// 1.13's are c10::variant.
template <class T, class Variant>
auto variant_get_if(Variant* v) {
#if TORCH_VERSION_MAJOR >= 2
  return std::get_if<T>(v);
#else
  return c10::get_if<T>(v);
#endif
}

/// LibTorch 1.13 sends a bfloat16 ConvTranspose2d on the CPU to oneDNN as a
/// plain convolution, which then rejects its weight's shape.
inline constexpr bool kCpuBFloat16ConvTranspose = TORCH_VERSION_MAJOR >= 2;

/// softmax(q k^T / sqrt(d)) v over the last two dimensions. LibTorch 2.x has a
/// fused kernel (flash / memory-efficient on both CPU and GPU); 1.13 has none.
inline at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
#if TORCH_VERSION_MAJOR >= 2
  return at::scaled_dot_product_attention(q, k, v);
#else
  const double scale = 1.0 / std::sqrt(double(q.size(-1)));
  return at::matmul(at::softmax(at::matmul(q, k.transpose(-2, -1)) * scale, -1), v);
#endif
}

/// Whether CPU autocast can run float16 (LibTorch 1.13's CPU autocast knows only bfloat16).
inline constexpr bool kCpuAutocastFloat16 = kDeviceGenericAutocast;

/// Optimizer::state() is keyed by the parameter's TensorImpl: its address printed
/// as a string in 1.13, the pointer itself in 2.x.
template <class StateMap>
typename StateMap::key_type optimizer_state_key(const StateMap&, const at::Tensor& parameter) {
  if constexpr (std::is_same_v<typename StateMap::key_type, std::string>) {
    std::ostringstream key;
    key << parameter.unsafeGetTensorImpl();
    return key.str();
  } else {
    return parameter.unsafeGetTensorImpl();
  }
}

}  // namespace tlearn::detail::compat
