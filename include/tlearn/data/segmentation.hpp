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
#include <type_traits>
#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/data/augment.hpp"
#include "tlearn/data/loader.hpp"
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
  SegmentationTensors(torch::Tensor images, torch::Tensor masks);
  size_t size() const override { return size_t(images_.size(0)); }
  SegmentationExample get(size_t i) const override;

 private:
  torch::Tensor images_, masks_;
};

/// Reads a mask file: a grayscale (or RGB with equal channels) PNG whose pixel
/// values are class indices. Returns (H, W) int64.
torch::Tensor read_mask(const std::filesystem::path& path);

/// Writes a mask (H, W) of class indices as a grayscale PNG; `scale` multiplies the
/// values (e.g. 255 / (classes - 1) to look at it; 1 keeps it readable by read_mask).
void write_mask(const torch::Tensor& mask, const std::filesystem::path& path, int64_t scale = 1);

/// root/images/<stem>.<jpg|png|...> with root/masks/<stem>.png (names as Oxford-IIIT
/// Pet's trimaps or Keras' segmentation tutorial lay them out). Folder names can be changed.
class SegmentationFolder : public SegmentationDataset {
 public:
  explicit SegmentationFolder(const std::filesystem::path& root, const std::string& images = "images",
                              const std::string& masks = "masks");

  size_t size() const override { return samples_.size(); }
  SegmentationExample get(size_t i) const override;
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
  SegmentationTransform& mask_fill(FillMode mode, int64_t value = 0);

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
    const auto m = transform_.matrix(h, w, params);  // row-major 3x3
    return {image, warp_mask(example.mask, m, image.size(1), image.size(2))};
  }

  const TrainTransform& transform() const { return transform_; }

 private:
  /// Nearest-neighbour sampling of the mask at the affine map's source pixel centres.
  torch::Tensor warp_mask(const torch::Tensor& mask, const std::array<double, 9>& m, int64_t oh, int64_t ow) const;

  TrainTransform transform_;
  FillMode fill_ = FillMode::Nearest;
  int64_t value_ = 0;
};

/// A multi-threaded loader of augmented (image, mask) batches for Trainer::fit:
/// `.images` (N, C, H, W) float and `.labels` the masks (N, H, W) int64. Shuffling,
/// seeding and worker-count independence as tlearn::data::loader.
///
///     auto train = tlearn::data::segmentation_loader(SegmentationFolder("pets"), augment,
///                                                    tlearn::data::LoaderOptions().batch_size(16).workers(4));
///     trainer.fit(train, tlearn::FitOptions().epochs(10));
Loader segmentation_loader(std::shared_ptr<const SegmentationDataset> dataset,
                           SegmentationTransform transform = SegmentationTransform(), LoaderOptions options = {});
template <class D, class = std::enable_if_t<std::is_base_of_v<SegmentationDataset, D>>>
Loader segmentation_loader(D dataset, SegmentationTransform transform = SegmentationTransform(),
                           LoaderOptions options = {}) {
  return segmentation_loader(std::make_shared<const D>(std::move(dataset)), std::move(transform), std::move(options));
}

/// Augmented samples `indices` of `dataset` stacked into a batch; sample i of the
/// batch uses the seed (seed, indices[i]), so a batch is reproducible.
SegmentationBatch make_batch(const SegmentationDataset& dataset, const std::vector<size_t>& indices,
                             const SegmentationTransform& transform = SegmentationTransform(), uint64_t seed = 0);

/// The sample indices of one epoch in batches of `batch_size` (shuffled with `seed`
/// when `shuffle`; the last batch may be smaller).
std::vector<std::vector<size_t>> batch_indices(size_t n, size_t batch_size, uint64_t seed = 0, bool shuffle = true);

}  // namespace tlearn::data
