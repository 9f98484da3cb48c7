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

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"

namespace tlearn {

struct ConvNeXtConfig {
  std::vector<int64_t> dims;    ///< channels of the 4 stages
  std::vector<int64_t> depths;  ///< blocks per stage
  double stochastic_depth_prob = 0.1;
  double layer_scale = 1e-6;
};

namespace nn {

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
  explicit LayerNorm2dImpl(int64_t channels, double eps = 1e-6) : channels_(channels), eps_(eps) {
    weight = register_parameter("weight", torch::ones({channels}));
    bias = register_parameter("bias", torch::zeros({channels}));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    return torch::layer_norm(x.permute({0, 2, 3, 1}), {channels_}, weight, bias, eps_).permute({0, 3, 1, 2});
  }

  torch::Tensor weight, bias;

 private:
  int64_t channels_;
  double eps_;
};
TORCH_MODULE(LayerNorm2d);

/// Holds a parameter that belongs to a parent module (same tensor), so that a
/// layer-table row can own it alone: CNBlock's layer_scale.
class ParameterRowImpl : public torch::nn::Module {
 public:
  ParameterRowImpl(const std::string& name, const torch::Tensor& p) { register_parameter(name, p); }
};
TORCH_MODULE(ParameterRow);

/// ConvNeXt's block; `prefix` is its module path ("features.1.0").
class CNBlockImpl : public torch::nn::Module {
 public:
  CNBlockImpl(LayerTable& table, const std::string& prefix, int64_t dim, double layer_scale,
              double stochastic_depth_prob)
      : stochastic_depth_prob_(stochastic_depth_prob) {
    layer_scale_ = register_parameter("layer_scale", torch::full({dim, 1, 1}, layer_scale));
    block_ = register_module("block", torch::nn::Sequential(
        nn::Conv2d(torch::nn::Conv2dOptions(dim, dim, 7).padding(3).groups(dim)),
        Permute(std::vector<int64_t>{0, 2, 3, 1}),
        torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)),
        torch::nn::Linear(dim, 4 * dim),
        torch::nn::GELU(),
        torch::nn::Linear(4 * dim, dim),
        Permute(std::vector<int64_t>{0, 3, 1, 2})));
    taps_ = detail::add_sequential_layers(table, prefix + ".block", block_);
    scale_tap_ = prefix + ".layer_scale";
    drop_tap_ = prefix + ".stochastic_depth";
    add_tap_ = prefix + ".add";
    table.add(scale_tap_, "LayerScale", {ParameterRow("layer_scale", layer_scale_).ptr()});
    table.add(drop_tap_, "StochasticDepth");
    table.add(add_tap_, "Add");
  }

  torch::Tensor forward(const torch::Tensor& input) {
    auto x = layer_scale_ * detail::forward_sequential(block_, taps_, input);
    tap(scale_tap_, x);
    x = detail::stochastic_depth_row(x, stochastic_depth_prob_, is_training());
    tap(drop_tap_, x);
    x = x + input;
    tap(add_tap_, x);
    return x;
  }

  const std::string& output_tap() const { return add_tap_; }

 private:
  torch::Tensor layer_scale_;
  torch::nn::Sequential block_{nullptr};
  std::vector<std::string> taps_;
  double stochastic_depth_prob_;
  std::string scale_tap_, drop_tap_, add_tap_;
};
TORCH_MODULE(CNBlock);

}  // namespace nn

