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
#include <utility>
#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/core/freeze.hpp"
#include "tlearn/core/layer_table.hpp"
#include "tlearn/core/selector.hpp"
#include "tlearn/core/tap.hpp"
#include "tlearn/data/augment.hpp"
#include "tlearn/data/preprocess.hpp"
#include "tlearn/data/transforms.hpp"
#include "tlearn/models/spec.hpp"

namespace tlearn {

/// What include_top = false returns: the 4-D map, or a vector pooled over space (Keras' `pooling`).
enum class Pooling { None, Avg, Max };

/// Applied to the logits of the ImageNet top.
enum class Activation { None, Softmax, Sigmoid };

struct BackboneOptions {
  /// Keep the ImageNet classifier (true) or end at the last feature map (false).
  TORCH_ARG(bool, include_top) = true;
  /// "" random initialisation; "imagenet" the default pretrained weights (downloaded
  /// into the cache); a weights tag such as "IMAGENET1K_V2"; or a path to a .pth /
  /// .safetensors file with torchvision's key names.
  TORCH_ARG(std::string, weights) = "";
  /// Output classes of the top; a count other than the weights' re-initialises the last layer.
  TORCH_ARG(int64_t, classes) = 1000;
  TORCH_ARG(Activation, classifier_activation) = Activation::None;
  /// With include_top = false: None gives the 4-D map, Avg / Max a (N, C) vector.
  TORCH_ARG(Pooling, pooling) = Pooling::None;
  /// {H, W} the model will see; summary() uses it. Empty: the architecture's default.
  TORCH_ARG(std::vector<int64_t>, input_shape) = {};
  /// Input channels; 1 sums the pretrained RGB kernels of the first conv (timm's rule).
  TORCH_ARG(int64_t, in_chans) = 3;
  /// Dropout before the classifier; negative: the architecture's default.
  TORCH_ARG(double, drop_rate) = -1;
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
  BackboneImpl(ModelSpec spec, BackboneOptions options) : spec_(std::move(spec)), options_(std::move(options)) {
    if (options_.in_chans() < 1) throw Error(spec_.name + ": in_chans must be at least 1");
    if (options_.classes() < 1) throw Error(spec_.name + ": classes must be at least 1");
    if (options_.aux_logits() && !spec_.has_aux_logits)
      throw Error(spec_.name + ": aux_logits: this architecture has no auxiliary classifier (inception_v3 has one)");
    if (options_.aux_logits() && !options_.include_top())
      throw Error(spec_.name + ": aux_logits needs include_top(true): the auxiliary classifier is part of the top");
    if (!options_.input_shape().empty()) {
      const auto& s = options_.input_shape();
      if (s.size() != 2 || s[0] < spec_.min_size || s[1] < spec_.min_size)
        throw Error(spec_.name + ": input_shape must be {H, W} with both at least " + std::to_string(spec_.min_size));
    }
    table_.add(kInputLayer, "InputLayer", {}, "input_1");
  }

  /// Input (N, C, H, W) to: logits (or probabilities, per classifier_activation) with the
  /// top; the last feature map, or its pooled vector, without.
  torch::Tensor forward(torch::Tensor x) {
    auto features = forward_features(std::move(x));
    if (!options_.include_top()) {
      switch (options_.pooling()) {
        case Pooling::None: return features;
        case Pooling::Avg: return features.mean({2, 3});
        case Pooling::Max: return features.amax({2, 3});
      }
    }
    auto logits = forward_top(features);
    switch (options_.classifier_activation()) {
      case Activation::None: return logits;
      case Activation::Softmax: return logits.softmax(1);
      case Activation::Sigmoid: return logits.sigmoid();
    }
    return logits;
  }

  /// The last feature map (what include_top = false returns before pooling).
  torch::Tensor forward_features(torch::Tensor x) {
    check_input(x);
    if (memory_format_ != torch::MemoryFormat::Contiguous) x = x.contiguous(memory_format_);
    tap(kInputLayer, x);
    return forward_body(std::move(x));
  }

