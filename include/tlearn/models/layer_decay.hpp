#pragma once
/// \file
/// Layer-wise learning-rate decay (BEiT / MAE practice, timm's
/// param_groups_layer_decay) for any family, read off the layer table: the rows
/// are grouped into blocks by the family's `ModelSpec::block_pattern` (ResNet's
/// "layer1.0", ViT's "encoder.layers.encoder_layer_3"); a row without parameters
/// goes with the block before it. The stem, everything
/// before the first block, is depth 0; block i is depth i (1-based); the final
/// norm, the top and anything after the last block are depth B + 1. A parameter
/// at depth d learns at lr * decay^(B + 1 - d), so the top keeps lr and the stem
/// learns slowest.
///
///     auto opt = tlearn::optim::AdamW(1e-3).layer_decay(0.75);   // the Trainer finds the backbone

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "tlearn/models/backbone.hpp"

namespace tlearn {

struct LayerDepths {
  std::vector<int64_t> row_depth;   ///< one per layer-table row
  std::vector<std::string> blocks;  ///< the block names, shallow to deep (depths 1..B)
  int64_t max_depth = 0;            ///< B + 1: the final norm and the top
};

/// The depth of every row of `model`'s layer table. An Error when the pattern
/// finds no block (the family then needs a block_pattern).
LayerDepths layer_depths(const BackboneImpl& model);

/// The depth of each of `model`'s parameters, by tensor.
std::unordered_map<const void*, int64_t> parameter_depths(const BackboneImpl& model);

/// Parameters that take no weight decay under layer_decay (timm's rule): every
/// 1-D parameter (biases, norm scales and shifts) and the parameters of class-token
/// and position-embedding rows.
bool exempt_from_weight_decay(const BackboneImpl& model, const torch::Tensor& parameter);

}  // namespace tlearn
