// Implementation of tlearn/models/maxvit.hpp.
#include "tlearn/core/error.hpp"
#include "tlearn/core/tap.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/maxvit.hpp"

#include <cmath>

namespace tlearn::nn {

namespace {

/// torchvision's MaxViT BatchNorm: eps 1e-3 and momentum 0.99 (its own convention, kept
/// so that fine-tuning updates running statistics exactly as torchvision does).
torch::nn::BatchNormOptions maxvit_norm(int64_t channels) {
  return torch::nn::BatchNormOptions(channels).eps(1e-3).momentum(0.99);
}

/// (N, C, H, W) into groups of cells of ch x cw neighbours: (N, (H/ch)(W/cw), ch*cw, C).
torch::Tensor partition(const torch::Tensor& x, int64_t ch, int64_t cw) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  return x.reshape({n, c, h / ch, ch, w / cw, cw})
      .permute({0, 2, 4, 3, 5, 1})
      .reshape({n, (h / ch) * (w / cw), ch * cw, c});
}

/// The inverse of partition() for a map of (H, W).
torch::Tensor departition(const torch::Tensor& x, int64_t ch, int64_t cw, int64_t h, int64_t w) {
  const int64_t n = x.size(0), c = x.size(3);
  return x.reshape({n, h / ch, w / cw, ch, cw, c}).permute({0, 5, 1, 3, 2, 4}).reshape({n, c, h, w});
}

}  // namespace

MaxVitMBConvImpl::MaxVitMBConvImpl(int64_t in, int64_t out, int64_t stride, double stochastic_depth_prob)
    : residual_(stochastic_depth_prob) {
  if (stride != 1 || in != out) {
    proj_ = torch::nn::Sequential();
    if (stride == 2) proj_->push_back(torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(3).stride(2).padding(1)));
    proj_->push_back(Conv2d(torch::nn::Conv2dOptions(in, out, 1)));
    register_module("proj", proj_);
  }
  const int64_t mid = out * 4, squeeze = out / 4;
  auto conv_norm_gelu = [](int64_t from, int64_t to, int64_t kernel) {
    return ConvNormActOptions(from, to, kernel).eps(1e-3).momentum(0.99).activation(Activation::GELU);
  };
  layers_ = register_module("layers", torch::nn::Sequential());
  layers_->push_back("pre_norm", BatchNorm2d(maxvit_norm(in)));
  layers_->push_back("conv_a", ConvNormAct(conv_norm_gelu(in, mid, 1)));
  layers_->push_back("conv_b", ConvNormAct(conv_norm_gelu(mid, mid, 3).stride(stride).groups(mid)));
  layers_->push_back("squeeze_excitation",
                     SqueezeExcitation(SqueezeExcitationOptions(mid, squeeze).activation(Activation::SiLU)));
  layers_->push_back("conv_c", Conv2d(torch::nn::Conv2dOptions(mid, out, 1)));
}

torch::Tensor MaxVitMBConvImpl::forward(const torch::Tensor& x) {
  auto shortcut = proj_ ? proj_->forward(x) : x;
  return residual_(shortcut, layers_->forward(x), is_training());
}

RelativePositionAttentionImpl::RelativePositionAttentionImpl(int64_t dim, int64_t head_dim, int64_t size)
    : heads_(dim / head_dim), head_dim_(head_dim), tokens_(size * size) {
  if (dim % head_dim != 0)
    throw Error("maxvit: the width " + std::to_string(dim) + " is not a multiple of the head width " +
                std::to_string(head_dim) + "; choose block channels divisible by head_dim");
  // state_dict order as torchvision's: own parameter and buffer, then to_qkv and merge.
  relative_position_bias_table_ =
      register_parameter("relative_position_bias_table", torch::zeros({(2 * size - 1) * (2 * size - 1), heads_}));
  auto coords = torch::arange(size);
  auto grid = torch::stack(torch::meshgrid({coords, coords}, "ij")).flatten(1);  // 2, size*size
  auto relative = (grid.unsqueeze(2) - grid.unsqueeze(1)).permute({1, 2, 0}).contiguous();
  relative.select(2, 0).add_(size - 1).mul_(2 * size - 1);
  relative.select(2, 1).add_(size - 1);
  relative_position_index_ = register_buffer("relative_position_index", relative.sum(-1));
  to_qkv_ = register_module("to_qkv", nn::Linear(dim, 3 * dim));
  merge_ = register_module("merge", nn::Linear(dim, dim));
  torch::NoGradGuard no_grad;
  relative_position_bias_table_.normal_(0, 0.02).clamp_(-2, 2);  // trunc_normal_(std=0.02)
}

