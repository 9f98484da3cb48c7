// Implementation of tlearn/models/swin.hpp.
#include <map>

#include "tlearn/core/error.hpp"
#include "tlearn/core/tap.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/swin.hpp"
#include "tlearn/nn/channel_order.hpp"
#include "tlearn/nn/mlp.hpp"

#include <cmath>

namespace tlearn::nn {

namespace {
using torch::indexing::None;
using torch::indexing::Slice;

/// torchvision's shifted_window_attention: pad to whole windows, roll by the shift,
/// attend within windows (masking pairs that came from different regions of the
/// rolled map), roll back, unpad.
torch::Tensor window_attention(const torch::Tensor& input, nn::Linear& qkv, nn::Linear& proj,
                               const torch::Tensor& bias, int64_t window, int64_t shift, int64_t heads,
                               const torch::Tensor& logit_scale) {
  const int64_t n = input.size(0), h = input.size(1), w = input.size(2), c = input.size(3);
  const int64_t pad_r = (window - w % window) % window, pad_b = (window - h % window) % window;
  auto x = torch::constant_pad_nd(input, {0, 0, 0, pad_r, 0, pad_b});
  const int64_t ph = x.size(1), pw = x.size(2);
  const int64_t shift_h = window >= ph ? 0 : shift, shift_w = window >= pw ? 0 : shift;
  if (shift_h + shift_w > 0) x = torch::roll(x, {-shift_h, -shift_w}, {1, 2});
  const int64_t windows = (ph / window) * (pw / window), tokens = window * window;
  x = x.view({n, ph / window, window, pw / window, window, c})
          .permute({0, 1, 3, 2, 4, 5})
          .reshape({n * windows, tokens, c});

  torch::Tensor projected;
  if (logit_scale.defined() && qkv->bias.defined()) {  // V2: no key bias
    auto qkv_bias = qkv->bias.clone();
    qkv_bias.narrow(0, c, c).zero_();
    projected = torch::linear(x, qkv->weight, qkv_bias);
  } else {
    projected = qkv(x);
  }
  auto t = projected.reshape({x.size(0), tokens, 3, heads, c / heads})
               .permute({2, 0, 3, 1, 4});
  auto q = t[0], k = t[1], v = t[2];
  torch::Tensor attn;
  if (logit_scale.defined()) {
    namespace F = torch::nn::functional;
    attn = torch::matmul(F::normalize(q, F::NormalizeFuncOptions().dim(-1)),
                         F::normalize(k, F::NormalizeFuncOptions().dim(-1)).transpose(-2, -1));
    attn = attn * torch::clamp(logit_scale, c10::nullopt, std::log(100.0)).exp();
  } else {
    attn = torch::matmul(q * std::pow(double(c / heads), -0.5), k.transpose(-2, -1));
  }
  attn = attn + bias;
  if (shift_h + shift_w > 0) {
    auto mask = x.new_zeros({ph, pw});
    const std::vector<std::pair<int64_t, int64_t>> hs = {
        {0, ph - window}, {ph - window, ph - shift_h}, {ph - shift_h, ph}};
    const std::vector<std::pair<int64_t, int64_t>> ws = {
        {0, pw - window}, {pw - window, pw - shift_w}, {pw - shift_w, pw}};
    int64_t region = 0;
    for (const auto& [h0, h1] : hs)
      for (const auto& [w0, w1] : ws) mask.index_put_({Slice(h0, h1), Slice(w0, w1)}, double(region++));
    mask = mask.view({ph / window, window, pw / window, window}).permute({0, 2, 1, 3}).reshape({windows, tokens});
    mask = mask.unsqueeze(1) - mask.unsqueeze(2);
    mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0);
    attn = attn.view({n, windows, heads, tokens, tokens}) + mask.unsqueeze(1).unsqueeze(0);
    attn = attn.view({-1, heads, tokens, tokens});
  }
  attn = torch::softmax(attn, -1);
  x = proj(torch::matmul(attn, v).transpose(1, 2).reshape({x.size(0), tokens, c}));
  x = x.view({n, ph / window, pw / window, window, window, c}).permute({0, 1, 3, 2, 4, 5}).reshape({n, ph, pw, c});
  if (shift_h + shift_w > 0) x = torch::roll(x, {shift_h, shift_w}, {1, 2});
  return x.index({Slice(), Slice(None, h), Slice(None, w), Slice()}).contiguous();
}
}  // namespace

