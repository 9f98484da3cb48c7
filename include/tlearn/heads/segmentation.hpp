#pragma once
/// \file
/// Semantic segmentation on a pretrained backbone: several named taps from one
/// pass of the (frozen or partly frozen) encoder, a U-Net style decoder
/// (TensorFlow's MobileNetV2 + pix2pix tutorial), cross-entropy and Dice
/// losses, per-class IoU.
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
#include <utility>
#include <vector>

#include "tlearn/core/batch_norm.hpp"
#include "tlearn/core/error.hpp"
#include "tlearn/core/selector.hpp"
#include "tlearn/models/backbone.hpp"
#include "tlearn/models/registry.hpp"

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
  explicit MultiScaleFeaturesImpl(AnyBackbone backbone, std::vector<std::string> layers = {})
      : backbone_(std::move(backbone)) {
    if (!backbone_) throw Error("MultiScaleFeatures: the backbone is empty; pass one made by make_backbone(...)");
    register_module("backbone", backbone_.ptr());
    if (layers.empty())
      for (const auto& f : backbone_->feature_info()) layers.push_back(f.name);
    if (layers.empty())
      throw Error("MultiScaleFeatures: " + backbone_->spec().name + " declares no feature_info(); name the layers to tap");
    const auto& table = backbone_->layer_table();
    std::vector<std::pair<size_t, std::string>> rows;
    for (const auto& l : layers) rows.emplace_back(table.index_of(l), "");
    std::sort(rows.begin(), rows.end());
    for (size_t i = 0; i + 1 < rows.size(); ++i)
      if (rows[i].first == rows[i + 1].first)
        throw Error("MultiScaleFeatures: layer '" + table[rows[i].first].name + "' is named twice; name each layer once");
    for (const auto& r : rows) names_.push_back(table[r.first].name);
    measure();
  }

  /// Feature maps (N, C_i, H / stride_i, W / stride_i), shallow to deep.
  std::vector<torch::Tensor> forward(const torch::Tensor& x) { return backbone_->forward_features(x, names_); }

  const std::vector<FeatureTap>& taps() const { return taps_; }
  std::vector<int64_t> channels() const {
    std::vector<int64_t> c;
    for (const auto& t : taps_) c.push_back(t.channels);
    return c;
  }
  AnyBackbone backbone() const { return backbone_; }

 private:
  void measure() {
    // The input_shape the user chose, else a square small enough to be quick.
    const int64_t side = std::max<int64_t>(backbone_->spec().min_size, 128);
    const auto hw = backbone_->options().input_shape().empty() ? std::vector<int64_t>{side, side}
                                                               : backbone_->input_shape();
    const bool was_training = backbone_->is_training();
    backbone_->eval();
    std::vector<torch::Tensor> maps;
    {
      torch::NoGradGuard no_grad;
      maps = forward(torch::zeros({1, backbone_->options().in_chans(), hw[0], hw[1]}));
    }
    backbone_->train(was_training);
    for (size_t i = 0; i < maps.size(); ++i) {
      if (maps[i].dim() != 4) {
        std::ostringstream msg;
        msg << "MultiScaleFeatures: layer '" << names_[i] << "' outputs shape " << maps[i].sizes()
            << "; a decoder needs (N, C, h, w) feature maps, so tap convolutional layers";
        throw Error(msg.str());
      }
      taps_.push_back({names_[i], maps[i].size(1), std::max<int64_t>(1, std::llround(double(hw[0]) / double(maps[i].size(2))))});
    }
  }

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
  explicit UNetDecoderImpl(UNetDecoderOptions options) : options_(std::move(options)) {
    const auto& skips = options_.skip_channels();
    if (skips.empty()) throw Error("UNetDecoder: skip_channels is empty; pass the channels of at least one encoder map");
    for (auto c : skips)
      if (c < 1) throw Error("UNetDecoder: every skip channel count must be positive");
    if (options_.classes() < 1) throw Error("UNetDecoder: classes must be at least 1");
    if (!(options_.dropout() >= 0 && options_.dropout() < 1))
      throw Error("UNetDecoder: dropout must be in [0, 1), got " + std::to_string(options_.dropout()));
    const size_t blocks = skips.size() - 1;
    auto widths = options_.widths();
    if (widths.empty())
      for (size_t i = 0; i < blocks; ++i) widths.push_back(std::max<int64_t>(16, 512 >> i));
    if (widths.size() != blocks)
      throw Error("UNetDecoder: widths has " + std::to_string(widths.size()) + " entries; it needs one per skip but the deepest (" +
                  std::to_string(blocks) + ")");
    int64_t in = skips.back();
    blocks_ = register_module("blocks", torch::nn::ModuleList());
    for (size_t i = 0; i < blocks; ++i) {
      torch::nn::Sequential block;
      block->push_back("conv", torch::nn::ConvTranspose2d(
                                   torch::nn::ConvTranspose2dOptions(in, widths[i], 3).stride(2).padding(1).output_padding(1).bias(false)));
      block->push_back("bn", nn::BatchNorm2d(widths[i]));
      if (options_.dropout() > 0) block->push_back("dropout", torch::nn::Dropout2d(options_.dropout()));
      block->push_back("relu", torch::nn::ReLU(true));
      blocks_->push_back(block);
      in = widths[i] + skips[skips.size() - 2 - i];
    }
    head_ = register_module("head", torch::nn::ConvTranspose2d(
                                        torch::nn::ConvTranspose2dOptions(in, options_.classes(), 3).stride(2).padding(1).output_padding(1)));
  }

  /// `features`: shallow to deep, as MultiScaleFeatures returns them; `output_hw`: {H, W}
  /// of the logits (the input size). Returns (N, classes, H, W).
  torch::Tensor forward(const std::vector<torch::Tensor>& features, std::vector<int64_t> output_hw) {
    const auto& skips = options_.skip_channels();
    if (features.size() != skips.size())
      throw Error("UNetDecoder: got " + std::to_string(features.size()) + " feature maps, built for " +
                  std::to_string(skips.size()) + " (one per skip_channels entry, shallow to deep)");
    for (size_t i = 0; i < features.size(); ++i)
      if (features[i].dim() != 4 || features[i].size(1) != skips[i]) {
        std::ostringstream msg;
        msg << "UNetDecoder: feature map " << i << " has shape " << features[i].sizes() << ", expected (N, " << skips[i]
            << ", h, w) as skip_channels says";
        throw Error(msg.str());
      }
    if (output_hw.size() != 2) throw Error("UNetDecoder: output_hw must be {H, W}");
    auto x = features.back();
    for (size_t i = 0; i < blocks_->size(); ++i) {
      x = blocks_[i]->as<torch::nn::Sequential>()->forward(x);
      const auto& skip = features[features.size() - 2 - i];
      x = torch::cat({resize(x, skip.size(2), skip.size(3)), skip}, 1);
    }
    return resize(head_(x), output_hw[0], output_hw[1]);
  }

  const UNetDecoderOptions& options() const { return options_; }

 private:
  static torch::Tensor resize(const torch::Tensor& x, int64_t h, int64_t w) {
    if (x.size(2) == h && x.size(3) == w) return x;
    namespace F = torch::nn::functional;
    return F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBilinear).align_corners(false));
  }

  UNetDecoderOptions options_;
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
};

