#pragma once
/// \file
/// Semantic segmentation on a pretrained backbone: several named taps from one
/// pass of the (frozen or partly frozen) encoder, a U-Net style decoder
/// (TensorFlow's MobileNetV2 + pix2pix tutorial). Its losses and metrics are
/// train/segmentation.hpp.
///
///     auto base = tlearn::make_backbone("mobilenet_v2", tlearn::BackboneOptions().include_top(false));
///     tlearn::SegmentationModel model(base, {"block_1_expand_relu", "block_3_expand_relu",
///         "block_6_expand_relu", "block_13_expand_relu", "block_16_project"}, /*classes=*/3);
///     auto logits = model->forward(images);                          // (N, 3, H, W)
///     auto loss = tlearn::seg::cross_entropy(logits, masks) + tlearn::seg::dice_loss(logits, masks);
///     tlearn::seg::ConfusionMatrix cm(3);
///     cm.update(logits, masks);
///     double miou = cm.mean_iou();

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tlearn/core/batch_norm.hpp"
#include "tlearn/core/error.hpp"
#include "tlearn/core/selector.hpp"
#include "tlearn/core/summary.hpp"
#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"

namespace tlearn {

/// One tap of a multi-scale feature extractor.
struct FeatureTap {
  std::string name;  ///< the tap name (Keras aliases are resolved)
  int64_t channels = 0;
  int64_t stride = 1;  ///< input size / feature map size
};

/// Several named layers of a backbone from one forward pass that stops after the
/// deepest (timm's features_only with chosen layers). Channels and strides are
/// measured by a dry run at construction.
///
///     tlearn::MultiScaleFeatures enc(base, {"block2_pool", "block3_pool"});
///     auto maps = enc->forward(x);   // shallow to deep
///     enc->taps()[1].stride;         // 8
class MultiScaleFeaturesImpl : public torch::nn::Module {
 public:
  /// `layers`: names or Keras aliases, any order (sorted shallow to deep); empty: the
  /// stages of feature_info(). The backbone's freezing is left as it is.
  explicit MultiScaleFeaturesImpl(AnyBackbone backbone, std::vector<std::string> layers = {});

  /// Feature maps (N, C_i, H / stride_i, W / stride_i), shallow to deep.
  std::vector<torch::Tensor> forward(const torch::Tensor& x) { return backbone_->forward_features(x, names_); }

  const std::vector<FeatureTap>& taps() const { return taps_; }
  /// The tapped layers' table names, shallow to deep.
  const std::vector<std::string>& layer_names() const { return names_; }
  std::vector<int64_t> channels() const;
  AnyBackbone backbone() const { return backbone_; }

 private:
  void measure();

  AnyBackbone backbone_;
  std::vector<std::string> names_;
  std::vector<FeatureTap> taps_;
};
/// Holder of MultiScaleFeaturesImpl (written out so that `{"a", "b"}` works as the layer list).
class MultiScaleFeatures : public torch::nn::ModuleHolder<MultiScaleFeaturesImpl> {
 public:
  using torch::nn::ModuleHolder<MultiScaleFeaturesImpl>::ModuleHolder;
  explicit MultiScaleFeatures(AnyBackbone backbone, std::vector<std::string> layers = {})
      : ModuleHolder(std::make_shared<MultiScaleFeaturesImpl>(std::move(backbone), std::move(layers))) {}
};

struct UNetDecoderOptions {
  /// `skip_channels`: channels of the encoder's maps, shallow to deep.
  UNetDecoderOptions(std::vector<int64_t> skip_channels, int64_t classes)
      : skip_channels_(std::move(skip_channels)), classes_(classes) {}
  TORCH_ARG(std::vector<int64_t>, skip_channels);
  TORCH_ARG(int64_t, classes);
  /// Output channels of the upsampling blocks, deep to shallow (one per skip but the
  /// deepest). Empty: 512, 256, 128, 64, then halving (at least 16), as the TF tutorial.
  TORCH_ARG(std::vector<int64_t>, widths) = {};
  /// Dropout in each upsampling block (pix2pix uses 0.5 in the first ones); 0: none.
  TORCH_ARG(double, dropout) = 0.0;
};

/// U-Net style decoder: from the deepest map, each block upsamples x2
/// (ConvTranspose2d 3x3 stride 2, BatchNorm, Dropout, ReLU) and concatenates the
/// next shallower skip; a last ConvTranspose2d x2 gives the class logits, resized
/// (bilinear) to the requested size when the strides do not land on it exactly.
class UNetDecoderImpl : public torch::nn::Module {
 public:
  explicit UNetDecoderImpl(UNetDecoderOptions options);

