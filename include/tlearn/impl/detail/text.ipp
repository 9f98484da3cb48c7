// Implementation of tlearn/detail/text.hpp.
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#endif
#include <stb_easy_font.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <vector>

#include "tlearn/detail/text.hpp"

namespace tlearn::detail {

void draw_text(torch::Tensor& image, int64_t x, int64_t y, const std::string& text, const uint8_t* rgb, int scale) {
  if (text.empty()) return;
  struct Vertex {
    float x, y, z;
    unsigned char c[4];
  };
  std::vector<Vertex> quads(text.size() * 64 * 4);  // the font's worst case is well under 64 quads a glyph
  std::string copy = text;
  unsigned char colour[4] = {rgb[0], rgb[1], rgb[2], 255};
  const int n = stb_easy_font_print(0, 0, copy.data(), colour, quads.data(), int(quads.size() * sizeof(Vertex)));
  const int64_t h = image.size(0), w = image.size(1);
  auto* px = image.data_ptr<uint8_t>();
  for (int q = 0; q < n; ++q) {
    const Vertex* v = &quads[size_t(q) * 4];
    // Axis-aligned quads: corners 0 and 2 span the rectangle.
    const int64_t x0 = x + int64_t(v[0].x * float(scale)), y0 = y + int64_t(v[0].y * float(scale));
    const int64_t x1 = x + int64_t(v[2].x * float(scale)), y1 = y + int64_t(v[2].y * float(scale));
    for (int64_t yy = std::max<int64_t>(0, y0); yy < std::min(h, y1); ++yy)
      for (int64_t xx = std::max<int64_t>(0, x0); xx < std::min(w, x1); ++xx) {
        auto* p = px + (yy * w + xx) * 3;
        p[0] = rgb[0], p[1] = rgb[1], p[2] = rgb[2];
      }
  }
}

int64_t text_width(const std::string& text, int scale) {
  std::string copy = text;
  return int64_t(stb_easy_font_width(copy.data())) * scale;
}

int64_t text_height(const std::string& text, int scale) {
  std::string copy = text;
  return int64_t(stb_easy_font_height(copy.data())) * scale;
}

}  // namespace tlearn::detail