/// Encoder taps + U-Net decoder: images (N, C, H, W) to class logits (N, classes, H, W).
class SegmentationModelImpl : public torch::nn::Module {
 public:
  SegmentationModelImpl(AnyBackbone backbone, std::vector<std::string> layers, int64_t classes,
                        const SegmentationModelOptions& options = {})
      : encoder_(std::move(backbone), std::move(layers)),
        decoder_(UNetDecoderOptions(encoder_->channels(), classes).widths(options.widths()).dropout(options.dropout())) {
    register_module("encoder", encoder_);
    register_module("decoder", decoder_);
    if (options.freeze_encoder()) encoder_->backbone()->set_trainable(all(), false);
  }

  torch::Tensor forward(const torch::Tensor& x) { return decoder_->forward(encoder_->forward(x), {x.size(2), x.size(3)}); }

  /// Class index per pixel (N, H, W), in eval mode without gradients (the mode is restored).
  torch::Tensor predict(const torch::Tensor& x) {
    const bool was_training = is_training();
    eval();
    torch::NoGradGuard no_grad;
    auto out = forward(x).argmax(1);
    train(was_training);
    return out;
  }

  /// The parameters that require gradients (decoder + unfrozen encoder layers), for an optimizer.
  std::vector<torch::Tensor> trainable_parameters() const {
    std::vector<torch::Tensor> out;
    for (const auto& p : parameters())
      if (p.requires_grad()) out.push_back(p);
    return out;
  }

