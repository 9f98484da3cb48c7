#pragma once
/// \file
/// EfficientNet B0..B7 and EfficientNetV2 S/M/L (torchvision.models.efficientnet).
/// MBConv blocks (expand 1x1, depthwise kxk, squeeze-and-excitation, project 1x1)
/// and, in V2's first stages, FusedMBConv blocks (one kxk conv, then project).
/// The layer table has one row per conv, BatchNorm and SiLU, one per SE module,
/// and the stochastic depth and residual add of each residual block. B0..B7 rows
/// carry the Keras EfficientNetB* layer names ("stem_conv", "block2a_expand_conv",
/// "block2b_add", "top_conv", "avg_pool", "predictions").
///
///     auto base = tlearn::make_backbone("efficientnet_b0", tlearn::BackboneOptions().include_top(false));
///     base->set_trainable(tlearn::until("block6a_expand_conv"), false);

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"

namespace tlearn {

/// One row of torchvision's inverted_residual_setting (before width/depth scaling).
struct EfficientNetStage {
  bool fused;  ///< FusedMBConv (V2's first stages) instead of MBConv
  double expand_ratio;
  int64_t kernel, stride, in_channels, out_channels, layers;
};

struct EfficientNetConfig {
  std::vector<EfficientNetStage> stages;
  double width_mult = 1.0, depth_mult = 1.0;
  int64_t last_channel = 0;  ///< 0: 4 x the last stage's channels (B0..B7)
  double dropout = 0.2;
  double bn_eps = 1e-5, bn_momentum = 0.1;
  bool keras_names = false;  ///< B0..B7: Keras EfficientNetB* aliases
};

namespace detail {

/// Conv2dNormActivation: Sequential(conv (no bias), BatchNorm, [SiLU]) with one
/// table row per child; Keras aliases `keras[i]` when given.
struct ConvBnAct {
  torch::nn::Sequential seq;
  std::vector<std::string> taps;

  torch::Tensor forward(torch::Tensor x) { return forward_sequential(seq, taps, std::move(x)); }
};

inline ConvBnAct conv_bn_act(LayerTable& table, const std::string& prefix, int64_t in, int64_t out, int64_t kernel,
                             int64_t stride, int64_t groups, bool activation, const torch::nn::BatchNormOptions& bn,
                             const std::vector<std::string>& keras = {}) {
  ConvBnAct c;
  c.seq = torch::nn::Sequential(
      nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding((kernel - 1) / 2)
                            .groups(groups).bias(false)),
      nn::BatchNorm2d(torch::nn::BatchNormOptions(bn).num_features(out)));
  if (activation) c.seq->push_back(torch::nn::SiLU());
  c.taps = add_sequential_layers(table, prefix, c.seq);
  for (size_t i = 0; i < keras.size() && i < c.taps.size(); ++i) table.set_alias(c.taps[i], keras[i]);
  return c;
}

}  // namespace detail

namespace nn {

/// torchvision.ops.SqueezeExcitation with EfficientNet's activations:
/// x * sigmoid(fc2(silu(fc1(avgpool(x))))), fc1 / fc2 being 1x1 convs.
class SqueezeExcitationImpl : public torch::nn::Module {
 public:
  SqueezeExcitationImpl(int64_t channels, int64_t squeeze)
      : fc1(register_module("fc1", nn::Conv2d(torch::nn::Conv2dOptions(channels, squeeze, 1)))),
        fc2(register_module("fc2", nn::Conv2d(torch::nn::Conv2dOptions(squeeze, channels, 1)))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    auto scale = torch::adaptive_avg_pool2d(x, {1, 1});
    scale = torch::sigmoid(fc2->forward(torch::silu(fc1->forward(scale))));
    return scale * x;
  }

