#pragma once
/// \file
/// SqueezeNet 1.0 and 1.1 (torchvision.models.squeezenet). Module names are
/// torchvision's (features.3.squeeze, features.3.expand1x1, classifier.1 for
/// final_conv). Each Fire module is six layers (conv and relu for squeeze,
/// expand1x1, expand3x3) and a Concatenate row named after the module ("features.3").
/// The classifier is Dropout, 1x1 conv to `classes`, ReLU, global average pool.
///
///     auto net = tlearn::make_backbone("squeezenet1_1", tlearn::BackboneOptions().classes(10));

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/models/sequential_backbone.hpp"

namespace tlearn {

struct SqueezeNetConfig {
  TORCH_ARG(bool, v1_1) = false;  ///< squeezenet1_1: 3x3 stem with 64 channels and earlier pools
};

namespace nn {

/// torchvision's Fire: squeeze 1x1 + relu, then expand1x1 and expand3x3 (+ relu) concatenated.
class FireImpl : public torch::nn::Module {
 public:
  FireImpl(LayerTable& table, const std::string& prefix, int64_t in, int64_t squeeze, int64_t e1, int64_t e3);

  torch::Tensor forward(const torch::Tensor& input);

 private:
  nn::Conv2d squeeze_{nullptr}, expand1x1_{nullptr}, expand3x3_{nullptr};
  std::vector<nn::ReLU> relus_;  ///< squeeze_activation, expand1x1_activation, expand3x3_activation
  std::vector<std::string> names_;
};
TORCH_MODULE(Fire);

}  // namespace nn

class SqueezeNetImpl : public SequentialBackboneImpl {
 public:
  SqueezeNetImpl(const SqueezeNetConfig& config, const ModelSpec& spec, const BackboneOptions& options);
};

namespace detail {
inline ModelSpec squeezenet_spec(const std::string& name, const std::string& file) {
  ModelSpec s;
  s.name = name;
  s.family = "squeezenet";
  s.first_conv = "features.0.weight";
  s.top_modules = {"classifier"};
  s.classifier_modules = {"classifier.1"};
  s.weights.push_back(torchvision_weights("IMAGENET1K_V1", file));
  return s;
}
}  // namespace detail

namespace arch {
struct SqueezeNet1_0 { using Impl = SqueezeNetImpl; static constexpr const char* name = "squeezenet1_0"; };
struct SqueezeNet1_1 { using Impl = SqueezeNetImpl; static constexpr const char* name = "squeezenet1_1"; };
}  // namespace arch

namespace detail {
/// The squeezenet variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> squeezenet_variants() {
  return {
      variant<SqueezeNetImpl>(squeezenet_spec("squeezenet1_0", "squeezenet1_0-b66bff10.pth"), SqueezeNetConfig()),
      variant<SqueezeNetImpl>(squeezenet_spec("squeezenet1_1", "squeezenet1_1-b8a52dc0.pth"),
                              SqueezeNetConfig().v1_1(true)),
  };
}
}  // namespace detail

}  // namespace tlearn
