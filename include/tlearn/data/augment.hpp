#pragma once
/// \file
/// Random augmentation for training, Keras ImageDataGenerator style, deterministic
/// under a seed. Geometric steps (resize, random resized crop, flips, rotation,
/// zoom, shift, shear) compose into one affine matrix that is sampled once with
/// bilinear interpolation; a shrinking map first gets an antialiased (PIL)
/// resize so that nothing aliases. Colour steps follow.
///
///     auto t = tlearn::data::TrainTransform().size({224, 224}).flip().rotate(20).zoom(0.1);
///     torch::Tensor x = t(tlearn::io::read_image("cat.jpg"), /*seed=*/42);

#include <Eigen/Dense>
#include <torch/torch.h>

#include <cmath>
#include <optional>
#include <random>

#include "tlearn/data/transforms.hpp"

namespace tlearn::data {

/// The random numbers behind one augmented image (exposed for tests and logs).
struct AugmentParams {
  bool hflip = false, vflip = false;
  double rotation = 0, shear = 0;          // degrees
  double zoom_x = 1, zoom_y = 1;           // > 1 shows more of the image (Keras)
  double shift_x = 0, shift_y = 0;         // pixels of the output
  double brightness = 1, contrast = 1;     // factors
  std::array<int64_t, 4> crop{0, 0, 0, 0};  // random resized crop box: top, left, height, width
};

class TrainTransform {
 public:
  TrainTransform() = default;

  /// Output size {H, W}: the whole image is resized to it (Keras `target_size`).
  TrainTransform& size(std::vector<int64_t> hw) { size_ = check(hw, "size"); rrc_ = false; return *this; }
  /// Random horizontal (and optionally vertical) flips, each with probability 1/2.
  TrainTransform& flip(bool horizontal = true, bool vertical = false) { hflip_ = horizontal; vflip_ = vertical; return *this; }
  /// Rotation by a uniform angle in [-degrees, degrees].
  TrainTransform& rotate(double degrees) { rotation_ = std::fabs(degrees); return *this; }
  /// Zoom factors drawn in [1 - range, 1 + range] independently for x and y (Keras `zoom_range`).
  TrainTransform& zoom(double range) { return zoom(1 - range, 1 + range); }
  TrainTransform& zoom(double lo, double hi) {
    if (!(lo > 0 && hi >= lo)) throw Error("TrainTransform::zoom: need 0 < lo <= hi, got " + std::to_string(lo) + ", " + std::to_string(hi));
    zoom_ = {lo, hi};
    return *this;
  }
  /// Shifts up to `width` / `height`: fractions of the output size when < 1, pixels otherwise.
  TrainTransform& shift(double width, double height) { shift_ = {std::fabs(width), std::fabs(height)}; return *this; }
  /// Shear angle in [-degrees, degrees] (Keras `shear_range`, counter-clockwise).
  TrainTransform& shear(double degrees) { shear_ = std::fabs(degrees); return *this; }
  /// Multiplies by a factor in [max(0, 1 - r), 1 + r] (torchvision ColorJitter brightness).
  TrainTransform& brightness(double r) { brightness_ = std::fabs(r); return *this; }
  /// Blends with the mean grey by a factor in [max(0, 1 - r), 1 + r] (ColorJitter contrast).
  TrainTransform& contrast(double r) { contrast_ = std::fabs(r); return *this; }
  /// torchvision's RandomResizedCrop: a crop of `scale` of the area and `ratio` aspect, resized to `hw`.
  TrainTransform& random_resized_crop(std::vector<int64_t> hw, std::pair<double, double> scale = {0.08, 1.0},
                                      std::pair<double, double> ratio = {3.0 / 4.0, 4.0 / 3.0}) {
    if (!(scale.first > 0 && scale.second >= scale.first && ratio.first > 0 && ratio.second >= ratio.first))
      throw Error("TrainTransform::random_resized_crop: need 0 < scale.first <= scale.second and 0 < ratio.first <= ratio.second");
    size_ = check(hw, "random_resized_crop");
    rrc_ = true;
    scale_ = scale;
    ratio_ = ratio;
    return *this;
  }
  /// How pixels outside the image are filled (default Nearest, as Keras) and the Constant value.
  TrainTransform& fill_mode(FillMode mode, float value = 0.f) { fill_ = mode; cval_ = value; return *this; }
  /// The filter of the antialiasing resize (default bilinear).
  TrainTransform& interpolation(Interpolation f) { interp_ = f; return *this; }
  /// A `preprocess_input` policy applied last.
  TrainTransform& preprocessing(Preprocessing p) { policy_ = p; return *this; }

