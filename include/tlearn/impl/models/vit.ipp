// Implementation of tlearn/models/vit.hpp.
#include "tlearn/core/error.hpp"
#include "tlearn/core/tap.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/vit.hpp"
#include "tlearn/nn/mlp.hpp"
#include "tlearn/nn/parameter_row.hpp"

#include <cmath>

namespace tlearn::nn {

EncoderBlockImpl::EncoderBlockImpl(int64_t hidden_dim, int64_t num_heads, int64_t mlp_dim, double drop_path)
    : residual_(drop_path) {
  ln_1 = register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden_dim}).eps(1e-6)));
  self_attention = register_module("self_attention", MultiheadSelfAttention(hidden_dim, num_heads));
  ln_2 = register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden_dim}).eps(1e-6)));
  mlp = register_module("mlp", transformer_mlp(hidden_dim, mlp_dim));
}

torch::Tensor EncoderBlockImpl::forward(const torch::Tensor& input) {
  const bool training = is_training();
  auto x = residual_(input, self_attention(ln_1(input)), training);
  return residual_(x, mlp->forward(ln_2(x)), training);
}

torch::Tensor resize_position_embedding(const torch::Tensor& pos, std::vector<int64_t> hw,
                                        std::vector<int64_t> from_hw) {
  TORCH_CHECK(pos.dim() == 3 && pos.size(0) == 1, "position embedding must be (1, 1 + h * w, C), got ", pos.sizes());
  const int64_t n = pos.size(1) - 1, channels = pos.size(2);
  if (from_hw.empty()) {
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(double(n))));
    if (side * side != n)
      throw Error("position embedding of " + std::to_string(n) + " patches is not a square grid; give its {h, w}");
    from_hw = {side, side};
  }
  if (from_hw == hw) return pos;
  auto grid = pos.narrow(1, 1, n).permute({0, 2, 1}).reshape({1, channels, from_hw[0], from_hw[1]});
  grid = torch::nn::functional::interpolate(
      grid, torch::nn::functional::InterpolateFuncOptions().size(hw).mode(torch::kBicubic).align_corners(true));
  return torch::cat({pos.narrow(1, 0, 1), grid.reshape({1, channels, hw[0] * hw[1]}).permute({0, 2, 1})}, 1);
}

}  // namespace tlearn::nn

