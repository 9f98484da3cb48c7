#pragma once
/// \file
/// Losses on raw scores (logits). Class weights follow Keras' `class_weight`:
/// each sample's loss is multiplied by the weight of its class, then averaged
/// over the batch.
///
///     tlearn::loss::CrossEntropy().label_smoothing(0.1)
///     tlearn::loss::BinaryCrossEntropy()      // logits (N, 1) or (N), labels 0/1

#include <torch/torch.h>

#include <sstream>
#include <string>
#include <vector>

#include "tlearn/core/error.hpp"

namespace tlearn::loss {

enum class Kind { CrossEntropy, BinaryCrossEntropy };

struct Spec {
  Kind kind = Kind::CrossEntropy;
  /// Cross-entropy only: targets become (1 - s) one-hot + s / classes.
  TORCH_ARG(double, label_smoothing) = 0.0;
  /// Per-class weights (index = label); FitOptions::class_weights overrides them.
  TORCH_ARG(std::vector<double>, class_weights) = {};

 public:

  std::string name() const { return kind == Kind::CrossEntropy ? "categorical_crossentropy" : "binary_crossentropy"; }

  /// Mean loss over the batch. `logits` (N, C) for cross-entropy, (N, 1) or (N) for
  /// binary; `labels` (N) int64.
  torch::Tensor operator()(const torch::Tensor& logits, const torch::Tensor& labels,
                           const std::vector<double>& weights_override = {}) const {
    const auto& weights = weights_override.empty() ? class_weights() : weights_override;
    torch::Tensor per_sample;
    if (kind == Kind::CrossEntropy) {
      if (logits.dim() != 2 || logits.size(0) != labels.size(0) || logits.size(1) < 2) {
        std::ostringstream msg;
        msg << "CrossEntropy: expected logits (N, classes) and labels (N), got " << logits.sizes() << " and "
            << labels.sizes() << " (binary problems with one output take loss::BinaryCrossEntropy())";
        throw Error(msg.str());
      }
      if (label_smoothing() < 0 || label_smoothing() >= 1) throw Error("CrossEntropy: label_smoothing must be in [0, 1)");
      namespace F = torch::nn::functional;
      per_sample = F::cross_entropy(logits.to(torch::kFloat), labels,
                                    F::CrossEntropyFuncOptions().reduction(torch::kNone).label_smoothing(label_smoothing()));
    } else {
      auto z = logits.dim() == 2 && logits.size(1) == 1 ? logits.squeeze(1) : logits;
      if (z.dim() != 1 || z.size(0) != labels.size(0)) {
        std::ostringstream msg;
        msg << "BinaryCrossEntropy: expected logits (N, 1) or (N) and labels (N), got " << logits.sizes() << " and "
            << labels.sizes() << " (use HeadOptions().classes(1), or loss::CrossEntropy() for several classes)";
        throw Error(msg.str());
      }
      per_sample = torch::binary_cross_entropy_with_logits(z.to(torch::kFloat), labels.to(torch::kFloat), {}, {},
                                                           at::Reduction::None);
    }
    if (!weights.empty()) {
      auto w = torch::tensor(weights, torch::kDouble).to(torch::kFloat).to(logits.device());
      auto max_label = labels.max().item<int64_t>();
      if (max_label >= int64_t(weights.size()))
        throw Error("class weights: label " + std::to_string(max_label) + " has no weight (" +
                    std::to_string(weights.size()) + " given); give one weight per class");
      per_sample = per_sample * w.index_select(0, labels);
    }
    return per_sample.mean();
  }
};

inline Spec CrossEntropy() { return Spec{}; }
inline Spec BinaryCrossEntropy() { Spec s; s.kind = Kind::BinaryCrossEntropy; return s; }

}  // namespace tlearn::loss
