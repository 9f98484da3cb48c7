#pragma once
/// \file
/// Dynamic loss scaling for float16 training: torch.amp.GradScaler in C++, with
/// its defaults and its growth / backoff rule. The loss is multiplied by the
/// scale before backward(), so small float16 gradients do not flush to zero;
/// unscale_() divides the gradients again and looks for inf / NaN; step() skips
/// the optimizer step when it found one; update() halves the scale after such a
/// step and doubles it after growth_interval clean ones.
///
///     tlearn::GradScaler scaler;
///     scaler.scale(loss).backward();
///     scaler.step(optimizer);   // false: skipped, the gradients were not finite
///     scaler.update();
///
/// The Trainer does this itself with TrainerOptions().precision(Precision::FP16).

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>

namespace tlearn {

struct GradScalerOptions {
  TORCH_ARG(double, init_scale) = 65536.0;
  TORCH_ARG(double, growth_factor) = 2.0;
  TORCH_ARG(double, backoff_factor) = 0.5;
  TORCH_ARG(int64_t, growth_interval) = 2000;
  /// Disabled, scale() returns the loss as it is and step() just steps.
  TORCH_ARG(bool, enabled) = true;
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions options = {});

  /// loss * scale (the scale lives on the loss's device from then on).
  torch::Tensor scale(const torch::Tensor& loss);
  /// Divides every gradient of `optimizer` by the scale, in place, and records
  /// whether any was inf or NaN. At most once between two update() calls.
  void unscale_(torch::optim::Optimizer& optimizer);
  /// optimizer.step() unless the gradients held inf or NaN; unscales first if
  /// unscale_() was not called. Returns whether the step was taken.
  bool step(torch::optim::Optimizer& optimizer);
  /// The new scale after this iteration's step (see the file comment).
  void update();

  double get_scale() const;
  int64_t growth_tracker() const;
  bool enabled() const { return options_.enabled(); }
  const GradScalerOptions& options() const { return options_; }

  /// {"scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"},
  /// torch.amp.GradScaler.state_dict()'s keys.
  std::map<std::string, double> state_dict() const;
  void load_state_dict(const std::map<std::string, double>& state);

 private:
  void lazy_init(const torch::Device& device);

  GradScalerOptions options_;
  torch::Tensor scale_, growth_tracker_, found_inf_;
  bool unscaled_ = false, stepped_ = false;
};

}  // namespace tlearn