  /// `features`: shallow to deep, as MultiScaleFeatures returns them; `output_hw`: {H, W}
  /// of the logits (the input size). Returns (N, classes, H, W).
  torch::Tensor forward(const std::vector<torch::Tensor>& features, std::vector<int64_t> output_hw);

  const UNetDecoderOptions& options() const { return options_; }
  /// Output channels of the upsampling blocks, deep to shallow (options' widths, or the defaults).
  const std::vector<int64_t>& widths() const { return widths_; }

 private:
  static torch::Tensor resize(const torch::Tensor& x, int64_t h, int64_t w);

  UNetDecoderOptions options_;
  std::vector<int64_t> widths_;
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::ConvTranspose2d head_{nullptr};
};
TORCH_MODULE(UNetDecoder);

struct SegmentationModelOptions {
  /// Freeze the whole encoder (weights and BatchNorm statistics). For a partly frozen
  /// one, leave this false and call encoder()->backbone()->set_trainable(until(...), false).
  TORCH_ARG(bool, freeze_encoder) = true;
  /// Decoder block widths, deep to shallow; empty: UNetDecoderOptions' default.
  TORCH_ARG(std::vector<int64_t>, widths) = {};
  TORCH_ARG(double, dropout) = 0.0;
  /// Names of the classes, in order; empty or one per class. save_model keeps them.
  TORCH_ARG(std::vector<std::string>, class_names) = {};
};

/// Encoder taps + U-Net decoder: images (N, C, H, W) to class logits (N, classes, H, W).
class SegmentationModelImpl : public torch::nn::Module {
 public:
  SegmentationModelImpl(AnyBackbone backbone, std::vector<std::string> layers, int64_t classes,
                        const SegmentationModelOptions& options = {});

  torch::Tensor forward(const torch::Tensor& x) { return decoder_->forward(encoder_->forward(x), {x.size(2), x.size(3)}); }

  /// Keras' predict: per-pixel probabilities (N, classes, H, W) — softmax over the
  /// classes, sigmoid for one class — `batch_size` images at a time, in eval mode
  /// without gradients (the mode is restored). `.argmax(1)` gives the class map.
  torch::Tensor predict(const torch::Tensor& x, int64_t batch_size = 32);
  /// predict over the batches of a data::Loader (or any range of tensors), in data-set order.
  template <class R, class = std::enable_if_t<!std::is_convertible_v<R, torch::Tensor>>>
  torch::Tensor predict(R&& batches) {
    return predict_range(*this, batches, predict_fn());
  }
  PredictFn predict_fn();

  /// The parameters that require gradients (decoder + unfrozen encoder layers), for an optimizer.
  std::vector<torch::Tensor> trainable_parameters() const;

  const MultiScaleFeatures& encoder() const { return encoder_; }
  const UNetDecoder& decoder() const { return decoder_; }
  const SegmentationModelOptions& options() const { return options_; }

  /// Keras' model.summary(): the encoder as one row (its rows with expand_nested),
  /// the tapped maps, each decoder block after its concatenation, the output layer.
  void summary(std::ostream& os, const SummaryOptions& options = {});

 private:
  SegmentationModelOptions options_;
  MultiScaleFeatures encoder_;
  UNetDecoder decoder_;
};
/// Holder of SegmentationModelImpl (written out so that `{"a", "b"}` works as the layer list).
class SegmentationModel : public torch::nn::ModuleHolder<SegmentationModelImpl> {
 public:
  using torch::nn::ModuleHolder<SegmentationModelImpl>::ModuleHolder;
  SegmentationModel(AnyBackbone backbone, std::vector<std::string> layers, int64_t classes,
                    const SegmentationModelOptions& options = {});
};

}  // namespace tlearn
