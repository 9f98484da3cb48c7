#pragma once
/// \file
/// ConvNeXt Tiny/Small/Base/Large (torchvision.models.convnext). Each CNBlock is
/// depthwise 7x7 conv, to channels-last, LayerNorm, Linear 4x, GELU, Linear, back
/// to channels-first, times a learned per-channel layer_scale, stochastic depth,
/// plus the input. The layer table has one row per module of the block
/// ("features.1.0.block.0" .. "block.6"), one for layer_scale and for the
/// stochastic depth and residual add.
///
///     auto base = tlearn::make_backbone("convnext_tiny", tlearn::BackboneOptions().include_top(false));
///     auto stages = base->features_only(x);   // strides 4, 8, 16, 32
///
/// keras.ConvNeXtTiny .. keras.ConvNeXtXLarge are the same network as Keras builds
/// it (ConvNeXtConfig::keras): its layer names, a Normalization of 0..255 pixels
/// in the model, the stem and each downsampling as one nested Sequential row, no row
/// for the residual add (its output is a feature tap between rows), and without the
/// top a LayerNormalization after the pooling.

#include <torch/torch.h>

#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/nn/channel_order.hpp"
#include "tlearn/nn/parameter_row.hpp"
#include "tlearn/nn/rescaling.hpp"
#include "tlearn/nn/residual.hpp"

namespace tlearn {

struct ConvNeXtConfig {
  TORCH_ARG(std::vector<int64_t>, dims);    ///< channels of the 4 stages
  TORCH_ARG(std::vector<int64_t>, depths);  ///< blocks per stage
  TORCH_ARG(double, stochastic_depth_prob) = 0.1;
  TORCH_ARG(double, layer_scale) = 1e-6;
  /// Keras' model name ("convnext_tiny"), the prefix of its layer names: builds the
  /// model as keras.applications.ConvNeXt* does. Empty: torchvision's.
  TORCH_ARG(std::string, keras);
};

namespace nn {

/// ConvNeXt's block; `prefix` is its module path ("features.1.0"), `keras` its Keras
/// name ("convnext_tiny_stage_0_block_0") for Keras' rows, or empty.
class CNBlockImpl : public torch::nn::Module {
 public:
  CNBlockImpl(LayerTable& table, const std::string& prefix, int64_t dim, double layer_scale,
              double stochastic_depth_prob, const std::string& keras = "");

  torch::Tensor forward(const torch::Tensor& input);

  /// The block's output: the add's row, or with Keras' rows a tap after `last_row()`.
  const std::string& output_tap() const { return add_tap_; }
  const std::string& last_row() const { return drop_tap_; }

 private:
  torch::Tensor layer_scale_;
  torch::nn::Sequential block_{nullptr};
  std::vector<std::string> taps_;
  std::string scale_tap_, drop_tap_, add_tap_;
  ResidualAdd residual_;
};
TORCH_MODULE(CNBlock);

}  // namespace nn

class ConvNeXtImpl : public BackboneImpl {
 public:
  ConvNeXtImpl(const ConvNeXtConfig& config, const ModelSpec& spec, const BackboneOptions& options);

 protected:
  torch::Tensor forward_body(torch::Tensor x) override;

  /// Keras' model without its top: LayerNormalization after the pooling.
  torch::Tensor forward_no_top(torch::Tensor pooled) override;

