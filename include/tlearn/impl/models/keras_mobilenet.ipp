// Implementation of tlearn/models/keras_mobilenet.hpp.
#include "tlearn/models/keras_mobilenet.hpp"

namespace tlearn {

namespace {
/// Conv, BatchNorm (Keras' defaults: epsilon 1e-3, momentum 0.99), ReLU6.
nn::ConvNormActOptions keras_conv_bn_relu6(int64_t in, int64_t out, int64_t kernel) {
  return nn::ConvNormActOptions(in, out, kernel).activation(nn::Activation::ReLU6).eps(1e-3).momentum(0.01);
}
}  // namespace

KerasMobileNetImpl::KerasMobileNetImpl(const KerasMobileNetConfig& config, const ModelSpec& spec,
                                       const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  auto width = [&](int64_t channels) { return static_cast<int64_t>(static_cast<double>(channels) * config.alpha()); };
  // (pointwise channels, stride) of blocks 1..13
  const std::pair<int64_t, int64_t> blocks[13] = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},
                                                  {512, 2}, {512, 1}, {512, 1}, {512, 1}, {512, 1},
                                                  {512, 1}, {1024, 2}, {1024, 1}};
  detail::StageTracker stages;
  features_ = register_module("features", torch::nn::ModuleList());

  int64_t in = width(32);
  nn::ConvNormAct stem(keras_conv_bn_relu6(options.in_chans(), in, 3).stride(2).tf_same_padding(true));
  features_->push_back(stem);
  body_.append_block(table_, "features.0", stem, {"conv1", "conv1_bn", "conv1_relu"});
  stages.add("features.0.2", in, 2);

  for (int64_t i = 1; i <= 13; ++i) {
    const auto [channels, stride] = blocks[i - 1];
    const int64_t out = width(channels);
    const std::string path = "features." + std::to_string(i), id = std::to_string(i);
    auto dw_options = keras_conv_bn_relu6(in, in, 3).groups(in).stride(stride);
    // Keras pads a strided block by one at the bottom and right, in a layer of its own.
    if (stride > 1) dw_options.padding_row(true).input_padding({0, 1, 0, 1});
    nn::ConvNormAct depthwise(dw_options), pointwise(keras_conv_bn_relu6(in, out, 1));
    features_->push_back(torch::nn::Sequential(depthwise, pointwise));
    body_.append_block(table_, path + ".0", depthwise, {"conv_dw_" + id, "conv_dw_" + id + "_bn", "conv_dw_" + id + "_relu"});
    if (stride > 1) table_.set_alias(path + ".0.pad", "conv_pad_" + id);
    body_.append_block(table_, path + ".1", pointwise, {"conv_pw_" + id, "conv_pw_" + id + "_bn", "conv_pw_" + id + "_relu"});
    stages.add(path + ".1.2", out, stride);
    in = out;
  }
  feature_info_ = stages.finish();
  output_channels_ = in;

  if (options.include_top()) {
    classifier_ = register_module("classifier",
                                  torch::nn::Sequential(torch::nn::Dropout(drop_rate_or(1e-3)),
                                                        nn::Conv2d(torch::nn::Conv2dOptions(in, options.classes(), 1))));
    top_.pool("avgpool", "global_average_pooling2d")
        .sequential(classifier_, {{"classifier.0", 1, "Dropout", "dropout"}, {"classifier.1", 1, "Conv2d", "conv_preds"}})
        .flatten("flatten", "reshape_2", "Reshape")
        .output_activation("predictions", "predictions", options.classifier_activation())
        .add_rows(table_);
  }
  detail::init_keras_default(*this);
}

}  // namespace tlearn
