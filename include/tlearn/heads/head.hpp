#pragma once
/// \file
/// A new classification head for a backbone, and `Classifier` = backbone + head.
///
///     tlearn::Head head(tlearn::HeadOptions(base->output_channels())
///         .flatten(true).hidden({256}).dropout(0.5).classes(1));          // Keras' cats-vs-dogs top
///     tlearn::Classifier model(base, head);
///     model->logits(x);   // what the losses want; forward(x) applies the output activation
///
/// State dict names keep the backbone's torchvision keys under "backbone."
/// ("backbone.features.0.weight") and the head's under "head." ("head.fc.weight"),
/// so io::state_dict(*model->backbone) is a torchvision checkpoint again.

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/models/backbone.hpp"
#include "tlearn/models/registry.hpp"

namespace tlearn {

/// Options of a classification head on a (N, C, H, W) feature map or a (N, C) vector.
struct HeadOptions {
  explicit HeadOptions(int64_t in_channels) : in_channels_(in_channels) {}
  /// Channels of the feature map the head receives (backbone->output_channels()).
  TORCH_ARG(int64_t, in_channels);
  /// Global Avg or Max pooling over space; None flattens the map instead (Keras' Flatten).
  TORCH_ARG(Pooling, pooling) = Pooling::Avg;
  /// {H, W} of the feature map, needed only to size the first Dense after a flatten.
  /// Classifier fills it in from a dry run of the backbone when left empty.
  TORCH_ARG(std::vector<int64_t>, feature_hw) = {};
  /// Widths of the hidden Dense layers, in order (empty: pooling straight to the output).
  TORCH_ARG(std::vector<int64_t>, hidden) = {};
  /// Activation after each hidden layer: "relu", "gelu", "silu", "tanh", "elu".
  TORCH_ARG(std::string, activation) = "relu";
  /// Dropout after each hidden layer (before the output layer when there are none).
  TORCH_ARG(double, dropout) = 0.0;
  /// Outputs of the last layer: 1 for a binary (sigmoid) classifier.
  TORCH_ARG(int64_t, classes) = 1000;
  /// Applied by forward() (not by logits()): None, Sigmoid or Softmax.
  TORCH_ARG(Activation, output_activation) = Activation::None;

 public:

  /// Keras' Flatten instead of global pooling (`flatten(true)` == pooling(Pooling::None)).
  HeadOptions& flatten(bool on) {
    pooling_ = on ? Pooling::None : Pooling::Avg;
    return *this;
  }
};

/// Pooling or flatten, hidden Dense layers (dense1, dense2, ...) with activation and
/// dropout, and the output layer "fc".
class HeadImpl : public torch::nn::Module {
 public:
  explicit HeadImpl(HeadOptions options) : options_(std::move(options)) {
    const auto& o = options_;
    if (o.in_channels() < 1) throw Error("HeadOptions: in_channels must be at least 1 (use backbone->output_channels())");
    if (o.classes() < 1) throw Error("HeadOptions: classes must be at least 1");
    if (o.dropout() < 0 || o.dropout() >= 1) throw Error("HeadOptions: dropout must be in [0, 1)");
    for (auto h : o.hidden())
      if (h < 1) throw Error("HeadOptions: every hidden width must be at least 1");
    static const std::vector<std::string> known = {"relu", "gelu", "silu", "tanh", "elu"};
    if (std::find(known.begin(), known.end(), o.activation()) == known.end())
      throw Error("HeadOptions: unknown activation '" + o.activation() + "'; use relu, gelu, silu, tanh or elu");
    if (o.pooling() != Pooling::None) {
      build(o.in_channels());
    } else if (!o.feature_hw().empty()) {
      if (o.feature_hw().size() != 2) throw Error("HeadOptions: feature_hw must be {H, W}");
      build(o.in_channels() * o.feature_hw()[0] * o.feature_hw()[1]);
    }
  }

  /// True once the Dense layers exist (a flatten head waits for its feature size).
  bool built() const { return !fc_.is_empty(); }

  /// Creates the Dense layers for `in_features` inputs (pooled channels, or C*H*W
  /// after a flatten). Called by the constructor, or by Classifier after a dry run.
  void build(int64_t in_features) {
    if (built()) throw Error("Head: build() called twice");
    in_features_ = in_features;
    int64_t in = in_features;
    for (size_t i = 0; i < options_.hidden().size(); ++i) {
      dense_.push_back(register_module("dense" + std::to_string(i + 1), torch::nn::Linear(in, options_.hidden()[i])));
      in = options_.hidden()[i];
    }
    if (options_.dropout() > 0) dropout_ = register_module("dropout", torch::nn::Dropout(options_.dropout()));
    fc_ = register_module("fc", torch::nn::Linear(in, options_.classes()));
  }

