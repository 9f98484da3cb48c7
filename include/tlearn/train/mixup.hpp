#pragma once
/// \file
/// MixUp and CutMix on whole batches (timm's Mixup in "batch" mode): each
/// batch is, with probability `prob`, blended with itself reversed, either
/// everywhere (MixUp, lam ~ Beta(mixup_alpha)) or inside one box (CutMix,
/// lam ~ Beta(cutmix_alpha), chosen with probability switch_prob when both are
/// on). Targets become soft: lam * smooth(y) + (1 - lam) * smooth(y reversed),
/// with label smoothing folded in, and the Trainer's cross-entropy takes them.
/// Accuracy metrics on such batches count against the argmax of the mixed target.
///
///     TrainerOptions().mixup(tlearn::MixupOptions().mixup_alpha(0.8).cutmix_alpha(1.0))

#include <torch/torch.h>

#include <array>
#include <cstdint>

namespace tlearn {

struct MixupOptions {
  /// Beta(alpha, alpha) of MixUp's lam; 0 turns MixUp off.
  TORCH_ARG(double, mixup_alpha) = 0.8;
  /// Beta(alpha, alpha) of CutMix's lam; 0 turns CutMix off.
  TORCH_ARG(double, cutmix_alpha) = 1.0;
  /// The chance that a batch is mixed at all.
  TORCH_ARG(double, prob) = 1.0;
  /// With both on: the chance of CutMix rather than MixUp.
  TORCH_ARG(double, switch_prob) = 0.5;
  /// Folded into the targets: on = 1 - s + s / classes, off = s / classes.
  TORCH_ARG(double, label_smoothing) = 0.1;
  /// Recompute CutMix's lam from the box as clipped to the image.
  TORCH_ARG(bool, correct_lam) = true;
  /// Mixes are drawn from (seed, epoch, batch), so a run and a resumed run repeat.
  TORCH_ARG(uint64_t, seed) = 0;
};

/// How one batch is mixed.
struct MixParams {
  double lam = 1.0;  ///< the weight of the batch itself; 1 = not mixed
  bool cutmix = false;
  /// CutMix's box: rows [top, bottom), columns [left, right).
  std::array<int64_t, 4> box{0, 0, 0, 0};  // top, bottom, left, right
};

/// Draws the mixing of one batch of `height` x `width` images from `seed`
/// (the Trainer seeds with epoch and step, so runs and resumed runs repeat).
MixParams sample_mix(const MixupOptions& options, int64_t height, int64_t width, uint64_t seed);

/// The images mixed as `params` says (a new tensor; (N, C, H, W)).
torch::Tensor mix_images(const torch::Tensor& images, const MixParams& params);

/// timm's mixup_target: (N, classes) soft targets from int64 labels (N).
torch::Tensor mix_targets(const torch::Tensor& labels, int64_t classes, double lam, double label_smoothing);

}  // namespace tlearn
