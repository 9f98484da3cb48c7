// Implementation of tlearn/train/mixup.hpp.
#include <cmath>
#include <random>

#include "tlearn/core/error.hpp"
#include "tlearn/train/mixup.hpp"

namespace tlearn {

namespace {
/// Uniform in [0, 1) from 53 bits (mt19937_64 is specified exactly by the standard).
double uniform(std::mt19937_64& g) { return double(g() >> 11) * (1.0 / 9007199254740992.0); }

/// Beta(a, a) as X / (X + Y) of two Gamma(a) draws (Marsaglia and Tsang), written
/// out because std::gamma_distribution's algorithm differs between libraries.
double gamma(std::mt19937_64& g, double a) {
  if (a < 1) return gamma(g, a + 1) * std::pow(std::max(uniform(g), 1e-300), 1.0 / a);
  const double d = a - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x, v;
    do {
      // Box-Muller normal from two uniforms.
      const double u1 = std::max(uniform(g), 1e-300), u2 = uniform(g);
      x = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = uniform(g);
    if (u < 1 - 0.0331 * x * x * x * x || std::log(std::max(u, 1e-300)) < 0.5 * x * x + d * (1 - v + std::log(v))) return d * v;
  }
}

double beta(std::mt19937_64& g, double a) {
  const double x = gamma(g, a), y = gamma(g, a);
  return x / (x + y);
}
}  // namespace

MixParams sample_mix(const MixupOptions& o, int64_t height, int64_t width, uint64_t seed) {
  if (!(o.mixup_alpha() >= 0 && o.cutmix_alpha() >= 0) || !(o.prob() >= 0 && o.prob() <= 1) ||
      !(o.switch_prob() >= 0 && o.switch_prob() <= 1) || !(o.label_smoothing() >= 0 && o.label_smoothing() < 1))
    throw Error("MixupOptions: need alphas >= 0, prob and switch_prob in [0, 1], label_smoothing in [0, 1)");
  MixParams p;
  std::mt19937_64 g(seed);
  const bool any = o.mixup_alpha() > 0 || o.cutmix_alpha() > 0;
  if (!any || uniform(g) >= o.prob()) return p;
  if (o.mixup_alpha() > 0 && o.cutmix_alpha() > 0) p.cutmix = uniform(g) < o.switch_prob();
  else p.cutmix = o.cutmix_alpha() > 0;
  p.lam = beta(g, p.cutmix ? o.cutmix_alpha() : o.mixup_alpha());
  if (!p.cutmix) return p;
  // timm's rand_bbox: a box of sqrt(1 - lam) of each side around a uniform centre, clipped.
  const double ratio = std::sqrt(1.0 - p.lam);
  const int64_t cut_h = int64_t(double(height) * ratio), cut_w = int64_t(double(width) * ratio);
  const int64_t cy = int64_t(g() % uint64_t(height)), cx = int64_t(g() % uint64_t(width));
  const auto clip = [](int64_t v, int64_t hi) { return std::min(std::max<int64_t>(v, 0), hi); };
  p.box = {clip(cy - cut_h / 2, height), clip(cy + cut_h / 2, height), clip(cx - cut_w / 2, width), clip(cx + cut_w / 2, width)};
  if (o.correct_lam())
    p.lam = 1.0 - double((p.box[1] - p.box[0]) * (p.box[3] - p.box[2])) / double(height * width);
  return p;
}

torch::Tensor mix_images(const torch::Tensor& images, const MixParams& p) {
  if (images.dim() != 4) throw Error("mix_images: expected a batch (N, C, H, W)");
  if (p.lam >= 1.0) return images;
  auto flipped = images.flip(0);
  if (!p.cutmix) return images * p.lam + flipped * (1.0 - p.lam);
  auto out = images.clone();
  const auto [top, bottom, left, right] = p.box;
  if (bottom > top && right > left) {
    using torch::indexing::Slice;
    out.index_put_({Slice(), Slice(), Slice(top, bottom), Slice(left, right)},
                   flipped.index({Slice(), Slice(), Slice(top, bottom), Slice(left, right)}));
  }
  return out;
}

torch::Tensor mix_targets(const torch::Tensor& labels, int64_t classes, double lam, double smoothing) {
  if (labels.dim() != 1) throw Error("mix_targets: labels must be class indices (N)");
  const double off = smoothing / double(classes), on = 1.0 - smoothing + off;
  auto one_hot = [&](const torch::Tensor& y) {
    return torch::full({y.size(0), classes}, off, torch::TensorOptions().dtype(torch::kFloat).device(y.device()))
        .scatter_(1, y.unsqueeze(1), on);
  };
  return one_hot(labels) * lam + one_hot(labels.flip(0)) * (1.0 - lam);
}

}  // namespace tlearn