  /// The parameters drawn for an input of `h` x `w` pixels and a seed.
  AugmentParams sample(int64_t h, int64_t w, uint64_t seed) const {
    Rng rng(seed);
    AugmentParams p;
    auto [oh, ow] = out_size(h, w);
    if (rrc_) p.crop = crop_box(h, w, rng);
    p.hflip = hflip_ && rng.uniform() < 0.5;
    p.vflip = vflip_ && rng.uniform() < 0.5;
    if (rotation_ > 0) p.rotation = rng.uniform(-rotation_, rotation_);
    if (shift_.first > 0) p.shift_x = rng.uniform(-shift_.first, shift_.first) * (shift_.first < 1 ? ow : 1);
    if (shift_.second > 0) p.shift_y = rng.uniform(-shift_.second, shift_.second) * (shift_.second < 1 ? oh : 1);
    if (shear_ > 0) p.shear = rng.uniform(-shear_, shear_);
    if (zoom_.first != 1 || zoom_.second != 1) {
      p.zoom_x = rng.uniform(zoom_.first, zoom_.second);
      p.zoom_y = rng.uniform(zoom_.first, zoom_.second);
    }
    if (brightness_ > 0) p.brightness = rng.uniform(std::max(0.0, 1 - brightness_), 1 + brightness_);
    if (contrast_ > 0) p.contrast = rng.uniform(std::max(0.0, 1 - contrast_), 1 + contrast_);
    return p;
  }

  /// The 3x3 matrix taking output pixel centres (x, y, 1) to input pixel centres.
  Eigen::Matrix3d matrix(int64_t h, int64_t w, const AugmentParams& p) const {
    auto [oh, ow] = out_size(h, w);
    // Base map: the crop box (or the whole image) stretched over the output.
    double top = 0, left = 0, bh = double(h), bw = double(w);
    if (rrc_) { top = double(p.crop[0]); left = double(p.crop[1]); bh = double(p.crop[2]); bw = double(p.crop[3]); }
    Eigen::Matrix3d base = Eigen::Matrix3d::Identity();
    base(0, 0) = bw / double(ow);
    base(0, 2) = left + 0.5 * bw / double(ow) - 0.5;
    base(1, 1) = bh / double(oh);
    base(1, 2) = top + 0.5 * bh / double(oh) - 0.5;
    // Keras' augmentation matrix in the output frame, about the centre.
    const double pi = 3.14159265358979323846;
    const double t = p.rotation * pi / 180, s = p.shear * pi / 180;
    Eigen::Matrix3d rot, shift, shear, zoom, to_c, from_c, flip = Eigen::Matrix3d::Identity();
    rot << std::cos(t), -std::sin(t), 0, std::sin(t), std::cos(t), 0, 0, 0, 1;
    shift << 1, 0, p.shift_x, 0, 1, p.shift_y, 0, 0, 1;
    shear << 1, -std::sin(s), 0, 0, std::cos(s), 0, 0, 0, 1;
    zoom << p.zoom_x, 0, 0, 0, p.zoom_y, 0, 0, 0, 1;
    const double cx = (double(ow) - 1) / 2, cy = (double(oh) - 1) / 2;
    to_c << 1, 0, cx, 0, 1, cy, 0, 0, 1;
    from_c << 1, 0, -cx, 0, 1, -cy, 0, 0, 1;
    if (p.hflip) { flip(0, 0) = -1; flip(0, 2) = double(ow) - 1; }
    if (p.vflip) { flip(1, 1) = -1; flip(1, 2) = double(oh) - 1; }
    return base * to_c * rot * shift * shear * zoom * from_c * flip;
  }

  /// Augments `image` (HWC uint8 or CHW float) with the randomness of `seed`; CHW float out.
  torch::Tensor operator()(const torch::Tensor& image, uint64_t seed = 0) const {
    auto [h, w] = tlearn::detail::image_hw(image);
    return apply(image, sample(h, w, seed));
  }

  /// Augments `image` with given parameters (e.g. from `sample`).
  torch::Tensor apply(const torch::Tensor& image, const AugmentParams& p) const {
    auto [h, w] = tlearn::detail::image_hw(image);
    auto [oh, ow] = out_size(h, w);
    Eigen::Matrix3d m = matrix(h, w, p);
    torch::Tensor src = image;
    // Antialiasing: shrink the input first by the map's scale along each input axis.
    const double sx = m.block<1, 2>(0, 0).norm(), sy = m.block<1, 2>(1, 0).norm();
    if (sx > 1.01 || sy > 1.01) {
      const int64_t nw = sx > 1.01 ? std::max<int64_t>(1, std::llround(double(w) / sx)) : w;
      const int64_t nh = sy > 1.01 ? std::max<int64_t>(1, std::llround(double(h) / sy)) : h;
      tlearn::detail::ResizePlan plan;
      plan.x1 = double(w);
      plan.y1 = double(h);
      plan.out_h = plan.h = nh;
      plan.out_w = plan.w = nw;
      src = tlearn::detail::resize(image, plan, interp_);
      Eigen::Matrix3d s = Eigen::Matrix3d::Identity();
      s(0, 0) = double(nw) / double(w);
      s(0, 2) = 0.5 * s(0, 0) - 0.5;
      s(1, 1) = double(nh) / double(h);
      s(1, 2) = 0.5 * s(1, 1) - 0.5;
      m = s * m;
      h = nh;
      w = nw;
    }
    torch::Tensor out;
    if (oh == h && ow == w && (m - Eigen::Matrix3d::Identity()).cwiseAbs().maxCoeff() < 1e-9) {
      out = tlearn::detail::to_chw_float(src).contiguous();
      if (out.data_ptr() == image.data_ptr()) out = out.clone();  // never modify the caller's tensor
    } else {
      tlearn::detail::Affine a{m(0, 0), m(0, 1), m(0, 2), m(1, 0), m(1, 1), m(1, 2)};
      out = tlearn::detail::affine(src, a, oh, ow, fill_, cval_);
    }
    color(out, p);
    return policy_ == Preprocessing::Identity ? out : preprocess_input(out, policy_);
  }

