#pragma once
/// \file
/// Internals for the checkpoint readers and writers: a bounds-checked binary
/// file reader and "write to a temporary file, then rename" for writers.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <system_error>

#include "tlearn/core/error.hpp"

namespace tlearn::detail {

/// Little-endian hosts only (every platform LibTorch ships for).
inline void require_little_endian() {
  const std::uint16_t probe = 1;
  unsigned char first = 0;
  std::memcpy(&first, &probe, 1);
  if (first != 1) throw Error("tlearn: checkpoint files are little-endian; big-endian hosts are not supported");
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
