#pragma once
/// \file
/// torch.save files (.pth / .pt): the zip format (torch >= 1.6) and the legacy
/// format, read with a restricted unpickler that only rebuilds tensors.
///
/// \code
/// auto sd = tlearn::io::load_pth("resnet50-0676ba61.pth");
/// tlearn::io::save_pth(tlearn::io::state_dict(*model), "finetuned.pth");  // torch.load reads it
/// \endcode

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "tlearn/detail/file.hpp"
#include "tlearn/detail/pickle.hpp"
#include "tlearn/detail/zip.hpp"
#include "tlearn/io/state_dict.hpp"

namespace tlearn::io {

namespace detail {
using namespace tlearn::detail;

inline std::int64_t element_size(c10::ScalarType dtype) {
  return static_cast<std::int64_t>(c10::elementSize(dtype));
}

/// numel * element size, checked against `limit` bytes before anything is allocated.
std::uint64_t storage_bytes(const BinaryFile& file, std::int64_t numel, c10::ScalarType dtype, std::uint64_t limit,
                            const std::string& key);

/// Parses a persistent id ('storage', torch.XStorage, key, location, numel[, view_metadata]).
struct StorageId {
  c10::ScalarType dtype = torch::kFloat32;
  std::string key;
  std::int64_t numel = 0;
  PyRef view;  // legacy only: None or (view_key, offset, view_size)
};

StorageId parse_storage_id(const BinaryFile& file, const PyRef& pid);

PyRef storage_value(const torch::Tensor& flat, std::int64_t offset = 0);

/// The state dict inside an unpickled checkpoint: the top-level dict itself, or
/// its "state_dict" / "model" / "model_state_dict" entry.
StateDict extract_state_dict(const BinaryFile& file, const PyRef& root);

StateDict load_pth_zip(BinaryFile& file);

StateDict load_pth_legacy(BinaryFile& file);
}  // namespace detail

/// Reads a torch.save file, zip (torch >= 1.6) or legacy format, into an
/// ordered name -> tensor map. A checkpoint wrapped as {"state_dict": ...} or
/// {"model": ...} is unwrapped. Only tensors are rebuilt: a pickle that names
/// any other Python global (os.system, ...) is refused with an Error.
/// Tensors that shared a storage in Python share memory here too. Where the
/// system maps files, each storage views the file's pages (private,
/// copy-on-write) instead of being read into new memory: loading is then one
/// copy, into the model. Do not overwrite the file in place (Python's torch.save
/// does) while the returned tensors are alive: replace it by rename, as tlearn's
/// writers do, or clone what you keep.
StateDict load_pth(const std::filesystem::path& path);

/// Writes a state dict in torch.save's zip format; Python's torch.load(path)
/// returns an OrderedDict of the same tensors, bit for bit. Tensors are saved
/// contiguous, each with its own storage, from the CPU. The file is written to
/// a temporary name and renamed, so an existing file is replaced only on success.
void save_pth(const StateDict& state, const std::filesystem::path& path);

}  // namespace tlearn::io