class ConvNeXtImpl : public BackboneImpl {
 public:
  ConvNeXtImpl(const ConvNeXtConfig& config, const ModelSpec& spec, const BackboneOptions& options)
      : BackboneImpl(spec, options) {
    const auto& dims = config.dims;
    features_ = register_module("features", torch::nn::ModuleList());
    // Stem: Conv2dNormActivation(k=4, s=4, bias, LayerNorm2d, no activation).
    auto stem = torch::nn::Sequential(
        nn::Conv2d(torch::nn::Conv2dOptions(options.in_chans(), dims[0], 4).stride(4)),
        nn::LayerNorm2d(dims[0]));
    features_->push_back(stem);
    parts_.push_back({stem, detail::add_sequential_layers(table_, "features.0", stem), {}});

    int64_t total_blocks = 0, block_id = 0, stride = 4;
    for (auto d : config.depths) total_blocks += d;
    for (size_t i = 0; i < dims.size(); ++i) {
      const std::string stage_path = "features." + std::to_string(features_->size());
      torch::nn::ModuleList stage;
      Part part;
      for (int64_t j = 0; j < config.depths[i]; ++j) {
        const double sd = config.stochastic_depth_prob * static_cast<double>(block_id++) /
                          (static_cast<double>(total_blocks) - 1.0);
        auto block = nn::CNBlock(table_, stage_path + "." + std::to_string(j), dims[i], config.layer_scale, sd);
        stage->push_back(block);
        part.blocks.push_back(block);
      }
      features_->push_back(stage);
      feature_info_.push_back({part.blocks.back()->output_tap(), dims[i], stride});
      parts_.push_back(std::move(part));
      if (i + 1 < dims.size()) {
        auto down = torch::nn::Sequential(
            nn::LayerNorm2d(dims[i]),
            nn::Conv2d(torch::nn::Conv2dOptions(dims[i], dims[i + 1], 2).stride(2)));
        const std::string down_path = "features." + std::to_string(features_->size());
        features_->push_back(down);
        parts_.push_back({down, detail::add_sequential_layers(table_, down_path, down), {}});
        stride *= 2;
      }
    }
    output_channels_ = dims.back();

    if (options.include_top()) {
      classifier_ = register_module("classifier", torch::nn::Sequential(
          nn::LayerNorm2d(output_channels_), torch::nn::Flatten(), torch::nn::Linear(output_channels_, options.classes())));
      table_.add("avgpool", "AdaptiveAvgPool2d");
      top_taps_ = detail::add_sequential_layers(table_, "classifier", classifier_);
    }

    // torchvision: trunc_normal_(std=0.02) (truncated at +-2, i.e. 100 sigma) and zero bias
    // for convs and linears; LayerNorm at 1 / 0.
    torch::NoGradGuard no_grad;
    for (auto& m : modules(/*include_self=*/false)) {
      if (auto* conv = m->as<torch::nn::Conv2d>()) {
        conv->weight.normal_(0, 0.02);
        conv->bias.zero_();
      } else if (auto* linear = m->as<torch::nn::Linear>()) {
        linear->weight.normal_(0, 0.02);
        linear->bias.zero_();
      }
    }
  }

 protected:
  torch::Tensor forward_body(torch::Tensor x) override {
    for (auto& part : parts_) {
      if (part.seq) {
        x = detail::forward_sequential(part.seq, part.taps, std::move(x));
      } else {
        for (auto& block : part.blocks) x = block->forward(x);
      }
    }
    return x;
  }

  torch::Tensor forward_top(torch::Tensor x) override {
    x = torch::adaptive_avg_pool2d(x, {1, 1});
    tap("avgpool", x);
    return detail::forward_sequential(classifier_, top_taps_, std::move(x));
  }

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
  std::vector<std::string> top_taps_;
};

namespace detail {
inline ModelSpec convnext_spec(const std::string& name, const std::string& file, int64_t resize_size) {
  ModelSpec s;
  s.name = name;
  s.family = "convnext";
  s.first_conv = "features.0.0.weight";
  s.top_keys = {"classifier\\..*"};
  s.classifier_keys = {"classifier\\.2\\..*"};
  WeightSpec w;
  w.tag = "IMAGENET1K_V1";
  w.url = "https://download.pytorch.org/models/" + file;
  w.transform = {resize_size, 224, Interpolation::Bilinear};
  s.weights.push_back(w);
  return s;
}
}  // namespace detail

namespace arch {
struct ConvNeXtTiny { using Impl = ConvNeXtImpl; static constexpr const char* name = "convnext_tiny"; };
struct ConvNeXtSmall { using Impl = ConvNeXtImpl; static constexpr const char* name = "convnext_small"; };
struct ConvNeXtBase { using Impl = ConvNeXtImpl; static constexpr const char* name = "convnext_base"; };
struct ConvNeXtLarge { using Impl = ConvNeXtImpl; static constexpr const char* name = "convnext_large"; };
}  // namespace arch

namespace detail::registration {
inline const bool convnext_tiny = register_variant<ConvNeXtImpl>(
    convnext_spec("convnext_tiny", "convnext_tiny-983f1562.pth", 236), ConvNeXtConfig{{96, 192, 384, 768}, {3, 3, 9, 3}, 0.1});
inline const bool convnext_small = register_variant<ConvNeXtImpl>(
    convnext_spec("convnext_small", "convnext_small-0c510722.pth", 230), ConvNeXtConfig{{96, 192, 384, 768}, {3, 3, 27, 3}, 0.4});
inline const bool convnext_base = register_variant<ConvNeXtImpl>(
    convnext_spec("convnext_base", "convnext_base-6075fbad.pth", 232), ConvNeXtConfig{{128, 256, 512, 1024}, {3, 3, 27, 3}, 0.5});
inline const bool convnext_large = register_variant<ConvNeXtImpl>(
    convnext_spec("convnext_large", "convnext_large-ea097f82.pth", 232), ConvNeXtConfig{{192, 384, 768, 1536}, {3, 3, 27, 3}, 0.5});
}  // namespace detail::registration

}  // namespace tlearn
