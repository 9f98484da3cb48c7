#pragma once
/// \file
/// `BackboneImpl`: what every pretrained architecture offers, whatever its family.
/// A family derives from it, registers its modules under torchvision's names,
/// fills the layer table, and implements forward_body (input to last feature
/// map) and forward_top (feature map to logits).
///
///     auto base = tlearn::make_backbone("resnet50", tlearn::BackboneOptions().include_top(false));
///     base->set_trainable(tlearn::until("layer4"), false);
///     auto maps = base->features_only(x);   // one tensor per stage

#include <torch/torch.h>

#include <cstdint>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/core/freeze.hpp"
#include "tlearn/core/layer_table.hpp"
#include "tlearn/core/predict.hpp"
#include "tlearn/core/selector.hpp"
#include "tlearn/core/summary.hpp"
#include "tlearn/core/tap.hpp"
#include "tlearn/core/image_types.hpp"
#include "tlearn/models/spec.hpp"
#include "tlearn/nn/classifier_top.hpp"

namespace tlearn {

/// What include_top = false returns: the 4-D map, or a vector pooled over space (Keras' `pooling`),
/// or a transformer's class token after its final norm (timm's global_pool="token").
enum class Pooling { None, Avg, Max, Token };

struct BackboneOptions {
  /// Keep the ImageNet classifier (true) or end at the last feature map (false).
  TORCH_ARG(bool, include_top) = true;
  /// "" random initialisation; "imagenet" the default pretrained weights (downloaded
  /// into the cache); a weights tag such as "IMAGENET1K_V2"; a path to a .pth /
  /// .safetensors file with torchvision's (or timm's) key names, or a Keras file; or
  /// timm's weights as "hf-hub:ORG/REPO" or "local-dir:FOLDER" (models/timm.hpp).
  TORCH_ARG(std::string, weights) = "";
  /// Output classes of the top; a count other than the weights' re-initialises the last layer.
  TORCH_ARG(int64_t, classes) = 1000;
  /// Applied by forward() to the top's logits. predict() gives softmax probabilities
  /// when this is None.
  TORCH_ARG(Activation, classifier_activation) = Activation::None;
  /// With include_top = false: None gives the 4-D map, Avg / Max a (N, C) vector, Token
  /// the class token of a vision transformer.
  TORCH_ARG(Pooling, pooling) = Pooling::None;
  /// {H, W} the model will see; summary() uses it. Empty: the architecture's default.
  TORCH_ARG(std::vector<int64_t>, input_shape) = {};
  /// Input channels; 1 sums the pretrained RGB kernels of the first conv (timm's rule).
  TORCH_ARG(int64_t, in_chans) = 3;
  /// Dropout before the classifier; negative: the architecture's default.
  TORCH_ARG(double, drop_rate) = -1;
  /// Stochastic depth (timm's drop_path_rate): the rate of the deepest residual block,
  /// shallower blocks scaled down linearly as each family does. Negative: the
  /// architecture's default (torchvision's: efficientnet 0.2, convnext 0.1-0.5,
  /// swin 0.2-0.5; vit 0, where this option adds it).
  TORCH_ARG(double, drop_path_rate) = -1;
  /// inception_v3 with include_top only: also build torchvision's auxiliary classifier
  /// ("AuxLogits.*", loaded from the weights) and run it in training mode; read its
  /// logits with InceptionV3Impl::aux_output() and add them to the loss (torchvision's
  /// recipe weighs them 0.4).
  TORCH_ARG(bool, aux_logits) = false;
};

/// The tap name of the input layer, first row of every layer table.
inline const std::string kInputLayer = "input";

class BackboneImpl : public torch::nn::Module {
 public:
  BackboneImpl(ModelSpec spec, BackboneOptions options);

  /// Input (N, C, H, W) to: logits (or probabilities, per classifier_activation) with the
  /// top; the last feature map, or its pooled vector, without.
  torch::Tensor forward(torch::Tensor x);

