#pragma once
/// \file
/// MaxViT (torchvision.models.maxvit): a convolutional stem, then four stages of
/// MaxVit layers. Each layer is an MBConv (pre-norm inverted bottleneck with
/// squeeze-excitation, stride 2 in a stage's first layer), then attention within
/// 7x7 windows ("window_attention") and attention across a 7x7 grid of tokens
/// strided over the whole map ("grid_attention"). Every map stays (N, C, H, W).
///
/// The layer table has the stem's rows and one row per MBconv, window attention
/// and grid attention ("blocks.2.layers.4.layers.grid_attention"); freezing and
/// layer-wise decay count a MaxVit layer as one block. Without the top forward()
/// returns the last stage's map (stride 32); the top is torchvision's classifier
/// (average pool, LayerNorm, Linear, Tanh, Linear).
///
///     auto base = tlearn::make_backbone("maxvit_t", tlearn::BackboneOptions().include_top(false));
///     auto stages = base->features_only(x);   // strides 4, 8, 16, 32
///
/// Input sizes: every stage's map must split into 7x7 windows, so the stem's and
/// stages' outputs (ceil(s/2), then halved four times) must be multiples of 7:
/// 224, 448, ... torchvision fixes the size when it builds the model; tlearn
/// reads it from the input and says which sizes work when one does not.

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/nn/conv_norm_act.hpp"
#include "tlearn/nn/residual.hpp"
#include "tlearn/nn/squeeze_excitation.hpp"

namespace tlearn {

struct MaxVitConfig {
  TORCH_ARG(int64_t, stem_channels) = 64;
  TORCH_ARG(std::vector<int64_t>, block_channels);  ///< output channels per stage
  TORCH_ARG(std::vector<int64_t>, block_layers);    ///< MaxVit layers per stage
  TORCH_ARG(int64_t, head_dim) = 32;
  TORCH_ARG(int64_t, partition_size) = 7;
  TORCH_ARG(double, stochastic_depth_prob) = 0.2;
};

namespace nn {

/// MaxViT's MBConv: x -> BN -> 1x1 expand (BN, GELU) -> 3x3 depthwise (BN, GELU) ->
/// squeeze-excitation (SiLU) -> 1x1 project, added to a shortcut that is average
/// pooled and projected when the stride or width changes.
class MaxVitMBConvImpl : public torch::nn::Module {
 public:
  MaxVitMBConvImpl(int64_t in, int64_t out, int64_t stride, double stochastic_depth_prob);

  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential proj_{nullptr};  ///< empty: identity shortcut
  torch::nn::Sequential layers_{nullptr};
  ResidualAdd residual_;
};
TORCH_MODULE(MaxVitMBConv);

/// torchvision's RelativePositionalMultiHeadAttention over (B, groups, tokens, C):
/// a learnt bias per relative offset inside a size x size partition. The logits
/// are scaled by C^-0.5 (the whole width, as torchvision scales them).
class RelativePositionAttentionImpl : public torch::nn::Module {
 public:
  RelativePositionAttentionImpl(int64_t dim, int64_t head_dim, int64_t size);

  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t heads_, head_dim_, tokens_;
  torch::Tensor relative_position_bias_table_, relative_position_index_;
  nn::Linear to_qkv_{nullptr}, merge_{nullptr};
};
TORCH_MODULE(RelativePositionAttention);

/// torchvision's PartitionAttentionLayer: partition the map into windows of
/// `partition` x `partition` neighbours (window) or into a partition x partition
/// grid of tokens strided H / partition apart (grid), then a pre-norm attention
/// and MLP residual pair over each group, and back to (N, C, H, W).
class PartitionAttentionImpl : public torch::nn::Module {
 public:
  PartitionAttentionImpl(int64_t dim, int64_t head_dim, int64_t partition, bool grid, double stochastic_depth_prob);

  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t partition_;
  bool grid_;
  torch::nn::Sequential attn_layer_{nullptr}, mlp_layer_{nullptr};
  ResidualAdd residual_;
};
TORCH_MODULE(PartitionAttention);

}  // namespace nn

class MaxVitImpl : public BackboneImpl {
 public:
  MaxVitImpl(const MaxVitConfig& config, const ModelSpec& spec, const BackboneOptions& options);

 protected:
  torch::Tensor forward_body(torch::Tensor x) override;

 private:
  /// One row of the table with the module it runs: an MBconv or an attention.
  struct Step {
    std::string row;
    torch::nn::AnyModule module;
    bool attention;  ///< needs a map that splits into whole partitions
  };
  nn::ConvNormAct stem_conv_{nullptr};
  nn::NestedSequential stem_proj_{nullptr};  ///< torchvision's Conv2dNormActivation without norm: "stem.1.0"
  std::string stem_proj_row_;
  std::vector<Step> steps_;
  int64_t partition_;
  torch::nn::Sequential classifier_{nullptr};
};

namespace detail {
/// torchvision's IMAGENET1K_V1 weights of maxvit_t (bicubic, 224 without a resize margin).
ModelSpec maxvit_spec(const std::string& name, const std::string& hash);
}  // namespace detail

namespace arch {
struct MaxVitT { using Impl = MaxVitImpl; static constexpr const char* name = "maxvit_t"; };
}  // namespace arch

namespace detail {
/// The maxvit variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> maxvit_variants() {
  return {
      variant<MaxVitImpl>(maxvit_spec("maxvit_t", "bc5ab103"),
                          MaxVitConfig().block_channels({64, 128, 256, 512}).block_layers({2, 2, 5, 2})),
  };
}
}  // namespace detail

}  // namespace tlearn
