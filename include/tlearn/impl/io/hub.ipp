// Implementation of tlearn/io/hub.hpp.
#include <cctype>
#include <fstream>
#include <mutex>
#include <random>
#include <regex>
#include <system_error>

#include "tlearn/detail/file.hpp"
#include "tlearn/detail/md5.hpp"
#include "tlearn/io/hub.hpp"

#ifdef TLEARN_HAVE_CURL
#include <curl/curl.h>
#endif

namespace tlearn::io::detail {

/// An environment variable's value; unset and empty read the same.
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

namespace {
std::mutex limits_mutex;
DownloadLimits limits;
}  // namespace

#ifdef TLEARN_HAVE_CURL
/// curl_global_init, once per process, before the first handle (not thread-safe itself).
inline void ensure_curl_initialised() {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Download {
  std::ofstream* out;
  tlearn::detail::Sha256* hash;
  int64_t received = 0, max_bytes = 0;
};

inline std::size_t curl_write(char* data, std::size_t size, std::size_t count, void* user) {
  auto* d = static_cast<Download*>(user);
  const std::size_t n = size * count;
  d->received += int64_t(n);
  if (d->received > d->max_bytes) return 0;  // aborts the transfer
  d->hash->update(data, n);
  d->out->write(data, static_cast<std::streamsize>(n));
  return *d->out ? n : 0;
}

/// Downloads url into `tmp` within download_limits(); returns the SHA-256 of what
/// arrived. Throws on any HTTP or transfer error, and on a limit reached.
inline std::string curl_download(const std::string& url, const std::filesystem::path& tmp, const std::string& hint) {
  ensure_curl_initialised();
  const DownloadLimits lim = download_limits();
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("fetch_weights: cannot create " + tmp.string() + " (is the cache folder writable?)");
  tlearn::detail::Sha256 hash;
  Download d{&out, &hash, 0, lim.max_bytes};
  CURL* curl = curl_easy_init();
  if (!curl) throw Error("fetch_weights: curl_easy_init failed for " + url);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, long(lim.max_redirects));
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, long(lim.timeout_seconds));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, long(lim.min_bytes_per_second));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, long(lim.stall_seconds));
  curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(lim.max_bytes));  // from Content-Length
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, curl_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &d);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "tlearn");
  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  out.close();
  const std::string limits_hint = " (io::set_download_limits changes the limits)";
  if (d.received > lim.max_bytes || rc == CURLE_FILESIZE_EXCEEDED)
    throw Error("fetch_weights: " + url + " sends more than " + std::to_string(lim.max_bytes) +
                " bytes; refused" + limits_hint + "." + hint);
  if (rc == CURLE_TOO_MANY_REDIRECTS)
    throw Error("fetch_weights: " + url + " redirects more than " + std::to_string(lim.max_redirects) +
                " times (a redirect loop?)" + limits_hint + "." + hint);
  if (rc == CURLE_OPERATION_TIMEDOUT)
    throw Error("fetch_weights: downloading " + url + " timed out: " + errbuf + " (at most " +
                std::to_string(lim.timeout_seconds) + " s in all, or " + std::to_string(lim.stall_seconds) +
                " s below " + std::to_string(lim.min_bytes_per_second) + " bytes/s)" + limits_hint + "." + hint);
  if (rc != CURLE_OK)
    throw Error("fetch_weights: downloading " + url +
                " failed: " + (errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc))) + hint);
  if (!out) throw Error("fetch_weights: writing " + tmp.string() + " failed (disk full?)");
  return hash.hex_digest();
}
#endif

template <class Hash>
std::string file_digest(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("fetch_weights: cannot read " + path.string());
  Hash hash;
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), std::streamsize(buffer.size()));
    hash.update(buffer.data(), size_t(in.gcount()));
  }
  return hash.hex_digest();
}

std::string file_sha256(const std::filesystem::path& path) { return file_digest<tlearn::detail::Sha256>(path); }

std::string file_md5(const std::filesystem::path& path) { return file_digest<tlearn::detail::Md5>(path); }

