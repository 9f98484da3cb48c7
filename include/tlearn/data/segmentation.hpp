#pragma once
/// \file
/// Segmentation data: (image, mask) pairs, and augmentation that moves the mask
/// with the image. The geometry comes from a TrainTransform (one affine matrix
/// per sample); the image is sampled bilinearly as usual, the mask with nearest
/// neighbours from the same matrix, so class indices never blend.
///
///     auto data = tlearn::data::SegmentationFolder("pets");  // pets/images/x.jpg + pets/masks/x.png
///     auto aug = tlearn::data::SegmentationTransform(
///         tlearn::data::TrainTransform().size({128, 128}).flip().rotate(15).zoom(0.1));
///     auto batch = tlearn::data::make_batch(data, {0, 1, 2, 3}, aug, /*seed=*/epoch);

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/data/augment.hpp"
#include "tlearn/io/image.hpp"

namespace tlearn::data {

/// One sample: the image (HWC uint8 as stored in files, or CHW float 0..255) and
/// its mask (H, W) int64 of class indices.
struct SegmentationExample {
  torch::Tensor image;
  torch::Tensor mask;
};

/// A batch: images (N, C, H, W) float, masks (N, H, W) int64.
struct SegmentationBatch {
  torch::Tensor images;
  torch::Tensor masks;
};

/// The interface of segmentation data sets; get() must be safe to call from several threads.
class SegmentationDataset {
 public:
  virtual ~SegmentationDataset() = default;
  virtual size_t size() const = 0;
  virtual SegmentationExample get(size_t i) const = 0;
};

/// Samples held in memory: images (N, C, H, W) float 0..255 and masks (N, H, W).
class SegmentationTensors : public SegmentationDataset {
 public:
  SegmentationTensors(torch::Tensor images, torch::Tensor masks) : images_(std::move(images)), masks_(std::move(masks)) {
    if (images_.dim() != 4 || masks_.dim() != 3 || images_.size(0) != masks_.size(0) || images_.size(2) != masks_.size(1) ||
        images_.size(3) != masks_.size(2)) {
      std::ostringstream msg;
      msg << "SegmentationTensors: expected images (N, C, H, W) and masks (N, H, W) with matching N, H, W, got "
          << images_.sizes() << " and " << masks_.sizes();
      throw Error(msg.str());
    }
    images_ = images_.to(torch::kFloat);
    masks_ = masks_.to(torch::kLong);
  }
  size_t size() const override { return size_t(images_.size(0)); }
  SegmentationExample get(size_t i) const override {
    if (i >= size()) throw Error("SegmentationTensors: index " + std::to_string(i) + " is past the end (" + std::to_string(size()) + " samples)");
    return {images_[int64_t(i)], masks_[int64_t(i)]};
  }

 private:
  torch::Tensor images_, masks_;
};

/// Reads a mask file: a grayscale (or RGB with equal channels) PNG whose pixel
/// values are class indices. Returns (H, W) int64.
inline torch::Tensor read_mask(const std::filesystem::path& path) {
  auto hwc = io::read_image(path, io::ImageReadOptions().alpha_mode(io::Alpha::Drop));
  auto first = hwc.select(2, 0);
  if (hwc.size(2) > 1 && !(hwc.select(2, 1).equal(first) && hwc.select(2, 2).equal(first)))
    throw Error("read_mask('" + path.string() + "'): the mask has colours; store class indices as a grayscale PNG "
                "(pixel value = class index)");
  return first.to(torch::kLong).contiguous();
}

/// Writes a mask (H, W) of class indices as a grayscale PNG; `scale` multiplies the
/// values (e.g. 255 / (classes - 1) to look at it; 1 keeps it readable by read_mask).
inline void write_mask(const torch::Tensor& mask, const std::filesystem::path& path, int64_t scale = 1) {
  if (mask.dim() != 2) {
    std::ostringstream msg;
    msg << "write_mask('" << path.string() << "'): expected an (H, W) mask, got shape " << mask.sizes();
    throw Error(msg.str());
  }
  io::write_png((mask.detach().to(torch::kCPU).to(torch::kLong) * scale).clamp(0, 255).to(torch::kUInt8), path);
}

/// root/images/<stem>.<jpg|png|...> with root/masks/<stem>.png (names as Oxford-IIIT
/// Pet's trimaps or Keras' segmentation tutorial lay them out). Folder names can be changed.
class SegmentationFolder : public SegmentationDataset {
 public:
  explicit SegmentationFolder(const std::filesystem::path& root, const std::string& images = "images",
                              const std::string& masks = "masks") {
    namespace fs = std::filesystem;
    const auto image_dir = root / images, mask_dir = root / masks;
    for (const auto& dir : {image_dir, mask_dir})
      if (!fs::is_directory(dir))
        throw Error("SegmentationFolder: '" + dir.string() + "' is not a folder; expected " + (root / images).string() +
                    "/<name>.<jpg|png> and " + (root / masks).string() + "/<name>.png");
    const std::set<std::string> extensions{".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tga", ".ppm", ".pgm", ".pnm"};
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(image_dir)) {
      auto ext = e.path().extension().string();
      std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
      if (e.is_regular_file() && extensions.count(ext)) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      auto mask = mask_dir / (f.stem().string() + ".png");
      if (!fs::exists(mask))
        throw Error("SegmentationFolder: image '" + f.string() + "' has no mask; expected '" + mask.string() + "'");
      samples_.emplace_back(f, mask);
    }
    if (samples_.empty()) throw Error("SegmentationFolder: no images in '" + image_dir.string() + "'");
  }

