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
                       const std::string& name) {
    const int64_t hidden = static_cast<int64_t>(std::lround(static_cast<double>(in * expand_ratio)));
    conv_ = torch::nn::Sequential();
    if (expand_ratio != 1)
      conv_->push_back(detail::conv_norm_activation(in, hidden, 1, 1, 1, 1e-5, 0.1, torch::nn::AnyModule(torch::nn::ReLU6())));
    conv_->push_back(detail::conv_norm_activation(hidden, hidden, 3, stride, hidden, 1e-5, 0.1,
                                                  torch::nn::AnyModule(torch::nn::ReLU6())));
    conv_->push_back(nn::Conv2d(torch::nn::Conv2dOptions(hidden, out, 1).bias(false)));
    conv_->push_back(nn::BatchNorm2d(out));
    register_module("conv", conv_);
    chain_.append(table, name + ".conv", *conv_);
    if (stride == 1 && in == out) {
      add_ = name + ".add";
      table.add(add_, "Add");
    }
  }

  torch::Tensor forward(torch::Tensor x) {
    auto y = chain_.forward(x);
    if (add_.empty()) return y;
    y = x + y;
    tap(add_, y);
    return y;
  }

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
  MobileNetV2Impl(const MobileNetV2Config& config, const ModelSpec& spec, const BackboneOptions& options)
      : BackboneImpl(spec, options) {
    // t (expansion), c (channels), n (repeats), s (stride of the first)
    const int64_t setting[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                   {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    int64_t in = detail::make_divisible(32 * config.width_mult);
    const int64_t last = detail::make_divisible(1280 * std::max(1.0, config.width_mult));
    auto relu6 = [] { return torch::nn::AnyModule(torch::nn::ReLU6()); };
    detail::StageTracker stages;

    features_ = register_module("features", torch::nn::Sequential());
    auto stem = detail::conv_norm_activation(options.in_chans(), in, 3, 2, 1, 1e-5, 0.1, relu6());
    features_->push_back(stem);
    body_.append(table_, "features.0", *stem);
    table_.set_alias("features.0.0", "Conv1");
    table_.set_alias("features.0.1", "bn_Conv1");
    table_.set_alias("features.0.2", "Conv1_relu");
    stages.add("features.0.2", in, 2);

    int64_t index = 1;
    for (const auto& row : setting) {
      const int64_t out = detail::make_divisible(static_cast<double>(row[1]) * config.width_mult);
      for (int64_t i = 0; i < row[2]; ++i) {
        const int64_t stride = i == 0 ? row[3] : 1;
        const std::string name = "features." + std::to_string(index);
        MobileNetV2Block block(in, out, stride, row[0], table_, name);
        features_->push_back(block);
        body_.append(table_, name, torch::nn::AnyModule(block), "");
        set_keras_aliases(name, index - 1, row[0] != 1, stride == 1 && in == out);
        stages.add(block->output_name(), out, stride);
        in = out;
        ++index;
      }
    }

    const std::string head = "features." + std::to_string(index);
    auto head_conv = detail::conv_norm_activation(in, last, 1, 1, 1, 1e-5, 0.1, relu6());
    features_->push_back(head_conv);
    body_.append(table_, head, *head_conv);
    table_.set_alias(head + ".0", "Conv_1");
    table_.set_alias(head + ".1", "Conv_1_bn");
    table_.set_alias(head + ".2", "out_relu");
    stages.add(head + ".2", last, 1);
    feature_info_ = stages.finish();
    output_channels_ = last;

    if (options.include_top()) {
      classifier_ = register_module("classifier", torch::nn::Sequential(
          torch::nn::Dropout(drop_rate_or(0.2)), torch::nn::Linear(last, options.classes())));
      table_.add("avgpool", "AdaptiveAvgPool2d", {}, "global_average_pooling2d");
      top_taps_ = detail::add_sequential_layers(table_, "classifier", classifier_);
      table_.set_alias("classifier.1", "predictions");
    }
    detail::init_torchvision_default(*this);
  }

 protected:
  torch::Tensor forward_body(torch::Tensor x) override { return body_.forward(std::move(x)); }

  torch::Tensor forward_top(torch::Tensor x) override {
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    tap("avgpool", x);
    return detail::forward_sequential(classifier_, top_taps_, std::move(x));
  }

 private:
  /// Keras names block 0 "expanded_conv" and the others "block_<b>"; rows follow
  /// torchvision's conv.<i>[.<j>] paths.
  void set_keras_aliases(const std::string& name, int64_t block, bool expands, bool adds) {
    const std::string keras = block == 0 ? "expanded_conv" : "block_" + std::to_string(block);
    const std::string conv = name + ".conv.";
    int64_t i = 0;
    if (expands) {
      table_.set_alias(conv + "0.0", keras + "_expand");
      table_.set_alias(conv + "0.1", keras + "_expand_BN");
      table_.set_alias(conv + "0.2", keras + "_expand_relu");
      i = 1;
    }
    table_.set_alias(conv + std::to_string(i) + ".0", keras + "_depthwise");
    table_.set_alias(conv + std::to_string(i) + ".1", keras + "_depthwise_BN");
    table_.set_alias(conv + std::to_string(i) + ".2", keras + "_depthwise_relu");
    table_.set_alias(conv + std::to_string(i + 1), keras + "_project");
    table_.set_alias(conv + std::to_string(i + 2), keras + "_project_BN");
    if (adds) table_.set_alias(name + ".add", keras + "_add");
  }

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
  WeightSpec v1;
  v1.tag = "IMAGENET1K_V1";
  v1.url = "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth";
  v1.transform = {256, 224, Interpolation::Bilinear};
  WeightSpec v2;
  v2.tag = "IMAGENET1K_V2";
  v2.url = "https://download.pytorch.org/models/mobilenet_v2-7ebf99e0.pth";
  v2.transform = {232, 224, Interpolation::Bilinear};
  s.weights = {v2, v1};  // torchvision's DEFAULT is IMAGENET1K_V2
  return s;
}
}  // namespace detail

namespace arch {
struct MobileNetV2 { using Impl = MobileNetV2Impl; static constexpr const char* name = "mobilenet_v2"; };
}  // namespace arch

namespace detail::registration {
inline const bool mobilenet_v2 = register_variant<MobileNetV2Impl>(mobilenet_v2_spec(), MobileNetV2Config{});
}  // namespace detail::registration

}  // namespace tlearn