torch::Tensor RelativePositionAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), g = x.size(1), p = x.size(2), d = x.size(3);
  auto qkv = to_qkv_(x).chunk(3, -1);
  auto heads = [&](const torch::Tensor& t) { return t.reshape({b, g, p, heads_, head_dim_}).permute({0, 1, 3, 2, 4}); };
  auto q = heads(qkv[0]), k = heads(qkv[1]) * std::pow(double(d), -0.5), v = heads(qkv[2]);
  auto bias = relative_position_bias_table_.index_select(0, relative_position_index_.flatten())
                  .view({tokens_, tokens_, -1})
                  .permute({2, 0, 1});  // heads, tokens, tokens
  auto attn = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) + bias, -1);
  return merge_(torch::matmul(attn, v).permute({0, 1, 3, 2, 4}).reshape({b, g, p, d}));
}

PartitionAttentionImpl::PartitionAttentionImpl(int64_t dim, int64_t head_dim, int64_t partition, bool grid,
                                               double stochastic_depth_prob)
    : partition_(partition), grid_(grid), residual_(stochastic_depth_prob) {
  attn_layer_ =
      register_module("attn_layer", torch::nn::Sequential(torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})),
                                                          RelativePositionAttention(dim, head_dim, partition),
                                                          torch::nn::Dropout(0.0)));
  mlp_layer_ =
      register_module("mlp_layer", torch::nn::Sequential(torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})),
                                                         nn::Linear(dim, 4 * dim), torch::nn::GELU(),
                                                         nn::Linear(4 * dim, dim), torch::nn::Dropout(0.0)));
}

torch::Tensor PartitionAttentionImpl::forward(const torch::Tensor& input) {
  const int64_t h = input.size(2), w = input.size(3);
  // window: cells of partition x partition neighbours; grid: a partition x partition grid
  // of cells, each token attending to the tokens at the same place in the other cells.
  const int64_t ch = grid_ ? h / partition_ : partition_, cw = grid_ ? w / partition_ : partition_;
  auto x = partition(input, ch, cw);
  if (grid_) x = x.transpose(1, 2);
  const bool training = is_training();
  x = residual_(x, attn_layer_->forward(x), training);
  x = residual_(x, mlp_layer_->forward(x), training);
  if (grid_) x = x.transpose(1, 2);
  return departition(x, ch, cw, h, w);
}

}  // namespace tlearn::nn

