// Implementation of tlearn/data/load_image.hpp.
#include "tlearn/data/load_image.hpp"

#include "tlearn/core/error.hpp"
#include "tlearn/detail/resample.hpp"

namespace tlearn {

torch::Tensor load_image(const std::filesystem::path& path, std::vector<int64_t> size, io::ImageReadOptions options) {
  if (!size.empty() && (size.size() != 2 || size[0] <= 0 || size[1] <= 0))
    throw Error("load_image('" + path.string() + "'): size must be {height, width} with positive values");
  if (!size.empty() && options.min_size().empty() && options.min_shorter_side() == 0)
    options.min_size({2 * size[0], 2 * size[1]});
  auto hwc = io::read_image(path, options);
  if (size.empty()) return detail::to_chw_float(hwc);
  detail::ResizePlan p;
  p.x1 = double(hwc.size(1));
  p.y1 = double(hwc.size(0));
  p.out_h = p.h = size[0];
  p.out_w = p.w = size[1];
  return detail::resize(hwc, p, Interpolation::Bilinear);
}

}  // namespace tlearn
