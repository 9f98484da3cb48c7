#pragma once
/// \file
/// InceptionResNetV2 as Keras Applications builds it
/// (keras.applications.InceptionResNetV2; torchvision has none): registered as
/// "keras.InceptionResNetV2", with Keras' layer names and order as the table's
/// aliases (`first(n)` is `model.layers[:n]`), Keras' official weights and their
/// MD5s, "tf" preprocessing, 299 x 299 by default (75 at least).
///
/// Built from the Inception pieces (models/inception.hpp) computed as Keras
/// computes them (InceptionOp::keras: BatchNorm without scale, average pools
/// that leave the padding out): Inception v3's stem; mixed_5b; ten block35,
/// mixed_6a, twenty block17, mixed_7a, ten block8 residual blocks, where each
/// block concatenates its branches, projects them back to its input's width with
/// a 1x1 conv (with bias, no BatchNorm), adds them scaled (0.17, 0.1, 0.2; Keras'
/// CustomScaleLayer) to its input and rectifies (block8_10 does not); conv_7b.
///
///     auto base = tlearn::make_backbone("keras.InceptionResNetV2", tlearn::BackboneOptions().include_top(false));
///
/// Module paths: conv2d_1a ... conv2d_4a (stem), mixed_5b, repeat.N (block35),
/// mixed_6a, repeat_1.N (block17), mixed_7a, repeat_2.N (block8_1..9), block8
/// (block8_10), conv2d_7b, fc; a block's branches sit under "<block>.mixed".

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/inception.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/nn/residual.hpp"

namespace tlearn {

namespace nn {

/// One Inception-ResNet block: x + scale * conv1x1(concat(branches(x))), then ReLU
/// unless `relu` is false. `keras` is its Keras name ("block35_3").
class InceptionResNetBlockImpl : public torch::nn::Module {
 public:
  InceptionResNetBlockImpl(LayerTable& table, detail::KerasInceptionNames& names, const std::string& path,
                           const std::string& input_row, const std::string& keras, std::vector<InceptionBranch> branches,
                           int64_t channels, double scale, bool relu);

  torch::Tensor forward(const torch::Tensor& x);

  /// The row of the block's output.
  const std::string& output_row() const { return out_row_; }

 private:
  double scale_;
  ResidualAdd residual_;
  InceptionBlock mixed_{nullptr};
  nn::Conv2d conv_{nullptr};
  nn::ReLU relu_{nullptr};
  std::string path_, out_row_;
};
TORCH_MODULE(InceptionResNetBlock);

}  // namespace nn

struct KerasInceptionResNetV2Config {};  // one variant

class KerasInceptionResNetV2Impl : public BackboneImpl {
 public:
  KerasInceptionResNetV2Impl(const KerasInceptionResNetV2Config& config, const ModelSpec& spec,
                             const BackboneOptions& options);

 protected:
  torch::Tensor forward_body(torch::Tensor x) override;


 private:
  InceptionTrunk stem_;  ///< the convs and pools before mixed_5b, then mixed_5b
  std::vector<torch::nn::AnyModule> body_;  ///< the residual blocks and reductions in order
  nn::ConvNormAct conv_7b_{nullptr};
  nn::Linear fc_{nullptr};
};

namespace detail {
inline ModelSpec keras_inception_resnet_v2_spec() {
  return keras_model_spec(
      "keras.InceptionResNetV2", "keras_inception_resnet_v2", "conv2d_1a.conv.weight",
      R"(^(conv2d_[0-9a-z]+|mixed_[0-9a-z]+|repeat(_\d)?\.\d+|block8))",
      keras_weights("inception_resnet_v2", "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
                    "e693bd0210a403b3192acc6073ad2e96", "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
                    "d19885ff4a710c122648d3b5c3b684e4", Preprocessing::TF, 299),
      299, 75);
}
}  // namespace detail

namespace arch {
struct KerasInceptionResNetV2 {
  using Impl = KerasInceptionResNetV2Impl;
  static constexpr const char* name = "keras.InceptionResNetV2";
};
}  // namespace arch

namespace detail {
/// The keras_inception_resnet_v2 variant; register_builtin_models() adds it.
inline std::vector<RegisteredModel> keras_inception_resnet_v2_variants() {
  return {variant<KerasInceptionResNetV2Impl>(keras_inception_resnet_v2_spec(), KerasInceptionResNetV2Config{})};
}
}  // namespace detail

}  // namespace tlearn
