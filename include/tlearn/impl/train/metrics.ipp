// Implementation of tlearn/train/metrics.hpp.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <numeric>
#include <sstream>

#include "tlearn/core/error.hpp"
#include "tlearn/detail/text.hpp"
#include "tlearn/io/image.hpp"
#include "tlearn/train/metrics.hpp"

namespace tlearn::metrics::detail {

double ratio(const torch::Tensor& t) {
  const double d = t[1].item<double>();
  return d > 0 ? t[0].item<double>() / d : 0.0;
}

torch::Tensor class_counts(const torch::Tensor& logits, const torch::Tensor& labels) {
  const auto ones = [](int64_t n) { return torch::ones({n}, torch::kDouble); };
  if (multi_label(labels)) {
    auto pred = (logits.reshape({labels.size(0), -1}) > 0).cpu(), y = (labels > 0.5).cpu();
    if (pred.sizes() != y.sizes()) throw Error("metrics: multi-label logits and targets differ in shape");
    return torch::cat({(pred & y).sum(0).to(torch::kDouble), pred.sum(0).to(torch::kDouble), y.sum(0).to(torch::kDouble),
                       ones(1)});
  }
  const int64_t k = binary(logits) ? 2 : logits.size(1);
  auto pred = predicted(logits).cpu().reshape({-1}), y = labels.cpu().to(torch::kLong).reshape({-1});
  const auto valid = (y >= 0) & (y < k);  // segmentation's ignore_index
  pred = pred.masked_select(valid), y = y.masked_select(valid);
  auto tp = torch::zeros({k}, torch::kDouble), pc = torch::zeros({k}, torch::kDouble), tc = torch::zeros({k}, torch::kDouble);
  tp.index_add_(0, y, (pred == y).to(torch::kDouble));
  pc.index_add_(0, pred, ones(y.size(0)));
  tc.index_add_(0, y, ones(y.size(0)));
  return torch::cat({tp, pc, tc, torch::zeros({1}, torch::kDouble)});
}

namespace {
enum class Which { Precision, Recall, F1 };

double per_class_value(const torch::Tensor& t, Which which, Average average) {
  const int64_t k = (t.size(0) - 1) / 3;
  const bool ml = t[3 * k].item<double>() > 0;
  auto tp = t.narrow(0, 0, k), pc = t.narrow(0, k, k), tc = t.narrow(0, 2 * k, k);
  auto safe = [](const torch::Tensor& a, const torch::Tensor& b) { return torch::where(b > 0, a / b.clamp_min(1e-300), torch::zeros_like(a)); };
  auto of = [&](const torch::Tensor& a, const torch::Tensor& p, const torch::Tensor& c) {
    switch (which) {
      case Which::Precision: return safe(a, p);
      case Which::Recall: return safe(a, c);
      case Which::F1: return safe(2 * a, p + c);
    }
    return a;
  };
  if (average == Average::Micro) return of(tp.sum(), pc.sum(), tc.sum()).item<double>();
  if (!ml && k == 2) return of(tp, pc, tc)[1].item<double>();  // binary: the positive class, as scikit-learn
  auto values = of(tp, pc, tc);
  if (ml) return values.mean().item<double>();
  auto seen = (pc + tc) > 0;  // scikit-learn's labels: those in y_true or y_pred
  if (!seen.any().item<bool>()) return 0.0;
  return values.masked_select(seen).mean().item<double>();
}

Metric counted(const std::string& name, Which which, Average average) {
  return {name + (average == Average::Micro ? "_micro" : ""), class_counts,
          [which, average](const torch::Tensor& t) { return per_class_value(t, which, average); }};
}

/// Exact ROC AUC of scores against 0/1 labels (Mann-Whitney U, ties half); NaN without both classes.
double binary_auc(std::vector<std::pair<double, bool>> v) {
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  double positives = 0, rank_sum = 0;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    int64_t pos_here = 0;
    while (j < v.size() && v[j].first == v[i].first) pos_here += v[j++].second;
    const double mean_rank = double(i + 1 + j) / 2.0;  // ranks i+1 .. j
    rank_sum += mean_rank * double(pos_here);
    positives += double(pos_here);
    i = j;
  }
  const double negatives = double(v.size()) - positives;
  if (positives == 0 || negatives == 0) return NAN;
  return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}
}  // namespace

}  // namespace tlearn::metrics::detail

