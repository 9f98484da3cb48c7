// Implementation of tlearn/io/hf_hub.hpp: huggingface_hub's download protocol
// and cache layout (file_download.py), so the two share one cache.
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <system_error>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#endif

#include "tlearn/core/error.hpp"
#include "tlearn/detail/file.hpp"
#include "tlearn/io/hf_hub.hpp"
#include "tlearn/io/hub.hpp"

#ifdef TLEARN_HAVE_CURL
#include <curl/curl.h>
#endif

namespace tlearn::io {

namespace detail::hf {

namespace fs = std::filesystem;

/// huggingface_hub's reading of a boolean variable.
bool env_true(const char* name) {
  const std::string v = lower(env(name));
  return v == "1" || v == "on" || v == "yes" || v == "true";
}

fs::path hf_home() {
  if (auto v = env("HF_HOME"); !v.empty()) return v;
  if (auto v = env("XDG_CACHE_HOME"); !v.empty()) return fs::path(v) / "huggingface";
  if (auto v = env("HOME"); !v.empty()) return fs::path(v) / ".cache" / "huggingface";
  throw Error("hf_hub: none of HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME or HOME is set; set HF_HOME to the folder "
              "for the Hugging Face cache");
}

std::string endpoint() {
  std::string e = env("HF_ENDPOINT");
  if (e.empty()) e = "https://huggingface.co";
  while (!e.empty() && e.back() == '/') e.pop_back();
  return e;
}

/// "scheme://host[:port]" of a URL, which decides where the token may go.
std::string origin(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  return url.substr(0, url.find('/', scheme + 3));
}

/// HF_TOKEN, else the file huggingface-cli login writes ($HF_TOKEN_PATH or $HF_HOME/token).
std::string token() {
  auto trim = [](std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    size_t b = 0;
    while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    return s.substr(b);
  };
  if (auto t = trim(env("HF_TOKEN")); !t.empty()) return t;
  std::error_code ec;
  fs::path file = env("HF_TOKEN_PATH");
  if (file.empty()) {
    try {
      file = hf_home() / "token";
    } catch (const Error&) {
      return "";
    }
  }
  if (!fs::is_regular_file(file, ec)) return "";
  std::ifstream in(file);
  std::string t;
  std::getline(in, t);
  return trim(t);
}

/// Percent-encodes all but RFC 3986's unreserved characters (and '/' when kept),
/// as huggingface_hub quotes revisions and file names in URLs.
std::string quote(const std::string& s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool is_commit_hash(const std::string& s) {
  static const std::regex re("[0-9a-f]{40}");
  return std::regex_match(s, re);
}

/// A relative path inside the cache: no "..", no absolute path, no backslash.
void check_relative(const std::string& what, const std::string& value, const std::string& repo) {
  const fs::path p(value);
  bool ok = !value.empty() && !p.is_absolute() && value.find('\\') == std::string::npos && value.front() != '/';
  for (const auto& part : p) ok = ok && part != ".." && part != "." && !part.empty();
  if (!ok)
    throw Error("hf_hub: the " + what + " '" + value + "' of " + repo +
                " is not a plain relative name (no '..', no leading '/', no '\\')");
}

fs::path repo_folder(const HubRepo& repo) {
  std::string name = repo.id;
  for (size_t at = name.find('/'); at != std::string::npos; at = name.find('/', at)) name.replace(at, 1, "--");
  return hf_hub_cache_dir() / ("models--" + name);
}

std::string read_first_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

/// What the cache knows of `filename` at `repo.revision`.
struct CacheEntry {
  std::string commit;  ///< empty: the revision was never resolved here
  fs::path file;       ///< empty: not cached
  bool missing = false;  ///< the Hub said the commit has no such file
};

CacheEntry look_up(const HubRepo& repo, const std::string& filename) {
  const fs::path folder = repo_folder(repo);
  CacheEntry entry;
  std::error_code ec;
  if (is_commit_hash(repo.revision)) {
    entry.commit = repo.revision;
  } else if (fs::is_regular_file(folder / "refs" / repo.revision, ec)) {
    entry.commit = read_first_line(folder / "refs" / repo.revision);
  }
  if (entry.commit.empty() || !is_commit_hash(entry.commit)) return {};
  const fs::path pointer = folder / "snapshots" / entry.commit / filename;
  if (fs::exists(pointer, ec)) entry.file = pointer;
  entry.missing = entry.file.empty() && fs::exists(folder / ".no_exist" / entry.commit / filename, ec);
  return entry;
}

/// Writes `text` to `path` through a temporary file and a rename.
void write_text(const fs::path& path, const std::string& text) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  tlearn::detail::write_atomically(path, [&](std::ofstream& out) { out << text; });
}

/// snapshots/<commit>/<filename> -> ../../blobs/<etag>, relative as huggingface_hub
/// makes it (a moved cache keeps working); a copy where links are not supported.
void link_pointer(const fs::path& blob, const fs::path& pointer) {
  std::error_code ec;
  if (fs::exists(pointer, ec)) return;
  fs::create_directories(pointer.parent_path(), ec);
  const fs::path tmp = tlearn::detail::temporary_beside(pointer, "link");
  fs::create_symlink(blob.lexically_relative(pointer.parent_path()), tmp, ec);
  if (ec) {
    ec.clear();
    fs::copy_file(blob, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error("hf_hub: cannot put " + pointer.string() + " into the cache: " + ec.message());
  }
  fs::rename(tmp, pointer, ec);
  if (ec) {
    fs::remove(tmp, ec);
    if (!fs::exists(pointer)) throw Error("hf_hub: cannot put " + pointer.string() + " into the cache");
  }
}

/// An exclusive lock on .locks/<repo folder>/<etag>.lock: the file huggingface_hub's
/// FileLock takes, so tlearn and Python never write one blob at once.
class BlobLock {
 public:
  explicit BlobLock(const fs::path& path) {
#if defined(__unix__) || defined(__APPLE__)
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
#else
    (void)path;
#endif
  }
  ~BlobLock() {
#if defined(__unix__) || defined(__APPLE__)
    if (fd_ >= 0) {
      ::flock(fd_, LOCK_UN);
      ::close(fd_);
    }
#endif
  }
  BlobLock(const BlobLock&) = delete;
  BlobLock& operator=(const BlobLock&) = delete;

 private:
  int fd_ = -1;
};

/// What the Hub says of one file at one revision.
struct Metadata {
  std::string commit, etag, location;
  int64_t size = -1;
  bool not_found = false;  ///< the revision exists, the file does not
};

/// A failure to ask the Hub (no connection, server error, refusal): the cached
/// copy, if any, is used instead, as huggingface_hub does.
struct HeadError : Error {
  using Error::Error;
};

std::string where(const HubRepo& repo, const std::string& filename) {
  return "'" + filename + "' of " + repo.name();
}

std::string offline_hint(const HubRepo& repo, const std::string& filename) {
  return " To work offline, fetch it once where the Hub is reachable (tlearn, or Python's "
         "huggingface_hub.hf_hub_download(\"" +
         repo.id + "\", \"" + filename + "\", revision=\"" + repo.revision + "\")) with the same HF_HOME (" +
         hf_hub_cache_dir().string() + "), then set HF_HUB_OFFLINE=1.";
}

#ifdef TLEARN_HAVE_CURL

struct Response {
  long status = 0;
  std::map<std::string, std::string> headers;  ///< of the last response, names in lower case
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* r = static_cast<Response*>(user);
  std::string line(data, size * count);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after a redirect or a 100): start over
    r->headers.clear();
    const auto sp = line.find(' ');
    r->status = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
  } else if (const auto colon = line.find(':'); colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r->headers[lower(line.substr(0, colon))] = value;
  }
  return size * count;
}

/// One curl handle with tlearn's limits, the Hub's headers, and the token for the
/// Hub's own origin only (never for the storage a download is redirected to).
class Request {
 public:
  explicit Request(const std::string& url) : url_(url) {
    ensure_curl_initialised();
    curl_ = curl_easy_init();
    if (!curl_) throw HeadError("hf_hub: curl_easy_init failed");
    const DownloadLimits lim = download_limits();
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, long(lim.min_bytes_per_second));
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, long(lim.stall_seconds));
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, errbuf_);
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, "tlearn");
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &response_);
    if (const std::string t = token(); !t.empty() && origin(url) == origin(endpoint()))
      header("Authorization: Bearer " + t);
  }
  ~Request() {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(curl_);
  }
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  void header(const std::string& h) { headers_ = curl_slist_append(headers_, h.c_str()); }
  CURL* handle() { return curl_; }

  /// Runs the request; a transfer error (not an HTTP status) throws `E`.
  template <class E = HeadError>
  const Response& perform(const std::string& what) {
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    const CURLcode rc = curl_easy_perform(curl_);
    if (rc != CURLE_OK) {
      const std::string why = errbuf_[0] ? std::string(errbuf_) : std::string(curl_easy_strerror(rc));
      throw E("hf_hub: " + what + " failed: " + why + " (" + url_ + ")");
    }
    return response_;
  }

 private:
  std::string url_;
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
  Response response_;
  char errbuf_[CURL_ERROR_SIZE] = {0};
};