namespace tlearn {

MaxVitImpl::MaxVitImpl(const MaxVitConfig& config, const ModelSpec& spec, const BackboneOptions& options)
    : BackboneImpl(spec, options), partition_(config.partition_size()) {
  auto stem = register_module("stem", torch::nn::Sequential());
  stem_conv_ = nn::ConvNormAct(nn::ConvNormActOptions(options.in_chans(), config.stem_channels(), 3)
                                   .stride(2)
                                   .eps(1e-3)
                                   .momentum(0.99)
                                   .activation(nn::Activation::GELU));
  stem_proj_ = nn::NestedSequential(
      nn::Conv2d(torch::nn::Conv2dOptions(config.stem_channels(), config.stem_channels(), 3).padding(1)));
  stem->push_back(stem_conv_);
  stem->push_back(stem_proj_);
  stem_conv_->add_rows(table_, "stem.0");
  stem_proj_row_ = "stem.1.0";
  table_.add(stem_proj_row_, "Conv2d", {stem_proj_->ptr(0)});

  int64_t total = 0, layer_id = 0, stride = 2, in = config.stem_channels();
  for (auto n : config.block_layers()) total += n;
  auto blocks = register_module("blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < config.block_channels().size(); ++i) {
    const int64_t out = config.block_channels()[i];
    auto layers = torch::nn::ModuleList();
    for (int64_t j = 0; j < config.block_layers()[i]; ++j) {
      // numpy.linspace(0, p, total): the first layer never drops, the last at p.
      const double sd =
          total > 1 ? drop_path_rate_or(config.stochastic_depth_prob()) * double(layer_id++) / double(total - 1) : 0.0;
      const std::string path = "blocks." + std::to_string(i) + ".layers." + std::to_string(j) + ".layers.";
      nn::MaxVitMBConv mbconv(j == 0 ? in : out, out, j == 0 ? 2 : 1, sd);
      nn::PartitionAttention window(out, config.head_dim(), config.partition_size(), /*grid=*/false, sd);
      nn::PartitionAttention grid(out, config.head_dim(), config.partition_size(), /*grid=*/true, sd);
      auto layer = torch::nn::Sequential();
      layer->push_back("MBconv", mbconv);
      layer->push_back("window_attention", window);
      layer->push_back("grid_attention", grid);
      steps_.push_back({path + "MBconv", torch::nn::AnyModule(mbconv), false});
      steps_.push_back({path + "window_attention", torch::nn::AnyModule(window), true});
      steps_.push_back({path + "grid_attention", torch::nn::AnyModule(grid), true});
      table_.add(path + "MBconv", "MBConv", {mbconv.ptr()});
      table_.add(path + "window_attention", "PartitionAttentionLayer", {window.ptr()});
      table_.add(path + "grid_attention", "PartitionAttentionLayer", {grid.ptr()});
      auto holder = std::make_shared<torch::nn::Module>("MaxVitLayer");
      holder->register_module("layers", layer);
      layers->push_back(holder);
    }
    auto block = std::make_shared<torch::nn::Module>("MaxVitBlock");
    block->register_module("layers", layers);
    blocks->push_back(block);
    stride *= 2;
    feature_info_.push_back({steps_.back().row, out, stride});
    in = out;
  }
  output_channels_ = in;

  if (options.include_top()) {
    classifier_ = register_module(
        "classifier",
        torch::nn::Sequential(
            torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(1)), torch::nn::Flatten(),
            torch::nn::LayerNorm(torch::nn::LayerNormOptions({output_channels_})),
            nn::Linear(output_channels_, output_channels_), torch::nn::Tanh(),
            nn::Linear(torch::nn::LinearOptions(output_channels_, options.classes()).bias(false))));
    top_.sequential("classifier", classifier_).add_rows(table_);
  }

  // torchvision's _init_weights: convs and linears normal(std=0.02) with zero bias.
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      conv->weight.normal_(0, 0.02);
      if (conv->bias.defined()) conv->bias.zero_();
    } else if (auto* linear = m->as<torch::nn::Linear>()) {
      linear->weight.normal_(0, 0.02);
      if (linear->bias.defined()) linear->bias.zero_();
    }
  }
}

torch::Tensor MaxVitImpl::forward_body(torch::Tensor x) {
  const int64_t height = x.size(2), width = x.size(3);
  x = stem_conv_->forward(x);
  x = stem_proj_->forward(x);
  tap(stem_proj_row_, x);
  for (auto& step : steps_) {
    if (step.attention && (x.size(2) % partition_ != 0 || x.size(3) % partition_ != 0))
      throw Error(spec().name + ": a " + std::to_string(height) + "x" + std::to_string(width) + " input gives a " +
                  std::to_string(x.size(2)) + "x" + std::to_string(x.size(3)) + " map at " + step.row +
                  ", which does not split into " + std::to_string(partition_) + "x" + std::to_string(partition_) +
                  " windows; use a side of 32 * " + std::to_string(partition_) + " = " +
                  std::to_string(32 * partition_) + " or a multiple of it");
    x = step.module.forward(x);
    tap(step.row, x);
  }
  return x;
}

namespace detail {

ModelSpec maxvit_spec(const std::string& name, const std::string& hash) {
  ModelSpec s;
  s.name = name;
  s.family = "maxvit";
  s.default_size = 224;
  s.min_size = 224;  // smaller inputs leave maps that do not split into 7x7 windows
  s.first_conv = "stem.0.0.weight";
  s.top_modules = {"classifier"};
  s.classifier_modules = {"classifier.5"};
  s.block_pattern = R"(^blocks\.\d+\.layers\.\d+)";  // a MaxVit layer: MBconv, window and grid attention
  s.weights.push_back(
      torchvision_weights("IMAGENET1K_V1", name + "-" + hash + ".pth", {224, 224, Interpolation::Bicubic}));
  return s;
}

}  // namespace detail

}  // namespace tlearn
