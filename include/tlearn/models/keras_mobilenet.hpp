#pragma once
/// \file
/// MobileNet (v1) as Keras Applications builds it (keras.applications.MobileNet;
/// torchvision has none): a 3x3 stem and 13 depthwise-separable blocks, each a
/// 3x3 depthwise and a 1x1 pointwise conv with BatchNorm and ReLU6. Registered
/// as "keras.MobileNet" (alpha 1.0) and "keras.MobileNet_<alpha>" for alpha 0.25,
/// 0.5 and 0.75, with Keras' layer names as the table's aliases (`first(n)` is
/// `model.layers[:n]`), Keras' weights per input size (128, 160, 192, 224; see
/// keras_weights) and "tf" preprocessing.
///
/// Keras' details kept: the stem pads TensorFlow's "same" way; each strided
/// block pads its input by one row and column at the bottom and right
/// (ZeroPadding2D conv_pad_N, a row of its own) before a "valid" depthwise conv;
/// BatchNorm has Keras' epsilon 1e-3 and momentum 0.01 (Keras' 0.99); widths are
/// int(channels * alpha), not rounded to a multiple of 8. The top is Keras':
/// global average pooling, Dropout(1e-3), a 1x1 conv to the classes
/// ("conv_preds", with bias), a reshape and the classifier activation.
///
///     auto base = tlearn::make_backbone("keras.MobileNet_0.5",
///                                       tlearn::BackboneOptions().include_top(false).input_shape({160, 160}));
///
/// Module paths: features.0 is the stem (ConvNormAct: .0 conv, .1 BatchNorm,
/// .2 ReLU6); features.N (N = 1..13) is block N: .0 the depthwise ConvNormAct,
/// .1 the pointwise one; classifier.1 is conv_preds.

#include <torch/torch.h>

#include <string>
#include <tuple>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"

namespace tlearn {

struct KerasMobileNetConfig {
  TORCH_ARG(double, alpha) = 1.0;  ///< width multiplier
};

class KerasMobileNetImpl : public BackboneImpl {
 public:
  KerasMobileNetImpl(const KerasMobileNetConfig& config, const ModelSpec& spec, const BackboneOptions& options);

 protected:
  torch::Tensor forward_body(torch::Tensor x) override { return body_.forward(std::move(x)); }

 private:
  torch::nn::ModuleList features_{nullptr};  ///< holds the blocks (body_ runs them)
  torch::nn::Sequential classifier_{nullptr};
  detail::LeafChain body_;
};

namespace detail {
/// Keras' MobileNet(alpha=`alpha`): `file_alpha` is how Keras spells it in file names
/// ("2_5" for 0.25, "1_0" for 1.0). Keras publishes no MD5 for these files.
inline ModelSpec keras_mobilenet_spec(const std::string& name, const std::string& file_alpha) {
  ModelSpec s;
  s.name = name;
  s.family = "keras_mobilenet";
  s.first_conv = "features.0.0.weight";
  s.top_modules = {"classifier"};
  s.classifier_modules = {"classifier.1"};
  for (int64_t rows : {224, 128, 160, 192}) {
    const std::string stem = "mobilenet_" + file_alpha + "_" + std::to_string(rows) + "_tf";
    s.weights.push_back(keras_weights("mobilenet", stem + ".h5", "", stem + "_no_top.h5", "", Preprocessing::TF, rows));
    if (rows != 224) s.weights.back().tag = "imagenet_" + std::to_string(rows);
  }
  return s;
}
}  // namespace detail

namespace arch {
struct KerasMobileNet { using Impl = KerasMobileNetImpl; static constexpr const char* name = "keras.MobileNet"; };
struct KerasMobileNet_025 {
  using Impl = KerasMobileNetImpl;
  static constexpr const char* name = "keras.MobileNet_0.25";
};
struct KerasMobileNet_05 {
  using Impl = KerasMobileNetImpl;
  static constexpr const char* name = "keras.MobileNet_0.5";
};
struct KerasMobileNet_075 {
  using Impl = KerasMobileNetImpl;
  static constexpr const char* name = "keras.MobileNet_0.75";
};
}  // namespace arch

namespace detail {
/// The keras_mobilenet variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> keras_mobilenet_variants() {
  std::vector<RegisteredModel> variants;
  for (const auto& [alpha, file_alpha, width] : std::vector<std::tuple<std::string, std::string, double>>{
           {"1.0", "1_0", 1.0}, {"0.25", "2_5", 0.25}, {"0.5", "5_0", 0.5}, {"0.75", "7_5", 0.75}}) {
    const std::string name = alpha == "1.0" ? "keras.MobileNet" : "keras.MobileNet_" + alpha;
    variants.push_back(
        variant<KerasMobileNetImpl>(keras_mobilenet_spec(name, file_alpha), KerasMobileNetConfig().alpha(width)));
  }
  return variants;
}
}  // namespace detail

}  // namespace tlearn
