#pragma once
/// \file
/// Keras-style callbacks. A callback sees the training through `TrainingContext`
/// (learning rate, stop flag, the model, saving the full training state).
///
///     FitOptions().callbacks({
///         std::make_shared<tlearn::EarlyStopping>(tlearn::EarlyStoppingOptions().patience(3).restore_best_weights(true)),
///         std::make_shared<tlearn::ModelCheckpoint>("best.pth"),
///         std::make_shared<tlearn::TensorBoard>("logs")})

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
  /// Writes model, optimizer, epoch and random state (see Trainer::save_checkpoint).
  virtual void save_checkpoint(const std::filesystem::path& path) = 0;
};

class Callback {
 public:
  virtual ~Callback() = default;
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
inline bool maximise(const std::string& monitor, const std::string& mode) {
  if (mode == "max") return true;
  if (mode == "min") return false;
  if (mode != "auto") throw Error("callback: mode must be \"auto\", \"min\" or \"max\", got \"" + mode + "\"");
  for (const char* k : {"acc", "precision", "recall", "auc"})
    if (monitor.find(k) != std::string::npos) return true;
  return false;
}

/// Tracks the best value of a monitored metric.
struct Monitor {
  std::string key;
  bool max = false;
  double min_delta = 0;
  double best = NAN;
  Monitor(std::string k, const std::string& mode, double delta) : key(std::move(k)), max(maximise(key, mode)), min_delta(std::abs(delta)) {}
  /// The monitored value of `logs`; an Error naming the logged keys when absent.
  double read(const Logs& logs, const char* who) const {
    const double v = log_value(logs, key);
    if (std::isnan(v) && std::none_of(logs.begin(), logs.end(), [&](const auto& kv) { return kv.first == key; })) {
      std::string known;
      for (const auto& kv : logs) known += (known.empty() ? "" : ", ") + kv.first;
      throw Error(std::string(who) + ": monitor '" + key + "' is not logged (available: " + known +
                  "); val_* keys need FitOptions().validation(...)");
    }
    return v;
  }
  bool improved(double v) const {
    if (std::isnan(v)) return false;
    if (std::isnan(best)) return true;
    return max ? v > best + min_delta : v < best - min_delta;
  }
};

inline io::StateDict clone_state(torch::nn::Module& m) {
  io::StateDict out;
  for (const auto& item : io::state_dict(m)) out.insert(item.key(), item.value().detach().clone());
  return out;
}
}  // namespace detail

/// Sets the learning rate at the start of each epoch: lr = schedule(epoch, current lr).
class LearningRateScheduler : public Callback {
 public:
  explicit LearningRateScheduler(std::function<double(int64_t, double)> schedule) : schedule_(std::move(schedule)) {}
  void on_epoch_begin(TrainingContext& ctx, int64_t epoch) override {
    const double lr = schedule_(epoch, ctx.learning_rate());
    if (!(lr >= 0) || !std::isfinite(lr))
      throw Error("LearningRateScheduler: the schedule returned " + std::to_string(lr) + " for epoch " +
                  std::to_string(epoch) + "; it must return a finite, non-negative rate");
    ctx.set_learning_rate(lr);
  }

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
  void on_epoch_end(TrainingContext& ctx, int64_t, const Logs& logs) override {
    const double v = m_.read(logs, "ReduceLROnPlateau");
    if (cooldown_ > 0) --cooldown_, wait_ = 0;
    if (m_.improved(v)) {
      m_.best = v, wait_ = 0;
    } else if (cooldown_ == 0 && ++wait_ >= o_.patience()) {
      const double lr = ctx.learning_rate();
      if (lr > o_.min_lr()) ctx.set_learning_rate(std::max(lr * o_.factor(), o_.min_lr()));
      cooldown_ = o_.cooldown(), wait_ = 0;
    }
  }

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
  void on_epoch_end(TrainingContext& ctx, int64_t epoch, const Logs& logs) override {
    const double v = m_.read(logs, "EarlyStopping");
    if (m_.improved(v)) {
      m_.best = v, wait_ = 0, best_epoch_ = epoch;
      if (o_.restore_best_weights()) best_ = detail::clone_state(ctx.model());
    } else if (++wait_ >= o_.patience()) {
      stopped_epoch_ = epoch;
      ctx.stop_training();
    }
  }
  void on_train_end(TrainingContext& ctx) override {
    if (o_.restore_best_weights() && !best_.is_empty()) io::load_state_dict(ctx.model(), best_);
  }
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
  void on_epoch_end(TrainingContext& ctx, int64_t epoch, const Logs& logs) override {
    if (o_.save_best_only()) {
      const double v = m_.read(logs, "ModelCheckpoint");
      if (!m_.improved(v)) return;
      m_.best = v;
    }
    auto p = path_.string();
    const auto at = p.find("{epoch}");
    if (at != std::string::npos) p.replace(at, 7, std::to_string(epoch + 1));
    if (o_.full_state()) {
      ctx.save_checkpoint(p);
    } else if (std::filesystem::path(p).extension() == ".safetensors") {
      io::save_safetensors(io::state_dict(ctx.model()), p, {{"format", "pt"}, {"epoch", std::to_string(epoch + 1)}});
    } else {
      io::save_pth(io::state_dict(ctx.model()), p);
    }
    saved_.push_back(p);
  }
  /// The files written so far, in order.
  const std::vector<std::string>& saved() const { return saved_; }

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
  void on_train_begin(TrainingContext&) override {
    const bool had = append_ && std::filesystem::exists(path_) && std::filesystem::file_size(path_) > 0;
    out_.open(path_, append_ ? std::ios::app : std::ios::trunc);
    if (!out_) throw Error("CSVLogger: cannot open '" + path_.string() + "' for writing (check the folder exists)");
    header_written_ = had;
    keys_.clear();
  }
  void on_epoch_end(TrainingContext&, int64_t epoch, const Logs& logs) override {
    if (keys_.empty())
      for (const auto& kv : logs) keys_.push_back(kv.first);
    if (!header_written_) {
      out_ << "epoch";
      for (const auto& k : keys_) out_ << ',' << k;
      out_ << '\n';
      header_written_ = true;
    }
    out_ << epoch << std::setprecision(10);
    for (const auto& k : keys_) {
      const double v = log_value(logs, k);
      out_ << ',';
      if (!std::isnan(v)) out_ << v;
    }
    out_ << '\n' << std::flush;
  }
  void on_train_end(TrainingContext&) override { out_.close(); }

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
  void on_batch_end(TrainingContext& ctx, int64_t batch, double loss) override {
    if (!std::isfinite(loss)) {
      std::cerr << "Batch " << batch << ": invalid loss " << loss << ", terminating training\n";
      terminated_ = true;
      ctx.stop_training();
    }
  }
  bool terminated() const { return terminated_; }

