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
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/models/sequential_backbone.hpp"

namespace tlearn {

struct VGGConfig {
  TORCH_ARG(std::vector<int64_t>, stages);  ///< convs per block (5 blocks)
  TORCH_ARG(bool, batch_norm) = false;
  /// Channels of the 5 blocks (torchvision's; smaller widths make toy models for tests and demos).
  TORCH_ARG(std::vector<int64_t>, widths) = {64, 128, 256, 512, 512};
};

class VGGImpl : public SequentialBackboneImpl {
 public:
  /// The top's fc1 and fc2 rows each hold Linear + ReLU + Dropout, tapped after the dropout.
  VGGImpl(const VGGConfig& config, const ModelSpec& spec, const BackboneOptions& options);
};

namespace detail {
inline ModelSpec vgg_spec(const std::string& name, const std::string& file) {
  ModelSpec s;
  s.name = name;
  s.family = "vgg";
  s.first_conv = "features.0.weight";
  s.top_modules = {"classifier"};
  s.classifier_modules = {"classifier.6"};
  // timm runs the first two dense layers as 7x7 and 1x1 convolutions (the same weights, reshaped).
  s.timm_architectures = {{name}};
  s.timm_keys = {{"^classifier\\.0\\.", "pre_logits.fc1."},
                 {"^classifier\\.3\\.", "pre_logits.fc2."},
                 {"^classifier\\.6\\.", "head.fc."}};
  s.timm_shapes = {{"classifier\\.0\\.weight", {0, -1, 7, 7}}, {"classifier\\.3\\.weight", {0, -1, 1, 1}}};
  s.weights.push_back(torchvision_weights("IMAGENET1K_V1", file));
  return s;
}
/// Keras Applications' VGG16 / VGG19 ("keras.VGG16"): the same network with Keras'
/// own weight files, "caffe" preprocessing and Keras' layer names.
inline ModelSpec keras_vgg_spec(const std::string& name, const std::string& folder, const std::string& md5,
                                const std::string& notop_md5) {
  ModelSpec s = vgg_spec(name, "");
  s.weights = {keras_weights(folder, folder + "_weights_tf_dim_ordering_tf_kernels.h5", md5,
                             folder + "_weights_tf_dim_ordering_tf_kernels_notop.h5", notop_md5,
                             Preprocessing::Caffe)};
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
struct KerasVGG16 { using Impl = VGGImpl; static constexpr const char* name = "keras.VGG16"; };
struct KerasVGG19 { using Impl = VGGImpl; static constexpr const char* name = "keras.VGG19"; };
}  // namespace arch

namespace detail {
/// The vgg variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> vgg_variants() {
  return {
      variant<VGGImpl>(vgg_spec("vgg11", "vgg11-8a719046.pth"), VGGConfig().stages({1, 1, 2, 2, 2})),
      variant<VGGImpl>(vgg_spec("vgg13", "vgg13-19584684.pth"), VGGConfig().stages({2, 2, 2, 2, 2})),
      variant<VGGImpl>(vgg_spec("vgg16", "vgg16-397923af.pth"), VGGConfig().stages({2, 2, 3, 3, 3})),
      variant<VGGImpl>(vgg_spec("vgg19", "vgg19-dcbb9e9d.pth"), VGGConfig().stages({2, 2, 4, 4, 4})),
      variant<VGGImpl>(vgg_spec("vgg11_bn", "vgg11_bn-6002323d.pth"),
                       VGGConfig().stages({1, 1, 2, 2, 2}).batch_norm(true)),
      variant<VGGImpl>(vgg_spec("vgg13_bn", "vgg13_bn-abd245e5.pth"),
                       VGGConfig().stages({2, 2, 2, 2, 2}).batch_norm(true)),
      variant<VGGImpl>(vgg_spec("vgg16_bn", "vgg16_bn-6c64b313.pth"),
                       VGGConfig().stages({2, 2, 3, 3, 3}).batch_norm(true)),
      variant<VGGImpl>(vgg_spec("vgg19_bn", "vgg19_bn-c79401a0.pth"),
                       VGGConfig().stages({2, 2, 4, 4, 4}).batch_norm(true)),
      variant<VGGImpl>(keras_vgg_spec("keras.VGG16", "vgg16", "64373286793e3c8b2b4e3219cbf3544b",
                                      "6d6bbae143d832006294945121d1f1fc"),
                       VGGConfig().stages({2, 2, 3, 3, 3})),
      variant<VGGImpl>(keras_vgg_spec("keras.VGG19", "vgg19", "cbe5617147190e668d6c5d5026f83318",
                                      "253f8cb515780f3b799900260a226db6"),
                       VGGConfig().stages({2, 2, 4, 4, 4})),
  };
}
}  // namespace detail

}  // namespace tlearn
