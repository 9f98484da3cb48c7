#pragma once
/// \file
/// MobileNetV3 small and large (torchvision.models.mobilenet_v3_small / _large):
/// inverted residuals with optional squeeze-excitation (hardsigmoid gate), ReLU or
/// Hardswish, BatchNorm eps 0.001 momentum 0.01. One layer-table row per conv,
/// BatchNorm, activation, SE op and residual add, named by torchvision's module
/// paths ("features.4.block.2.fc1"); the blocks are tlearn/nn's ConvNormAct and
/// SqueezeExcitation.
///
/// Keras Applications' MobileNetV3Small / MobileNetV3Large are the same network
/// built as Keras builds it (MobileNetV3Config::keras), registered as
/// "keras.MobileNetV3Small", "keras.MobileNetV3Large", "..._0.75" (alpha 0.75) and
/// "..._minimalistic" (no squeeze-excitation, no hard-swish, no 5x5 kernels): Keras'
/// layer names as aliases, its "imagenet" files, and its in-model preprocessing, a
/// Rescaling(1 / 127.5, -1) row first, so these models take 0..255 pixels
/// (preprocessing Identity). Their top is Keras': global average pooling, a 1x1 conv
/// with bias ("conv_2", classifier.0), the activation, Dropout, the 1x1 "logits"
/// conv (classifier.3), Flatten.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/nn/residual.hpp"

namespace tlearn {

/// One row of torchvision's inverted_residual_setting (width_mult 1).
struct MobileNetV3BlockConfig {
  int64_t in, kernel, expanded, out;
  bool se, hardswish;
  int64_t stride;
};

struct MobileNetV3Config {
  TORCH_ARG(std::vector<MobileNetV3BlockConfig>, blocks);
  TORCH_ARG(int64_t, last_channel) = 1280;
  /// Keras Applications' model: TensorFlow's "same" padding on the strided convs, a
  /// ZeroPadding2D row before each strided depthwise conv, BatchNorm momentum 0.001
  /// (Keras' 0.999), the Rescaling row, the last conv's width rounded to a multiple
  /// of 8, Keras' top, names and initialisation.
  TORCH_ARG(bool, keras) = false;
  /// Keras' minimalistic variant: ReLU in the stem, the last conv and the top
  /// (the blocks say their own activation, kernel and squeeze-excitation).
  TORCH_ARG(bool, minimalistic) = false;
};

namespace nn {

/// torchvision's mobilenetv3.InvertedResidual: `block` = [1x1 expand] + kxk depthwise
/// + [squeeze-excitation] + 1x1 project (no activation), plus the input when
/// stride 1 and the widths match.
class MobileNetV3BlockImpl : public torch::nn::Module {
 public:
  /// `keras_names`, for a Keras model: numbers the activations Keras names itself;
  /// `block_id` is Keras' index of the block (its names: expanded_conv_<block_id>_...).
  MobileNetV3BlockImpl(const MobileNetV3BlockConfig& c, const MobileNetV3Config& config, LayerTable& table,
                       const std::string& name, detail::KerasLayerNumbering* keras_names = nullptr,
                       int64_t block_id = 0);

  torch::Tensor forward(torch::Tensor x);

  /// Tap name of the block's output.
  const std::string& output_name() const { return add_.empty() ? chain_.last() : add_; }

 private:
  void set_keras_aliases(LayerTable& table, const std::string& name, const MobileNetV3BlockConfig& c,
                         detail::KerasLayerNumbering& keras_names, int64_t block_id);

  torch::nn::Sequential block_{nullptr};
  detail::LeafChain chain_;
  std::string add_;
  nn::ResidualAdd residual_;
};
TORCH_MODULE(MobileNetV3Block);

}  // namespace nn

class MobileNetV3Impl : public BackboneImpl {
 public:
  MobileNetV3Impl(const MobileNetV3Config& config, const ModelSpec& spec, const BackboneOptions& options);

 protected:
  torch::Tensor forward_body(torch::Tensor x) override { return body_.forward(std::move(x)); }

