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

std::string to_string(Preprocessing p);

/// Parses "identity", "caffe", "tf" or "torch" (Keras' `mode` names).
Preprocessing preprocessing_from_string(const std::string& name);

namespace detail {
torch::Tensor channel_vector(const torch::Tensor& x, std::initializer_list<float> v);
}  // namespace detail

/// Applies `policy` to `x` (CHW or NCHW, floating point, RGB, 0..255). Returns a new tensor.
torch::Tensor preprocess_input(const torch::Tensor& x, Preprocessing policy);

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
