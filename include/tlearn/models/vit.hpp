#pragma once
/// \file
/// Vision Transformer B/16, B/32, L/16, L/32, H/14 (torchvision.models.vision_transformer).
/// The image is cut into patch_size x patch_size patches by a strided conv
/// ("conv_proj"), a learned class token is put in front, the position embedding
/// added, and the tokens pass through `num_layers` pre-norm encoder blocks and a
/// final LayerNorm. The top reads the class token.
///
/// The layer table has one row per encoder block ("encoder.layers.encoder_layer_3",
/// alias "encoder_layer_3"), so first(n), until("encoder_layer_9") and last(2)
/// freeze whole blocks. Without the top, forward() returns the patch tokens as an
/// (N, C, H/p, W/p) map (Pooling::None), their mean (Pooling::Avg), or the class
/// token after the final LayerNorm (Pooling::Token), which is torchvision's
/// encoder output. features_only() gives every block's patch tokens as maps.
///
/// Other input sizes: any multiple of the patch size runs; the position embedding
/// is interpolated bicubically as torchvision's interpolate_embeddings does. A
/// model built with input_shape({384, 384}) resizes 224 weights once when loading
/// them; without input_shape it takes the grid of the weights it loads.
///
///     auto base = tlearn::make_backbone("vit_b_16", tlearn::BackboneOptions()
///                                           .weights("imagenet").include_top(false).pooling(tlearn::Pooling::Token));
///     base->set_trainable(tlearn::until("encoder_layer_9"), false);

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tlearn/core/conv2d.hpp"
#include "tlearn/core/linear.hpp"
#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/nn/attention.hpp"
#include "tlearn/nn/residual.hpp"

namespace tlearn {

struct VisionTransformerConfig {
  TORCH_ARG(int64_t, patch_size) = 16;
  TORCH_ARG(int64_t, num_layers) = 12;
  TORCH_ARG(int64_t, num_heads) = 12;
  TORCH_ARG(int64_t, hidden_dim) = 768;
  TORCH_ARG(int64_t, mlp_dim) = 3072;
};

namespace nn {

/// torchvision's EncoderBlock: x + attention(ln_1(x)), then that + mlp(ln_2(that)).
class EncoderBlockImpl : public torch::nn::Module {
 public:
  /// `drop_path`: stochastic depth of both residual branches (torchvision's ViT has none).
  EncoderBlockImpl(int64_t hidden_dim, int64_t num_heads, int64_t mlp_dim, double drop_path = 0.0);

  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::LayerNorm ln_1{nullptr};
  MultiheadSelfAttention self_attention{nullptr};
  torch::nn::LayerNorm ln_2{nullptr};
  torch::nn::Sequential mlp{nullptr};

 private:
  ResidualAdd residual_;
};
TORCH_MODULE(EncoderBlock);

/// The position embedding of a (1, 1 + h * w, C) token sequence, resized to a
/// grid of `hw` patches: the class token's entry kept, the grid's interpolated
/// bicubically with aligned corners (torchvision's interpolate_embeddings).
/// `from_hw` is the grid it holds ({} = square).
torch::Tensor resize_position_embedding(const torch::Tensor& pos, std::vector<int64_t> hw,
                                        std::vector<int64_t> from_hw = {});

}  // namespace nn

class VisionTransformerImpl : public BackboneImpl {
 public:
  VisionTransformerImpl(const VisionTransformerConfig& config, const ModelSpec& spec, const BackboneOptions& options);

  int64_t patch_size() const { return config_.patch_size(); }
  /// {h, w} patches the position embedding holds now.
  std::vector<int64_t> position_grid() const { return pos_grid_; }

  /// The softmax attention of every head of encoder block `block` (0-based) for the
  /// preprocessed images `x`: (N, heads, 1 + h * w, 1 + h * w). Row 0 is what the
  /// class token attends to.
  torch::Tensor attention_weights(const torch::Tensor& x, int64_t block);
  /// The same for every block, from one forward pass.
  std::vector<torch::Tensor> attention_weights(const torch::Tensor& x);

