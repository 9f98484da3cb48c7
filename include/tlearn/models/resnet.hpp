#pragma once
/// \file
/// ResNet 18/34/50/101/152, ResNeXt 50_32x4d / 101_32x8d / 101_64x4d and Wide
/// ResNet 50_2 / 101_2 (torchvision.models.resnet). Module names are
/// torchvision's (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, fc), so the
/// official checkpoints load as they are. Layers carry Keras' ResNet50 names as
/// aliases (conv1_conv, conv2_block1_1_conv, conv2_block1_0_conv for the
/// downsample conv, conv2_block1_add, conv2_block1_out, avg_pool, predictions).
///
///     tlearn::Backbone<tlearn::arch::ResNet50> base(tlearn::BackboneOptions().include_top(false));
///     base->set_trainable(tlearn::until("conv5_block1_1_conv"), false);

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"

namespace tlearn {

struct ResNetConfig {
  bool bottleneck = false;      ///< Bottleneck (1x1, 3x3, 1x1; expansion 4) or BasicBlock (3x3, 3x3)
  std::vector<int64_t> layers;  ///< blocks per stage (4 stages)
  int64_t groups = 1;           ///< ResNeXt cardinality
  int64_t width_per_group = 64; ///< 128 for Wide ResNet
};

/// torchvision's BasicBlock or Bottleneck: conv-bn(-relu) pairs, an optional
/// downsample (1x1 conv + bn) on the shortcut, the add and the final relu.
/// Every conv, bn and relu is a row of the layer table, named after its module.
class ResNetBlockImpl : public torch::nn::Module {
 public:
  ResNetBlockImpl(LayerTable& table, const std::string& prefix, const std::string& keras, const ResNetConfig& config,
                  int64_t inplanes, int64_t planes, int64_t stride) {
    const int64_t expansion = config.bottleneck ? 4 : 1;
    const int64_t width = config.bottleneck ? planes * config.width_per_group / 64 * config.groups : planes;
    std::vector<torch::nn::Conv2dOptions> convs;
    if (config.bottleneck) {
      convs.push_back(torch::nn::Conv2dOptions(inplanes, width, 1).bias(false));
      convs.push_back(torch::nn::Conv2dOptions(width, width, 3).stride(stride).padding(1).groups(config.groups).bias(false));
      convs.push_back(torch::nn::Conv2dOptions(width, planes * expansion, 1).bias(false));
    } else {
      convs.push_back(torch::nn::Conv2dOptions(inplanes, planes, 3).stride(stride).padding(1).bias(false));
      convs.push_back(torch::nn::Conv2dOptions(planes, planes, 3).padding(1).bias(false));
    }
    for (size_t i = 0; i < convs.size(); ++i) {
      const std::string n = std::to_string(i + 1), k = keras + "_" + n;
      convs_.push_back(register_module("conv" + n, nn::Conv2d(convs[i])));
      bns_.push_back(register_module("bn" + n, nn::BatchNorm2d(convs[i].out_channels())));
      conv_names_.push_back(prefix + ".conv" + n);
      bn_names_.push_back(prefix + ".bn" + n);
      relu_names_.push_back(prefix + ".relu" + n);
      table.add(conv_names_.back(), "Conv2d", {convs_.back().ptr()}, k + "_conv");
      table.add(bn_names_.back(), "BatchNorm2d", {bns_.back().ptr()}, k + "_bn");
      if (i + 1 < convs.size()) table.add(relu_names_.back(), "ReLU", {}, k + "_relu");
    }
    if (stride != 1 || inplanes != planes * expansion) {
      downsample_ = register_module("downsample", torch::nn::Sequential(
          nn::Conv2d(torch::nn::Conv2dOptions(inplanes, planes * expansion, 1).stride(stride).bias(false)),
          nn::BatchNorm2d(planes * expansion)));
      down_names_ = {prefix + ".downsample.0", prefix + ".downsample.1"};
      table.add(down_names_[0], "Conv2d", {downsample_[0]}, keras + "_0_conv");
      table.add(down_names_[1], "BatchNorm2d", {downsample_[1]}, keras + "_0_bn");
    }
    add_name_ = prefix + ".add";
    out_name_ = prefix + ".out";
    table.add(add_name_, "Add", {}, keras + "_add");
    table.add(out_name_, "ReLU", {}, keras + "_out");
  }

  torch::Tensor forward(const torch::Tensor& input) {
    // With nothing recording, an inference-optimized block fuses conv + ReLU
    // (its BatchNorm folded away) and adds and rectifies in place, as
    // torchvision's inplace ReLU does.
    const bool recording = tap_recording();
    torch::Tensor x = input;
    for (size_t i = 0; i < convs_.size(); ++i) {
      const bool has_relu = i + 1 < convs_.size();
      const bool fuse = has_relu && !recording && bns_[i]->folded();
      x = fuse ? convs_[i]->forward_relu(x) : convs_[i]->forward(x);
      tap(conv_names_[i], x);
      x = bns_[i]->forward(x);
      tap(bn_names_[i], x);
      if (has_relu) {
        if (!fuse) x = recording ? torch::relu(x) : x.relu_();
        tap(relu_names_[i], x);
      }
    }
    torch::Tensor identity = input;
    if (!downsample_.is_empty()) identity = detail::forward_sequential(downsample_, down_names_, input);
    if (recording) {
      x = x + identity;
      tap(add_name_, x);
      x = torch::relu(x);
    } else {
      x.add_(identity).relu_();
    }
    tap(out_name_, x);
    return x;
  }

