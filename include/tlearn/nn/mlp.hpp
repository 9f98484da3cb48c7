#pragma once
/// \file
/// The transformer MLP of torchvision's ViT and Swin (torchvision.ops.MLP with
/// GELU): Linear(dim, hidden), GELU, Dropout, Linear(hidden, dim), Dropout, so
/// its keys are "0.*" and "3.*". Linears start xavier-uniform with N(0, 1e-6)
/// biases, as both families initialise them.

#include <torch/torch.h>

#include <cstdint>

#include "tlearn/core/linear.hpp"

namespace tlearn::nn {

torch::nn::Sequential transformer_mlp(int64_t dim, int64_t hidden, double dropout = 0.0);

}  // namespace tlearn::nn