  /// Features (N, C, H, W) or (N, C) to raw scores (N, classes).
  torch::Tensor logits(torch::Tensor x) {
    if (!built())
      throw Error("Head: a flatten head needs the feature map size; set HeadOptions::feature_hw({H, W}) "
                  "or put the head in a Classifier, which measures it");
    x = pool(std::move(x));
    if (x.size(1) != in_features_) {
      std::ostringstream msg;
      msg << "Head: expected " << in_features_ << " features after " << (options_.pooling() == Pooling::None ? "flatten" : "pooling")
          << ", got input of shape " << x.sizes() << "; check HeadOptions::in_channels / feature_hw against the backbone";
      throw Error(msg.str());
    }
    for (auto& d : dense_) {
      x = activate(d->forward(x));
      if (dropout_) x = dropout_->forward(x);
    }
    if (dense_.empty() && dropout_) x = dropout_->forward(x);
    return fc_->forward(x);
  }

  /// logits() followed by the output activation.
  torch::Tensor forward(torch::Tensor x) {
    auto z = logits(std::move(x));
    switch (options_.output_activation()) {
      case Activation::Sigmoid: return z.sigmoid();
      case Activation::Softmax: return z.softmax(1);
      case Activation::None: break;
    }
    return z;
  }

  const HeadOptions& options() const { return options_; }
  int64_t in_features() const { return in_features_; }

 private:
  torch::Tensor pool(torch::Tensor x) const {
    if (x.dim() == 2) return x;
    if (x.dim() != 4) {
      std::ostringstream msg;
      msg << "Head: expected a (N, C, H, W) feature map or (N, C) vector, got " << x.sizes();
      throw Error(msg.str());
    }
    switch (options_.pooling()) {
      case Pooling::Avg: return x.mean({2, 3});
      case Pooling::Max: return x.amax({2, 3});
      case Pooling::None: break;
    }
    return x.flatten(1);
  }

  torch::Tensor activate(const torch::Tensor& x) const {
    const auto& a = options_.activation();
    if (a == "relu") return torch::relu(x);
    if (a == "gelu") return torch::gelu(x);
    if (a == "silu") return torch::silu(x);
    if (a == "tanh") return torch::tanh(x);
    return torch::elu(x);
  }

  HeadOptions options_;
  int64_t in_features_ = 0;
  std::vector<torch::nn::Linear> dense_;
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

TORCH_MODULE(Head);

/// A backbone (include_top = false, pooling None) with a new head.
class ClassifierImpl : public torch::nn::Module {
 public:
  ClassifierImpl(AnyBackbone backbone_, Head head_)
      : backbone(register_module("backbone", std::move(backbone_))), head(register_module("head", std::move(head_))) {
    const auto& bo = backbone->options();
    if (bo.include_top())
      throw Error("Classifier: the backbone '" + backbone->spec().name +
                  "' still has its ImageNet top; build it with BackboneOptions().include_top(false)");
    if (bo.pooling() == Pooling::None && head->options().in_channels() != backbone->output_channels())
      throw Error("Classifier: HeadOptions(" + std::to_string(head->options().in_channels()) + ") does not match " +
                  backbone->spec().name + "'s " + std::to_string(backbone->output_channels()) +
                  " output channels; use HeadOptions(backbone->output_channels())");
    if (!head->built()) {
      // A flatten head: measure the feature map at the backbone's input size.
      torch::NoGradGuard no_grad;
      const bool was_training = backbone->is_training();
      backbone->eval();
      auto hw = backbone->input_shape();
      auto y = backbone->forward(torch::zeros({1, bo.in_chans(), hw[0], hw[1]}));
      backbone->train(was_training);
      head->build(y[0].numel());
    }
  }

  /// Raw scores (what the losses take).
  torch::Tensor logits(const torch::Tensor& x) { return head->logits(backbone->forward(x)); }
  /// Scores after the head's output activation.
  torch::Tensor forward(const torch::Tensor& x) { return head->forward(backbone->forward(x)); }

  AnyBackbone backbone;
  Head head;
};

TORCH_MODULE(Classifier);

}  // namespace tlearn