  nn::Conv2d fc1, fc2;
};
TORCH_MODULE(SqueezeExcitation);

/// MBConv / FusedMBConv: `block` holds the convs (and the SE module) under
/// torchvision's indices; the residual add when stride 1 and channels match.
class MBConvImpl : public torch::nn::Module {
 public:
  /// `prefix` is the block's module path ("features.2.1"), `keras` its Keras prefix
  /// ("block2b_") or empty.
  MBConvImpl(LayerTable& table, const std::string& prefix, const std::string& keras, bool fused, int64_t in,
             int64_t out, double expand_ratio, int64_t kernel, int64_t stride, double stochastic_depth_prob,
             const torch::nn::BatchNormOptions& bn)
      : residual_(stride == 1 && in == out), stochastic_depth_prob_(stochastic_depth_prob) {
    block_ = register_module("block", torch::nn::ModuleList());
    const int64_t expanded = detail::make_divisible(static_cast<double>(in) * expand_ratio);
    const std::string path = prefix + ".block.";
    auto names = [&](std::initializer_list<const char*> parts) {
      std::vector<std::string> out_names;
      if (!keras.empty())
        for (const char* p : parts) out_names.push_back(keras + p);
      return out_names;
    };
    auto add_conv = [&](int64_t cin, int64_t cout, int64_t k, int64_t s, int64_t groups, bool act,
                        const std::vector<std::string>& aliases) {
      const std::string index = std::to_string(block_->size());
      convs_.push_back(detail::conv_bn_act(table, path + index, cin, cout, k, s, groups, act, bn, aliases));
      block_->push_back(convs_.back().seq);
    };
    if (fused) {
      if (expanded != in) {
        add_conv(in, expanded, kernel, stride, 1, true, names({"expand_conv", "expand_bn", "expand_activation"}));
        add_conv(expanded, out, 1, 1, 1, false, names({"project_conv", "project_bn"}));
      } else {
        add_conv(in, out, kernel, stride, 1, true, names({"project_conv", "project_bn", "project_activation"}));
      }
    } else {
      if (expanded != in)
        add_conv(in, expanded, 1, 1, 1, true, names({"expand_conv", "expand_bn", "expand_activation"}));
      add_conv(expanded, expanded, kernel, stride, expanded, true, names({"dwconv", "bn", "activation"}));
      se_at_ = convs_.size();
      se_ = SqueezeExcitation(expanded, std::max<int64_t>(1, in / 4));
      block_->push_back(se_);
      se_tap_ = path + std::to_string(block_->size() - 1);
      table.add(se_tap_, "SqueezeExcitation", {se_.ptr()}, keras.empty() ? "" : keras + "se_excite");
      add_conv(expanded, out, 1, 1, 1, false, names({"project_conv", "project_bn"}));
    }
    if (residual_) {
      drop_tap_ = prefix + ".stochastic_depth";
      add_tap_ = prefix + ".add";
      table.add(drop_tap_, "StochasticDepth", {}, keras.empty() ? "" : keras + "drop");
      table.add(add_tap_, "Add", {}, keras.empty() ? "" : keras + "add");
    }
  }

  torch::Tensor forward(const torch::Tensor& input) {
    torch::Tensor x = input;
    for (size_t i = 0; i < convs_.size(); ++i) {
      if (i == se_at_) {
        x = se_->forward(x);
        tap(se_tap_, x);
      }
      x = convs_[i].forward(std::move(x));
    }
    if (!residual_) return x;
    x = detail::stochastic_depth_row(x, stochastic_depth_prob_, is_training());
    tap(drop_tap_, x);
    x = x + input;
    tap(add_tap_, x);
    return x;
  }

  /// The tap of this block's output (for feature_info).
  const std::string& output_tap() const { return residual_ ? add_tap_ : convs_.back().taps.back(); }

 private:
  torch::nn::ModuleList block_{nullptr};
  std::vector<detail::ConvBnAct> convs_;
  SqueezeExcitation se_{nullptr};
  size_t se_at_ = std::numeric_limits<size_t>::max();
  bool residual_;
  double stochastic_depth_prob_;
  std::string se_tap_, drop_tap_, add_tap_;
};
TORCH_MODULE(MBConv);

}  // namespace nn

