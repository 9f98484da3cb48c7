#pragma once
// Narrow vision transformers built by tlearn's ViT code, registered under a test's own name.
#include <tlearn/models/vit.hpp>

#include <string>

namespace tlearn::test {

/// Registers `name` as ViT with `config`, no weights, built for `size` x `size` by default.
inline bool register_toy_vit(const std::string& name, const VisionTransformerConfig& config, int64_t size) {
  auto spec = detail::vit_spec(name, config.patch_size(), "00000000", 256);
  spec.weights.clear();
  spec.default_size = size;
  return register_variant<VisionTransformerImpl>(spec, config);
}

}  // namespace tlearn::test
