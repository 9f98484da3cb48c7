#pragma once
/// \file
/// An image file straight to the float tensor a model takes, resized:
///
///     auto chw = tlearn::load_image("cat.jpg", {224, 224});  // (3, 224, 224) float 0..255

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <vector>

#include "tlearn/io/image.hpp"

namespace tlearn {

/// Loads an image file as CHW float RGB holding 0..255. With `size` = {H, W} it
/// is resized (bilinear, antialiased; bit-exact with PIL's
/// `Image.resize((W, H), Image.BILINEAR)` on the same decoded pixels). A JPEG at
/// least twice the target size in both directions is decoded at reduced scale
/// first (libjpeg-turbo), still at least twice the target; for a full-size
/// decode use `io::read_image` and `data::resize`. `options`: alpha, pixel limit.
torch::Tensor load_image(const std::filesystem::path& path, std::vector<int64_t> size = {},
                         io::ImageReadOptions options = {});

}  // namespace tlearn
