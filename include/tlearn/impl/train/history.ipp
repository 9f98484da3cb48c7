// Implementation of tlearn/train/history.hpp.
#include "tlearn/train/history.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "tlearn/detail/text.hpp"

namespace tlearn {

void History::add(int64_t epoch, const Logs& logs) {
  epochs_.push_back(epoch);
  for (const auto& kv : logs)
    if (std::find(keys_.begin(), keys_.end(), kv.first) == keys_.end()) keys_.push_back(kv.first);
  rows_.push_back(logs);
}

std::string History::csv() const {
  std::ostringstream s;
  s << "epoch";
  for (const auto& k : keys_) s << ',' << k;
  s << '\n' << std::setprecision(10);
  for (size_t i = 0; i < rows_.size(); ++i) {
    s << epochs_[i];
    for (const auto& k : keys_) {
      const double v = log_value(rows_[i], k);
      s << ',';
      if (!std::isnan(v)) s << v;
    }
    s << '\n';
  }
  return s.str();
}

void History::write_csv(const std::filesystem::path& path) const {
  const std::string text = csv();
  tlearn::detail::write_atomically(path, [&](std::ofstream& out) { out << text; });
}

void History::plot(const std::filesystem::path& path, int64_t width, int64_t height) const {
  if (rows_.empty()) throw Error("History::plot: nothing to plot (no epoch was logged); fit first");
  io::write_png(render(width, height), path);
}

namespace {
constexpr uint8_t kBlack[3] = {0, 0, 0}, kGrey[3] = {215, 215, 215}, kDark[3] = {90, 90, 90};
constexpr int kText = 2;  // text scale: stb_easy_font's glyphs doubled

/// A grid line's value with as many decimals as the step between lines needs
/// ("0.00", "0.44", "0.89" for steps of 0.44), so the labels stay short enough
/// for the margin; "1.2e+05" beyond five digits.
std::string tick_label(double v, double step) {
  std::ostringstream s;
  if (!(step > 0) || !std::isfinite(step) || std::abs(v) >= 1e5) {
    s << std::setprecision(2) << v;
    return s.str();
  }
  const int decimals = std::clamp(int(std::ceil(-std::log10(step))) + 1, 0, 6);
  if (std::abs(v) < 0.5 * std::pow(10.0, -decimals)) v = 0;  // no "-0.00"
  s << std::fixed << std::setprecision(decimals) << v;
  return s.str();
}
}  // namespace

torch::Tensor History::render(int64_t width, int64_t height) const {
  auto img = torch::full({height, width, 3}, 255, torch::kUInt8);
  std::vector<std::string> left, right;
  for (const auto& k : keys_) {
    if (k == "lr") continue;
    const std::string base = k.rfind("val_", 0) == 0 ? k.substr(4) : k;
    (base == "loss" ? left : right).push_back(k);
  }
  std::string title = title_;
  if (title.empty()) {
    for (const auto& k : keys_)
      if (k != "lr" && k.rfind("val_", 0) != 0) title += (title.empty() ? "" : ", ") + k;
    if (title.empty()) title = "validation";
    title += " by epoch";
  }
  detail::draw_text(img, (width - detail::text_width(title, kText)) / 2, 8, title, kBlack, kText);
  // Two panels, losses left; one series kind alone (a comparison of val_accuracy) takes the whole width.
  if (left.empty() || right.empty()) {
    panel(img, 0, width, left.empty() ? right : left);
    return img;
  }
  const int64_t half = width / 2;
  panel(img, 0, half, left);
  panel(img, half, width - half, right);
  return img;
}

void History::put(torch::Tensor& img, int64_t x, int64_t y, const uint8_t* c) {
  if (x < 0 || y < 0 || y >= img.size(0) || x >= img.size(1)) return;
  auto* p = img.data_ptr<uint8_t>() + (y * img.size(1) + x) * 3;
  p[0] = c[0], p[1] = c[1], p[2] = c[2];
}

void History::line(torch::Tensor& img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, const uint8_t* c, int thick) {
  const int64_t dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  int64_t err = dx + dy;
  while (true) {  // Bresenham
    for (int a = 0; a < thick; ++a)
      for (int b = 0; b < thick; ++b) put(img, x0 + a, y0 + b, c);
    if (x0 == x1 && y0 == y1) break;
    const int64_t e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

void History::panel(torch::Tensor& img, int64_t x0, int64_t w, const std::vector<std::string>& keys) const {
  static const uint8_t palette[][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189}};
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& k : keys)
    for (double v : (*this)[k])
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) return;
  if (hi - lo < 1e-12) lo -= 0.5, hi += 0.5;  // a constant series in the middle
  const double pad = 0.05 * (hi - lo);
  lo -= pad, hi += pad;
  // Grid values, and a left margin as wide as the widest of them needs.
  std::array<std::string, 5> tick_labels;
  int64_t label_width = 0;
  for (int g = 0; g <= 4; ++g) {
    tick_labels[size_t(g)] = tick_label(lo + (hi - lo) * g / 4, (hi - lo) / 4);
    label_width = std::max(label_width, detail::text_width(tick_labels[size_t(g)], kText));
  }
  const int64_t h = img.size(0), px0 = x0 + std::max<int64_t>(70, label_width + 16), px1 = x0 + w - 16, py1 = h - 50;
  // The legend's rows: as many names as fit across the axes each; the axes start below them.
  std::vector<std::vector<std::string>> legend_rows;
  int64_t row_width = 0;
  for (const auto& k : keys) {
    const int64_t item = detail::text_width(k, kText) + 34;
    if (legend_rows.empty() || row_width + item > px1 - px0) legend_rows.emplace_back(), row_width = 0;
    legend_rows.back().push_back(k);
    row_width += item;
  }
  const int64_t py0 = 56 + 18 * (int64_t(legend_rows.size()) - 1);
  auto Y = [&](double v) { return py1 - int64_t(double(py1 - py0) * (v - lo) / (hi - lo)); };
  // The y axis: its name above it, grid lines with their values.
  // The y axis is named after what its series share ("loss" for loss and val_loss);
  // series of different things (methods compared) leave it to the title.
  auto base_of = [](const std::string& k) { return k.rfind("val_", 0) == 0 ? k.substr(4) : k; };
  std::string quantity = base_of(keys.front());
  for (const auto& k : keys)
    if (base_of(k) != quantity) quantity.clear();
  detail::draw_text(img, std::max<int64_t>(x0 + 4, px0 - 60), py0 - 24, quantity, kBlack, kText);
  for (int g = 0; g <= 4; ++g) {
    const int64_t y = Y(lo + (hi - lo) * g / 4);
    line(img, px0, y, px1, y, kGrey, 1);
    const auto& label = tick_labels[size_t(g)];
    detail::draw_text(img, px0 - 8 - detail::text_width(label, kText), y - 6, label, kDark, kText);
  }
  line(img, px0, py0, px0, py1, kBlack, 1);
  line(img, px0, py1, px1, py1, kBlack, 1);
  // The x axis: epochs numbered from 1 as Keras prints them, at most ~10 labels.
  const size_t n = rows_.size();
  auto X = [&](size_t i) {
    return n < 2 ? (px0 + px1) / 2 : px0 + int64_t(double(px1 - px0) * double(i) / double(n - 1));
  };
  const size_t step = std::max<size_t>(1, (n + 9) / 10);
  for (size_t i = 0; i < n; i += step) {
    line(img, X(i), py1, X(i), py1 + 4, kBlack, 1);
    const auto label = std::to_string(epochs_[i] + 1);
    detail::draw_text(img, X(i) - detail::text_width(label, kText) / 2, py1 + 8, label, kDark, kText);
  }
  detail::draw_text(img, (px0 + px1 - detail::text_width("epoch", kText)) / 2, py1 + 28, "epoch", kBlack, kText);
  // Marked epochs: a dashed vertical line, labelled at its top.
  for (const auto& [epoch, label] : marks_) {
    auto at = std::find(epochs_.begin(), epochs_.end(), epoch);
    if (at == epochs_.end()) continue;
    const int64_t x = X(size_t(at - epochs_.begin()));
    for (int64_t y = py0; y < py1; y += 8) line(img, x, y, x, std::min(py1, y + 4), kDark, 1);
    // Near the bottom of the axes, on the side of the line with room for it.
    const int64_t tw = detail::text_width(label, kText);
    detail::draw_text(img, x + 6 + tw <= px1 ? x + 6 : std::max(px0 + 2, x - 6 - tw), py1 - 20, label, kDark, kText);
  }
  std::map<std::string, size_t> colour;
  std::map<std::string, std::array<uint8_t, 3>> legend;
  for (const auto& k : keys) {
    const std::string base = k.rfind("val_", 0) == 0 ? k.substr(4) : k;
    if (!colour.count(base)) colour.emplace(base, colour.size() % 5);
    std::array<uint8_t, 3> c;
    const bool val = base != k;
    for (int j = 0; j < 3; ++j) {
      const uint8_t p = palette[colour[base]][j];
      c[size_t(j)] = val ? uint8_t(p + (255 - p) / 2) : p;  // validation: lighter
    }
    legend[k] = c;
    const auto v = (*this)[k];
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(v[i])) continue;
      if (i + 1 < n && std::isfinite(v[i + 1])) line(img, X(i), Y(v[i]), X(i + 1), Y(v[i + 1]), c.data(), 2);
      for (int a = -2; a <= 2; ++a) line(img, X(i) - 2, Y(v[i]) + a, X(i) + 2, Y(v[i]) + a, c.data(), 1);  // marker
    }
  }
  // The legend above the axes, each row right-aligned: a swatch and the series' name each.
  for (size_t r = 0; r < legend_rows.size(); ++r) {
    int64_t lx = px1;
    for (const auto& name : legend_rows[r]) lx -= detail::text_width(name, kText) + 34;
    const int64_t ly = 32 + 18 * int64_t(r);
    for (const auto& name : legend_rows[r]) {
      const auto& c = legend[name];
      for (int a = 0; a < 12; ++a) line(img, lx + 6, ly + a, lx + 22, ly + a, c.data(), 1);
      detail::draw_text(img, lx + 28, ly, name, kBlack, kText);
      lx += detail::text_width(name, kText) + 34;
    }
  }
}

double log_value(const Logs& logs, const std::string& key, double fallback) {
  for (const auto& [k, v] : logs)
    if (k == key) return v;
  return fallback;
}

}  // namespace tlearn
