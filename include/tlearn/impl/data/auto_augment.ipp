// Implementation of tlearn/data/auto_augment.hpp: torchvision's augmentation
// spaces (magnitudes computed in float32 as torch.linspace does), its sampling
// rules with tlearn's seeded generator, and AugMix's blend.
#include <cmath>

#include "tlearn/core/error.hpp"
#include "tlearn/data/augment_ops.hpp"
#include "tlearn/data/auto_augment.hpp"

namespace tlearn::data {

std::string op_name(AugmentOp op) {
  switch (op) {
    case AugmentOp::Identity: return "Identity";
    case AugmentOp::ShearX: return "ShearX";
    case AugmentOp::ShearY: return "ShearY";
    case AugmentOp::TranslateX: return "TranslateX";
    case AugmentOp::TranslateY: return "TranslateY";
    case AugmentOp::Rotate: return "Rotate";
    case AugmentOp::Brightness: return "Brightness";
    case AugmentOp::Color: return "Color";
    case AugmentOp::Contrast: return "Contrast";
    case AugmentOp::Sharpness: return "Sharpness";
    case AugmentOp::Posterize: return "Posterize";
    case AugmentOp::Solarize: return "Solarize";
    case AugmentOp::AutoContrast: return "AutoContrast";
    case AugmentOp::Equalize: return "Equalize";
    case AugmentOp::Invert: return "Invert";
  }
  return "?";
}

torch::Tensor apply_step(const torch::Tensor& img, const AugmentStep& s, const std::vector<double>& fill) {
  const double m = s.magnitude;
  switch (s.op) {
    case AugmentOp::Identity: return img;
    case AugmentOp::ShearX: return ops::shear_x(img, m, fill);
    case AugmentOp::ShearY: return ops::shear_y(img, m, fill);
    case AugmentOp::TranslateX: return ops::translate_x(img, m, fill);
    case AugmentOp::TranslateY: return ops::translate_y(img, m, fill);
    case AugmentOp::Rotate: return ops::rotate(img, m, fill);
    case AugmentOp::Brightness: return ops::brightness(img, 1.0 + m);
    case AugmentOp::Color: return ops::color(img, 1.0 + m);
    case AugmentOp::Contrast: return ops::contrast(img, 1.0 + m);
    case AugmentOp::Sharpness: return ops::sharpness(img, 1.0 + m);
    case AugmentOp::Posterize: return ops::posterize(img, int64_t(m));
    case AugmentOp::Solarize: return ops::solarize(img, m);
    case AugmentOp::AutoContrast: return ops::autocontrast(img);
    case AugmentOp::Equalize: return ops::equalize(img);
    case AugmentOp::Invert: return ops::invert(img);
  }
  return img;
}

namespace {

/// One entry of an augmentation space: the magnitude of each bin (empty: none) and whether it takes a sign.
struct SpaceEntry {
  AugmentOp op;
  std::vector<double> magnitudes;
  bool is_signed;
};

std::vector<double> linspace(double lo, double hi, int64_t bins) {
  auto t = torch::linspace(lo, hi, bins);  // float32, as torchvision's magnitudes
  std::vector<double> out;
  for (int64_t i = 0; i < bins; ++i) out.push_back(double(t[i].item<float>()));
  return out;
}

/// top - (arange(bins) / ((bins - 1) / span)).round().int()
std::vector<double> posterize_bits(int64_t top, double span, int64_t bins) {
  auto t = top - (torch::arange(bins) / (double(bins - 1) / span)).round().to(torch::kInt);
  std::vector<double> out;
  for (int64_t i = 0; i < bins; ++i) out.push_back(double(t[i].item<int>()));
  return out;
}

/// torchvision's _augmentation_space of each policy, in its order.
std::vector<SpaceEntry> space(const AugmentPolicy& policy, int64_t bins, int64_t h, int64_t w) {
  using O = AugmentOp;
  const double H = double(h), W = double(w);
  switch (policy.kind) {
    case PolicyKind::RandAugment:
    case PolicyKind::AutoAugment: {
      std::vector<SpaceEntry> s;
      if (policy.kind == PolicyKind::RandAugment) s.push_back({O::Identity, {}, false});
      s.insert(s.end(), {{O::ShearX, linspace(0, 0.3, bins), true},
                         {O::ShearY, linspace(0, 0.3, bins), true},
                         {O::TranslateX, linspace(0, 150.0 / 331.0 * W, bins), true},
                         {O::TranslateY, linspace(0, 150.0 / 331.0 * H, bins), true},
                         {O::Rotate, linspace(0, 30, bins), true},
                         {O::Brightness, linspace(0, 0.9, bins), true},
                         {O::Color, linspace(0, 0.9, bins), true},
                         {O::Contrast, linspace(0, 0.9, bins), true},
                         {O::Sharpness, linspace(0, 0.9, bins), true},
                         {O::Posterize, posterize_bits(8, 4, bins), false},
                         {O::Solarize, linspace(255, 0, bins), false},
                         {O::AutoContrast, {}, false},
                         {O::Equalize, {}, false}});
      if (policy.kind == PolicyKind::AutoAugment) s.push_back({O::Invert, {}, false});
      return s;
    }
    case PolicyKind::TrivialAugmentWide:
      return {{O::Identity, {}, false},
              {O::ShearX, linspace(0, 0.99, bins), true},
              {O::ShearY, linspace(0, 0.99, bins), true},
              {O::TranslateX, linspace(0, 32, bins), true},
              {O::TranslateY, linspace(0, 32, bins), true},
              {O::Rotate, linspace(0, 135, bins), true},
              {O::Brightness, linspace(0, 0.99, bins), true},
              {O::Color, linspace(0, 0.99, bins), true},
              {O::Contrast, linspace(0, 0.99, bins), true},
              {O::Sharpness, linspace(0, 0.99, bins), true},
              {O::Posterize, posterize_bits(8, 6, bins), false},
              {O::Solarize, linspace(255, 0, bins), false},
              {O::AutoContrast, {}, false},
              {O::Equalize, {}, false}};
    case PolicyKind::AugMix: {
      std::vector<SpaceEntry> s{{O::ShearX, linspace(0, 0.3, bins), true},
                                {O::ShearY, linspace(0, 0.3, bins), true},
                                {O::TranslateX, linspace(0, W / 3.0, bins), true},
                                {O::TranslateY, linspace(0, H / 3.0, bins), true},
                                {O::Rotate, linspace(0, 30, bins), true},
                                {O::Posterize, posterize_bits(4, 4, bins), false},
                                {O::Solarize, linspace(255, 0, bins), false},
                                {O::AutoContrast, {}, false},
                                {O::Equalize, {}, false}};
      if (policy.all_ops())
        s.insert(s.end(), {{O::Brightness, linspace(0, 0.9, bins), true},
                           {O::Color, linspace(0, 0.9, bins), true},
                           {O::Contrast, linspace(0, 0.9, bins), true},
                           {O::Sharpness, linspace(0, 0.9, bins), true}});
      return s;
    }
    case PolicyKind::None: break;
  }
  return {};
}

/// AutoAugment's ImageNet policy (Cubuk et al., as torchvision lists it): pairs of
/// (operation, probability, magnitude bin of 10; -1 for none).
struct SubStep {
  AugmentOp op;
  double p;
  int bin;
};
const std::vector<std::array<SubStep, 2>>& imagenet_policy() {
  using O = AugmentOp;
  static const std::vector<std::array<SubStep, 2>> policy{
      {{{O::Posterize, 0.4, 8}, {O::Rotate, 0.6, 9}}},     {{{O::Solarize, 0.6, 5}, {O::AutoContrast, 0.6, -1}}},
      {{{O::Equalize, 0.8, -1}, {O::Equalize, 0.6, -1}}},  {{{O::Posterize, 0.6, 7}, {O::Posterize, 0.6, 6}}},
      {{{O::Equalize, 0.4, -1}, {O::Solarize, 0.2, 4}}},   {{{O::Equalize, 0.4, -1}, {O::Rotate, 0.8, 8}}},
      {{{O::Solarize, 0.6, 3}, {O::Equalize, 0.6, -1}}},   {{{O::Posterize, 0.8, 5}, {O::Equalize, 1.0, -1}}},
      {{{O::Rotate, 0.2, 3}, {O::Solarize, 0.6, 8}}},      {{{O::Equalize, 0.6, -1}, {O::Posterize, 0.4, 6}}},
      {{{O::Rotate, 0.8, 8}, {O::Color, 0.4, 0}}},         {{{O::Rotate, 0.4, 9}, {O::Equalize, 0.6, -1}}},
      {{{O::Equalize, 0.0, -1}, {O::Equalize, 0.8, -1}}},  {{{O::Invert, 0.6, -1}, {O::Equalize, 1.0, -1}}},
      {{{O::Color, 0.6, 4}, {O::Contrast, 1.0, 8}}},       {{{O::Rotate, 0.8, 8}, {O::Color, 1.0, 2}}},
      {{{O::Color, 0.8, 8}, {O::Solarize, 0.8, 7}}},       {{{O::Sharpness, 0.4, 7}, {O::Invert, 0.6, -1}}},
      {{{O::ShearX, 0.6, 5}, {O::Equalize, 1.0, -1}}},     {{{O::Color, 0.4, 0}, {O::Equalize, 0.6, -1}}},
      {{{O::Equalize, 0.4, -1}, {O::Solarize, 0.2, 4}}},   {{{O::Solarize, 0.6, 5}, {O::AutoContrast, 0.6, -1}}},
      {{{O::Invert, 0.6, -1}, {O::Equalize, 1.0, -1}}},    {{{O::Color, 0.6, 4}, {O::Contrast, 1.0, 8}}},
      {{{O::Equalize, 0.8, -1}, {O::Equalize, 0.6, -1}}}};
  return policy;
}

const SpaceEntry& entry_of(const std::vector<SpaceEntry>& s, AugmentOp op) {
  for (const auto& e : s)
    if (e.op == op) return e;
  throw Error("AutoAugment: no " + op_name(op) + " in the augmentation space");
}

/// A magnitude from `bin` of `e`, negated with probability 1/2 when signed.
AugmentStep step_at(const SpaceEntry& e, int64_t bin, tlearn::detail::Rng& rng) {
  AugmentStep s{e.op, e.magnitudes.empty() ? 0.0 : e.magnitudes[size_t(bin)]};
  if (e.is_signed && rng.uniform() < 0.5) s.magnitude = -s.magnitude;
  return s;
}

}  // namespace

PolicySample sample_policy(const AugmentPolicy& policy, int64_t h, int64_t w, tlearn::detail::Rng& rng) {
  PolicySample out;
  switch (policy.kind) {
    case PolicyKind::None: return out;
    case PolicyKind::RandAugment: {
      if (policy.num_magnitude_bins() < 2 || policy.magnitude() < 0 || policy.magnitude() >= policy.num_magnitude_bins() ||
          policy.num_ops() < 0)
        throw Error("RandAugment: need num_ops >= 0 and 0 <= magnitude < num_magnitude_bins (got " +
                    std::to_string(policy.magnitude()) + " of " + std::to_string(policy.num_magnitude_bins()) + ")");
      const auto s = space(policy, policy.num_magnitude_bins(), h, w);
      out.chains.emplace_back();
      for (int64_t i = 0; i < policy.num_ops(); ++i)
        out.chains[0].push_back(step_at(s[size_t(rng.integer(0, int64_t(s.size()) - 1))], policy.magnitude(), rng));
      return out;
    }
    case PolicyKind::TrivialAugmentWide: {
      if (policy.num_magnitude_bins() < 2) throw Error("TrivialAugmentWide: num_magnitude_bins must be at least 2");
      const auto s = space(policy, policy.num_magnitude_bins(), h, w);
      const auto& e = s[size_t(rng.integer(0, int64_t(s.size()) - 1))];
      out.chains.push_back({step_at(e, rng.integer(0, policy.num_magnitude_bins() - 1), rng)});
      return out;
    }
    case PolicyKind::AutoAugment: {
      const auto s = space(policy, 10, h, w);
      const auto& sub = imagenet_policy()[size_t(rng.integer(0, int64_t(imagenet_policy().size()) - 1))];
      out.chains.emplace_back();
      for (const auto& step : sub) {
        const bool applies = rng.uniform() < step.p;
        const auto drawn = step_at(entry_of(s, step.op), std::max(step.bin, 0), rng);
        if (applies) out.chains[0].push_back(drawn);
      }
      return out;
    }
    case PolicyKind::AugMix: {
      if (policy.severity() < 1 || policy.severity() > 10 || policy.mixture_width() < 1 || !(policy.alpha() > 0))
        throw Error("AugMix: need 1 <= severity <= 10, mixture_width >= 1 and alpha > 0");
      const auto s = space(policy, 10, h, w);
      // Dirichlet draws as normalized gammas.
      const double a = rng.gamma(policy.alpha()), b = rng.gamma(policy.alpha());
      out.original_weight = a / (a + b);
      double total = 0;
      for (int64_t i = 0; i < policy.mixture_width(); ++i) total += out.chain_weights.emplace_back(rng.gamma(policy.alpha()));
      for (auto& v : out.chain_weights) v = v / total * (1 - out.original_weight);
      for (int64_t i = 0; i < policy.mixture_width(); ++i) {
        auto& chain = out.chains.emplace_back();
        const int64_t depth = policy.chain_depth() > 0 ? policy.chain_depth() : rng.integer(1, 3);
        for (int64_t d = 0; d < depth; ++d) {
          const auto& e = s[size_t(rng.integer(0, int64_t(s.size()) - 1))];
          chain.push_back(step_at(e, rng.integer(0, policy.severity() - 1), rng));
        }
      }
      return out;
    }
  }
  return out;
}

torch::Tensor apply_policy(const torch::Tensor& img, const AugmentPolicy& policy, const PolicySample& sample) {
  if (policy.kind != PolicyKind::AugMix) {
    auto out = img;
    for (const auto& chain : sample.chains)
      for (const auto& step : chain) out = apply_step(out, step, policy.fill());
    return out;
  }
  // torchvision's AugMix: float32 weights, the blend truncated back to uint8.
  auto mix = img * float(sample.original_weight);
  for (size_t i = 0; i < sample.chains.size(); ++i) {
    auto aug = img;
    for (const auto& step : sample.chains[i]) aug = apply_step(aug, step, policy.fill());
    mix.add_(aug * float(sample.chain_weights[i]));
  }
  return mix.to(torch::kUInt8);
}

EraseBox sample_erase(const RandomErasingOptions& o, int64_t h, int64_t w, tlearn::detail::Rng& rng) {
  if (!(o.p() >= 0 && o.p() <= 1) || o.scale().size() != 2 || o.ratio().size() != 2 || !(o.scale()[0] > 0) ||
      o.scale()[1] < o.scale()[0] || !(o.ratio()[0] > 0) || o.ratio()[1] < o.ratio()[0])
    throw Error("RandomErasingOptions: need p in [0, 1], 0 < scale[0] <= scale[1] and 0 < ratio[0] <= ratio[1]");
  EraseBox box;
  if (!(rng.uniform() < o.p())) return box;
  const double area = double(h * w);
  for (int attempt = 0; attempt < 10; ++attempt) {  // torchvision's get_params
    const double erase_area = area * rng.uniform(o.scale()[0], o.scale()[1]);
    const double aspect = std::exp(rng.uniform(std::log(o.ratio()[0]), std::log(o.ratio()[1])));
    const auto eh = int64_t(std::nearbyint(std::sqrt(erase_area * aspect)));  // Python's round: half to even
    const auto ew = int64_t(std::nearbyint(std::sqrt(erase_area / aspect)));
    if (!(eh < h && ew < w)) continue;
    box.height = eh, box.width = ew;
    box.top = rng.integer(0, h - eh);
    box.left = rng.integer(0, w - ew);
    box.noise_seed = rng.g();
    return box;
  }
  return box;  // no rectangle fitted: torchvision leaves the image as it is
}

torch::Tensor apply_erase(const torch::Tensor& img, const RandomErasingOptions& o, const EraseBox& box) {
  if (box.height == 0 || box.width == 0) return img;
  const int64_t c = img.size(0);
  using torch::indexing::Slice;
  auto out = img.clone();
  auto region = out.index({Slice(), Slice(box.top, box.top + box.height), Slice(box.left, box.left + box.width)});
  if (o.random_value()) {
    tlearn::detail::Rng noise(box.noise_seed);
    auto v = torch::empty({c, box.height, box.width}, torch::kFloat);
    auto* p = v.data_ptr<float>();
    for (int64_t i = 0; i < v.numel(); ++i) p[i] = float(noise.normal());
    region.copy_(v);
  } else {
    if (o.value().size() != 1 && int64_t(o.value().size()) != c)
      throw Error("RandomErasingOptions: value has " + std::to_string(o.value().size()) + " entries for " +
                  std::to_string(c) + " channels; give one or one per channel");
    region.copy_(torch::tensor(o.value(), torch::kDouble).to(img.scalar_type()).view({-1, 1, 1}).expand_as(region));
  }
  return out;
}

}  // namespace tlearn::data
