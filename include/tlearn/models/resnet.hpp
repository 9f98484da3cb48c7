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
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"

namespace tlearn {

struct ResNetConfig {
  TORCH_ARG(bool, bottleneck) = false;       ///< Bottleneck (1x1, 3x3, 1x1; expansion 4) or BasicBlock (3x3, 3x3)
  TORCH_ARG(std::vector<int64_t>, layers);   ///< blocks per stage (4 stages)
  TORCH_ARG(int64_t, groups) = 1;            ///< ResNeXt cardinality
  TORCH_ARG(int64_t, width_per_group) = 64;  ///< 128 for Wide ResNet
  /// Keras Applications' ResNet, the original paper's v1: the stride on each
  /// stage's first 1x1 conv (torchvision's v1.5 puts it on the 3x3), a bias on
  /// every conv, and BatchNorm epsilon 1.001e-5.
  TORCH_ARG(bool, keras_v1) = false;
};

namespace nn {

/// torchvision's BasicBlock or Bottleneck: conv-bn(-relu) pairs, an optional
/// downsample (1x1 conv + bn) on the shortcut, the add and the final relu.
/// Every conv, bn and relu is a row of the layer table, named after its module.
class ResNetBlockImpl : public torch::nn::Module {
 public:
  ResNetBlockImpl(LayerTable& table, const std::string& prefix, const std::string& keras, const ResNetConfig& config,
                  int64_t inplanes, int64_t planes, int64_t stride);

  torch::Tensor forward(const torch::Tensor& input);

  /// The tap name of this block's output.
  const std::string& output_name() const { return out_name_; }

  /// Each convolution with the BatchNorm after it, the shortcut's pair included.
  /// The layer table lists the shortcut's rows between the last convolution and
  /// its BatchNorm (Keras' order), so the rows alone do not pair them there.
  void add_conv_batch_norm_pairs(std::vector<std::pair<torch::nn::Module*, torch::nn::Module*>>& pairs) const;

 private:
  std::vector<nn::Conv2d> convs_;
  std::vector<nn::BatchNorm2d> bns_;
  /// The ReLU after each conv-bn but the last. torchvision reuses one module for
  /// them; here each has its own, not registered (no parameters), so inference
  /// can fuse each into its convolution.
  std::vector<nn::ReLU> relus_;
  torch::nn::Sequential downsample_{nullptr};
  std::vector<std::string> conv_names_, bn_names_, relu_names_, down_names_;
  std::string add_name_, out_name_;
};
TORCH_MODULE(ResNetBlock);

}  // namespace nn

class ResNetImpl : public BackboneImpl {
 public:
  ResNetImpl(const ResNetConfig& config, const ModelSpec& spec, const BackboneOptions& options);

  /// Every block's pairs (ResNetBlockImpl::add_conv_batch_norm_pairs), so
  /// optimize_for_inference folds the BatchNorms of the blocks with a shortcut too.
  std::vector<std::pair<torch::nn::Module*, torch::nn::Module*>> conv_batch_norm_pairs() const override;

 protected:
  torch::Tensor forward_body(torch::Tensor x) override;

