#pragma once
/// \file
/// Deterministic image transforms. A `Transform` takes an image as decoded
/// (HWC uint8) or as a tensor (CHW float 0..255) plus a seed, and returns CHW
/// float (0..255 unless a preprocessing step follows). Transforms compose with
/// `then` / `compose`; resampling follows PIL (antialiased when shrinking), so
/// results match torchvision on PIL images within rounding.
///
///     auto t = tlearn::data::eval_transform({256, 224}, tlearn::Preprocessing::Torch);
///     torch::Tensor x = t(tlearn::io::read_image("cat.jpg"));   // (3, 224, 224)

#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <memory>
#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/data/preprocess.hpp"
#include "tlearn/detail/resample.hpp"
#include "tlearn/io/image.hpp"

namespace tlearn::data {

/// A composable image transform: `(image, seed) -> CHW float`. `read_options()`
/// tells a data set how the image may be decoded for it (e.g. a JPEG at reduced
/// scale when the transform shrinks it anyway).
class Transform {
 public:
  using Fn = std::function<torch::Tensor(const torch::Tensor&, uint64_t)>;

  /// The identity: converts to CHW float.
  Transform() = default;
  explicit Transform(Fn fn, io::ImageReadOptions read = {}) : fn_(std::move(fn)), read_(std::move(read)) {}

  /// Applies the transform; `seed` drives any randomness (same seed, same output).
  torch::Tensor operator()(const torch::Tensor& image, uint64_t seed = 0) const {
    torch::Tensor out = fn_ ? fn_(image, seed) : image;
    return tlearn::detail::to_chw_float(out);
  }

  /// This transform followed by `next`.
  Transform then(const Transform& next) const {
    if (!fn_) return Transform(next.fn_, read_.min_size.empty() && !read_.min_shorter_side ? next.read_ : read_);
    if (!next.fn_) return *this;
    Fn a = fn_, b = next.fn_;
    return Transform([a, b](const torch::Tensor& x, uint64_t seed) { return b(a(x, seed), seed ^ 0x9E3779B97F4A7C15ull); },
                     read_);
  }

  const io::ImageReadOptions& read_options() const { return read_; }
  Transform& read_options(io::ImageReadOptions options) { read_ = std::move(options); return *this; }

 private:
  Fn fn_;
  io::ImageReadOptions read_;
};

/// `ts[0]`, then `ts[1]`, ...
inline Transform compose(const std::vector<Transform>& ts) {
  Transform out;
  for (const auto& t : ts) out = out.then(t);
  return out;
}

namespace detail {
inline void check_size(const std::vector<int64_t>& size, const char* what) {
  bool ok = (size.size() == 1 || size.size() == 2);
  for (auto s : size) ok = ok && s > 0;
  if (!ok) throw Error(std::string(what) + ": size must be {side} or {height, width} with positive values");
}

/// torchvision's shorter-side rule: the shorter side becomes `side`, the longer
/// one int(side * long / short).
inline std::pair<int64_t, int64_t> shorter_side_size(int64_t h, int64_t w, int64_t side) {
  if (w <= h) return {static_cast<int64_t>(double(side) * double(h) / double(w)), side};
  return {side, static_cast<int64_t>(double(side) * double(w) / double(h))};
}

/// Resize the whole image to (rh, rw), then crop (ch, cw) centred (torchvision's
/// rounding), as one resampling pass; zero padding when the crop is larger.
inline torch::Tensor resize_center_crop(const torch::Tensor& image, int64_t rh, int64_t rw, int64_t ch, int64_t cw,
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
  full = torch::constant_pad_nd(full, {pl, std::max<int64_t>(0, cw - rw - pl), pt, std::max<int64_t>(0, ch - rh - pt)}, 0);
  const int64_t top = static_cast<int64_t>(std::nearbyint((full.size(1) - ch) / 2.0));
  const int64_t left = static_cast<int64_t>(std::nearbyint((full.size(2) - cw) / 2.0));
  return full.narrow(1, top, ch).narrow(2, left, cw).contiguous();
}
}  // namespace detail

/// Resizes to `size` = {H, W}, or with `size` = {S} the shorter side to S
/// (torchvision's `Resize`). Antialiased when shrinking (PIL's filters).
inline Transform resize(std::vector<int64_t> size, Interpolation interpolation = Interpolation::Bilinear) {
  detail::check_size(size, "resize");
  io::ImageReadOptions read;
  if (size.size() == 2) read.min_size = size; else read.min_shorter_side = size[0];
  return Transform(
      [size, interpolation](const torch::Tensor& x, uint64_t) {
        auto [h, w] = tlearn::detail::image_hw(x);
        auto [rh, rw] = size.size() == 2 ? std::pair<int64_t, int64_t>{size[0], size[1]}
                                         : detail::shorter_side_size(h, w, size[0]);
        return detail::resize_center_crop(x, rh, rw, rh, rw, interpolation);
      },
      read);
}

/// Crops {H, W} (or {S, S}) from the centre; pads with zeros when the image is smaller.
inline Transform center_crop(std::vector<int64_t> size) {
  detail::check_size(size, "center_crop");
  const int64_t ch = size[0], cw = size.size() == 2 ? size[1] : size[0];
  return Transform([ch, cw](const torch::Tensor& x, uint64_t) {
    auto [h, w] = tlearn::detail::image_hw(x);
    return detail::resize_center_crop(x, h, w, ch, cw, Interpolation::Nearest);
  });
}

/// HWC uint8 → CHW float 0..255 (what every transform returns anyway).
inline Transform to_tensor() {
  return Transform([](const torch::Tensor& x, uint64_t) { return tlearn::detail::to_chw_float(x); });
}

/// Applies a `preprocess_input` policy.
inline Transform preprocess(Preprocessing policy) {
  return Transform([policy](const torch::Tensor& x, uint64_t) {
    return preprocess_input(tlearn::detail::to_chw_float(x), policy);
  });
}

/// torchvision's ImageClassification eval transform: resize the shorter side to
/// `spec.resize_size`, center-crop `spec.crop_size` (one resampling pass), then
/// `preprocess_input(policy)`. JPEGs may be decoded at reduced scale as long as
/// the shorter side stays >= resize_size (set read_options() to turn that off).
inline Transform eval_transform(const EvalTransformSpec& spec, Preprocessing policy = Preprocessing::Identity) {
  if (spec.resize_size <= 0 || spec.crop_size <= 0)
    throw Error("eval_transform: resize_size and crop_size must be positive");
  io::ImageReadOptions read;
  read.min_shorter_side = spec.resize_size;
  return Transform(
      [spec, policy](const torch::Tensor& x, uint64_t) {
        auto [h, w] = tlearn::detail::image_hw(x);
        auto [rh, rw] = detail::shorter_side_size(h, w, spec.resize_size);
        auto out = detail::resize_center_crop(x, rh, rw, spec.crop_size, spec.crop_size, spec.interpolation);
        return policy == Preprocessing::Identity ? out : preprocess_input(out, policy);
      },
      read);
}

}  // namespace tlearn::data