class EfficientNetImpl : public BackboneImpl {
 public:
  EfficientNetImpl(const EfficientNetConfig& config, const ModelSpec& spec, const BackboneOptions& options)
      : BackboneImpl(spec, options) {
    const auto bn = torch::nn::BatchNormOptions(1).eps(config.bn_eps).momentum(config.bn_momentum);
    const double stochastic_depth_prob = 0.2;
    auto width = [&](int64_t c) { return detail::make_divisible(static_cast<double>(c) * config.width_mult); };
    auto depth = [&](int64_t n) { return static_cast<int64_t>(std::ceil(static_cast<double>(n) * config.depth_mult)); };
    auto keras = [&](std::vector<std::string> names) { return config.keras_names ? names : std::vector<std::string>{}; };

    features_ = register_module("features", torch::nn::ModuleList());
    const int64_t stem = width(config.stages.front().in_channels);
    stem_ = detail::conv_bn_act(table_, "features.0", options.in_chans(), stem, 3, 2, 1, true, bn,
                                keras({"stem_conv", "stem_bn", "stem_activation"}));
    features_->push_back(stem_.seq);

    int64_t total_blocks = 0, block_id = 0, stride = 2;
    for (const auto& s : config.stages) total_blocks += depth(s.layers);
    std::vector<FeatureInfo> stage_outputs;
    for (size_t i = 0; i < config.stages.size(); ++i) {
      const auto& s = config.stages[i];
      const std::string stage_path = "features." + std::to_string(i + 1);
      torch::nn::ModuleList stage;
      const int64_t in = width(s.in_channels), out = width(s.out_channels);
      for (int64_t j = 0; j < depth(s.layers); ++j) {
        const std::string keras_prefix =
            config.keras_names ? "block" + std::to_string(i + 1) + std::string(1, static_cast<char>('a' + j)) + "_" : "";
        const double sd = stochastic_depth_prob * static_cast<double>(block_id++) / static_cast<double>(total_blocks);
        auto block = nn::MBConv(table_, stage_path + "." + std::to_string(j), keras_prefix, s.fused, j ? out : in, out,
                                s.expand_ratio, s.kernel, j ? 1 : s.stride, sd, bn);
        stage->push_back(block);
        blocks_.push_back(block);
      }
      features_->push_back(stage);
      stride *= s.stride;
      // timm's feature_info: the last stage at each stride.
      if (!stage_outputs.empty() && stage_outputs.back().stride == stride) stage_outputs.pop_back();
      stage_outputs.push_back({blocks_.back()->output_tap(), out, stride});
    }
    feature_info_ = stage_outputs;

    const int64_t last_in = width(config.stages.back().out_channels);
    output_channels_ = config.last_channel ? config.last_channel : 4 * last_in;
    head_ = detail::conv_bn_act(table_, "features." + std::to_string(config.stages.size() + 1), last_in,
                                output_channels_, 1, 1, 1, true, bn, keras({"top_conv", "top_bn", "top_activation"}));
    features_->push_back(head_.seq);

    if (options.include_top()) {
      classifier_ = register_module("classifier", torch::nn::Sequential(
          torch::nn::Dropout(drop_rate_or(config.dropout)),
          torch::nn::Linear(output_channels_, options.classes())));
      table_.add("avgpool", "AdaptiveAvgPool2d", {}, config.keras_names ? "avg_pool" : "");
      top_taps_ = detail::add_sequential_layers(table_, "classifier", classifier_);
      if (config.keras_names) {
        table_.set_alias(top_taps_[0], "top_dropout");
        table_.set_alias(top_taps_[1], "predictions");
      }
    }
    detail::init_torchvision_default(*this);
    if (classifier_) {
      torch::NoGradGuard no_grad;
      auto& linear = classifier_[1]->as<torch::nn::Linear>()->weight;
      const double range = 1.0 / std::sqrt(static_cast<double>(options.classes()));
      torch::nn::init::uniform_(linear, -range, range);
    }
  }