ShiftedWindowAttentionImpl::ShiftedWindowAttentionImpl(int64_t dim, int64_t window, int64_t shift, int64_t num_heads,
                                                       bool v2)
    : window_(window), shift_(shift), num_heads_(num_heads), v2_(v2) {
  // state_dict order as torchvision's: own parameters, own buffers, then qkv, proj (and cpb_mlp).
  if (v2) {
    logit_scale_ = register_parameter("logit_scale", torch::log(10 * torch::ones({num_heads, 1, 1})));
    auto r = torch::arange(-(window - 1), window, torch::kFloat);
    auto table = torch::stack(torch::meshgrid({r, r}, "ij")).permute({1, 2, 0}).contiguous().unsqueeze(0);
    table = table / double(window - 1) * 8;  // normalised to -8..8
    table = torch::sign(table) * torch::log2(table.abs() + 1.0) / 3.0;
    relative_coords_table_ = register_buffer("relative_coords_table", table);
  } else {
    relative_position_bias_table_ = register_parameter("relative_position_bias_table",
                                                       torch::zeros({(2 * window - 1) * (2 * window - 1), num_heads}));
  }
  auto coords = torch::arange(window);
  auto grid = torch::stack(torch::meshgrid({coords, coords}, "ij")).flatten(1);  // 2, w*w
  auto relative = (grid.unsqueeze(2) - grid.unsqueeze(1)).permute({1, 2, 0}).contiguous();
  relative.select(2, 0).add_(window - 1).mul_(2 * window - 1);
  relative.select(2, 1).add_(window - 1);
  relative_position_index_ = register_buffer("relative_position_index", relative.sum(-1).flatten());
  qkv = register_module("qkv", nn::Linear(dim, dim * 3));
  proj = register_module("proj", nn::Linear(dim, dim));
  if (v2) {
    cpb_mlp_ = register_module(
        "cpb_mlp", torch::nn::Sequential(nn::Linear(2, 512), torch::nn::ReLU(),
                                         nn::Linear(torch::nn::LinearOptions(512, num_heads).bias(false))));
  } else {
    torch::NoGradGuard no_grad;
    relative_position_bias_table_.normal_(0, 0.02).clamp_(-2, 2);  // trunc_normal_(std=0.02)
  }
}

torch::Tensor ShiftedWindowAttentionImpl::relative_position_bias() {
  const int64_t tokens = window_ * window_;
  auto table = v2_ ? cpb_mlp_->forward(relative_coords_table_).view({-1, num_heads_}) : relative_position_bias_table_;
  auto bias =
      table.index_select(0, relative_position_index_).view({tokens, tokens, -1}).permute({2, 0, 1}).unsqueeze(0);
  return v2_ ? 16 * torch::sigmoid(bias) : bias;
}

torch::Tensor ShiftedWindowAttentionImpl::forward(const torch::Tensor& x) {
  return window_attention(x, qkv, proj, relative_position_bias(), window_, shift_, num_heads_,
                          v2_ ? logit_scale_ : torch::Tensor());
}

SwinBlockImpl::SwinBlockImpl(int64_t dim, int64_t num_heads, int64_t window, int64_t shift,
                             double stochastic_depth_prob, bool v2)
    : residual_(stochastic_depth_prob), v2_(v2) {
  norm1_ = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5)));
  attn_ = register_module("attn", ShiftedWindowAttention(dim, window, shift, num_heads, v2));
  norm2_ = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5)));
  mlp_ = register_module("mlp", transformer_mlp(dim, 4 * dim));
}

