// Implementation of tlearn/nn/residual_join.hpp.
#include "tlearn/nn/residual_join.hpp"

#include "tlearn/core/tap.hpp"

namespace tlearn::nn {

torch::Tensor residual_join(Conv2d& conv, BatchNorm2d& norm, const torch::Tensor& x,
                            const std::function<torch::Tensor()>& shortcut, Activation activation,
                            const ResidualJoinRows& rows) {
  if (norm->folded() && !tap_recording()) return conv->forward_add(x, shortcut(), activation);
  auto y = conv->forward(x);
  tap(rows.conv, y);
  y = norm->forward(y);
  tap(rows.norm, y);
  // In place, as torchvision's blocks add and rectify, unless a tap keeps the sum.
  const bool inplace = !tap_recording();
  y = inplace ? y.add_(shortcut()) : y + shortcut();
  tap(rows.sum, y);
  y = apply_activation(activation, y, inplace);
  tap(rows.out, y);
  return y;
}

}  // namespace tlearn::nn
