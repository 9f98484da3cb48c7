#pragma once
/// \file
/// Where pretrained weights live on disk, and downloading them once.
///
/// \code
/// auto file = tlearn::io::fetch_weights("https://download.pytorch.org/models/resnet50-0676ba61.pth");
/// \endcode
/// Downloads need libcurl (TLEARN_HAVE_CURL); without it, put the file into
/// cache_dir() by hand.

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "tlearn/core/error.hpp"
#include "tlearn/detail/sha256.hpp"

namespace tlearn::io {

/// The weights cache: $TLEARN_HOME if set, else $TORCH_HOME/hub/checkpoints,
/// else $XDG_CACHE_HOME/torch/hub/checkpoints, else
/// ~/.cache/torch/hub/checkpoints (the folder torchvision uses, so weights
/// downloaded by Python are found too). Empty variables count as unset.
std::filesystem::path cache_dir();

namespace detail {

/// The file name of a URL: its last path segment, without query or fragment.
inline std::string url_file_name(const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  const auto slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.empty() || name == "." || name == ".." || name.find('\\') != std::string::npos)
    throw Error("fetch_weights: the URL " + url + " does not end in a file name");
  return name;
}

/// torchvision names its files by SHA-256 prefix; Keras publishes MD5s.
enum class FileHash { Sha256, Md5 };

/// Hashes a file already in the cache against the hash its name (or the caller)
/// gives, once per version of the file (a "<file>.verified" stamp remembers it);
/// a mismatch is an Error, from `who`, that says to delete the file.
void check_cached_file(const std::filesystem::path& target, const std::string& expected_prefix,
                       FileHash kind = FileHash::Sha256, const std::string& who = "fetch_weights");

/// The end of every download error: the exact path to copy the file to by hand,
/// and the variable that moves the cache.
std::string offline_hint(const std::string& url);
/// The same for a file cached in `dir` (as `file_name`, else the URL's), whose folder `variable` moves.
std::string offline_hint(const std::string& url, const std::filesystem::path& dir, const std::string& variable,
                         const std::string& file_name = "");

/// torchvision's convention: name-<hex hash prefix>.ext carries the SHA-256 prefix.
std::string hash_from_file_name(const std::string& name);

inline std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace detail

/// What every download may cost (fetch_weights, fetch_keras_weights); process-wide.
struct DownloadLimits {
  int64_t max_redirects = 10;
  /// A larger body is cut off and refused (torchvision's largest file is 2.6 GB).
  int64_t max_bytes = int64_t(8) << 30;
  /// The whole transfer, connecting included.
  int64_t timeout_seconds = 4 * 3600;
  /// A transfer slower than this for `stall_seconds` in a row is abandoned.
  int64_t min_bytes_per_second = 1024;
  int64_t stall_seconds = 60;
};
DownloadLimits download_limits();
void set_download_limits(const DownloadLimits& limits);

/// The local path of the weights at `url`, downloading them into cache_dir()
/// first if the file is not there yet. A file whose name carries its hash
/// (torchvision's resnet50-0676ba61.pth) is cached under its name, so weights
/// Python downloaded are found; any other under by-url/<hash of the URL>/, so
/// two URLs that end in one name never share a file.
/// A download goes to a temporary file in the cache folder, is checked against
/// `sha256_prefix` (or the hash in the name) and only then renamed into place:
/// a failed or corrupt download never leaves a file behind, and the leftovers of
/// a killed process are removed by the next download of that file. A URL with
/// no hash in its name needs `sha256_prefix`, unless `allow_unverified` says
/// that any file from it will do.
std::filesystem::path fetch_weights(const std::string& url, const std::string& sha256_prefix = "",
                                    bool allow_unverified = false);

/// Keras' cache: $KERAS_HOME/models if set, else ~/.keras/models, where
/// keras.utils.get_file keeps Keras Applications weights (so files a Keras user
/// already downloaded are found, and Keras finds ours).
std::filesystem::path keras_cache_dir();

/// fetch_weights for a Keras Applications file: cached in keras_cache_dir() and
/// checked against the MD5 Keras publishes for it (as keras.utils.get_file checks;
/// 64 hex digits are a SHA-256, as get_file's "auto" takes them: ConvNeXt's files).
/// For the files Keras publishes no MD5 for (MobileNetV2's, `md5` empty), a file
/// already in the cache is taken as Keras takes it; downloading one needs
/// `allow_unverified`, since nothing could check it. `file_name` is the name Keras
/// caches the file under where it is not the URL's (get_file's fname: NASNet's
/// NASNet-mobile.h5 is cached as nasnet_mobile.h5).
std::filesystem::path fetch_keras_weights(const std::string& url, const std::string& md5,
                                          bool allow_unverified = false, const std::string& file_name = "");

}  // namespace tlearn::io
