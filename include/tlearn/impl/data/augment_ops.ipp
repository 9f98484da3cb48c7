// Implementation of tlearn/data/augment_ops.hpp. Each operation follows
// torchvision.transforms.functional_tensor step by step (dtypes, rounding and
// the order of float operations included), so that its output is bit-exact.
#include <cmath>

#include "tlearn/core/error.hpp"
#include "tlearn/data/augment_ops.hpp"

namespace tlearn::data::ops {

namespace {
constexpr double kPi = 3.14159265358979323846;

void check_image(const torch::Tensor& img, const char* who) {
  if (img.dim() != 3 || img.scalar_type() != torch::kUInt8)
    throw Error(std::string("ops::") + who + ": expected a (C, H, W) uint8 image; convert with to_chw_uint8 first");
}

/// torchvision's _blend: ratio * a + (1 - ratio) * b in float, clamped, truncated to uint8.
torch::Tensor blend(const torch::Tensor& a, const torch::Tensor& b, double ratio) {
  return (a * ratio + b * (1.0 - ratio)).clamp(0, 255).to(torch::kUInt8);
}

/// rgb_to_grayscale on uint8: the weighted sum truncated to uint8; one channel (1, H, W).
torch::Tensor grey(const torch::Tensor& img) {
  if (img.size(0) != 3) return img.clone();
  return (img[0] * 0.2989 + img[1] * 0.587 + img[2] * 0.114).to(torch::kUInt8).unsqueeze(0);
}

torch::Tensor check_factor(const torch::Tensor& img, double factor, const char* who) {
  check_image(img, who);
  if (factor < 0) throw Error(std::string("ops::") + who + ": the factor must be >= 0, got " + std::to_string(factor));
  return img;
}

/// _gen_affine_grid + grid_sample(nearest) + the fill mask, then rounded back to uint8.
torch::Tensor grid_transform(const torch::Tensor& img, const std::vector<double>& matrix, const std::vector<double>& fill) {
  const int64_t c = img.size(0), h = img.size(1), w = img.size(2);
  auto theta = torch::tensor(matrix, torch::kDouble).to(torch::kFloat).reshape({1, 2, 3});
  auto base = torch::empty({1, h, w, 3}, torch::kFloat);
  base.select(3, 0).copy_(torch::linspace(-double(w) * 0.5 + 0.5, double(w) * 0.5 + 0.5 - 1, w));
  base.select(3, 1).copy_(torch::linspace(-double(h) * 0.5 + 0.5, double(h) * 0.5 + 0.5 - 1, h).unsqueeze(-1));
  base.select(3, 2).fill_(1);
  auto rescaled = theta.transpose(1, 2) / torch::tensor({0.5 * double(w), 0.5 * double(h)}, torch::kDouble).to(torch::kFloat);
  auto grid = base.view({1, h * w, 3}).bmm(rescaled).view({1, h, w, 2});
  auto x = img.unsqueeze(0).to(torch::kFloat);
  if (!fill.empty()) x = torch::cat({x, torch::ones({1, 1, h, w}, torch::kFloat)}, 1);
  namespace F = torch::nn::functional;
  x = F::grid_sample(x, grid, F::GridSampleFuncOptions().mode(torch::kNearest).padding_mode(torch::kZeros).align_corners(false));
  if (!fill.empty()) {
    if (fill.size() != 1 && int64_t(fill.size()) != c)
      throw Error("ops: fill has " + std::to_string(fill.size()) + " values for " + std::to_string(c) + " channels");
    auto mask = x.narrow(1, c, 1).expand({1, c, h, w}) < 0.5;
    x = x.narrow(1, 0, c);
    auto values = torch::tensor(fill, torch::kDouble).to(torch::kFloat).view({1, int64_t(fill.size()), 1, 1}).expand_as(x);
    x = torch::where(mask, values, x);
  }
  return x.squeeze(0).round().to(torch::kUInt8);
}

/// torchvision's _get_inverse_affine_matrix (inverted), in double as Python's math does it.
std::vector<double> inverse_affine(const std::vector<double>& center, double angle, const std::vector<double>& translate,
                                   double scale, const std::vector<double>& shear) {
  const double rot = angle * (kPi / 180.0), sx = shear[0] * (kPi / 180.0), sy = shear[1] * (kPi / 180.0);
  const double cx = center[0], cy = center[1], tx = translate[0], ty = translate[1];
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  std::vector<double> m{d, -b, 0.0, -c, a, 0.0};
  for (auto& v : m) v /= scale;
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}
}  // namespace

torch::Tensor brightness(const torch::Tensor& img, double factor) {
  check_factor(img, factor, "brightness");
  return blend(img, torch::zeros_like(img), factor);
}

torch::Tensor contrast(const torch::Tensor& img, double factor) {
  check_factor(img, factor, "contrast");
  auto mean = (img.size(0) == 3 ? grey(img) : img).to(torch::kFloat).mean({-3, -2, -1}, /*keepdim=*/true);
  return blend(img, mean, factor);
}

torch::Tensor color(const torch::Tensor& img, double factor) {
  check_factor(img, factor, "color");
  if (img.size(0) == 1) return img;  // as PIL
  return blend(img, grey(img), factor);
}

torch::Tensor sharpness(const torch::Tensor& img, double factor) {
  check_factor(img, factor, "sharpness");
  if (img.size(1) <= 2 || img.size(2) <= 2) return img;
  auto kernel = torch::ones({3, 3}, torch::kFloat);
  kernel[1][1] = 5.0;
  kernel /= kernel.sum();
  kernel = kernel.expand({img.size(0), 1, 3, 3});
  namespace F = torch::nn::functional;
  auto smooth = F::conv2d(img.unsqueeze(0).to(torch::kFloat), kernel, F::Conv2dFuncOptions().groups(img.size(0))).squeeze(0);
  auto degenerate = img.clone();
  using torch::indexing::Slice;
  degenerate.index_put_({Slice(), Slice(1, -1), Slice(1, -1)}, smooth.round().to(torch::kUInt8));
  return blend(img, degenerate, factor);
}

torch::Tensor posterize(const torch::Tensor& img, int64_t bits) {
  check_image(img, "posterize");
  if (bits < 0 || bits > 8) throw Error("ops::posterize: bits must be in 0..8, got " + std::to_string(bits));
  return torch::bitwise_and(img, int64_t(-(int64_t(1) << (8 - bits))));
}

torch::Tensor solarize(const torch::Tensor& img, double threshold) {
  check_image(img, "solarize");
  return torch::where(img >= threshold, 255 - img, img);
}

torch::Tensor autocontrast(const torch::Tensor& img) {
  check_image(img, "autocontrast");
  auto lo = img.amin({-2, -1}, true).to(torch::kFloat), hi = img.amax({-2, -1}, true).to(torch::kFloat);
  auto scale = 255.0 / (hi - lo);
  auto flat = torch::isfinite(scale).logical_not();
  lo.masked_fill_(flat, 0);
  scale.masked_fill_(flat, 1);
  return ((img - lo) * scale).clamp(0, 255).to(torch::kUInt8);
}

torch::Tensor equalize(const torch::Tensor& img) {
  check_image(img, "equalize");
  std::vector<torch::Tensor> channels;
  for (int64_t c = 0; c < img.size(0); ++c) {
    auto chan = img[c];
    auto hist = torch::bincount(chan.reshape({-1}), {}, 256);
    auto nonzero = hist.masked_select(hist != 0);
    auto step = torch::div(nonzero.narrow(0, 0, nonzero.size(0) - 1).sum(), 255, "floor");
    if (step.item<int64_t>() == 0) {
      channels.push_back(chan);
      continue;
    }
    auto lut = torch::div(torch::cumsum(hist, 0) + torch::div(step, 2, "floor"), step, "floor");
    lut = torch::constant_pad_nd(lut, {1, 0}).narrow(0, 0, 256).clamp(0, 255);
    channels.push_back(lut.index({chan.to(torch::kLong)}).to(torch::kUInt8));
  }
  return torch::stack(channels);
}

torch::Tensor invert(const torch::Tensor& img) {
  check_image(img, "invert");
  return 255 - img;
}

torch::Tensor affine(const torch::Tensor& img, double angle, std::vector<double> translate, double scale,
                     std::vector<double> shear, std::vector<double> fill, std::vector<double> center) {
  check_image(img, "affine");
  if (translate.size() != 2 || shear.size() != 2 || !(scale > 0) || !(center.empty() || center.size() == 2))
    throw Error("ops::affine: need translate {x, y}, shear {x, y}, scale > 0 and center {x, y} or none");
  std::vector<double> c{0.0, 0.0};  // torchvision's centre frame: (0, 0) is the image centre
  if (!center.empty()) c = {center[0] - double(img.size(2)) * 0.5, center[1] - double(img.size(1)) * 0.5};
  return grid_transform(img, inverse_affine(c, angle, translate, scale, shear), fill);
}

torch::Tensor rotate(const torch::Tensor& img, double degrees, std::vector<double> fill) {
  check_image(img, "rotate");
  return grid_transform(img, inverse_affine({0.0, 0.0}, -degrees, {0.0, 0.0}, 1.0, {0.0, 0.0}), fill);
}

torch::Tensor shear_x(const torch::Tensor& img, double m, std::vector<double> fill) {
  return affine(img, 0.0, {0.0, 0.0}, 1.0, {std::atan(m) * (180.0 / kPi), 0.0}, std::move(fill), {0.0, 0.0});
}

torch::Tensor shear_y(const torch::Tensor& img, double m, std::vector<double> fill) {
  return affine(img, 0.0, {0.0, 0.0}, 1.0, {0.0, std::atan(m) * (180.0 / kPi)}, std::move(fill), {0.0, 0.0});
}

torch::Tensor translate_x(const torch::Tensor& img, double pixels, std::vector<double> fill) {
  return affine(img, 0.0, {double(int64_t(pixels)), 0.0}, 1.0, {0.0, 0.0}, std::move(fill));
}

torch::Tensor translate_y(const torch::Tensor& img, double pixels, std::vector<double> fill) {
  return affine(img, 0.0, {0.0, double(int64_t(pixels))}, 1.0, {0.0, 0.0}, std::move(fill));
}

}  // namespace tlearn::data::ops
