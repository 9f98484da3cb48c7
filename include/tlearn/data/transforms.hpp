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
#include <type_traits>
#include <utility>
#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/data/preprocess.hpp"
#include "tlearn/detail/resample.hpp"
#include "tlearn/io/image.hpp"

namespace tlearn::data {

/// A composable image transform: `(image, seed) -> CHW float`. `read_options()`
/// tells a data set how the image may be decoded for it (e.g. a JPEG at reduced
/// scale when the transform shrinks it anyway; `TrainTransform().size(...)` asks
/// for that, the exact-parity transforms `resize` and `eval_transform` do not).
class Transform {
 public:
  using Fn = std::function<torch::Tensor(const torch::Tensor&, uint64_t)>;

  /// The identity: converts to CHW float.
  Transform() = default;
  explicit Transform(Fn fn, io::ImageReadOptions read = {}) : fn_(std::move(fn)), read_(std::move(read)) {}
  /// A transform without randomness needs no seed: `Transform([](const torch::Tensor& x) { ... })`.
  template <class F, std::enable_if_t<std::is_invocable_r_v<torch::Tensor, const F&, const torch::Tensor&> &&
                                          !std::is_invocable_v<const F&, const torch::Tensor&, uint64_t>,
                                      int> = 0>
  explicit Transform(F fn, io::ImageReadOptions read = {})
      : fn_([fn = std::move(fn)](const torch::Tensor& x, uint64_t) { return fn(x); }), read_(std::move(read)) {}

  /// Applies the transform; `seed` drives any randomness (same seed, same output).
  torch::Tensor operator()(const torch::Tensor& image, uint64_t seed = 0) const {
    torch::Tensor out = fn_ ? fn_(image, seed) : image;
    return tlearn::detail::to_chw_float(out);
  }

  /// This transform followed by `next`.
  Transform then(const Transform& next) const;

  const io::ImageReadOptions& read_options() const { return read_; }
  Transform& read_options(io::ImageReadOptions options) { read_ = std::move(options); return *this; }

 private:
  Fn fn_;
  io::ImageReadOptions read_;
};

/// `ts[0]`, then `ts[1]`, ...
Transform compose(const std::vector<Transform>& ts);

namespace detail {
void check_size(const std::vector<int64_t>& size, const char* what);

/// torchvision's shorter-side rule: the shorter side becomes `side`, the longer
/// one int(side * long / short).
std::pair<int64_t, int64_t> shorter_side_size(int64_t h, int64_t w, int64_t side);

/// Resize the whole image to (rh, rw), then crop (ch, cw) centred (torchvision's
/// rounding), as one resampling pass; zero padding when the crop is larger.
torch::Tensor resize_center_crop(const torch::Tensor& image, int64_t rh, int64_t rw, int64_t ch, int64_t cw,
                                 Interpolation f);
}  // namespace detail

/// Resizes to `size` = {H, W}, or with `size` = {S} the shorter side to S
/// (torchvision's `Resize`). Antialiased when shrinking (PIL's filters).
Transform resize(std::vector<int64_t> size, Interpolation interpolation = Interpolation::Bilinear);

/// Crops {H, W} (or {S, S}) from the centre; pads with zeros when the image is smaller.
Transform center_crop(std::vector<int64_t> size);

/// HWC uint8 → CHW float 0..255 (what every transform returns anyway).
inline Transform to_tensor() {
  return Transform([](const torch::Tensor& x, uint64_t) { return tlearn::detail::to_chw_float(x); });
}

/// Applies a `preprocess_input` policy.
Transform preprocess(Preprocessing policy);

/// torchvision's ImageClassification eval transform: resize the shorter side to
/// `spec.resize_size`, center-crop `spec.crop_size` (one resampling pass), then
/// `preprocess_input(policy)`. Bit-exact with torchvision on PIL images. Files
/// are decoded at full size so that evaluation matches Python; for speed, allow
/// reduced-scale JPEG decoding with
/// `eval_transform(spec).read_options(io::ImageReadOptions().min_shorter_side(...))`, e.g.
///     t.read_options(io::ImageReadOptions().min_shorter_side(spec.resize_size));
Transform eval_transform(const EvalTransformSpec& spec, Preprocessing policy = Preprocessing::Identity);

/// The photo-to-tensor transform a model's selected weights were evaluated with:
/// resize, center crop, preprocess_input (torchvision's weights.transforms()), e.g.
/// `data::eval_transform(model)` for a Backbone or anything else with
/// eval_transform_spec() and preprocessing().
template <typename Model, typename = decltype(std::declval<const Model&>()->eval_transform_spec())>
Transform eval_transform(const Model& model) {
  return eval_transform(model->eval_transform_spec(), model->preprocessing());
}

}  // namespace tlearn::data
