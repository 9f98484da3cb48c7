#pragma once
/// \file
/// torchvision.ops.SqueezeExcitation: x * gate(fc2(activation(fc1(avgpool(x))))),
/// fc1 and fc2 being 1x1 convolutions with bias. EfficientNet uses SiLU and a
/// sigmoid gate, MobileNetV3 ReLU and a hardsigmoid one, RegNetY ReLU and sigmoid.
/// Its rows, as torchvision's submodules: "<path>.avgpool", "<path>.fc1",
/// "<path>.activation", "<path>.fc2", "<path>.scale_activation", and "<path>"
/// for the product, the block's output. With keras_rows, Keras EfficientNet's five:
/// "<path>.avgpool", "<path>.reshape" (se_reshape), "<path>.fc1" and "<path>.fc2"
/// each with its activation (Keras' Conv2D applies it), and "<path>".

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
  /// Keras' rows (EfficientNet's se_squeeze, se_reshape, se_reduce, se_expand, se_excite).
  TORCH_ARG(bool, keras_rows) = false;
};

class SqueezeExcitationImpl : public torch::nn::Module {
 public:
  explicit SqueezeExcitationImpl(const SqueezeExcitationOptions& options);

  /// Adds the six rows (five with keras_rows) to `table`, with Keras `aliases` for
  /// them in order when given (an empty alias skips a row); forward() then taps them.
  void add_rows(LayerTable& table, const std::string& path, const std::vector<std::string>& aliases = {});

  torch::Tensor forward(const torch::Tensor& x);

  SqueezeExcitationOptions options;
  Conv2d fc1{nullptr}, fc2{nullptr};
  torch::nn::AnyModule activation, scale_activation;

 private:
  /// The rows tapped after each step: pooling, fc1, activation, fc2, gate, product.
  std::vector<std::vector<std::string>> step_rows_;
};
TORCH_MODULE(SqueezeExcitation);

}  // namespace tlearn::nn
