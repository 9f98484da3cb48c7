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

#include "tlearn/data/dataset.hpp"

namespace tlearn::data {

namespace detail {
/// Reads a whole gzip file.
std::vector<uint8_t> read_gzip(const std::filesystem::path& path);

inline uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }

/// Parses an IDX file of unsigned bytes: returns the dimensions, `data` points at the values.
inline std::vector<int64_t> parse_idx(const std::vector<uint8_t>& bytes, const std::string& name, size_t& offset) {
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08)
    throw Error("'" + name + "' is not an IDX file of unsigned bytes (bad magic number)");
  const int nd = bytes[3];
  if (nd < 1 || bytes.size() < size_t(4 + 4 * nd)) throw Error("'" + name + "': truncated IDX header");
  std::vector<int64_t> dims;
  int64_t total = 1;
  for (int d = 0; d < nd; ++d) {
    dims.push_back(be32(bytes.data() + 4 + 4 * d));
    total *= dims.back();
  }
  offset = size_t(4 + 4 * nd);
  if (bytes.size() - offset < size_t(total))
    throw Error("'" + name + "': truncated IDX file (" + std::to_string(bytes.size() - offset) + " bytes of data, " +
                std::to_string(total) + " expected)");
  return dims;
}
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
    auto ib = detail::read_gzip(img_path);
    auto lb = detail::read_gzip(lbl_path);
    size_t io = 0, lo = 0;
    auto idims = detail::parse_idx(ib, img_path.string(), io);
    auto ldims = detail::parse_idx(lb, lbl_path.string(), lo);
    if (idims.size() != 3 || ldims.size() != 1 || idims[0] != ldims[0])
      throw Error("'" + img_path.string() + "' and '" + lbl_path.string() + "' do not hold N images and N labels");
    images_ = torch::from_blob(ib.data() + io, {idims[0], idims[1], idims[2]}, torch::kUInt8).clone();
    labels_ = torch::from_blob(lb.data() + lo, {ldims[0]}, torch::kUInt8).to(torch::kLong);
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
