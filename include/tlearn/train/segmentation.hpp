#pragma once
/// \file
/// Segmentation losses and metrics: pixel-wise cross-entropy, soft Dice, and a
/// confusion matrix with per-class IoU. Masks are (N, H, W) int64 class indices;
/// pixels equal to `ignore_index` count nowhere. loss::CrossEntropy and
/// metrics::mean_iou (train/loss.hpp, train/metrics.hpp) use them in the Trainer.
///
///     auto loss = tlearn::seg::cross_entropy(logits, masks) + tlearn::seg::dice_loss(logits, masks);
///     tlearn::seg::ConfusionMatrix cm(3);
///     cm.update(logits, masks);
///     double miou = cm.mean_iou();

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace tlearn {

namespace seg {

namespace detail {
void check_pair(const torch::Tensor& logits, const torch::Tensor& masks, const char* what);

/// Throws unless every mask value is a class index or ignore_index.
void check_labels(const torch::Tensor& masks, int64_t classes, int64_t ignore_index, const char* what);
}  // namespace detail

/// Pixel-wise cross-entropy, averaged over the pixels that are not ignored.
torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& masks, int64_t ignore_index = -100);

/// Soft Dice loss: 1 - mean over classes of (2 |P G| + smooth) / (|P| + |G| + smooth),
/// P the softmax probabilities, G the one-hot masks, sums over the batch and pixels.
torch::Tensor dice_loss(const torch::Tensor& logits, const torch::Tensor& masks, double smooth = 1.0,
                        int64_t ignore_index = -100);

/// Accumulates a confusion matrix over batches: rows true class, columns predicted.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int64_t classes, int64_t ignore_index = -100);

  /// `prediction`: logits (N, classes, H, W) or class indices (N, H, W); `masks` (N, H, W).
  void update(const torch::Tensor& prediction, const torch::Tensor& masks);

  void reset() { counts_.zero_(); }
  const torch::Tensor& counts() const { return counts_; }

  /// Intersection over union per class; NaN for a class absent from both truth and prediction.
  std::vector<double> iou() const;

  /// Mean of iou() over the classes that occur (NaN when none does).
  double mean_iou() const;

  /// Fraction of (not ignored) pixels classified correctly.
  double pixel_accuracy() const;

 private:
  int64_t classes_, ignore_index_;
  torch::Tensor counts_;
};

/// IoU per class of one batch (see ConfusionMatrix::iou).
std::vector<double> iou(const torch::Tensor& prediction, const torch::Tensor& masks, int64_t classes,
                        int64_t ignore_index = -100);

/// Mean IoU of one batch over the classes that occur.
double mean_iou(const torch::Tensor& prediction, const torch::Tensor& masks, int64_t classes,
                int64_t ignore_index = -100);

}  // namespace seg

}  // namespace tlearn
