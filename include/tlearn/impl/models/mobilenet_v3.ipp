// Implementation of tlearn/models/mobilenet_v3.hpp.
#include "tlearn/models/mobilenet_v3.hpp"

namespace tlearn {

namespace {
/// Conv2dNormActivation with MobileNetV3's BatchNorm (eps 0.001, momentum 0.01).
nn::ConvNormAct conv_bn_act(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups,
                            nn::Activation activation) {
  return nn::ConvNormAct(nn::ConvNormActOptions(in, out, kernel)
                             .stride(stride)
                             .groups(groups)
                             .eps(1e-3)
                             .momentum(0.01)
                             .activation(activation));
}
}  // namespace

MobileNetV3BlockImpl::MobileNetV3BlockImpl(const MobileNetV3BlockConfig& c, LayerTable& table,
                                           const std::string& name) {
  const auto activation = c.hardswish ? nn::Activation::Hardswish : nn::Activation::ReLU;
  block_ = register_module("block", torch::nn::Sequential());
  if (c.expanded != c.in) block_->push_back(conv_bn_act(c.in, c.expanded, 1, 1, 1, activation));
  block_->push_back(conv_bn_act(c.expanded, c.expanded, c.kernel, c.stride, c.expanded, activation));
  if (c.se) {
    const int64_t squeeze = detail::make_divisible(static_cast<double>(c.expanded / 4));
    block_->push_back(nn::SqueezeExcitation(
        nn::SqueezeExcitationOptions(c.expanded, squeeze).gate(nn::Activation::Hardsigmoid)));
  }
  block_->push_back(conv_bn_act(c.expanded, c.out, 1, 1, 1, nn::Activation::None));
  chain_.append(table, name + ".block", *block_);
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
  detail::StageTracker stages;
  features_ = register_module("features", torch::nn::Sequential());

  const int64_t first = config.blocks.front().in;
  auto stem = conv_bn_act(options.in_chans(), first, 3, 2, 1, nn::Activation::Hardswish);
  features_->push_back(stem);
  body_.append_block(table_, "features.0", stem);
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
  auto head_conv = conv_bn_act(last_in, last_out, 1, 1, 1, nn::Activation::Hardswish);
  features_->push_back(head_conv);
  body_.append_block(table_, head, head_conv);
  stages.add(head + ".2", last_out, 1);
  feature_info_ = stages.finish();
  output_channels_ = last_out;

  if (options.include_top()) {
    classifier_ =
        register_module("classifier", torch::nn::Sequential(nn::Linear(last_out, config.last_channel),
                                                            nn::Hardswish(), torch::nn::Dropout(drop_rate_or(0.2)),
                                                            nn::Linear(config.last_channel, options.classes())));
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
