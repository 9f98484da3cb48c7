// Implementation of tlearn/models/squeezenet.hpp.
#include "tlearn/models/squeezenet.hpp"

namespace tlearn {

nn::FireImpl::FireImpl(LayerTable& table, const std::string& prefix, int64_t in, int64_t squeeze, int64_t e1, int64_t e3) {
  using torch::nn::Conv2dOptions;
  squeeze_ = register_module("squeeze", nn::Conv2d(Conv2dOptions(in, squeeze, 1)));
  expand1x1_ = register_module("expand1x1", nn::Conv2d(Conv2dOptions(squeeze, e1, 1)));
  expand3x3_ = register_module("expand3x3", nn::Conv2d(Conv2dOptions(squeeze, e3, 3).padding(1)));
  const std::pair<const char*, nn::Conv2d*> convs[] = {
      {"squeeze", &squeeze_}, {"expand1x1", &expand1x1_}, {"expand3x3", &expand3x3_}};
  for (const auto& [name, conv] : convs) {
    names_.push_back(prefix + "." + name);
    table.add(names_.back(), "Conv2d", {conv->ptr()});
    const std::string activation = std::string(name) + "_activation";
    relus_.push_back(register_module(activation, nn::ReLU(/*inplace=*/true)));
    names_.push_back(prefix + "." + activation);
    table.add(names_.back(), "ReLU", {relus_.back().ptr()});
  }
}

torch::Tensor nn::FireImpl::forward(const torch::Tensor& input) {
  auto x = squeeze_->forward(input);
  tap(names_[0], x);
  x = relus_[0]->forward(x);
  tap(names_[1], x);
  auto a = expand1x1_->forward(x);
  tap(names_[2], a);
  a = relus_[1]->forward(a);
  tap(names_[3], a);
  auto b = expand3x3_->forward(x);
  tap(names_[4], b);
  b = relus_[2]->forward(b);
  tap(names_[5], b);
  return torch::cat({a, b}, 1);
}

SqueezeNetImpl::SqueezeNetImpl(const SqueezeNetConfig& config, const ModelSpec& spec, const BackboneOptions& options)
    : SequentialBackboneImpl(spec, options) {
  features_ = register_module("features", torch::nn::Sequential());
  auto plain = [&](auto m, const char* kind) {
    features_->push_back(m);
    feature_taps_.push_back("features." + std::to_string(feature_taps_.size()));
    table_.add(feature_taps_.back(), kind, {m.ptr()});
  };
  auto pool = [&] {
    plain(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2).ceil_mode(true)), "MaxPool2d");
  };
  auto fire = [&](int64_t in, int64_t squeeze, int64_t e1, int64_t e3) {
    const std::string name = "features." + std::to_string(feature_taps_.size());
    features_->push_back(nn::Fire(table_, name, in, squeeze, e1, e3));
    feature_taps_.push_back(name);
    table_.add(name, "Concatenate", {});
  };
  const int64_t stem = config.v1_1() ? 64 : 96;
  plain(nn::Conv2d(torch::nn::Conv2dOptions(options.in_chans(), stem, config.v1_1() ? 3 : 7).stride(2)), "Conv2d");
  plain(nn::ReLU(), "ReLU");
  pool();
  if (config.v1_1()) {
    fire(64, 16, 64, 64), fire(128, 16, 64, 64), pool();
    fire(128, 32, 128, 128), fire(256, 32, 128, 128), pool();
    fire(256, 48, 192, 192), fire(384, 48, 192, 192), fire(384, 64, 256, 256), fire(512, 64, 256, 256);
    feature_info_ = {{"features.1", 64, 2}, {"features.4", 128, 4}, {"features.7", 256, 8}, {"features.12", 512, 16}};
  } else {
    fire(96, 16, 64, 64), fire(128, 16, 64, 64), fire(128, 32, 128, 128), pool();
    fire(256, 32, 128, 128), fire(256, 48, 192, 192), fire(384, 48, 192, 192), fire(384, 64, 256, 256), pool();
    fire(512, 64, 256, 256);
    feature_info_ = {{"features.1", 96, 2}, {"features.5", 256, 4}, {"features.10", 512, 8}, {"features.12", 512, 16}};
  }
  output_channels_ = 512;

  nn::Conv2d final_conv{nullptr};
  if (options.include_top()) {
    final_conv = nn::Conv2d(torch::nn::Conv2dOptions(512, options.classes(), 1));
    classifier_ = register_module(
        "classifier", torch::nn::Sequential(torch::nn::Dropout(drop_rate_or(0.5)), final_conv, nn::ReLU(),
                                            torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(1))));
    top_.sequential("classifier", classifier_).flatten("flatten").add_rows(table_);
  }
  // torchvision: kaiming_uniform_ convs, final_conv N(0, 0.01), zero biases.
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false))
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      if (final_conv && conv == final_conv.get())
        torch::nn::init::normal_(conv->weight, 0, 0.01);
      else
        torch::nn::init::kaiming_uniform_(conv->weight);
      torch::nn::init::zeros_(conv->bias);
    }
}

}  // namespace tlearn
