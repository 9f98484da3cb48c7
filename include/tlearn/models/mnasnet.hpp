#pragma once
/// \file
/// MNASNet B1 at depth multipliers 0.5, 0.75, 1.0 and 1.3 (torchvision.models.mnasnet*,
/// checkpoint version 2). Everything up to the classifier lives in `layers`; include_top
/// = false returns model.layers(x). BatchNorm momentum is 1 - 0.9997, as in torchvision.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/nn/residual.hpp"

namespace tlearn {

struct MNASNetConfig {
  TORCH_ARG(double, alpha) = 1.0;
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

namespace nn {

/// torchvision's mnasnet._InvertedResidual: `layers` = 1x1 expand, BN, ReLU, kxk
/// depthwise, BN, ReLU, 1x1 project, BN; plus the input when stride 1 and the widths match.
class MNASNetBlockImpl : public torch::nn::Module {
 public:
  MNASNetBlockImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t expansion, LayerTable& table,
                   const std::string& name);

  torch::Tensor forward(torch::Tensor x);

  const std::string& output_name() const { return add_.empty() ? chain_.last() : add_; }

 private:
  torch::nn::Sequential layers_{nullptr};
  detail::LeafChain chain_;
  std::string add_;
  nn::ResidualAdd residual_;
};
TORCH_MODULE(MNASNetBlock);

}  // namespace nn

class MNASNetImpl : public BackboneImpl {
 public:
  MNASNetImpl(const MNASNetConfig& config, const ModelSpec& spec, const BackboneOptions& options);

 protected:
  torch::Tensor forward_body(torch::Tensor x) override { return body_.forward(std::move(x)); }

 private:
  /// torchvision's: the usual convs and BatchNorm, but the Linear is kaiming-uniform
  /// (fan_out, sigmoid gain).
  void init_weights();

  torch::nn::Sequential layers_{nullptr}, classifier_{nullptr};
  detail::LeafChain body_;
};

namespace detail {
inline ModelSpec mnasnet_spec(const std::string& name, const std::string& file, int64_t resize) {
  ModelSpec s;
  s.name = name;
  s.family = "mnasnet";
  s.first_conv = "layers.0.weight";
  s.top_modules = {"classifier"};
  s.classifier_modules = {"classifier.1"};
  s.weights.push_back(torchvision_weights("IMAGENET1K_V1", file, {resize, 224, Interpolation::Bilinear}));
  return s;
}
}  // namespace detail

namespace arch {
struct MNASNet0_5 { using Impl = MNASNetImpl; static constexpr const char* name = "mnasnet0_5"; };
struct MNASNet0_75 { using Impl = MNASNetImpl; static constexpr const char* name = "mnasnet0_75"; };
struct MNASNet1_0 { using Impl = MNASNetImpl; static constexpr const char* name = "mnasnet1_0"; };
struct MNASNet1_3 { using Impl = MNASNetImpl; static constexpr const char* name = "mnasnet1_3"; };
}  // namespace arch

namespace detail {
/// The mnasnet variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> mnasnet_variants() {
  return {
      variant<MNASNetImpl>(mnasnet_spec("mnasnet0_5", "mnasnet0.5_top1_67.823-3ffadce67e.pth", 256),
                           MNASNetConfig().alpha(0.5)),
      variant<MNASNetImpl>(mnasnet_spec("mnasnet0_75", "mnasnet0_75-7090bc5f.pth", 232), MNASNetConfig().alpha(0.75)),
      variant<MNASNetImpl>(mnasnet_spec("mnasnet1_0", "mnasnet1.0_top1_73.512-f206786ef8.pth", 256), MNASNetConfig()),
      variant<MNASNetImpl>(mnasnet_spec("mnasnet1_3", "mnasnet1_3-a4c69d6f.pth", 232), MNASNetConfig().alpha(1.3)),
  };
}
}  // namespace detail

}  // namespace tlearn
