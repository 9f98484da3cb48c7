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

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#define TLEARN_HAS_MMAP 1
#endif

#include "tlearn/core/error.hpp"

namespace tlearn::detail {

/// Little-endian hosts only (every platform LibTorch ships for).
inline void require_little_endian() {
  const std::uint16_t probe = 1;
  unsigned char first = 0;
  std::memcpy(&first, &probe, 1);
  if (first != 1) throw Error("tlearn: checkpoint files are little-endian; big-endian hosts are not supported");
}

/// A private, copy-on-write memory mapping of a whole file; unmapped when the
/// last tensor viewing it is gone.
struct FileMapping {
  void* data = nullptr;
  std::size_t size = 0;
  FileMapping() = default;
  FileMapping(const FileMapping&) = delete;
  FileMapping& operator=(const FileMapping&) = delete;
  ~FileMapping() {
#ifdef TLEARN_HAS_MMAP
    if (data) munmap(data, size);
#endif
  }
};

/// Maps `path` (size bytes) or returns null where the system cannot; callers
/// then read instead.
inline std::shared_ptr<FileMapping> map_file(const std::filesystem::path& path, std::uint64_t size) {
#ifdef TLEARN_HAS_MMAP
  if (size == 0) return nullptr;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  // Writable but private: a tensor that is written to gets its own copy of the
  // page; reading maps the page cache as it is.
  void* p = mmap(nullptr, static_cast<std::size_t>(size), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return nullptr;
  madvise(p, static_cast<std::size_t>(size), MADV_WILLNEED);  // read ahead the whole file
  auto m = std::make_shared<FileMapping>();
  m->data = p;
  m->size = static_cast<std::size_t>(size);
  return m;
#else
  (void)path;
  (void)size;
  return nullptr;
#endif
}

/// A file opened for reading where every read is checked against the file size,
/// so a corrupt header can never make us read out of bounds or over-allocate.
class BinaryFile {
 public:
  explicit BinaryFile(const std::filesystem::path& path) : path_(path) {
    require_little_endian();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      throw Error(path.string() + ": no such file (expected a checkpoint file)");
    size_ = std::filesystem::file_size(path, ec);
    if (ec) throw Error(path.string() + ": cannot read the file size: " + ec.message());
    in_.open(path, std::ios::binary);
    if (!in_) throw Error(path.string() + ": cannot open the file for reading (check permissions)");
  }

  std::uint64_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }
  std::string name() const { return path_.string(); }

  /// Throws unless [offset, offset + n) lies inside the file.
  void check_range(std::uint64_t offset, std::uint64_t n, const std::string& what) const {
    if (offset > size_ || n > size_ - offset)
      throw Error(name() + ": " + what + " (bytes " + std::to_string(offset) + ".." +
                  std::to_string(offset + n) + ") lies beyond the end of the file (" +
                  std::to_string(size_) + " bytes); the file is truncated or corrupt");
  }

  /// Reads n bytes at offset straight into dst.
  void read_at(std::uint64_t offset, void* dst, std::uint64_t n, const std::string& what) {
    check_range(offset, n, what);
    if (n == 0) return;
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    char* out = static_cast<char*>(dst);
    while (n > 0) {  // chunked: streamsize may be narrower than uint64
      const std::uint64_t chunk = std::min<std::uint64_t>(n, std::uint64_t(1) << 30);
      in_.read(out, static_cast<std::streamsize>(chunk));
      if (!in_) throw Error(name() + ": read error in " + what + " (the file changed or the disk failed)");
      out += chunk;
      n -= chunk;
    }
  }

  /// `numel` elements of `dtype` at `offset`, as a flat tensor. Where the system
  /// maps files, the tensor views the file's pages (private, copy-on-write): no
  /// allocation and no copy until it is written to, so loading a checkpoint into
  /// a model copies each weight once instead of twice. Otherwise, or when the
  /// offset is not a multiple of the element size, the bytes are read into new
  /// memory. A mapped tensor reads the file as it is: do not truncate a
  /// checkpoint in place while its tensors live (replacing it by rename is safe).
  torch::Tensor tensor_at(std::uint64_t offset, std::int64_t numel, c10::ScalarType dtype, const std::string& what) {
    const std::uint64_t es = c10::elementSize(dtype);
    const std::uint64_t n = static_cast<std::uint64_t>(numel) * es;
    check_range(offset, n, what);
    const auto options = torch::TensorOptions().dtype(dtype);
    if (n > 0 && offset % es == 0) {
      if (!map_tried_) {
        map_tried_ = true;
        map_ = map_file(path_, size_);
      }
      if (map_) {
        auto keep = map_;
        return torch::from_blob(static_cast<char*>(map_->data) + offset, {numel}, [keep](void*) {}, options);
      }
    }
    auto t = torch::empty({numel}, options);
    read_at(offset, t.data_ptr(), n, what);
    return t;
  }

  std::string read_string(std::uint64_t offset, std::uint64_t n, const std::string& what) {
    check_range(offset, n, what);
    std::string s(static_cast<std::size_t>(n), '\0');
    read_at(offset, s.data(), n, what);
    return s;
  }

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

template <class T>
inline void append_le(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

/// Writes `path` by calling write(stream) on a temporary file in the same folder
/// and renaming it over `path` only when everything succeeded; an existing file
/// is never left half-written.
inline void write_atomically(const std::filesystem::path& path,
                             const std::function<void(std::ofstream&)>& write) {
  namespace fs = std::filesystem;
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::random_device rd;
  const fs::path tmp = dir / (path.filename().string() + ".tmp-" + std::to_string(rd()));
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw Error(tmp.string() + ": cannot create the file (check the folder exists and is writable)");
      write(out);
      out.flush();
      if (!out) throw Error(tmp.string() + ": write failed (disk full?); " + path.string() + " was not changed");
    }
    fs::rename(tmp, path, ec);
    if (ec) throw Error(path.string() + ": cannot rename the temporary file into place: " + ec.message());
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

}  // namespace tlearn::detail
