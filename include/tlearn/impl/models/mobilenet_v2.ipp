// Implementation of tlearn/models/mobilenet_v2.hpp.
#include <cmath>

#include "tlearn/models/mobilenet_v2.hpp"

namespace tlearn {

namespace {
/// Conv2dNormActivation with ReLU6, as MobileNetV2 builds it (Keras': TensorFlow's
/// "same" padding on strided convs, BatchNorm 1e-3 / 0.999).
/// Keras pads before a strided depthwise conv in a ZeroPadding2D layer (block_N_pad).
nn::ConvNormAct conv_bn_relu6(const MobileNetV2Config& config, int64_t in, int64_t out, int64_t kernel,
                              int64_t stride = 1, int64_t groups = 1) {
  return nn::ConvNormAct(nn::ConvNormActOptions(in, out, kernel)
                             .stride(stride)
                             .groups(groups)
                             .activation(nn::Activation::ReLU6)
                             .padding_row(stride > 1 && groups > 1)
                             .tf_same_padding(config.keras() && stride > 1)
                             .eps(config.keras() ? 1e-3 : 1e-5)
                             .momentum(config.keras() ? 1e-3 : 0.1));
}

/// A stage's width: Keras truncates `channels * alpha` to an integer before rounding
/// it to a multiple of 8, torchvision does not (the two differ for no alpha Keras
/// publishes weights for, but Keras' rule is Keras').
int64_t block_width(const MobileNetV2Config& config, int64_t channels) {
  const double scaled = static_cast<double>(channels) * config.width_mult();
  return detail::make_divisible(config.keras() ? std::floor(scaled) : scaled);
}
}  // namespace

nn::MobileNetV2BlockImpl::MobileNetV2BlockImpl(int64_t in, int64_t out, int64_t stride, int64_t expand_ratio,
                                           const MobileNetV2Config& config, LayerTable& table,
                                           const std::string& name) {
  const int64_t hidden = static_cast<int64_t>(std::lround(static_cast<double>(in * expand_ratio)));
  conv_ = torch::nn::Sequential();
  if (expand_ratio != 1) conv_->push_back(conv_bn_relu6(config, in, hidden, 1));
  conv_->push_back(conv_bn_relu6(config, hidden, hidden, 3, stride, hidden));
  conv_->push_back(nn::Conv2d(torch::nn::Conv2dOptions(hidden, out, 1).bias(false)));
  conv_->push_back(nn::BatchNorm2d(
      torch::nn::BatchNormOptions(out).eps(config.keras() ? 1e-3 : 1e-5).momentum(config.keras() ? 1e-3 : 0.1)));
  register_module("conv", conv_);
  chain_.append(table, name + ".conv", *conv_);
  if (stride == 1 && in == out) {
    add_ = name + ".add";
    residual_.taps("", add_);
    table.add(add_, "Add");
  }
}

torch::Tensor nn::MobileNetV2BlockImpl::forward(torch::Tensor x) {
  auto y = chain_.forward(x);
  if (add_.empty()) return y;
  return residual_(x, y, is_training());
}

MobileNetV2Impl::MobileNetV2Impl(const MobileNetV2Config& config, const ModelSpec& spec, const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  // t (expansion), c (channels), n (repeats), s (stride of the first)
  const int64_t setting[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                 {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int64_t in = detail::make_divisible(32 * config.width_mult());
  const int64_t last = detail::make_divisible(1280 * std::max(1.0, config.width_mult()));
  detail::StageTracker stages;

  features_ = register_module("features", torch::nn::Sequential());
  auto stem = conv_bn_relu6(config, options.in_chans(), in, 3, 2);
  features_->push_back(stem);
  body_.append_block(table_, "features.0", stem, {"Conv1", "bn_Conv1", "Conv1_relu"});
  stages.add("features.0.2", in, 2);

  int64_t index = 1;
  for (const auto& row : setting) {
    const int64_t out = block_width(config, row[1]);
    for (int64_t i = 0; i < row[2]; ++i) {
      const int64_t stride = i == 0 ? row[3] : 1;
      const std::string name = "features." + std::to_string(index);
      nn::MobileNetV2Block block(in, out, stride, row[0], config, table_, name);
      features_->push_back(block);
      body_.append(table_, name, torch::nn::AnyModule(block), "");
      set_keras_aliases(name, index - 1, row[0] != 1, stride == 1 && in == out);
      stages.add(block->output_name(), out, stride);
      in = out;
      ++index;
    }
  }

  const std::string head = "features." + std::to_string(index);
  auto head_conv = conv_bn_relu6(config, in, last, 1);
  features_->push_back(head_conv);
  body_.append_block(table_, head, head_conv, {"Conv_1", "Conv_1_bn", "out_relu"});
  stages.add(head + ".2", last, 1);
  feature_info_ = stages.finish();
  output_channels_ = last;

  if (options.include_top()) {
    classifier_ = register_module("classifier", torch::nn::Sequential(torch::nn::Dropout(drop_rate_or(config.keras() ? 0.0 : 0.2)),
                                                                      nn::Linear(last, options.classes())));
    // Keras' top is one Dense: the dropout shares its row.
    top_.pool_flat("avgpool", "global_average_pooling2d")
        .sequential(classifier_, {{"classifier.1", 2, "Linear", "predictions"}})
        .add_rows(table_);
  }
  detail::init_torchvision_default(*this);
}

void MobileNetV2Impl::set_keras_aliases(const std::string& name, int64_t block, bool expands, bool adds) {
  const std::string keras = block == 0 ? "expanded_conv" : "block_" + std::to_string(block);
  const std::string conv = name + ".conv.";
  int64_t i = 0;
  if (expands) {
    table_.set_alias(conv + "0.0", keras + "_expand");
    table_.set_alias(conv + "0.1", keras + "_expand_BN");
    table_.set_alias(conv + "0.2", keras + "_expand_relu");
    i = 1;
  }
  if (table_.find(conv + std::to_string(i) + ".pad")) table_.set_alias(conv + std::to_string(i) + ".pad", keras + "_pad");
  table_.set_alias(conv + std::to_string(i) + ".0", keras + "_depthwise");
  table_.set_alias(conv + std::to_string(i) + ".1", keras + "_depthwise_BN");
  table_.set_alias(conv + std::to_string(i) + ".2", keras + "_depthwise_relu");
  table_.set_alias(conv + std::to_string(i + 1), keras + "_project");
  table_.set_alias(conv + std::to_string(i + 2), keras + "_project_BN");
  if (adds) table_.set_alias(name + ".add", keras + "_add");
}

}  // namespace tlearn
