#pragma once
/// \file
/// Image grids: a batch laid out in rows, for looking at what a loader yields.
///
///     tlearn::data::save_grid(batch.images, "batch.png", /*columns=*/8);

#include <torch/torch.h>

#include <filesystem>
#include <sstream>

#include "tlearn/io/image.hpp"

namespace tlearn::data {

/// (N, C, H, W) float 0..255 or uint8 → one CHW float image with `columns`
/// images per row, `padding` pixels of `pad_value` between them. `normalize`
/// stretches the batch's min..max to 0..255 (for preprocessed tensors).
torch::Tensor make_grid(const torch::Tensor& images, int64_t columns = 8, int64_t padding = 2, float pad_value = 0.f,
                        bool normalize = false);

/// Writes `make_grid(images, columns, ...)` as a PNG.
void save_grid(const torch::Tensor& images, const std::filesystem::path& path, int64_t columns = 8, int64_t padding = 2,
               float pad_value = 0.f, bool normalize = false);

}  // namespace tlearn::data