 private:
  bool terminated_ = false;
};

// ---- TensorBoard -------------------------------------------------------------

namespace detail {
/// CRC-32C (Castagnoli), as TFRecord uses. crc32c("123456789") == 0xE3069283.
inline uint32_t crc32c(const void* data, size_t n) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}
inline uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/// Hand-written protobuf: just what tensorflow.Event with scalar summaries needs.
struct Proto {
  std::string bytes;
  void varint(uint64_t v) {
    while (v >= 0x80) bytes += char(uint8_t(v) | 0x80), v >>= 7;
    bytes += char(uint8_t(v));
  }
  void tag(int field, int wire) { varint(uint64_t(field) << 3 | uint64_t(wire)); }
  template <class T>
  void fixed(int field, T v) {
    tag(field, sizeof(T) == 8 ? 1 : 5);
    bytes.append(reinterpret_cast<const char*>(&v), sizeof(T));  // little-endian hosts only (checked by io)
  }
  void int64(int field, int64_t v) { tag(field, 0), varint(uint64_t(v)); }
  void string(int field, const std::string& s) { tag(field, 2), varint(s.size()), bytes += s; }
};

/// One Event: wall_time (1), step (2), then file_version (3) or summary (5) of scalar values.
inline std::string event(double wall_time, int64_t step, const std::string& file_version, const Logs& scalars) {
  Proto e;
  e.fixed<double>(1, wall_time);
  e.int64(2, step);
  if (!file_version.empty()) e.string(3, file_version);
  if (!scalars.empty()) {
    Proto summary;
    for (const auto& [tag, v] : scalars) {
      Proto value;
      value.string(1, tag);
      value.fixed<float>(2, float(v));
      summary.string(1, value.bytes);
    }
    e.string(5, summary.bytes);
  }
  return e.bytes;
}

/// Appends TFRecords: length, masked CRC of the length, data, masked CRC of the data.
class EventWriter {
 public:
  explicit EventWriter(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    path_ = dir / ("events.out.tfevents." + std::to_string(int64_t(now)) + "." + host + ".tlearn");
    out_.open(path_, std::ios::binary | std::ios::trunc);
    if (!out_) throw Error("TensorBoard: cannot create '" + path_.string() + "' (check the log folder is writable)");
    write(event(now, 0, "brain.Event:2", {}));
  }
  void scalars(int64_t step, const Logs& values) {
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    write(event(now, step, "", values));
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  void write(const std::string& data) {
    const uint64_t n = data.size();
    const uint32_t len_crc = masked_crc32c(&n, 8), data_crc = masked_crc32c(data.data(), data.size());
    out_.write(reinterpret_cast<const char*>(&n), 8);
    out_.write(reinterpret_cast<const char*>(&len_crc), 4);
    out_.write(data.data(), std::streamsize(data.size()));
    out_.write(reinterpret_cast<const char*>(&data_crc), 4);
    out_.flush();
  }
  std::filesystem::path path_;
  std::ofstream out_;
};
}  // namespace detail

/// Writes each epoch's scalars for TensorBoard, as Keras does: `logdir/train`
/// gets "epoch_loss", "epoch_accuracy", "epoch_lr"...; `logdir/validation` gets
/// the val_* values under the same tags.
class TensorBoard : public Callback {
 public:
  explicit TensorBoard(std::filesystem::path logdir) : logdir_(std::move(logdir)) {}
  void on_train_begin(TrainingContext&) override {
    if (!train_) train_ = std::make_unique<detail::EventWriter>(logdir_ / "train");
  }
  void on_epoch_end(TrainingContext&, int64_t epoch, const Logs& logs) override {
    Logs train, val;
    for (const auto& [k, v] : logs)
      (k.rfind("val_", 0) == 0 ? val : train).emplace_back("epoch_" + (k.rfind("val_", 0) == 0 ? k.substr(4) : k), v);
    train_->scalars(epoch, train);
    if (!val.empty()) {
      if (!val_) val_ = std::make_unique<detail::EventWriter>(logdir_ / "validation");
      val_->scalars(epoch, val);
    }
  }
  /// The event files written (train, then validation when there is one).
  std::vector<std::filesystem::path> files() const {
    std::vector<std::filesystem::path> out;
    if (train_) out.push_back(train_->path());
    if (val_) out.push_back(val_->path());
    return out;
  }

 private:
  std::filesystem::path logdir_;
  std::unique_ptr<detail::EventWriter> train_, val_;
};

}  // namespace tlearn