  /// The tap name of this block's output.
  const std::string& output_name() const { return out_name_; }

 private:
  std::vector<nn::Conv2d> convs_;
  std::vector<nn::BatchNorm2d> bns_;
  torch::nn::Sequential downsample_{nullptr};
  std::vector<std::string> conv_names_, bn_names_, relu_names_, down_names_;
  std::string add_name_, out_name_;
};
TORCH_MODULE(ResNetBlock);

class ResNetImpl : public BackboneImpl {
 public:
  ResNetImpl(const ResNetConfig& config, const ModelSpec& spec, const BackboneOptions& options)
      : BackboneImpl(spec, options) {
    conv1_ = register_module("conv1", nn::Conv2d(
        torch::nn::Conv2dOptions(options.in_chans(), 64, 7).stride(2).padding(3).bias(false)));
    bn1_ = register_module("bn1", nn::BatchNorm2d(64));
    table_.add("conv1", "Conv2d", {conv1_.ptr()}, "conv1_conv");
    table_.add("bn1", "BatchNorm2d", {bn1_.ptr()}, "conv1_bn");
    table_.add("relu", "ReLU", {}, "conv1_relu");
    table_.add("maxpool", "MaxPool2d", {}, "pool1_pool");
    feature_info_.push_back({"relu", 64, 2});

    const int64_t expansion = config.bottleneck ? 4 : 1;
    int64_t inplanes = 64, stride = 4;
    for (int64_t stage = 0; stage < 4; ++stage) {
      const int64_t planes = 64 << stage;
      const std::string layer = "layer" + std::to_string(stage + 1);
      torch::nn::Sequential seq;
      std::string last;
      for (int64_t b = 0; b < config.layers.at(static_cast<size_t>(stage)); ++b) {
        ResNetBlock block(table_, layer + "." + std::to_string(b),
                          "conv" + std::to_string(stage + 2) + "_block" + std::to_string(b + 1), config, inplanes,
                          planes, b == 0 && stage > 0 ? 2 : 1);
        last = block->output_name();
        seq->push_back(block);
        inplanes = planes * expansion;
      }
      layers_.push_back(register_module(layer, seq));
      if (stage > 0) stride *= 2;
      feature_info_.push_back({last, inplanes, stride});
    }
    output_channels_ = inplanes;

    if (options.include_top()) {
      fc_ = register_module("fc", torch::nn::Linear(inplanes, options.classes()));
      table_.add("avgpool", "AdaptiveAvgPool2d", {}, "avg_pool");
      table_.add("fc", "Linear", {fc_.ptr()}, "predictions");
    }
    detail::init_torchvision_default(*this);
    if (fc_) fc_->reset_parameters();  // torchvision keeps nn.Linear's own initialisation here
  }

 protected:
  torch::Tensor forward_body(torch::Tensor x) override {
    const bool fuse = !tap_recording() && bn1_->folded();  // see ResNetBlockImpl::forward
    x = fuse ? conv1_->forward_relu(x) : conv1_->forward(x);
    tap("conv1", x);
    x = bn1_->forward(x);
    tap("bn1", x);
    if (!fuse) x = torch::relu(x);
    tap("relu", x);
    x = torch::max_pool2d(x, 3, 2, 1);
    tap("maxpool", x);
    for (auto& layer : layers_) x = layer->forward(x);
    return x;
  }

  torch::Tensor forward_top(torch::Tensor x) override {
    x = x.mean({2, 3});
    tap("avgpool", x);
    x = fc_->forward(x);
    tap("fc", x);
    return x;
  }