/// huggingface_hub's get_hf_file_metadata: a HEAD request on the resolve URL that
/// follows relative redirects (renamed repositories) but not absolute ones (the
/// storage the file lives in), whose headers name the commit, ETag and size.
Metadata head(const HubRepo& repo, const std::string& filename) {
  const std::string base = endpoint();
  std::string url = base + "/" + repo.id + "/resolve/" + quote(repo.revision, false) + "/" + quote(filename, true);
  const int64_t max_redirects = download_limits().max_redirects;
  for (int64_t hop = 0;; ++hop) {
    Request request(url);
    curl_easy_setopt(request.handle(), CURLOPT_NOBODY, 1L);
    curl_easy_setopt(request.handle(), CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(request.handle(), CURLOPT_TIMEOUT, 30L);
    request.header("Accept-Encoding: identity");  // the real size, not a compressed one
    const Response r = request.perform("asking the Hub for " + where(repo, filename));
    auto get = [&](const char* name) {
      auto it = r.headers.find(name);
      return it == r.headers.end() ? std::string() : it->second;
    };
    const bool redirect = r.status >= 300 && r.status < 400;
    if (redirect && get("location").rfind("/", 0) == 0) {
      if (hop >= max_redirects)
        throw HeadError("hf_hub: the Hub redirected " + where(repo, filename) + " more than " +
                        std::to_string(max_redirects) + " times (a redirect loop?)");
      url = origin(base) + get("location");
      continue;
    }
    const std::string code = get("x-error-code");
    if (r.status == 401 || r.status == 403)
      throw HeadError("hf_hub: the Hub refused " + where(repo, filename) + " (HTTP " + std::to_string(r.status) +
                      "): the repository is private or gated. Set HF_TOKEN to a token that may read it "
                      "(huggingface.co/settings/tokens) and, for a gated model, accept its terms on its page");
    if (r.status == 404 && code == "EntryNotFound") {
      Metadata m;
      m.not_found = true;
      m.commit = get("x-repo-commit");
      return m;
    }
    if (r.status == 404 && code == "RevisionNotFound")
      throw HeadError("hf_hub: " + repo.id + " has no revision '" + repo.revision + "' (a branch, tag or commit)");
    if (r.status == 404)
      throw HeadError("hf_hub: the Hub has no repository " + repo.id +
                      " (check the name; a private one also needs HF_TOKEN)");
    if (r.status < 200 || r.status >= 400)
      throw HeadError("hf_hub: the Hub answered HTTP " + std::to_string(r.status) + " for " + where(repo, filename));
    Metadata m;
    m.commit = get("x-repo-commit");
    std::string etag = get("x-linked-etag");
    if (etag.empty()) etag = get("etag");
    if (etag.rfind("W/", 0) == 0) etag.erase(0, 2);
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
    m.etag = etag;
    const std::string size = get("x-linked-size").empty() ? (redirect ? "" : get("content-length")) : get("x-linked-size");
    if (!size.empty()) m.size = std::atoll(size.c_str());
    m.location = redirect ? get("location") : url;
    if (m.commit.empty() || m.etag.empty())
      throw HeadError("hf_hub: " + base + " answered for " + where(repo, filename) +
                      " without the X-Repo-Commit and ETag headers the Hub sends; is HF_ENDPOINT a Hugging Face Hub?");
    if (!is_commit_hash(m.commit))
      throw HeadError("hf_hub: " + base + " named the commit '" + m.commit + "', which is not a commit hash");
    static const std::regex etag_re("[A-Za-z0-9._-]{1,128}");
    if (!std::regex_match(m.etag, etag_re))
      throw HeadError("hf_hub: " + base + " sent the ETag '" + m.etag + "', which cannot name a cache file");
    return m;
  }
}

struct BodyWriter {
  std::fstream* out = nullptr;
  fs::path path;
  Request* request = nullptr;
  int64_t resumed_from = 0, received = 0, max_bytes = 0;
  bool checked = false, restarted = false;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* w = static_cast<BodyWriter*>(user);
  if (!w->checked) {  // a server that ignores Range sends the whole file: start over
    w->checked = true;
    long code = 0;
    curl_easy_getinfo(w->request->handle(), CURLINFO_RESPONSE_CODE, &code);
    if (w->resumed_from > 0 && code == 200) {
      w->out->close();
      w->out->open(w->path, std::ios::binary | std::ios::out | std::ios::trunc);
      w->resumed_from = 0;
      w->restarted = true;
    }
  }
  const size_t n = size * count;
  w->received += int64_t(n);
  if (w->resumed_from + w->received > w->max_bytes) return 0;
  w->out->write(data, std::streamsize(n));
  return *w->out ? n : 0;
}

/// Downloads the file at `m.location` into blobs/<etag>: appended to a leftover
/// <etag>.incomplete with a Range request, checked, then renamed.
void download_blob(const HubRepo& repo, const std::string& filename, const Metadata& m, const fs::path& blob) {
  const fs::path partial = fs::path(blob.string() + ".incomplete");
  std::error_code ec;
  fs::create_directories(blob.parent_path(), ec);
  if (ec) throw Error("hf_hub: cannot create the cache folder " + blob.parent_path().string() + ": " + ec.message());
  const DownloadLimits lim = download_limits();
  if (m.size > lim.max_bytes)
    throw Error("hf_hub: " + where(repo, filename) + " is " + std::to_string(m.size) + " bytes, over the limit of " +
                std::to_string(lim.max_bytes) + " (io::set_download_limits changes it)");
  int64_t have = fs::is_regular_file(partial, ec) ? int64_t(fs::file_size(partial, ec)) : 0;
  if (m.size >= 0 && have > m.size) {
    fs::remove(partial, ec);
    have = 0;
  }
  if (m.size < 0 || have < m.size) {
    std::fstream out(partial, std::ios::binary | std::ios::out | std::ios::app);
    if (!out) throw Error("hf_hub: cannot write " + partial.string() + " (is the cache folder writable?)");
    Request request(m.location);
    BodyWriter w{&out, partial, &request, have, 0, lim.max_bytes};
    curl_easy_setopt(request.handle(), CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(request.handle(), CURLOPT_MAXREDIRS, long(lim.max_redirects));
    curl_easy_setopt(request.handle(), CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(request.handle(), CURLOPT_TIMEOUT, long(lim.timeout_seconds));
    curl_easy_setopt(request.handle(), CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(request.handle(), CURLOPT_WRITEDATA, &w);
    if (have > 0) request.header("Range: bytes=" + std::to_string(have) + "-");
    try {
      request.perform<Error>("downloading " + where(repo, filename));
    } catch (const Error& e) {
      out.close();
      if (w.resumed_from + w.received > lim.max_bytes) {
        fs::remove(partial, ec);
        throw Error("hf_hub: " + where(repo, filename) + " sends more than " + std::to_string(lim.max_bytes) +
                    " bytes; refused (io::set_download_limits changes the limit)");
      }
      throw Error(std::string(e.what()) + ". What arrived is kept in " + partial.string() +
                  "; loading again resumes the download from there.");
    }
    out.close();
    if (!out) throw Error("hf_hub: writing " + partial.string() + " failed (disk full?)");
  }
  const int64_t got = int64_t(fs::file_size(partial, ec));
  if (m.size >= 0 && got != m.size) {
    fs::remove(partial, ec);
    throw Error("hf_hub: " + where(repo, filename) + " arrived with " + std::to_string(got) +
                " bytes, but the Hub announced " + std::to_string(m.size) + "; the download was deleted, load again");
  }
  static const std::regex sha256_re("[0-9a-f]{64}");
  if (std::regex_match(m.etag, sha256_re)) {  // large files: the ETag is the content's SHA-256
    const std::string actual = file_sha256(partial);
    if (actual != m.etag) {
      fs::remove(partial, ec);
      throw Error("hf_hub: " + where(repo, filename) + " arrived with SHA-256 " + actual.substr(0, 16) +
                  "..., but the Hub announced " + m.etag.substr(0, 16) +
                  "...; the download was deleted (a corrupt transfer), load again");
    }
  }
  tlearn::detail::sync_to_disk(partial);
  fs::rename(partial, blob, ec);
  if (ec) throw Error("hf_hub: cannot move the download into " + blob.string() + ": " + ec.message());
}

/// Asks the Hub and makes sure the file is cached; nothing when the file does not exist.
std::optional<fs::path> fetch_online(const HubRepo& repo, const std::string& filename) {
  const Metadata m = head(repo, filename);
  const fs::path folder = repo_folder(repo);
  if (!m.commit.empty() && !is_commit_hash(repo.revision) && is_commit_hash(m.commit) &&
      read_first_line(folder / "refs" / repo.revision) != m.commit)
    write_text(folder / "refs" / repo.revision, m.commit);
  if (m.not_found) {
    if (is_commit_hash(m.commit)) {  // remembered, as huggingface_hub does, for offline fallbacks
      const fs::path marker = folder / ".no_exist" / m.commit / filename;
      std::error_code ec;
      fs::create_directories(marker.parent_path(), ec);
      std::ofstream touch(marker, std::ios::app);
    }
    return std::nullopt;
  }
  const fs::path pointer = folder / "snapshots" / m.commit / filename;
  const fs::path blob = folder / "blobs" / m.etag;
  std::error_code ec;
  if (fs::exists(pointer, ec)) return pointer;
  {
    BlobLock lock(hf_hub_cache_dir() / ".locks" / folder.filename() / (m.etag + ".lock"));
    if (!fs::is_regular_file(blob, ec)) download_blob(repo, filename, m, blob);
  }
  link_pointer(blob, pointer);
  return pointer;
}

#endif  // TLEARN_HAVE_CURL

std::optional<fs::path> download(const HubRepo& repo, const std::string& filename) {
  check_relative("file name", filename, repo.name());
  const CacheEntry cached = look_up(repo, filename);
  // A commit never changes: its cached files need no question to the Hub.
  if (is_commit_hash(repo.revision) && (!cached.file.empty() || cached.missing)) {
    if (cached.missing) return std::nullopt;
    return cached.file;
  }
  std::string failure;
  if (env_true("HF_HUB_OFFLINE")) {
    failure = "HF_HUB_OFFLINE is set and the cache has no copy of it.";
  } else {
#ifdef TLEARN_HAVE_CURL
    try {
      return fetch_online(repo, filename);
    } catch (const HeadError& e) {
      failure = std::string(e.what()) + "; the cache has no copy of it either.";
    }
#else
    failure = "tlearn was built without libcurl, so it cannot download, and the cache has no copy of it.";
#endif
  }
  if (!cached.file.empty()) return cached.file;
  if (cached.missing) return std::nullopt;
  throw Error("hf_hub: cannot get " + where(repo, filename) + ": " + failure + offline_hint(repo, filename));
}

}  // namespace detail::hf

HubRepo HubRepo::parse(const std::string& name) {
  std::string rest = name.rfind("hf-hub:", 0) == 0 ? name.substr(7) : name;
  HubRepo repo;
  if (const auto at = rest.find('@'); at != std::string::npos) {
    repo.revision = rest.substr(at + 1);
    rest = rest.substr(0, at);
  }
  repo.id = rest;
  // huggingface_hub's validate_repo_id, and a revision that stays inside refs/.
  static const std::regex id_re("([A-Za-z0-9_.-]+/)?[A-Za-z0-9_.-]+");
  const bool id_ok = std::regex_match(repo.id, id_re) && repo.id.size() <= 96 &&
                     repo.id.find("--") == std::string::npos && repo.id.find("..") == std::string::npos &&
                     repo.id.front() != '.' && repo.id.front() != '-' && repo.id.back() != '.' && repo.id.back() != '-';
  if (!id_ok)
    throw Error("'" + name + "' is not a Hub repository name; write hf-hub:ORG/REPO or hf-hub:ORG/REPO@REVISION, "
                "e.g. hf-hub:timm/resnet50.a1_in1k (letters, digits, '-', '_' and '.'; no '--' or '..')");
  detail::hf::check_relative("revision", repo.revision, "hf-hub:" + repo.id);
  return repo;
}

std::string HubRepo::name() const { return "hf-hub:" + id + (revision == "main" ? "" : "@" + revision); }

bool is_hub_name(const std::string& name) { return name.rfind("hf-hub:", 0) == 0; }

std::filesystem::path hf_hub_cache_dir() {
  if (auto v = detail::env("HF_HUB_CACHE"); !v.empty()) return v;
  return detail::hf::hf_home() / "hub";
}

std::filesystem::path hf_hub_download(const HubRepo& repo, const std::string& filename) {
  auto file = detail::hf::download(repo, filename);
  if (!file)
    throw Error("hf_hub: " + repo.name() + " has no file '" + filename + "' at revision '" + repo.revision +
                "' (see the repository's Files tab for what it holds)");
  return *file;
}

std::optional<std::filesystem::path> hf_hub_try_download(const HubRepo& repo, const std::string& filename) {
  return detail::hf::download(repo, filename);
}

}  // namespace tlearn::io
