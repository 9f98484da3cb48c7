// Implementation of tlearn/models/densenet.hpp.
#include "tlearn/models/densenet.hpp"
#include "tlearn/nn/zero_padding.hpp"

namespace tlearn {

namespace {
nn::BatchNorm2d densenet_norm(int64_t channels, const DenseNetConfig& config) {
  return nn::BatchNorm2d(
      torch::nn::BatchNormOptions(channels).eps(config.keras() ? 1.001e-5 : 1e-5).momentum(config.keras() ? 0.01 : 0.1));
}
}  // namespace

nn::DenseLayerImpl::DenseLayerImpl(LayerTable& table, const std::string& prefix, const std::string& keras, int64_t in,
                               const DenseNetConfig& config) {
  const int64_t mid = config.bn_size() * config.growth_rate();
  norm1_ = register_module("norm1", densenet_norm(in, config));
  conv1_ = register_module("conv1", nn::Conv2d(torch::nn::Conv2dOptions(in, mid, 1).bias(false)));
  norm2_ = register_module("norm2", densenet_norm(mid, config));
  conv2_ =
      register_module("conv2", nn::Conv2d(torch::nn::Conv2dOptions(mid, config.growth_rate(), 3).padding(1).bias(false)));
  const char* rows[] = {"norm1", "relu1", "conv1", "norm2", "relu2", "conv2", "concat"};
  const char* aliases[] = {"_0_bn", "_0_relu", "_1_conv", "_1_bn", "_1_relu", "_2_conv", "_concat"};
  const char* kinds[] = {"BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "Concatenate"};
  std::shared_ptr<torch::nn::Module> modules[] = {norm1_.ptr(), nullptr,      conv1_.ptr(), norm2_.ptr(),
                                                  nullptr,      conv2_.ptr(), nullptr};
  for (size_t i = 0; i < 7; ++i) {
    names_.push_back(prefix + "." + rows[i]);
    std::vector<std::shared_ptr<torch::nn::Module>> owned;
    if (modules[i]) owned.push_back(modules[i]);
    table.add(names_.back(), kinds[i], owned, keras + aliases[i]);
  }
}

torch::Tensor nn::DenseLayerImpl::forward(const torch::Tensor& x) {
  auto y = norm1_->forward(x);
  tap(names_[0], y);
  y = torch::relu(y);
  tap(names_[1], y);
  y = conv1_->forward(y);
  tap(names_[2], y);
  y = norm2_->forward(y);
  tap(names_[3], y);
  y = torch::relu(y);
  tap(names_[4], y);
  y = conv2_->forward(y);
  tap(names_[5], y);
  y = torch::cat({x, y}, 1);
  tap(names_[6], y);
  return y;
}

DenseNetImpl::DenseNetImpl(const DenseNetConfig& config, const ModelSpec& spec, const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  auto features = register_module("features", std::make_shared<torch::nn::Module>());
  int64_t nf = config.num_init_features();
  conv0_ = features->register_module(
      "conv0", nn::Conv2d(torch::nn::Conv2dOptions(options.in_chans(), nf, 7).stride(2).padding(3).bias(false)));
  norm0_ = features->register_module("norm0", densenet_norm(nf, config));
  relu0_ = features->register_module("relu0", nn::ReLU(/*inplace=*/true));
  // Keras pads in layers of their own; torchvision inside conv0 and pool0.
  table_.add("features.conv0.pad", nn::kZeroPaddingKind, {}, "zero_padding2d");
  table_.add("features.conv0", "Conv2d", {conv0_.ptr()}, "conv1_conv");
  table_.add("features.norm0", "BatchNorm2d", {norm0_.ptr()}, "conv1_bn");
  table_.add("features.relu0", "ReLU", {relu0_.ptr()}, "conv1_relu");
  table_.add("features.pool0.pad", nn::kZeroPaddingKind, {}, "zero_padding2d_1");
  table_.add("features.pool0", "MaxPool2d", {}, "pool1");
  feature_info_.push_back({"features.relu0", nf, 2});

  int64_t stride = 4;
  for (size_t b = 0; b < config.block_config().size(); ++b) {
    const std::string block = "features.denseblock" + std::to_string(b + 1);
    auto holder =
        features->register_module("denseblock" + std::to_string(b + 1), std::make_shared<torch::nn::Module>());
    std::vector<nn::DenseLayer> layers;
    for (int64_t i = 0; i < config.block_config()[b]; ++i) {
      const std::string layer = "denselayer" + std::to_string(i + 1);
      layers.push_back(holder->register_module(
          layer,
          nn::DenseLayer(table_, block + "." + layer, "conv" + std::to_string(b + 2) + "_block" + std::to_string(i + 1),
                     nf + i * config.growth_rate(), config)));
    }
    nf += config.block_config()[b] * config.growth_rate();
    blocks_.push_back(std::move(layers));
    const bool last = b + 1 == config.block_config().size();
    if (!last) {
      feature_info_.push_back({blocks_.back().back()->output_name(), nf, stride});
      stride *= 2;
      const std::string n = std::to_string(b + 1), keras = "pool" + std::to_string(b + 2);
      auto transition = features->register_module("transition" + n, std::make_shared<torch::nn::Module>());
      Transition t;
      t.norm = transition->register_module("norm", densenet_norm(nf, config));
      t.conv = transition->register_module("conv", nn::Conv2d(torch::nn::Conv2dOptions(nf, nf / 2, 1).bias(false)));
      const std::string prefix = "features.transition" + n;
      t.names = {prefix + ".norm", prefix + ".relu", prefix + ".conv", prefix + ".pool"};
      table_.add(t.names[0], "BatchNorm2d", {t.norm.ptr()}, keras + "_bn");
      table_.add(t.names[1], "ReLU", {}, keras + "_relu");
      table_.add(t.names[2], "Conv2d", {t.conv.ptr()}, keras + "_conv");
      table_.add(t.names[3], "AvgPool2d", {}, keras + "_pool");
      transitions_.push_back(std::move(t));
      nf /= 2;
    }
  }
  norm5_ = features->register_module("norm5", densenet_norm(nf, config));
  table_.add("features.norm5", "BatchNorm2d", {norm5_.ptr()}, "bn");
  table_.add("relu", "ReLU", {}, "relu");
  feature_info_.push_back({"relu", nf, stride});
  output_channels_ = nf;

  if (options.include_top()) {
    classifier_ = register_module("classifier", nn::Linear(nf, options.classes()));
    top_.mean("avgpool", "avg_pool").module("classifier", classifier_, "predictions");
    top_.add_rows(table_);
  }
  // torchvision: kaiming_normal_ convs (fan_in), BatchNorm 1 / 0, Linear bias 0.
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false))
    if (auto* conv = m->as<torch::nn::Conv2d>()) torch::nn::init::kaiming_normal_(conv->weight);
  if (classifier_) torch::nn::init::zeros_(classifier_->bias);
}

torch::Tensor DenseNetImpl::forward_body(torch::Tensor x) {
  nn::tap_zero_padded("features.conv0.pad", x, 3);
  x = conv0_->forward(x);
  tap("features.conv0", x);
  x = norm0_->forward(x);
  tap("features.norm0", x);
  x = relu0_->forward(x);
  tap("features.relu0", x);
  nn::tap_zero_padded("features.pool0.pad", x, 1);
  x = torch::max_pool2d(x, 3, 2, 1);
  tap("features.pool0", x);
  for (size_t b = 0; b < blocks_.size(); ++b) {
    for (auto& layer : blocks_[b]) x = layer->forward(x);
    if (b < transitions_.size()) {
      auto& t = transitions_[b];
      x = t.norm->forward(x);
      tap(t.names[0], x);
      x = torch::relu(x);
      tap(t.names[1], x);
      x = t.conv->forward(x);
      tap(t.names[2], x);
      x = torch::avg_pool2d(x, 2, 2);
      tap(t.names[3], x);
    }
  }
  x = norm5_->forward(x);
  tap("features.norm5", x);
  x = torch::relu(x);
  tap("relu", x);
  return x;
}

}  // namespace tlearn