 private:
  nn::Conv2d conv1_{nullptr};
  nn::BatchNorm2d bn1_{nullptr};
  std::vector<torch::nn::Sequential> layers_;
  torch::nn::Linear fc_{nullptr};
};

namespace detail {
/// One tag per weights file: V1 evaluated at resize 256, V2 (and resnext101_64x4d's V1) at 232.
struct ResNetWeights {
  const char* tag;
  const char* file;
  int64_t resize;
};

inline ModelSpec resnet_spec(const std::string& name, std::vector<ResNetWeights> weights) {
  ModelSpec s;
  s.name = name;
  s.family = "resnet";
  s.first_conv = "conv1.weight";
  s.top_keys = {"fc\\..*"};
  s.classifier_keys = {"fc\\..*"};
  for (const auto& w : weights) {
    WeightSpec spec;
    spec.tag = w.tag;
    spec.url = std::string("https://download.pytorch.org/models/") + w.file;
    spec.transform.resize_size = w.resize;
    s.weights.push_back(spec);
  }
  return s;
}
}  // namespace detail

namespace arch {
struct ResNet18 { using Impl = ResNetImpl; static constexpr const char* name = "resnet18"; };
struct ResNet34 { using Impl = ResNetImpl; static constexpr const char* name = "resnet34"; };
struct ResNet50 { using Impl = ResNetImpl; static constexpr const char* name = "resnet50"; };
struct ResNet101 { using Impl = ResNetImpl; static constexpr const char* name = "resnet101"; };
struct ResNet152 { using Impl = ResNetImpl; static constexpr const char* name = "resnet152"; };
struct ResNeXt50_32X4D { using Impl = ResNetImpl; static constexpr const char* name = "resnext50_32x4d"; };
struct ResNeXt101_32X8D { using Impl = ResNetImpl; static constexpr const char* name = "resnext101_32x8d"; };
struct ResNeXt101_64X4D { using Impl = ResNetImpl; static constexpr const char* name = "resnext101_64x4d"; };
struct WideResNet50_2 { using Impl = ResNetImpl; static constexpr const char* name = "wide_resnet50_2"; };
struct WideResNet101_2 { using Impl = ResNetImpl; static constexpr const char* name = "wide_resnet101_2"; };
}  // namespace arch

namespace detail::registration {
inline const bool resnet18 = register_variant<ResNetImpl>(
    resnet_spec("resnet18", {{"IMAGENET1K_V1", "resnet18-f37072fd.pth", 256}}), ResNetConfig{false, {2, 2, 2, 2}});
inline const bool resnet34 = register_variant<ResNetImpl>(
    resnet_spec("resnet34", {{"IMAGENET1K_V1", "resnet34-b627a593.pth", 256}}), ResNetConfig{false, {3, 4, 6, 3}});
inline const bool resnet50 = register_variant<ResNetImpl>(
    resnet_spec("resnet50", {{"IMAGENET1K_V1", "resnet50-0676ba61.pth", 256}, {"IMAGENET1K_V2", "resnet50-11ad3fa6.pth", 232}}),
    ResNetConfig{true, {3, 4, 6, 3}});
inline const bool resnet101 = register_variant<ResNetImpl>(
    resnet_spec("resnet101", {{"IMAGENET1K_V1", "resnet101-63fe2227.pth", 256}, {"IMAGENET1K_V2", "resnet101-cd907fc2.pth", 232}}),
    ResNetConfig{true, {3, 4, 23, 3}});
inline const bool resnet152 = register_variant<ResNetImpl>(
    resnet_spec("resnet152", {{"IMAGENET1K_V1", "resnet152-394f9c45.pth", 256}, {"IMAGENET1K_V2", "resnet152-f82ba261.pth", 232}}),
    ResNetConfig{true, {3, 8, 36, 3}});
inline const bool resnext50_32x4d = register_variant<ResNetImpl>(
    resnet_spec("resnext50_32x4d", {{"IMAGENET1K_V1", "resnext50_32x4d-7cdf4587.pth", 256}, {"IMAGENET1K_V2", "resnext50_32x4d-1a0047aa.pth", 232}}),
    ResNetConfig{true, {3, 4, 6, 3}, 32, 4});
inline const bool resnext101_32x8d = register_variant<ResNetImpl>(
    resnet_spec("resnext101_32x8d", {{"IMAGENET1K_V1", "resnext101_32x8d-8ba56ff5.pth", 256}, {"IMAGENET1K_V2", "resnext101_32x8d-110c445d.pth", 232}}),
    ResNetConfig{true, {3, 4, 23, 3}, 32, 8});
inline const bool resnext101_64x4d = register_variant<ResNetImpl>(
    resnet_spec("resnext101_64x4d", {{"IMAGENET1K_V1", "resnext101_64x4d-173b62eb.pth", 232}}),
    ResNetConfig{true, {3, 4, 23, 3}, 64, 4});
inline const bool wide_resnet50_2 = register_variant<ResNetImpl>(
    resnet_spec("wide_resnet50_2", {{"IMAGENET1K_V1", "wide_resnet50_2-95faca4d.pth", 256}, {"IMAGENET1K_V2", "wide_resnet50_2-9ba9bcbe.pth", 232}}),
    ResNetConfig{true, {3, 4, 6, 3}, 1, 128});
inline const bool wide_resnet101_2 = register_variant<ResNetImpl>(
    resnet_spec("wide_resnet101_2", {{"IMAGENET1K_V1", "wide_resnet101_2-32ee1156.pth", 256}, {"IMAGENET1K_V2", "wide_resnet101_2-d733dc28.pth", 232}}),
    ResNetConfig{true, {3, 4, 23, 3}, 1, 128});
}  // namespace detail::registration

}  // namespace tlearn
