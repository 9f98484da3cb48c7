#pragma once
/// \file
/// Keras weight files, read in C++ (HDF5 through tlearn's own bounded reader,
/// detail/hdf5.hpp) and written (through libhdf5):
///
/// - the legacy HDF5 layout of Keras 2 `save_weights("x.h5")` and of full-model
///   `x.h5` files (a `model_weights` group), which is also the layout of the
///   official Keras Applications files (vgg16_weights_tf_dim_ordering_tf_kernels.h5 ...):
///   layers in the order of the `layer_names` attribute, weights named by
///   `weight_names` ("kernel", "bias", "gamma", ...; a ":0" suffix is dropped);
/// - Keras 3 `.weights.h5` files: `layers/<path>/vars/<i>`, the layer's name in the
///   `name` attribute of its `vars` group, weights named by index ("0", "1", ...);
/// - Keras 3 `.keras` archives: the `model.weights.h5` inside them.
///
/// Tensors keep Keras' layouts (HWIO kernels, (in, out) Dense kernels): converting
/// them into a model, and a model back into them, is models/keras_weights.hpp's job.
///
///     for (const auto& layer : tlearn::io::load_keras_weights("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"))
///       std::cout << layer.name << ": " << layer.weights.size() << " weights\n";
///
/// Every structural problem (a missing attribute, a weight that is not a float
/// array, a truncated or damaged file) is an Error naming the file, the layer and
/// the weight. Writing needs libhdf5 (TLEARN_HAVE_HDF5); without it
/// save_keras_weights throws and says so.

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

namespace tlearn::io {

/// One weight as the file stores it: float32, Keras' layout.
struct KerasWeight {
  std::string name;  ///< "kernel", "bias", ... (legacy files) or "0", "1", ... (Keras 3)
  torch::Tensor value;
};

/// One Keras layer that has weights.
struct KerasLayer {
  std::string name;  ///< the layer's name in the Keras model ("block1_conv1")
  std::vector<KerasWeight> weights;
  /// Keras 3 files: the layer's group, named after its class ("layers/conv2d_3").
  std::string path;
};

/// True when the file is HDF5 (by its signature) or a zip archive holding
/// model.weights.h5 (a .keras file); false for anything else, never throws for
/// a readable file.
bool is_keras_file(const std::filesystem::path& path);

/// Every layer with weights, in the file's layer order (legacy files) or the
/// order of the groups (Keras 3, whose files do not record one).
std::vector<KerasLayer> load_keras_weights(const std::filesystem::path& path);

/// Writes a Keras 3 .weights.h5: for each layer the group `<layer.path>/vars` with its
/// weights as datasets "0", "1", ... in order and the layer's name as an attribute,
/// as Keras 3's save_weights lays them out. The file is built in memory and renamed
/// into place: an existing file is replaced only when the write succeeded.
void save_keras_weights(const std::vector<KerasLayer>& layers, const std::filesystem::path& path);

}  // namespace tlearn::io