  /// Outputs of the named layers (names or Keras aliases) from one forward pass,
  /// which stops after the deepest of them.
  std::vector<torch::Tensor> forward_features(const torch::Tensor& x, const std::vector<std::string>& layer_names) {
    std::vector<std::string> names;
    for (const auto& n : layer_names) names.push_back(table_[table_.index_of(n)].name);
    TapRecorder recorder(names, /*stop_early=*/true);
    run_until_stopped(recorder, [&] { forward(x); });
    return recorder.outputs();
  }

  /// timm's features_only: the output of each stage in feature_info() (all of them,
  /// or those at `out_indices`), from one pass that stops after the deepest.
  std::vector<torch::Tensor> features_only(const torch::Tensor& x, std::vector<int64_t> out_indices = {}) {
    std::vector<std::string> names;
    if (out_indices.empty())
      for (size_t i = 0; i < feature_info_.size(); ++i) out_indices.push_back(static_cast<int64_t>(i));
    for (auto i : out_indices) {
      if (i < 0 || i >= static_cast<int64_t>(feature_info_.size()))
        throw Error(spec_.name + ": out_indices " + std::to_string(i) + " is outside 0.." +
                    std::to_string(feature_info_.size() - 1) + " (see feature_info())");
      names.push_back(feature_info_[static_cast<size_t>(i)].name);
    }
    return forward_features(x, names);
  }

  /// The ordered layer table: index, name, Keras alias, kind, parameters, trainable.
  std::vector<LayerInfo> layers() const { return table_.info(); }
  const LayerTable& layer_table() const { return table_; }

  /// Freezes (false) or unfreezes (true) the selected layers; see core/freeze.hpp.
  void set_trainable(const LayerSelector& selector, bool trainable) {
    tlearn::set_trainable(table_, selector, trainable);
  }

  /// The parameters that still require gradients, for an optimizer.
  std::vector<torch::Tensor> trainable_parameters() const { return tlearn::trainable_parameters(*this); }

  /// Keras-style summary: one row per layer (name, type, output shape, parameters),
  /// output shapes from a real forward pass at `input_hw` (default: input_shape or
  /// the architecture's default size).
  void summary(std::ostream& os, std::vector<int64_t> input_hw = {}) {
    if (input_hw.empty()) input_hw = input_shape();
    torch::NoGradGuard no_grad;
    const bool was_training = is_training();
    eval();
    TapRecorder recorder;
    auto out = forward(torch::zeros({1, options_.in_chans(), input_hw.at(0), input_hw.at(1)}));
    train(was_training);

    auto shape = [](const torch::Tensor& t) {
      std::ostringstream s;
      s << "(None";
      for (int64_t d = 1; d < t.dim(); ++d) s << ", " << t.size(d);
      s << ")";
      return s.str();
    };
    auto thousands = [](int64_t n) {
      std::string digits = std::to_string(n), out;
      for (size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
      }
      return out;
    };
    const std::string rule(98, '_'), double_rule(98, '=');
    os << "Model: \"" << spec_.name << "\"\n" << rule << "\n";
    os << " " << std::left << std::setw(52) << "Layer (type)" << std::setw(30) << "Output Shape" << "Param #\n";
    os << double_rule << "\n";
    for (const auto& layer : table_) {
      std::string label = (layer.alias.empty() ? layer.name : layer.alias) + " (" + layer.kind + ")";
      std::string out_shape = "-";
      for (auto it = recorder.records().rbegin(); it != recorder.records().rend(); ++it)
        if (it->first == layer.name) {
          out_shape = shape(it->second);
          break;
        }
      os << " " << std::left << std::setw(52) << label << std::setw(30) << out_shape
         << thousands(layer.parameter_count()) << "\n";
    }
    int64_t total = 0, trainable = 0;
    for (const auto& p : parameters()) {
      total += p.numel();
      if (p.requires_grad()) trainable += p.numel();
    }
    os << double_rule << "\n";
    os << "Total params: " << thousands(total) << "\n";
    os << "Trainable params: " << thousands(trainable) << "\n";
    os << "Non-trainable params: " << thousands(total - trainable) << "\n";
    os << rule << "\n";
    (void)out;
  }

