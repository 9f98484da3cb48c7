#pragma once
/// \file
/// MNASNet B1 at depth multipliers 0.5, 0.75, 1.0 and 1.3 (torchvision.models.mnasnet*,
/// checkpoint version 2). Everything up to the classifier lives in `layers`; include_top
/// = false returns model.layers(x). BatchNorm momentum is 1 - 0.9997, as in torchvision.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"

namespace tlearn {

struct MNASNetConfig {
  double alpha = 1.0;
};

namespace detail {
inline constexpr double kMNASNetMomentum = 1.0 - 0.9997;

inline nn::BatchNorm2d mnasnet_bn(int64_t channels) {
  return nn::BatchNorm2d(torch::nn::BatchNormOptions(channels).momentum(kMNASNetMomentum));
}

inline nn::Conv2d mnasnet_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t groups = 1) {
  return nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).groups(groups).bias(false));
}
}  // namespace detail

/// torchvision's mnasnet._InvertedResidual: `layers` = 1x1 expand, BN, ReLU, kxk
/// depthwise, BN, ReLU, 1x1 project, BN; plus the input when stride 1 and the widths match.
class MNASNetBlockImpl : public torch::nn::Module {
 public:
  MNASNetBlockImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t expansion, LayerTable& table,
                   const std::string& name) {
    const int64_t mid = in * expansion;
    layers_ = register_module("layers", torch::nn::Sequential(
        detail::mnasnet_conv(in, mid, 1), detail::mnasnet_bn(mid), torch::nn::ReLU(),
        detail::mnasnet_conv(mid, mid, kernel, stride, mid), detail::mnasnet_bn(mid), torch::nn::ReLU(),
        detail::mnasnet_conv(mid, out, 1), detail::mnasnet_bn(out)));
    chain_.append(table, name + ".layers", *layers_);
    if (in == out && stride == 1) {
      add_ = name + ".add";
      table.add(add_, "Add");
    }
  }

  torch::Tensor forward(torch::Tensor x) {
    auto y = chain_.forward(x);
    if (add_.empty()) return y;
    y = y + x;
    tap(add_, y);
    return y;
  }

  const std::string& output_name() const { return add_.empty() ? chain_.last() : add_; }

 private:
  torch::nn::Sequential layers_{nullptr};
  detail::LeafChain chain_;
  std::string add_;
};
TORCH_MODULE(MNASNetBlock);

class MNASNetImpl : public BackboneImpl {
 public:
  MNASNetImpl(const MNASNetConfig& config, const ModelSpec& spec, const BackboneOptions& options)
      : BackboneImpl(spec, options) {
    int64_t d[8];
    const int64_t depths[8] = {32, 16, 24, 40, 80, 96, 192, 320};
    for (int i = 0; i < 8; ++i) d[i] = detail::make_divisible(static_cast<double>(depths[i]) * config.alpha);
    detail::StageTracker stages;

    layers_ = register_module("layers", torch::nn::Sequential(
        detail::mnasnet_conv(options.in_chans(), d[0], 3, 2), detail::mnasnet_bn(d[0]), torch::nn::ReLU(),
        detail::mnasnet_conv(d[0], d[0], 3, 1, d[0]), detail::mnasnet_bn(d[0]), torch::nn::ReLU(),
        detail::mnasnet_conv(d[0], d[1], 1), detail::mnasnet_bn(d[1])));
    body_.append(table_, "layers", *layers_);
    stages.add("layers.7", d[1], 2);

    // out depth index, kernel, stride, expansion, repeats (torchvision's _stack calls)
    const int64_t stacks[6][5] = {{2, 3, 2, 3, 3}, {3, 5, 2, 3, 3}, {4, 5, 2, 6, 3},
                                  {5, 3, 1, 6, 2}, {6, 5, 2, 6, 4}, {7, 3, 1, 6, 1}};
    int64_t in = d[1];
    for (size_t s = 0; s < 6; ++s) {
      const auto& st = stacks[s];
      const int64_t out = d[st[0]];
      const std::string stack_name = "layers." + std::to_string(8 + s);
      nn::NestedSequential stack;
      for (int64_t r = 0; r < st[4]; ++r) {
        const int64_t stride = r == 0 ? st[2] : 1;
        MNASNetBlock block(in, out, st[1], stride, st[3], table_, stack_name + "." + std::to_string(r));
        stack->push_back(block);
        body_.append(table_, "", torch::nn::AnyModule(block), "");
        stages.add(block->output_name(), out, stride);
        in = out;
      }
      layers_->push_back(stack);
    }

    torch::nn::Sequential head(detail::mnasnet_conv(in, 1280, 1), detail::mnasnet_bn(1280), torch::nn::ReLU());
    int64_t index = 14;
    for (const auto& module : *head) {
      layers_->push_back(module);
      body_.append(table_, "layers." + std::to_string(index++), module, detail::module_kind(*module.ptr()));
    }
    stages.add("layers.16", 1280, 1);
    feature_info_ = stages.finish();
    output_channels_ = 1280;

    if (options.include_top()) {
      classifier_ = register_module("classifier", torch::nn::Sequential(
          torch::nn::Dropout(drop_rate_or(0.2)), torch::nn::Linear(1280, options.classes())));
      table_.add("avgpool", "GlobalAveragePooling2D");
      top_taps_ = detail::add_sequential_layers(table_, "classifier", classifier_);
    }
    init_weights();
  }

