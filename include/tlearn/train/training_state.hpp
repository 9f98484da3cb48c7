#pragma once
/// \file
/// The training checkpoint: everything a run needs to go on exactly where it
/// stopped, in a file that holds data only. Trainer::save_checkpoint writes it
/// and Trainer::load_checkpoint reads it; read one yourself to look inside.
///
/// The file is safetensors: the tensors (model state, optimizer buffers, random
/// generator states, the weights' moving average, callbacks' tensors) and, in its "__metadata__", a JSON
/// description (epoch, optimizer updates, the optimizer's kind and each parameter group's options,
/// the loss scaler, callbacks' numbers). It is read by the same bounded reader
/// as weight files; nothing in it is ever run. Python reads it with
/// `safetensors.torch.load_file` and `json.loads(metadata["tlearn.training_state"])`.
///
///     auto state = tlearn::load_training_state("run/state.ckpt");
///     std::cout << state.epoch << ' ' << state.groups[0].options.at("lr") << '\n';

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tlearn/io/state_dict.hpp"
#include "tlearn/train/callbacks.hpp"

namespace tlearn {

/// One parameter group of the optimizer: its options by torch's names (lr,
/// momentum, dampening, weight_decay, nesterov, beta1, beta2, eps, amsgrad,
/// alpha, centered; booleans as 0 / 1) and its parameters' names, in order.
struct OptimizerGroupState {
  std::map<std::string, double> options;
  std::vector<std::string> parameters;
};

/// A training checkpoint's contents.
struct TrainingState {
  /// Epochs finished: the epoch to resume from (FitOptions().initial_epoch(epoch)).
  int64_t epoch = 0;
  /// The model's state dict.
  io::StateDict model;
  /// "SGD", "Adam", "AdamW" or "RMSprop" (optim::Spec::name()).
  std::string optimizer;
  std::vector<OptimizerGroupState> groups;
  /// Per-parameter buffers, "<parameter name>.<buffer>" (momentum_buffer, exp_avg,
  /// exp_avg_sq, max_exp_avg_sq, square_avg, grad_avg, step).
  io::StateDict optimizer_state;
  /// GradScaler::state_dict() (empty without FP16 loss scaling).
  std::map<std::string, double> grad_scaler;
  /// Optimizer updates made so far (the EMA's warm-up counts them).
  int64_t updates = 0;
  /// What callbacks that changed the learning rate scaled the schedule by.
  double lr_scale = 1.0;
  /// The weights' moving average (TrainerOptions::ema), by the model's names; empty without.
  io::StateDict ema;
  /// Random generators: "cpu", and "cuda:<index>" for each CUDA device.
  io::StateDict rng;
  /// Each stateful callback's state, under its state_name() and, when a run has
  /// several of one kind, their order ("ReduceLROnPlateau", "ModelCheckpoint.1").
  std::map<std::string, CallbackState> callbacks;
};

/// Writes `state` to `path` (a temporary file renamed into place).
void save_training_state(const TrainingState& state, const std::filesystem::path& path);

/// Reads a training checkpoint. Anything else (a weight file, a checkpoint of the
/// TorchScript archive format tlearn once wrote, a damaged file) is an Error that
/// names the file and what is wrong.
TrainingState load_training_state(const std::filesystem::path& path);

}  // namespace tlearn
