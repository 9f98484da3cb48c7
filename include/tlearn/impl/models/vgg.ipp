// Implementation of tlearn/models/vgg.hpp.
#include "tlearn/models/vgg.hpp"

namespace tlearn {

VGGImpl::VGGImpl(const VGGConfig& config, const ModelSpec& spec, const BackboneOptions& options)
    : SequentialBackboneImpl(spec, options) {
  if (config.stages().size() != 5 || config.widths().size() != 5)
    throw Error(spec.name + ": VGGConfig needs 5 stages and 5 widths");
  const auto& widths = config.widths();
  int64_t in = options.in_chans(), index = 0, stride = 1;
  features_ = register_module("features", torch::nn::Sequential());
  for (size_t block = 0; block < 5; ++block) {
    for (int64_t i = 0; i < config.stages()[block]; ++i) {
      std::vector<std::shared_ptr<torch::nn::Module>> parts;
      auto conv = nn::Conv2d(torch::nn::Conv2dOptions(in, widths[block], 3).padding(1));
      features_->push_back(conv);
      parts.push_back(conv.ptr());
      std::string name = "features." + std::to_string(index);
      index += 1;
      feature_taps_.push_back("");
      if (config.batch_norm()) {
        auto bn = nn::BatchNorm2d(widths[block]);
        features_->push_back(bn);
        parts.push_back(bn.ptr());
        feature_taps_.push_back("");
        index += 1;
      }
      // Keras' conv row includes its activation: conv (+ bn) + relu, tapped after the relu.
      auto relu = nn::ReLU(true);
      features_->push_back(relu);
      parts.push_back(relu.ptr());
      feature_taps_.push_back(name);
      index += 1;
      table_.add(name, "Conv2d", parts, "block" + std::to_string(block + 1) + "_conv" + std::to_string(i + 1));
      in = widths[block];
    }
    features_->push_back(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2).stride(2)));
    std::string pool = "features." + std::to_string(index++);
    feature_taps_.push_back(pool);
    table_.add(pool, "MaxPool2d", {}, "block" + std::to_string(block + 1) + "_pool");
    stride *= 2;
    feature_info_.push_back({pool, widths[block], stride});
  }
  output_channels_ = widths[4];

  if (options.include_top()) {
    const double dropout = drop_rate_or(0.5);
    classifier_ = register_module(
        "classifier",
        torch::nn::Sequential(nn::Linear(widths[4] * 7 * 7, 4096), nn::ReLU(true),
                              torch::nn::Dropout(dropout), nn::Linear(4096, 4096), nn::ReLU(true),
                              torch::nn::Dropout(dropout), nn::Linear(4096, options.classes())));
    // torchvision's AdaptiveAvgPool2d((7, 7)) (the identity at 224x224) and flatten are
    // Keras' one Flatten row; each Dense row holds its Linear, ReLU and Dropout.
    top_.pool_flat("flatten", "flatten", 7, "Flatten")
        .sequential(classifier_, {{"classifier.0", 3, "Linear", "fc1"},
                                  {"classifier.3", 3, "Linear", "fc2"},
                                  {"classifier.6", 1, "Linear", "predictions"}})
        .add_rows(table_);
  }
  detail::init_torchvision_default(*this);
}

}  // namespace tlearn
