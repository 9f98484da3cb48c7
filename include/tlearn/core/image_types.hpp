#pragma once
/// \file
/// The words about images that weights, models, transforms and pixel kernels share:
/// how a set of weights wants its input scaled (`Preprocessing`), resized and
/// cropped (`EvalTransformSpec`, `Interpolation`), and what fills pixels an
/// affine warp maps outside the image (`FillMode`). Declarations only, no tensors:
/// a model header includes this, never the image code that uses it.

#include <array>
#include <cstdint>
#include <string>

namespace tlearn {

/// One of Keras' `preprocess_input` modes, or any per-channel mean and std (timm's
/// pretrained_cfg). `Preprocessing p = Preprocessing::Caffe;` reads as an enum.
/// Applied by `preprocess_input` (tlearn/data/preprocess.hpp).
class Preprocessing {
 public:
  enum Mode {
    Identity,  ///< leave 0..255 as is
    Caffe,     ///< RGB to BGR, subtract the ImageNet mean [103.939, 116.779, 123.68] (BGR); Keras VGG/ResNet
    TF,        ///< x / 127.5 - 1, to [-1, 1]; Keras MobileNet/Inception
    Torch,     ///< x / 255, then (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]; torchvision
    MeanStd,   ///< x / 255, then (x - mean()) / stddev(): Preprocessing::mean_std(...)
  };
  Preprocessing(Mode mode = Torch) : mode_(mode) {}  // NOLINT: implicit, so the modes read as values

  /// (x / 255 - mean) / std per RGB channel, e.g. CLIP's
  /// mean_std({0.4815, 0.4578, 0.4082}, {0.2686, 0.2613, 0.2758}).
  static Preprocessing mean_std(std::array<float, 3> mean, std::array<float, 3> stddev);

  Mode mode() const { return mode_; }
  /// The mean and std on 0..1 inputs: MeanStd's own, Torch's and TF's equivalents;
  /// Identity and Caffe have none (Error).
  std::array<float, 3> mean() const;
  std::array<float, 3> stddev() const;

  friend bool operator==(const Preprocessing& a, const Preprocessing& b) {
    return a.mode_ == b.mode_ && (a.mode_ != MeanStd || (a.mean_ == b.mean_ && a.stddev_ == b.stddev_));
  }
  friend bool operator!=(const Preprocessing& a, const Preprocessing& b) { return !(a == b); }

 private:
  Mode mode_;
  std::array<float, 3> mean_{}, stddev_{};
};

/// "identity", "caffe", "tf", "torch", or "mean_std(m0, m1, m2 / s0, s1, s2)".
std::string to_string(const Preprocessing& p);

/// Parses what to_string writes ("identity", "caffe", "tf", "torch" are Keras' `mode` names).
Preprocessing preprocessing_from_string(const std::string& name);

/// The resampling filter of a resize (PIL's, antialiased when shrinking).
enum class Interpolation { Nearest, Bilinear, Bicubic, Area };

/// How a set of weights wants a photo turned into a tensor before `preprocess_input`:
/// resize the shorter side to `resize_size`, center-crop `crop_size` (torchvision's
/// ImageClassification transform).
struct EvalTransformSpec {
  int64_t resize_size = 256;
  int64_t crop_size = 224;
  Interpolation interpolation = Interpolation::Bilinear;
};

/// What to do with output pixels that map outside the input (Keras `fill_mode`).
enum class FillMode {
  Nearest,   ///< aaaaaaaa|abcd|dddddddd
  Constant,  ///< kkkkkkkk|abcd|kkkkkkkk (k = the fill value)
  Reflect,   ///< abcddcba|abcd|dcbaabcd
  Wrap,      ///< abcdabcd|abcd|abcdabcd
};

}  // namespace tlearn
