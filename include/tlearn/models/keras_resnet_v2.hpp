#pragma once
/// \file
/// ResNet50V2, ResNet101V2 and ResNet152V2 as Keras Applications builds them
/// (keras.applications.ResNet50V2; torchvision has no pre-activation ResNet):
/// registered as "keras.ResNet50V2", "keras.ResNet101V2", "keras.ResNet152V2",
/// with Keras' layer names as the table's aliases (`first(n)` is
/// `model.layers[:n]`), Keras' official weights and their MD5s, and "tf"
/// preprocessing.
///
/// A block normalises and rectifies its input first ("preact"), then runs
/// 1x1 conv, BatchNorm, ReLU, 3x3 conv, BatchNorm, ReLU, 1x1 conv (with bias)
/// and adds the shortcut: a 1x1 conv (with bias) of the pre-activated input in
/// a stage's first block, the input itself elsewhere, subsampled by a 1x1
/// max pooling in the stage's last block, which carries the stride (the
/// paper's v2 puts it in the first). The stem is a 7x7 conv with bias and a 3x3
/// max pooling over zero padding (Keras' pool1_pad: the stem has no ReLU, so
/// the zeros count); after the last stage, BatchNorm and ReLU (post_bn,
/// post_relu). BatchNorm epsilon is 1.001e-5 everywhere.
///
/// Module paths: conv1; layer<s>.<b> the blocks (preact, conv1 / conv2 as
/// ConvNormAct, conv3, downsample); post_bn; fc.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/nn/residual.hpp"

namespace tlearn {

struct KerasResNetV2Config {
  TORCH_ARG(std::vector<int64_t>, layers);  ///< blocks per stage (4 stages)
};

namespace nn {

/// One pre-activation bottleneck block. `pooling_name` is the Keras name of the
/// shortcut's max pooling in a strided block ("max_pooling2d_1": Keras numbers them
/// in model order).
class KerasResNetV2BlockImpl : public torch::nn::Module {
 public:
  KerasResNetV2BlockImpl(LayerTable& table, const std::string& path, const std::string& keras, int64_t in,
                         int64_t filters, int64_t stride, bool conv_shortcut, const std::string& pooling_name);

  torch::Tensor forward(const torch::Tensor& input);

  /// The tap of the block's output (the add).
  const std::string& output_name() const { return out_name_; }

 private:
  int64_t stride_;
  nn::BatchNorm2d preact_{nullptr};
  nn::ReLU preact_relu_{nullptr};
  nn::ConvNormAct conv1_{nullptr}, conv2_{nullptr};
  nn::Conv2d conv3_{nullptr}, downsample_{nullptr};
  std::string path_, out_name_;
  nn::ResidualAdd residual_;
};
TORCH_MODULE(KerasResNetV2Block);

}  // namespace nn

class KerasResNetV2Impl : public BackboneImpl {
 public:
  KerasResNetV2Impl(const KerasResNetV2Config& config, const ModelSpec& spec, const BackboneOptions& options);

 protected:
  torch::Tensor forward_body(torch::Tensor x) override;


 private:
  nn::Conv2d conv1_{nullptr};
  std::vector<torch::nn::Sequential> layers_;
  nn::BatchNorm2d post_bn_{nullptr};
  nn::ReLU post_relu_{nullptr};
  nn::Linear fc_{nullptr};
};

namespace detail {
/// Keras' ResNet<depth>V2: `stem` names its files ("resnet50v2"), with Keras' MD5s.
inline ModelSpec keras_resnet_v2_spec(const std::string& name, const std::string& stem, const std::string& md5,
                                      const std::string& notop_md5) {
  return keras_model_spec(name, "keras_resnet_v2", "conv1.weight", R"(^layer\d+\.\d+)",
                          keras_weights("resnet", stem + "_weights_tf_dim_ordering_tf_kernels.h5", md5,
                                        stem + "_weights_tf_dim_ordering_tf_kernels_notop.h5", notop_md5,
                                        Preprocessing::TF),
                          224, 32);
}
}  // namespace detail

namespace arch {
struct KerasResNet50V2 { using Impl = KerasResNetV2Impl; static constexpr const char* name = "keras.ResNet50V2"; };
struct KerasResNet101V2 { using Impl = KerasResNetV2Impl; static constexpr const char* name = "keras.ResNet101V2"; };
struct KerasResNet152V2 { using Impl = KerasResNetV2Impl; static constexpr const char* name = "keras.ResNet152V2"; };
}  // namespace arch

namespace detail {
/// The keras_resnet_v2 variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> keras_resnet_v2_variants() {
  return {
      variant<KerasResNetV2Impl>(
          keras_resnet_v2_spec("keras.ResNet50V2", "resnet50v2", "3ef43a0b657b3be2300d5770ece849e0",
                               "fac2f116257151a9d068a22e544a4917"),
          KerasResNetV2Config().layers({3, 4, 6, 3})),
      variant<KerasResNetV2Impl>(
          keras_resnet_v2_spec("keras.ResNet101V2", "resnet101v2", "6343647c601c52e1368623803854d971",
                               "c0ed64b8031c3730f411d2eb4eea35b5"),
          KerasResNetV2Config().layers({3, 4, 23, 3})),
      variant<KerasResNetV2Impl>(
          keras_resnet_v2_spec("keras.ResNet152V2", "resnet152v2", "a49b44d1979771252814e80f8ec446f9",
                               "ed17cf2e0169df9d443503ef94b23b33"),
          KerasResNetV2Config().layers({3, 8, 36, 3})),
  };
}
}  // namespace detail

}  // namespace tlearn
