#pragma once
/// \file
/// Keras' ZeroPadding2D rows. torchvision pads inside a convolution or pooling
/// layer; Keras pads first, in a layer of its own that takes an index in
/// model.layers (ResNet's conv1_pad, MobileNetV2's block_1_pad). tlearn keeps
/// such a row, with no module and no parameters, so that `first(100)` freezes
/// what Keras' `layers[:100]` freezes. While a recorder is active the row's tap
/// receives the input padded as the next layer pads it (summary() shows its
/// shape); otherwise nothing is computed.
///
///     table.add("conv1.pad", nn::kZeroPaddingKind, {}, "conv1_pad");
///     nn::tap_zero_padded("conv1.pad", x, 3);   // in forward, before conv1

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace tlearn::nn {

/// The kind of a padding row in a layer table (Keras: ZeroPadding2D).
inline const std::string kZeroPaddingKind = "ZeroPad2d";

/// Taps `row` with `x` zero-padded by `pad` pixels on every side, only when a recorder is active.
void tap_zero_padded(const std::string& row, const torch::Tensor& x, int64_t pad);

}  // namespace tlearn::nn
