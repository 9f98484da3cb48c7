#pragma once
/// \file
/// Losses on raw scores (logits). Class weights follow Keras' `class_weight`:
/// each sample's loss is multiplied by the weight of its class, then averaged
/// over the batch.
///
///     tlearn::loss::CrossEntropy().label_smoothing(0.1)
///     tlearn::loss::BinaryCrossEntropy()      // logits (N, 1) or (N), labels 0/1
///     tlearn::loss::BinaryCrossEntropy().pos_weight({3.0, 1.0})  // multi-label: logits and 0/1 targets (N, K)
///     tlearn::loss::Focal().gamma(2).alpha(0.25)
///
/// Segmentation: logits (N, classes, H, W) with masks (N, H, W) take the
/// pixel-wise cross-entropy (averaged over the pixels not equal to ignore_index),
/// plus dice_weight times the soft Dice loss; loss::Dice() is Dice alone.
///
///     tlearn::loss::CrossEntropy().dice_weight(1.0)   // Keras' segmentation tutorial uses CE; CE + Dice is common
///
/// Targets are class indices (N, int64) or, for cross-entropy, soft targets
/// (N, classes) of probabilities (MixUp / CutMix make these; timm's
/// SoftTargetCrossEntropy). Binary losses take (N, K) float targets of 0/1 for
/// multi-label problems, one sigmoid per label, averaged over the labels as Keras does.

#include <torch/torch.h>

#include <string>
#include <vector>

namespace tlearn::loss {

enum class Kind { CrossEntropy, BinaryCrossEntropy, Focal, Dice };

struct Spec {
  Kind kind = Kind::CrossEntropy;
  /// Cross-entropy on class indices: targets become (1 - s) one-hot + s / classes.
  TORCH_ARG(double, label_smoothing) = 0.0;
  /// Per-class weights (index = label); FitOptions::class_weights overrides them.
  TORCH_ARG(std::vector<double>, class_weights) = {};
  /// Binary and focal losses: the weight of the positive term, one per label
  /// (torch's pos_weight: above 1 favours recall).
  TORCH_ARG(std::vector<double>, pos_weight) = {};
  /// Focal: the focusing exponent and the weight of positives (< 0: none), as
  /// torchvision.ops.sigmoid_focal_loss.
  TORCH_ARG(double, gamma) = 2.0;
  TORCH_ARG(double, alpha) = 0.25;
  /// Segmentation: mask pixels with this value count nowhere.
  TORCH_ARG(int64_t, ignore_index) = -100;
  /// Segmentation cross-entropy: add this times the soft Dice loss.
  TORCH_ARG(double, dice_weight) = 0.0;

 public:
  std::string name() const;

  /// Each sample's loss: (N). `logits` (N, C) for cross-entropy, (N, 1), (N) or
  /// (N, K) for the binary losses; `targets` class indices (N) or soft / multi-label (N, C).
  torch::Tensor per_sample(const torch::Tensor& logits, const torch::Tensor& targets,
                           const std::vector<double>& weights_override = {}) const;

  /// Mean loss over the batch.
  torch::Tensor operator()(const torch::Tensor& logits, const torch::Tensor& targets,
                           const std::vector<double>& weights_override = {}) const {
    return per_sample(logits, targets, weights_override).mean();
  }
};

inline Spec CrossEntropy() { return Spec{}; }
inline Spec BinaryCrossEntropy() { Spec s; s.kind = Kind::BinaryCrossEntropy; return s; }
/// Sigmoid focal loss (Lin et al.; torchvision.ops.sigmoid_focal_loss, Keras'
/// BinaryFocalCrossentropy): class indices become one-hot targets, one sigmoid per class.
inline Spec Focal() { Spec s; s.kind = Kind::Focal; return s; }
/// Soft Dice loss of segmentation logits (N, classes, H, W) and masks (N, H, W) (seg::dice_loss).
inline Spec Dice() { Spec s; s.kind = Kind::Dice; return s; }

}  // namespace tlearn::loss