  /// Keras' predict: with the top, ImageNet probabilities (softmax unless
  /// classifier_activation says otherwise), ready for imagenet::decode_predictions;
  /// without it, what forward() returns. `x` is preprocessed (N, C, H, W), run
  /// `batch_size` at a time in eval mode without gradients; the previous mode is
  /// restored. The result is on `x`'s device.
  torch::Tensor predict(const torch::Tensor& x, int64_t batch_size = 32);
  /// predict over the batches of a data::Loader (or any range of tensors), in data-set order.
  template <class R, class = std::enable_if_t<!std::is_convertible_v<R, torch::Tensor>>>
  torch::Tensor predict(R&& batches) {
    return predict_range(*this, batches, predict_fn());
  }

  /// The last feature map (what include_top = false returns before pooling).
  torch::Tensor forward_features(torch::Tensor x);

  /// Outputs of the named layers (names or Keras aliases) from one forward pass,
  /// which stops after the deepest of them.
  std::vector<torch::Tensor> forward_features(const torch::Tensor& x, const std::vector<std::string>& layer_names);

  /// timm's features_only: the output of each stage in feature_info() (all of them,
  /// or those at `out_indices`), from one pass that stops after the deepest.
  std::vector<torch::Tensor> features_only(const torch::Tensor& x, std::vector<int64_t> out_indices = {});

  /// The ordered layer table: index, name, Keras alias, kind, parameters, trainable.
  std::vector<LayerInfo> layers() const { return table_.info(); }
  const LayerTable& layer_table() const { return table_; }

  /// Freezes (false) or unfreezes (true) the selected layers; see core/freeze.hpp.
  void set_trainable(const LayerSelector& selector, bool trainable) {
    tlearn::set_trainable(table_, selector, trainable);
  }

  /// Keeps (true) or releases (false) the BatchNorm layers of the selected layers
  /// in inference mode, whatever train() says: Keras' `training=False` after
  /// unfreezing, e.g. base->set_batchnorm_frozen(all(), true).
  void set_batchnorm_frozen(const LayerSelector& selector, bool frozen) {
    tlearn::set_batchnorm_frozen(table_, selector, frozen);
  }

  /// The parameters that still require gradients, for an optimizer.
  std::vector<torch::Tensor> trainable_parameters() const { return tlearn::trainable_parameters(*this); }

  /// Keras-style summary: one row per layer (name, type, output shape, parameters),
  /// output shapes from a real forward pass at `input_hw` (default: input_shape or
  /// the architecture's default size).
  void summary(std::ostream& os, std::vector<int64_t> input_hw = {});
  /// The same with Keras' options: show_trainable, Keras layer types.
  void summary(std::ostream& os, const SummaryOptions& options);
  /// The rows summary() prints; `output`, when given, receives the forward pass's output.
  std::vector<SummaryRow> summary_rows(const SummaryOptions& options, torch::Tensor* output = nullptr);

  /// Applies the preprocessing the selected weights expect (0..255 RGB in).
  torch::Tensor preprocess(const torch::Tensor& x) const;
  Preprocessing preprocessing() const { return weight_spec() ? weight_spec()->preprocessing : Preprocessing::Torch; }
  /// Resize / crop / interpolation the selected weights were evaluated with.
  EvalTransformSpec eval_transform_spec() const { return weight_spec() ? weight_spec()->transform : EvalTransformSpec{}; }

  // The transforms for these weights are free functions next to the other
  // transforms: data::eval_transform(model) and data::train_transform(model).

  /// The weights selected by options().weights(): the named tag, the first for
  /// "imagenet" or a file path, nullptr when the family declares none.
  const WeightSpec* weight_spec() const;

