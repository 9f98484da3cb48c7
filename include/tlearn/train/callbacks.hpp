#pragma once
/// \file
/// Keras-style callbacks. A callback sees the training through `TrainingContext`
/// (learning rate, stop flag, the model, saving the full training state).
///
///     FitOptions().callbacks({
///         std::make_shared<tlearn::EarlyStopping>(tlearn::EarlyStoppingOptions().patience(3).restore_best_weights(true)),
///         std::make_shared<tlearn::ModelCheckpoint>("best.pth"),
///         std::make_shared<tlearn::TensorBoard>("logs")})   // train/tensorboard.hpp

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "tlearn/core/error.hpp"
#include "tlearn/io/pth.hpp"
#include "tlearn/io/safetensors.hpp"
#include "tlearn/io/state_dict.hpp"
#include "tlearn/train/history.hpp"

namespace tlearn {

/// What a callback may read and change while a Trainer runs.
class TrainingContext {
 public:
  virtual ~TrainingContext() = default;
  /// The base learning rate (parameter groups scale it by their multiplier).
  virtual double learning_rate() const = 0;
  virtual void set_learning_rate(double lr) = 0;
  /// Ends fit() after the current batch.
  virtual void stop_training() = 0;
  virtual torch::nn::Module& model() = 0;
  /// Writes the training state (see Trainer::save_checkpoint). During on_epoch_end
  /// the file is written once every callback has finished the epoch, so it holds
  /// their state after it.
  virtual void save_checkpoint(const std::filesystem::path& path) = 0;
};

/// What a callback carries from one epoch to the next (a best value, a wait
/// count, best weights). Training checkpoints save it, so a resumed run goes on
/// as the uninterrupted one would.
struct CallbackState {
  std::map<std::string, double> numbers;
  io::StateDict tensors;
};

class Callback {
 public:
  virtual ~Callback() = default;
  /// The name a training checkpoint files this callback's state under; empty for
  /// a callback that keeps nothing between epochs.
  virtual std::string state_name() const { return ""; }
  virtual CallbackState state() const { return CallbackState(); }
  /// Called by fit() after on_train_begin when the Trainer resumes from a checkpoint.
  virtual void load_state(const CallbackState& /*state*/) {}
  /// True for a callback that writes files: in a job of many processes only rank 0 runs it.
  virtual bool main_process_only() const { return false; }
  virtual void on_train_begin(TrainingContext&) {}
  virtual void on_epoch_begin(TrainingContext&, int64_t /*epoch*/) {}
  virtual void on_batch_end(TrainingContext&, int64_t /*batch*/, double /*loss*/) {}
  /// `logs` holds loss, metrics, val_* and lr of the finished epoch (0-based `epoch`).
  virtual void on_epoch_end(TrainingContext&, int64_t /*epoch*/, const Logs& /*logs*/) {}
  virtual void on_train_end(TrainingContext&) {}
};

using CallbackPtr = std::shared_ptr<Callback>;

namespace detail {
/// Keras' mode "auto": maximise accuracies, precision, recall and AUC; minimise the rest.
bool maximise(const std::string& monitor, const std::string& mode);

/// Tracks the best value of a monitored metric.
struct Monitor {
  std::string key;
  bool max = false;
  double min_delta = 0;
  double best = NAN;
  Monitor(std::string k, const std::string& mode, double delta) : key(std::move(k)), max(maximise(key, mode)), min_delta(std::abs(delta)) {}
  /// The monitored value of `logs`; an Error naming the logged keys when absent.
  double read(const Logs& logs, const char* who) const;
  bool improved(double v) const;
};

io::StateDict clone_state(torch::nn::Module& m);
}  // namespace detail

/// Sets the learning rate at the start of each epoch: lr = schedule(epoch, current lr).
class LearningRateScheduler : public Callback {
 public:
  explicit LearningRateScheduler(std::function<double(int64_t, double)> schedule) : schedule_(std::move(schedule)) {}
  void on_epoch_begin(TrainingContext& ctx, int64_t epoch) override;

 private:
  std::function<double(int64_t, double)> schedule_;
};

struct ReduceLROnPlateauOptions {
  TORCH_ARG(std::string, monitor) = "val_loss";
  TORCH_ARG(double, factor) = 0.1;
  TORCH_ARG(int64_t, patience) = 10;
  TORCH_ARG(std::string, mode) = "auto";
  TORCH_ARG(double, min_delta) = 1e-4;
  TORCH_ARG(int64_t, cooldown) = 0;
  TORCH_ARG(double, min_lr) = 0;
};

/// Multiplies the learning rate by `factor` when `monitor` has not improved for `patience` epochs.
class ReduceLROnPlateau : public Callback {
 public:
  explicit ReduceLROnPlateau(ReduceLROnPlateauOptions o = {}) : o_(std::move(o)), m_(o_.monitor(), o_.mode(), o_.min_delta()) {
    if (!(o_.factor() > 0 && o_.factor() < 1)) throw Error("ReduceLROnPlateau: factor must be in (0, 1)");
  }
  void on_train_begin(TrainingContext&) override { m_.best = NAN, wait_ = 0, cooldown_ = 0; }
  void on_epoch_end(TrainingContext& ctx, int64_t, const Logs& logs) override;
  std::string state_name() const override { return "ReduceLROnPlateau"; }
  CallbackState state() const override;
  void load_state(const CallbackState& state) override;