  size_t size() const override { return samples_.size(); }
  SegmentationExample get(size_t i) const override {
    if (i >= size()) throw Error("SegmentationFolder: index " + std::to_string(i) + " is past the end (" + std::to_string(size()) + " samples)");
    auto image = io::read_image(samples_[i].first);
    auto mask = read_mask(samples_[i].second);
    if (image.size(0) != mask.size(0) || image.size(1) != mask.size(1)) {
      std::ostringstream msg;
      msg << "SegmentationFolder: '" << samples_[i].second.string() << "' is " << mask.size(1) << "x" << mask.size(0)
          << " but its image is " << image.size(1) << "x" << image.size(0) << "; a mask must have its image's size";
      throw Error(msg.str());
    }
    return {image, mask};
  }
  const std::vector<std::pair<std::filesystem::path, std::filesystem::path>>& samples() const { return samples_; }

 private:
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> samples_;
};

/// Augments image and mask together: any TrainTransform (size, flips, rotation,
/// zoom, shift, shear, random resized crop, colour) for the image; the same
/// geometric map, nearest-neighbour, for the mask. Pixels that come from outside
/// the image take `mask_fill`: FillMode::Nearest (the TrainTransform default)
/// repeats the edge; with Constant they become `mask_value` (e.g. an ignore index).
class SegmentationTransform {
 public:
  explicit SegmentationTransform(TrainTransform transform = {}) : transform_(std::move(transform)) {}

  /// How mask pixels outside the source are filled; match the TrainTransform's fill_mode.
  SegmentationTransform& mask_fill(FillMode mode, int64_t value = 0) {
    fill_ = mode;
    value_ = value;
    return *this;
  }

  /// (image, mask) to (CHW float image, (H, W) int64 mask), with the randomness of `seed`.
  SegmentationExample operator()(const SegmentationExample& example, uint64_t seed = 0) const {
    auto [h, w] = tlearn::detail::image_hw(example.image);
    if (example.mask.dim() != 2 || example.mask.size(0) != h || example.mask.size(1) != w) {
      std::ostringstream msg;
      msg << "SegmentationTransform: the mask has shape " << example.mask.sizes() << " but the image is " << h << "x"
          << w << " (H x W); a mask must be (H, W) of its image";
      throw Error(msg.str());
    }
    const auto params = transform_.sample(h, w, seed);
    auto image = transform_.apply(example.image, params);
    const Eigen::Matrix3d m = transform_.matrix(h, w, params);
    return {image, warp_mask(example.mask, m, image.size(1), image.size(2))};
  }

  const TrainTransform& transform() const { return transform_; }

 private:
  /// Nearest-neighbour sampling of the mask at the affine map's source pixel centres.
  torch::Tensor warp_mask(const torch::Tensor& mask, const Eigen::Matrix3d& m, int64_t oh, int64_t ow) const {
    auto src = mask.to(torch::kCPU).to(torch::kLong).contiguous();
    const int64_t h = src.size(0), w = src.size(1);
    const int64_t* s = src.data_ptr<int64_t>();
    auto out = torch::empty({oh, ow}, torch::kLong);
    int64_t* d = out.data_ptr<int64_t>();
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        const double xi = m(0, 0) * double(x) + m(0, 1) * double(y) + m(0, 2);
        const double yi = m(1, 0) * double(x) + m(1, 1) * double(y) + m(1, 2);
        int64_t ix = -1, iy = -1;
        if (std::fabs(xi) < 1e9 && std::fabs(yi) < 1e9) {
          ix = tlearn::detail::fill_index(std::llround(xi), w, fill_);
          iy = tlearn::detail::fill_index(std::llround(yi), h, fill_);
        }
        d[y * ow + x] = (ix < 0 || iy < 0) ? value_ : s[iy * w + ix];
      }
    return out;
  }

  TrainTransform transform_;
  FillMode fill_ = FillMode::Nearest;
  int64_t value_ = 0;
};

/// Augmented samples `indices` of `dataset` stacked into a batch; sample i of the
/// batch uses the seed (seed, indices[i]), so a batch is reproducible.
inline SegmentationBatch make_batch(const SegmentationDataset& dataset, const std::vector<size_t>& indices,
                                    const SegmentationTransform& transform = SegmentationTransform(), uint64_t seed = 0) {
  if (indices.empty()) throw Error("make_batch: no indices; pass at least one sample index");
  std::vector<torch::Tensor> images, masks;
  for (auto i : indices) {
    auto e = transform(dataset.get(i), seed * 0x9E3779B97F4A7C15ull + i);
    if (!images.empty() && (e.image.sizes() != images[0].sizes())) {
      std::ostringstream msg;
      msg << "make_batch: sample " << i << " is " << e.image.sizes() << " but sample " << indices[0] << " is "
          << images[0].sizes() << "; give the TrainTransform a size({H, W}) so that samples stack";
      throw Error(msg.str());
    }
    images.push_back(e.image);
    masks.push_back(e.mask);
  }
  return {torch::stack(images), torch::stack(masks)};
}

/// The sample indices of one epoch in batches of `batch_size` (shuffled with `seed`
/// when `shuffle`; the last batch may be smaller).
inline std::vector<std::vector<size_t>> batch_indices(size_t n, size_t batch_size, uint64_t seed = 0, bool shuffle = true) {
  if (batch_size == 0) throw Error("batch_indices: batch_size must be at least 1");
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  if (shuffle) {
    std::mt19937_64 rng(seed);
    for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[size_t(rng() % i)]);
  }
  std::vector<std::vector<size_t>> out;
  for (size_t i = 0; i < n; i += batch_size)
    out.emplace_back(order.begin() + long(i), order.begin() + long(std::min(n, i + batch_size)));
  return out;
}

}  // namespace tlearn::data
