#pragma once
/// \file
/// Internals for the checkpoint readers and writers: a bounds-checked binary
/// file reader (that can hand out tensors viewing the file's pages) and "write to
/// a temporary file, then rename" for writers.

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <memory>
#include <system_error>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#define TLEARN_HAS_MMAP 1
#endif

#include "tlearn/core/error.hpp"

namespace tlearn::detail {

/// Little-endian hosts only (every platform LibTorch ships for).
void require_little_endian();

/// A private, copy-on-write memory mapping of a whole file; unmapped when the
/// last tensor viewing it is gone.
///
/// A file truncated in place while mapped (a checkpoint overwritten by `cp` or
/// a writer that does not rename) would raise SIGBUS at the first read past the
/// cut and kill the process. tlearn's SIGBUS handler instead maps zero pages
/// from the faulting page to the mapping's end and marks the mapping damaged;
/// require_files_intact then throws where the tensors are consumed. A SIGBUS
/// at any other address goes to the handler that was there before.
struct FileMapping {
  void* data = nullptr;
  std::size_t size = 0;
  FileMapping() = default;
  FileMapping(const FileMapping&) = delete;
  FileMapping& operator=(const FileMapping&) = delete;
  ~FileMapping();
};

/// Maps `path` (size bytes) or returns null where the system cannot; callers
/// then read instead.
std::shared_ptr<FileMapping> map_file(const std::filesystem::path& path, std::uint64_t size);

/// Throws an Error naming the file when any of `tensors` views a mapped file
/// that was truncated (reads past the cut gave zeros) or rewritten in place
/// (its size or modification time changed) since it was mapped. Call it after
/// copying the tensors, so the copy itself is covered. `who` starts the message.
void require_files_intact(const std::vector<torch::Tensor>& tensors, const std::string& who);

/// A file opened for reading where every read is checked against the file size,
/// so a corrupt header can never make us read out of bounds or over-allocate.
class BinaryFile {
 public:
  explicit BinaryFile(const std::filesystem::path& path);

  std::uint64_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }
  std::string name() const { return path_.string(); }

  /// Throws unless [offset, offset + n) lies inside the file.
  void check_range(std::uint64_t offset, std::uint64_t n, const std::string& what) const;

  /// Reads n bytes at offset straight into dst.
  void read_at(std::uint64_t offset, void* dst, std::uint64_t n, const std::string& what);

  /// `numel` elements of `dtype` at `offset`, as a flat tensor. Where the system
  /// maps files, the tensor views the file's pages (private, copy-on-write): no
  /// allocation and no copy until it is written to, so loading a checkpoint into
  /// a model copies each weight once instead of twice. Otherwise, or when the
  /// offset is not a multiple of the element size, the bytes are read into new
  /// memory. A mapped tensor reads the file as it is: do not truncate a
  /// checkpoint in place while its tensors live (replacing it by rename is safe).
  torch::Tensor tensor_at(std::uint64_t offset, std::int64_t numel, c10::ScalarType dtype, const std::string& what);

  std::string read_string(std::uint64_t offset, std::uint64_t n, const std::string& what);

 private:
  std::filesystem::path path_;
  std::uint64_t size_ = 0;
  std::ifstream in_;
  bool map_tried_ = false;
  std::shared_ptr<FileMapping> map_;
};

template <class T>
inline T read_le(const unsigned char* p) {
  T v{};
  std::memcpy(&v, p, sizeof(T));  // little-endian host checked above
  return v;
}

/// A big-endian 32-bit value (PNG and JPEG headers, IDX files).
inline std::uint32_t read_be32(const unsigned char* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | p[3];
}

template <class T>
inline void append_le(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

/// A temporary file beside `target` to write it through: "<name>.<tag>-<pid>-<random>".
/// The pid tells a later writer a dead process's leftovers from a live one's.
std::filesystem::path temporary_beside(const std::filesystem::path& target, const char* tag);

/// Removes `target`'s temporaries (of this tag) whose writing process no longer
/// runs: what a process killed mid-save or mid-download left behind.
void remove_stale_temporaries(const std::filesystem::path& target, const char* tag);

/// Flushes a file's data, then its folder's entry, to the disk (fsync), so a
/// rename into place survives a power cut as well as a crash.
void sync_to_disk(const std::filesystem::path& file);

/// Writes `path` by calling write(stream) on a temporary file in the same folder,
/// syncing it and renaming it over `path` only when everything succeeded; an
/// existing file is never left half-written, and the temporaries of earlier
/// writers that were killed are removed first.
void write_atomically(const std::filesystem::path& path, const std::function<void(std::ofstream&)>& write);

}  // namespace tlearn::detail
