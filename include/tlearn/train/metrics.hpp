#pragma once
/// \file
/// Metrics accumulated over an epoch. Each metric turns a batch into a vector of
/// sums (e.g. [correct, seen]); sums add up over the batches and `value` turns
/// the totals into the number shown. Binary when the model has one output
/// (positive = logit > 0), categorical otherwise.
///
///     TrainerOptions().metrics({tlearn::metrics::accuracy(), tlearn::metrics::top_k(5)})

#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace tlearn::metrics {

struct Metric {
  std::string name;
  /// (logits, labels) -> per-batch sums (float64, on the CPU).
  std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)> sums;
  /// Totals over the epoch -> value.
  std::function<double(const torch::Tensor&)> value;
};

namespace detail {
inline bool binary(const torch::Tensor& logits) { return logits.dim() == 1 || logits.size(1) == 1; }
inline torch::Tensor predicted(const torch::Tensor& logits) {
  return binary(logits) ? (logits.reshape({-1}) > 0).to(torch::kLong) : logits.argmax(1);
}
double ratio(const torch::Tensor& t);
/// Per-class true positives and (predicted or actual) counts, macro-averaged over classes seen.
Metric per_class(const std::string& name, bool precision);
}  // namespace detail

/// Fraction of samples whose predicted class (argmax, or logit > 0 for one output) is the label.
Metric accuracy();

/// Fraction of samples whose label is among the k highest scores.
Metric top_k(int64_t k);

/// Binary: TP / (TP + FP) of the positive class; several classes: macro average.
inline Metric precision() { return detail::per_class("precision", true); }
/// Binary: TP / (TP + FN) of the positive class; several classes: macro average.
inline Metric recall() { return detail::per_class("recall", false); }

}  // namespace tlearn::metrics
