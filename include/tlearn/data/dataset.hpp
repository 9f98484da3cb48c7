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

/// The interface every data set implements: size(), label(i) and one of
/// image(i) (preferred: the loader transforms it straight into a batch) or get(i).
/// All const methods must be safe to call from several threads at once (the loader does).
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  /// The i-th image as stored: HWC uint8 (files) or CHW float. `options` may
  /// allow a reduced-scale decode (see io::ImageReadOptions::min_size).
  virtual torch::Tensor image(size_t i, const io::ImageReadOptions& options = {}) const;
  virtual int64_t label(size_t i) const = 0;
  /// Class names, index = label. May be empty when the data set has none.
  virtual std::vector<std::string> classes() const { return {}; }
  /// Where sample i comes from (a file path), for error reports.
  virtual std::string describe(size_t i) const { return "sample " + std::to_string(i); }

  /// The i-th sample as CHW float 0..255.
  virtual Example get(size_t i) const;

  /// Number of classes: classes().size(), or max label + 1.
  size_t num_classes() const;
  std::vector<int64_t> labels() const;
  /// Samples per class.
  std::vector<int64_t> class_counts() const;
  /// Keras/scikit-learn 'balanced' class weights: n / (k * count); 0 for empty classes.
  std::vector<double> class_weights() const;

 protected:
  /// image() and get() are written in terms of each other; a subclass overrides one.
  /// Per data set object, so that a get() that calls another data set's defaults works.
  struct DefaultGuard {
    static std::vector<const Dataset*>& active() {
      thread_local std::vector<const Dataset*> a;
      return a;
    }
    explicit DefaultGuard(const Dataset* d) {
      auto& a = active();
      if (std::find(a.begin(), a.end(), d) != a.end())
        throw Error("a tlearn::data::Dataset subclass must override image() or get()");
      a.push_back(d);
    }
    ~DefaultGuard() { active().pop_back(); }
    DefaultGuard(const DefaultGuard&) = delete;
    DefaultGuard& operator=(const DefaultGuard&) = delete;
  };

  void check_index(size_t i) const;
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
  TensorDataset(torch::Tensor images, torch::Tensor labels, std::vector<std::string> classes = {});
  size_t size() const override { return size_t(labels_.size(0)); }
  torch::Tensor image(size_t i, const io::ImageReadOptions& = {}) const override;
  int64_t label(size_t i) const override;
  std::vector<std::string> classes() const override { return classes_; }
  const torch::Tensor& images() const { return images_; }
  const torch::Tensor& labels() const { return labels_; }

 private:
  torch::Tensor images_, labels_;
  std::vector<std::string> classes_;
};

/// Image files with labels: a list of (path, label).
class ImageFiles : public Dataset {
 public:
  ImageFiles() = default;
  explicit ImageFiles(std::vector<std::pair<std::filesystem::path, int64_t>> samples,
                      std::vector<std::string> classes = {}, io::ImageReadOptions read = {});

  size_t size() const override { return samples_.size(); }
  torch::Tensor image(size_t i, const io::ImageReadOptions& options = {}) const override;
  int64_t label(size_t i) const override;
  std::vector<std::string> classes() const override { return classes_; }
  std::string describe(size_t i) const override { return i < size() ? samples_[i].first.string() : Dataset::describe(i); }
  const std::filesystem::path& path(size_t i) const;
  const std::vector<std::pair<std::filesystem::path, int64_t>>& samples() const { return samples_; }

 protected:
  std::vector<std::pair<std::filesystem::path, int64_t>> samples_;
  std::vector<std::string> classes_;
  io::ImageReadOptions read_;
};

/// A view of some samples of another data set.
class Subset : public Dataset {
 public:
  Subset(DatasetPtr parent, std::vector<size_t> indices);
  size_t size() const override { return indices_.size(); }
  torch::Tensor image(size_t i, const io::ImageReadOptions& o = {}) const override { return parent_->image(at(i), o); }
  int64_t label(size_t i) const override { return parent_->label(at(i)); }
  Example get(size_t i) const override { return parent_->get(at(i)); }
  std::vector<std::string> classes() const override { return parent_->classes(); }
  std::string describe(size_t i) const override { return parent_->describe(at(i)); }
  const std::vector<size_t>& indices() const { return indices_; }
  const DatasetPtr& parent() const { return parent_; }

 private:
  size_t at(size_t i) const;
  DatasetPtr parent_;
  std::vector<size_t> indices_;
};

/// Stratified split: within each class, a seeded shuffle puts round(count *
/// val_fraction) samples in the second subset (validation), the rest in the first.
/// Both keep the parent's order.
std::pair<Subset, Subset> split(const DatasetPtr& dataset, double val_fraction, uint64_t seed);

/// `split` for a data set held by value (it is copied into a shared pointer).
template <class D, class = std::enable_if_t<!std::is_convertible_v<std::decay_t<D>, DatasetPtr>>>
std::pair<Subset, Subset> split(D&& dataset, double val_fraction, uint64_t seed) {
  return split(share(std::forward<D>(dataset)), val_fraction, seed);
}

}  // namespace tlearn::data
