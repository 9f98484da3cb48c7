// Implementation of tlearn/models/convnext.hpp.
#include "tlearn/models/convnext.hpp"

namespace tlearn::nn {

LayerNorm2dImpl::LayerNorm2dImpl(int64_t channels, double eps) : channels_(channels), eps_(eps) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

CNBlockImpl::CNBlockImpl(LayerTable& table, const std::string& prefix, int64_t dim, double layer_scale,
                         double stochastic_depth_prob)
    : stochastic_depth_prob_(stochastic_depth_prob) {
  layer_scale_ = register_parameter("layer_scale", torch::full({dim, 1, 1}, layer_scale));
  block_ = register_module(
      "block", torch::nn::Sequential(nn::Conv2d(torch::nn::Conv2dOptions(dim, dim, 7).padding(3).groups(dim)),
                                     Permute(std::vector<int64_t>{0, 2, 3, 1}),
                                     torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)),
                                     nn::Linear(dim, 4 * dim), torch::nn::GELU(),
                                     nn::Linear(4 * dim, dim), Permute(std::vector<int64_t>{0, 3, 1, 2})));
  taps_ = detail::add_sequential_layers(table, prefix + ".block", block_);
  scale_tap_ = prefix + ".layer_scale";
  drop_tap_ = prefix + ".stochastic_depth";
  add_tap_ = prefix + ".add";
  table.add(scale_tap_, "LayerScale", {ParameterRow("layer_scale", layer_scale_).ptr()});
  table.add(drop_tap_, "StochasticDepth");
  table.add(add_tap_, "Add");
}

torch::Tensor CNBlockImpl::forward(const torch::Tensor& input) {
  auto x = layer_scale_ * detail::forward_sequential(block_, taps_, input);
  tap(scale_tap_, x);
  x = detail::stochastic_depth_row(x, stochastic_depth_prob_, is_training());
  tap(drop_tap_, x);
  x = x + input;
  tap(add_tap_, x);
  return x;
}

}  // namespace tlearn::nn

namespace tlearn {

ConvNeXtImpl::ConvNeXtImpl(const ConvNeXtConfig& config, const ModelSpec& spec, const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  const auto& dims = config.dims;
  features_ = register_module("features", torch::nn::ModuleList());
  // Stem: Conv2dNormActivation(k=4, s=4, bias, LayerNorm2d, no activation).
  auto stem = torch::nn::Sequential(nn::Conv2d(torch::nn::Conv2dOptions(options.in_chans(), dims[0], 4).stride(4)),
                                    nn::LayerNorm2d(dims[0]));
  features_->push_back(stem);
  parts_.push_back({stem, detail::add_sequential_layers(table_, "features.0", stem), {}});

  int64_t total_blocks = 0, block_id = 0, stride = 4;
  for (auto d : config.depths) total_blocks += d;
  for (size_t i = 0; i < dims.size(); ++i) {
    const std::string stage_path = "features." + std::to_string(features_->size());
    torch::nn::ModuleList stage;
    Part part;
    for (int64_t j = 0; j < config.depths[i]; ++j) {
      const double sd = drop_path_rate_or(config.stochastic_depth_prob) * static_cast<double>(block_id++) /
                        (static_cast<double>(total_blocks) - 1.0);
      auto block = nn::CNBlock(table_, stage_path + "." + std::to_string(j), dims[i], config.layer_scale, sd);
      stage->push_back(block);
      part.blocks.push_back(block);
    }
    features_->push_back(stage);
    feature_info_.push_back({part.blocks.back()->output_tap(), dims[i], stride});
    parts_.push_back(std::move(part));
    if (i + 1 < dims.size()) {
      auto down = torch::nn::Sequential(nn::LayerNorm2d(dims[i]),
                                        nn::Conv2d(torch::nn::Conv2dOptions(dims[i], dims[i + 1], 2).stride(2)));
      const std::string down_path = "features." + std::to_string(features_->size());
      features_->push_back(down);
      parts_.push_back({down, detail::add_sequential_layers(table_, down_path, down), {}});
      stride *= 2;
    }
  }
  output_channels_ = dims.back();

  if (options.include_top()) {
    classifier_ =
        register_module("classifier", torch::nn::Sequential(nn::LayerNorm2d(output_channels_), torch::nn::Flatten(),
                                                            nn::Linear(output_channels_, options.classes())));
    table_.add("avgpool", "AdaptiveAvgPool2d");
    top_taps_ = detail::add_sequential_layers(table_, "classifier", classifier_);
  }

  // torchvision: trunc_normal_(std=0.02) (truncated at +-2, i.e. 100 sigma) and zero bias
  // for convs and linears; LayerNorm at 1 / 0.
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      conv->weight.normal_(0, 0.02);
      conv->bias.zero_();
    } else if (auto* linear = m->as<torch::nn::Linear>()) {
      linear->weight.normal_(0, 0.02);
      linear->bias.zero_();
    }
  }
}

torch::Tensor ConvNeXtImpl::forward_body(torch::Tensor x) {
  for (auto& part : parts_) {
    if (part.seq) {
      x = detail::forward_sequential(part.seq, part.taps, std::move(x));
    } else {
      for (auto& block : part.blocks) x = block->forward(x);
    }
  }
  return x;
}

torch::Tensor ConvNeXtImpl::forward_top(torch::Tensor x) {
  x = torch::adaptive_avg_pool2d(x, {1, 1});
  tap("avgpool", x);
  return detail::forward_sequential(classifier_, top_taps_, std::move(x));
}

}  // namespace tlearn