 private:
  /// One child of `features`: a plain Sequential (stem, downsampling) or a stage of blocks.
  struct Part {
    torch::nn::Sequential seq{nullptr};
    std::vector<std::string> taps;
    std::vector<nn::CNBlock> blocks;
  };
  torch::nn::ModuleList features_{nullptr};
  torch::nn::Sequential classifier_{nullptr};
  std::vector<Part> parts_;
  nn::Rescaling prestem_{nullptr};        ///< Keras: Normalization of 0..255 pixels
  nn::LayerNorm2d no_top_norm_{nullptr};  ///< Keras without the top
};

namespace detail {
inline ModelSpec convnext_spec(const std::string& name, const std::string& file, int64_t resize_size) {
  ModelSpec s;
  s.name = name;
  s.family = "convnext";
  s.first_conv = "features.0.0.weight";
  s.block_pattern = R"(^features\.\d+\.\d+(?=\.))";  // a stage's blocks, not the stem's conv rows
  s.top_modules = {"classifier"};
  s.classifier_modules = {"classifier.2"};
  s.timm_architectures = {{name}};
  s.timm_keys = {{"^features\\.0\\.", "stem."},
                 {"^features\\.1\\.", "stages.0.blocks."}, {"^features\\.2\\.", "stages.1.downsample."},
                 {"^features\\.3\\.", "stages.1.blocks."}, {"^features\\.4\\.", "stages.2.downsample."},
                 {"^features\\.5\\.", "stages.2.blocks."}, {"^features\\.6\\.", "stages.3.downsample."},
                 {"^features\\.7\\.", "stages.3.blocks."},
                 {"\\.block\\.0\\.", ".conv_dw."}, {"\\.block\\.2\\.", ".norm."},
                 {"\\.block\\.3\\.", ".mlp.fc1."}, {"\\.block\\.5\\.", ".mlp.fc2."},
                 {"\\.layer_scale$", ".gamma"},
                 {"^classifier\\.0\\.", "head.norm."}, {"^classifier\\.2\\.", "head.fc."}};
  s.timm_shapes = {{".*\\.layer_scale", {-1}}};
  std::string size = name.substr(9);  // "tiny"
  size[0] = static_cast<char>(std::toupper(size[0]));
  s.keras_model = "keras.ConvNeXt" + size;
  s.weights.push_back(torchvision_weights("IMAGENET1K_V1", file, {resize_size, 224, Interpolation::Bilinear}));
  return s;
}
}  // namespace detail

namespace arch {
struct ConvNeXtTiny { using Impl = ConvNeXtImpl; static constexpr const char* name = "convnext_tiny"; };
struct ConvNeXtSmall { using Impl = ConvNeXtImpl; static constexpr const char* name = "convnext_small"; };
struct ConvNeXtBase { using Impl = ConvNeXtImpl; static constexpr const char* name = "convnext_base"; };
struct ConvNeXtLarge { using Impl = ConvNeXtImpl; static constexpr const char* name = "convnext_large"; };
struct KerasConvNeXtTiny { using Impl = ConvNeXtImpl; static constexpr const char* name = "keras.ConvNeXtTiny"; };
struct KerasConvNeXtSmall { using Impl = ConvNeXtImpl; static constexpr const char* name = "keras.ConvNeXtSmall"; };
struct KerasConvNeXtBase { using Impl = ConvNeXtImpl; static constexpr const char* name = "keras.ConvNeXtBase"; };
struct KerasConvNeXtLarge { using Impl = ConvNeXtImpl; static constexpr const char* name = "keras.ConvNeXtLarge"; };
struct KerasConvNeXtXLarge { using Impl = ConvNeXtImpl; static constexpr const char* name = "keras.ConvNeXtXLarge"; };
}  // namespace arch

namespace detail {
/// The convnext variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> convnext_variants() {
  return {
      variant<ConvNeXtImpl>(convnext_spec("convnext_tiny", "convnext_tiny-983f1562.pth", 236),
                            ConvNeXtConfig().dims({96, 192, 384, 768}).depths({3, 3, 9, 3})),
      variant<ConvNeXtImpl>(
          convnext_spec("convnext_small", "convnext_small-0c510722.pth", 230),
          ConvNeXtConfig().dims({96, 192, 384, 768}).depths({3, 3, 27, 3}).stochastic_depth_prob(0.4)),
      variant<ConvNeXtImpl>(
          convnext_spec("convnext_base", "convnext_base-6075fbad.pth", 232),
          ConvNeXtConfig().dims({128, 256, 512, 1024}).depths({3, 3, 27, 3}).stochastic_depth_prob(0.5)),
      variant<ConvNeXtImpl>(
          convnext_spec("convnext_large", "convnext_large-ea097f82.pth", 232),
          ConvNeXtConfig().dims({192, 384, 768, 1536}).depths({3, 3, 27, 3}).stochastic_depth_prob(0.5)),
  };
}

/// keras.ConvNeXtTiny .. keras.ConvNeXtXLarge ("tiny" .. "xlarge"): Keras' files
/// (SHA-256 checked, as Keras does), Identity preprocessing of 0..255 pixels.
ModelSpec keras_convnext_spec(const std::string& size);
ConvNeXtConfig keras_convnext_config(const std::string& size);
std::vector<RegisteredModel> keras_convnext_variants();
}  // namespace detail

}  // namespace tlearn