 private:
  torch::nn::Sequential features_{nullptr}, classifier_{nullptr};
  detail::LeafChain body_;
  bool keras_ = false;
};

namespace detail {
/// timm's names for MobileNetV3: each of torchvision's flat `features.N` rows is a
/// block of a timm stage (`stages`: blocks per stage, the last a plain conv row); the
/// first stage's blocks have no expansion conv. timm's BatchNorm epsilon is 1e-5
/// where torchvision's is 1e-3.
inline std::vector<std::pair<std::string, std::string>> mobilenet_v3_timm_keys(const std::vector<int>& stages) {
  std::vector<std::pair<std::string, std::string>> keys = {{"^features\\.0\\.0\\.", "conv_stem."},
                                                           {"^features\\.0\\.1\\.", "bn1."}};
  int row = 1;
  for (size_t stage = 0; stage < stages.size(); ++stage)
    for (int block = 0; block < stages[stage]; ++block, ++row)
      keys.push_back({"^features\\." + std::to_string(row) + "\\.",
                      "blocks." + std::to_string(stage) + "." + std::to_string(block) + "."});
  const std::string head = "^blocks\\." + std::to_string(stages.size() - 1) + "\\.0\\.";
  std::vector<std::pair<std::string, std::string>> blocks = {
      {head + "0\\.", "blocks." + std::to_string(stages.size() - 1) + ".0.conv."},
      {head + "1\\.", "blocks." + std::to_string(stages.size() - 1) + ".0.bn1."},
      // The first stage: depthwise, (squeeze-excitation,) projection.
      {"^blocks\\.0\\.(\\d+)\\.block\\.0\\.0\\.", "blocks.0.$1.conv_dw."},
      {"^blocks\\.0\\.(\\d+)\\.block\\.0\\.1\\.", "blocks.0.$1.bn1."},
      {"^blocks\\.0\\.(\\d+)\\.block\\.1\\.fc", "blocks.0.$1.se.fc"},
      {"^blocks\\.0\\.(\\d+)\\.block\\.\\d\\.0\\.", "blocks.0.$1.conv_pw."},
      {"^blocks\\.0\\.(\\d+)\\.block\\.\\d\\.1\\.", "blocks.0.$1.bn2."},
      // The others: expansion, depthwise, (squeeze-excitation,) projection.
      {"\\.block\\.0\\.0\\.", ".conv_pw."},
      {"\\.block\\.0\\.1\\.", ".bn1."},
      {"\\.block\\.1\\.0\\.", ".conv_dw."},
      {"\\.block\\.1\\.1\\.", ".bn2."},
      {"\\.block\\.2\\.fc", ".se.fc"},
      {"\\.block\\.[23]\\.0\\.", ".conv_pwl."},
      {"\\.block\\.[23]\\.1\\.", ".bn3."},
      {"\\.se\\.fc1\\.", ".se.conv_reduce."},
      {"\\.se\\.fc2\\.", ".se.conv_expand."},
      {"^classifier\\.0\\.", "conv_head."},
      {"^classifier\\.3\\.", "classifier."}};
  keys.insert(keys.end(), blocks.begin(), blocks.end());
  return keys;
}

inline ModelSpec mobilenet_v3_spec(const std::string& name,
                                   const std::vector<std::pair<std::string, std::string>>& files) {
  ModelSpec s;
  s.name = name;
  s.family = "mobilenet_v3";
  s.first_conv = "features.0.0.weight";
  s.top_modules = {"classifier"};
  s.classifier_modules = {"classifier.3"};
  s.keras_model = name == "mobilenet_v3_large" ? "keras.MobileNetV3Large" : "keras.MobileNetV3Small";
  const bool large = name == "mobilenet_v3_large";
  s.timm_architectures = {{large ? "mobilenetv3_large_100" : "mobilenetv3_small_100", 1e-5}};
  s.timm_keys = mobilenet_v3_timm_keys(large ? std::vector<int>{1, 2, 3, 4, 2, 3, 1} : std::vector<int>{1, 2, 3, 2, 3, 1});
  s.timm_shapes = {{"classifier\\.0\\.weight", {0, -1, 1, 1}}};  // timm's conv_head is a 1x1 conv
  for (const auto& [tag, file] : files)
    s.weights.push_back(
        torchvision_weights(tag, file, {tag == "IMAGENET1K_V2" ? 232 : 256, 224, Interpolation::Bilinear}));
  return s;
}

// in, kernel, expanded, out, SE, hardswish, stride (torchvision's _mobilenet_v3_conf)
inline MobileNetV3Config mobilenet_v3_large_config() {
  return MobileNetV3Config()
      .blocks({{16, 3, 16, 16, false, false, 1},
               {16, 3, 64, 24, false, false, 2},
               {24, 3, 72, 24, false, false, 1},
               {24, 5, 72, 40, true, false, 2},
               {40, 5, 120, 40, true, false, 1},
               {40, 5, 120, 40, true, false, 1},
               {40, 3, 240, 80, false, true, 2},
               {80, 3, 200, 80, false, true, 1},
               {80, 3, 184, 80, false, true, 1},
               {80, 3, 184, 80, false, true, 1},
               {80, 3, 480, 112, true, true, 1},
               {112, 3, 672, 112, true, true, 1},
               {112, 5, 672, 160, true, true, 2},
               {160, 5, 960, 160, true, true, 1},
               {160, 5, 960, 160, true, true, 1}})
      .last_channel(1280);
}

inline MobileNetV3Config mobilenet_v3_small_config() {
  return MobileNetV3Config()
      .blocks({{16, 3, 16, 16, true, false, 2},
               {16, 3, 72, 24, false, false, 2},
               {24, 3, 88, 24, false, false, 1},
               {24, 5, 96, 40, true, true, 2},
               {40, 5, 240, 40, true, true, 1},
               {40, 5, 240, 40, true, true, 1},
               {40, 5, 120, 48, true, true, 1},
               {48, 5, 144, 48, true, true, 1},
               {48, 5, 288, 96, true, true, 2},
               {96, 5, 576, 96, true, true, 1},
               {96, 5, 576, 96, true, true, 1}})
      .last_channel(1024);
}
}  // namespace detail

namespace detail {
/// Keras' MobileNetV3Large (`large`) or MobileNetV3Small at `alpha`, as Keras'
/// stack_fn rounds its widths; `minimalistic`: 3x3 kernels, ReLU, no squeeze-excitation.
MobileNetV3Config keras_mobilenet_v3_config(bool large, double alpha, bool minimalistic);

/// Keras' files for `keras_model` as its WEIGHTS_HASHES names it ("large_224_1.0_float"),
/// with their MD5s; Identity preprocessing (the model rescales 0..255 itself).
ModelSpec keras_mobilenet_v3_spec(const std::string& name, const std::string& keras_model, const std::string& md5,
                                  const std::string& notop_md5);

/// keras.MobileNetV3Small / Large, _0.75 and _minimalistic: the six Keras publishes weights for.
std::vector<RegisteredModel> keras_mobilenet_v3_variants();
}  // namespace detail

namespace arch {
struct MobileNetV3Small { using Impl = MobileNetV3Impl; static constexpr const char* name = "mobilenet_v3_small"; };
struct MobileNetV3Large { using Impl = MobileNetV3Impl; static constexpr const char* name = "mobilenet_v3_large"; };
struct KerasMobileNetV3Small {
  using Impl = MobileNetV3Impl;
  static constexpr const char* name = "keras.MobileNetV3Small";
};
struct KerasMobileNetV3Large {
  using Impl = MobileNetV3Impl;
  static constexpr const char* name = "keras.MobileNetV3Large";
};
struct KerasMobileNetV3Small_075 {
  using Impl = MobileNetV3Impl;
  static constexpr const char* name = "keras.MobileNetV3Small_0.75";
};
struct KerasMobileNetV3Small_Minimalistic {
  using Impl = MobileNetV3Impl;
  static constexpr const char* name = "keras.MobileNetV3Small_minimalistic";
};
struct KerasMobileNetV3Large_075 {
  using Impl = MobileNetV3Impl;
  static constexpr const char* name = "keras.MobileNetV3Large_0.75";
};
struct KerasMobileNetV3Large_Minimalistic {
  using Impl = MobileNetV3Impl;
  static constexpr const char* name = "keras.MobileNetV3Large_minimalistic";
};
}  // namespace arch

namespace detail {
/// The mobilenet_v3 variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> mobilenet_v3_variants() {
  return {
      variant<MobileNetV3Impl>(
          mobilenet_v3_spec("mobilenet_v3_small", {{"IMAGENET1K_V1", "mobilenet_v3_small-047dcff4.pth"}}),
          mobilenet_v3_small_config()),
      variant<MobileNetV3Impl>(
          mobilenet_v3_spec("mobilenet_v3_large", {{"IMAGENET1K_V2", "mobilenet_v3_large-5c1a4163.pth"},
                                                   {"IMAGENET1K_V1", "mobilenet_v3_large-8738ca79.pth"}}),
          mobilenet_v3_large_config()),
  };
}
}  // namespace detail

}  // namespace tlearn
