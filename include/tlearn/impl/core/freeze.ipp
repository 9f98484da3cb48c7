// Implementation of tlearn/core/freeze.hpp.
#include "tlearn/core/freeze.hpp"

namespace tlearn {

void set_trainable(LayerTable& table, const LayerSelector& selector, bool trainable) {
  visit_layers(table, selector, [trainable](Layer& layer) {
    layer.trainable = trainable;
    for (auto& module : layer.modules) {
      for (auto& p : module->parameters()) p.requires_grad_(trainable);
      for (auto& m : module->modules(/*include_self=*/true))
        if (auto* bn = dynamic_cast<nn::BatchNorm2dImpl*>(m.get())) bn->set_frozen(!trainable);
    }
  });
}

void set_batchnorm_frozen(LayerTable& table, const LayerSelector& selector, bool frozen) {
  visit_layers(table, selector, [frozen](Layer& layer) {
    for (auto& module : layer.modules)
      for (auto& m : module->modules(/*include_self=*/true))
        if (auto* bn = dynamic_cast<nn::BatchNorm2dImpl*>(m.get())) bn->set_frozen(frozen);
  });
}

std::vector<torch::Tensor> trainable_parameters(const torch::nn::Module& module) {
  std::vector<torch::Tensor> out;
  for (const auto& p : module.parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

}  // namespace tlearn