 private:
  ReduceLROnPlateauOptions o_;
  detail::Monitor m_;
  int64_t wait_ = 0, cooldown_ = 0;
};

struct EarlyStoppingOptions {
  TORCH_ARG(std::string, monitor) = "val_loss";
  TORCH_ARG(double, min_delta) = 0;
  TORCH_ARG(int64_t, patience) = 0;
  TORCH_ARG(std::string, mode) = "auto";
  /// At the end of training, put back the weights of the best epoch.
  TORCH_ARG(bool, restore_best_weights) = false;
};

/// Stops when `monitor` has not improved for `patience` epochs.
class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(EarlyStoppingOptions o = {}) : o_(std::move(o)), m_(o_.monitor(), o_.mode(), o_.min_delta()) {}
  void on_train_begin(TrainingContext&) override { m_.best = NAN, wait_ = 0, stopped_epoch_ = -1, best_epoch_ = -1, best_ = io::StateDict(); }
  void on_epoch_end(TrainingContext& ctx, int64_t epoch, const Logs& logs) override;
  void on_train_end(TrainingContext& ctx) override {
    if (o_.restore_best_weights() && !best_.is_empty()) io::load_state_dict(ctx.model(), best_);
  }
  std::string state_name() const override { return "EarlyStopping"; }
  CallbackState state() const override;
  void load_state(const CallbackState& state) override;
  /// The epoch (0-based) training stopped at, or -1.
  int64_t stopped_epoch() const { return stopped_epoch_; }
  int64_t best_epoch() const { return best_epoch_; }
  double best() const { return m_.best; }

 private:
  EarlyStoppingOptions o_;
  detail::Monitor m_;
  int64_t wait_ = 0, stopped_epoch_ = -1, best_epoch_ = -1;
  io::StateDict best_;
};

struct ModelCheckpointOptions {
  TORCH_ARG(std::string, monitor) = "val_loss";
  TORCH_ARG(std::string, mode) = "auto";
  /// Save only when `monitor` improves (else after every epoch).
  TORCH_ARG(bool, save_best_only) = false;
  /// Save the full training state (Trainer::save_checkpoint, for resuming) instead of the weights.
  TORCH_ARG(bool, full_state) = false;
};

/// Saves the model after an epoch: weights as .pth (torch.load reads it) or, when the
/// path ends in .safetensors, as safetensors. "{epoch}" in the path becomes the
/// 1-based epoch number. Every save goes to a temporary file that is then renamed,
/// so a process killed mid-save leaves the previous file intact.
class ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(std::filesystem::path path, ModelCheckpointOptions o = {})
      : path_(std::move(path)), o_(std::move(o)), m_(o_.monitor(), o_.mode(), 0) {}
  void on_train_begin(TrainingContext&) override { m_.best = NAN; }
  void on_epoch_end(TrainingContext& ctx, int64_t epoch, const Logs& logs) override;
  std::string state_name() const override { return "ModelCheckpoint"; }
  CallbackState state() const override { return {{{"best", m_.best}}, io::StateDict()}; }
  void load_state(const CallbackState& state) override;
  /// The files written so far, in order.
  const std::vector<std::string>& saved() const { return saved_; }
  bool main_process_only() const override { return true; }

 private:
  std::filesystem::path path_;
  ModelCheckpointOptions o_;
  detail::Monitor m_;
  std::vector<std::string> saved_;
};

/// Appends one CSV line per epoch: "epoch,loss,accuracy,...".
class CSVLogger : public Callback {
 public:
  explicit CSVLogger(std::filesystem::path path, bool append = false) : path_(std::move(path)), append_(append) {}
  void on_train_begin(TrainingContext&) override;
  void on_epoch_end(TrainingContext&, int64_t epoch, const Logs& logs) override;
  void on_train_end(TrainingContext&) override { out_.close(); }
  bool main_process_only() const override { return true; }

 private:
  std::filesystem::path path_;
  bool append_;
  std::ofstream out_;
  bool header_written_ = false;
  std::vector<std::string> keys_;
};

/// Stops training as soon as a batch loss is NaN or infinite.
class TerminateOnNaN : public Callback {
 public:
  void on_batch_end(TrainingContext& ctx, int64_t batch, double loss) override;
  bool terminated() const { return terminated_; }

 private:
  bool terminated_ = false;
};

}  // namespace tlearn
