// Implementation of tlearn/models/alexnet.hpp.
#include "tlearn/models/alexnet.hpp"

namespace tlearn {

AlexNetImpl::AlexNetImpl(const AlexNetConfig&, const ModelSpec& spec, const BackboneOptions& options)
    : SequentialBackboneImpl(spec, options) {
  using torch::nn::Conv2dOptions;
  auto pool = [] { return torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2)); };
  auto relu = [] { return nn::ReLU(); };
  features_ = register_module(
      "features", torch::nn::Sequential(nn::Conv2d(Conv2dOptions(options.in_chans(), 64, 11).stride(4).padding(2)),
                                        relu(), pool(), nn::Conv2d(Conv2dOptions(64, 192, 5).padding(2)), relu(),
                                        pool(), nn::Conv2d(Conv2dOptions(192, 384, 3).padding(1)), relu(),
                                        nn::Conv2d(Conv2dOptions(384, 256, 3).padding(1)), relu(),
                                        nn::Conv2d(Conv2dOptions(256, 256, 3).padding(1)), relu(), pool()));
  feature_taps_ = detail::add_sequential_layers(table_, "features", features_);
  feature_info_ = {{"features.1", 64, 4}, {"features.4", 192, 8}, {"features.11", 256, 16}, {"features.12", 256, 32}};
  output_channels_ = 256;

  if (options.include_top()) {
    const double dropout = drop_rate_or(0.5);
    classifier_ = register_module(
        "classifier", torch::nn::Sequential(torch::nn::Dropout(dropout), nn::Linear(256 * 6 * 6, 4096), relu(),
                                            torch::nn::Dropout(dropout), nn::Linear(4096, 4096), relu(),
                                            nn::Linear(4096, options.classes())));
    top_.pool("avgpool", "", 6).flatten("flatten").sequential("classifier", classifier_).add_rows(table_);
  }
  // torchvision keeps PyTorch's default initialisation for AlexNet (LibTorch's is the same).
}

}  // namespace tlearn
