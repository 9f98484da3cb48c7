// Implementation of tlearn/data/augment.hpp.
#include <Eigen/Dense>

#include "tlearn/data/augment.hpp"
#include "tlearn/data/dataset.hpp"

namespace tlearn::data {
namespace {
using RowMajor3d = Eigen::Matrix<double, 3, 3, Eigen::RowMajor>;
}  // namespace

AugmentParams TrainTransform::sample(int64_t h, int64_t w, uint64_t seed) const {
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
  if (brightness_.first != 1 || brightness_.second != 1) p.brightness = rng.uniform(brightness_.first, brightness_.second);
  if (contrast_ > 0) p.contrast = rng.uniform(std::max(0.0, 1 - contrast_), 1 + contrast_);
  // Drawn after the older steps, so a seed keeps giving the same flips, angles, ...
  if (saturation_ > 0) p.saturation = rng.uniform(std::max(0.0, 1 - saturation_), 1 + saturation_);
  if (hue_ > 0) p.hue = rng.uniform(-hue_, hue_);
  if (channel_shift_ > 0) p.channel_shift = rng.uniform(-channel_shift_, channel_shift_);
  p.policy = sample_policy(augment_, oh, ow, rng);
  if (erase_) p.erase = sample_erase(erasing_, oh, ow, rng);
  return p;
}

std::array<double, 9> TrainTransform::matrix(int64_t h, int64_t w, const AugmentParams& p) const {
  auto [oh, ow] = out_size(h, w);
  // Base map: the crop box (or the whole image) stretched over the output.
  double top = 0, left = 0, bh = double(h), bw = double(w);
  if (rrc_) {
    top = double(p.crop[0]);
    left = double(p.crop[1]);
    bh = double(p.crop[2]);
    bw = double(p.crop[3]);
  }
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
  if (p.hflip) {
    flip(0, 0) = -1;
    flip(0, 2) = double(ow) - 1;
  }
  if (p.vflip) {
    flip(1, 1) = -1;
    flip(1, 2) = double(oh) - 1;
  }
  std::array<double, 9> out;
  RowMajor3d::Map(out.data()) = base * to_c * rot * shift * shear * zoom * from_c * flip;
  return out;
}

torch::Tensor TrainTransform::apply(const torch::Tensor& image, const AugmentParams& p) const {
  auto [h, w] = tlearn::detail::image_hw(image);
  auto [oh, ow] = out_size(h, w);
  Eigen::Matrix3d m = RowMajor3d::Map(matrix(h, w, p).data());
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
  if (augment_.kind != PolicyKind::None) {
    auto u8 = out.round().clamp(0, 255).to(torch::kUInt8);
    out = apply_policy(u8, augment_, p.policy).to(torch::kFloat);
  }
  out = standardize(std::move(out));
  if (erase_) out = apply_erase(out, erasing_, p.erase);
  return out;
}

torch::Tensor TrainTransform::standardize(torch::Tensor x) const {
  if (rescale_ != 1) x = x * rescale_;
  if (center_ || normalize_) {
    if (mean_.empty())
      throw Error("TrainTransform: featurewise_center / featurewise_std_normalization need the data's statistics; "
                  "call fit(dataset) first (Keras' datagen.fit(x))");
    if (int64_t(mean_.size()) != x.size(0))
      throw Error("TrainTransform: fit() saw " + std::to_string(mean_.size()) + "-channel images, this one has " +
                  std::to_string(x.size(0)));
    auto m = torch::tensor(mean_, torch::kDouble).to(torch::kFloat).view({-1, 1, 1});
    auto sd = torch::tensor(std_, torch::kDouble).to(torch::kFloat).view({-1, 1, 1});
    if (center_) x = x - m;
    if (normalize_) x = x / (sd + 1e-6f);  // Keras' epsilon
  }
  return policy_ == Preprocessing::Identity ? x : preprocess_input(x, policy_);
}

TrainTransform& TrainTransform::fit(const Dataset& data, int64_t samples) {
  if (data.size() == 0) throw Error("TrainTransform::fit: the data set is empty");
  if (samples < 1) throw Error("TrainTransform::fit: samples must be at least 1");
  const size_t n = std::min<size_t>(data.size(), size_t(samples));
  std::vector<double> sum, sumsq;
  double count = 0;
  TrainTransform geometry;  // resize only: statistics of the images as the model sees them, unaugmented
  geometry.size_ = size_;
  geometry.interp_ = interp_;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = k * data.size() / n;
    auto x = geometry.apply(data.image(i), AugmentParams{}).to(torch::kDouble) * rescale_;
    if (sum.empty()) sum.assign(size_t(x.size(0)), 0), sumsq.assign(size_t(x.size(0)), 0);
    if (size_t(x.size(0)) != sum.size()) throw Error("TrainTransform::fit: images differ in channel count");
    auto flat = x.reshape({x.size(0), -1});
    auto s1 = flat.sum(1), s2 = (flat * flat).sum(1);
    for (size_t c = 0; c < sum.size(); ++c) {
      sum[c] += s1[int64_t(c)].item<double>();
      sumsq[c] += s2[int64_t(c)].item<double>();
    }
    count += double(flat.size(1));
  }
  mean_.assign(sum.size(), 0);
  std_.assign(sum.size(), 0);
  for (size_t c = 0; c < sum.size(); ++c) {
    mean_[c] = sum[c] / count;
    std_[c] = std::sqrt(std::max(0.0, sumsq[c] / count - mean_[c] * mean_[c]));
  }
  return *this;
}

