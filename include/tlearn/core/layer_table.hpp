#pragma once
/// \file
/// The layer table: the ordered list of a model's layers that selectors,
/// freezing, summary() and taps all address. Each entry is a torchvision module
/// path ("layer4.0.conv1"), optionally a Keras alias ("conv5_block1_1_conv"),
/// a kind ("Conv2d"), and the modules whose parameters belong to it.
/// Parameterless entries (input, activations, pools, adds) have no modules.

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tlearn/core/error.hpp"

namespace tlearn {

/// What `layers()` reports for one layer.
struct LayerInfo {
  size_t index = 0;
  std::string name;   ///< torchvision module path; also the tap name
  std::string alias;  ///< Keras name, or empty
  std::string kind;   ///< "Conv2d", "BatchNorm2d", "ReLU", "Add", ...
  int64_t params = 0;
  bool trainable = true;
};

/// One entry of the table.
struct Layer {
  std::string name;
  std::string alias;
  std::string kind;
  std::vector<std::shared_ptr<torch::nn::Module>> modules;
  bool trainable = true;
  /// Keras' class in snake case, where the module does not tell it: ConvNeXt's grouped
  /// "conv2d" (not a "depthwise_conv2d"), "layer_scale", a nested "sequential".
  std::string keras_class;
  /// A nested Keras Sequential (ConvNeXt's stem): its layers' names, one per module.
  std::vector<std::string> keras_sublayers;

  std::vector<torch::Tensor> parameters() const;

  int64_t parameter_count() const;
};

namespace detail {
/// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(const std::string& a, const std::string& b);
}  // namespace detail

class LayerTable {
 public:
  /// Appends a layer. `modules` hold its parameters (none for activations, pools, adds).
  Layer& add(std::string name, std::string kind, std::vector<std::shared_ptr<torch::nn::Module>> modules = {},
             std::string alias = "");

  /// Gives the layer `name` the Keras alias `alias`.
  void set_alias(const std::string& name, std::string alias) { layers_.at(index_of(name)).alias = std::move(alias); }

  /// Puts the rows in `order`, a permutation of their indices (row order[0] first).
  void reorder(const std::vector<size_t>& order);

  size_t size() const { return layers_.size(); }
  bool empty() const { return layers_.empty(); }
  Layer& operator[](size_t i) { return layers_.at(i); }
  const Layer& operator[](size_t i) const { return layers_.at(i); }
  auto begin() const { return layers_.begin(); }
  auto end() const { return layers_.end(); }

  /// Index of the layer whose name or alias is `name_or_alias`, if any.
  std::optional<size_t> find(const std::string& name_or_alias) const;

  /// Like find(), but an unknown name is an Error that lists the closest names.
  size_t index_of(const std::string& name_or_alias) const;

  /// ", did you mean: a, b, c" — the few names or aliases closest to `wrong`.
  std::string suggestions(const std::string& wrong, size_t how_many = 5) const;

  std::vector<LayerInfo> info() const;

 private:
  std::vector<Layer> layers_;
};

}  // namespace tlearn
