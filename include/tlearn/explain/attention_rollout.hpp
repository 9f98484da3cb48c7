#pragma once
/// \file
/// Attention rollout (Abnar & Zuidema 2020): what a vision transformer's class
/// token draws on, through all its blocks. Each block's attention is averaged
/// over heads, the identity added for the residual path and the rows renormalised;
/// the blocks' matrices are multiplied in order, and the class token's row over
/// the patches, on their grid, is the map.
///
///     auto* vit = base->as<tlearn::VisionTransformerImpl>();
///     auto r = tlearn::explain::attention_rollout(*vit, vit->preprocess(photo));
///     tlearn::explain::save_overlay("rollout.png", photo, r.heatmap);

#include <torch/torch.h>

#include <cstdint>

#include "tlearn/models/vit.hpp"

namespace tlearn::explain {

struct AttentionRollout {
  torch::Tensor heatmap;  ///< (H, W) in 0..1 at the input's size (bilinear)
  torch::Tensor map;      ///< (h, w): the class token's rolled-out attention to each patch
  /// (1 + h * w, 1 + h * w): the rolled-out matrix itself, rows summing to 1
  torch::Tensor rollout;
};

/// Rollout of `model` on one preprocessed image ((C, H, W) or (1, C, H, W)) through
/// blocks 0..`last_block` (negative: all). Runs in eval mode without gradients; the
/// model's mode is restored.
AttentionRollout attention_rollout(VisionTransformerImpl& model, const torch::Tensor& image, int64_t last_block = -1);

}  // namespace tlearn::explain