  const MultiScaleFeatures& encoder() const { return encoder_; }
  const UNetDecoder& decoder() const { return decoder_; }

 private:
  MultiScaleFeatures encoder_;
  UNetDecoder decoder_;
};
/// Holder of SegmentationModelImpl (written out so that `{"a", "b"}` works as the layer list).
class SegmentationModel : public torch::nn::ModuleHolder<SegmentationModelImpl> {
 public:
  using torch::nn::ModuleHolder<SegmentationModelImpl>::ModuleHolder;
  SegmentationModel(AnyBackbone backbone, std::vector<std::string> layers, int64_t classes,
                    const SegmentationModelOptions& options = {})
      : ModuleHolder(std::make_shared<SegmentationModelImpl>(std::move(backbone), std::move(layers), classes, options)) {}
};

/// Segmentation losses and metrics. Masks are (N, H, W) int64 class indices;
/// pixels equal to `ignore_index` count nowhere.
namespace seg {

namespace detail {
inline void check_pair(const torch::Tensor& logits, const torch::Tensor& masks, const char* what) {
  if (logits.dim() != 4 || masks.dim() != 3 || logits.size(0) != masks.size(0) || logits.size(2) != masks.size(1) ||
      logits.size(3) != masks.size(2)) {
    std::ostringstream msg;
    msg << what << ": expected logits (N, classes, H, W) and masks (N, H, W) of the same N, H, W, got "
        << logits.sizes() << " and " << masks.sizes();
    throw Error(msg.str());
  }
}

/// Throws unless every mask value is a class index or ignore_index.
inline void check_labels(const torch::Tensor& masks, int64_t classes, int64_t ignore_index, const char* what) {
  if (masks.is_floating_point())
    throw Error(std::string(what) + ": masks must hold integer class indices; convert with .to(torch::kLong)");
  auto valid = masks.ne(ignore_index);
  if (!valid.any().item<bool>()) return;
  auto v = masks.masked_select(valid);
  const int64_t lo = v.min().item<int64_t>(), hi = v.max().item<int64_t>();
  if (lo < 0 || hi >= classes)
    throw Error(std::string(what) + ": a mask holds class " + std::to_string(lo < 0 ? lo : hi) + " but there are " +
                std::to_string(classes) + " classes (0.." + std::to_string(classes - 1) +
                "); fix the masks or build the model with more classes");
}
}  // namespace detail

/// Pixel-wise cross-entropy, averaged over the pixels that are not ignored.
inline torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& masks, int64_t ignore_index = -100) {
  detail::check_pair(logits, masks, "seg::cross_entropy");
  detail::check_labels(masks, logits.size(1), ignore_index, "seg::cross_entropy");
  namespace F = torch::nn::functional;
  return F::cross_entropy(logits, masks.to(torch::kLong), F::CrossEntropyFuncOptions().ignore_index(ignore_index));
}

/// Soft Dice loss: 1 - mean over classes of (2 |P G| + smooth) / (|P| + |G| + smooth),
/// P the softmax probabilities, G the one-hot masks, sums over the batch and pixels.
inline torch::Tensor dice_loss(const torch::Tensor& logits, const torch::Tensor& masks, double smooth = 1.0,
                               int64_t ignore_index = -100) {
  detail::check_pair(logits, masks, "seg::dice_loss");
  const int64_t k = logits.size(1);
  detail::check_labels(masks, k, ignore_index, "seg::dice_loss");
  auto valid = masks.ne(ignore_index).unsqueeze(1).to(logits.dtype());              // (N, 1, H, W)
  auto target = masks.to(torch::kLong).masked_fill(masks.eq(ignore_index), 0);
  auto onehot = torch::one_hot(target, k).permute({0, 3, 1, 2}).to(logits.dtype()) * valid;
  auto probs = logits.softmax(1) * valid;
  auto inter = (probs * onehot).sum({0, 2, 3});
  auto total = probs.sum({0, 2, 3}) + onehot.sum({0, 2, 3});
  return 1 - ((2 * inter + smooth) / (total + smooth)).mean();
}

