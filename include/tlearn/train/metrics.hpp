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
inline double ratio(const torch::Tensor& t) {
  const double d = t[1].item<double>();
  return d > 0 ? t[0].item<double>() / d : 0.0;
}
/// Per-class true positives and (predicted or actual) counts, macro-averaged over classes seen.
inline Metric per_class(const std::string& name, bool precision) {
  return {name,
          [precision](const torch::Tensor& logits, const torch::Tensor& labels) {
            const int64_t k = binary(logits) ? 2 : logits.size(1);
            auto pred = predicted(logits).cpu(), y = labels.cpu();
            auto tp = torch::zeros({k}, torch::kDouble), count = torch::zeros({k}, torch::kDouble);
            auto hit = (pred == y).to(torch::kDouble);
            tp.index_add_(0, y, hit);
            count.index_add_(0, precision ? pred : y, torch::ones({y.size(0)}, torch::kDouble));
            return torch::cat({tp, count});
          },
          [](const torch::Tensor& t) {
            const int64_t k = t.size(0) / 2;
            auto tp = t.narrow(0, 0, k), count = t.narrow(0, k, k);
            if (k == 2) {  // binary: the positive class only, as Keras does
              const double c = count[1].item<double>();
              return c > 0 ? tp[1].item<double>() / c : 0.0;
            }
            auto seen = count > 0;
            if (!seen.any().item<bool>()) return 0.0;
            return (tp.masked_select(seen) / count.masked_select(seen)).mean().item<double>();
          }};
}
}  // namespace detail

/// Fraction of samples whose predicted class (argmax, or logit > 0 for one output) is the label.
inline Metric accuracy() {
  return {"accuracy",
          [](const torch::Tensor& logits, const torch::Tensor& labels) {
            auto correct = (detail::predicted(logits) == labels).sum().to(torch::kDouble).cpu();
            return torch::stack(std::vector<torch::Tensor>{correct, torch::tensor(double(labels.size(0)), torch::kDouble)});
          },
          detail::ratio};
}

/// Fraction of samples whose label is among the k highest scores.
inline Metric top_k(int64_t k) {
  return {"top_" + std::to_string(k) + "_accuracy",
          [k](const torch::Tensor& logits, const torch::Tensor& labels) {
            auto top = std::get<1>(logits.topk(std::min<int64_t>(k, logits.size(1)), 1));
            auto correct = (top == labels.unsqueeze(1)).any(1).sum().to(torch::kDouble).cpu();
            return torch::stack(std::vector<torch::Tensor>{correct, torch::tensor(double(labels.size(0)), torch::kDouble)});
          },
          detail::ratio};
}

/// Binary: TP / (TP + FP) of the positive class; several classes: macro average.
inline Metric precision() { return detail::per_class("precision", true); }
/// Binary: TP / (TP + FN) of the positive class; several classes: macro average.
inline Metric recall() { return detail::per_class("recall", false); }

}  // namespace tlearn::metrics
