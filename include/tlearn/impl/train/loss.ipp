// Implementation of tlearn/train/loss.hpp.
#include <sstream>

#include "tlearn/core/error.hpp"
#include "tlearn/train/segmentation.hpp"
#include "tlearn/train/loss.hpp"

namespace tlearn::loss {

std::string Spec::name() const {
  switch (kind) {
    case Kind::CrossEntropy: return "categorical_crossentropy";
    case Kind::BinaryCrossEntropy: return "binary_crossentropy";
    case Kind::Focal: return "focal_loss";
    case Kind::Dice: return "dice_loss";
  }
  return "?";
}

namespace {
std::string shapes(const torch::Tensor& logits, const torch::Tensor& targets) {
  std::ostringstream s;
  s << logits.sizes() << " and " << targets.sizes();
  return s.str();
}

/// Binary and focal losses: logits and 0/1 targets as (N, K) floats.
std::pair<torch::Tensor, torch::Tensor> binary_pair(const torch::Tensor& logits, const torch::Tensor& targets,
                                                    bool one_hot_indices, const char* who) {
  auto z = logits.dim() == 1 ? logits.unsqueeze(1) : logits;
  if (z.dim() != 2 || z.size(0) != targets.size(0))
    throw Error(std::string(who) + ": expected logits (N, K) or (N) with targets (N) or (N, K), got " +
                shapes(logits, targets));
  torch::Tensor t;
  if (targets.dim() == 2 && targets.size(1) == z.size(1)) {
    t = targets.to(torch::kFloat);
  } else if (targets.dim() == 1 && z.size(1) == 1) {
    t = targets.to(torch::kFloat).unsqueeze(1);
  } else if (targets.dim() == 1 && one_hot_indices && !targets.is_floating_point()) {
    t = torch::zeros({z.size(0), z.size(1)}, z.options().dtype(torch::kFloat)).scatter_(1, targets.unsqueeze(1), 1.0);
  } else {
    throw Error(std::string(who) + ": logits " + shapes(logits, targets) +
                " do not match: give one logit per label with (N, K) targets of 0/1, or one logit with (N) labels" +
                (one_hot_indices ? " or (N, classes) logits with class indices (N)" : "; for class indices use loss::CrossEntropy()"));
  }
  return {z.to(torch::kFloat), t};
}

torch::Tensor pos_weight_tensor(const std::vector<double>& w, int64_t k, const torch::Tensor& like, const char* who) {
  if (w.empty()) return {};
  if (int64_t(w.size()) != k)
    throw Error(std::string(who) + ": pos_weight has " + std::to_string(w.size()) + " values for " + std::to_string(k) +
                " labels; give one per label");
  return torch::tensor(w, torch::kDouble).to(like.options().dtype(torch::kFloat));
}
}  // namespace

namespace {
/// Pixel-wise losses of logits (N, C, H, W) and masks (N, H, W), per sample: each
/// sample's pixel sum scaled so that their mean is the mean over the batch's valid pixels.
torch::Tensor segmentation_per_sample(const Spec& spec, const torch::Tensor& logits, const torch::Tensor& masks,
                                      const std::vector<double>& weights) {
  seg::detail::check_pair(logits, masks, spec.name().c_str());
  const auto z = logits.to(torch::kFloat);
  const int64_t n = z.size(0);
  auto total = torch::zeros({n}, z.options());
  if (spec.kind == Kind::CrossEntropy) {
    namespace F = torch::nn::functional;
    auto pixels = F::cross_entropy(z, masks, F::CrossEntropyFuncOptions().reduction(torch::kNone)
                                                   .ignore_index(spec.ignore_index()).label_smoothing(spec.label_smoothing()));
    const auto valid = masks != spec.ignore_index();
    if (!weights.empty()) {
      if (int64_t(weights.size()) != z.size(1))
        throw Error("class weights: " + std::to_string(weights.size()) + " weights for " + std::to_string(z.size(1)) +
                    " classes; give one weight per class");
      auto w = torch::tensor(weights, torch::kDouble).to(z.options());
      pixels = pixels * w.index_select(0, masks.masked_fill(valid.logical_not(), 0).reshape({-1})).view_as(pixels);
    }
    const auto count = valid.sum().clamp_min(1).to(torch::kFloat);
    total = pixels.sum({1, 2}) * (double(n) / count);
  }
  const double dice = spec.kind == Kind::Dice ? 1.0 : spec.dice_weight();
  if (dice > 0) total = total + dice * seg::dice_loss(z, masks, 1.0, spec.ignore_index());
  return total;
}
}  // namespace

torch::Tensor Spec::per_sample(const torch::Tensor& logits, const torch::Tensor& targets,
                               const std::vector<double>& weights_override) const {
  const auto& weights = weights_override.empty() ? class_weights() : weights_override;
  if (logits.dim() == 4 && targets.dim() == 3 && !targets.is_floating_point()) {
    if (kind != Kind::CrossEntropy && kind != Kind::Dice)
      throw Error(name() + ": segmentation masks take loss::CrossEntropy() (with dice_weight) or loss::Dice()");
    return segmentation_per_sample(*this, logits, targets, weights);
  }
  if (kind == Kind::Dice)
    throw Error("Dice: expected segmentation logits (N, classes, H, W) and masks (N, H, W), got " + shapes(logits, targets));
  const bool soft = targets.dim() == 2 && targets.is_floating_point();
  torch::Tensor loss;
  if (kind == Kind::CrossEntropy) {
    if (logits.dim() != 2 || logits.size(0) != targets.size(0) || logits.size(1) < 2 ||
        (soft && targets.size(1) != logits.size(1)) || (!soft && targets.dim() != 1))
      throw Error("CrossEntropy: expected logits (N, classes) with labels (N) or soft targets (N, classes), got " +
                  shapes(logits, targets) + " (binary problems with one output take loss::BinaryCrossEntropy())");
    if (label_smoothing() < 0 || label_smoothing() >= 1) throw Error("CrossEntropy: label_smoothing must be in [0, 1)");
    namespace F = torch::nn::functional;
    if (soft) {
      loss = -(targets.to(torch::kFloat) * torch::log_softmax(logits.to(torch::kFloat), 1)).sum(1);
    } else {
      loss = F::cross_entropy(logits.to(torch::kFloat), targets,
                              F::CrossEntropyFuncOptions().reduction(torch::kNone).label_smoothing(label_smoothing()));
    }
  } else {
    const bool focal = kind == Kind::Focal;
    const char* who = focal ? "Focal" : "BinaryCrossEntropy";
    auto [z, t] = binary_pair(logits, targets, focal, who);
    const auto pw = pos_weight_tensor(pos_weight(), z.size(1), z, who);
    auto elementwise = torch::binary_cross_entropy_with_logits(z, t, {}, pw, at::Reduction::None);
    if (focal) {
      if (!(gamma() >= 0)) throw Error("Focal: gamma must be >= 0");
      const auto p = torch::sigmoid(z);
      const auto p_t = p * t + (1 - p) * (1 - t);
      elementwise = elementwise * (1 - p_t).pow(gamma());
      if (alpha() >= 0) elementwise = (alpha() * t + (1 - alpha()) * (1 - t)) * elementwise;
    }
    loss = elementwise.mean(1);
    if (!weights.empty() && t.size(1) > 1 && !(focal && targets.dim() == 1))
      throw Error(std::string(who) + ": class weights need class indices; for multi-label targets use pos_weight");
  }
  if (!weights.empty()) {
    auto w = torch::tensor(weights, torch::kDouble).to(torch::kFloat).to(logits.device());
    if (soft && kind == Kind::CrossEntropy) {
      if (targets.size(1) != int64_t(weights.size()))
        throw Error("class weights: " + std::to_string(weights.size()) + " weights for " + std::to_string(targets.size(1)) +
                    " classes; give one weight per class");
      return loss * (targets.to(torch::kFloat) * w).sum(1);  // a mixed sample weighs as its mix of classes
    }
    auto max_label = targets.max().item<int64_t>();
    if (max_label >= int64_t(weights.size()))
      throw Error("class weights: label " + std::to_string(max_label) + " has no weight (" +
                  std::to_string(weights.size()) + " given); give one weight per class");
    loss = loss * w.index_select(0, targets.to(torch::kLong).reshape({-1}));
  }
  return loss;
}

}  // namespace tlearn::loss
