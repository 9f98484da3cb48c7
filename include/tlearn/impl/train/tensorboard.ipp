// Implementation of tlearn/train/tensorboard.hpp.
#include "tlearn/train/tensorboard.hpp"

#include <array>

namespace tlearn::detail {

uint32_t crc32c(const void* data, size_t n) {
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

uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string event(double wall_time, int64_t step, const std::string& file_version, const Logs& scalars) {
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

void Proto::varint(uint64_t v) {
  while (v >= 0x80) bytes += char(uint8_t(v) | 0x80), v >>= 7;
  bytes += char(uint8_t(v));
}

EventWriter::EventWriter(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  path_ = dir / ("events.out.tfevents." + std::to_string(int64_t(now)) + "." + host + ".tlearn");
  out_.open(path_, std::ios::binary | std::ios::trunc);
  if (!out_) throw Error("TensorBoard: cannot create '" + path_.string() + "' (check the log folder is writable)");
  write(event(now, 0, "brain.Event:2", {}));
}

void EventWriter::scalars(int64_t step, const Logs& values) {
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  write(event(now, step, "", values));
}

void EventWriter::write(const std::string& data) {
  const uint64_t n = data.size();
  const uint32_t len_crc = masked_crc32c(&n, 8), data_crc = masked_crc32c(data.data(), data.size());
  out_.write(reinterpret_cast<const char*>(&n), 8);
  out_.write(reinterpret_cast<const char*>(&len_crc), 4);
  out_.write(data.data(), std::streamsize(data.size()));
  out_.write(reinterpret_cast<const char*>(&data_crc), 4);
  out_.flush();
}

}  // namespace tlearn::detail

namespace tlearn {

void TensorBoard::on_epoch_end(TrainingContext&, int64_t epoch, const Logs& logs) {
  Logs train, val;
  for (const auto& [k, v] : logs)
    (k.rfind("val_", 0) == 0 ? val : train).emplace_back("epoch_" + (k.rfind("val_", 0) == 0 ? k.substr(4) : k), v);
  train_->scalars(epoch, train);
  if (!val.empty()) {
    if (!val_) val_ = std::make_unique<detail::EventWriter>(logdir_ / "validation");
    val_->scalars(epoch, val);
  }
}

std::vector<std::filesystem::path> TensorBoard::files() const {
  std::vector<std::filesystem::path> out;
  if (train_) out.push_back(train_->path());
  if (val_) out.push_back(val_->path());
  return out;
}

}  // namespace tlearn