  /// Applies the preprocessing the selected weights expect (0..255 RGB in).
  torch::Tensor preprocess(const torch::Tensor& x) const { return preprocess_input(x, preprocessing()); }
  Preprocessing preprocessing() const { return weight_spec() ? weight_spec()->preprocessing : Preprocessing::Torch; }
  /// Resize / crop / interpolation the selected weights were evaluated with.
  EvalTransformSpec eval_transform_spec() const { return weight_spec() ? weight_spec()->transform : EvalTransformSpec{}; }

  /// Photo (HWC uint8) to the tensor these weights expect: resize, center crop,
  /// preprocess_input — torchvision's weights.transforms().
  data::Transform eval_transform() const { return data::eval_transform(eval_transform_spec(), preprocessing()); }

  /// Augmentation to build on: resize to input_shape(), these weights' preprocessing
  /// last, e.g. base->train_transform().flip().rotate(20).
  data::TrainTransform train_transform() const {
    return data::train_transform().size(input_shape()).preprocessing(preprocessing());
  }

  /// The weights selected by options().weights(): the named tag, the first for
  /// "imagenet" or a file path, nullptr when the family declares none.
  const WeightSpec* weight_spec() const {
    if (spec_.weights.empty()) return nullptr;
    for (const auto& w : spec_.weights)
      if (w.tag == options_.weights()) return &w;
    return &spec_.weights.front();
  }

  /// Channels of the last feature map (the input of a new head).
  int64_t output_channels() const { return output_channels_; }
  /// Channels and stride of each stage, shallow to deep.
  const std::vector<FeatureInfo>& feature_info() const { return feature_info_; }
  const ModelSpec& spec() const { return spec_; }
  const BackboneOptions& options() const { return options_; }
  /// Stores 4-D weights and runs activations in `format` (ChannelsLast lets oneDNN
  /// skip its per-layer layout conversions). Values are unchanged.
  void set_memory_format(torch::MemoryFormat format) {
    torch::NoGradGuard no_grad;
    for (auto& t : parameters()) if (t.dim() == 4) t.set_data(t.contiguous(format));
    for (auto& t : buffers()) if (t.dim() == 4) t.set_data(t.contiguous(format));
    memory_format_ = format;
  }
  torch::MemoryFormat memory_format() const { return memory_format_; }

  /// {H, W}: options().input_shape(), or the architecture's default size.
  std::vector<int64_t> input_shape() const {
    return options_.input_shape().empty() ? std::vector<int64_t>{spec_.default_size, spec_.default_size}
                                          : options_.input_shape();
  }

 protected:
  /// Input (already checked and tapped as "input") to the last feature map.
  virtual torch::Tensor forward_body(torch::Tensor x) = 0;
  /// Last feature map to logits; only called with include_top.
  virtual torch::Tensor forward_top(torch::Tensor features) = 0;

  /// Dropout before the classifier: the option when set, else the architecture's.
  double drop_rate_or(double architecture_default) const {
    return options_.drop_rate() >= 0 ? options_.drop_rate() : architecture_default;
  }

  LayerTable table_;
  std::vector<FeatureInfo> feature_info_;
  int64_t output_channels_ = 0;

 private:
  void check_input(const torch::Tensor& x) const {
    if (x.dim() != 4 || x.size(1) != options_.in_chans() || x.size(2) < spec_.min_size || x.size(3) < spec_.min_size) {
      std::ostringstream msg;
      msg << spec_.name << " expects input of shape (N, " << options_.in_chans() << ", H, W) with H, W >= "
          << spec_.min_size << ", got " << x.sizes();
      throw Error(msg.str());
    }
  }

  ModelSpec spec_;
  BackboneOptions options_;
  torch::MemoryFormat memory_format_ = torch::MemoryFormat::Contiguous;
};

}  // namespace tlearn
