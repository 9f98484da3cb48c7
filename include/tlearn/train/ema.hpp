#pragma once
/// \file
/// An exponential moving average of a model's weights (timm's ModelEmaV3, Keras'
/// use_ema): after each optimizer update, ema = decay * ema + (1 - decay) * weights.
/// The average often scores better than the last weights; the Trainer evaluates
/// it alongside the model (val_ema_* in the logs) and saves it in checkpoints.
///
///     TrainerOptions().ema(tlearn::EmaOptions().decay(0.9998).warmup(true))
///     ...
///     trainer.ema()->copy_to(*model);   // keep the averaged weights
///
/// Buffers (BatchNorm's running statistics) are copied from the model, not
/// averaged, unless average_buffers is set (timm's default).

#include <torch/torch.h>

#include <cstdint>

#include "tlearn/io/state_dict.hpp"

namespace tlearn {

struct EmaOptions {
  /// The decay once warmed up (timm's 0.9998 for ImageNet; smaller for short runs).
  TORCH_ARG(double, decay) = 0.9998;
  /// The decay's floor during warm-up.
  TORCH_ARG(double, min_decay) = 0.0;
  /// Warm the decay up: 1 - (1 + s / warmup_gamma)^-warmup_power after s updates.
  TORCH_ARG(bool, warmup) = true;
  TORCH_ARG(double, warmup_gamma) = 1.0;
  TORCH_ARG(double, warmup_power) = 2.0 / 3.0;
  /// Average floating buffers as weights instead of copying them.
  TORCH_ARG(bool, average_buffers) = false;
};

class ModelEma {
 public:
  /// Starts as a copy of `model`'s state (weights and buffers).
  ModelEma(const torch::nn::Module& model, EmaOptions options = {});

  /// The decay used for update number `updates` (1-based; the first copies the
  /// weights: timm's get_decay(step)).
  double decay_at(int64_t updates) const;

  /// Folds in `model`'s current state after its `updates`-th optimizer update.
  void update(const torch::nn::Module& model, int64_t updates);

  /// The averaged state, by the model's state-dict names.
  const io::StateDict& state() const { return state_; }
  /// Puts back a saved average (from a checkpoint); names and shapes must match.
  void load(const io::StateDict& state);
  /// Copies the average into `model` (e.g. to keep it after training).
  void copy_to(torch::nn::Module& model) const;
  const EmaOptions& options() const { return options_; }

 private:
  EmaOptions options_;
  io::StateDict state_;
};

}  // namespace tlearn
