#pragma once
/// \file
/// Files from the Hugging Face Hub, cached where huggingface_hub caches them, so
/// a file Python already fetched is found and Python finds ours:
///
///     auto file = tlearn::io::hf_hub_download(tlearn::io::HubRepo::parse("hf-hub:timm/resnet50.a1_in1k"),
///                                             "model.safetensors");
///
/// The cache is huggingface_hub's layout: blobs/<etag> holds each file once,
/// snapshots/<commit>/<file> links to it, refs/<revision> names the commit.
/// Environment, as in huggingface_hub: HF_ENDPOINT (the server), HF_TOKEN (or the
/// file $HF_HOME/token) for private and gated repositories, HF_HUB_OFFLINE=1 (use
/// the cache only), HF_HUB_CACHE or HF_HOME (where the cache is).
/// Downloads need libcurl (TLEARN_HAVE_CURL) and obey io::download_limits().

#include <filesystem>
#include <optional>
#include <string>

namespace tlearn::io {

/// A model repository on the Hub at one revision (branch, tag or commit).
struct HubRepo {
  std::string id;                  ///< "ORG/REPO", e.g. "timm/resnet50.a1_in1k"
  std::string revision = "main";

  /// Parses "hf-hub:ORG/REPO[@REVISION]" (the "hf-hub:" prefix is optional);
  /// anything else is an Error that shows the expected form.
  static HubRepo parse(const std::string& name);
  /// "hf-hub:ORG/REPO", with "@REVISION" unless it is main.
  std::string name() const;
};

/// Whether `name` names a Hub repository ("hf-hub:..."), as timm's create_model reads it.
bool is_hub_name(const std::string& name);

/// The Hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, else
/// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
std::filesystem::path hf_hub_cache_dir();

/// The local path (snapshots/<commit>/<filename> in hf_hub_cache_dir()) of
/// `filename` in `repo`. Online, the Hub is asked which commit and file the
/// revision names; a file already cached is not downloaded again. A download
/// goes to blobs/<etag>.incomplete (resumed by the next call when it was cut off),
/// is checked against the size and SHA-256 the Hub announces, and only then moves
/// into place. When the Hub cannot be reached, or HF_HUB_OFFLINE is set, the
/// cached copy of the revision is used; with none, the Error says what to fetch.
std::filesystem::path hf_hub_download(const HubRepo& repo, const std::string& filename);

/// hf_hub_download, but nothing when the repository has no such file (the Hub
/// answered "entry not found", or the cache remembers it did): for fallbacks,
/// such as pytorch_model.bin where model.safetensors is missing.
std::optional<std::filesystem::path> hf_hub_try_download(const HubRepo& repo, const std::string& filename);

}  // namespace tlearn::io
