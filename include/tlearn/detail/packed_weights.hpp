#pragma once
/// \file
/// What the layers that keep oneDNN-packed weights share (core/conv2d.hpp,
/// core/linear.hpp): looking up LibTorch's operators by name, and telling
/// whether the weights changed since they were packed.

#include <torch/torch.h>

#include <optional>

namespace tlearn::detail {

/// LibTorch's operator `name` ("mkldnn::_linear_pointwise"), its `overload`
/// ("binary") or the default one, or nothing where this LibTorch lacks it.
inline std::optional<c10::OperatorHandle> find_operator(const char* name, const char* overload = "") {
  if (auto op = c10::Dispatcher::singleton().findOp(c10::OperatorName(name, overload))) return *op;
  return std::nullopt;
}

/// Which weight and bias, at which versions, a packed copy was made from: a
/// weight replaced (load_state_dict, to()) or changed in place (an optimizer
/// step) makes update() report a change, so packed copies are never stale.
class WeightStamp {
 public:
  /// Records the current state; true when it differs from the one recorded before.
  bool update(const torch::Tensor& weight, const torch::Tensor& bias) {
    const int64_t version = weight._version() + (bias.defined() ? bias._version() : 0);
    const bool changed = weight.unsafeGetTensorImpl() != weight_ || version != version_;
    weight_ = weight.unsafeGetTensorImpl();
    version_ = version;
    return changed;
  }
  /// Forgets the recorded state: the next update() reports a change.
  void reset() { weight_ = nullptr, version_ = -1; }

 private:
  const c10::TensorImpl* weight_ = nullptr;
  int64_t version_ = -1;
};

}  // namespace tlearn::detail
