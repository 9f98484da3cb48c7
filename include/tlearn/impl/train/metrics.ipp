// Implementation of tlearn/train/metrics.hpp.
#include "tlearn/train/metrics.hpp"

namespace tlearn::metrics::detail {

double ratio(const torch::Tensor& t) {
  const double d = t[1].item<double>();
  return d > 0 ? t[0].item<double>() / d : 0.0;
}

Metric per_class(const std::string& name, bool precision) {
  return {name,
          [precision](const torch::Tensor& logits, const torch::Tensor& labels) {
            const int64_t k = binary(logits) ? 2 : logits.size(1);
            auto pred = predicted(logits).cpu(), y = labels.cpu();
            auto tp = torch::zeros({k}, torch::kDouble), count = torch::zeros({k}, torch::kDouble);
            auto hit = (pred == y).to(torch::kDouble);
            tp.index_add_(0, y, hit);
            count.index_add_(0, precision ? pred : y, torch::ones({y.size(0)}, torch::kDouble));
            return torch::cat({tp, count});
          },
          [](const torch::Tensor& t) {
            const int64_t k = t.size(0) / 2;
            auto tp = t.narrow(0, 0, k), count = t.narrow(0, k, k);
            if (k == 2) {  // binary: the positive class only, as Keras does
              const double c = count[1].item<double>();
              return c > 0 ? tp[1].item<double>() / c : 0.0;
            }
            auto seen = count > 0;
            if (!seen.any().item<bool>()) return 0.0;
            return (tp.masked_select(seen) / count.masked_select(seen)).mean().item<double>();
          }};
}

}  // namespace tlearn::metrics::detail

namespace tlearn::metrics {

Metric accuracy() {
  return {
      "accuracy",
      [](const torch::Tensor& logits, const torch::Tensor& labels) {
        auto correct = (detail::predicted(logits) == labels).sum().to(torch::kDouble).cpu();
        return torch::stack(std::vector<torch::Tensor>{correct, torch::tensor(double(labels.size(0)), torch::kDouble)});
      },
      detail::ratio};
}

Metric top_k(int64_t k) {
  return {
      "top_" + std::to_string(k) + "_accuracy",
      [k](const torch::Tensor& logits, const torch::Tensor& labels) {
        auto top = std::get<1>(logits.topk(std::min<int64_t>(k, logits.size(1)), 1));
        auto correct = (top == labels.unsqueeze(1)).any(1).sum().to(torch::kDouble).cpu();
        return torch::stack(std::vector<torch::Tensor>{correct, torch::tensor(double(labels.size(0)), torch::kDouble)});
      },
      detail::ratio};
}

}  // namespace tlearn::metrics