 protected:
  torch::Tensor forward_body(torch::Tensor x) override {
    x = stem_.forward(std::move(x));
    for (auto& block : blocks_) x = block->forward(x);
    return head_.forward(std::move(x));
  }

  torch::Tensor forward_top(torch::Tensor x) override {
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    tap("avgpool", x);
    return detail::forward_sequential(classifier_, top_taps_, std::move(x));
  }

 private:
  torch::nn::ModuleList features_{nullptr};
  torch::nn::Sequential classifier_{nullptr};
  detail::ConvBnAct stem_, head_;
  std::vector<nn::MBConv> blocks_;
  std::vector<std::string> top_taps_;
};

namespace detail {
inline std::vector<EfficientNetStage> efficientnet_v1_stages() {
  return {{false, 1, 3, 1, 32, 16, 1},   {false, 6, 3, 2, 16, 24, 2},   {false, 6, 5, 2, 24, 40, 2},
          {false, 6, 3, 2, 40, 80, 3},   {false, 6, 5, 1, 80, 112, 3},  {false, 6, 5, 2, 112, 192, 4},
          {false, 6, 3, 1, 192, 320, 1}};
}

inline EfficientNetConfig efficientnet_v1(double width, double depth, double dropout, bool tf_bn = false) {
  EfficientNetConfig c;
  c.stages = efficientnet_v1_stages();
  c.width_mult = width;
  c.depth_mult = depth;
  c.dropout = dropout;
  if (tf_bn) {  // B5..B7 (lukemelas' ports): BatchNorm2d(eps=0.001, momentum=0.01)
    c.bn_eps = 1e-3;
    c.bn_momentum = 0.01;
  }
  c.keras_names = true;
  return c;
}

inline EfficientNetConfig efficientnet_v2(std::vector<EfficientNetStage> stages, double dropout) {
  EfficientNetConfig c;
  c.stages = std::move(stages);
  c.last_channel = 1280;
  c.dropout = dropout;
  c.bn_eps = 1e-3;
  return c;
}

inline WeightSpec efficientnet_weights(const std::string& tag, const std::string& file, int64_t resize, int64_t crop,
                                       Interpolation interpolation, Preprocessing preprocessing = Preprocessing::Torch) {
  WeightSpec w;
  w.tag = tag;
  w.url = "https://download.pytorch.org/models/" + file;
  w.preprocessing = preprocessing;
  w.transform = {resize, crop, interpolation};
  return w;
}

/// `weights`: the first is torchvision's DEFAULT.
inline ModelSpec efficientnet_spec(const std::string& name, std::vector<WeightSpec> weights) {
  ModelSpec s;
  s.name = name;
  s.family = "efficientnet";
  s.default_size = weights.front().transform.crop_size;
  s.min_size = name.find("_v2_") != std::string::npos ? 33 : 1;
  s.first_conv = "features.0.0.weight";
  s.top_keys = {"classifier\\..*"};
  s.classifier_keys = {"classifier\\.1\\..*"};
  s.weights = std::move(weights);
  return s;
}

inline ModelSpec efficientnet_spec(const std::string& name, const std::string& file, int64_t resize, int64_t crop,
                                   Interpolation interpolation = Interpolation::Bicubic,
                                   Preprocessing preprocessing = Preprocessing::Torch) {
  return efficientnet_spec(name, {efficientnet_weights("IMAGENET1K_V1", file, resize, crop, interpolation, preprocessing)});
}
}  // namespace detail

namespace arch {
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
}  // namespace arch

