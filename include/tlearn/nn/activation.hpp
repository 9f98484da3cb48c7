#pragma once
/// \file
/// The activation modules every family builds (core/activation.hpp names them). ReLU, ReLU6, SiLU and Hardswish are
/// Absorbable: an inference pass can let the convolution before them apply them
/// (optimize_for_inference, core/conv2d.hpp), and then they pass their input
/// through, except while a tap records, so a recorded row keeps its own output.
/// ReLU works in place only while no tap records, for the same reason.

#include <torch/torch.h>

#include <string>

#include "tlearn/core/activation.hpp"

namespace tlearn::nn {

class ReLUImpl : public torch::nn::Module, public Absorbable {
 public:
  /// `inplace` as torchvision's nn.ReLU(inplace=True): used only while no tap records.
  explicit ReLUImpl(bool inplace = false) : inplace_(inplace) {}
  torch::Tensor forward(torch::Tensor x);
  Activation activation() const override { return Activation::ReLU; }
  void pretty_print(std::ostream& os) const override { os << "tlearn::nn::ReLU(inplace=" << inplace_ << ")"; }

 private:
  bool inplace_;
};
TORCH_MODULE(ReLU);

/// min(max(x, 0), 6): torch's ReLU6, absorbable.
class ReLU6Impl : public torch::nn::ReLU6Impl, public Absorbable {
 public:
  using torch::nn::ReLU6Impl::ReLU6Impl;
  torch::Tensor forward(torch::Tensor x) { return passes_through() ? x : torch::nn::ReLU6Impl::forward(x); }
  Activation activation() const override { return Activation::ReLU6; }
};
TORCH_MODULE(ReLU6);

/// x * sigmoid(x): torch's SiLU, absorbable.
class SiLUImpl : public torch::nn::SiLUImpl, public Absorbable {
 public:
  using torch::nn::SiLUImpl::SiLUImpl;
  torch::Tensor forward(const torch::Tensor& x) { return passes_through() ? x : torch::nn::SiLUImpl::forward(x); }
  Activation activation() const override { return Activation::SiLU; }
};
TORCH_MODULE(SiLU);

/// x * relu6(x + 3) / 6 (LibTorch 1.13 has the function but no module), absorbable.
class HardswishImpl : public torch::nn::Module, public Absorbable {
 public:
  torch::Tensor forward(const torch::Tensor& x) { return passes_through() ? x : torch::hardswish(x); }
  Activation activation() const override { return Activation::Hardswish; }
};
TORCH_MODULE(Hardswish);

/// relu6(x + 3) / 6.
struct HardsigmoidImpl : torch::nn::Module {
  torch::Tensor forward(const torch::Tensor& x) { return torch::hardsigmoid(x); }
};
TORCH_MODULE(Hardsigmoid);

/// A module computing `activation`; empty for Activation::None.
torch::nn::AnyModule make_activation(Activation activation);

}  // namespace tlearn::nn