  int64_t num_blocks() const { return static_cast<int64_t>(blocks_.size()); }

  /// Tokens (N, 1 + h * w, C) of the last forward pass to their patch map (N, C, h, w).
  torch::Tensor token_map(const torch::Tensor& tokens) const;

  void adapt_checkpoint(torch::OrderedDict<std::string, torch::Tensor>& state) override;
  torch::Tensor feature_map(const std::string& row, const torch::Tensor& output) const override;
  /// The second-to-last block: after the last one, only the class token reaches the top.
  std::string explain_layer() const override;

 protected:
  torch::Tensor forward_body(torch::Tensor x) override;
  torch::Tensor pool_token(const torch::Tensor& features) override;

 private:
  /// Patch tokens plus class token, position embedding added: the encoder's input.
  torch::Tensor embed(const torch::Tensor& x);

  VisionTransformerConfig config_;
  nn::Conv2d conv_proj_{nullptr};
  torch::Tensor class_token_, pos_embedding_;
  std::vector<nn::EncoderBlock> blocks_;
  std::vector<std::string> block_rows_;
  torch::nn::LayerNorm ln_{nullptr};
  nn::Linear head_{nullptr};
  std::vector<int64_t> pos_grid_;
  std::vector<int64_t> last_grid_;
  torch::Tensor last_class_token_;
};

namespace detail {
/// torchvision's weights for one ViT: IMAGENET1K_V1 (`v1` is the file's hash) and,
/// where they exist, the SWAG end-to-end weights at `swag_size` and the SWAG
/// linear-classifier weights at 224; `timm_name`: timm's name of the same network.
ModelSpec vit_spec(const std::string& name, int64_t patch_size, const std::string& v1, int64_t v1_resize,
                   const std::string& swag = "", int64_t swag_size = 0, const std::string& swag_linear = "",
                   const std::string& timm_name = "");
}  // namespace detail

namespace arch {
struct ViTB16 { using Impl = VisionTransformerImpl; static constexpr const char* name = "vit_b_16"; };
struct ViTB32 { using Impl = VisionTransformerImpl; static constexpr const char* name = "vit_b_32"; };
struct ViTL16 { using Impl = VisionTransformerImpl; static constexpr const char* name = "vit_l_16"; };
struct ViTL32 { using Impl = VisionTransformerImpl; static constexpr const char* name = "vit_l_32"; };
struct ViTH14 { using Impl = VisionTransformerImpl; static constexpr const char* name = "vit_h_14"; };
}  // namespace arch

namespace detail {
/// The vit variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> vit_variants() {
  return {
      variant<VisionTransformerImpl>(
          vit_spec("vit_b_16", 16, "c867db91", 256, "9ac1b537", 384, "4e70ced5", "vit_base_patch16_224"),
          VisionTransformerConfig()),
      variant<VisionTransformerImpl>(vit_spec("vit_b_32", 32, "d86f8d99", 256, "", 0, "", "vit_base_patch32_224"),
                                     VisionTransformerConfig().patch_size(32)),
      variant<VisionTransformerImpl>(
          vit_spec("vit_l_16", 16, "852ce7e3", 242, "4f3808c9", 512, "4d563306", "vit_large_patch16_224"),
          VisionTransformerConfig().num_layers(24).num_heads(16).hidden_dim(1024).mlp_dim(4096)),
      variant<VisionTransformerImpl>(
          vit_spec("vit_l_32", 32, "c7638314", 256),
          VisionTransformerConfig().patch_size(32).num_layers(24).num_heads(16).hidden_dim(1024).mlp_dim(4096)),
      variant<VisionTransformerImpl>(
          vit_spec("vit_h_14", 14, "", 0, "80465313", 518, "c1eb923e"),
          VisionTransformerConfig().patch_size(14).num_layers(32).num_heads(16).hidden_dim(1280).mlp_dim(5120)),
  };
}
}  // namespace detail

}  // namespace tlearn
