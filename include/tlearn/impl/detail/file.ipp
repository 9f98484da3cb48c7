// Implementation of tlearn/detail/file.hpp.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <random>

#include "tlearn/detail/file.hpp"

namespace tlearn::detail {

FileMapping::~FileMapping() {
#ifdef TLEARN_HAS_MMAP
  if (data) munmap(data, size);
#endif
}

BinaryFile::BinaryFile(const std::filesystem::path& path) : path_(path) {
  require_little_endian();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(path.string() + ": no such file (expected a checkpoint file)");
  size_ = std::filesystem::file_size(path, ec);
  if (ec) throw Error(path.string() + ": cannot read the file size: " + ec.message());
  in_.open(path, std::ios::binary);
  if (!in_) throw Error(path.string() + ": cannot open the file for reading (check permissions)");
}

void BinaryFile::check_range(std::uint64_t offset, std::uint64_t n, const std::string& what) const {
  if (offset > size_ || n > size_ - offset)
    throw Error(name() + ": " + what + " (bytes " + std::to_string(offset) + ".." + std::to_string(offset + n) +
                ") lies beyond the end of the file (" + std::to_string(size_) +
                " bytes); the file is truncated or corrupt");
}

void BinaryFile::read_at(std::uint64_t offset, void* dst, std::uint64_t n, const std::string& what) {
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

torch::Tensor BinaryFile::tensor_at(std::uint64_t offset, std::int64_t numel, c10::ScalarType dtype,
                                    const std::string& what) {
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
      return torch::from_blob(
          static_cast<char*>(map_->data) + offset, {numel}, [keep](void*) {}, options);
    }
  }
  auto t = torch::empty({numel}, options);
  read_at(offset, t.data_ptr(), n, what);
  return t;
}

std::string BinaryFile::read_string(std::uint64_t offset, std::uint64_t n, const std::string& what) {
  check_range(offset, n, what);
  std::string s(static_cast<std::size_t>(n), '\0');
  read_at(offset, s.data(), n, what);
  return s;
}

void require_little_endian() {
  const std::uint16_t probe = 1;
  unsigned char first = 0;
  std::memcpy(&first, &probe, 1);
  if (first != 1) throw Error("tlearn: checkpoint files are little-endian; big-endian hosts are not supported");
}

std::shared_ptr<FileMapping> map_file(const std::filesystem::path& path, std::uint64_t size) {
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

std::filesystem::path temporary_beside(const std::filesystem::path& target, const char* tag) {
  static thread_local std::mt19937_64 random(std::random_device{}());
  const auto dir = target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
  return dir / (target.filename().string() + "." + tag + "-" + std::to_string(::getpid()) + "-" +
                std::to_string(random()));
}

void remove_stale_temporaries(const std::filesystem::path& target, const char* tag) {
  namespace fs = std::filesystem;
  const auto dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const std::string prefix = target.filename().string() + "." + tag + "-";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const auto dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos || rest.find_first_not_of("0123456789") != dash) continue;
    const long pid = std::strtol(rest.substr(0, dash).c_str(), nullptr, 10);
    if (pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH) {
      std::error_code remove_ec;
      fs::remove(it->path(), remove_ec);
    }
  }
}

void sync_to_disk(const std::filesystem::path& file) {
  auto sync = [](const std::filesystem::path& p, int flags) {
    const int fd = ::open(p.c_str(), flags);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
  };
  sync(file, O_RDONLY);
  sync(file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path(), O_RDONLY | O_DIRECTORY);
}

void write_atomically(const std::filesystem::path& path, const std::function<void(std::ofstream&)>& write) {
  namespace fs = std::filesystem;
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  remove_stale_temporaries(path, "tmp");
  const fs::path tmp = temporary_beside(path, "tmp");
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw Error(tmp.string() + ": cannot create the file (check the folder exists and is writable)");
      write(out);
      out.flush();
      if (!out) throw Error(tmp.string() + ": write failed (disk full?); " + path.string() + " was not changed");
    }
    sync_to_disk(tmp);
    fs::rename(tmp, path, ec);
    if (ec) throw Error(path.string() + ": cannot rename the temporary file into place: " + ec.message());
    sync_to_disk(path);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

}  // namespace tlearn::detail
