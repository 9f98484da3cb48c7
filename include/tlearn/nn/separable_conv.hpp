#pragma once
/// \file
/// SeparableConv2d: Keras' SeparableConv2D, one layer that runs a depthwise
/// convolution (one k x k filter per input channel) and then a 1x1 pointwise one
/// (Xception's, NASNet's building block). One module, so one row of the layer
/// table holds both, as one Keras layer does, and Keras' weights (depthwise_kernel,
/// pointwise_kernel, bias) fill it in one piece (models/keras_weights.hpp).
///
///     auto sep = tlearn::nn::SeparableConv2d(tlearn::nn::SeparableConv2dOptions(128, 256, 3));
///     table.add("block3.sepconv1", "SeparableConv2d", {sep.ptr()}, "block3_sepconv1");
///
/// Children: "depthwise" (groups = in_channels, no bias) and "pointwise" (1x1,
/// with bias when the options ask for one).

#include <torch/torch.h>

#include <cstdint>

#include "tlearn/core/conv2d.hpp"

namespace tlearn::nn {

struct SeparableConv2dOptions {
  /// A k x k depthwise convolution padded by (k - 1) / 2 (Keras' "same" at stride 1),
  /// then a 1x1 convolution to `out_channels`.
  SeparableConv2dOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}

  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(int64_t, stride) = 1;
  /// Depthwise outputs per input channel (Keras' depth_multiplier).
  TORCH_ARG(int64_t, depth_multiplier) = 1;
  /// A bias on the pointwise convolution (Keras' use_bias; Xception has none).
  TORCH_ARG(bool, bias) = false;
  /// TensorFlow's "same" padding for a strided depthwise convolution (Conv2d::set_tf_same_padding).
  TORCH_ARG(bool, tf_same_padding) = false;
  /// The depthwise convolution's padding on every side; -1: (k - 1) / 2. NASNet pads its
  /// strided ones in a row of their own, then convolves "valid" (0).
  TORCH_ARG(int64_t, padding) = -1;
};

class SeparableConv2dImpl : public torch::nn::Module {
 public:
  explicit SeparableConv2dImpl(const SeparableConv2dOptions& options);

  torch::Tensor forward(const torch::Tensor& x);

  SeparableConv2dOptions options;
  Conv2d depthwise{nullptr}, pointwise{nullptr};
};
TORCH_MODULE(SeparableConv2d);

}  // namespace tlearn::nn
