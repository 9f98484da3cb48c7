#pragma once
/// \file
/// `preprocess_input`: scales an image the way a set of pretrained weights expects
/// (the `Preprocessing` policies of tlearn/core/image_types.hpp), on CHW or NCHW
/// float tensors holding 0..255.
///
///     auto x = tlearn::preprocess_input(image, tlearn::Preprocessing::Torch);

#include <torch/torch.h>

#include "tlearn/core/image_types.hpp"

namespace tlearn {

namespace detail {
torch::Tensor channel_vector(const torch::Tensor& x, std::initializer_list<float> v);
}  // namespace detail

/// Applies `policy` to `x` (CHW or NCHW, floating point, RGB, 0..255). Returns a new tensor.
torch::Tensor preprocess_input(const torch::Tensor& x, Preprocessing policy);

}  // namespace tlearn
