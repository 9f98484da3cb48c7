#pragma once
/// \file
/// Random augmentation for training, Keras ImageDataGenerator style, deterministic
/// under a seed. Geometric steps (resize, random resized crop, flips, rotation,
/// zoom, shift, shear) compose into one affine matrix that is sampled once with
/// bilinear interpolation; a shrinking map first gets an antialiased (PIL)
/// resize so that nothing aliases. Colour steps follow.
///
///     auto t = tlearn::data::TrainTransform().size({224, 224}).flip().rotate(20).zoom(0.1);
///     torch::Tensor x = t(tlearn::io::read_image("cat.jpg"), /*seed=*/42);

#include <torch/torch.h>

#include <array>
#include <cmath>
#include <optional>
#include <random>
#include <utility>

#include "tlearn/data/auto_augment.hpp"
#include "tlearn/data/transforms.hpp"
#include "tlearn/detail/random.hpp"

namespace tlearn::data {

class Dataset;

/// The random numbers behind one augmented image (exposed for tests and logs).
struct AugmentParams {
  bool hflip = false, vflip = false;
  double rotation = 0, shear = 0;          // degrees
  double zoom_x = 1, zoom_y = 1;           // > 1 shows more of the image (Keras)
  double shift_x = 0, shift_y = 0;         // pixels of the output
  double brightness = 1, contrast = 1;     // factors
  double saturation = 1, hue = 0;          // factor; shift in turns of the colour wheel
  double channel_shift = 0;                // added to every channel (0..255 units)
  std::array<int64_t, 4> crop{0, 0, 0, 0};  // random resized crop box: top, left, height, width
  PolicySample policy;                      // auto_augment's steps
  EraseBox erase;                           // random_erasing's rectangle
};

class TrainTransform {
 public:
  TrainTransform() = default;

