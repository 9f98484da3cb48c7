#pragma once
/// \file
/// GoogLeNet / Inception v1 (torchvision.models.googlenet), built from the
/// BasicConv2d and multi-branch block of inception.hpp.
///
/// As torchvision's pretrained googlenet (aux_logits=False after loading), the
/// auxiliary heads aux1 / aux2 are not built and their keys are skipped when
/// loading the official checkpoint. transform_input follows torchvision: on for
/// weights("imagenet") or a tag, off otherwise (see inception.hpp).
///
/// Layer table: as inception_v3 ("inception3a.branch2.0.conv", ..., "inception3a.branch4.0"
/// for the branch's MaxPool2d, "inception3a" for the concatenated block output).

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tlearn/models/inception.hpp"

namespace tlearn {

/// GoogLeNet has a single variant; the config is empty.
struct GoogLeNetConfig {};

namespace detail {
/// torchvision's Inception(in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj);
/// its "5x5" branch uses a 3x3 kernel, as torchvision's does.
inline std::vector<InceptionBranch> googlenet_block(int64_t in, int64_t ch1x1, int64_t ch3x3red, int64_t ch3x3,
                                                    int64_t ch5x5red, int64_t ch5x5, int64_t pool_proj) {
  return {{inception_conv("branch1", in, ch1x1, 1)},
          {inception_conv("branch2.0", in, ch3x3red, 1), inception_conv("branch2.1", ch3x3red, ch3x3, 3, 1, 1)},
          {inception_conv("branch3.0", in, ch5x5red, 1), inception_conv("branch3.1", ch5x5red, ch5x5, 3, 1, 1)},
          {inception_pool(InceptionOp::Kind::MaxPool, "branch4.0", 3, 1, 1, /*ceil_mode=*/true),
           inception_conv("branch4.1", in, pool_proj, 1)}};
}
}  // namespace detail

class GoogLeNetImpl : public BackboneImpl {
 public:
  GoogLeNetImpl(const GoogLeNetConfig&, const ModelSpec& spec, const BackboneOptions& options)
      : BackboneImpl(spec, options), transform_input_(detail::inception_transform_input_on(spec, options)) {
    using detail::googlenet_block;
    using detail::inception_conv;
    auto pool = [](const std::string& name, int64_t kernel) {
      return detail::inception_pool(InceptionOp::Kind::MaxPool, name, kernel, 2, 0, /*ceil_mode=*/true);
    };
    trunk_.add_op(*this, inception_conv("conv1", options.in_chans(), 64, 7, 2, 3), table_);
    trunk_.add_op(*this, pool("maxpool1", 3), table_);
    trunk_.add_op(*this, inception_conv("conv2", 64, 64, 1), table_);
    trunk_.add_op(*this, inception_conv("conv3", 64, 192, 3, 1, 1), table_);
    trunk_.add_op(*this, pool("maxpool2", 3), table_);
    trunk_.add_block(*this, "inception3a", googlenet_block(192, 64, 96, 128, 16, 32, 32), table_);
    trunk_.add_block(*this, "inception3b", googlenet_block(256, 128, 128, 192, 32, 96, 64), table_);
    trunk_.add_op(*this, pool("maxpool3", 3), table_);
    trunk_.add_block(*this, "inception4a", googlenet_block(480, 192, 96, 208, 16, 48, 64), table_);
    trunk_.add_block(*this, "inception4b", googlenet_block(512, 160, 112, 224, 24, 64, 64), table_);
    trunk_.add_block(*this, "inception4c", googlenet_block(512, 128, 128, 256, 24, 64, 64), table_);
    trunk_.add_block(*this, "inception4d", googlenet_block(512, 112, 144, 288, 32, 64, 64), table_);
    trunk_.add_block(*this, "inception4e", googlenet_block(528, 256, 160, 320, 32, 128, 128), table_);
    trunk_.add_op(*this, pool("maxpool4", 2), table_);
    trunk_.add_block(*this, "inception5a", googlenet_block(832, 256, 160, 320, 32, 128, 128), table_);
    trunk_.add_block(*this, "inception5b", googlenet_block(832, 384, 192, 384, 48, 128, 128), table_);
    feature_info_ = {{"conv1", 64, 2}, {"conv3", 192, 4}, {"inception3b", 480, 8},
                     {"inception4e", 832, 16}, {"inception5b", 1024, 32}};
    output_channels_ = 1024;

    if (options.include_top()) {
      dropout_ = register_module("dropout", torch::nn::Dropout(drop_rate_or(0.2)));
      fc_ = register_module("fc", torch::nn::Linear(1024, options.classes()));
      table_.add("avgpool", "AdaptiveAvgPool2d", {}, "avg_pool");
      table_.add("flatten", "Flatten");
      table_.add("dropout", "Dropout");
      table_.add("fc", "Linear", {fc_.ptr()}, "predictions");
    }
    detail::init_inception(*this, 0.01);
  }

  /// Whether inputs are re-normalised as torchvision does for its pretrained weights.
  bool transform_input() const { return transform_input_; }

 protected:
  torch::Tensor forward_body(torch::Tensor x) override {
    if (transform_input_) x = detail::inception_transform_input(x);
    return trunk_.forward(std::move(x));
  }

  torch::Tensor forward_top(torch::Tensor x) override {
    x = torch::adaptive_avg_pool2d(x, {1, 1});
    tap("avgpool", x);
    x = x.flatten(1);
    tap("flatten", x);
    x = dropout_(x);
    tap("dropout", x);
    x = fc_(x);
    tap("fc", x);
    return x;
  }

 private:
  bool transform_input_ = false;
  InceptionTrunk trunk_;
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

namespace detail {
inline ModelSpec googlenet_spec() {
  ModelSpec s;
  s.name = "googlenet";
  s.family = "googlenet";
  s.min_size = 15;
  s.first_conv = "conv1.conv.weight";
  s.top_keys = {"fc\\..*"};
  s.classifier_keys = {"fc\\..*"};
  s.ignore_keys = {"aux1\\..*", "aux2\\..*"};
  WeightSpec w;
  w.tag = "IMAGENET1K_V1";
  w.url = "https://download.pytorch.org/models/googlenet-1378be20.pth";
  w.transform = EvalTransformSpec{256, 224, Interpolation::Bilinear};
  s.weights.push_back(w);
  return s;
}
}  // namespace detail

namespace arch {
struct GoogLeNet { using Impl = GoogLeNetImpl; static constexpr const char* name = "googlenet"; };
}  // namespace arch

namespace detail::registration {
inline const bool googlenet = register_variant<GoogLeNetImpl>(googlenet_spec(), GoogLeNetConfig{});
}  // namespace detail::registration

}  // namespace tlearn
