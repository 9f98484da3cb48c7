#pragma once
/// \file
/// The end of a residual block shaped conv -> BatchNorm -> + shortcut ->
/// activation (ResNet's basic and bottleneck blocks), run as one step.
///
/// Why: once optimize_for_inference has folded the BatchNorm, and while no tap
/// records, the convolution adds the shortcut and applies the activation itself
/// (Conv2d::forward_add: one oneDNN call with prepacked weights). A block then
/// keeps torchvision's shape, and the rule for when the join may be fused lives
/// here, not in each family's forward. Otherwise the steps run one by one,
/// each tapped under its row's name.

#include <torch/torch.h>

#include <functional>
#include <string>

#include "tlearn/core/activation.hpp"
#include "tlearn/core/batch_norm.hpp"
#include "tlearn/core/conv2d.hpp"

namespace tlearn::nn {

/// The rows a residual join taps: the convolution, the BatchNorm, the sum and
/// the activation's output.
struct ResidualJoinRows {
  std::string conv, norm, sum, out;
};

/// activation(norm(conv(x)) + shortcut()). `shortcut` runs after the norm (the
/// order the rows are tapped in) or, when fused, before the convolution.
torch::Tensor residual_join(Conv2d& conv, BatchNorm2d& norm, const torch::Tensor& x,
                            const std::function<torch::Tensor()>& shortcut, Activation activation,
                            const ResidualJoinRows& rows);

}  // namespace tlearn::nn