  /// Output size {H, W}: the whole image is resized to it (Keras `target_size`).
  TrainTransform& size(std::vector<int64_t> hw) { size_ = check(hw, "size"); rrc_ = false; return *this; }
  /// Random horizontal (and optionally vertical) flips, each with probability 1/2.
  TrainTransform& flip(bool horizontal = true, bool vertical = false) { hflip_ = horizontal; vflip_ = vertical; return *this; }
  /// Rotation by a uniform angle in [-degrees, degrees].
  TrainTransform& rotate(double degrees) { rotation_ = std::fabs(degrees); return *this; }
  /// Zoom factors drawn in [1 - range, 1 + range] independently for x and y (Keras `zoom_range`).
  TrainTransform& zoom(double range) { return zoom(1 - range, 1 + range); }
  TrainTransform& zoom(double lo, double hi) {
    if (!(lo > 0 && hi >= lo)) throw Error("TrainTransform::zoom: need 0 < lo <= hi, got " + std::to_string(lo) + ", " + std::to_string(hi));
    zoom_ = {lo, hi};
    return *this;
  }
  /// Shifts up to `width` / `height`: fractions of the output size when < 1, pixels otherwise.
  TrainTransform& shift(double width, double height) { shift_ = {std::fabs(width), std::fabs(height)}; return *this; }
  /// Shear angle in [-degrees, degrees] (Keras `shear_range`, counter-clockwise).
  TrainTransform& shear(double degrees) { shear_ = std::fabs(degrees); return *this; }
  /// Multiplies by a factor in [max(0, 1 - r), 1 + r] (torchvision ColorJitter brightness).
  TrainTransform& brightness(double r) { return brightness_range(std::max(0.0, 1 - std::fabs(r)), 1 + std::fabs(r)); }
  /// Multiplies by a factor in [lo, hi] (Keras `brightness_range`).
  TrainTransform& brightness_range(double lo, double hi) {
    if (!(lo >= 0 && hi >= lo))
      throw Error("TrainTransform::brightness_range: need 0 <= lo <= hi, got " + std::to_string(lo) + ", " + std::to_string(hi));
    brightness_ = {lo, hi};
    return *this;
  }
  /// Blends with the grey image by a factor in [max(0, 1 - r), 1 + r] (ColorJitter saturation).
  TrainTransform& saturation(double r) { saturation_ = std::fabs(r); return *this; }
  /// Rotates the hue by a fraction of the colour wheel in [-h, h], h <= 0.5 (ColorJitter hue).
  TrainTransform& hue(double h) {
    if (!(h >= 0 && h <= 0.5)) throw Error("TrainTransform::hue: need 0 <= h <= 0.5, got " + std::to_string(h));
    hue_ = h;
    return *this;
  }
  /// Adds one value in [-range, range] to every channel, clipped to the image's own
  /// range (Keras `channel_shift_range`, in 0..255 units).
  TrainTransform& channel_shift(double range) { channel_shift_ = std::fabs(range); return *this; }
  /// Multiplies by `factor` after augmenting (Keras `rescale`, e.g. 1.0 / 255).
  TrainTransform& rescale(double factor) { rescale_ = factor; return *this; }
  /// Subtracts the per-channel mean of the data (Keras `featurewise_center`); needs fit().
  TrainTransform& featurewise_center(bool on = true) { center_ = on; return *this; }
  /// Divides by the per-channel standard deviation of the data (Keras
  /// `featurewise_std_normalization`); needs fit().
  TrainTransform& featurewise_std_normalization(bool on = true) { normalize_ = on; return *this; }
  /// Keras' datagen.fit(x): the per-channel mean and standard deviation of up to
  /// `samples` images of `data` (evenly spread, resized to size(), rescaled, not augmented).
  TrainTransform& fit(const Dataset& data, int64_t samples = 1000);
  /// The statistics fit() found (empty before).
  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& std() const { return std_; }
  /// What validation data needs from this generator: the resize, rescale,
  /// featurewise statistics and preprocessing, without any randomness.
  Transform standardize() const;
  /// Blends with the mean grey by a factor in [max(0, 1 - r), 1 + r] (ColorJitter contrast).
  TrainTransform& contrast(double r) { contrast_ = std::fabs(r); return *this; }
  /// torchvision's RandomResizedCrop: a crop of `scale` of the area and `ratio` aspect, resized to `hw`.
  TrainTransform& random_resized_crop(std::vector<int64_t> hw, std::pair<double, double> scale = {0.08, 1.0},
                                      std::pair<double, double> ratio = {3.0 / 4.0, 4.0 / 3.0}) {
    if (!(scale.first > 0 && scale.second >= scale.first && ratio.first > 0 && ratio.second >= ratio.first))
      throw Error("TrainTransform::random_resized_crop: need 0 < scale.first <= scale.second and 0 < ratio.first <= ratio.second");
    size_ = check(hw, "random_resized_crop");
    rrc_ = true;
    scale_ = scale;
    ratio_ = ratio;
    return *this;
  }
  /// How pixels outside the image are filled (default Nearest, as Keras) and the Constant value.
  TrainTransform& fill_mode(FillMode mode, float value = 0.f) { fill_ = mode; cval_ = value; return *this; }
  /// The filter of the antialiasing resize (default bilinear).
  TrainTransform& interpolation(Interpolation f) { interp_ = f; return *this; }
  /// A `preprocess_input` policy applied after augmenting.
  TrainTransform& preprocessing(Preprocessing p) { policy_ = p; return *this; }
  /// An augmentation policy (RandAugment, TrivialAugmentWide, AutoAugment, AugMix;
  /// auto_augment.hpp) applied to the 8-bit image after the geometric and colour
  /// steps, as torchvision applies it after cropping and flipping.
  TrainTransform& auto_augment(AugmentPolicy p) { augment_ = std::move(p); return *this; }
  /// Random erasing of the finished (normalized) image, as torchvision's recipes do.
  TrainTransform& random_erasing(RandomErasingOptions o = {}) { erasing_ = std::move(o); erase_ = true; return *this; }

