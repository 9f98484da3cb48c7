#pragma once
/// \file
/// EfficientNet B0..B7 and EfficientNetV2 S/M/L (torchvision.models.efficientnet).
/// MBConv blocks (expand 1x1, depthwise kxk, squeeze-and-excitation, project 1x1)
/// and, in V2's first stages, FusedMBConv blocks (one kxk conv, then project),
/// built from tlearn/nn's ConvNormAct and SqueezeExcitation. The layer table has
/// one row per conv, BatchNorm and SiLU, the six rows of each SE module, and the
/// stochastic depth and residual add of each residual block. B0..B7 rows
/// carry the Keras EfficientNetB* layer names ("stem_conv", "block2a_expand_conv",
/// "block2b_add", "top_conv", "avg_pool", "predictions").
///
///     auto base = tlearn::make_backbone("efficientnet_b0", tlearn::BackboneOptions().include_top(false));
///     base->set_trainable(tlearn::until("block6a_expand_conv"), false);

#include <torch/torch.h>

#include <cctype>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/nn/residual.hpp"

namespace tlearn {

/// Which Keras Applications model an EfficientNet is built as, if any.
enum class KerasEfficientNet {
  None,
  V1,  ///< EfficientNetB*: ZeroPadding2D rows before strided convs, Normalization weights
  V2,  ///< EfficientNetV2*: "same" padding in the conv, fixed normalisation, Keras' V2 rounding
};

/// One row of torchvision's inverted_residual_setting (before width/depth scaling).
struct EfficientNetStage {
  bool fused;  ///< FusedMBConv (V2's first stages) instead of MBConv
  double expand_ratio;
  int64_t kernel, stride, in_channels, out_channels, layers;
};

struct EfficientNetConfig {
  TORCH_ARG(std::vector<EfficientNetStage>, stages);
  TORCH_ARG(double, width_mult) = 1.0;
  TORCH_ARG(double, depth_mult) = 1.0;
  TORCH_ARG(int64_t, last_channel) = 0;  ///< 0: 4 x the last stage's channels (B0..B7)
  TORCH_ARG(double, dropout) = 0.2;
  TORCH_ARG(double, bn_eps) = 1e-5;
  TORCH_ARG(double, bn_momentum) = 0.1;
  TORCH_ARG(bool, keras_names) = false;  ///< B0..B7: Keras EfficientNetB* aliases
  /// Keras Applications' model. Both take 0..255 pixels: their in-model preprocessing
  /// comes first, TensorFlow's "same" padding on strided convs, Keras' five
  /// squeeze-excitation rows and a block's `_drop` row only where its drop rate is
  /// above 0. V1 (EfficientNetB*): rows `rescaling` 1/255, `normalization` with Keras'
  /// mean and variance weights, and for "imagenet" weights `rescaling_1`, 1/sqrt(ImageNet's
  /// std), as Keras adds it only then; `*_pad` rows; BatchNorm 1e-3 / 0.01.
  /// V2 (EfficientNetV2*): B0..B3 rescale by 1/255 and normalise by ImageNet's mean and std
  /// (constants, no weights), S/M/L rescale to [-1, 1) (x / 128 - 1); widths rounded
  /// without the 10% rule; BatchNorm 1e-3 / 0.1; the depthwise conv is `dwconv2`.
  TORCH_ARG(KerasEfficientNet, keras) = KerasEfficientNet::None;
  TORCH_ARG(bool, keras_v2_signed) = false;  ///< V2-S/M/L: x / 128 - 1 rather than ImageNet's mean and std
};

namespace nn {

/// MBConv / FusedMBConv: `block` holds the convs (and the SE module) under
/// torchvision's indices; the residual add when stride 1 and channels match.
class MBConvImpl : public torch::nn::Module {
 public:
  /// `prefix` is the block's module path ("features.2.1"), `keras` its Keras prefix
  /// ("block2b_") or empty.
  /// `keras_layout`: Keras' model (EfficientNetConfig::keras).
  MBConvImpl(LayerTable& table, const std::string& prefix, const std::string& keras, bool fused, int64_t in,
             int64_t out, double expand_ratio, int64_t kernel, int64_t stride, double stochastic_depth_prob,
             const torch::nn::BatchNormOptions& bn, KerasEfficientNet keras_layout = KerasEfficientNet::None);

