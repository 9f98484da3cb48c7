#pragma once
/// \file
/// ShuffleNet V2 x0.5, x1.0, x1.5 and x2.0 (torchvision.models.shufflenet_v2_*):
/// conv1, maxpool, stage2-4 of two-branch units with a channel shuffle, conv5, fc.
/// include_top = false returns conv5's output. The layer table has one row per conv,
/// BatchNorm, ReLU, pool, and per unit a concatenation and a shuffle row.
/// torchvision has no dropout before fc; BackboneOptions().drop_rate(p) > 0 adds one.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"

namespace tlearn {

struct ShuffleNetV2Config {
  TORCH_ARG(std::vector<int64_t>, repeats);   ///< units in stage2, stage3, stage4
  TORCH_ARG(std::vector<int64_t>, channels);  ///< out channels of conv1, stage2, stage3, stage4, conv5
};

namespace detail {
/// torchvision's channel_shuffle: (N, g*c, H, W) -> view (N, g, c, H, W) -> transpose -> (N, c*g, H, W).
inline torch::Tensor channel_shuffle(const torch::Tensor& x, int64_t groups) {
  const auto n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  return x.view({n, groups, c / groups, h, w}).transpose(1, 2).contiguous().view({n, c, h, w});
}

inline nn::Conv2d shufflenet_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                                         int64_t groups = 1) {
  return nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).groups(groups).bias(false));
}
}  // namespace detail

namespace nn {

/// torchvision's shufflenetv2.InvertedResidual. Stride 2: concat(branch1(x), branch2(x));
/// stride 1: concat(x1, branch2(x2)) of the two channel halves; then a shuffle of 2 groups.
class ShuffleNetV2UnitImpl : public torch::nn::Module {
 public:
  ShuffleNetV2UnitImpl(int64_t in, int64_t out, int64_t stride, LayerTable& table, const std::string& name);

  torch::Tensor forward(const torch::Tensor& x);

  const std::string& output_name() const { return shuffle_; }

 private:
  int64_t stride_;
  detail::LeafChain branch1_, branch2_;
  std::string concat_, shuffle_;
};
TORCH_MODULE(ShuffleNetV2Unit);

}  // namespace nn

class ShuffleNetV2Impl : public BackboneImpl {
 public:
  ShuffleNetV2Impl(const ShuffleNetV2Config& config, const ModelSpec& spec, const BackboneOptions& options);

 protected:
  torch::Tensor forward_body(torch::Tensor x) override { return body_.forward(std::move(x)); }

 private:
  detail::LeafChain body_;
  nn::Linear fc_{nullptr};
};

namespace detail {
inline ModelSpec shufflenet_spec(const std::string& name, const std::string& file, int64_t resize) {
  ModelSpec s;
  s.name = name;
  s.family = "shufflenet_v2";
  s.first_conv = "conv1.0.weight";
  s.block_pattern = R"(^stage\d+\.\d+)";
  s.top_modules = {"fc"};
  s.classifier_modules = {"fc"};
  s.weights.push_back(torchvision_weights("IMAGENET1K_V1", file, {resize, 224, Interpolation::Bilinear}));
  return s;
}
}  // namespace detail

namespace arch {
struct ShuffleNetV2_x0_5 { using Impl = ShuffleNetV2Impl; static constexpr const char* name = "shufflenet_v2_x0_5"; };
struct ShuffleNetV2_x1_0 { using Impl = ShuffleNetV2Impl; static constexpr const char* name = "shufflenet_v2_x1_0"; };
struct ShuffleNetV2_x1_5 { using Impl = ShuffleNetV2Impl; static constexpr const char* name = "shufflenet_v2_x1_5"; };
struct ShuffleNetV2_x2_0 { using Impl = ShuffleNetV2Impl; static constexpr const char* name = "shufflenet_v2_x2_0"; };
}  // namespace arch

namespace detail {
/// The shufflenet variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> shufflenet_variants() {
  return {
      variant<ShuffleNetV2Impl>(shufflenet_spec("shufflenet_v2_x0_5", "shufflenetv2_x0.5-f707e7126e.pth", 256),
                                ShuffleNetV2Config().repeats({4, 8, 4}).channels({24, 48, 96, 192, 1024})),
      variant<ShuffleNetV2Impl>(shufflenet_spec("shufflenet_v2_x1_0", "shufflenetv2_x1-5666bf0f80.pth", 256),
                                ShuffleNetV2Config().repeats({4, 8, 4}).channels({24, 116, 232, 464, 1024})),
      variant<ShuffleNetV2Impl>(shufflenet_spec("shufflenet_v2_x1_5", "shufflenetv2_x1_5-3c479a10.pth", 232),
                                ShuffleNetV2Config().repeats({4, 8, 4}).channels({24, 176, 352, 704, 1024})),
      variant<ShuffleNetV2Impl>(shufflenet_spec("shufflenet_v2_x2_0", "shufflenetv2_x2_0-8be3c8ee.pth", 232),
                                ShuffleNetV2Config().repeats({4, 8, 4}).channels({24, 244, 488, 976, 2048})),
  };
}
}  // namespace detail

}  // namespace tlearn
