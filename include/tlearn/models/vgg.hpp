#pragma once
/// \file
/// VGG 11/13/16/19, with and without BatchNorm (torchvision.models.vgg).
/// The layer table mirrors Keras' VGG16().layers one for one: input, each conv
/// with its activation (blockB_convI), the pools, then flatten, fc1, fc2 and
/// predictions with the top, so first(15) means what layers[:15] means in Keras.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"

namespace tlearn {

struct VGGConfig {
  std::vector<int64_t> stages;  ///< convs per block (5 blocks)
  bool batch_norm = false;
  /// Channels of the 5 blocks (torchvision's; smaller widths make toy models for tests and demos).
  std::vector<int64_t> widths = {64, 128, 256, 512, 512};
};

class VGGImpl : public BackboneImpl {
 public:
  VGGImpl(const VGGConfig& config, const ModelSpec& spec, const BackboneOptions& options)
      : BackboneImpl(spec, options) {
    if (config.stages.size() != 5 || config.widths.size() != 5)
      throw Error(spec.name + ": VGGConfig needs 5 stages and 5 widths");
    const auto& widths = config.widths;
    int64_t in = options.in_chans(), index = 0, stride = 1;
    features_ = register_module("features", torch::nn::Sequential());
    for (size_t block = 0; block < 5; ++block) {
      for (int64_t i = 0; i < config.stages[block]; ++i) {
        std::vector<std::shared_ptr<torch::nn::Module>> parts;
        auto conv = nn::Conv2d(torch::nn::Conv2dOptions(in, widths[block], 3).padding(1));
        features_->push_back(conv);
        parts.push_back(conv.ptr());
        std::string name = "features." + std::to_string(index);
        index += 1;
        feature_taps_.push_back("");
        if (config.batch_norm) {
          auto bn = nn::BatchNorm2d(widths[block]);
          features_->push_back(bn);
          parts.push_back(bn.ptr());
          feature_taps_.push_back("");
          index += 1;
        }
        // Keras' conv row includes its activation: conv (+ bn) + relu, tapped after the relu.
        features_->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
        feature_taps_.push_back(name);
        index += 1;
        table_.add(name, "Conv2d", parts, "block" + std::to_string(block + 1) + "_conv" + std::to_string(i + 1));
        in = widths[block];
      }
      features_->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2)));
      std::string pool = "features." + std::to_string(index++);
      feature_taps_.push_back(pool);
      table_.add(pool, "MaxPool2d", {}, "block" + std::to_string(block + 1) + "_pool");
      stride *= 2;
      feature_info_.push_back({pool, widths[block], stride});
    }
    output_channels_ = widths[4];

    if (options.include_top()) {
      const double dropout = drop_rate_or(0.5);
      classifier_ = register_module("classifier", torch::nn::Sequential(
          torch::nn::Linear(widths[4] * 7 * 7, 4096), torch::nn::ReLU(true), torch::nn::Dropout(dropout),
          torch::nn::Linear(4096, 4096), torch::nn::ReLU(true), torch::nn::Dropout(dropout),
          torch::nn::Linear(4096, options.classes())));
      table_.add("flatten", "Flatten", {}, "flatten");
      table_.add("classifier.0", "Linear", {classifier_[0], classifier_[1], classifier_[2]}, "fc1");
      table_.add("classifier.3", "Linear", {classifier_[3], classifier_[4], classifier_[5]}, "fc2");
      table_.add("classifier.6", "Linear", {classifier_[6]}, "predictions");
    }
    detail::init_torchvision_default(*this);
  }

 protected:
  torch::Tensor forward_body(torch::Tensor x) override {
    return detail::forward_sequential(features_, feature_taps_, std::move(x));
  }

  torch::Tensor forward_top(torch::Tensor x) override {
    // torchvision's AdaptiveAvgPool2d((7, 7)): the identity at 224x224.
    x = torch::adaptive_avg_pool2d(x, {7, 7}).flatten(1);
    tap("flatten", x);
    return detail::forward_sequential(classifier_, top_taps_, std::move(x));
  }

 private:
  torch::nn::Sequential features_{nullptr}, classifier_{nullptr};
  std::vector<std::string> feature_taps_;
  // fc1 and fc2 rows hold Linear + ReLU + Dropout, tapped after the dropout.
  std::vector<std::string> top_taps_ = {"", "", "classifier.0", "", "", "classifier.3", "classifier.6"};
};

namespace detail {
inline ModelSpec vgg_spec(const std::string& name, const std::string& file) {
  ModelSpec s;
  s.name = name;
  s.family = "vgg";
  s.first_conv = "features.0.weight";
  s.top_keys = {"classifier\\..*"};
  s.classifier_keys = {"classifier\\.6\\..*"};
  WeightSpec w;
  w.tag = "IMAGENET1K_V1";
  w.url = "https://download.pytorch.org/models/" + file;
  s.weights.push_back(w);
  return s;
}
}  // namespace detail

namespace arch {
struct VGG11 { using Impl = VGGImpl; static constexpr const char* name = "vgg11"; };
struct VGG13 { using Impl = VGGImpl; static constexpr const char* name = "vgg13"; };
struct VGG16 { using Impl = VGGImpl; static constexpr const char* name = "vgg16"; };
struct VGG19 { using Impl = VGGImpl; static constexpr const char* name = "vgg19"; };
struct VGG11_BN { using Impl = VGGImpl; static constexpr const char* name = "vgg11_bn"; };
struct VGG13_BN { using Impl = VGGImpl; static constexpr const char* name = "vgg13_bn"; };
struct VGG16_BN { using Impl = VGGImpl; static constexpr const char* name = "vgg16_bn"; };
struct VGG19_BN { using Impl = VGGImpl; static constexpr const char* name = "vgg19_bn"; };
}  // namespace arch

namespace detail::registration {
inline const bool vgg11 = register_variant<VGGImpl>(vgg_spec("vgg11", "vgg11-8a719046.pth"), VGGConfig{{1, 1, 2, 2, 2}, false});
inline const bool vgg13 = register_variant<VGGImpl>(vgg_spec("vgg13", "vgg13-19584684.pth"), VGGConfig{{2, 2, 2, 2, 2}, false});
inline const bool vgg16 = register_variant<VGGImpl>(vgg_spec("vgg16", "vgg16-397923af.pth"), VGGConfig{{2, 2, 3, 3, 3}, false});
inline const bool vgg19 = register_variant<VGGImpl>(vgg_spec("vgg19", "vgg19-dcbb9e9d.pth"), VGGConfig{{2, 2, 4, 4, 4}, false});
inline const bool vgg11_bn = register_variant<VGGImpl>(vgg_spec("vgg11_bn", "vgg11_bn-6002323d.pth"), VGGConfig{{1, 1, 2, 2, 2}, true});
inline const bool vgg13_bn = register_variant<VGGImpl>(vgg_spec("vgg13_bn", "vgg13_bn-abd245e5.pth"), VGGConfig{{2, 2, 2, 2, 2}, true});
inline const bool vgg16_bn = register_variant<VGGImpl>(vgg_spec("vgg16_bn", "vgg16_bn-6c64b313.pth"), VGGConfig{{2, 2, 3, 3, 3}, true});
inline const bool vgg19_bn = register_variant<VGGImpl>(vgg_spec("vgg19_bn", "vgg19_bn-c79401a0.pth"), VGGConfig{{2, 2, 4, 4, 4}, true});
}  // namespace detail::registration

}  // namespace tlearn