namespace tlearn::metrics {

Metric accuracy() {
  return {
      "accuracy",
      [](const torch::Tensor& logits, const torch::Tensor& labels) {
        if (detail::multi_label(labels)) {
          auto right = ((logits.reshape(labels.sizes()) > 0) == (labels > 0.5)).sum().to(torch::kDouble).cpu();
          return torch::stack(std::vector<torch::Tensor>{right, torch::tensor(double(labels.numel()), torch::kDouble)});
        }
        const auto valid = labels >= 0;  // segmentation's ignore_index
        auto correct = ((detail::predicted(logits) == labels) & valid).sum().to(torch::kDouble).cpu();
        return torch::stack(std::vector<torch::Tensor>{correct, valid.sum().to(torch::kDouble).cpu()});
      },
      detail::ratio};
}

Metric mean_iou() {
  return {"mean_iou",
          [](const torch::Tensor& logits, const torch::Tensor& labels) {
            const int64_t k = detail::binary(logits) ? 2 : logits.size(1);
            auto pred = detail::predicted(logits).cpu().reshape({-1}), y = labels.cpu().to(torch::kLong).reshape({-1});
            const auto valid = (y >= 0) & (y < k);
            pred = pred.masked_select(valid), y = y.masked_select(valid);
            return torch::zeros({k * k}, torch::kDouble).index_add_(0, y * k + pred, torch::ones({y.size(0)}, torch::kDouble));
          },
          [](const torch::Tensor& t) {
            const auto k = int64_t(std::llround(std::sqrt(double(t.size(0)))));
            auto cm = t.reshape({k, k});
            auto tp = cm.diagonal(), union_ = cm.sum(0) + cm.sum(1) - tp;
            auto seen = union_ > 0;
            if (!seen.any().item<bool>()) return double(NAN);
            return (tp.masked_select(seen) / union_.masked_select(seen)).mean().item<double>();
          }};
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

Metric precision(Average average) { return detail::counted("precision", detail::Which::Precision, average); }
Metric recall(Average average) { return detail::counted("recall", detail::Which::Recall, average); }
Metric f1(Average average) { return detail::counted("f1", detail::Which::F1, average); }

Metric auc() {
  Metric m;
  m.name = "auc";
  m.concatenate = true;
  // Rows: [kind, scores..., labels...]; kind 0 binary, 1 one-vs-rest (softmax, label index), 2 multi-label.
  m.sums = [](const torch::Tensor& logits, const torch::Tensor& labels) {
    const int64_t n = labels.size(0);
    auto col = [n](double kind) { return torch::full({n, 1}, kind, torch::kDouble); };
    auto l = logits.detach().to(torch::kDouble).cpu().reshape({n, -1});
    auto y = labels.detach().to(torch::kDouble).cpu().reshape({n, -1});
    if (detail::multi_label(labels)) return torch::cat({col(2), l, y}, 1);
    if (l.size(1) == 1) return torch::cat({col(0), l, y}, 1);
    return torch::cat({col(1), torch::softmax(l, 1), y}, 1);
  };
  m.value = [](const torch::Tensor& rows) {
    const auto kind = int(rows[0][0].item<double>());
    auto data = rows.contiguous();
    const int64_t n = data.size(0), width = data.size(1) - 1;
    const double* p = data.data_ptr<double>();
    auto column_auc = [&](int64_t score_col, const std::function<bool(const double*)>& positive) {
      std::vector<std::pair<double, bool>> v(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) v[size_t(i)] = {p[i * (width + 1) + 1 + score_col], positive(p + i * (width + 1) + 1)};
      return detail::binary_auc(std::move(v));
    };
    std::vector<double> per;
    if (kind == 0) {
      per.push_back(column_auc(0, [](const double* r) { return r[1] > 0.5; }));
    } else if (kind == 1) {
      const int64_t c = width - 1;
      for (int64_t k = 0; k < c; ++k) per.push_back(column_auc(k, [c, k](const double* r) { return int64_t(r[c]) == k; }));
    } else {
      const int64_t c = width / 2;
      for (int64_t k = 0; k < c; ++k) per.push_back(column_auc(k, [c, k](const double* r) { return r[c + k] > 0.5; }));
    }
    double sum = 0;
    int count = 0;
    for (double a : per)
      if (!std::isnan(a)) sum += a, ++count;
    return count ? sum / count : NAN;
  };
  return m;
}

ClassificationReport classification_report(const torch::Tensor& logits, const torch::Tensor& labels,
                                           std::vector<std::string> names) {
  if (labels.dim() != 1 || logits.size(0) != labels.size(0))
    throw Error("classification_report: expected logits (N, classes) or (N, 1) and labels (N)");
  const int64_t k = detail::binary(logits) ? 2 : logits.size(1);
  auto pred = detail::predicted(logits).cpu(), y = labels.cpu().to(torch::kLong);
  if (y.numel() && (y.min().item<int64_t>() < 0 || y.max().item<int64_t>() >= k))
    throw Error("classification_report: a label is outside 0.." + std::to_string(k - 1));
  ClassificationReport r;
  r.confusion = torch::zeros({k * k}, torch::kLong).index_add_(0, y * k + pred, torch::ones_like(y)).reshape({k, k});
  auto cm = r.confusion.accessor<int64_t, 2>();
  int64_t right = 0;
  for (int64_t c = 0; c < k; ++c) {
    int64_t predicted_c = 0, true_c = 0;
    for (int64_t j = 0; j < k; ++j) predicted_c += cm[j][c], true_c += cm[c][j];
    const double tp = double(cm[c][c]);
    right += cm[c][c];
    r.precision.push_back(predicted_c ? tp / double(predicted_c) : 0.0);
    r.recall.push_back(true_c ? tp / double(true_c) : 0.0);
    r.f1.push_back(predicted_c + true_c ? 2 * tp / double(predicted_c + true_c) : 0.0);
    r.support.push_back(true_c);
  }
  r.accuracy = y.numel() ? double(right) / double(y.numel()) : 0.0;
  if (names.empty())
    for (int64_t c = 0; c < k; ++c) names.push_back(std::to_string(c));
  if (int64_t(names.size()) != k)
    throw Error("classification_report: " + std::to_string(names.size()) + " names for " + std::to_string(k) + " classes");
  r.names = std::move(names);
  return r;
}

std::string ClassificationReport::to_string() const {
  const size_t k = support.size();
  size_t w = 12;
  for (const auto& n : names) w = std::max(w, n.size());
  std::ostringstream s;
  s << std::fixed << std::setprecision(2);
  s << std::string(w, ' ') << "  precision    recall  f1-score   support\n\n";
  int64_t total = 0;
  double mp = 0, mr = 0, mf = 0, wp = 0, wr = 0, wf = 0;
  for (size_t c = 0; c < k; ++c) {
    s << std::setw(int(w)) << names[c] << std::setw(11) << precision[c] << std::setw(10) << recall[c] << std::setw(10)
      << f1[c] << std::setw(10) << support[c] << '\n';
    total += support[c];
    mp += precision[c], mr += recall[c], mf += f1[c];
    wp += precision[c] * double(support[c]), wr += recall[c] * double(support[c]), wf += f1[c] * double(support[c]);
  }
  const double n = double(std::max<int64_t>(total, 1));
  s << '\n' << std::setw(int(w)) << "accuracy" << std::setw(31) << accuracy << std::setw(10) << total << '\n';
  s << std::setw(int(w)) << "macro avg" << std::setw(11) << mp / double(k) << std::setw(10) << mr / double(k) << std::setw(10)
    << mf / double(k) << std::setw(10) << total << '\n';
  s << std::setw(int(w)) << "weighted avg" << std::setw(11) << wp / n << std::setw(10) << wr / n << std::setw(10) << wf / n
    << std::setw(10) << total << "\n\nconfusion matrix (rows: true class, columns: predicted)\n";
  auto cm = confusion.accessor<int64_t, 2>();
  int cw = 1;
  for (size_t i = 0; i < k; ++i)
    for (size_t j = 0; j < k; ++j) cw = std::max(cw, int(std::to_string(cm[int64_t(i)][int64_t(j)]).size()));
  for (size_t i = 0; i < k; ++i) {
    s << std::setw(int(w)) << names[i] << ' ';
    for (size_t j = 0; j < k; ++j) s << ' ' << std::setw(cw) << cm[int64_t(i)][int64_t(j)];
    s << '\n';
  }
  return s.str();
}

torch::Tensor ClassificationReport::render(int64_t cell) const {
  constexpr int kText = 2;
  static const uint8_t black[3] = {0, 0, 0}, white[3] = {255, 255, 255}, dark[3] = {90, 90, 90};
  const int64_t k = int64_t(support.size());
  int64_t name_w = 0;
  for (const auto& n : names) name_w = std::max(name_w, tlearn::detail::text_width(n, kText));
  const int64_t left = 80 + name_w + 12, top = 40, right_pad = 16;
  const int64_t bottom = 96;  // column names under the cells (two rows when they are wide), then the axis name
  const int64_t width = std::max<int64_t>(left + k * cell + right_pad, 320), height = top + k * cell + bottom;
  auto img = torch::full({height, width, 3}, 255, torch::kUInt8);
  auto* px = img.data_ptr<uint8_t>();
  auto fill = [&](int64_t x0, int64_t y0, int64_t x1, int64_t y1, const uint8_t* c) {
    for (int64_t y = std::max<int64_t>(y0, 0); y < std::min(y1, height); ++y)
      for (int64_t x = std::max<int64_t>(x0, 0); x < std::min(x1, width); ++x)
        for (int j = 0; j < 3; ++j) px[(y * width + x) * 3 + j] = c[j];
  };
  const std::string title = "confusion matrix";
  tlearn::detail::draw_text(img, (width - tlearn::detail::text_width(title, kText)) / 2, 8, title, black, kText);
  auto cm = confusion.accessor<int64_t, 2>();
  for (int64_t i = 0; i < k; ++i) {
    const double row = double(std::max<int64_t>(support[size_t(i)], 1));
    for (int64_t j = 0; j < k; ++j) {
      const double share = double(cm[i][j]) / row;
      // matplotlib's "Blues" at five stops, linear between them.
      static const double blues[5][3] = {{247, 251, 255}, {198, 219, 239}, {107, 174, 214}, {33, 113, 181}, {8, 48, 107}};
      const double at = std::min(share, 1.0) * 4;
      const int s0 = std::min(int(at), 3);
      uint8_t c[3];
      for (int ch = 0; ch < 3; ++ch) c[ch] = uint8_t(std::lround(blues[s0][ch] + (at - s0) * (blues[s0 + 1][ch] - blues[s0][ch])));
      const int64_t x0 = left + j * cell, y0 = top + i * cell;
      fill(x0, y0, x0 + cell, y0 + cell, c);
      const auto text = std::to_string(cm[i][j]);
      int scale = kText;
      while (scale > 1 && tlearn::detail::text_width(text, scale) > cell - 4) --scale;
      tlearn::detail::draw_text(img, x0 + (cell - tlearn::detail::text_width(text, scale)) / 2,
                                y0 + (cell - tlearn::detail::text_height(text, scale)) / 2, text, share > 0.5 ? white : black, scale);
    }
    tlearn::detail::draw_text(img, left - 8 - tlearn::detail::text_width(names[size_t(i)], kText),
                              top + i * cell + (cell - tlearn::detail::text_height("0", kText)) / 2, names[size_t(i)], dark, kText);
  }
  // Grid lines between cells.
  static const uint8_t grey[3] = {200, 200, 200};
  for (int64_t i = 0; i <= k; ++i) {
    fill(left + i * cell, top, left + i * cell + 1, top + k * cell, grey);
    fill(left, top + i * cell, left + k * cell, top + i * cell + 1, grey);
  }
  // Column names, vertical would need rotated text: written horizontally, stacked when they do not fit.
  for (int64_t j = 0; j < k; ++j) {
    const auto& n = names[size_t(j)];
    const int64_t tw = tlearn::detail::text_width(n, kText);
    const int64_t x = left + j * cell + (cell - tw) / 2;
    const int64_t y = top + k * cell + 8 + (tw > cell - 4 ? (j % 2) * 20 : 0);
    tlearn::detail::draw_text(img, x, y, n, dark, kText);
  }
  const std::string xlabel = "predicted", ylabel = "true";
  tlearn::detail::draw_text(img, left + (k * cell - tlearn::detail::text_width(xlabel, kText)) / 2, height - 28, xlabel, black, kText);
  tlearn::detail::draw_text(img, 8, top + (k * cell) / 2 - 6, ylabel, black, kText);
  return img;
}

void ClassificationReport::plot(const std::filesystem::path& path, int64_t cell) const { io::write_png(render(cell), path); }

}  // namespace tlearn::metrics
