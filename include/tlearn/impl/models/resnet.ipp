// Implementation of tlearn/models/resnet.hpp.
#include "tlearn/models/resnet.hpp"
#include "tlearn/nn/residual_join.hpp"
#include "tlearn/nn/zero_padding.hpp"

namespace tlearn {

namespace {
/// Keras' BatchNorm epsilon in its v1 ResNets; PyTorch's default otherwise.
nn::BatchNorm2d resnet_batch_norm(const ResNetConfig& config, int64_t channels) {
  return nn::BatchNorm2d(torch::nn::BatchNormOptions(channels).eps(config.keras_v1() ? 1.001e-5 : 1e-5));
}
}  // namespace

nn::ResNetBlockImpl::ResNetBlockImpl(LayerTable& table, const std::string& prefix, const std::string& keras,
                                 const ResNetConfig& config, int64_t inplanes, int64_t planes, int64_t stride) {
  const int64_t expansion = config.bottleneck() ? 4 : 1;
  const int64_t width = config.bottleneck() ? planes * config.width_per_group() / 64 * config.groups() : planes;
  const bool bias = config.keras_v1();
  std::vector<torch::nn::Conv2dOptions> convs;
  if (config.bottleneck()) {
    const int64_t stride_1x1 = config.keras_v1() ? stride : 1, stride_3x3 = config.keras_v1() ? 1 : stride;
    convs.push_back(torch::nn::Conv2dOptions(inplanes, width, 1).stride(stride_1x1).bias(bias));
    convs.push_back(
        torch::nn::Conv2dOptions(width, width, 3).stride(stride_3x3).padding(1).groups(config.groups()).bias(bias));
    convs.push_back(torch::nn::Conv2dOptions(width, planes * expansion, 1).bias(bias));
  } else {
    convs.push_back(torch::nn::Conv2dOptions(inplanes, planes, 3).stride(stride).padding(1).bias(bias));
    convs.push_back(torch::nn::Conv2dOptions(planes, planes, 3).padding(1).bias(bias));
  }
  const bool shortcut = stride != 1 || inplanes != planes * expansion;
  torch::nn::Sequential down;
  if (shortcut) {
    down = torch::nn::Sequential(
        nn::Conv2d(torch::nn::Conv2dOptions(inplanes, planes * expansion, 1).stride(stride).bias(bias)),
        resnet_batch_norm(config, planes * expansion));
    down_names_ = {prefix + ".downsample.0", prefix + ".downsample.1"};
  }
  for (size_t i = 0; i < convs.size(); ++i) {
    const std::string n = std::to_string(i + 1), k = keras + "_" + n;
    convs_.push_back(register_module("conv" + n, nn::Conv2d(convs[i])));
    bns_.push_back(register_module("bn" + n, resnet_batch_norm(config, convs[i].out_channels())));
    conv_names_.push_back(prefix + ".conv" + n);
    bn_names_.push_back(prefix + ".bn" + n);
    relu_names_.push_back(prefix + ".relu" + n);
    // Keras lists the shortcut's conv and BatchNorm interleaved with the last
    // conv and its BatchNorm (_0_conv, _3_conv, _0_bn, _3_bn): same indices here.
    const bool last = i + 1 == convs.size();
    if (shortcut && last) table.add(down_names_[0], "Conv2d", {down->ptr(0)}, keras + "_0_conv");
    table.add(conv_names_.back(), "Conv2d", {convs_.back().ptr()}, k + "_conv");
    if (shortcut && last) table.add(down_names_[1], "BatchNorm2d", {down->ptr(1)}, keras + "_0_bn");
    table.add(bn_names_.back(), "BatchNorm2d", {bns_.back().ptr()}, k + "_bn");
    if (!last) {
      relus_.push_back(nn::ReLU(/*inplace=*/true));
      table.add(relu_names_.back(), "ReLU", {relus_.back().ptr()}, k + "_relu");
    }
  }
  if (shortcut) downsample_ = register_module("downsample", down);
  add_name_ = prefix + ".add";
  out_name_ = prefix + ".out";
  table.add(add_name_, "Add", {}, keras + "_add");
  table.add(out_name_, "ReLU", {}, keras + "_out");
}

torch::Tensor nn::ResNetBlockImpl::forward(const torch::Tensor& input) {
  torch::Tensor x = input;
  const size_t last = convs_.size() - 1;
  for (size_t i = 0; i < last; ++i) {
    x = convs_[i]->forward(x);
    tap(conv_names_[i], x);
    x = bns_[i]->forward(x);
    tap(bn_names_[i], x);
    x = relus_[i]->forward(x);
    tap(relu_names_[i], x);
  }
  auto identity = [&] {
    return downsample_.is_empty() ? input : detail::forward_sequential(downsample_, down_names_, input);
  };
  return residual_join(convs_[last], bns_[last], x, identity, Activation::ReLU,
                       {conv_names_[last], bn_names_[last], add_name_, out_name_});
}

void nn::ResNetBlockImpl::add_conv_batch_norm_pairs(
    std::vector<std::pair<torch::nn::Module*, torch::nn::Module*>>& pairs) const {
  for (size_t i = 0; i < convs_.size(); ++i) pairs.emplace_back(convs_[i].ptr().get(), bns_[i].ptr().get());
  if (!downsample_.is_empty()) pairs.emplace_back(downsample_->ptr(0).get(), downsample_->ptr(1).get());
}

std::vector<std::pair<torch::nn::Module*, torch::nn::Module*>> ResNetImpl::conv_batch_norm_pairs() const {
  std::vector<std::pair<torch::nn::Module*, torch::nn::Module*>> pairs;
  for (const auto& layer : layers_)
    for (const auto& block : *layer) block.get<nn::ResNetBlock>()->add_conv_batch_norm_pairs(pairs);
  return pairs;
}

ResNetImpl::ResNetImpl(const ResNetConfig& config, const ModelSpec& spec, const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  conv1_ = register_module(
      "conv1",
      nn::Conv2d(torch::nn::Conv2dOptions(options.in_chans(), 64, 7).stride(2).padding(3).bias(config.keras_v1())));
  bn1_ = register_module("bn1", resnet_batch_norm(config, 64));
  relu_ = register_module("relu", nn::ReLU(/*inplace=*/true));
  // Keras pads in layers of their own (conv1_pad, pool1_pad); torchvision inside conv1 and maxpool.
  table_.add("conv1.pad", nn::kZeroPaddingKind, {}, "conv1_pad");
  table_.add("conv1", "Conv2d", {conv1_.ptr()}, "conv1_conv");
  table_.add("bn1", "BatchNorm2d", {bn1_.ptr()}, "conv1_bn");
  table_.add("relu", "ReLU", {relu_.ptr()}, "conv1_relu");
  table_.add("maxpool.pad", nn::kZeroPaddingKind, {}, "pool1_pad");
  table_.add("maxpool", "MaxPool2d", {}, "pool1_pool");
  feature_info_.push_back({"relu", 64, 2});

  const int64_t expansion = config.bottleneck() ? 4 : 1;
  int64_t inplanes = 64, stride = 4;
  for (int64_t stage = 0; stage < 4; ++stage) {
    const int64_t planes = 64 << stage;
    const std::string layer = "layer" + std::to_string(stage + 1);
    torch::nn::Sequential seq;
    std::string last;
    for (int64_t b = 0; b < config.layers().at(static_cast<size_t>(stage)); ++b) {
      nn::ResNetBlock block(table_, layer + "." + std::to_string(b),
                        "conv" + std::to_string(stage + 2) + "_block" + std::to_string(b + 1), config, inplanes, planes,
                        b == 0 && stage > 0 ? 2 : 1);
      last = block->output_name();
      seq->push_back(block);
      inplanes = planes * expansion;
    }
    layers_.push_back(register_module(layer, seq));
    if (stage > 0) stride *= 2;
    feature_info_.push_back({last, inplanes, stride});
  }
  output_channels_ = inplanes;

  if (options.include_top()) {
    fc_ = register_module("fc", nn::Linear(inplanes, options.classes()));
    top_.mean("avgpool", "avg_pool").module("fc", fc_, "predictions");
    top_.add_rows(table_);
  }
  detail::init_torchvision_default(*this);
  if (fc_) fc_->reset_parameters();  // torchvision keeps nn.Linear's own initialisation here
}

torch::Tensor ResNetImpl::forward_body(torch::Tensor x) {
  nn::tap_zero_padded("conv1.pad", x, 3);
  x = conv1_->forward(x);
  tap("conv1", x);
  x = bn1_->forward(x);
  tap("bn1", x);
  x = relu_->forward(x);
  tap("relu", x);
  nn::tap_zero_padded("maxpool.pad", x, 1);
  x = torch::max_pool2d(x, 3, 2, 1);
  tap("maxpool", x);
  for (auto& layer : layers_) x = layer->forward(x);
  return x;
}

}  // namespace tlearn
