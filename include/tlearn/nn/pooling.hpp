#pragma once
/// \file
/// Pooling with TensorFlow's "same" padding, as Keras' MaxPooling2D(padding="same")
/// computes it (Xception's block pools, NASNet's): the output has ceil(size /
/// stride) rows and columns, the input is padded by what that needs, the odd row
/// and column at the bottom and right, and padded cells never win the maximum.
/// torch's max_pool2d pads both sides alike, so at even sizes it differs.
///
///     x = tlearn::nn::max_pool2d_same(x, 3, 2);   // Keras: MaxPooling2D(3, strides=2, padding="same")

#include <torch/torch.h>

#include <cstdint>

namespace tlearn::nn {

/// Max pooling over `kernel` x `kernel` windows every `stride` cells, with "same" padding.
torch::Tensor max_pool2d_same(const torch::Tensor& x, int64_t kernel, int64_t stride);

}  // namespace tlearn::nn