Transform TrainTransform::standardize() const {
  // The same size, statistics and preprocessing; no random step.
  TrainTransform plain;
  plain.size_ = size_;
  plain.interp_ = interp_;
  auto self = *this;
  return Transform([self, plain](const torch::Tensor& x, uint64_t) {
    return self.standardize(plain.apply(x, AugmentParams{}));
  });
}

std::array<int64_t, 4> TrainTransform::crop_box(int64_t h, int64_t w, Rng& rng) const {
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
  if (in_ratio < ratio_.first)
    ch = std::llround(double(w) / ratio_.first);
  else if (in_ratio > ratio_.second)
    cw = std::llround(double(h) * ratio_.second);
  return {(h - ch) / 2, (w - cw) / 2, ch, cw};
}

namespace {

/// ColorJitter's hue step on one 0..255 RGB pixel: rotate the hue by `shift` turns.
void rotate_hue(float& r, float& g, float& b, float shift) {
  const float mx = std::max({r, g, b}), mn = std::min({r, g, b}), delta = mx - mn;
  if (delta <= 0) return;  // grey has no hue
  float h;
  if (mx == r)
    h = std::fmod((g - b) / delta, 6.f);
  else if (mx == g)
    h = (b - r) / delta + 2.f;
  else
    h = (r - g) / delta + 4.f;
  h = h / 6.f + shift;
  h -= std::floor(h);
  const float s = delta / mx, v = mx;
  const float hh = h * 6.f;
  const int sector = int(hh) % 6;
  const float f = hh - std::floor(hh);
  const float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  switch (sector) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
  }
}

}  // namespace

void TrainTransform::color(torch::Tensor& x, const AugmentParams& p) const {
  float* d = x.data_ptr<float>();
  const int64_t C = x.size(0), n = x.size(1) * x.size(2);
  if (p.channel_shift != 0) {  // Keras: one shift for all channels, clipped to the image's range
    const float lo = *std::min_element(d, d + C * n), hi = *std::max_element(d, d + C * n);
    const float shift = float(p.channel_shift);
    for (int64_t i = 0; i < C * n; ++i) d[i] = std::clamp(d[i] + shift, lo, hi);
  }
  if (C == 3 && p.saturation != 1) {
    const float s = float(p.saturation);
    for (int64_t i = 0; i < n; ++i) {
      const float grey = 0.2989f * d[i] + 0.587f * d[n + i] + 0.114f * d[2 * n + i];  // torchvision's rgb_to_grayscale
      for (int64_t c = 0; c < 3; ++c) d[c * n + i] = std::clamp(grey + s * (d[c * n + i] - grey), 0.f, 255.f);
    }
  }
  if (C == 3 && p.hue != 0)
    for (int64_t i = 0; i < n; ++i) rotate_hue(d[i], d[n + i], d[2 * n + i], float(p.hue));
  if (p.brightness == 1 && p.contrast == 1) return;
  const float b = float(p.brightness);
  for (int64_t i = 0; i < C * n; ++i) d[i] = std::clamp(d[i] * b, 0.f, 255.f);
  if (p.contrast == 1) return;
  double mean = 0;
  if (C == 3) {
    for (int64_t i = 0; i < n; ++i) mean += 0.2989 * d[i] + 0.587 * d[n + i] + 0.114 * d[2 * n + i];
    mean /= double(n);
  } else {
    for (int64_t i = 0; i < C * n; ++i) mean += d[i];
    mean /= double(C * n);
  }
  const float c = float(p.contrast), off = float((1 - p.contrast) * mean);
  for (int64_t i = 0; i < C * n; ++i) d[i] = std::clamp(c * d[i] + off, 0.f, 255.f);
}

}  // namespace tlearn::data
