#pragma once
/// \file
/// A Classifier (a Keras Applications backbone with tlearn's Head) back to Keras,
/// as the one Keras model a Keras user builds for transfer learning:
///
///     model = keras.Sequential([
///         keras.applications.VGG16(weights=None, include_top=False, input_shape=(150, 150, 3)),
///         keras.layers.Flatten(),                      # HeadOptions().flatten(true); else GlobalAveragePooling2D()
///         keras.layers.Dense(256, activation="relu"),  # hidden({256}): dense1, dense2, ... in order
///         keras.layers.Dropout(0.5),                   # dropout(0.5)
///         keras.layers.Dense(1, activation="sigmoid"), # classes(1): fc
///     ])
///     model.load_weights("tuned.weights.h5")
///
/// The file is a Keras 3 .weights.h5: the backbone's layers under
/// "layers/functional/" (Keras 3's path for a nested functional model, its
/// layers named as save_keras_weights names them), then the Head's Dense layers
/// as "layers/dense", "layers/dense_1", ... (hidden ones first, the output last),
/// the first Dense after a Flatten with its inputs in Keras' (H, W, C) order.
/// Pooling, activations and dropout hold no weights, so Keras may build them as it
/// likes; the Dense widths and the backbone must match.

#include <filesystem>

#include "tlearn/heads/head.hpp"

namespace tlearn {

/// Saves `model` (its backbone a Keras-named family: keras.VGG16, keras.Xception, ...)
/// for Keras' load_weights on the Sequential model above.
void save_keras_weights(ClassifierImpl& model, const std::filesystem::path& path);

}  // namespace tlearn
