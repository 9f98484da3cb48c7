#pragma once
/// \file
/// Text in the pictures tlearn draws (titles, axis labels, ticks, legends):
/// stb_easy_font's public-domain segment font, filled into an (H, W, 3) uint8
/// image at an integer scale. ASCII only. Internal: used by History::plot.

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace tlearn::detail {

/// Draws `text` with its top-left corner at (x, y); pixels outside the image are skipped.
void draw_text(torch::Tensor& image, int64_t x, int64_t y, const std::string& text, const uint8_t* rgb, int scale = 1);

/// Width and height in pixels of `text` drawn at `scale`.
int64_t text_width(const std::string& text, int scale = 1);
int64_t text_height(const std::string& text, int scale = 1);

}  // namespace tlearn::detail
