// Implementation of tlearn/models/keras_resnet_v2.hpp.
#include "tlearn/models/keras_resnet_v2.hpp"
#include "tlearn/nn/zero_padding.hpp"

namespace tlearn {

namespace {
constexpr double kEps = 1.001e-5;  // Keras' ResNets' BatchNorm epsilon
}  // namespace

nn::KerasResNetV2BlockImpl::KerasResNetV2BlockImpl(LayerTable& table, const std::string& path, const std::string& keras,
                                               int64_t in, int64_t filters, int64_t stride, bool conv_shortcut,
                                               const std::string& pooling_name)
    : stride_(stride), path_(path), out_name_(path + ".add") {
  residual_.taps("", out_name_);
  preact_ = register_module("preact", detail::keras_batch_norm(in, kEps));
  preact_relu_ = register_module("preact_relu", nn::ReLU(/*inplace=*/true));
  auto conv_bn_relu = [&](int64_t from, int64_t kernel, int64_t s) {
    return nn::ConvNormAct(nn::ConvNormActOptions(from, filters, kernel).stride(s).eps(kEps).momentum(0.01).padding_row(
        kernel > 1));
  };
  conv1_ = register_module("conv1", conv_bn_relu(in, 1, 1));
  conv2_ = register_module("conv2", conv_bn_relu(filters, 3, stride));
  conv3_ = register_module("conv3", nn::Conv2d(torch::nn::Conv2dOptions(filters, 4 * filters, 1)));
  if (conv_shortcut)
    downsample_ = register_module("downsample", nn::Conv2d(torch::nn::Conv2dOptions(in, 4 * filters, 1).stride(stride)));

  // Keras' order: the shortcut's layer comes after the second ReLU.
  table.add(path + ".preact", "BatchNorm2d", {preact_.ptr()}, keras + "_preact_bn");
  table.add(path + ".preact_relu", "ReLU", {preact_relu_.ptr()}, keras + "_preact_relu");
  conv1_->add_rows(table, path + ".conv1", {keras + "_1_conv", keras + "_1_bn", keras + "_1_relu"});
  conv2_->add_rows(table, path + ".conv2", {keras + "_2_conv", keras + "_2_bn", keras + "_2_relu"});
  table.set_alias(path + ".conv2.pad", keras + "_2_pad");
  if (conv_shortcut)
    table.add(path + ".downsample", "Conv2d", {downsample_.ptr()}, keras + "_0_conv");
  else if (stride > 1)
    table.add(path + ".pool", "MaxPool2d", {}, pooling_name);
  table.add(path + ".conv3", "Conv2d", {conv3_.ptr()}, keras + "_3_conv");
  table.add(out_name_, "Add", {}, keras + "_out");
}

torch::Tensor nn::KerasResNetV2BlockImpl::forward(const torch::Tensor& input) {
  auto preact = preact_->forward(input);
  tap(path_ + ".preact", preact);
  preact = preact_relu_->forward(preact);
  tap(path_ + ".preact_relu", preact);
  torch::Tensor shortcut = input;
  if (downsample_) {
    shortcut = downsample_->forward(preact);
    tap(path_ + ".downsample", shortcut);
  } else if (stride_ > 1) {
    shortcut = input.slice(2, 0, c10::nullopt, stride_).slice(3, 0, c10::nullopt, stride_);  // MaxPooling2D(1, stride)
    tap(path_ + ".pool", shortcut);
  }
  auto x = conv2_->forward(conv1_->forward(preact));
  x = conv3_->forward(x);
  tap(path_ + ".conv3", x);
  return residual_(shortcut, x, is_training());
}

KerasResNetV2Impl::KerasResNetV2Impl(const KerasResNetV2Config& config, const ModelSpec& spec,
                                     const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  conv1_ = register_module("conv1", nn::Conv2d(torch::nn::Conv2dOptions(options.in_chans(), 64, 7).stride(2).padding(3)));
  table_.add("conv1.pad", nn::kZeroPaddingKind, {}, "conv1_pad");
  table_.add("conv1", "Conv2d", {conv1_.ptr()}, "conv1_conv");
  table_.add("maxpool.pad", nn::kZeroPaddingKind, {}, "pool1_pad");
  table_.add("maxpool", "MaxPool2d", {}, "pool1_pool");
  detail::StageTracker stages;
  stages.add("conv1", 64, 2);
  stages.add("maxpool", 64, 2);

  int64_t in = 64, pools = 0;
  for (int64_t stage = 0; stage < 4; ++stage) {
    const int64_t filters = 64 << stage, blocks = config.layers().at(static_cast<size_t>(stage));
    const std::string layer = "layer" + std::to_string(stage + 1);
    torch::nn::Sequential seq;
    for (int64_t b = 0; b < blocks; ++b) {
      // Keras strides each stage's last block, but the last stage's.
      const int64_t stride = b == blocks - 1 && stage < 3 ? 2 : 1;
      std::string pooling;
      if (stride > 1 && b > 0) pooling = pools++ == 0 ? "max_pooling2d" : "max_pooling2d_" + std::to_string(pools - 1);
      nn::KerasResNetV2Block block(table_, layer + "." + std::to_string(b),
                               "conv" + std::to_string(stage + 2) + "_block" + std::to_string(b + 1), in, filters,
                               stride, /*conv_shortcut=*/b == 0, pooling);
      stages.add(block->output_name(), 4 * filters, stride);
      seq->push_back(block);
      in = 4 * filters;
    }
    layers_.push_back(register_module(layer, seq));
  }
  post_bn_ = register_module("post_bn", detail::keras_batch_norm(in, kEps));
  post_relu_ = register_module("post_relu", nn::ReLU(/*inplace=*/true));
  table_.add("post_bn", "BatchNorm2d", {post_bn_.ptr()}, "post_bn");
  table_.add("post_relu", "ReLU", {post_relu_.ptr()}, "post_relu");
  // A stage ends before the block that strides (its last): conv2_block2_out at 4, ...
  stages.add("post_relu", in, 1);
  feature_info_ = stages.finish();
  output_channels_ = in;

  if (options.include_top()) {
    fc_ = register_module("fc", nn::Linear(in, options.classes()));
    top_.pool_flat("avgpool", "avg_pool").module("fc", fc_, "predictions");
    top_.add_rows(table_);
  }
  detail::init_keras_default(*this);
}

torch::Tensor KerasResNetV2Impl::forward_body(torch::Tensor x) {
  nn::tap_zero_padded("conv1.pad", x, 3);
  x = conv1_->forward(x);
  tap("conv1", x);
  // Keras pads with zeros before pooling, and the stem has no ReLU: the zeros can win.
  x = torch::constant_pad_nd(x, {1, 1, 1, 1}, 0);
  tap("maxpool.pad", x);
  x = torch::max_pool2d(x, 3, 2);
  tap("maxpool", x);
  for (auto& layer : layers_) x = layer->forward(x);
  x = post_bn_->forward(x);
  tap("post_bn", x);
  x = post_relu_->forward(x);
  tap("post_relu", x);
  return x;
}

}  // namespace tlearn
