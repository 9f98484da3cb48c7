#pragma once
/// \file
/// One entry point for every checkpoint format tlearn reads.
///
/// \code
/// auto sd = tlearn::io::load_checkpoint(path);  // .pth (zip or legacy) or .safetensors
/// \endcode

#include <cstdint>
#include <filesystem>

#include "tlearn/detail/file.hpp"
#include "tlearn/io/pth.hpp"
#include "tlearn/io/safetensors.hpp"
#include "tlearn/io/state_dict.hpp"

namespace tlearn::io {

/// Reads a torch.save file (zip or legacy) or a safetensors file, telling them
/// apart by their first bytes, not by the file name.
inline StateDict load_checkpoint(const std::filesystem::path& path) {
  tlearn::detail::BinaryFile file(path);
  if (file.size() == 0) throw Error(path.string() + ": the file is empty (an interrupted download or save?)");
  unsigned char head[9] = {0};
  const std::uint64_t n = std::min<std::uint64_t>(file.size(), 9);
  file.read_at(0, head, n, "file header");
  if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return load_pth(path);
  if (n >= 3 && head[0] == 0x80 && head[2] == 0x8a) return load_pth(path);
  if (n == 9 && head[8] == '{') return load_safetensors(path);
  throw Error(path.string() + ": unknown checkpoint format: neither a torch.save file (zip or legacy) "
              "nor a safetensors file");
}

}  // namespace tlearn::io
