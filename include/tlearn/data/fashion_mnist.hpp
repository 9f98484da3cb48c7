#pragma once
/// \file
/// Fashion-MNIST from its gzipped IDX files (Debian: dataset-fashion-mnist in
/// /usr/share/datasets/fashion-mnist). 60000 training and 10000 test images of
/// 28x28 grey pixels, 10 classes.
///
///     tlearn::data::FashionMNIST train(tlearn::data::FashionMNISTOptions().train(true));
///     train.image(0);   // (28, 28, 3) uint8, grey replicated to RGB (rgb(false): (28, 28, 1))

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "tlearn/data/dataset.hpp"

namespace tlearn::data {

namespace detail {
/// An IDX file of unsigned bytes: its dimensions and its values.
struct Idx {
  std::vector<int64_t> dims;
  torch::Tensor values;  ///< uint8, dims' product elements
};

/// IDX files larger than this (declared by their header) are refused before reading.
inline constexpr uint64_t kMaxIdxBytes = uint64_t(1) << 32;

/// Reads a gzipped IDX file: the header first, then exactly the bytes it
/// declares (at most kMaxIdxBytes), so a small file that inflates without end
/// costs no more memory than its header claims. Data beyond that is an error.
Idx read_idx_gzip(const std::filesystem::path& path);
}  // namespace detail

struct FashionMNISTOptions {
  std::filesystem::path root_ = "/usr/share/datasets/fashion-mnist";
  bool train_ = true;
  bool rgb_ = true;
  /// Folder with train-images-idx3-ubyte.gz etc.
  FashionMNISTOptions& root(std::filesystem::path p) { root_ = std::move(p); return *this; }
  /// The 60000 training images (true) or the 10000 test images (false).
  FashionMNISTOptions& train(bool t) { train_ = t; return *this; }
  /// Replicate grey to 3 channels (default true, what pretrained backbones want).
  FashionMNISTOptions& rgb(bool r) { rgb_ = r; return *this; }
};

class FashionMNIST : public Dataset {
 public:
  explicit FashionMNIST(const FashionMNISTOptions& options = {}) : rgb_(options.rgb_) {
    const std::string prefix = options.train_ ? "train" : "t10k";
    const auto img_path = options.root_ / (prefix + "-images-idx3-ubyte.gz");
    const auto lbl_path = options.root_ / (prefix + "-labels-idx1-ubyte.gz");
    auto images = detail::read_idx_gzip(img_path);
    auto labels = detail::read_idx_gzip(lbl_path);
    if (images.dims.size() != 3 || labels.dims.size() != 1 || images.dims[0] != labels.dims[0])
      throw Error("'" + img_path.string() + "' and '" + lbl_path.string() + "' do not hold N images and N labels");
    images_ = images.values.view(images.dims);
    labels_ = labels.values.to(torch::kLong);
    for (int64_t i = 0; i < labels_.size(0); ++i)
      if (labels_.data_ptr<int64_t>()[i] > 9) throw Error("'" + lbl_path.string() + "': label above 9 at index " + std::to_string(i));
  }
  size_t size() const override { return size_t(labels_.size(0)); }
  torch::Tensor image(size_t i, const io::ImageReadOptions& = {}) const override {
    check_index(i);
    auto g = images_[int64_t(i)].unsqueeze(2);
    return rgb_ ? g.expand({-1, -1, 3}).contiguous() : g;
  }
  int64_t label(size_t i) const override {
    check_index(i);
    return labels_.data_ptr<int64_t>()[i];
  }
  std::vector<std::string> classes() const override {
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  }
  /// All images, (N, 28, 28) uint8, and labels, (N) int64.
  const torch::Tensor& images() const { return images_; }
  const torch::Tensor& labels_tensor() const { return labels_; }

 private:
  torch::Tensor images_, labels_;
  bool rgb_;
};

}  // namespace tlearn::data