  /// Channels of the last feature map (the input of a new head).
  int64_t output_channels() const { return output_channels_; }
  /// Channels and stride of each stage, shallow to deep.
  const std::vector<FeatureInfo>& feature_info() const { return feature_info_; }
  const ModelSpec& spec() const { return spec_; }
  const BackboneOptions& options() const { return options_; }
  /// Stores 4-D weights and runs activations in `format` (ChannelsLast lets oneDNN
  /// skip its per-layer layout conversions). Values are unchanged.
  void set_memory_format(torch::MemoryFormat format);
  torch::MemoryFormat memory_format() const { return memory_format_; }

  /// The timm architecture whose numbers this model computes once it loaded timm's
  /// weights (models/timm.hpp: a BatchNorm epsilon, TensorFlow's padding), else "".
  const std::string& timm_architecture() const { return timm_architecture_; }
  void set_timm_architecture(std::string name) { timm_architecture_ = std::move(name); }

  /// {H, W}: options().input_shape(), else the crop size of the weights named by
  /// options().weights() ("imagenet" or a tag), else the architecture's default size.
  std::vector<int64_t> input_shape() const;

  /// A row's output as a (N, C, H, W) map, as features_only() and Grad-CAM use it: the
  /// output itself for convolutional families; a vision transformer's patch tokens on
  /// their grid (from the last forward pass).
  virtual torch::Tensor feature_map(const std::string& row, const torch::Tensor& output) const {
    (void)row;
    return output;
  }

  /// The layer Grad-CAM explains when none is named: the last stage; for a vision
  /// transformer the last block whose patch tokens still reach the class token.
  virtual std::string explain_layer() const { return feature_info_.empty() ? "" : feature_info_.back().name; }

  /// (producer, BatchNorm) pairs where the BatchNorm reads only the producer's output and
  /// nothing else does, and the producer ends in a convolution, that the layer table's
  /// order cannot show: a family whose rows Keras orders apart from its data flow
  /// (NASNet's cells) lists them, so that optimize_for_inference folds them too.
  virtual std::vector<std::pair<torch::nn::Module*, torch::nn::Module*>> conv_batch_norm_pairs() const { return {}; }

  /// Called by the weights loader with the checkpoint before it loads: a family adapts
  /// what depends on the input size (a vision transformer's position embedding).
  virtual void adapt_checkpoint(torch::OrderedDict<std::string, torch::Tensor>& state) { (void)state; }

 protected:
  /// Input (already checked and tapped as "input") to the last feature map.
  virtual torch::Tensor forward_body(torch::Tensor x) = 0;
  /// Last feature map to logits; only called with include_top. By default the
  /// rows the family declared in top_; a family whose top reads more than the
  /// feature map (a vision transformer's class token) overrides it.
  virtual torch::Tensor forward_top(torch::Tensor features) { return top_.forward(std::move(features), is_training()); }

  /// Pooling::Token: the class token of the last forward pass. Families without one throw.
  virtual torch::Tensor pool_token(const torch::Tensor& features);

  /// Without the top: what a family applies after the pooling (to the map when there is
  /// none). Keras' ConvNeXt ends in a LayerNormalization; others return `pooled`.
  virtual torch::Tensor forward_no_top(torch::Tensor pooled) { return pooled; }

  /// Dropout before the classifier: the option when set, else the architecture's.
  double drop_path_rate_or(double architecture_default) const {
    return options_.drop_path_rate() >= 0 ? options_.drop_path_rate() : architecture_default;
  }
  double drop_rate_or(double architecture_default) const {
    return options_.drop_rate() >= 0 ? options_.drop_rate() : architecture_default;
  }

  LayerTable table_;
  /// The ImageNet top's rows (empty without include_top); the family adds them to table_.
  nn::ClassifierTop top_;
  std::vector<FeatureInfo> feature_info_;
  int64_t output_channels_ = 0;

 private:
  void check_input(const torch::Tensor& x) const;
  PredictFn predict_fn();

  ModelSpec spec_;
  BackboneOptions options_;
  torch::MemoryFormat memory_format_ = torch::MemoryFormat::Contiguous;
  std::string timm_architecture_;
};

}  // namespace tlearn
