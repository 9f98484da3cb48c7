#pragma once
/// \file
/// Data sets: an indexable, thread-safe list of (image, label). Images come out
/// as cheaply as possible (`image(i)`: HWC uint8 for files) so that a loader can
/// transform them straight into a batch; `get(i)` gives CHW float.
///
///     auto data = std::make_shared<tlearn::data::ImageFolder>("photos/train");
///     auto [train, val] = tlearn::data::split(data, 0.2, /*seed=*/42);  // stratified

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/detail/resample.hpp"
#include "tlearn/io/image.hpp"

namespace tlearn::data {

/// One sample: a CHW float image (0..255) and its class index.
struct Example {
  torch::Tensor image;
  int64_t label = 0;
};

/// The interface every data set implements. All const methods must be safe to
/// call from several threads at once (the loader does).
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  /// The i-th image as stored: HWC uint8 (files) or CHW float. `options` may
  /// allow a reduced-scale decode (see io::ImageReadOptions::min_size).
  virtual torch::Tensor image(size_t i, const io::ImageReadOptions& options = {}) const = 0;
  virtual int64_t label(size_t i) const = 0;
  /// Class names, index = label. May be empty when the data set has none.
  virtual std::vector<std::string> classes() const { return {}; }
  /// Where sample i comes from (a file path), for error reports.
  virtual std::string describe(size_t i) const { return "sample " + std::to_string(i); }

  /// The i-th sample as CHW float 0..255.
  virtual Example get(size_t i) const { return {tlearn::detail::to_chw_float(image(i)), label(i)}; }

  /// Number of classes: classes().size(), or max label + 1.
  size_t num_classes() const {
    auto c = classes();
    if (!c.empty()) return c.size();
    int64_t m = -1;
    for (size_t i = 0; i < size(); ++i) m = std::max(m, label(i));
    return size_t(m + 1);
  }
  std::vector<int64_t> labels() const {
    std::vector<int64_t> out(size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = label(i);
    return out;
  }
  /// Samples per class.
  std::vector<int64_t> class_counts() const {
    std::vector<int64_t> counts(num_classes(), 0);
    for (size_t i = 0; i < size(); ++i) {
      const int64_t l = label(i);
      if (l >= 0 && size_t(l) < counts.size()) ++counts[size_t(l)];
    }
    return counts;
  }
  /// Keras/scikit-learn 'balanced' class weights: n / (k * count); 0 for empty classes.
  std::vector<double> class_weights() const {
    auto counts = class_counts();
    std::vector<double> w(counts.size(), 0.0);
    for (size_t c = 0; c < counts.size(); ++c)
      if (counts[c] > 0) w[c] = double(size()) / (double(counts.size()) * double(counts[c]));
    return w;
  }

 protected:
  void check_index(size_t i) const {
    if (i >= size())
      throw Error("data set index " + std::to_string(i) + " is out of range (size " + std::to_string(size()) + ")");
  }
};

using DatasetPtr = std::shared_ptr<const Dataset>;

/// Makes a shared pointer from a data set held by value, or passes one through.
template <class D>
DatasetPtr share(D&& d) {
  using T = std::decay_t<D>;
  if constexpr (std::is_convertible_v<T, DatasetPtr>) {
    return DatasetPtr(std::forward<D>(d));
  } else {
    static_assert(std::is_base_of_v<Dataset, T>, "share() expects a tlearn::data::Dataset");
    return std::make_shared<const T>(std::forward<D>(d));
  }
}

/// Images in memory: (N, H, W, C) / (N, H, W) uint8 or (N, C, H, W) float, and N labels.
class TensorDataset : public Dataset {
 public:
  TensorDataset(torch::Tensor images, torch::Tensor labels, std::vector<std::string> classes = {})
      : images_(std::move(images)), labels_(labels.to(torch::kLong).contiguous()), classes_(std::move(classes)) {
    if (images_.dim() < 3 || labels_.dim() != 1 || images_.size(0) != labels_.size(0)) {
      std::ostringstream msg;
      msg << "TensorDataset: need images (N, ...) and labels (N), got " << images_.sizes() << " and " << labels_.sizes();
      throw Error(msg.str());
    }
  }
  size_t size() const override { return size_t(labels_.size(0)); }
  torch::Tensor image(size_t i, const io::ImageReadOptions& = {}) const override {
    check_index(i);
    return images_[int64_t(i)];
  }
  int64_t label(size_t i) const override {
    check_index(i);
    return labels_.data_ptr<int64_t>()[i];
  }
  std::vector<std::string> classes() const override { return classes_; }
  const torch::Tensor& images() const { return images_; }

