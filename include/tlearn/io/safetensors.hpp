#pragma once
/// \file
/// safetensors files (Hugging Face): 8-byte little-endian header length, a JSON
/// header {"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {...}},
/// then the raw little-endian tensor bytes.
///
/// \code
/// tlearn::io::save_safetensors(tlearn::io::state_dict(*model), "model.safetensors", {{"format", "pt"}});
/// auto sd = tlearn::io::load_safetensors("model.safetensors");
/// \endcode

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tlearn/detail/file.hpp"
#include "tlearn/io/state_dict.hpp"

namespace tlearn::io {

namespace detail {

struct SafetensorsDtype {
  const char* name;
  c10::ScalarType dtype;
};
inline const std::vector<SafetensorsDtype>& safetensors_dtypes() {
  static const std::vector<SafetensorsDtype> types = {
      {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
      {"BF16", torch::kBFloat16}, {"I64", torch::kInt64}, {"I32", torch::kInt32},
      {"I16", torch::kInt16}, {"I8", torch::kInt8}, {"U8", torch::kUInt8}, {"BOOL", torch::kBool}};
  return types;
}

/// A header larger than this is refused before it is read (the reference reader uses 100 MB).
inline constexpr std::uint64_t kMaxSafetensorsHeader = 100u << 20;
/// Keys in a header (tensors' and their fields', metadata's): four per tensor, so
/// room for 250,000 tensors; a 100 MB header of tiny keys would otherwise hold millions.
inline constexpr std::size_t kMaxSafetensorsKeys = std::size_t(1) << 20;

struct SafetensorsEntry {
  std::string name;
  c10::ScalarType dtype;
  std::vector<std::int64_t> shape;
  std::int64_t numel = 0;
  std::uint64_t begin, end;  // relative to the data section
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // in data order
  std::map<std::string, std::string> metadata;
  std::uint64_t data_start = 0;
};

SafetensorsHeader read_safetensors_header(tlearn::detail::BinaryFile& file);

const char* safetensors_dtype_name(c10::ScalarType dtype, const std::string& key, const std::filesystem::path& path);

}  // namespace detail

/// Reads every tensor of a safetensors file, in file order. The header is
/// validated against the file size before anything is allocated. Tensors view
/// the file's pages where the system maps files, as load_pth's do (same caveat:
/// replace the file by rename while they are alive, never overwrite it in place).
StateDict load_safetensors(const std::filesystem::path& path);

/// The "__metadata__" strings of a safetensors file (empty when it has none).
std::map<std::string, std::string> safetensors_metadata(const std::filesystem::path& path);

/// Writes a state dict as safetensors (tensors in the given order, contiguous,
/// from the CPU), with optional "__metadata__" strings. Written to a temporary
/// file and renamed.
void save_safetensors(const StateDict& state, const std::filesystem::path& path,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace tlearn::io