torch::Tensor SwinBlockImpl::forward(const torch::Tensor& input) {
  const bool training = is_training();
  if (v2_) {  // post-norm
    auto x = residual_(input, norm1_(attn_(input)), training);
    return residual_(x, norm2_(mlp_->forward(x)), training);
  }
  auto x = residual_(input, attn_(norm1_(input)), training);
  return residual_(x, mlp_->forward(norm2_(x)), training);
}

PatchMergingImpl::PatchMergingImpl(int64_t dim, bool v2) : v2_(v2) {
  reduction_ = register_module("reduction", nn::Linear(torch::nn::LinearOptions(4 * dim, 2 * dim).bias(false)));
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({v2 ? 2 * dim : 4 * dim})));
}

torch::Tensor PatchMergingImpl::forward(const torch::Tensor& input) {
  const int64_t h = input.size(1), w = input.size(2);
  auto x = torch::constant_pad_nd(input, {0, 0, 0, w % 2, 0, h % 2});
  auto part = [&](int64_t i, int64_t j) { return x.index({Slice(), Slice(i, None, 2), Slice(j, None, 2), Slice()}); };
  x = torch::cat({part(0, 0), part(1, 0), part(0, 1), part(1, 1)}, -1);  // (N, H/2, W/2, 4C)
  return v2_ ? norm_(reduction_(x)) : reduction_(norm_(x));
}

}  // namespace tlearn::nn

namespace tlearn {

namespace {
const std::string kSwinNormRow = "norm";
const std::string kSwinPermuteRow = "permute";
const std::string kSwinPoolRow = "avgpool";
const std::string kSwinHeadRow = "head";
}  // namespace

SwinTransformerImpl::SwinTransformerImpl(const SwinConfig& config, const ModelSpec& spec,
                                         const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  features_ = register_module("features", torch::nn::ModuleList());
  stem_ = torch::nn::Sequential(nn::Conv2d(torch::nn::Conv2dOptions(options.in_chans(), config.embed_dim(), 4).stride(4)),
                                nn::Permute(std::vector<int64_t>{0, 2, 3, 1}),
                                torch::nn::LayerNorm(torch::nn::LayerNormOptions({config.embed_dim()}).eps(1e-5)));
  features_->push_back(stem_);
  stem_rows_ = detail::add_sequential_layers(table_, "features.0", stem_);

  int64_t total = 0, block_id = 0, stride = 4;
  for (auto d : config.depths()) total += d;
  for (size_t i = 0; i < config.depths().size(); ++i) {
    const int64_t dim = config.embed_dim() << i;
    const std::string stage_path = "features." + std::to_string(features_->size());
    torch::nn::ModuleList stage;
    stages_.emplace_back();
    stage_rows_.emplace_back();
    for (int64_t j = 0; j < config.depths()[i]; ++j) {
      const double sd = drop_path_rate_or(config.stochastic_depth_prob()) * double(block_id++) / double(total - 1);
      nn::SwinBlock block(dim, config.num_heads()[i], config.window(), j % 2 == 0 ? 0 : config.window() / 2, sd, config.v2());
      stage->push_back(block);
      stages_.back().push_back(block);
      stage_rows_.back().push_back(stage_path + "." + std::to_string(j));
      table_.add(stage_rows_.back().back(), config.v2() ? "SwinTransformerBlockV2" : "SwinTransformerBlock",
                 {block.ptr()});
    }
    features_->push_back(stage);
    feature_info_.push_back({stage_rows_.back().back(), dim, stride});
    if (i + 1 < config.depths().size()) {
      nn::PatchMerging merge(dim, config.v2());
      merge_rows_.push_back("features." + std::to_string(features_->size()));
      features_->push_back(merge);
      merges_.push_back(merge);
      table_.add(merge_rows_.back(), config.v2() ? "PatchMergingV2" : "PatchMerging", {merge.ptr()});
      stride *= 2;
    }
  }
  output_channels_ = config.embed_dim() << (config.depths().size() - 1);
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({output_channels_}).eps(1e-5)));
  table_.add(kSwinNormRow, "LayerNorm", {norm_.ptr()});
  table_.add(kSwinPermuteRow, "Permute");
  if (options.include_top()) {
    head_ = register_module("head", nn::Linear(output_channels_, options.classes()));
    top_.mean(kSwinPoolRow).module(kSwinHeadRow, head_).add_rows(table_);
  }

  // torchvision: every Linear trunc_normal_(std=0.02) with zero bias, after the blocks' own init.
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false))
    if (auto* linear = m->as<torch::nn::Linear>()) {
      linear->weight.normal_(0, 0.02).clamp_(-2, 2);
      if (linear->bias.defined()) linear->bias.zero_();
    }
}

