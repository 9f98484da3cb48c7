#pragma once
/// \file
/// Learning-rate schedules stepped after every optimizer update, as timm's and
/// torchvision's training references step them: cosine, one-cycle, step,
/// multi-step and polynomial, each optionally after a linear warm-up.
///
///     TrainerOptions().optimizer(tlearn::optim::AdamW(1e-3))
///         .schedule(tlearn::schedule::Cosine().warmup_epochs(1).min_lr(1e-6))
///
/// Lengths are in epochs (fractions allowed) and turned into optimizer updates
/// with the number of updates per epoch, so a schedule does not change with the
/// batch size. The schedule's length is fit()'s epochs unless `epochs` is set.
/// The optimizer's lr is the peak; each parameter group keeps its multiplier.
/// Callbacks that change the learning rate (ReduceLROnPlateau,
/// LearningRateScheduler) scale the schedule from then on instead of replacing it.
/// A data source of unknown length is stepped once per epoch.

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace tlearn::schedule {

enum class Kind { Constant, Cosine, OneCycle, Step, MultiStep, Polynomial };

struct Spec {
  Kind kind = Kind::Constant;
  /// Linear warm-up from lr * warmup_start_factor to lr over these epochs
  /// (torch's LinearLR); the main schedule runs on the epochs after it
  /// (torch's SequentialLR, timm's warmup_prefix).
  TORCH_ARG(double, warmup_epochs) = 0;
  TORCH_ARG(double, warmup_start_factor) = 0.01;
  /// The schedule's length in epochs; 0 means fit()'s epochs.
  TORCH_ARG(double, epochs) = 0;
  /// Cosine: the rate it ends at (torch's eta_min, timm's lr_min).
  TORCH_ARG(double, min_lr) = 0;
  /// Step: every step_size epochs the rate is multiplied by gamma.
  TORCH_ARG(double, step_size) = 30;
  /// Step and MultiStep: the factor at each step or milestone.
  TORCH_ARG(double, gamma) = 0.1;
  /// MultiStep: the epochs at which the rate is multiplied by gamma.
  TORCH_ARG(std::vector<double>, milestones) = {};
  /// Polynomial: lr * (1 - t / T)^power.
  TORCH_ARG(double, power) = 1.0;
  /// OneCycle (torch's OneCycleLR with cosine annealing, momentum not cycled):
  /// from lr / div_factor up to lr over pct_start of the run, then down to
  /// lr / div_factor / final_div_factor.
  TORCH_ARG(double, pct_start) = 0.3;
  TORCH_ARG(double, div_factor) = 25;
  TORCH_ARG(double, final_div_factor) = 1e4;

 public:
  std::string name() const;

  /// The multiplier of the optimizer's lr at optimizer update `t` (0-based) of a
  /// run of `total` updates with `per_epoch` updates per epoch. Checks the options
  /// and names a bad one.
  double factor(int64_t t, int64_t total, int64_t per_epoch, double lr) const;
};

/// The optimizer's lr throughout (the default).
inline Spec Constant() { return Spec{}; }
/// Half a cosine from lr down to min_lr (torch's CosineAnnealingLR, timm's CosineLRScheduler).
inline Spec Cosine() { Spec s; s.kind = Kind::Cosine; return s; }
/// torch's OneCycleLR (anneal_strategy "cos", three_phase false).
inline Spec OneCycle() { Spec s; s.kind = Kind::OneCycle; return s; }
/// lr * gamma^floor(epoch / step_size) (torch's StepLR).
inline Spec Step(double step_size, double gamma = 0.1) { Spec s; s.kind = Kind::Step; s.step_size(step_size); s.gamma(gamma); return s; }
/// lr * gamma^(milestones passed) (torch's MultiStepLR).
inline Spec MultiStep(std::vector<double> milestones, double gamma = 0.1) {
  Spec s; s.kind = Kind::MultiStep; s.milestones(std::move(milestones)); s.gamma(gamma); return s;
}
/// lr * (1 - t / T)^power (torch's PolynomialLR).
inline Spec Polynomial(double power = 1.0) { Spec s; s.kind = Kind::Polynomial; s.power(power); return s; }

}  // namespace tlearn::schedule
