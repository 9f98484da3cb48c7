// Implementation of tlearn/train/segmentation.hpp.
#include "tlearn/core/error.hpp"
#include "tlearn/train/segmentation.hpp"

#include <limits>
#include <sstream>

namespace tlearn::seg {

ConfusionMatrix::ConfusionMatrix(int64_t classes, int64_t ignore_index)
    : classes_(classes), ignore_index_(ignore_index) {
  if (classes < 1) throw Error("ConfusionMatrix: classes must be at least 1");
  counts_ = torch::zeros({classes, classes}, torch::kLong);
}

void ConfusionMatrix::update(const torch::Tensor& prediction, const torch::Tensor& masks) {
  auto pred = prediction.detach();
  if (pred.dim() == 4) {
    detail::check_pair(pred, masks, "ConfusionMatrix::update");
    pred = pred.argmax(1);
  }
  if (pred.sizes() != masks.sizes()) {
    std::ostringstream msg;
    msg << "ConfusionMatrix::update: predictions " << prediction.sizes() << " do not match masks " << masks.sizes();
    throw Error(msg.str());
  }
  detail::check_labels(masks, classes_, ignore_index_, "ConfusionMatrix::update");
  auto t = masks.detach().to(torch::kCPU).to(torch::kLong).flatten();
  auto p = pred.to(torch::kCPU).to(torch::kLong).flatten();
  auto keep = t.ne(ignore_index_);
  t = t.masked_select(keep);
  p = p.masked_select(keep).clamp(0, classes_ - 1);
  counts_ += torch::bincount(t * classes_ + p, {}, classes_ * classes_).view({classes_, classes_}).to(torch::kLong);
}

std::vector<double> ConfusionMatrix::iou() const {
  std::vector<double> out;
  auto c = counts_.to(torch::kDouble);
  auto tp = c.diagonal(), rows = c.sum(1), cols = c.sum(0);
  for (int64_t k = 0; k < classes_; ++k) {
    const double uni = rows[k].item<double>() + cols[k].item<double>() - tp[k].item<double>();
    out.push_back(uni > 0 ? tp[k].item<double>() / uni : std::numeric_limits<double>::quiet_NaN());
  }
  return out;
}

double ConfusionMatrix::mean_iou() const {
  double sum = 0;
  int n = 0;
  for (double v : iou())
    if (!std::isnan(v)) sum += v, ++n;
  return n ? sum / n : std::numeric_limits<double>::quiet_NaN();
}

double ConfusionMatrix::pixel_accuracy() const {
  const double total = counts_.sum().item<double>();
  return total > 0 ? counts_.diagonal().sum().item<double>() / total : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace tlearn::seg

namespace tlearn::seg::detail {

void check_pair(const torch::Tensor& logits, const torch::Tensor& masks, const char* what) {
  if (logits.dim() != 4 || masks.dim() != 3 || logits.size(0) != masks.size(0) || logits.size(2) != masks.size(1) ||
      logits.size(3) != masks.size(2)) {
    std::ostringstream msg;
    msg << what << ": expected logits (N, classes, H, W) and masks (N, H, W) of the same N, H, W, got "
        << logits.sizes() << " and " << masks.sizes();
    throw Error(msg.str());
  }
}

void check_labels(const torch::Tensor& masks, int64_t classes, int64_t ignore_index, const char* what) {
  if (masks.is_floating_point())
    throw Error(std::string(what) + ": masks must hold integer class indices; convert with .to(torch::kLong)");
  auto valid = masks.ne(ignore_index);
  if (!valid.any().item<bool>()) return;
  auto v = masks.masked_select(valid);
  const int64_t lo = v.min().item<int64_t>(), hi = v.max().item<int64_t>();
  if (lo < 0 || hi >= classes)
    throw Error(std::string(what) + ": a mask holds class " + std::to_string(lo < 0 ? lo : hi) + " but there are " +
                std::to_string(classes) + " classes (0.." + std::to_string(classes - 1) +
                "); fix the masks or build the model with more classes");
}

}  // namespace tlearn::seg::detail

namespace tlearn::seg {

torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& masks, int64_t ignore_index) {
  detail::check_pair(logits, masks, "seg::cross_entropy");
  detail::check_labels(masks, logits.size(1), ignore_index, "seg::cross_entropy");
  namespace F = torch::nn::functional;
  return F::cross_entropy(logits, masks.to(torch::kLong), F::CrossEntropyFuncOptions().ignore_index(ignore_index));
}

torch::Tensor dice_loss(const torch::Tensor& logits, const torch::Tensor& masks, double smooth, int64_t ignore_index) {
  detail::check_pair(logits, masks, "seg::dice_loss");
  const int64_t k = logits.size(1);
  detail::check_labels(masks, k, ignore_index, "seg::dice_loss");
  auto valid = masks.ne(ignore_index).unsqueeze(1).to(logits.dtype());  // (N, 1, H, W)
  auto target = masks.to(torch::kLong).masked_fill(masks.eq(ignore_index), 0);
  auto onehot = torch::one_hot(target, k).permute({0, 3, 1, 2}).to(logits.dtype()) * valid;
  auto probs = logits.softmax(1) * valid;
  auto inter = (probs * onehot).sum({0, 2, 3});
  auto total = probs.sum({0, 2, 3}) + onehot.sum({0, 2, 3});
  return 1 - ((2 * inter + smooth) / (total + smooth)).mean();
}

std::vector<double> iou(const torch::Tensor& prediction, const torch::Tensor& masks, int64_t classes,
                        int64_t ignore_index) {
  ConfusionMatrix cm(classes, ignore_index);
  cm.update(prediction, masks);
  return cm.iou();
}

double mean_iou(const torch::Tensor& prediction, const torch::Tensor& masks, int64_t classes, int64_t ignore_index) {
  ConfusionMatrix cm(classes, ignore_index);
  cm.update(prediction, masks);
  return cm.mean_iou();
}

}  // namespace tlearn::seg