torch::Tensor SwinTransformerImpl::forward_body(torch::Tensor x) {
  x = detail::forward_sequential(stem_, stem_rows_, std::move(x));
  for (size_t i = 0; i < stages_.size(); ++i) {
    for (size_t j = 0; j < stages_[i].size(); ++j) {
      x = stages_[i][j]->forward(x);
      tap(stage_rows_[i][j], x);
    }
    if (i < merges_.size()) {
      x = merges_[i]->forward(x);
      tap(merge_rows_[i], x);
    }
  }
  x = norm_(x);
  tap(kSwinNormRow, x);
  x = x.permute({0, 3, 1, 2});
  tap(kSwinPermuteRow, x);
  return x;
}

torch::Tensor SwinTransformerImpl::feature_map(const std::string& row, const torch::Tensor& output) const {
  const bool channels_first = row == stem_rows_.front() || row == kSwinPermuteRow;
  return output.dim() == 4 && !channels_first ? output.permute({0, 3, 1, 2}) : output;
}

namespace detail {

ModelSpec swin_spec(const std::string& name, const std::string& hash, int64_t resize, int64_t crop) {
  ModelSpec s;
  s.name = name;
  s.family = "swin";
  s.default_size = crop;
  s.first_conv = "features.0.0.weight";
  s.top_modules = {"head"};
  s.classifier_modules = {"head"};
  s.block_pattern = R"(^features\.([1357]\.\d+|[246])$)";  // blocks and patch mergings, not the stem
  // timm's Swin (V1): a stage's patch merging opens the next stage there.
  static const std::map<std::string, std::string> timm_names = {{"swin_t", "swin_tiny_patch4_window7_224"},
                                                                {"swin_s", "swin_small_patch4_window7_224"},
                                                                {"swin_b", "swin_base_patch4_window7_224"}};
  if (auto it = timm_names.find(name); it != timm_names.end()) {
    s.timm_architectures = {{it->second}};
    s.timm_keys = {{"^features\\.0\\.0\\.", "patch_embed.proj."},
                   {"^features\\.0\\.2\\.", "patch_embed.norm."},
                   {"^features\\.1\\.", "layers.0.blocks."}, {"^features\\.2\\.", "layers.1.downsample."},
                   {"^features\\.3\\.", "layers.1.blocks."}, {"^features\\.4\\.", "layers.2.downsample."},
                   {"^features\\.5\\.", "layers.2.blocks."}, {"^features\\.6\\.", "layers.3.downsample."},
                   {"^features\\.7\\.", "layers.3.blocks."},
                   {"\\.mlp\\.0\\.", ".mlp.fc1."},
                   {"\\.mlp\\.3\\.", ".mlp.fc2."},
                   {"^head\\.", "head.fc."}};
    s.timm_unsaved = {".*\\.relative_position_index"};
  }
  s.weights.push_back(
      torchvision_weights("IMAGENET1K_V1", name + "-" + hash + ".pth", {resize, crop, Interpolation::Bicubic}));
  return s;
}

}  // namespace detail

}  // namespace tlearn
