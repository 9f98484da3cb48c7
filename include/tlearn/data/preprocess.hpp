#pragma once
/// \file
/// `preprocess_input` policies: what a set of pretrained weights expects its
/// input to look like. Each works on CHW or NCHW float tensors holding 0..255.
///
///     auto x = tlearn::preprocess_input(image, tlearn::Preprocessing::Torch);

#include <torch/torch.h>

#include <sstream>
#include <string>

#include "tlearn/core/error.hpp"

namespace tlearn {

enum class Preprocessing {
  Identity,  ///< leave 0..255 as is
  Caffe,     ///< RGB to BGR, subtract the ImageNet mean [103.939, 116.779, 123.68] (BGR); Keras VGG/ResNet
  TF,        ///< x / 127.5 - 1, to [-1, 1]; Keras MobileNet/Inception
  Torch,     ///< x / 255, then (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]; torchvision
};

inline std::string to_string(Preprocessing p) {
  switch (p) {
    case Preprocessing::Identity: return "identity";
    case Preprocessing::Caffe: return "caffe";
    case Preprocessing::TF: return "tf";
    case Preprocessing::Torch: return "torch";
  }
  return "?";
}

/// Parses "identity", "caffe", "tf" or "torch" (Keras' `mode` names).
inline Preprocessing preprocessing_from_string(const std::string& name) {
  if (name == "identity" || name == "none") return Preprocessing::Identity;
  if (name == "caffe") return Preprocessing::Caffe;
  if (name == "tf") return Preprocessing::TF;
  if (name == "torch") return Preprocessing::Torch;
  throw Error("unknown preprocessing mode '" + name + "'; use one of identity, caffe, tf, torch");
}

namespace detail {
inline torch::Tensor channel_vector(const torch::Tensor& x, std::initializer_list<float> v) {
  // Shaped to broadcast over the channel axis of CHW or NCHW.
  auto t = torch::tensor(std::vector<float>(v), x.options());
  return x.dim() == 3 ? t.view({3, 1, 1}) : t.view({1, 3, 1, 1});
}
}  // namespace detail

/// Applies `policy` to `x` (CHW or NCHW, floating point, RGB, 0..255). Returns a new tensor.
inline torch::Tensor preprocess_input(const torch::Tensor& x, Preprocessing policy) {
  if (x.dim() != 3 && x.dim() != 4) {
    std::ostringstream msg;
    msg << "preprocess_input expects a CHW or NCHW image tensor, got shape " << x.sizes();
    throw Error(msg.str());
  }
  if (!x.is_floating_point())
    throw Error("preprocess_input expects a floating-point tensor holding 0..255; convert with .to(torch::kFloat)");
  const int64_t channel_dim = x.dim() - 3;
  if (policy != Preprocessing::Identity && policy != Preprocessing::TF && x.size(channel_dim) != 3) {
    std::ostringstream msg;
    msg << "preprocess_input(" << to_string(policy) << ") needs 3 RGB channels, got shape " << x.sizes();
    throw Error(msg.str());
  }
  switch (policy) {
    case Preprocessing::Identity:
      return x.clone();
    case Preprocessing::TF:
      return x / 127.5 - 1.0;
    case Preprocessing::Caffe:
      return x.flip({channel_dim}) - detail::channel_vector(x, {103.939f, 116.779f, 123.68f});
    case Preprocessing::Torch:
      return (x / 255.0 - detail::channel_vector(x, {0.485f, 0.456f, 0.406f})) /
             detail::channel_vector(x, {0.229f, 0.224f, 0.225f});
  }
  throw Error("preprocess_input: unknown policy");
}

/// How a set of weights wants a photo turned into a tensor before `preprocess_input`:
/// resize the shorter side to `resize_size`, center-crop `crop_size` (torchvision's
/// ImageClassification transform).
enum class Interpolation { Nearest, Bilinear, Bicubic, Area };

struct EvalTransformSpec {
  int64_t resize_size = 256;
  int64_t crop_size = 224;
  Interpolation interpolation = Interpolation::Bilinear;
};

}  // namespace tlearn