void check_cached_file(const std::filesystem::path& target, const std::string& expected, FileHash kind,
                       const std::string& who) {
  namespace fs = std::filesystem;
  if (expected.empty()) return;
  // "<size> <mtime> <hash>" of the file last verified, so a big file is hashed once,
  // not at every load; a replaced or rewritten file, or another expected hash, is hashed again.
  std::error_code ec;
  const auto stamp_path = fs::path(target.string() + ".verified");
  const auto size = fs::file_size(target, ec);
  const auto mtime = fs::last_write_time(target, ec).time_since_epoch().count();
  const std::string stamp = std::to_string(size) + " " + std::to_string(mtime) + " " + expected;
  {
    std::ifstream in(stamp_path);
    std::string line;
    if (in && std::getline(in, line) && line == stamp) return;
  }
  const bool md5 = kind == FileHash::Md5;
  const std::string actual = md5 ? file_md5(target) : file_sha256(target);
  if (actual.compare(0, expected.size(), expected) != 0)
    throw Error(who + ": the cached file " + target.string() + " has " + (md5 ? "MD5 " : "SHA-256 ") +
                actual.substr(0, 16) + "..., but " +
                (who == "fetch_keras_weights" ? "Keras publishes " + expected + " for it"
                                              : "its name says it starts with " + expected) +
                ": a damaged or different file. Delete it and load again to download it afresh, or copy the "
                "right file there");
  std::ofstream out(stamp_path);  // a read-only cache only means hashing again next time
  out << stamp << "\n";
}

std::string offline_hint(const std::string& url, const std::filesystem::path& dir, const std::string& variable,
                         const std::string& file_name) {
  const std::string name = file_name.empty() ? url_file_name(url) : file_name;
  return " Offline? Download " + url + " on another machine and copy it to " + (dir / name).string() +
         " (set " + variable + " to keep the weights cache in another folder).";
}

std::string offline_hint(const std::string& url) {
  std::string where;
  try {
    where = (cache_dir() / url_file_name(url)).string();
  } catch (const Error&) {
    where = "$TLEARN_HOME/" + url_file_name(url);
  }
  return " Offline? Download " + url + " on another machine and copy it to " + where +
         " (set TLEARN_HOME to keep the weights cache in another folder).";
}

std::string hash_from_file_name(const std::string& name) {
  static const std::regex re("-([a-fA-F0-9]{6,64})\\.");
  std::smatch m;
  return std::regex_search(name, m, re) ? m[1].str() : std::string();
}

}  // namespace tlearn::io::detail