  torch::Tensor forward(const torch::Tensor& input);

  /// The tap of this block's output (for feature_info).
  const std::string& output_tap() const { return residual_ ? add_tap_ : chain_.last(); }

 private:
  torch::nn::Sequential block_{nullptr};
  detail::LeafChain chain_;
  bool residual_;
  std::string drop_tap_, add_tap_;
  ResidualAdd residual_add_;
};
TORCH_MODULE(MBConv);

}  // namespace nn

class EfficientNetImpl : public BackboneImpl {
 public:
  EfficientNetImpl(const EfficientNetConfig& config, const ModelSpec& spec, const BackboneOptions& options);

 protected:
  torch::Tensor forward_body(torch::Tensor x) override;

 private:
  torch::nn::ModuleList features_{nullptr};
  torch::nn::Sequential classifier_{nullptr};
  nn::ConvNormAct stem_{nullptr}, head_{nullptr};
  std::vector<nn::MBConv> blocks_;
  /// Keras' in-model preprocessing (EfficientNetConfig::keras), in order, and their rows.
  std::vector<torch::nn::AnyModule> preprocessing_;
  std::vector<std::string> preprocessing_rows_;
};

namespace detail {
inline std::vector<EfficientNetStage> efficientnet_v1_stages() {
  return {{false, 1, 3, 1, 32, 16, 1},   {false, 6, 3, 2, 16, 24, 2},   {false, 6, 5, 2, 24, 40, 2},
          {false, 6, 3, 2, 40, 80, 3},   {false, 6, 5, 1, 80, 112, 3},  {false, 6, 5, 2, 112, 192, 4},
          {false, 6, 3, 1, 192, 320, 1}};
}

inline EfficientNetConfig efficientnet_v1(double width, double depth, double dropout, bool tf_bn = false) {
  auto c = EfficientNetConfig()
               .stages(efficientnet_v1_stages())
               .width_mult(width)
               .depth_mult(depth)
               .dropout(dropout)
               .keras_names(true);
  if (tf_bn) c.bn_eps(1e-3).bn_momentum(0.01);  // B5..B7 (lukemelas' ports): BatchNorm2d(eps=0.001, momentum=0.01)
  return c;
}

inline EfficientNetConfig efficientnet_v2(std::vector<EfficientNetStage> stages, double dropout) {
  return EfficientNetConfig().stages(std::move(stages)).last_channel(1280).dropout(dropout).bn_eps(1e-3);
}

inline WeightSpec efficientnet_weights(const std::string& tag, const std::string& file, int64_t resize, int64_t crop,
                                       Interpolation interpolation, Preprocessing preprocessing = Preprocessing::Torch) {
  auto w = torchvision_weights(tag, file, {resize, crop, interpolation});
  w.preprocessing = preprocessing;
  return w;
}

/// timm's names for EfficientNet B0-B7, the same for its PyTorch-trained models and its
/// ports of TensorFlow's (tf_efficientnet_*).
/// Stage 1's blocks have no expansion conv, so their rows are named apart.
inline std::vector<std::pair<std::string, std::string>> efficientnet_timm_keys() {
  return {{"^features\\.0\\.0\\.", "conv_stem."},
          {"^features\\.0\\.1\\.", "bn1."},
          {"^features\\.8\\.0\\.", "conv_head."},
          {"^features\\.8\\.1\\.", "bn2."},
          {"^classifier\\.1\\.", "classifier."},
          {"^features\\.1\\.(\\d+)\\.block\\.0\\.0\\.", "blocks.0.$1.conv_dw."},
          {"^features\\.1\\.(\\d+)\\.block\\.0\\.1\\.", "blocks.0.$1.bn1."},
          {"^features\\.1\\.(\\d+)\\.block\\.1\\.", "blocks.0.$1.se."},
          {"^features\\.1\\.(\\d+)\\.block\\.2\\.0\\.", "blocks.0.$1.conv_pw."},
          {"^features\\.1\\.(\\d+)\\.block\\.2\\.1\\.", "blocks.0.$1.bn2."},
          {"^features\\.([2-7])\\.(\\d+)\\.block\\.", "blocks.${1-1}.$2.block."},
          {"\\.block\\.0\\.0\\.", ".conv_pw."},
          {"\\.block\\.0\\.1\\.", ".bn1."},
          {"\\.block\\.1\\.0\\.", ".conv_dw."},
          {"\\.block\\.1\\.1\\.", ".bn2."},
          {"\\.block\\.2\\.", ".se."},
          {"\\.block\\.3\\.0\\.", ".conv_pwl."},
          {"\\.block\\.3\\.1\\.", ".bn3."},
          {"\\.se\\.fc1\\.", ".se.conv_reduce."},
          {"\\.se\\.fc2\\.", ".se.conv_expand."}};
}

/// `weights`: the first is torchvision's DEFAULT.
inline ModelSpec efficientnet_spec(const std::string& name, std::vector<WeightSpec> weights) {
  ModelSpec s;
  s.name = name;
  s.family = "efficientnet";
  s.default_size = weights.front().transform.crop_size;
  s.min_size = name.find("_v2_") != std::string::npos ? 33 : 1;
  s.first_conv = "features.0.0.weight";
  s.block_pattern = R"(^features\.\d+\.\d+(?=\.))";  // a stage's blocks, not the stem's conv rows
  s.top_modules = {"classifier"};
  s.classifier_modules = {"classifier.1"};
  if (name.size() == 15 && name.rfind("efficientnet_b", 0) == 0) {
    // torchvision's B5-B7 use BatchNorm eps 1e-3, timm's 1e-5; TensorFlow's ports use
    // 1e-3 and TensorFlow's "same" padding.
    s.timm_architectures = {{name, name[14] >= '5' ? 1e-5 : 0.0}, {"tf_" + name, 1e-3, true}};
    s.timm_keys = efficientnet_timm_keys();
    s.keras_model = std::string("keras.EfficientNetB") + name[14];
  } else if (name.rfind("efficientnet_v2_", 0) == 0) {
    s.keras_model = "keras.EfficientNetV2" + std::string(1, static_cast<char>(std::toupper(name.back())));
  }
  s.weights = std::move(weights);
  return s;
}

inline ModelSpec efficientnet_spec(const std::string& name, const std::string& file, int64_t resize, int64_t crop,
                                   Interpolation interpolation = Interpolation::Bicubic,
                                   Preprocessing preprocessing = Preprocessing::Torch) {
  return efficientnet_spec(name, {efficientnet_weights("IMAGENET1K_V1", file, resize, crop, interpolation, preprocessing)});
}
/// Keras' EfficientNetB<n> (`n` 0..7): torchvision's B<n> widths and depths built as
/// Keras builds them (EfficientNetConfig::keras), with Keras' files
/// (storage.googleapis.com/keras-applications/), MD5s and Identity preprocessing.
ModelSpec keras_efficientnet_spec(int n);
EfficientNetConfig keras_efficientnet_config(int n);
/// keras.EfficientNetB0 .. keras.EfficientNetB7, keras.EfficientNetV2B0 .. B3, S, M, L.
std::vector<RegisteredModel> keras_efficientnet_variants();
/// Keras' EfficientNetV2<variant> ("B0".."B3", "S", "M", "L").
ModelSpec keras_efficientnet_v2_spec(const std::string& variant);
EfficientNetConfig keras_efficientnet_v2_config(const std::string& variant);
}  // namespace detail

namespace arch {
struct KerasEfficientNetB0 {
  using Impl = EfficientNetImpl;
  static constexpr const char* name = "keras.EfficientNetB0";
};
struct EfficientNetB0 { using Impl = EfficientNetImpl; static constexpr const char* name = "efficientnet_b0"; };
struct EfficientNetB1 { using Impl = EfficientNetImpl; static constexpr const char* name = "efficientnet_b1"; };
struct EfficientNetB2 { using Impl = EfficientNetImpl; static constexpr const char* name = "efficientnet_b2"; };
struct EfficientNetB3 { using Impl = EfficientNetImpl; static constexpr const char* name = "efficientnet_b3"; };
struct EfficientNetB4 { using Impl = EfficientNetImpl; static constexpr const char* name = "efficientnet_b4"; };
struct EfficientNetB5 { using Impl = EfficientNetImpl; static constexpr const char* name = "efficientnet_b5"; };
struct EfficientNetB6 { using Impl = EfficientNetImpl; static constexpr const char* name = "efficientnet_b6"; };
struct EfficientNetB7 { using Impl = EfficientNetImpl; static constexpr const char* name = "efficientnet_b7"; };
struct EfficientNetV2S { using Impl = EfficientNetImpl; static constexpr const char* name = "efficientnet_v2_s"; };
struct EfficientNetV2M { using Impl = EfficientNetImpl; static constexpr const char* name = "efficientnet_v2_m"; };
struct EfficientNetV2L { using Impl = EfficientNetImpl; static constexpr const char* name = "efficientnet_v2_l"; };
struct KerasEfficientNetB1 {
  using Impl = EfficientNetImpl;
  static constexpr const char* name = "keras.EfficientNetB1";
};
struct KerasEfficientNetB2 {
  using Impl = EfficientNetImpl;
  static constexpr const char* name = "keras.EfficientNetB2";
};
struct KerasEfficientNetB3 {
  using Impl = EfficientNetImpl;
  static constexpr const char* name = "keras.EfficientNetB3";
};
struct KerasEfficientNetB4 {
  using Impl = EfficientNetImpl;
  static constexpr const char* name = "keras.EfficientNetB4";
};
struct KerasEfficientNetB5 {
  using Impl = EfficientNetImpl;
  static constexpr const char* name = "keras.EfficientNetB5";
};
struct KerasEfficientNetB6 {
  using Impl = EfficientNetImpl;
  static constexpr const char* name = "keras.EfficientNetB6";
};
struct KerasEfficientNetB7 {
  using Impl = EfficientNetImpl;
  static constexpr const char* name = "keras.EfficientNetB7";
};
struct KerasEfficientNetV2B0 {
  using Impl = EfficientNetImpl;
  static constexpr const char* name = "keras.EfficientNetV2B0";
};
struct KerasEfficientNetV2B1 {
  using Impl = EfficientNetImpl;
  static constexpr const char* name = "keras.EfficientNetV2B1";
};
struct KerasEfficientNetV2B2 {
  using Impl = EfficientNetImpl;
  static constexpr const char* name = "keras.EfficientNetV2B2";
};
struct KerasEfficientNetV2B3 {
  using Impl = EfficientNetImpl;
  static constexpr const char* name = "keras.EfficientNetV2B3";
};
struct KerasEfficientNetV2S {
  using Impl = EfficientNetImpl;
  static constexpr const char* name = "keras.EfficientNetV2S";
};
struct KerasEfficientNetV2M {
  using Impl = EfficientNetImpl;
  static constexpr const char* name = "keras.EfficientNetV2M";
};
struct KerasEfficientNetV2L {
  using Impl = EfficientNetImpl;
  static constexpr const char* name = "keras.EfficientNetV2L";
};
}  // namespace arch

namespace detail {
/// The efficientnet variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> efficientnet_variants() {
  return {
      variant<EfficientNetImpl>(
          efficientnet_spec("efficientnet_b0", "efficientnet_b0_rwightman-3dd342df.pth", 256, 224),
          efficientnet_v1(1.0, 1.0, 0.2)),
      variant<EfficientNetImpl>(
          efficientnet_spec(
              "efficientnet_b1",
              {efficientnet_weights("IMAGENET1K_V2", "efficientnet_b1-c27df63c.pth", 255, 240, Interpolation::Bilinear),
               efficientnet_weights("IMAGENET1K_V1", "efficientnet_b1_rwightman-533bc792.pth", 256, 240,
                                    Interpolation::Bicubic)}),
          efficientnet_v1(1.0, 1.1, 0.2)),
      variant<EfficientNetImpl>(
          efficientnet_spec("efficientnet_b2", "efficientnet_b2_rwightman-bcdf34b7.pth", 288, 288),
          efficientnet_v1(1.1, 1.2, 0.3)),
      variant<EfficientNetImpl>(
          efficientnet_spec("efficientnet_b3", "efficientnet_b3_rwightman-cf984f9c.pth", 320, 300),
          efficientnet_v1(1.2, 1.4, 0.3)),
      variant<EfficientNetImpl>(
          efficientnet_spec("efficientnet_b4", "efficientnet_b4_rwightman-7eb33cd5.pth", 384, 380),
          efficientnet_v1(1.4, 1.8, 0.4)),
      variant<EfficientNetImpl>(
          efficientnet_spec("efficientnet_b5", "efficientnet_b5_lukemelas-b6417697.pth", 456, 456),
          efficientnet_v1(1.6, 2.2, 0.4, true)),
      variant<EfficientNetImpl>(
          efficientnet_spec("efficientnet_b6", "efficientnet_b6_lukemelas-c76e70fd.pth", 528, 528),
          efficientnet_v1(1.8, 2.6, 0.5, true)),
      variant<EfficientNetImpl>(
          efficientnet_spec("efficientnet_b7", "efficientnet_b7_lukemelas-dcc49843.pth", 600, 600),
          efficientnet_v1(2.0, 3.1, 0.5, true)),
      variant<EfficientNetImpl>(
          efficientnet_spec("efficientnet_v2_s", "efficientnet_v2_s-dd5fe13b.pth", 384, 384, Interpolation::Bilinear),
          efficientnet_v2({{true, 1, 3, 1, 24, 24, 2},
                           {true, 4, 3, 2, 24, 48, 4},
                           {true, 4, 3, 2, 48, 64, 4},
                           {false, 4, 3, 2, 64, 128, 6},
                           {false, 6, 3, 1, 128, 160, 9},
                           {false, 6, 3, 2, 160, 256, 15}},
                          0.2)),
      variant<EfficientNetImpl>(
          efficientnet_spec("efficientnet_v2_m", "efficientnet_v2_m-dc08266a.pth", 480, 480, Interpolation::Bilinear),
          efficientnet_v2({{true, 1, 3, 1, 24, 24, 3},
                           {true, 4, 3, 2, 24, 48, 5},
                           {true, 4, 3, 2, 48, 80, 5},
                           {false, 4, 3, 2, 80, 160, 7},
                           {false, 6, 3, 1, 160, 176, 14},
                           {false, 6, 3, 2, 176, 304, 18},
                           {false, 6, 3, 1, 304, 512, 5}},
                          0.3)),
      // V2-L's weights (ported from google/automl) expect mean = std = 0.5: x / 127.5 - 1.
      variant<EfficientNetImpl>(efficientnet_spec("efficientnet_v2_l", "efficientnet_v2_l-59c71312.pth", 480, 480,
                                                  Interpolation::Bicubic, Preprocessing::TF),
                                efficientnet_v2({{true, 1, 3, 1, 32, 32, 4},
                                                 {true, 4, 3, 2, 32, 64, 7},
                                                 {true, 4, 3, 2, 64, 96, 7},
                                                 {false, 4, 3, 2, 96, 192, 10},
                                                 {false, 6, 3, 1, 192, 224, 19},
                                                 {false, 6, 3, 2, 224, 384, 25},
                                                 {false, 6, 3, 1, 384, 640, 7}},
                                                0.4)),
  };
}
}  // namespace detail

}  // namespace tlearn
