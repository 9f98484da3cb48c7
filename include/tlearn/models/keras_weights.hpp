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
/// `load_pretrained` calls it for any weights file that is_keras_file() accepts,
/// so `BackboneOptions().weights("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")`
/// loads Keras' own file.

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

}  // namespace tlearn
