#pragma once
/// \file
/// AlexNet (torchvision.models.alexnet, the "one weird trick" variant). One
/// layer per module of `features` and `classifier`, named as in torchvision
/// (features.0 ... features.12, avgpool, flatten, classifier.0 ... classifier.6).
///
///     auto base = tlearn::make_backbone("alexnet", tlearn::BackboneOptions().include_top(false));

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"

namespace tlearn {

struct AlexNetConfig {};

class AlexNetImpl : public BackboneImpl {
 public:
  AlexNetImpl(const AlexNetConfig&, const ModelSpec& spec, const BackboneOptions& options)
      : BackboneImpl(spec, options) {
    using torch::nn::Conv2dOptions;
    auto pool = [] { return torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2)); };
    auto relu = [] { return torch::nn::ReLU(); };
    features_ = register_module("features", torch::nn::Sequential(
        nn::Conv2d(Conv2dOptions(options.in_chans(), 64, 11).stride(4).padding(2)), relu(), pool(),
        nn::Conv2d(Conv2dOptions(64, 192, 5).padding(2)), relu(), pool(),
        nn::Conv2d(Conv2dOptions(192, 384, 3).padding(1)), relu(),
        nn::Conv2d(Conv2dOptions(384, 256, 3).padding(1)), relu(),
        nn::Conv2d(Conv2dOptions(256, 256, 3).padding(1)), relu(), pool()));
    feature_taps_ = detail::add_sequential_layers(table_, "features", features_);
    feature_info_ = {{"features.1", 64, 4}, {"features.4", 192, 8}, {"features.11", 256, 16}, {"features.12", 256, 32}};
    output_channels_ = 256;

    if (options.include_top()) {
      const double dropout = drop_rate_or(0.5);
      classifier_ = register_module("classifier", torch::nn::Sequential(
          torch::nn::Dropout(dropout), torch::nn::Linear(256 * 6 * 6, 4096), relu(),
          torch::nn::Dropout(dropout), torch::nn::Linear(4096, 4096), relu(),
          torch::nn::Linear(4096, options.classes())));
      table_.add("avgpool", "AdaptiveAvgPool2d", {});
      table_.add("flatten", "Flatten", {});
      top_taps_ = detail::add_sequential_layers(table_, "classifier", classifier_);
    }
    // torchvision keeps PyTorch's default initialisation for AlexNet (LibTorch's is the same).
  }

 protected:
  torch::Tensor forward_body(torch::Tensor x) override {
    return detail::forward_sequential(features_, feature_taps_, std::move(x));
  }

  torch::Tensor forward_top(torch::Tensor x) override {
    x = torch::adaptive_avg_pool2d(x, {6, 6});
    tap("avgpool", x);
    x = x.flatten(1);
    tap("flatten", x);
    return detail::forward_sequential(classifier_, top_taps_, std::move(x));
  }

 private:
  torch::nn::Sequential features_{nullptr}, classifier_{nullptr};
  std::vector<std::string> feature_taps_, top_taps_;
};

namespace detail {
inline ModelSpec alexnet_spec() {
  ModelSpec s;
  s.name = "alexnet";
  s.family = "alexnet";
  s.min_size = 63;  // the third max pool needs a 3x3 map
  s.first_conv = "features.0.weight";
  s.top_keys = {"classifier\\..*"};
  s.classifier_keys = {"classifier\\.6\\..*"};
  WeightSpec w;
  w.tag = "IMAGENET1K_V1";
  w.url = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth";
  s.weights.push_back(w);
  return s;
}
}  // namespace detail

namespace arch {
struct AlexNet { using Impl = AlexNetImpl; static constexpr const char* name = "alexnet"; };
}  // namespace arch

namespace detail::registration {
inline const bool alexnet = register_variant<AlexNetImpl>(alexnet_spec(), AlexNetConfig{});
}  // namespace detail::registration

}  // namespace tlearn
