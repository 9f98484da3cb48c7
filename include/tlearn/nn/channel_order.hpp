#pragma once
/// \file
/// Blocks that work on an (N, C, H, W) map through its channels-last view, as
/// torchvision's ConvNeXt and Swin do: Permute (torchvision.ops.Permute) and
/// LayerNorm2d (a LayerNorm over the channels of each pixel).
///
///     torch::nn::Sequential(tlearn::nn::Permute(std::vector<int64_t>{0, 2, 3, 1}),   // NCHW -> NHWC
///                           torch::nn::LayerNorm(torch::nn::LayerNormOptions({96})));
///     tlearn::nn::LayerNorm2d norm(96);   // the same on the map, which stays NCHW

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace tlearn::nn {

/// torchvision.ops.Permute.
class PermuteImpl : public torch::nn::Module {
 public:
  explicit PermuteImpl(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  torch::Tensor forward(const torch::Tensor& x) { return x.permute(dims_); }

 private:
  std::vector<int64_t> dims_;
};
TORCH_MODULE(Permute);

/// LayerNorm over the channels of an (N, C, H, W) map (torchvision's LayerNorm2d):
/// layer_norm on the channels-last view, then back to channels-first.
class LayerNorm2dImpl : public torch::nn::Module {
 public:
  explicit LayerNorm2dImpl(int64_t channels, double eps = 1e-6);

  torch::Tensor forward(const torch::Tensor& x) {
    return torch::layer_norm(x.permute({0, 2, 3, 1}), {channels_}, weight, bias, eps_).permute({0, 3, 1, 2});
  }

  torch::Tensor weight, bias;

 private:
  int64_t channels_;
  double eps_;
};
TORCH_MODULE(LayerNorm2d);

}  // namespace tlearn::nn
