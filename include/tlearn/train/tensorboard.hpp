#pragma once
/// \file
/// The TensorBoard callback and the event-file writer behind it: TFRecords of
/// tensorflow.Event protobufs, written by hand (no protobuf or TensorFlow).
///
///     trainer.fit(train, tlearn::FitOptions().callbacks({std::make_shared<tlearn::TensorBoard>("logs")}));

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "tlearn/train/callbacks.hpp"

namespace tlearn {

namespace detail {
/// CRC-32C (Castagnoli), as TFRecord uses. crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const void* data, size_t n);
uint32_t masked_crc32c(const void* data, size_t n);

/// Hand-written protobuf: just what tensorflow.Event with scalar summaries needs.
struct Proto {
  std::string bytes;
  void varint(uint64_t v);
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
std::string event(double wall_time, int64_t step, const std::string& file_version, const Logs& scalars);

/// Appends TFRecords: length, masked CRC of the length, data, masked CRC of the data.
class EventWriter {
 public:
  explicit EventWriter(const std::filesystem::path& dir);
  void scalars(int64_t step, const Logs& values);
  const std::filesystem::path& path() const { return path_; }

 private:
  void write(const std::string& data);
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
  void on_epoch_end(TrainingContext&, int64_t epoch, const Logs& logs) override;
  /// The event files written (train, then validation when there is one).
  std::vector<std::filesystem::path> files() const;
  bool main_process_only() const override { return true; }

 private:
  std::filesystem::path logdir_;
  std::unique_ptr<detail::EventWriter> train_, val_;
};

}  // namespace tlearn