namespace detail::registration {
inline const bool efficientnet_b0 = register_variant<EfficientNetImpl>(
    efficientnet_spec("efficientnet_b0", "efficientnet_b0_rwightman-3dd342df.pth", 256, 224), efficientnet_v1(1.0, 1.0, 0.2));
inline const bool efficientnet_b1 = register_variant<EfficientNetImpl>(
    efficientnet_spec("efficientnet_b1",
                      {efficientnet_weights("IMAGENET1K_V2", "efficientnet_b1-c27df63c.pth", 255, 240, Interpolation::Bilinear),
                       efficientnet_weights("IMAGENET1K_V1", "efficientnet_b1_rwightman-533bc792.pth", 256, 240, Interpolation::Bicubic)}),
    efficientnet_v1(1.0, 1.1, 0.2));
inline const bool efficientnet_b2 = register_variant<EfficientNetImpl>(
    efficientnet_spec("efficientnet_b2", "efficientnet_b2_rwightman-bcdf34b7.pth", 288, 288), efficientnet_v1(1.1, 1.2, 0.3));
inline const bool efficientnet_b3 = register_variant<EfficientNetImpl>(
    efficientnet_spec("efficientnet_b3", "efficientnet_b3_rwightman-cf984f9c.pth", 320, 300), efficientnet_v1(1.2, 1.4, 0.3));
inline const bool efficientnet_b4 = register_variant<EfficientNetImpl>(
    efficientnet_spec("efficientnet_b4", "efficientnet_b4_rwightman-7eb33cd5.pth", 384, 380), efficientnet_v1(1.4, 1.8, 0.4));
inline const bool efficientnet_b5 = register_variant<EfficientNetImpl>(
    efficientnet_spec("efficientnet_b5", "efficientnet_b5_lukemelas-b6417697.pth", 456, 456), efficientnet_v1(1.6, 2.2, 0.4, true));
inline const bool efficientnet_b6 = register_variant<EfficientNetImpl>(
    efficientnet_spec("efficientnet_b6", "efficientnet_b6_lukemelas-c76e70fd.pth", 528, 528), efficientnet_v1(1.8, 2.6, 0.5, true));
inline const bool efficientnet_b7 = register_variant<EfficientNetImpl>(
    efficientnet_spec("efficientnet_b7", "efficientnet_b7_lukemelas-dcc49843.pth", 600, 600), efficientnet_v1(2.0, 3.1, 0.5, true));
inline const bool efficientnet_v2_s = register_variant<EfficientNetImpl>(
    efficientnet_spec("efficientnet_v2_s", "efficientnet_v2_s-dd5fe13b.pth", 384, 384, Interpolation::Bilinear),
    efficientnet_v2({{true, 1, 3, 1, 24, 24, 2}, {true, 4, 3, 2, 24, 48, 4}, {true, 4, 3, 2, 48, 64, 4},
                     {false, 4, 3, 2, 64, 128, 6}, {false, 6, 3, 1, 128, 160, 9}, {false, 6, 3, 2, 160, 256, 15}},
                    0.2));
inline const bool efficientnet_v2_m = register_variant<EfficientNetImpl>(
    efficientnet_spec("efficientnet_v2_m", "efficientnet_v2_m-dc08266a.pth", 480, 480, Interpolation::Bilinear),
    efficientnet_v2({{true, 1, 3, 1, 24, 24, 3}, {true, 4, 3, 2, 24, 48, 5}, {true, 4, 3, 2, 48, 80, 5},
                     {false, 4, 3, 2, 80, 160, 7}, {false, 6, 3, 1, 160, 176, 14}, {false, 6, 3, 2, 176, 304, 18},
                     {false, 6, 3, 1, 304, 512, 5}},
                    0.3));
// V2-L's weights (ported from google/automl) expect mean = std = 0.5: x / 127.5 - 1.
inline const bool efficientnet_v2_l = register_variant<EfficientNetImpl>(
    efficientnet_spec("efficientnet_v2_l", "efficientnet_v2_l-59c71312.pth", 480, 480, Interpolation::Bicubic, Preprocessing::TF),
    efficientnet_v2({{true, 1, 3, 1, 32, 32, 4}, {true, 4, 3, 2, 32, 64, 7}, {true, 4, 3, 2, 64, 96, 7},
                     {false, 4, 3, 2, 96, 192, 10}, {false, 6, 3, 1, 192, 224, 19}, {false, 6, 3, 2, 224, 384, 25},
                     {false, 6, 3, 1, 384, 640, 7}},
                    0.4));
}  // namespace detail::registration

}  // namespace tlearn
