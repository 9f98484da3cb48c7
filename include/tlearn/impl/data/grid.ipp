// Implementation of tlearn/data/grid.hpp.
#include "tlearn/data/grid.hpp"

namespace tlearn::data {

torch::Tensor make_grid(const torch::Tensor& images, int64_t columns, int64_t padding, float pad_value,
                        bool normalize) {
  if (images.dim() != 4 || images.size(0) == 0) {
    std::ostringstream msg;
    msg << "make_grid: expected a non-empty (N, C, H, W) batch, got shape " << images.sizes();
    throw Error(msg.str());
  }
  if (columns <= 0 || padding < 0) throw Error("make_grid: columns must be positive and padding >= 0");
  auto x = images.detach().to(torch::kCPU).to(torch::kFloat);
  if (x.size(1) == 1) x = x.expand({-1, 3, -1, -1});
  if (normalize) {
    const float lo = x.min().item<float>(), hi = x.max().item<float>();
    x = (x - lo) * (255.f / std::max(hi - lo, 1e-12f));
  }
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t cols = std::min(columns, n), rows = (n + cols - 1) / cols;
  auto grid = torch::full({c, rows * (h + padding) + padding, cols * (w + padding) + padding}, pad_value);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = i / cols, col = i % cols;
    grid.narrow(1, padding + r * (h + padding), h).narrow(2, padding + col * (w + padding), w).copy_(x[i]);
  }
  return grid;
}

void save_grid(const torch::Tensor& images, const std::filesystem::path& path, int64_t columns, int64_t padding,
               float pad_value, bool normalize) {
  io::write_png(make_grid(images, columns, padding, pad_value, normalize), path);
}

}  // namespace tlearn::data
