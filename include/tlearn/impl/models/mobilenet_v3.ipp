// Implementation of tlearn/models/mobilenet_v3.hpp.
#include "tlearn/models/mobilenet_v3.hpp"

namespace tlearn {

torch::Tensor MobileNetV3SqueezeExcitationImpl::forward(const torch::Tensor& x) {
  auto s = torch::adaptive_avg_pool2d(x, {1, 1});
  tap(names_[0], s);
  s = fc1_(s);
  tap(names_[1], s);
  s = torch::relu(s);
  tap(names_[2], s);
  s = fc2_(s);
  tap(names_[3], s);
  s = torch::hardsigmoid(s);
  tap(names_[4], s);
  auto y = s * x;
  tap(names_[5], y);
  return y;
}

MobileNetV3BlockImpl::MobileNetV3BlockImpl(const MobileNetV3BlockConfig& c, LayerTable& table,
                                           const std::string& name) {
  auto activation = [&] {
    return c.hardswish ? torch::nn::AnyModule(nn::Hardswish()) : torch::nn::AnyModule(torch::nn::ReLU());
  };
  block_ = register_module("block", torch::nn::Sequential());
  const std::string prefix = name + ".block.";
  auto add_cna = [&](nn::NestedSequential cna) {
    chain_.append(table, prefix + std::to_string(block_->size()), *cna);
    block_->push_back(cna);
  };
  if (c.expanded != c.in) add_cna(detail::conv_norm_activation(c.in, c.expanded, 1, 1, 1, 1e-3, 0.01, activation()));
  add_cna(
      detail::conv_norm_activation(c.expanded, c.expanded, c.kernel, c.stride, c.expanded, 1e-3, 0.01, activation()));
  if (c.se) {
    MobileNetV3SqueezeExcitation se(c.expanded, detail::make_divisible(static_cast<double>(c.expanded / 4)), table,
                                    prefix + std::to_string(block_->size()));
    chain_.append(table, "", torch::nn::AnyModule(se), "");
    block_->push_back(se);
  }
  add_cna(detail::conv_norm_activation(c.expanded, c.out, 1, 1, 1, 1e-3, 0.01));
  if (c.stride == 1 && c.in == c.out) {
    add_ = name + ".add";
    table.add(add_, "Add");
  }
}

torch::Tensor MobileNetV3BlockImpl::forward(torch::Tensor x) {
  auto y = chain_.forward(x);
  if (add_.empty()) return y;
  y = y + x;
  tap(add_, y);
  return y;
}

MobileNetV3Impl::MobileNetV3Impl(const MobileNetV3Config& config, const ModelSpec& spec, const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  auto hardswish = [] { return torch::nn::AnyModule(nn::Hardswish()); };
  detail::StageTracker stages;
  features_ = register_module("features", torch::nn::Sequential());

  const int64_t first = config.blocks.front().in;
  auto stem = detail::conv_norm_activation(options.in_chans(), first, 3, 2, 1, 1e-3, 0.01, hardswish());
  features_->push_back(stem);
  body_.append(table_, "features.0", *stem);
  stages.add("features.0.2", first, 2);

  int64_t index = 1;
  for (const auto& c : config.blocks) {
    const std::string name = "features." + std::to_string(index++);
    MobileNetV3Block block(c, table_, name);
    features_->push_back(block);
    body_.append(table_, name, torch::nn::AnyModule(block), "");
    stages.add(block->output_name(), c.out, c.stride);
  }

  const int64_t last_in = config.blocks.back().out, last_out = 6 * last_in;
  const std::string head = "features." + std::to_string(index);
  auto head_conv = detail::conv_norm_activation(last_in, last_out, 1, 1, 1, 1e-3, 0.01, hardswish());
  features_->push_back(head_conv);
  body_.append(table_, head, *head_conv);
  stages.add(head + ".2", last_out, 1);
  feature_info_ = stages.finish();
  output_channels_ = last_out;

  if (options.include_top()) {
    classifier_ =
        register_module("classifier", torch::nn::Sequential(torch::nn::Linear(last_out, config.last_channel),
                                                            nn::Hardswish(), torch::nn::Dropout(drop_rate_or(0.2)),
                                                            torch::nn::Linear(config.last_channel, options.classes())));
    table_.add("avgpool", "AdaptiveAvgPool2d");
    top_taps_ = detail::add_sequential_layers(table_, "classifier", classifier_);
  }
  detail::init_torchvision_default(*this);
}

torch::Tensor MobileNetV3Impl::forward_top(torch::Tensor x) {
  x = torch::adaptive_avg_pool2d(x, {1, 1});
  tap("avgpool", x);
  return detail::forward_sequential(classifier_, top_taps_, x.flatten(1));
}

}  // namespace tlearn
