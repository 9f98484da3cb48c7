// Implementation of tlearn/data/augment.hpp.
#include <Eigen/Dense>

#include "tlearn/data/augment.hpp"

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
  if (brightness_ > 0) p.brightness = rng.uniform(std::max(0.0, 1 - brightness_), 1 + brightness_);
  if (contrast_ > 0) p.contrast = rng.uniform(std::max(0.0, 1 - contrast_), 1 + contrast_);
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
  return policy_ == Preprocessing::Identity ? out : preprocess_input(out, policy_);
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

void TrainTransform::color(torch::Tensor& x, const AugmentParams& p) const {
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

}  // namespace tlearn::data
