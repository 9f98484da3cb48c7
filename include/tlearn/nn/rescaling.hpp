#pragma once
/// \file
/// Keras' Rescaling layer: x * scale + offset, per channel or for all of them.
/// Keras models that take raw 0..255 pixels scale them inside the model, in a
/// layer of its own that takes an index in model.layers (MobileNetV3's
/// Rescaling(1 / 127.5, -1)); tlearn keeps that row, so `first(n)` still equals
/// Keras' `layers[:n]`, and the model's preprocessing is then Identity.
///
///     tlearn::nn::Rescaling rescale(tlearn::nn::RescalingOptions(1.0 / 127.5, -1.0));

#include <torch/torch.h>

#include <vector>

namespace tlearn::nn {

struct RescalingOptions {
  /// The same scale and offset for every channel.
  RescalingOptions(double scale, double offset = 0.0) : scale_({scale}), offset_({offset}) {}  // NOLINT
  /// One value per channel (or one for all), as Keras' Rescaling takes a list.
  RescalingOptions(std::vector<double> scale, std::vector<double> offset)
      : scale_(std::move(scale)), offset_(std::move(offset)) {}
  TORCH_ARG(std::vector<double>, scale);
  TORCH_ARG(std::vector<double>, offset);
};

/// No parameters: the scale and offset are part of the architecture, not weights.
class RescalingImpl : public torch::nn::Module {
 public:
  explicit RescalingImpl(const RescalingOptions& options);

  torch::Tensor forward(const torch::Tensor& x);

  RescalingOptions options;
};
TORCH_MODULE(Rescaling);

}  // namespace tlearn::nn
