// Implementation of tlearn/detail/file.hpp.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <random>

#include "tlearn/detail/file.hpp"

namespace tlearn::detail {

#ifdef TLEARN_HAS_MMAP
namespace {

/// The live mappings, for the SIGBUS handler (which reads only the atomics) and
/// for require_files_intact (which takes the mutex). A slot's begin is 0 when free.
struct MappingRegistry {
  static constexpr std::size_t kSlots = 4096;  // more live mappings go unguarded, as before
  struct Slot {
    std::atomic<std::uintptr_t> begin{0}, end{0};
    std::atomic<bool> damaged{false};
  };
  struct Origin {  // what the file was when mapped; guarded by mutex
    std::filesystem::path path;
    int fd = -1;  // kept open to fstat the file the mapping came from
    struct stat stat_at_map {};
  };
  Slot slots[kSlots];
  Origin origins[kSlots];
  std::mutex mutex;
  std::uintptr_t page_size = 4096;
  struct sigaction previous {};
};

MappingRegistry& mappings() {
  static MappingRegistry registry;
  return registry;
}

/// Within a registered mapping: zero pages from the faulting page to the end, so
/// the faulting read and every later one return zeros; elsewhere: the previous
/// disposition. Only atomics and system calls here (async-signal-safe).
void on_sigbus(int signal_number, siginfo_t* info, void* context) {
  auto& r = mappings();
  const auto address = reinterpret_cast<std::uintptr_t>(info->si_addr);
  for (auto& slot : r.slots) {
    const auto begin = slot.begin.load(std::memory_order_acquire);
    const auto end = slot.end.load(std::memory_order_acquire);
    if (begin == 0 || address < begin || address >= end) continue;
    const auto page = address & ~(r.page_size - 1);
    void* zeros = mmap(reinterpret_cast<void*>(page), end - page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (zeros != MAP_FAILED) {
      slot.damaged.store(true, std::memory_order_release);
      return;  // the faulting instruction runs again, on zeros
    }
    break;
  }
  const auto& previous = r.previous;
  if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
    previous.sa_sigaction(signal_number, info, context);
  } else if (!(previous.sa_flags & SA_SIGINFO) && previous.sa_handler != SIG_DFL &&
             previous.sa_handler != SIG_IGN) {
    previous.sa_handler(signal_number);
  } else {
    // The default action: the faulting instruction runs again and ends the
    // process with SIGBUS, as it would have without tlearn.
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    sigaction(signal_number, &default_action, nullptr);
  }
}

void install_sigbus_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto& r = mappings();
    r.page_size = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    struct sigaction action {};
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &r.previous);
  });
}

void register_mapping(const FileMapping& m, const std::filesystem::path& path, int fd) {
  install_sigbus_handler();
  auto& r = mappings();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (std::size_t i = 0; i < MappingRegistry::kSlots; ++i) {
    auto& slot = r.slots[i];
    if (slot.begin.load(std::memory_order_relaxed) != 0) continue;
    auto& origin = r.origins[i];
    origin.path = path;
    origin.fd = fd;
    if (fstat(fd, &origin.stat_at_map) != 0) origin.stat_at_map = {};
    const auto begin = reinterpret_cast<std::uintptr_t>(m.data);
    const auto pages = (m.size + r.page_size - 1) & ~(r.page_size - 1);
    slot.damaged.store(false, std::memory_order_relaxed);
    slot.end.store(begin + pages, std::memory_order_release);
    slot.begin.store(begin, std::memory_order_release);
    return;
  }
  ::close(fd);  // no free slot: this mapping is not guarded
}

void unregister_mapping(const FileMapping& m) {
  auto& r = mappings();
  std::lock_guard<std::mutex> lock(r.mutex);
  const auto begin = reinterpret_cast<std::uintptr_t>(m.data);
  for (std::size_t i = 0; i < MappingRegistry::kSlots; ++i) {
    auto& slot = r.slots[i];
    if (slot.begin.load(std::memory_order_relaxed) != begin) continue;
    slot.begin.store(0, std::memory_order_release);
    slot.end.store(0, std::memory_order_release);
    ::close(r.origins[i].fd);
    r.origins[i] = {};
    return;
  }
}

bool same_file_state(const struct stat& a, const struct stat& b) {
#ifdef __APPLE__
  const auto &ta = a.st_mtimespec, &tb = b.st_mtimespec;
#else
  const auto &ta = a.st_mtim, &tb = b.st_mtim;
#endif
  return a.st_size == b.st_size && ta.tv_sec == tb.tv_sec && ta.tv_nsec == tb.tv_nsec;
}

}  // namespace
#endif

FileMapping::~FileMapping() {
#ifdef TLEARN_HAS_MMAP
  if (data) {
    unregister_mapping(*this);
    munmap(data, size);
  }
#endif
}

void require_files_intact(const std::vector<torch::Tensor>& tensors, const std::string& who) {
#ifdef TLEARN_HAS_MMAP
  auto& r = mappings();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (const auto& t : tensors) {
    if (!t.defined() || !t.has_storage() || t.device().type() != c10::DeviceType::CPU) continue;
    const auto address = reinterpret_cast<std::uintptr_t>(t.storage().data());
    for (std::size_t i = 0; i < MappingRegistry::kSlots; ++i) {
      const auto& slot = r.slots[i];
      const auto begin = slot.begin.load(std::memory_order_acquire);
      if (begin == 0 || address < begin || address >= slot.end.load(std::memory_order_acquire)) continue;
      const auto& origin = r.origins[i];
      const std::string advice =
          " Load it again once the file is whole. To replace a checkpoint that is loaded, write the new "
          "file beside it and rename it over the old one (tlearn's save functions do), never overwrite it in place.";
      if (slot.damaged.load(std::memory_order_acquire))
        throw Error(who + ": " + origin.path.string() +
                    " was truncated while its tensors were in use (overwritten in place after loading?): the "
                    "bytes past the cut read as zeros, so what was loaded is incomplete." +
                    advice);
      struct stat now {};
      if (fstat(origin.fd, &now) == 0 && !same_file_state(now, origin.stat_at_map))
        throw Error(who + ": " + origin.path.string() +
                    " changed on disk while its tensors were in use (overwritten in place after loading?): what "
                    "was loaded may mix the old and the new file." +
                    advice);
      break;
    }
  }
#else
  (void)tensors;
  (void)who;
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
  if (p == MAP_FAILED) {
    ::close(fd);
    return nullptr;
  }
  madvise(p, static_cast<std::size_t>(size), MADV_WILLNEED);  // read ahead the whole file
  auto m = std::make_shared<FileMapping>();
  m->data = p;
  m->size = static_cast<std::size_t>(size);
  register_mapping(*m, path, fd);  // keeps fd, to notice the file changing in place
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