namespace tlearn {

namespace {
const std::string kClassTokenRow = "class_token";
const std::string kPositionRow = "encoder.pos_embedding";
const std::string kFinalNormRow = "encoder.ln";
const std::string kHeadRow = "heads.head";
}  // namespace

VisionTransformerImpl::VisionTransformerImpl(const VisionTransformerConfig& config, const ModelSpec& spec,
                                             const BackboneOptions& options)
    : BackboneImpl(spec, options), config_(config) {
  const int64_t p = config.patch_size(), dim = config.hidden_dim();
  const auto hw = input_shape();
  if (hw[0] % p != 0 || hw[1] % p != 0)
    throw Error(spec.name + ": input_shape {" + std::to_string(hw[0]) + ", " + std::to_string(hw[1]) +
                "} is not a multiple of the patch size " + std::to_string(p) + "; use e.g. {" +
                std::to_string(hw[0] / p * p) + ", " + std::to_string(hw[1] / p * p) + "}");
  pos_grid_ = {hw[0] / p, hw[1] / p};

  // Own parameters first, as torchvision's state_dict lists them.
  class_token_ = register_parameter("class_token", torch::zeros({1, 1, dim}));
  conv_proj_ = register_module("conv_proj", nn::Conv2d(torch::nn::Conv2dOptions(options.in_chans(), dim, p).stride(p)));
  auto encoder = register_module("encoder", std::make_shared<torch::nn::Module>("Encoder"));
  pos_embedding_ = encoder->register_parameter(
      "pos_embedding", torch::empty({1, 1 + pos_grid_[0] * pos_grid_[1], dim}).normal_(0, 0.02));  // from BERT
  auto layers = encoder->register_module("layers", std::make_shared<torch::nn::Module>("Sequential"));

  table_.add("conv_proj", "Conv2d", {conv_proj_.ptr()}, "patch_embedding");
  table_.add(kClassTokenRow, "ClassToken", {nn::ParameterRow("class_token", class_token_).ptr()});
  table_.add(kPositionRow, "PositionEmbedding", {nn::ParameterRow("pos_embedding", pos_embedding_).ptr()});
  for (int64_t i = 0; i < config.num_layers(); ++i) {
    const std::string name = "encoder_layer_" + std::to_string(i);
    // timm's rule: drop path grows linearly from 0 at the first block to the rate at the last.
    const double drop_path =
        config.num_layers() > 1 ? drop_path_rate_or(0.0) * double(i) / double(config.num_layers() - 1) : 0.0;
    nn::EncoderBlock block(dim, config.num_heads(), config.mlp_dim(), drop_path);
    layers->register_module(name, block);
    blocks_.push_back(block);
    block_rows_.push_back("encoder.layers." + name);
    table_.add(block_rows_.back(), "EncoderBlock", {block.ptr()}, name);
    feature_info_.push_back({block_rows_.back(), dim, p});
  }
  ln_ = encoder->register_module("ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)));
  table_.add(kFinalNormRow, "LayerNorm", {ln_.ptr()}, "encoder_norm");
  output_channels_ = dim;

  if (options.include_top()) {
    auto heads = register_module("heads", std::make_shared<torch::nn::Module>("Sequential"));
    head_ = heads->register_module("head", nn::Linear(dim, options.classes()));
    // The body returns the token map; the head reads the class token it kept.
    top_.step([this](const torch::Tensor&) { return last_class_token_; })
        .module(kHeadRow, head_, "head", "Linear")
        .add_rows(table_);
  }

  // torchvision: the patchify conv truncated-normal with std sqrt(1 / fan_in) (cut at
  // +-2, i.e. far out in the tail), zero head.
  torch::NoGradGuard no_grad;
  conv_proj_->weight.normal_(0, std::sqrt(1.0 / double(options.in_chans() * p * p))).clamp_(-2, 2);
  conv_proj_->bias.zero_();
  if (head_) {
    head_->weight.zero_();
    head_->bias.zero_();
  }
}

torch::Tensor VisionTransformerImpl::embed(const torch::Tensor& x) {
  const int64_t p = config_.patch_size();
  if (x.size(2) % p != 0 || x.size(3) % p != 0)
    throw Error(spec().name + ": input " + std::to_string(x.size(2)) + "x" + std::to_string(x.size(3)) +
                " is not a multiple of the patch size " + std::to_string(p) + "; resize or crop to " +
                std::to_string(x.size(2) / p * p) + "x" + std::to_string(x.size(3) / p * p));
  auto patches = conv_proj_(x);  // (N, C, h, w)
  tap("conv_proj", patches);
  last_grid_ = {patches.size(2), patches.size(3)};
  auto tokens = patches.flatten(2).transpose(1, 2);  // (N, h * w, C)
  tokens = torch::cat({class_token_.expand({x.size(0), -1, -1}).to(tokens.dtype()), tokens}, 1);
  tap(kClassTokenRow, tokens);
  tokens = tokens + nn::resize_position_embedding(pos_embedding_, last_grid_, pos_grid_).to(tokens.dtype());
  tap(kPositionRow, tokens);
  return tokens;
}

torch::Tensor VisionTransformerImpl::forward_body(torch::Tensor x) {
  auto tokens = embed(x);
  for (size_t i = 0; i < blocks_.size(); ++i) {
    tokens = blocks_[i]->forward(tokens);
    tap(block_rows_[i], tokens);
  }
  tokens = ln_(tokens);
  tap(kFinalNormRow, tokens);
  last_class_token_ = tokens.select(1, 0);
  return token_map(tokens);
}

torch::Tensor VisionTransformerImpl::pool_token(const torch::Tensor&) { return last_class_token_; }

torch::Tensor VisionTransformerImpl::token_map(const torch::Tensor& tokens) const {
  TORCH_CHECK(tokens.dim() == 3 && !last_grid_.empty() && tokens.size(1) == 1 + last_grid_[0] * last_grid_[1],
              "token_map: expected (N, 1 + h * w, C) tokens of the last forward pass, got ", tokens.sizes());
  return tokens.narrow(1, 1, tokens.size(1) - 1)
      .transpose(1, 2)
      .reshape({tokens.size(0), tokens.size(2), last_grid_[0], last_grid_[1]});
}

torch::Tensor VisionTransformerImpl::feature_map(const std::string& row, const torch::Tensor& output) const {
  return output.dim() == 3 && row != kHeadRow ? token_map(output) : output;
}

torch::Tensor VisionTransformerImpl::attention_weights(const torch::Tensor& x, int64_t block) {
  if (block < 0 || block >= static_cast<int64_t>(blocks_.size()))
    throw Error(spec().name + ": attention_weights block " + std::to_string(block) + " is outside 0.." +
                std::to_string(blocks_.size() - 1));
  // The block's input, from one pass that stops there.
  const std::string before = block == 0 ? kPositionRow : block_rows_[size_t(block - 1)];
  auto tokens = forward_features(x, {before}).at(0);
  auto& b = blocks_[size_t(block)];
  return b->self_attention->attention_weights(b->ln_1(tokens));
}

std::vector<torch::Tensor> VisionTransformerImpl::attention_weights(const torch::Tensor& x) {
  std::vector<std::string> inputs = {kPositionRow};  // each block's input
  inputs.insert(inputs.end(), block_rows_.begin(), block_rows_.end() - 1);
  auto tokens = forward_features(x, inputs);
  std::vector<torch::Tensor> weights;
  for (size_t i = 0; i < blocks_.size(); ++i)
    weights.push_back(blocks_[i]->self_attention->attention_weights(blocks_[i]->ln_1(tokens[i])));
  return weights;
}

std::string VisionTransformerImpl::explain_layer() const {
  return block_rows_.size() > 1 ? block_rows_[block_rows_.size() - 2] : kPositionRow;
}

void VisionTransformerImpl::adapt_checkpoint(torch::OrderedDict<std::string, torch::Tensor>& state) {
  auto* theirs = state.find(kPositionRow);
  if (theirs == nullptr || theirs->sizes() == pos_embedding_.sizes()) return;
  if (theirs->dim() != 3 || theirs->size(2) != pos_embedding_.size(2)) return;  // load_state_dict reports it
  if (options().input_shape().empty()) {
    // No size was asked for: take the weights' grid (SWAG files are trained at 384-518).
    const auto n = theirs->size(1) - 1;
    const auto side = static_cast<int64_t>(std::llround(std::sqrt(double(n))));
    if (side * side != n) throw Error(spec().name + ": the weights' position embedding is not a square grid");
    torch::NoGradGuard no_grad;
    pos_embedding_.set_data(torch::empty_like(*theirs));
    pos_grid_ = {side, side};
  } else {
    *theirs = nn::resize_position_embedding(*theirs, pos_grid_);
  }
}

namespace detail {

ModelSpec vit_spec(const std::string& name, int64_t patch_size, const std::string& v1, int64_t v1_resize,
                   const std::string& swag, int64_t swag_size, const std::string& swag_linear,
                   const std::string& timm_name) {
  ModelSpec s;
  s.name = name;
  s.family = "vit";
  s.first_conv = "conv_proj.weight";
  s.top_modules = {"heads"};
  s.classifier_modules = {"heads.head"};
  s.block_pattern = R"(^encoder\.layers\.encoder_layer_\d+)";
  s.min_size = patch_size;  // one patch
  if (!timm_name.empty()) {
    s.timm_architectures = {{timm_name}};
    s.timm_keys = {{"^class_token$", "cls_token"},
                   {"^conv_proj\\.", "patch_embed.proj."},
                   {"^encoder\\.pos_embedding$", "pos_embed"},
                   {"^encoder\\.layers\\.encoder_layer_(\\d+)\\.", "blocks.$1."},
                   {"\\.ln_1\\.", ".norm1."},
                   {"\\.ln_2\\.", ".norm2."},
                   {"\\.self_attention\\.in_proj_(weight|bias)$", ".attn.qkv.$1"},
                   {"\\.self_attention\\.out_proj\\.", ".attn.proj."},
                   {"\\.mlp\\.0\\.", ".mlp.fc1."},
                   {"\\.mlp\\.3\\.", ".mlp.fc2."},
                   {"^encoder\\.ln\\.", "norm."},
                   {"^heads\\.head\\.", "head."}};
  }
  auto add = [&](const std::string& tag, const std::string& file, int64_t resize, int64_t crop,
                 Interpolation interpolation) {
    s.weights.push_back(torchvision_weights(tag, file, {resize, crop, interpolation}));
  };
  // torchvision's DEFAULT first: IMAGENET1K_V1, or SWAG end-to-end for vit_h_14.
  if (!v1.empty()) add("IMAGENET1K_V1", name + "-" + v1 + ".pth", v1_resize, 224, Interpolation::Bilinear);
  if (!swag.empty()) {
    add("IMAGENET1K_SWAG_E2E_V1", name + "_swag-" + swag + ".pth", swag_size, swag_size, Interpolation::Bicubic);
    add("IMAGENET1K_SWAG_LINEAR_V1", name + "_lc_swag-" + swag_linear + ".pth", 224, 224, Interpolation::Bicubic);
  }
  return s;
}

}  // namespace detail

}  // namespace tlearn