  /// For `loader(...)` and `Transform::then`.
  operator Transform() const {  // NOLINT(google-explicit-constructor): builder reads naturally
    auto self = *this;
    io::ImageReadOptions read;
    if (!rrc_ && !size_.empty()) {  // a JPEG may be decoded smaller, keeping the resolution that zooming in needs
      const double z = std::min(1.0, zoom_.first);
      read.min_size = {int64_t(std::ceil(double(size_[0]) / z)), int64_t(std::ceil(double(size_[1]) / z))};
    }
    return Transform([self](const torch::Tensor& x, uint64_t seed) { return self(x, seed); }, read);
  }

 private:
  /// Seeded uniforms from mt19937_64 (fully specified by the standard, so the
  /// same on every platform).
  struct Rng {
    std::mt19937_64 g;
    explicit Rng(uint64_t seed) : g(seed) {}
    double uniform() { return double(g() >> 11) * (1.0 / 9007199254740992.0); }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    int64_t integer(int64_t lo, int64_t hi) { return lo + int64_t(g() % uint64_t(hi - lo + 1)); }  // [lo, hi]
  };

  static std::vector<int64_t> check(std::vector<int64_t> hw, const char* what) {
    if (hw.size() == 1) hw.push_back(hw[0]);
    if (hw.size() != 2 || hw[0] <= 0 || hw[1] <= 0)
      throw Error(std::string("TrainTransform::") + what + ": size must be {height, width} with positive values");
    return hw;
  }

  std::pair<int64_t, int64_t> out_size(int64_t h, int64_t w) const {
    return size_.empty() ? std::pair<int64_t, int64_t>{h, w} : std::pair<int64_t, int64_t>{size_[0], size_[1]};
  }

  /// torchvision RandomResizedCrop.get_params.
  std::array<int64_t, 4> crop_box(int64_t h, int64_t w, Rng& rng) const {
    const double area = double(h) * double(w);
    const double lr0 = std::log(ratio_.first), lr1 = std::log(ratio_.second);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target = area * rng.uniform(scale_.first, scale_.second);
      const double aspect = std::exp(rng.uniform(lr0, lr1));
      const auto cw = std::llround(std::sqrt(target * aspect));
      const auto ch = std::llround(std::sqrt(target / aspect));
      if (cw > 0 && cw <= w && ch > 0 && ch <= h) return {rng.integer(0, h - ch), rng.integer(0, w - cw), ch, cw};
    }
    const double in_ratio = double(w) / double(h);
    int64_t cw = w, ch = h;
    if (in_ratio < ratio_.first) ch = std::llround(double(w) / ratio_.first);
    else if (in_ratio > ratio_.second) cw = std::llround(double(h) * ratio_.second);
    return {(h - ch) / 2, (w - cw) / 2, ch, cw};
  }

  void color(torch::Tensor& x, const AugmentParams& p) const {
    if (p.brightness == 1 && p.contrast == 1) return;
    float* d = x.data_ptr<float>();
    const int64_t C = x.size(0), n = x.size(1) * x.size(2);
    const float b = float(p.brightness);
    for (int64_t i = 0; i < C * n; ++i) d[i] = std::clamp(d[i] * b, 0.f, 255.f);
    if (p.contrast == 1) return;
    double mean = 0;
    if (C == 3) {
      for (int64_t i = 0; i < n; ++i) mean += 0.299 * d[i] + 0.587 * d[n + i] + 0.114 * d[2 * n + i];
      mean /= double(n);
    } else {
      for (int64_t i = 0; i < C * n; ++i) mean += d[i];
      mean /= double(C * n);
    }
    const float c = float(p.contrast), off = float((1 - p.contrast) * mean);
    for (int64_t i = 0; i < C * n; ++i) d[i] = std::clamp(c * d[i] + off, 0.f, 255.f);
  }

  std::vector<int64_t> size_;
  bool rrc_ = false;
  std::pair<double, double> scale_{0.08, 1.0}, ratio_{3.0 / 4.0, 4.0 / 3.0};
  bool hflip_ = false, vflip_ = false;
  double rotation_ = 0, shear_ = 0, brightness_ = 0, contrast_ = 0;
  std::pair<double, double> zoom_{1, 1}, shift_{0, 0};
  FillMode fill_ = FillMode::Nearest;
  float cval_ = 0.f;
  Interpolation interp_ = Interpolation::Bilinear;
  Preprocessing policy_ = Preprocessing::Identity;
};

/// Shorthand for `TrainTransform()`.
inline TrainTransform train_transform() { return TrainTransform(); }

}  // namespace tlearn::data