  /// The parameters drawn for an input of `h` x `w` pixels and a seed.
  AugmentParams sample(int64_t h, int64_t w, uint64_t seed) const;

  /// The 3x3 matrix (row-major) taking output pixel centres (x, y, 1) to input pixel centres.
  std::array<double, 9> matrix(int64_t h, int64_t w, const AugmentParams& p) const;

  /// Augments `image` (HWC uint8 or CHW float) with the randomness of `seed`; CHW float out.
  torch::Tensor operator()(const torch::Tensor& image, uint64_t seed = 0) const {
    auto [h, w] = tlearn::detail::image_hw(image);
    return apply(image, sample(h, w, seed));
  }

  /// Augments `image` with given parameters (e.g. from `sample`).
  torch::Tensor apply(const torch::Tensor& image, const AugmentParams& p) const;

  /// For `loader(...)` and `Transform::then`.
  operator Transform() const {  // NOLINT(google-explicit-constructor): builder reads naturally
    auto self = *this;
    io::ImageReadOptions read;
    if (!rrc_ && !size_.empty()) {  // a JPEG may be decoded smaller, keeping the resolution that zooming in needs
      const double z = std::min(1.0, zoom_.first);
      read.min_size({int64_t(std::ceil(double(size_[0]) / z)), int64_t(std::ceil(double(size_[1]) / z))});
    }
    return Transform([self](const torch::Tensor& x, uint64_t seed) { return self(x, seed); }, read);
  }

 private:
  /// Seeded numbers that are the same on every platform.
  using Rng = tlearn::detail::Rng;

  static std::vector<int64_t> check(std::vector<int64_t> hw, const char* what) {
    if (hw.size() == 1) hw.push_back(hw[0]);
    if (hw.size() != 2 || hw[0] <= 0 || hw[1] <= 0)
      throw Error(std::string("TrainTransform::") + what + ": size must be {height, width} with positive values");
    return hw;
  }

  std::pair<int64_t, int64_t> out_size(int64_t h, int64_t w) const {
    return size_.empty() ? std::pair<int64_t, int64_t>{h, w} : std::pair<int64_t, int64_t>{size_[0], size_[1]};
  }

  /// torchvision RandomResizedCrop.get_params.
  std::array<int64_t, 4> crop_box(int64_t h, int64_t w, Rng& rng) const;

  void color(torch::Tensor& x, const AugmentParams& p) const;
  /// rescale, featurewise statistics, preprocessing: the steps that are not random.
  torch::Tensor standardize(torch::Tensor x) const;

  std::vector<int64_t> size_;
  bool rrc_ = false;
  std::pair<double, double> scale_{0.08, 1.0}, ratio_{3.0 / 4.0, 4.0 / 3.0};
  bool hflip_ = false, vflip_ = false;
  double rotation_ = 0, shear_ = 0, contrast_ = 0, saturation_ = 0, hue_ = 0, channel_shift_ = 0;
  std::pair<double, double> brightness_{1, 1};
  double rescale_ = 1;
  bool center_ = false, normalize_ = false;
  std::vector<double> mean_, std_;
  std::pair<double, double> zoom_{1, 1}, shift_{0, 0};
  FillMode fill_ = FillMode::Nearest;
  float cval_ = 0.f;
  Interpolation interp_ = Interpolation::Bilinear;
  Preprocessing policy_ = Preprocessing::Identity;
  AugmentPolicy augment_;
  RandomErasingOptions erasing_;
  bool erase_ = false;
};

/// Shorthand for `TrainTransform()`.
inline TrainTransform train_transform() { return TrainTransform(); }

/// Augmentation to build on for a model: resize to its input_shape(), its weights'
/// preprocessing last, e.g. `data::train_transform(base).flip().rotate(20)`.
template <typename Model, typename = decltype(std::declval<const Model&>()->input_shape())>
TrainTransform train_transform(const Model& model) {
  return TrainTransform().size(model->input_shape()).preprocessing(model->preprocessing());
}

}  // namespace tlearn::data
