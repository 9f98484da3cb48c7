#pragma once
/// \file
/// Swin Transformer T/S/B and Swin V2 T/S/B (torchvision.models.swin_transformer).
/// A 4x4 patch embedding, then four stages of blocks that attend within
/// windows, every second block's windows shifted by half a window; patch merging
/// halves the resolution and doubles the width between stages. V2 attends by
/// scaled cosine with a continuous position bias (a small MLP), normalises after
/// the attention and the MLP instead of before, and merges before normalising.
///
/// Blocks work channels-last, (N, H, W, C), as torchvision's do; the layer table
/// has one row per block ("features.1.0" .. "features.7.1"), per patch merging
/// ("features.2") and for the final norm. features_only() and Grad-CAM see every
/// row as an (N, C, H, W) map; without the top forward() returns the last stage's
/// map after the final norm (stride 32).
///
///     auto base = tlearn::make_backbone("swin_t", tlearn::BackboneOptions().include_top(false));
///     auto stages = base->features_only(x);   // strides 4, 8, 16, 32
///
/// Any input size runs: maps are padded to whole windows, and windows larger than
/// the map are not shifted (torchvision's rules).

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tlearn/core/conv2d.hpp"
#include "tlearn/core/linear.hpp"
#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/nn/residual.hpp"

namespace tlearn {

struct SwinConfig {
  TORCH_ARG(int64_t, embed_dim) = 96;
  TORCH_ARG(std::vector<int64_t>, depths);     ///< blocks per stage
  TORCH_ARG(std::vector<int64_t>, num_heads);  ///< heads per stage
  TORCH_ARG(int64_t, window) = 7;
  TORCH_ARG(double, stochastic_depth_prob) = 0.2;
  TORCH_ARG(bool, v2) = false;
};

namespace nn {

/// torchvision's ShiftedWindowAttention (v2 = false: relative position bias table)
/// and ShiftedWindowAttentionV2 (cosine attention, logit scale, continuous bias MLP).
class ShiftedWindowAttentionImpl : public torch::nn::Module {
 public:
  ShiftedWindowAttentionImpl(int64_t dim, int64_t window, int64_t shift, int64_t num_heads, bool v2);

  /// (N, H, W, C) to (N, H, W, C).
  torch::Tensor forward(const torch::Tensor& x);

  nn::Linear qkv{nullptr}, proj{nullptr};

 private:
  /// (1, heads, window^2, window^2), added to the attention logits.
  torch::Tensor relative_position_bias();

  int64_t window_, shift_, num_heads_;
  bool v2_;
  torch::Tensor relative_position_bias_table_, logit_scale_, relative_coords_table_, relative_position_index_;
  torch::nn::Sequential cpb_mlp_{nullptr};
};
TORCH_MODULE(ShiftedWindowAttention);

/// torchvision's SwinTransformerBlock / SwinTransformerBlockV2, channels-last.
class SwinBlockImpl : public torch::nn::Module {
 public:
  SwinBlockImpl(int64_t dim, int64_t num_heads, int64_t window, int64_t shift, double stochastic_depth_prob, bool v2);

  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  ShiftedWindowAttention attn_{nullptr};
  torch::nn::Sequential mlp_{nullptr};
  ResidualAdd residual_;
  bool v2_;
};
TORCH_MODULE(SwinBlock);

/// torchvision's PatchMerging / PatchMergingV2: 2x2 neighbours concatenated
/// (odd sizes padded), then norm and reduction to 2C (V2: reduction, then norm).
class PatchMergingImpl : public torch::nn::Module {
 public:
  PatchMergingImpl(int64_t dim, bool v2);

  torch::Tensor forward(const torch::Tensor& x);

 private:
  nn::Linear reduction_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  bool v2_;
};
TORCH_MODULE(PatchMerging);

}  // namespace nn

class SwinTransformerImpl : public BackboneImpl {
 public:
  SwinTransformerImpl(const SwinConfig& config, const ModelSpec& spec, const BackboneOptions& options);

  /// Rows after the patch-embedding conv hold channels-last maps: permuted to (N, C, H, W).
  torch::Tensor feature_map(const std::string& row, const torch::Tensor& output) const override;

 protected:
  torch::Tensor forward_body(torch::Tensor x) override;

 private:
  torch::nn::ModuleList features_{nullptr};
  std::vector<std::string> rows_;  ///< one per child of features, in order (the stem's three)
  torch::nn::Sequential stem_{nullptr};
  std::vector<std::string> stem_rows_;
  std::vector<std::vector<nn::SwinBlock>> stages_;
  std::vector<std::vector<std::string>> stage_rows_;
  std::vector<nn::PatchMerging> merges_;
  std::vector<std::string> merge_rows_;
  torch::nn::LayerNorm norm_{nullptr};
  nn::Linear head_{nullptr};
};

namespace detail {
/// torchvision's IMAGENET1K_V1 weights of one Swin: file hash, resize and crop sizes (bicubic).
ModelSpec swin_spec(const std::string& name, const std::string& hash, int64_t resize, int64_t crop);
}  // namespace detail

namespace arch {
struct SwinT { using Impl = SwinTransformerImpl; static constexpr const char* name = "swin_t"; };
struct SwinS { using Impl = SwinTransformerImpl; static constexpr const char* name = "swin_s"; };
struct SwinB { using Impl = SwinTransformerImpl; static constexpr const char* name = "swin_b"; };
struct SwinV2T { using Impl = SwinTransformerImpl; static constexpr const char* name = "swin_v2_t"; };
struct SwinV2S { using Impl = SwinTransformerImpl; static constexpr const char* name = "swin_v2_s"; };
struct SwinV2B { using Impl = SwinTransformerImpl; static constexpr const char* name = "swin_v2_b"; };
}  // namespace arch

namespace detail {
/// The swin variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> swin_variants() {
  const std::vector<int64_t> tiny = {2, 2, 6, 2}, deep = {2, 2, 18, 2};
  const std::vector<int64_t> heads96 = {3, 6, 12, 24}, heads128 = {4, 8, 16, 32};
  return {
      variant<SwinTransformerImpl>(swin_spec("swin_t", "704ceda3", 232, 224),
                                   SwinConfig().depths(tiny).num_heads(heads96)),
      variant<SwinTransformerImpl>(swin_spec("swin_s", "5e29d889", 246, 224),
                                   SwinConfig().depths(deep).num_heads(heads96).stochastic_depth_prob(0.3)),
      variant<SwinTransformerImpl>(
          swin_spec("swin_b", "68c6b09e", 238, 224),
          SwinConfig().embed_dim(128).depths(deep).num_heads(heads128).stochastic_depth_prob(0.5)),
      variant<SwinTransformerImpl>(swin_spec("swin_v2_t", "b137f0e2", 260, 256),
                                   SwinConfig().depths(tiny).num_heads(heads96).window(8).v2(true)),
      variant<SwinTransformerImpl>(
          swin_spec("swin_v2_s", "637d8ceb", 260, 256),
          SwinConfig().depths(deep).num_heads(heads96).window(8).stochastic_depth_prob(0.3).v2(true)),
      variant<SwinTransformerImpl>(
          swin_spec("swin_v2_b", "781e5279", 272, 256),
          SwinConfig().embed_dim(128).depths(deep).num_heads(heads128).window(8).stochastic_depth_prob(0.5).v2(true)),
  };
}
}  // namespace detail

}  // namespace tlearn
