#pragma once
/// \file
/// Xception as Keras Applications builds it (keras.applications.Xception;
/// torchvision has none): registered as "keras.Xception", with Keras' layer names
/// as the table's aliases (`first(n)` is `model.layers[:n]`, the unnamed
/// shortcut layers numbered as Keras numbers them: conv2d, conv2d_1, ...),
/// Keras' official weights and their MD5s, "tf" preprocessing, 299 x 299 by
/// default (71 at least).
///
/// The network: two 3x3 convs without padding (block1); three entry blocks
/// (block2-4) of two separable convs and a "same" 3x3 max pooling at stride 2,
/// with a strided 1x1 conv + BatchNorm shortcut; eight middle blocks (block5-12)
/// of three separable convs around an identity shortcut; an exit block (block13)
/// like the entry ones; two separable convs (block14). A separable conv is one
/// Keras layer and one row (nn/separable_conv.hpp). Blocks after the first
/// rectify their input before their first separable conv (the shortcut takes
/// it unrectified). BatchNorm keeps Keras' epsilon 1e-3 and momentum 0.01 (0.99).
///
///     auto base = tlearn::make_backbone("keras.Xception",
///                                       tlearn::BackboneOptions().include_top(false).input_shape({150, 150}));
///
/// Module paths: block1 (conv1, conv2: ConvNormAct), block<N> (N = 2..14) with
/// sepconv<i> and bn<i>, and shortcut / shortcut_bn where the block strides; fc.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tlearn/core/batch_norm.hpp"
#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/nn/activation.hpp"
#include "tlearn/nn/residual.hpp"
#include "tlearn/nn/separable_conv.hpp"

namespace tlearn {

struct KerasXceptionConfig {};  // one variant: Keras has no width or depth options for it

namespace nn {

/// One Xception block from block2 on: [ReLU] SeparableConv BN, once per entry of
/// `filters`, then for a strided block a "same" max pooling added to a 1x1
/// conv + BN shortcut, for a middle block the input added back, for block14
/// nothing added (each separable conv then followed by its ReLU, as Keras orders them).
class KerasXceptionBlockImpl : public torch::nn::Module {
 public:
  enum class Kind { Strided, Middle, Exit };

  KerasXceptionBlockImpl(LayerTable& table, detail::KerasLayerNumbering& numbering, int number, int64_t in,
                         const std::vector<int64_t>& filters, Kind kind);

  torch::Tensor forward(torch::Tensor x);

  /// The tap of the block's output.
  const std::string& output_name() const { return rows_.back(); }
  int64_t out_channels() const { return out_channels_; }

 private:
  Kind kind_;
  int64_t out_channels_;
  std::vector<nn::ReLU> relus_;
  std::vector<nn::SeparableConv2d> convs_;
  std::vector<nn::BatchNorm2d> norms_;
  nn::Conv2d shortcut_{nullptr};
  nn::BatchNorm2d shortcut_bn_{nullptr};
  ResidualAdd residual_;  ///< the add, tapped by forward's row sequence
  std::string path_;
  std::vector<std::string> rows_;
};
TORCH_MODULE(KerasXceptionBlock);

}  // namespace nn

class KerasXceptionImpl : public BackboneImpl {
 public:
  KerasXceptionImpl(const KerasXceptionConfig& config, const ModelSpec& spec, const BackboneOptions& options);

 protected:
  torch::Tensor forward_body(torch::Tensor x) override;


 private:
  nn::ConvNormAct conv1_{nullptr}, conv2_{nullptr};
  std::vector<nn::KerasXceptionBlock> blocks_;
  nn::Linear fc_{nullptr};
};

namespace detail {
inline ModelSpec keras_xception_spec() {
  return keras_model_spec("keras.Xception", "keras_xception", "block1.conv1.0.weight", R"(^block\d+)",
                          keras_weights("xception", "xception_weights_tf_dim_ordering_tf_kernels.h5",
                                        "0a58e3b7378bc2990ea3b43d5981f1f6",
                                        "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
                                        "b0042744bf5b25fce3cb969f33bebb97", Preprocessing::TF, 299),
                          299, 71);
}
}  // namespace detail

namespace arch {
struct KerasXception { using Impl = KerasXceptionImpl; static constexpr const char* name = "keras.Xception"; };
}  // namespace arch

namespace detail {
/// The keras_xception variant; register_builtin_models() adds it.
inline std::vector<RegisteredModel> keras_xception_variants() {
  return {variant<KerasXceptionImpl>(keras_xception_spec(), KerasXceptionConfig{})};
}
}  // namespace detail

}  // namespace tlearn
