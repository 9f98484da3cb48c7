#pragma once
/// \file
/// Per-epoch metrics of a fit (Keras' History), written as CSV and as a PNG of
/// the learning curves (loss on the left, the other metrics on the right; solid
/// = training, the same colour lighter = validation), with a title, axis labels,
/// tick values, a legend naming each series, and marked epochs (fine_tune marks
/// where fine-tuning started).
///
///     auto h = trainer.fit(train, tlearn::FitOptions().epochs(10).validation(val));
///     h.write_csv("history.csv");
///     h.plot("curves.png");

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/detail/file.hpp"
#include "tlearn/io/image.hpp"

namespace tlearn {

/// One epoch's numbers, in the order they were logged ("loss", "accuracy", "val_loss", ...).
using Logs = std::vector<std::pair<std::string, double>>;

double log_value(const Logs& logs, const std::string& key, double fallback = std::nan(""));

class History {
 public:
  /// Appends one epoch (0-based index `epoch`).
  void add(int64_t epoch, const Logs& logs);
  /// Appends every epoch of `other` (the second stage of a two-stage recipe).
  void extend(const History& other) {
    for (size_t i = 0; i < other.rows_.size(); ++i) add(other.epochs_[i], other.rows_[i]);
    marks_.insert(marks_.end(), other.marks_.begin(), other.marks_.end());
  }

  size_t size() const { return rows_.size(); }
  bool empty() const { return rows_.empty(); }
  const std::vector<std::string>& keys() const { return keys_; }
  const std::vector<int64_t>& epochs() const { return epochs_; }
  const Logs& row(size_t i) const { return rows_.at(i); }
  /// One metric over the epochs (NaN where an epoch did not log it).
  std::vector<double> operator[](const std::string& key) const {
    if (std::find(keys_.begin(), keys_.end(), key) == keys_.end()) {
      std::string known;
      for (const auto& k : keys_) known += (known.empty() ? "" : ", ") + k;
      throw Error("History: no metric '" + key + "' (logged: " + known + ")");
    }
    std::vector<double> out;
    for (const auto& r : rows_) out.push_back(log_value(r, key));
    return out;
  }

  /// "epoch,loss,accuracy,..." then one line per epoch (Keras' CSVLogger format).
  std::string csv() const;
  void write_csv(const std::filesystem::path& path) const;

  /// The learning curves as a PNG (width x height pixels).
  void plot(const std::filesystem::path& path, int64_t width = 900, int64_t height = 420) const;

  /// The curves drawn into an (H, W, 3) uint8 image.
  torch::Tensor render(int64_t width = 900, int64_t height = 420) const;

  /// The plot's title (default: the metrics it shows).
  History& title(std::string text) {
    title_ = std::move(text);
    return *this;
  }
  const std::string& title() const { return title_; }

  /// Marks `epoch` (0-based) with a labelled vertical line in the plot.
  History& mark(int64_t epoch, std::string label) {
    marks_.emplace_back(epoch, std::move(label));
    return *this;
  }
  const std::vector<std::pair<int64_t, std::string>>& marks() const { return marks_; }

 private:
  static void put(torch::Tensor& img, int64_t x, int64_t y, const uint8_t* c);
  static void line(torch::Tensor& img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, const uint8_t* c, int thick);

  void panel(torch::Tensor& img, int64_t x0, int64_t w, const std::vector<std::string>& keys) const;

  std::vector<int64_t> epochs_;
  std::vector<std::string> keys_;
  std::vector<Logs> rows_;
  std::string title_;
  std::vector<std::pair<int64_t, std::string>> marks_;
};

}  // namespace tlearn
