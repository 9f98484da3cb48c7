#pragma once
/// \file
/// Augmentation policies with torchvision's semantics: RandAugment,
/// TrivialAugmentWide, AutoAugment (ImageNet policy) and AugMix, built from the
/// operations in augment_ops.hpp; and RandomErasing. They draw from a seed, so a
/// sample is augmented the same way with any number of loader workers.
///
///     auto t = tlearn::data::TrainTransform().random_resized_crop({224, 224}).flip()
///                  .auto_augment(tlearn::data::RandAugment(2, 9))
///                  .preprocessing(tlearn::Preprocessing::Torch)
///                  .random_erasing(tlearn::data::RandomErasingOptions().p(0.25));

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tlearn/detail/random.hpp"

namespace tlearn::data {

enum class AugmentOp {
  Identity, ShearX, ShearY, TranslateX, TranslateY, Rotate, Brightness, Color, Contrast, Sharpness,
  Posterize, Solarize, AutoContrast, Equalize, Invert
};

/// torchvision's name of an operation ("ShearX", "AutoContrast", ...).
std::string op_name(AugmentOp op);

/// One operation with the magnitude torchvision's _apply_op receives (signed;
/// shears as tan, factors as the offset from 1, posterize bits, solarize threshold).
struct AugmentStep {
  AugmentOp op = AugmentOp::Identity;
  double magnitude = 0;
};

/// Applies one step to a (C, H, W) uint8 image; `fill` for pixels from outside (empty: 0).
torch::Tensor apply_step(const torch::Tensor& img, const AugmentStep& step, const std::vector<double>& fill = {});

enum class PolicyKind { None, RandAugment, TrivialAugmentWide, AutoAugment, AugMix };

struct AugmentPolicy {
  PolicyKind kind = PolicyKind::None;
  /// RandAugment: operations per image and their magnitude bin.
  TORCH_ARG(int64_t, num_ops) = 2;
  TORCH_ARG(int64_t, magnitude) = 9;
  /// RandAugment and TrivialAugmentWide: bins of each magnitude range.
  TORCH_ARG(int64_t, num_magnitude_bins) = 31;
  /// AugMix: magnitude bins used (of 10), chains mixed, operations per chain (-1: 1 to 3),
  /// Dirichlet / Beta parameter, and whether colour operations are included.
  TORCH_ARG(int64_t, severity) = 3;
  TORCH_ARG(int64_t, mixture_width) = 3;
  TORCH_ARG(int64_t, chain_depth) = -1;
  TORCH_ARG(double, alpha) = 1.0;
  TORCH_ARG(bool, all_ops) = true;
  /// Fill of pixels that geometric operations bring in from outside (empty: 0).
  TORCH_ARG(std::vector<double>, fill) = {};
};

/// torchvision RandAugment(num_ops, magnitude, num_magnitude_bins).
inline AugmentPolicy RandAugment(int64_t num_ops = 2, int64_t magnitude = 9, int64_t num_magnitude_bins = 31) {
  AugmentPolicy p;
  p.kind = PolicyKind::RandAugment;
  return p.num_ops(num_ops).magnitude(magnitude).num_magnitude_bins(num_magnitude_bins);
}
/// torchvision TrivialAugmentWide: one operation, magnitude bin drawn uniformly.
inline AugmentPolicy TrivialAugmentWide(int64_t num_magnitude_bins = 31) {
  AugmentPolicy p;
  p.kind = PolicyKind::TrivialAugmentWide;
  return p.num_magnitude_bins(num_magnitude_bins);
}
/// torchvision AutoAugment(AutoAugmentPolicy.IMAGENET): one of 25 sub-policies of two operations.
inline AugmentPolicy AutoAugment() {
  AugmentPolicy p;
  p.kind = PolicyKind::AutoAugment;
  return p;
}
/// torchvision AugMix: a Beta-weighted blend of the image with a Dirichlet mix of augmented chains.
inline AugmentPolicy AugMix(int64_t severity = 3, int64_t mixture_width = 3) {
  AugmentPolicy p;
  p.kind = PolicyKind::AugMix;
  return p.severity(severity).mixture_width(mixture_width);
}

/// What a policy drew for one image: chains of steps and, for AugMix, the weight
/// of the original image and of each chain.
struct PolicySample {
  std::vector<std::vector<AugmentStep>> chains;
  double original_weight = 0;
  std::vector<double> chain_weights;
};

/// The steps `policy` draws for an `height` x `width` image.
PolicySample sample_policy(const AugmentPolicy& policy, int64_t height, int64_t width, tlearn::detail::Rng& rng);

/// Applies a drawn sample to a (C, H, W) uint8 image.
torch::Tensor apply_policy(const torch::Tensor& img, const AugmentPolicy& policy, const PolicySample& sample);

/// torchvision RandomErasing: with probability p, a rectangle of `scale` of the
/// area and aspect ratio in `ratio` is replaced by `value` (one per channel, or
/// one for all) or, with random_value, by standard normal noise. Applied last,
/// to the normalized image, as torchvision's recipes do.
struct RandomErasingOptions {
  TORCH_ARG(double, p) = 0.5;
  TORCH_ARG(std::vector<double>, scale) = {0.02, 0.33};
  TORCH_ARG(std::vector<double>, ratio) = {0.3, 3.3};
  TORCH_ARG(std::vector<double>, value) = {0.0};
  TORCH_ARG(bool, random_value) = false;
};

/// The rectangle drawn for one image: top, left, height, width (height 0: nothing erased).
struct EraseBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
  uint64_t noise_seed = 0;
};

EraseBox sample_erase(const RandomErasingOptions& options, int64_t height, int64_t width, tlearn::detail::Rng& rng);

/// Erases `box` of a (C, H, W) float image (a new tensor).
torch::Tensor apply_erase(const torch::Tensor& img, const RandomErasingOptions& options, const EraseBox& box);

}  // namespace tlearn::data
