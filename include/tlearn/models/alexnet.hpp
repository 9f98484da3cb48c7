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
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/models/sequential_backbone.hpp"

namespace tlearn {

struct AlexNetConfig {};

class AlexNetImpl : public SequentialBackboneImpl {
 public:
  AlexNetImpl(const AlexNetConfig&, const ModelSpec& spec, const BackboneOptions& options);
};

namespace detail {
inline ModelSpec alexnet_spec() {
  ModelSpec s;
  s.name = "alexnet";
  s.family = "alexnet";
  s.min_size = 63;  // the third max pool needs a 3x3 map
  s.first_conv = "features.0.weight";
  s.top_modules = {"classifier"};
  s.classifier_modules = {"classifier.6"};
  s.weights.push_back(torchvision_weights("IMAGENET1K_V1", "alexnet-owt-7be5be79.pth"));
  return s;
}
}  // namespace detail

namespace arch {
struct AlexNet { using Impl = AlexNetImpl; static constexpr const char* name = "alexnet"; };
}  // namespace arch

namespace detail {
/// The alexnet variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> alexnet_variants() {
  return {
      variant<AlexNetImpl>(alexnet_spec(), AlexNetConfig{}),
  };
}
}  // namespace detail

}  // namespace tlearn