/// Accumulates a confusion matrix over batches: rows true class, columns predicted.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t classes, int64_t ignore_index = -100)
      : classes_(classes), ignore_index_(ignore_index) {
    if (classes < 1) throw Error("ConfusionMatrix: classes must be at least 1");
    counts_ = torch::zeros({classes, classes}, torch::kLong);
  }

  /// `prediction`: logits (N, classes, H, W) or class indices (N, H, W); `masks` (N, H, W).
  void update(const torch::Tensor& prediction, const torch::Tensor& masks) {
    auto pred = prediction.detach();
    if (pred.dim() == 4) {
      detail::check_pair(pred, masks, "ConfusionMatrix::update");
      pred = pred.argmax(1);
    }
    if (pred.sizes() != masks.sizes()) {
      std::ostringstream msg;
      msg << "ConfusionMatrix::update: predictions " << prediction.sizes() << " do not match masks " << masks.sizes();
      throw Error(msg.str());
    }
    detail::check_labels(masks, classes_, ignore_index_, "ConfusionMatrix::update");
    auto t = masks.detach().to(torch::kCPU).to(torch::kLong).flatten();
    auto p = pred.to(torch::kCPU).to(torch::kLong).flatten();
    auto keep = t.ne(ignore_index_);
    t = t.masked_select(keep);
    p = p.masked_select(keep).clamp(0, classes_ - 1);
    counts_ += torch::bincount(t * classes_ + p, {}, classes_ * classes_).view({classes_, classes_}).to(torch::kLong);
  }

  void reset() { counts_.zero_(); }
  const torch::Tensor& counts() const { return counts_; }

  /// Intersection over union per class; NaN for a class absent from both truth and prediction.
  std::vector<double> iou() const {
    std::vector<double> out;
    auto c = counts_.to(torch::kDouble);
    auto tp = c.diagonal(), rows = c.sum(1), cols = c.sum(0);
    for (int64_t k = 0; k < classes_; ++k) {
      const double uni = rows[k].item<double>() + cols[k].item<double>() - tp[k].item<double>();
      out.push_back(uni > 0 ? tp[k].item<double>() / uni : std::numeric_limits<double>::quiet_NaN());
    }
    return out;
  }

  /// Mean of iou() over the classes that occur (NaN when none does).
  double mean_iou() const {
    double sum = 0;
    int n = 0;
    for (double v : iou())
      if (!std::isnan(v)) sum += v, ++n;
    return n ? sum / n : std::numeric_limits<double>::quiet_NaN();
  }

  /// Fraction of (not ignored) pixels classified correctly.
  double pixel_accuracy() const {
    const double total = counts_.sum().item<double>();
    return total > 0 ? counts_.diagonal().sum().item<double>() / total : std::numeric_limits<double>::quiet_NaN();
  }

 private:
  int64_t classes_, ignore_index_;
  torch::Tensor counts_;
};

/// IoU per class of one batch (see ConfusionMatrix::iou).
inline std::vector<double> iou(const torch::Tensor& prediction, const torch::Tensor& masks, int64_t classes,
                               int64_t ignore_index = -100) {
  ConfusionMatrix cm(classes, ignore_index);
  cm.update(prediction, masks);
  return cm.iou();
}

/// Mean IoU of one batch over the classes that occur.
inline double mean_iou(const torch::Tensor& prediction, const torch::Tensor& masks, int64_t classes,
                       int64_t ignore_index = -100) {
  ConfusionMatrix cm(classes, ignore_index);
  cm.update(prediction, masks);
  return cm.mean_iou();
}

}  // namespace seg
}  // namespace tlearn
