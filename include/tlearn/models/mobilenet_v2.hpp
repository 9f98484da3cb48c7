#pragma once
/// \file
/// MobileNetV2 (torchvision.models.mobilenet_v2). The layer table has one row per
/// conv, BatchNorm, ReLU6 and residual add, named by torchvision's module paths
/// ("features.2.conv.0.0") and aliased to Keras' MobileNetV2().layers names
/// ("block_1_expand"), so Keras recipes such as the segmentation tutorial's
///
///     base->forward_features(x, {"block_1_expand_relu", "block_3_expand_relu",
///                                "block_6_expand_relu", "block_13_expand_relu", "block_16_project"});
///
/// work unchanged. Keras' ZeroPadding2D rows (block_N_pad) have no counterpart:
/// torchvision pads inside the depthwise conv.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"

namespace tlearn {

struct MobileNetV2Config {
  double width_mult = 1.0;
};

/// torchvision's mobilenetv2.InvertedResidual: `conv` = [1x1 expand Conv2dNormActivation]
/// + 3x3 depthwise Conv2dNormActivation + 1x1 project conv + BatchNorm, plus the input
/// when stride 1 and the widths match. Adds its rows to `table` as it is built.
class MobileNetV2BlockImpl : public torch::nn::Module {
 public:
  MobileNetV2BlockImpl(int64_t in, int64_t out, int64_t stride, int64_t expand_ratio, LayerTable& table,
                       const std::string& name);

  torch::Tensor forward(torch::Tensor x);

  /// Tap name of the block's output.
  const std::string& output_name() const { return add_.empty() ? chain_.last() : add_; }

 private:
  torch::nn::Sequential conv_{nullptr};
  detail::LeafChain chain_;
  std::string add_;
};
TORCH_MODULE(MobileNetV2Block);

class MobileNetV2Impl : public BackboneImpl {
 public:
  MobileNetV2Impl(const MobileNetV2Config& config, const ModelSpec& spec, const BackboneOptions& options);

 protected:
  torch::Tensor forward_body(torch::Tensor x) override { return body_.forward(std::move(x)); }

  torch::Tensor forward_top(torch::Tensor x) override;

 private:
  /// Keras names block 0 "expanded_conv" and the others "block_<b>"; rows follow
  /// torchvision's conv.<i>[.<j>] paths.
  void set_keras_aliases(const std::string& name, int64_t block, bool expands, bool adds);

  torch::nn::Sequential features_{nullptr}, classifier_{nullptr};
  detail::LeafChain body_;
  std::vector<std::string> top_taps_;
};

namespace detail {
inline ModelSpec mobilenet_v2_spec() {
  ModelSpec s;
  s.name = "mobilenet_v2";
  s.family = "mobilenet_v2";
  s.first_conv = "features.0.0.weight";
  s.top_keys = {"classifier\\..*"};
  s.classifier_keys = {"classifier\\.1\\..*"};
  // torchvision's DEFAULT is IMAGENET1K_V2
  s.weights = {torchvision_weights("IMAGENET1K_V2", "mobilenet_v2-7ebf99e0.pth", {232, 224, Interpolation::Bilinear}),
               torchvision_weights("IMAGENET1K_V1", "mobilenet_v2-b0353104.pth")};
  return s;
}
}  // namespace detail

namespace arch {
struct MobileNetV2 { using Impl = MobileNetV2Impl; static constexpr const char* name = "mobilenet_v2"; };
}  // namespace arch

namespace detail {
/// The mobilenet_v2 variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> mobilenet_v2_variants() {
  return {
      variant<MobileNetV2Impl>(mobilenet_v2_spec(), MobileNetV2Config{}),
  };
}
}  // namespace detail

}  // namespace tlearn
