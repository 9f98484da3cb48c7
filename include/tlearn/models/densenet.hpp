#pragma once
/// \file
/// DenseNet 121/161/169/201 (torchvision.models.densenet). Module names are
/// torchvision's (features.denseblock1.denselayer1.norm1, features.transition1.conv,
/// features.norm5, classifier); the official files still use the old names
/// ("...denselayer1.norm.1.weight"), which the weight specs rename on load exactly
/// as torchvision's _load_state_dict does. Layers carry Keras' DenseNet names as
/// aliases (conv1_conv, conv2_block1_1_conv, conv2_block1_concat, pool2_conv, bn, relu).
///
/// Without the top the backbone returns relu(features(x)), the map torchvision's
/// forward pools: the final ReLU is a layer ("relu") of the body, as in Keras.
///
///     auto base = tlearn::make_backbone("densenet121", tlearn::BackboneOptions().include_top(false));

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"

namespace tlearn {

struct DenseNetConfig {
  TORCH_ARG(int64_t, growth_rate) = 32;
  TORCH_ARG(std::vector<int64_t>, block_config);  ///< dense layers per block (4 blocks)
  TORCH_ARG(int64_t, num_init_features) = 64;
  TORCH_ARG(int64_t, bn_size) = 4;
  /// Keras Applications' DenseNet: torchvision's architecture with Keras' BatchNorm,
  /// epsilon 1.001e-5 and momentum 0.01 (Keras' 0.99).
  TORCH_ARG(bool, keras) = false;
};

namespace nn {

/// torchvision's _DenseLayer: norm1, relu, 1x1 conv1, norm2, relu, 3x3 conv2,
/// whose growth_rate new channels are concatenated to its input (Keras' concat row).
class DenseLayerImpl : public torch::nn::Module {
 public:
  DenseLayerImpl(LayerTable& table, const std::string& prefix, const std::string& keras, int64_t in,
                 const DenseNetConfig& config);

  /// The concatenation of everything before (x) and this layer's new channels.
  torch::Tensor forward(const torch::Tensor& x);

  const std::string& output_name() const { return names_.back(); }

 private:
  nn::BatchNorm2d norm1_{nullptr}, norm2_{nullptr};
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  std::vector<std::string> names_;
};
TORCH_MODULE(DenseLayer);

}  // namespace nn

class DenseNetImpl : public BackboneImpl {
 public:
  DenseNetImpl(const DenseNetConfig& config, const ModelSpec& spec, const BackboneOptions& options);

 protected:
  torch::Tensor forward_body(torch::Tensor x) override;


 private:
  struct Transition {
    nn::BatchNorm2d norm{nullptr};
    nn::Conv2d conv{nullptr};
    std::vector<std::string> names;
  };
  nn::Conv2d conv0_{nullptr};
  nn::ReLU relu0_{nullptr};
  nn::BatchNorm2d norm0_{nullptr}, norm5_{nullptr};
  std::vector<std::vector<nn::DenseLayer>> blocks_;
  std::vector<Transition> transitions_;
  nn::Linear classifier_{nullptr};
};

namespace detail {
/// torchvision's _load_state_dict pattern: "denselayer1.norm.1.weight" -> "denselayer1.norm1.weight".
inline const char* const kDenseNetOldKeys =
    R"(^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$)";

inline ModelSpec densenet_spec(const std::string& name, const std::string& file) {
  ModelSpec s;
  s.name = name;
  s.family = "densenet";
  s.first_conv = "features.conv0.weight";
  s.top_modules = {"classifier"};
  s.block_pattern = R"(^features\.(denseblock\d+\.denselayer\d+|transition\d+))";
  s.classifier_modules = {"classifier"};
  s.timm_architectures = {{name}};  // same names as torchvision's
  auto w = torchvision_weights("IMAGENET1K_V1", file);
  w.key_rename = {{kDenseNetOldKeys, "$1$2"}};
  s.weights.push_back(w);
  return s;
}

/// Keras Applications' DenseNet<depth> ("keras.DenseNet121"): Keras' files and MD5s,
/// and Keras' "torch" preprocessing (torchvision's).
inline ModelSpec keras_densenet_spec(const std::string& name, const std::string& stem, const std::string& md5,
                                     const std::string& notop_md5) {
  ModelSpec s = densenet_spec(name, "");
  s.timm_architectures.clear();
  s.weights = {keras_weights("densenet", stem + "_weights_tf_dim_ordering_tf_kernels.h5", md5,
                             stem + "_weights_tf_dim_ordering_tf_kernels_notop.h5", notop_md5, Preprocessing::Torch)};
  return s;
}
}  // namespace detail

namespace arch {
struct DenseNet121 { using Impl = DenseNetImpl; static constexpr const char* name = "densenet121"; };
struct DenseNet161 { using Impl = DenseNetImpl; static constexpr const char* name = "densenet161"; };
struct DenseNet169 { using Impl = DenseNetImpl; static constexpr const char* name = "densenet169"; };
struct DenseNet201 { using Impl = DenseNetImpl; static constexpr const char* name = "densenet201"; };
struct KerasDenseNet121 { using Impl = DenseNetImpl; static constexpr const char* name = "keras.DenseNet121"; };
struct KerasDenseNet169 { using Impl = DenseNetImpl; static constexpr const char* name = "keras.DenseNet169"; };
struct KerasDenseNet201 { using Impl = DenseNetImpl; static constexpr const char* name = "keras.DenseNet201"; };
}  // namespace arch

namespace detail {
/// The densenet variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> densenet_variants() {
  return {
      variant<DenseNetImpl>(densenet_spec("densenet121", "densenet121-a639ec97.pth"),
                            DenseNetConfig().block_config({6, 12, 24, 16})),
      variant<DenseNetImpl>(densenet_spec("densenet161", "densenet161-8d451a50.pth"),
                            DenseNetConfig().growth_rate(48).block_config({6, 12, 36, 24}).num_init_features(96)),
      variant<DenseNetImpl>(densenet_spec("densenet169", "densenet169-b2777c0a.pth"),
                            DenseNetConfig().block_config({6, 12, 32, 32})),
      variant<DenseNetImpl>(densenet_spec("densenet201", "densenet201-c1103571.pth"),
                            DenseNetConfig().block_config({6, 12, 48, 32})),
      variant<DenseNetImpl>(keras_densenet_spec("keras.DenseNet121", "densenet121", "9d60b8095a5708f2dcce2bca79d332c7",
                                                "30ee3e1110167f948a6b9946edeeb738"),
                            DenseNetConfig().block_config({6, 12, 24, 16}).keras(true)),
      variant<DenseNetImpl>(keras_densenet_spec("keras.DenseNet169", "densenet169", "d699b8f76981ab1b30698df4c175e90b",
                                                "b8c4d4c20dd625c148057b9ff1c1176b"),
                            DenseNetConfig().block_config({6, 12, 32, 32}).keras(true)),
      variant<DenseNetImpl>(keras_densenet_spec("keras.DenseNet201", "densenet201", "1ceb130c1ea1b78c3bf6114dbdfd8807",
                                                "c13680b51ded0fb44dff2d8f86ac8bb1"),
                            DenseNetConfig().block_config({6, 12, 48, 32}).keras(true)),
  };
}
}  // namespace detail

}  // namespace tlearn
