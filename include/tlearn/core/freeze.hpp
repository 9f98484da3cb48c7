#pragma once
/// \file
/// Freezing is one visitor over a range of the layer table. Turning layers off
/// stops their gradients and runs their BatchNorm layers in inference mode
/// (Keras' rule, kept through later train() calls); turning them on restores both.

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "tlearn/core/batch_norm.hpp"
#include "tlearn/core/layer_table.hpp"
#include "tlearn/core/selector.hpp"

namespace tlearn {

/// Calls `visit(layer)` for every layer `selector` picks, in table order.
inline void visit_layers(LayerTable& table, const LayerSelector& selector, const std::function<void(Layer&)>& visit) {
  for (size_t i : selector.resolve(table)) visit(table[i]);
}

/// Sets `trainable` on the selected layers: requires_grad of their parameters,
/// and frozen/unfrozen BatchNorm statistics.
inline void set_trainable(LayerTable& table, const LayerSelector& selector, bool trainable) {
  visit_layers(table, selector, [trainable](Layer& layer) {
    layer.trainable = trainable;
    for (auto& module : layer.modules) {
      for (auto& p : module->parameters()) p.requires_grad_(trainable);
      for (auto& m : module->modules(/*include_self=*/true))
        if (auto* bn = dynamic_cast<nn::BatchNorm2dImpl*>(m.get())) bn->set_frozen(!trainable);
    }
  });
}

/// The parameters an optimizer should see: those that still require gradients.
inline std::vector<torch::Tensor> trainable_parameters(const torch::nn::Module& module) {
  std::vector<torch::Tensor> out;
  for (const auto& p : module.parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

}  // namespace tlearn
