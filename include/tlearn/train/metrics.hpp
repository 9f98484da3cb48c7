#pragma once
/// \file
/// Metrics accumulated over an epoch. Each metric turns a batch into a tensor of
/// sums (e.g. [correct, seen]); sums add up over the batches (or, for metrics
/// that need every score such as AUC, are concatenated) and `value` turns the
/// totals into the number shown. Binary when the model has one output
/// (positive = logit > 0), categorical otherwise; (N, K) targets of 0/1 are
/// multi-label (positive = logit > 0, per label). Averages follow scikit-learn.
///
///     TrainerOptions().metrics({tlearn::metrics::accuracy(), tlearn::metrics::f1(), tlearn::metrics::auc()})

#include <torch/torch.h>

#include <filesystem>
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
  /// Concatenate the batches' tensors along dim 0 instead of adding them.
  bool concatenate = false;
};

namespace detail {
inline bool binary(const torch::Tensor& logits) { return logits.dim() == 1 || logits.size(1) == 1; }
/// The class of each sample (or pixel: segmentation logits (N, C, H, W) give (N, H, W)).
inline torch::Tensor predicted(const torch::Tensor& logits) {
  if (!binary(logits)) return logits.argmax(1);
  return ((logits.dim() == 1 ? logits : logits.squeeze(1)) > 0).to(torch::kLong);
}
inline bool multi_label(const torch::Tensor& labels) { return labels.dim() == 2; }
double ratio(const torch::Tensor& t);
/// Per-class (or per-label) true positives, predicted and actual counts: 3k sums.
torch::Tensor class_counts(const torch::Tensor& logits, const torch::Tensor& labels);
}  // namespace detail

/// Fraction of samples whose predicted class (argmax, or logit > 0 for one output)
/// is the label; for multi-label targets, the fraction of right labels (Keras'
/// binary_accuracy); for segmentation masks, of right pixels (negative mask values left out).
Metric accuracy();

/// Fraction of samples whose label is among the k highest scores.
Metric top_k(int64_t k);

enum class Average { Macro, Micro };

/// Binary: of the positive class. Several classes: the macro average over the
/// classes seen in labels or predictions (scikit-learn's average="macro"; a class
/// never predicted has precision 0), or the micro average. Multi-label: over all labels.
Metric precision(Average average = Average::Macro);
Metric recall(Average average = Average::Macro);
/// F1 = 2 TP / (2 TP + FP + FN), averaged as precision and recall are.
Metric f1(Average average = Average::Macro);

/// Area under the ROC curve, exact (ties count half, as scikit-learn's
/// roc_auc_score): binary on the logit; several classes one-vs-rest on the
/// softmax probabilities, macro-averaged; multi-label macro over labels. Classes
/// without both positives and negatives in the epoch are left out.
Metric auc();

/// Segmentation: intersection over union per class of the argmax prediction,
/// accumulated over the epoch, averaged over the classes that occur in the labels
/// or predictions (seg::ConfusionMatrix::mean_iou). Negative mask values (an
/// ignore_index) count nowhere. Keras' MeanIoU.
Metric mean_iou();

/// Per-class numbers of a single-label classifier, as scikit-learn's
/// classification_report and confusion_matrix give them.
struct ClassificationReport {
  /// (classes, classes) int64: row = true class, column = predicted class.
  torch::Tensor confusion;
  std::vector<double> precision, recall, f1;
  std::vector<int64_t> support;
  double accuracy = 0;
  /// Class names for printing and pictures ("0", "1", ... unless set).
  std::vector<std::string> names;

  /// The table scikit-learn prints, plus the confusion matrix.
  std::string to_string() const;
  /// The confusion matrix as a picture: (H, W, 3) uint8, cells shaded by their
  /// share of the true class's row, counts written in.
  torch::Tensor render(int64_t cell = 48) const;
  /// render() written as a PNG.
  void plot(const std::filesystem::path& path, int64_t cell = 48) const;
};

/// The report of `logits` (N, classes) or (N, 1) against labels (N); `classes`
/// defaults to the logits' width (2 for one output).
ClassificationReport classification_report(const torch::Tensor& logits, const torch::Tensor& labels,
                                           std::vector<std::string> names = {});

}  // namespace tlearn::metrics
