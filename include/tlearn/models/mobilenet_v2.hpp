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
/// work unchanged. Keras' ZeroPadding2D rows (block_N_pad) hold no module:
/// torchvision pads inside the depthwise conv.
///
/// Keras Applications' own MobileNetV2 ("keras.MobileNetV2", alpha 1.0, and
/// "keras.MobileNetV2_<alpha>" for alpha 0.35, 0.5, 0.75, 1.3 and 1.4, as Keras
/// spells it in its file names) is the same table on MobileNetV2Config::keras:
/// Keras' weights per input size (96, 128, 160, 192, 224) and "tf" preprocessing.

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/nn/residual.hpp"

namespace tlearn {

struct MobileNetV2Config {
  TORCH_ARG(double, width_mult) = 1.0;  ///< Keras' alpha
  /// Keras Applications' MobileNetV2: TensorFlow's "same" padding on the strided
  /// convolutions (one row and column at the bottom and right, where torchvision
  /// pads one on every side), BatchNorm epsilon 1e-3 and momentum 0.001 (Keras'
  /// 0.999), widths rounded as Keras rounds them, no dropout before the Dense top.
  TORCH_ARG(bool, keras) = false;
};

namespace nn {

/// torchvision's mobilenetv2.InvertedResidual: `conv` = [1x1 expand Conv2dNormActivation]
/// + 3x3 depthwise Conv2dNormActivation + 1x1 project conv + BatchNorm, plus the input
/// when stride 1 and the widths match. Adds its rows to `table` as it is built.
class MobileNetV2BlockImpl : public torch::nn::Module {
 public:
  MobileNetV2BlockImpl(int64_t in, int64_t out, int64_t stride, int64_t expand_ratio, const MobileNetV2Config& config,
                       LayerTable& table, const std::string& name);

  torch::Tensor forward(torch::Tensor x);

  /// Tap name of the block's output.
  const std::string& output_name() const { return add_.empty() ? chain_.last() : add_; }

 private:
  torch::nn::Sequential conv_{nullptr};
  detail::LeafChain chain_;
  std::string add_;
  nn::ResidualAdd residual_;
};
TORCH_MODULE(MobileNetV2Block);

}  // namespace nn

class MobileNetV2Impl : public BackboneImpl {
 public:
  MobileNetV2Impl(const MobileNetV2Config& config, const ModelSpec& spec, const BackboneOptions& options);

 protected:
  torch::Tensor forward_body(torch::Tensor x) override { return body_.forward(std::move(x)); }

 private:
  /// Keras names block 0 "expanded_conv" and the others "block_<b>"; rows follow
  /// torchvision's conv.<i>[.<j>] paths.
  void set_keras_aliases(const std::string& name, int64_t block, bool expands, bool adds);

  torch::nn::Sequential features_{nullptr}, classifier_{nullptr};
  detail::LeafChain body_;
};

namespace detail {
inline ModelSpec mobilenet_v2_spec() {
  ModelSpec s;
  s.name = "mobilenet_v2";
  s.family = "mobilenet_v2";
  s.first_conv = "features.0.0.weight";
  s.top_modules = {"classifier"};
  s.classifier_modules = {"classifier.1"};
  s.keras_model = "keras.MobileNetV2";
  // torchvision's DEFAULT is IMAGENET1K_V2
  s.weights = {torchvision_weights("IMAGENET1K_V2", "mobilenet_v2-7ebf99e0.pth", {232, 224, Interpolation::Bilinear}),
               torchvision_weights("IMAGENET1K_V1", "mobilenet_v2-b0353104.pth")};
  return s;
}

/// Keras Applications' MobileNetV2(alpha=`alpha`, as Keras writes it in file names:
/// "0.35", "1.0"): "imagenet" is Keras' file for 224x224 inputs; "imagenet_96" ..
/// "imagenet_192" the files for smaller inputs, which "imagenet" picks when the
/// options' input_shape is one of those squares, as Keras picks by input_shape.
/// Keras publishes no MD5 for them (io::fetch_keras_weights says what that means).
inline ModelSpec keras_mobilenet_v2_spec(const std::string& name, const std::string& alpha) {
  ModelSpec s = mobilenet_v2_spec();
  s.name = name;
  s.keras_model.clear();
  s.weights.clear();
  for (int64_t rows : {224, 96, 128, 160, 192}) {
    const std::string stem = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_" + alpha + "_" + std::to_string(rows);
    s.weights.push_back(keras_weights("mobilenet_v2", stem + ".h5", "", stem + "_no_top.h5", "", Preprocessing::TF, rows));
    if (rows != 224) s.weights.back().tag = "imagenet_" + std::to_string(rows);
  }
  return s;
}
}  // namespace detail

namespace arch {
struct MobileNetV2 { using Impl = MobileNetV2Impl; static constexpr const char* name = "mobilenet_v2"; };
struct KerasMobileNetV2 { using Impl = MobileNetV2Impl; static constexpr const char* name = "keras.MobileNetV2"; };
struct KerasMobileNetV2_035 {
  using Impl = MobileNetV2Impl;
  static constexpr const char* name = "keras.MobileNetV2_0.35";
};
struct KerasMobileNetV2_05 {
  using Impl = MobileNetV2Impl;
  static constexpr const char* name = "keras.MobileNetV2_0.5";
};
struct KerasMobileNetV2_075 {
  using Impl = MobileNetV2Impl;
  static constexpr const char* name = "keras.MobileNetV2_0.75";
};
struct KerasMobileNetV2_13 {
  using Impl = MobileNetV2Impl;
  static constexpr const char* name = "keras.MobileNetV2_1.3";
};
struct KerasMobileNetV2_14 {
  using Impl = MobileNetV2Impl;
  static constexpr const char* name = "keras.MobileNetV2_1.4";
};
}  // namespace arch

namespace detail {
/// The mobilenet_v2 variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> mobilenet_v2_variants() {
  std::vector<RegisteredModel> variants = {variant<MobileNetV2Impl>(mobilenet_v2_spec(), MobileNetV2Config())};
  for (const auto& [alpha, width] : std::vector<std::pair<std::string, double>>{
           {"1.0", 1.0}, {"0.35", 0.35}, {"0.5", 0.5}, {"0.75", 0.75}, {"1.3", 1.3}, {"1.4", 1.4}}) {
    const std::string name = alpha == "1.0" ? "keras.MobileNetV2" : "keras.MobileNetV2_" + alpha;
    variants.push_back(variant<MobileNetV2Impl>(keras_mobilenet_v2_spec(name, alpha),
                                                MobileNetV2Config().width_mult(width).keras(true)));
  }
  return variants;
}
}  // namespace detail

}  // namespace tlearn
