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
  GoogLeNetImpl(const GoogLeNetConfig&, const ModelSpec& spec, const BackboneOptions& options);

  /// Whether inputs are re-normalised as torchvision does for its pretrained weights.
  bool transform_input() const { return transform_input_; }

 protected:
  torch::Tensor forward_body(torch::Tensor x) override;

 private:
  bool transform_input_ = false;
  InceptionTrunk trunk_;
  nn::Linear fc_{nullptr};
};

namespace detail {
inline ModelSpec googlenet_spec() {
  ModelSpec s;
  s.name = "googlenet";
  s.family = "googlenet";
  s.min_size = 15;
  s.first_conv = "conv1.conv.weight";
  s.block_pattern = R"(^(conv\d|inception\d[a-z])\b)";
  s.top_modules = {"fc"};
  s.classifier_modules = {"fc"};
  s.ignore_modules = {"aux1", "aux2"};
  s.weights.push_back(torchvision_weights("IMAGENET1K_V1", "googlenet-1378be20.pth"));
  return s;
}
}  // namespace detail

namespace arch {
struct GoogLeNet { using Impl = GoogLeNetImpl; static constexpr const char* name = "googlenet"; };
}  // namespace arch

namespace detail {
/// The googlenet variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> googlenet_variants() {
  return {
      variant<GoogLeNetImpl>(googlenet_spec(), GoogLeNetConfig{}),
  };
}
}  // namespace detail

}  // namespace tlearn
