#pragma once
/// \file
/// Keras weights into a tlearn model, through the layer table's Keras aliases:
/// each Keras layer with weights fills the module of the row that carries its
/// name ("block1_conv1" is vgg16's "features.0"), converted from TensorFlow's
/// layouts to PyTorch's:
///
/// - Conv2D kernels (kh, kw, in, out) to (out, in, kh, kw); DepthwiseConv2D
///   kernels (kh, kw, in, multiplier) to (in * multiplier, 1, kh, kw);
/// - Dense kernels (in, out) transposed; the first Dense after a Flatten also has
///   its inputs reordered from Keras' (H, W, C) flattening to PyTorch's (C, H, W);
/// - BatchNormalization gamma / beta / moving_mean / moving_variance to weight /
///   bias / running_mean / running_var (a layer without gamma, scale=False, keeps
///   a weight of ones); LayerNormalization gamma / beta to weight / bias.
///
/// save_keras_weights() writes a model back the other way, for Keras' load_weights.
///
/// `load_pretrained` calls keras_state_dict() for any weights file that is_keras_file() accepts,
/// so `BackboneOptions().weights("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")`
/// loads Keras' own file.

#include <filesystem>
#include <string>
#include <vector>

#include "tlearn/io/keras.hpp"
#include "tlearn/io/state_dict.hpp"
#include "tlearn/models/backbone.hpp"

namespace tlearn {

/// `layers` (io::load_keras_weights) as a state dict of `model`'s keys and layouts.
/// Keras layers without a row of that name are an Error naming them, unless
/// `skip_unknown` (a file with a top loaded into a model built without one).
/// Every weight's shape is checked against the module it fills.
io::StateDict keras_state_dict(BackboneImpl& model, const std::vector<io::KerasLayer>& layers, bool skip_unknown);

/// The inverse: every Keras-named row with weights as a Keras layer in Keras' layouts,
/// with its Keras 3 path ("layers/conv2d_3": the Keras class in snake case, numbered
/// in model order, as Keras 3 names a model's layers in its files).
std::vector<io::KerasLayer> keras_layers(BackboneImpl& model);

/// Saves `model` as a Keras 3 .weights.h5 that Keras' `load_weights` accepts for the
/// same Keras Applications model (same include_top and classes):
/// `keras.applications.VGG16(weights=None, include_top=False).load_weights(path)`.
void save_keras_weights(BackboneImpl& model, const std::filesystem::path& path);

namespace detail {
/// Keras flattens an (H, W, C) map, PyTorch a (C, H, W) one: the kernel (out, C*H*W) of a
/// Dense after a Flatten, its inputs reordered from PyTorch's order to Keras' ...
torch::Tensor to_keras_flatten_order(const torch::Tensor& weight, int64_t channels, int64_t h, int64_t w);
/// ... and back.
torch::Tensor from_keras_flatten_order(const torch::Tensor& weight, int64_t channels, int64_t h, int64_t w);
}  // namespace detail

}  // namespace tlearn
