#pragma once
/// \file
/// The activations tlearn's blocks are built with, named by one enum, and the
/// ReLU module every family uses: torch's ReLU that an inference pass can fold
/// into the convolution before it (optimize_for_inference), and that works in
/// place only while no tap records, so a recorded row keeps its own output.

#include <torch/torch.h>

#include <string>

namespace tlearn::nn {

/// An activation by name, as ConvNormAct and SqueezeExcitation take it.
enum class Activation { None, ReLU, ReLU6, SiLU, GELU, Hardswish, Hardsigmoid, Sigmoid };

/// "ReLU", "SiLU", ...: the kind a layer-table row of this activation shows.
std::string activation_name(Activation activation);

class ReLUImpl : public torch::nn::Module {
 public:
  /// `inplace` as torchvision's nn.ReLU(inplace=True): used only while no tap records.
  explicit ReLUImpl(bool inplace = false) : inplace_(inplace) {}

  torch::Tensor forward(torch::Tensor x);

  /// Set by optimize_for_inference when the convolution before this ReLU applies
  /// it as it writes its output (core/conv2d.hpp): then this layer passes its
  /// input through, except while a tap records (the convolution then does not fuse).
  void set_absorbed(bool absorbed) { absorbed_ = absorbed; }
  bool absorbed() const { return absorbed_; }

  void pretty_print(std::ostream& os) const override { os << "tlearn::nn::ReLU(inplace=" << inplace_ << ")"; }

 private:
  bool inplace_;
  bool absorbed_ = false;
};
TORCH_MODULE(ReLU);

/// x * relu6(x + 3) / 6 (LibTorch 1.13 has the function but no module).
struct HardswishImpl : torch::nn::Module {
  torch::Tensor forward(const torch::Tensor& x) { return torch::hardswish(x); }
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