 protected:
  torch::Tensor forward_body(torch::Tensor x) override { return body_.forward(std::move(x)); }

  torch::Tensor forward_top(torch::Tensor x) override {
    x = x.mean({2, 3});
    tap("avgpool", x);
    return detail::forward_sequential(classifier_, top_taps_, std::move(x));
  }

 private:
  /// torchvision's: the usual convs and BatchNorm, but the Linear is kaiming-uniform
  /// (fan_out, sigmoid gain).
  void init_weights() {
    detail::init_torchvision_default(*this);
    if (!classifier_) return;
    torch::NoGradGuard no_grad;
    auto* linear = classifier_[1]->as<torch::nn::Linear>();
    torch::nn::init::kaiming_uniform_(linear->weight, 0.0, torch::kFanOut, torch::kSigmoid);
    torch::nn::init::zeros_(linear->bias);
  }

  torch::nn::Sequential layers_{nullptr}, classifier_{nullptr};
  detail::LeafChain body_;
  std::vector<std::string> top_taps_;
};

namespace detail {
inline ModelSpec mnasnet_spec(const std::string& name, const std::string& file, int64_t resize) {
  ModelSpec s;
  s.name = name;
  s.family = "mnasnet";
  s.first_conv = "layers.0.weight";
  s.top_keys = {"classifier\\..*"};
  s.classifier_keys = {"classifier\\.1\\..*"};
  WeightSpec w;
  w.tag = "IMAGENET1K_V1";
  w.url = "https://download.pytorch.org/models/" + file;
  w.transform = {resize, 224, Interpolation::Bilinear};
  s.weights.push_back(w);
  return s;
}
}  // namespace detail

namespace arch {
struct MNASNet0_5 { using Impl = MNASNetImpl; static constexpr const char* name = "mnasnet0_5"; };
struct MNASNet0_75 { using Impl = MNASNetImpl; static constexpr const char* name = "mnasnet0_75"; };
struct MNASNet1_0 { using Impl = MNASNetImpl; static constexpr const char* name = "mnasnet1_0"; };
struct MNASNet1_3 { using Impl = MNASNetImpl; static constexpr const char* name = "mnasnet1_3"; };
}  // namespace arch

namespace detail::registration {
inline const bool mnasnet0_5 = register_variant<MNASNetImpl>(
    mnasnet_spec("mnasnet0_5", "mnasnet0.5_top1_67.823-3ffadce67e.pth", 256), MNASNetConfig{0.5});
inline const bool mnasnet0_75 = register_variant<MNASNetImpl>(
    mnasnet_spec("mnasnet0_75", "mnasnet0_75-7090bc5f.pth", 232), MNASNetConfig{0.75});
inline const bool mnasnet1_0 = register_variant<MNASNetImpl>(
    mnasnet_spec("mnasnet1_0", "mnasnet1.0_top1_73.512-f206786ef8.pth", 256), MNASNetConfig{1.0});
inline const bool mnasnet1_3 = register_variant<MNASNetImpl>(
    mnasnet_spec("mnasnet1_3", "mnasnet1_3-a4c69d6f.pth", 232), MNASNetConfig{1.3});
}  // namespace detail::registration

}  // namespace tlearn
