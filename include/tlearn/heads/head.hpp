#pragma once
/// \file
/// A new classification head for a backbone, and `Classifier` = backbone + head.
///
///     tlearn::Head head(tlearn::HeadOptions(base->output_channels())
///         .flatten(true).hidden({256}).dropout(0.5).classes(1));          // Keras' cats-vs-dogs top
///     tlearn::Classifier model(base, head);
///     model->logits(x);    // what the losses want; forward(x) applies output_activation if set
///     model->predict(x);   // probabilities in eval mode: sigmoid for 1 class, softmax for more
///
/// State dict names keep the backbone's torchvision keys under "backbone."
/// ("backbone.features.0.weight") and the head's under "head." ("head.fc.weight"),
/// so io::state_dict(*model->backbone) is a torchvision checkpoint again.

#include <torch/torch.h>

#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tlearn/core/activation.hpp"
#include "tlearn/core/error.hpp"
#include "tlearn/core/linear.hpp"
#include "tlearn/core/predict.hpp"
#include "tlearn/core/summary.hpp"
#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"

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
  /// Activation after each hidden layer.
  TORCH_ARG(nn::Activation, activation) = nn::Activation::ReLU;
  /// Dropout after each hidden layer (before the output layer when there are none).
  TORCH_ARG(double, dropout) = 0.0;
  /// Outputs of the last layer: 1 for a binary (sigmoid) classifier.
  TORCH_ARG(int64_t, classes) = 1000;
  /// Names of the classes, in order (a data set's classes()): one per output, or two
  /// for a one-output (sigmoid) head, class 0 then class 1. save_model keeps them.
  TORCH_ARG(std::vector<std::string>, class_names) = {};
  /// Applied by forward() (not by logits()): None, Sigmoid or Softmax. predict()
  /// applies it too; None there means sigmoid for one class, softmax for more.
  TORCH_ARG(Activation, output_activation) = Activation::None;

 public:

  /// The hidden layers' activation by Keras' name ("relu", "gelu", "swish", "tanh", ...).
  HeadOptions& activation(const std::string& keras_name) { return activation(nn::parse_activation(keras_name)); }

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
  explicit HeadImpl(HeadOptions options);

  /// True once the Dense layers exist (a flatten head waits for its feature size).
  bool built() const { return !fc_.is_empty(); }

  /// Creates the Dense layers for `in_features` inputs (pooled channels, or C*H*W
  /// after a flatten). Called by the constructor, or by Classifier after a dry run.
  void build(int64_t in_features);

  /// Features (N, C, H, W) or (N, C) to raw scores (N, classes).
  torch::Tensor logits(torch::Tensor x);

  /// logits() followed by the output activation.
  torch::Tensor forward(torch::Tensor x);

  /// Keras' predict on features (what extract_features gives): probabilities,
  /// `batch_size` samples at a time, in eval mode without gradients.
  torch::Tensor predict(const torch::Tensor& features, int64_t batch_size = 32);
  /// predict over the batches of a range (a features loader), in data-set order.
  template <class R, class = std::enable_if_t<!std::is_convertible_v<R, torch::Tensor>>>
  torch::Tensor predict(R&& batches) {
    return predict_range(*this, batches, predict_fn());
  }
  /// One batch of features (on this head's device) to probabilities.
  PredictFn predict_fn();

  const HeadOptions& options() const { return options_; }
  int64_t in_features() const { return in_features_; }

  /// Keras' summary of the head alone: pooling or flatten, Dense layers, dropout, output.
  void summary(std::ostream& os, const SummaryOptions& options = {}) const;
  /// Its rows, names prefixed with `prefix` (Classifier passes "head.").
  std::vector<SummaryRow> summary_rows(const SummaryOptions& options, const std::string& prefix = "") const;

 private:
  torch::Tensor pool(torch::Tensor x) const;

  HeadOptions options_;
  int64_t in_features_ = 0;
  std::vector<nn::Linear> dense_;
  torch::nn::Dropout dropout_{nullptr};
  nn::Linear fc_{nullptr};
};

TORCH_MODULE(Head);

/// A backbone (include_top = false, pooling None) with a new head.
class ClassifierImpl : public torch::nn::Module {
 public:
  ClassifierImpl(AnyBackbone backbone_, Head head_);

  /// Raw scores (what the losses take).
  torch::Tensor logits(const torch::Tensor& x) { return head->logits(backbone->forward(x)); }
  /// Scores after the head's output activation.
  torch::Tensor forward(const torch::Tensor& x) { return head->forward(backbone->forward(x)); }

  /// Keras' predict: class probabilities (the head's output_activation, else
  /// sigmoid for one class and softmax for more) of preprocessed images (N, C, H, W),
  /// `batch_size` at a time, in eval mode without gradients; the previous mode is
  /// restored. The result is on `x`'s device.
  torch::Tensor predict(const torch::Tensor& x, int64_t batch_size = 32);
  /// predict over the batches of a data::Loader (or any range of tensors), in data-set order.
  template <class R, class = std::enable_if_t<!std::is_convertible_v<R, torch::Tensor>>>
  torch::Tensor predict(R&& batches) {
    return predict_range(*this, batches, predict_fn());
  }
  PredictFn predict_fn();

  /// Keras' model.summary(): the backbone as one row (all its rows with
  /// expand_nested), the head's rows, then the parameter totals.
  void summary(std::ostream& os, const SummaryOptions& options = {});

  AnyBackbone backbone;
  Head head;
};

TORCH_MODULE(Classifier);

}  // namespace tlearn
