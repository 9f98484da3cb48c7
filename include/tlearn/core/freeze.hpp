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
void set_trainable(LayerTable& table, const LayerSelector& selector, bool trainable);

/// Keras' `base_model(x, training=False)`: the BatchNorm layers inside the
/// selected layers run in inference mode (running statistics used, not updated)
/// through later train() calls when `frozen`, or follow train()/eval() again when
/// not. Weights keep their requires_grad, so an unfrozen block still fine-tunes.
void set_batchnorm_frozen(LayerTable& table, const LayerSelector& selector, bool frozen);

/// The parameters an optimizer should see: those that still require gradients.
std::vector<torch::Tensor> trainable_parameters(const torch::nn::Module& module);

}  // namespace tlearn
