// Implementation of tlearn/train/mixup.hpp.
#include <cmath>

#include "tlearn/core/error.hpp"
#include "tlearn/detail/random.hpp"
#include "tlearn/train/mixup.hpp"

namespace tlearn {

MixParams sample_mix(const MixupOptions& o, int64_t height, int64_t width, uint64_t seed) {
  if (!(o.mixup_alpha() >= 0 && o.cutmix_alpha() >= 0) || !(o.prob() >= 0 && o.prob() <= 1) ||
      !(o.switch_prob() >= 0 && o.switch_prob() <= 1) || !(o.label_smoothing() >= 0 && o.label_smoothing() < 1))
    throw Error("MixupOptions: need alphas >= 0, prob and switch_prob in [0, 1], label_smoothing in [0, 1)");
  MixParams p;
  tlearn::detail::Rng g(seed);
  const bool any = o.mixup_alpha() > 0 || o.cutmix_alpha() > 0;
  if (!any || g.uniform() >= o.prob()) return p;
  if (o.mixup_alpha() > 0 && o.cutmix_alpha() > 0) p.cutmix = g.uniform() < o.switch_prob();
  else p.cutmix = o.cutmix_alpha() > 0;
  const double alpha = p.cutmix ? o.cutmix_alpha() : o.mixup_alpha();
  p.lam = g.beta(alpha, alpha);
  if (!p.cutmix) return p;
  // timm's rand_bbox: a box of sqrt(1 - lam) of each side around a uniform centre, clipped.
  const double ratio = std::sqrt(1.0 - p.lam);
  const int64_t cut_h = int64_t(double(height) * ratio), cut_w = int64_t(double(width) * ratio);
  const int64_t cy = g.integer(0, height - 1), cx = g.integer(0, width - 1);
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