 private:
  nn::Conv2d conv1_{nullptr};
  nn::BatchNorm2d bn1_{nullptr};
  nn::ReLU relu_{nullptr};
  std::vector<torch::nn::Sequential> layers_;
  nn::Linear fc_{nullptr};
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
  s.top_modules = {"fc"};
  s.classifier_modules = {"fc"};
  s.timm_architectures = {{name}};  // timm's ResNets, ResNeXts and Wide ResNets share torchvision's names
  for (const auto& w : weights)
    s.weights.push_back(torchvision_weights(w.tag, w.file, {w.resize, 224, Interpolation::Bilinear}));
  return s;
}

/// Keras Applications' ResNet50/101/152 ("keras.ResNet50"): Keras' own weight
/// files (`stem` names them), "caffe" preprocessing and Keras' layer names.
inline ModelSpec keras_resnet_spec(const std::string& name, const std::string& stem, const std::string& md5,
                                   const std::string& notop_md5) {
  ModelSpec s = resnet_spec(name, {});
  s.timm_architectures.clear();
  s.weights = {keras_weights("resnet", stem + "_weights_tf_dim_ordering_tf_kernels.h5", md5,
                             stem + "_weights_tf_dim_ordering_tf_kernels_notop.h5", notop_md5, Preprocessing::Caffe)};
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
struct KerasResNet50 { using Impl = ResNetImpl; static constexpr const char* name = "keras.ResNet50"; };
struct KerasResNet101 { using Impl = ResNetImpl; static constexpr const char* name = "keras.ResNet101"; };
struct KerasResNet152 { using Impl = ResNetImpl; static constexpr const char* name = "keras.ResNet152"; };
}  // namespace arch

namespace detail {
/// The resnet variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> resnet_variants() {
  return {
      variant<ResNetImpl>(resnet_spec("resnet18", {{"IMAGENET1K_V1", "resnet18-f37072fd.pth", 256}}),
                          ResNetConfig().layers({2, 2, 2, 2})),
      variant<ResNetImpl>(resnet_spec("resnet34", {{"IMAGENET1K_V1", "resnet34-b627a593.pth", 256}}),
                          ResNetConfig().layers({3, 4, 6, 3})),
      variant<ResNetImpl>(resnet_spec("resnet50", {{"IMAGENET1K_V1", "resnet50-0676ba61.pth", 256},
                                                   {"IMAGENET1K_V2", "resnet50-11ad3fa6.pth", 232}}),
                          ResNetConfig().bottleneck(true).layers({3, 4, 6, 3})),
      variant<ResNetImpl>(resnet_spec("resnet101", {{"IMAGENET1K_V1", "resnet101-63fe2227.pth", 256},
                                                    {"IMAGENET1K_V2", "resnet101-cd907fc2.pth", 232}}),
                          ResNetConfig().bottleneck(true).layers({3, 4, 23, 3})),
      variant<ResNetImpl>(resnet_spec("resnet152", {{"IMAGENET1K_V1", "resnet152-394f9c45.pth", 256},
                                                    {"IMAGENET1K_V2", "resnet152-f82ba261.pth", 232}}),
                          ResNetConfig().bottleneck(true).layers({3, 8, 36, 3})),
      variant<ResNetImpl>(resnet_spec("resnext50_32x4d", {{"IMAGENET1K_V1", "resnext50_32x4d-7cdf4587.pth", 256},
                                                          {"IMAGENET1K_V2", "resnext50_32x4d-1a0047aa.pth", 232}}),
                          ResNetConfig().bottleneck(true).layers({3, 4, 6, 3}).groups(32).width_per_group(4)),
      variant<ResNetImpl>(resnet_spec("resnext101_32x8d", {{"IMAGENET1K_V1", "resnext101_32x8d-8ba56ff5.pth", 256},
                                                           {"IMAGENET1K_V2", "resnext101_32x8d-110c445d.pth", 232}}),
                          ResNetConfig().bottleneck(true).layers({3, 4, 23, 3}).groups(32).width_per_group(8)),
      variant<ResNetImpl>(resnet_spec("resnext101_64x4d", {{"IMAGENET1K_V1", "resnext101_64x4d-173b62eb.pth", 232}}),
                          ResNetConfig().bottleneck(true).layers({3, 4, 23, 3}).groups(64).width_per_group(4)),
      variant<ResNetImpl>(resnet_spec("wide_resnet50_2", {{"IMAGENET1K_V1", "wide_resnet50_2-95faca4d.pth", 256},
                                                          {"IMAGENET1K_V2", "wide_resnet50_2-9ba9bcbe.pth", 232}}),
                          ResNetConfig().bottleneck(true).layers({3, 4, 6, 3}).width_per_group(128)),
      variant<ResNetImpl>(resnet_spec("wide_resnet101_2", {{"IMAGENET1K_V1", "wide_resnet101_2-32ee1156.pth", 256},
                                                           {"IMAGENET1K_V2", "wide_resnet101_2-d733dc28.pth", 232}}),
                          ResNetConfig().bottleneck(true).layers({3, 4, 23, 3}).width_per_group(128)),
      variant<ResNetImpl>(keras_resnet_spec("keras.ResNet50", "resnet50", "2cb95161c43110f7111970584f804107",
                                            "4d473c1dd8becc155b73f8504c6f6626"),
                          ResNetConfig().bottleneck(true).layers({3, 4, 6, 3}).keras_v1(true)),
      variant<ResNetImpl>(keras_resnet_spec("keras.ResNet101", "resnet101", "f1aeb4b969a6efcfb50fad2f0c20cfc5",
                                            "88cf7a10940856eca736dc7b7e228a21"),
                          ResNetConfig().bottleneck(true).layers({3, 4, 23, 3}).keras_v1(true)),
      variant<ResNetImpl>(keras_resnet_spec("keras.ResNet152", "resnet152", "100835be76be38e30d865e96f2aaae62",
                                            "ee4c566cf9a93f14d82f913c2dc6dd0c"),
                          ResNetConfig().bottleneck(true).layers({3, 8, 36, 3}).keras_v1(true)),
  };
}
}  // namespace detail

}  // namespace tlearn