 private:
  torch::Tensor images_, labels_;
  std::vector<std::string> classes_;
};

/// Image files with labels: a list of (path, label).
class ImageFiles : public Dataset {
 public:
  ImageFiles() = default;
  explicit ImageFiles(std::vector<std::pair<std::filesystem::path, int64_t>> samples, std::vector<std::string> classes = {},
                      io::ImageReadOptions read = {})
      : samples_(std::move(samples)), classes_(std::move(classes)), read_(std::move(read)) {}

  size_t size() const override { return samples_.size(); }
  torch::Tensor image(size_t i, const io::ImageReadOptions& options = {}) const override {
    check_index(i);
    io::ImageReadOptions o = read_;
    o.min_size = options.min_size;
    o.min_shorter_side = options.min_shorter_side;
    return io::read_image(samples_[i].first, o);
  }
  int64_t label(size_t i) const override {
    check_index(i);
    return samples_[i].second;
  }
  std::vector<std::string> classes() const override { return classes_; }
  std::string describe(size_t i) const override { return i < size() ? samples_[i].first.string() : Dataset::describe(i); }
  const std::filesystem::path& path(size_t i) const {
    check_index(i);
    return samples_[i].first;
  }
  const std::vector<std::pair<std::filesystem::path, int64_t>>& samples() const { return samples_; }

 protected:
  std::vector<std::pair<std::filesystem::path, int64_t>> samples_;
  std::vector<std::string> classes_;
  io::ImageReadOptions read_;
};

/// A view of some samples of another data set.
class Subset : public Dataset {
 public:
  Subset(DatasetPtr parent, std::vector<size_t> indices) : parent_(std::move(parent)), indices_(std::move(indices)) {
    if (!parent_) throw Error("Subset: the parent data set is null");
    for (auto i : indices_)
      if (i >= parent_->size())
        throw Error("Subset: index " + std::to_string(i) + " is out of range (parent size " + std::to_string(parent_->size()) + ")");
  }
  size_t size() const override { return indices_.size(); }
  torch::Tensor image(size_t i, const io::ImageReadOptions& o = {}) const override { return parent_->image(at(i), o); }
  int64_t label(size_t i) const override { return parent_->label(at(i)); }
  Example get(size_t i) const override { return parent_->get(at(i)); }
  std::vector<std::string> classes() const override { return parent_->classes(); }
  std::string describe(size_t i) const override { return parent_->describe(at(i)); }
  const std::vector<size_t>& indices() const { return indices_; }
  const DatasetPtr& parent() const { return parent_; }

 private:
  size_t at(size_t i) const {
    check_index(i);
    return indices_[i];
  }
  DatasetPtr parent_;
  std::vector<size_t> indices_;
};

/// Stratified split: within each class, a seeded shuffle puts round(count *
/// val_fraction) samples in the second subset (validation), the rest in the first.
/// Both keep the parent's order.
inline std::pair<Subset, Subset> split(const DatasetPtr& dataset, double val_fraction, uint64_t seed) {
  if (!dataset) throw Error("split: the data set is null");
  if (!(val_fraction >= 0.0 && val_fraction <= 1.0))
    throw Error("split: val_fraction must be in [0, 1], got " + std::to_string(val_fraction));
  std::map<int64_t, std::vector<size_t>> by_class;
  for (size_t i = 0; i < dataset->size(); ++i) by_class[dataset->label(i)].push_back(i);
  std::vector<char> is_val(dataset->size(), 0);
  for (auto& [label, idx] : by_class) {
    std::mt19937_64 rng(seed ^ (0x9E3779B97F4A7C15ull * uint64_t(label + 1)));
    for (size_t k = idx.size(); k > 1; --k) std::swap(idx[k - 1], idx[rng() % k]);  // Fisher-Yates
    const auto n_val = size_t(std::llround(double(idx.size()) * val_fraction));
    for (size_t k = 0; k < n_val; ++k) is_val[idx[k]] = 1;
  }
  std::vector<size_t> train, val;
  for (size_t i = 0; i < is_val.size(); ++i) (is_val[i] ? val : train).push_back(i);
  return {Subset(dataset, std::move(train)), Subset(dataset, std::move(val))};
}

/// `split` for a data set held by value (it is copied into a shared pointer).
template <class D, class = std::enable_if_t<!std::is_convertible_v<std::decay_t<D>, DatasetPtr>>>
std::pair<Subset, Subset> split(D&& dataset, double val_fraction, uint64_t seed) {
  return split(share(std::forward<D>(dataset)), val_fraction, seed);
}

}  // namespace tlearn::data
