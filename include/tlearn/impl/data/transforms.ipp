// Implementation of tlearn/data/transforms.hpp.
#include "tlearn/data/transforms.hpp"

namespace tlearn::data {

Transform Transform::then(const Transform& next) const {
  if (!fn_) return Transform(next.fn_, read_.min_size().empty() && !read_.min_shorter_side() ? next.read_ : read_);
  if (!next.fn_) return *this;
  Fn a = fn_, b = next.fn_;
  return Transform(
      [a, b](const torch::Tensor& x, uint64_t seed) { return b(a(x, seed), seed ^ 0x9E3779B97F4A7C15ull); }, read_);
}

Transform compose(const std::vector<Transform>& ts) {
  Transform out;
  for (const auto& t : ts) out = out.then(t);
  return out;
}

}  // namespace tlearn::data

namespace tlearn::data::detail {

void check_size(const std::vector<int64_t>& size, const char* what) {
  bool ok = (size.size() == 1 || size.size() == 2);
  for (auto s : size) ok = ok && s > 0;
  if (!ok) throw Error(std::string(what) + ": size must be {side} or {height, width} with positive values");
}

std::pair<int64_t, int64_t> shorter_side_size(int64_t h, int64_t w, int64_t side) {
  if (w <= h) return {static_cast<int64_t>(double(side) * double(h) / double(w)), side};
  return {side, static_cast<int64_t>(double(side) * double(w) / double(h))};
}

torch::Tensor resize_center_crop(const torch::Tensor& image, int64_t rh, int64_t rw, int64_t ch, int64_t cw,
                                 Interpolation f) {
  auto [h, w] = tlearn::detail::image_hw(image);
  tlearn::detail::ResizePlan p;
  p.x1 = double(w);
  p.y1 = double(h);
  p.out_h = rh;
  p.out_w = rw;
  if (ch <= rh && cw <= rw) {
    p.top = static_cast<int64_t>(std::nearbyint((rh - ch) / 2.0));
    p.left = static_cast<int64_t>(std::nearbyint((rw - cw) / 2.0));
    p.h = ch;
    p.w = cw;
    return tlearn::detail::resize(image, p, f);
  }
  p.h = rh;
  p.w = rw;
  auto full = tlearn::detail::resize(image, p, f);
  const int64_t pt = std::max<int64_t>(0, (ch - rh) / 2), pl = std::max<int64_t>(0, (cw - rw) / 2);
  full =
      torch::constant_pad_nd(full, {pl, std::max<int64_t>(0, cw - rw - pl), pt, std::max<int64_t>(0, ch - rh - pt)}, 0);
  const int64_t top = static_cast<int64_t>(std::nearbyint((full.size(1) - ch) / 2.0));
  const int64_t left = static_cast<int64_t>(std::nearbyint((full.size(2) - cw) / 2.0));
  return full.narrow(1, top, ch).narrow(2, left, cw).contiguous();
}

}  // namespace tlearn::data::detail

namespace tlearn::data {

Transform resize(std::vector<int64_t> size, Interpolation interpolation) {
  detail::check_size(size, "resize");
  return Transform([size, interpolation](const torch::Tensor& x, uint64_t) {
    auto [h, w] = tlearn::detail::image_hw(x);
    auto [rh, rw] =
        size.size() == 2 ? std::pair<int64_t, int64_t>{size[0], size[1]} : detail::shorter_side_size(h, w, size[0]);
    return detail::resize_center_crop(x, rh, rw, rh, rw, interpolation);
  });
}

Transform center_crop(std::vector<int64_t> size) {
  detail::check_size(size, "center_crop");
  const int64_t ch = size[0], cw = size.size() == 2 ? size[1] : size[0];
  return Transform([ch, cw](const torch::Tensor& x, uint64_t) {
    auto [h, w] = tlearn::detail::image_hw(x);
    return detail::resize_center_crop(x, h, w, ch, cw, Interpolation::Nearest);
  });
}

Transform preprocess(Preprocessing policy) {
  return Transform(
      [policy](const torch::Tensor& x, uint64_t) { return preprocess_input(tlearn::detail::to_chw_float(x), policy); });
}

Transform eval_transform(const EvalTransformSpec& spec, Preprocessing policy) {
  if (spec.resize_size <= 0 || spec.crop_size <= 0)
    throw Error("eval_transform: resize_size and crop_size must be positive");
  return Transform([spec, policy](const torch::Tensor& x, uint64_t) {
    auto [h, w] = tlearn::detail::image_hw(x);
    auto [rh, rw] = detail::shorter_side_size(h, w, spec.resize_size);
    auto out = detail::resize_center_crop(x, rh, rw, spec.crop_size, spec.crop_size, spec.interpolation);
    return policy == Preprocessing::Identity ? out : preprocess_input(out, policy);
  });
}

}  // namespace tlearn::data
