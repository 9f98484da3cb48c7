#pragma once
/// \file
/// Multi-head self-attention with torch.nn.MultiheadAttention's parameters
/// ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"), so
/// torchvision's vision-transformer checkpoints load as they are. Input and output
/// are batch-first (N, S, E), as torchvision builds it (batch_first=True).
///
///     nn::MultiheadSelfAttention attention(768, 12);
///     auto y = attention(tokens);                          // (N, S, 768)
///     auto w = attention->attention_weights(tokens);       // (N, 12, S, S), rows sum to 1
///
/// Prepackable: with packing on (optimize_for_inference) both projections run
/// through oneDNN with weights packed once (core/linear.hpp).

#include <torch/torch.h>

#include <array>
#include <cstdint>

#include "tlearn/core/linear.hpp"
#include "tlearn/core/prepackable.hpp"

namespace tlearn::nn {

class MultiheadSelfAttentionImpl : public torch::nn::Module, public Prepackable {
 public:
  MultiheadSelfAttentionImpl(int64_t embed_dim, int64_t num_heads);

  torch::Tensor forward(const torch::Tensor& x);

  /// The softmax weights of every head for `x`, without the rest of the block:
  /// what attention maps and rollout are drawn from.
  torch::Tensor attention_weights(const torch::Tensor& x);

  void set_prepacked(bool on) override;
  bool prepacked() const override { return prepack_; }

  int64_t embed_dim() const { return embed_dim_; }
  int64_t num_heads() const { return num_heads_; }

  torch::Tensor in_proj_weight, in_proj_bias;
  Linear out_proj{nullptr};

 private:
  /// q, k, v as (N, heads, S, head_dim).
  std::array<torch::Tensor, 3> project(const torch::Tensor& x);

  int64_t embed_dim_, num_heads_;
  bool prepack_ = false;
  PackedLinearWeights in_proj_packed_;
};
TORCH_MODULE(MultiheadSelfAttention);

}  // namespace tlearn::nn
