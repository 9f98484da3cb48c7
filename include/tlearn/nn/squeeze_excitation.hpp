#pragma once
/// \file
/// torchvision.ops.SqueezeExcitation: x * gate(fc2(activation(fc1(avgpool(x))))),
/// fc1 and fc2 being 1x1 convolutions with bias. EfficientNet uses SiLU and a
/// sigmoid gate, MobileNetV3 ReLU and a hardsigmoid one, RegNetY ReLU and sigmoid.
/// Its rows, as torchvision's submodules: "<path>.avgpool", "<path>.fc1",
/// "<path>.activation", "<path>.fc2", "<path>.scale_activation", and "<path>"
/// for the product, the block's output.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tlearn/core/conv2d.hpp"
#include "tlearn/core/layer_table.hpp"
#include "tlearn/nn/activation.hpp"

namespace tlearn::nn {

struct SqueezeExcitationOptions {
  SqueezeExcitationOptions(int64_t channels, int64_t squeeze_channels)
      : channels_(channels), squeeze_channels_(squeeze_channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, squeeze_channels);
  TORCH_ARG(Activation, activation) = Activation::ReLU;
  TORCH_ARG(Activation, gate) = Activation::Sigmoid;
};

class SqueezeExcitationImpl : public torch::nn::Module {
 public:
  explicit SqueezeExcitationImpl(const SqueezeExcitationOptions& options);

  /// Adds the six rows to `table`, with Keras `aliases` for them in order when
  /// given (an empty alias skips a row); forward() then taps them.
  void add_rows(LayerTable& table, const std::string& path, const std::vector<std::string>& aliases = {});

  torch::Tensor forward(const torch::Tensor& x);

  SqueezeExcitationOptions options;
  Conv2d fc1{nullptr}, fc2{nullptr};
  torch::nn::AnyModule activation, scale_activation;

 private:
  std::vector<std::string> rows_;
};
TORCH_MODULE(SqueezeExcitation);

}  // namespace tlearn::nn