namespace tlearn::io {

namespace detail {

/// The one download path of both caches: a file already in `dir` is checked
/// against `expected`; otherwise it is downloaded to a temporary file there,
/// checked, and only then renamed into place, as `file_name` (else the URL's name).
/// `who` starts the error messages.
std::filesystem::path fetch_into(const std::string& url, const std::filesystem::path& dir,
                                 const std::string& expected, FileHash kind, const std::string& hint,
                                 const std::string& who, const std::string& file_name = "") {
  namespace fs = std::filesystem;
  const std::string name = file_name.empty() ? url_file_name(url) : file_name;
  const fs::path target = dir / name;
  std::error_code ec;
  if (fs::is_regular_file(target, ec)) {
    check_cached_file(target, expected, kind, who);
    return target;
  }
#ifdef TLEARN_HAVE_CURL
  fs::create_directories(dir, ec);
  if (ec) throw Error(who + ": cannot create the cache folder " + dir.string() + ": " + ec.message());
  tlearn::detail::remove_stale_temporaries(target, "partial");
  const fs::path tmp = tlearn::detail::temporary_beside(target, "partial");
  try {
    const std::string sha256 = curl_download(url, tmp, hint);
    const bool md5 = kind == FileHash::Md5;
    const std::string actual = md5 ? file_md5(tmp) : sha256;
    if (actual.compare(0, expected.size(), expected) != 0)
      throw Error(who + ": " + url + " has the wrong " + (md5 ? "MD5" : "SHA-256") + ": expected " + expected +
                  "..., got " + actual +
                  "; the download was deleted (a corrupt transfer or a changed file; check the URL)");
    tlearn::detail::sync_to_disk(tmp);
    fs::rename(tmp, target, ec);
    if (ec) throw Error(who + ": cannot move the download into " + target.string() + ": " + ec.message());
    tlearn::detail::sync_to_disk(target);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  return target;
#else
  throw Error(who + ": cannot download " + url + ": tlearn was built without libcurl." + hint);
#endif
}

}  // namespace detail

DownloadLimits download_limits() {
  std::lock_guard<std::mutex> lock(detail::limits_mutex);
  return detail::limits;
}

void set_download_limits(const DownloadLimits& limits) {
  if (limits.max_redirects < 0 || limits.max_bytes <= 0 || limits.timeout_seconds <= 0 ||
      limits.min_bytes_per_second < 0 || limits.stall_seconds <= 0)
    throw Error("set_download_limits: every limit must be positive (max_redirects and min_bytes_per_second may be 0)");
  std::lock_guard<std::mutex> lock(detail::limits_mutex);
  detail::limits = limits;
}

std::filesystem::path fetch_weights(const std::string& url, const std::string& sha256_prefix, bool allow_unverified) {
  const std::string name = detail::url_file_name(url);
  const std::string named = detail::hash_from_file_name(name);
  const std::string expected = detail::lower(sha256_prefix.empty() ? named : sha256_prefix);
  if (expected.empty() && !allow_unverified)
    throw Error("fetch_weights: " + url +
                " has no hash in its file name, so a download could not be checked; pass its SHA-256 "
                "(fetch_weights(url, \"<sha256 or its first 8+ hex digits>\")), or allow_unverified = true "
                "if any file from that URL will do");
  // Named by hash: shared with torch.hub's cache. Otherwise keyed by the whole URL.
  const auto dir = named.empty() ? cache_dir() / "by-url" / tlearn::detail::sha256_hex(url).substr(0, 16) : cache_dir();
  return detail::fetch_into(url, dir, expected, detail::FileHash::Sha256,
                            detail::offline_hint(url, dir, "TLEARN_HOME"), "fetch_weights");
}

std::filesystem::path fetch_keras_weights(const std::string& url, const std::string& md5, bool allow_unverified,
                                          const std::string& file_name) {
  const auto dir = keras_cache_dir();
  const std::string name = file_name.empty() ? detail::url_file_name(url) : file_name;
  std::error_code ec;
  if (md5.empty() && !allow_unverified && !std::filesystem::is_regular_file(dir / name, ec))
    throw Error("fetch_keras_weights: Keras publishes no MD5 for " + url +
                ", so a download could not be checked. Let Keras download it once (it caches it in " +
                dir.string() + ", where tlearn finds it), copy the file there yourself, or call "
                "tlearn::io::fetch_keras_weights(url, \"\", /*allow_unverified=*/true) if any file from that URL "
                "will do");
  // Keras' get_file(file_hash=...): 64 hex digits are a SHA-256 (ConvNeXt's files), else an MD5.
  const auto kind = md5.size() == 64 ? detail::FileHash::Sha256 : detail::FileHash::Md5;
  return detail::fetch_into(url, dir, detail::lower(md5), kind, detail::offline_hint(url, dir, "KERAS_HOME", name),
                            "fetch_keras_weights", name);
}

std::filesystem::path keras_cache_dir() {
  if (const char* v = std::getenv("KERAS_HOME"); v && *v) return std::filesystem::path(v) / "models";
  if (const char* v = std::getenv("HOME"); v && *v) return std::filesystem::path(v) / ".keras" / "models";
  throw Error("keras_cache_dir: neither KERAS_HOME nor HOME is set; set KERAS_HOME to the folder that holds models/");
}

std::filesystem::path cache_dir() {
  using detail::env;
  if (auto v = env("TLEARN_HOME"); !v.empty()) return v;
  if (auto v = env("TORCH_HOME"); !v.empty()) return std::filesystem::path(v) / "hub" / "checkpoints";
  if (auto v = env("XDG_CACHE_HOME"); !v.empty()) return std::filesystem::path(v) / "torch" / "hub" / "checkpoints";
  if (auto v = env("HOME"); !v.empty()) return std::filesystem::path(v) / ".cache" / "torch" / "hub" / "checkpoints";
  throw Error(
      "cache_dir: none of TLEARN_HOME, TORCH_HOME, XDG_CACHE_HOME or HOME is set; set TLEARN_HOME "
      "to the folder for pretrained weights");
}

}  // namespace tlearn::io
