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

  std::vector<torch::Tensor> parameters() const {
    std::vector<torch::Tensor> out;
    for (const auto& m : modules)
      for (auto& p : m->parameters()) out.push_back(p);
    return out;
  }

  int64_t parameter_count() const {
    int64_t n = 0;
    for (const auto& p : parameters()) n += p.numel();
    return n;
  }
};

namespace detail {
/// Levenshtein distance, for "did you mean" suggestions.
inline size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}
}  // namespace detail

class LayerTable {
 public:
  /// Appends a layer. `modules` hold its parameters (none for activations, pools, adds).
  Layer& add(std::string name, std::string kind,
             std::vector<std::shared_ptr<torch::nn::Module>> modules = {}, std::string alias = "") {
    if (find(name))
      throw Error("layer table: duplicate layer name '" + name + "' (a model bug: each tap name must be unique)");
    layers_.push_back(Layer{std::move(name), std::move(alias), std::move(kind), std::move(modules), true});
    return layers_.back();
  }

  /// Gives the layer `name` the Keras alias `alias`.
  void set_alias(const std::string& name, std::string alias) { layers_.at(index_of(name)).alias = std::move(alias); }

  size_t size() const { return layers_.size(); }
  bool empty() const { return layers_.empty(); }
  Layer& operator[](size_t i) { return layers_.at(i); }
  const Layer& operator[](size_t i) const { return layers_.at(i); }
  auto begin() const { return layers_.begin(); }
  auto end() const { return layers_.end(); }

  /// Index of the layer whose name or alias is `name_or_alias`, if any.
  std::optional<size_t> find(const std::string& name_or_alias) const {
    for (size_t i = 0; i < layers_.size(); ++i)
      if (layers_[i].name == name_or_alias || (!layers_[i].alias.empty() && layers_[i].alias == name_or_alias))
        return i;
    return std::nullopt;
  }

  /// Like find(), but an unknown name is an Error that lists the closest names.
  size_t index_of(const std::string& name_or_alias) const {
    if (auto i = find(name_or_alias)) return *i;
    throw Error("no layer named '" + name_or_alias + "'" + suggestions(name_or_alias) +
                " (layers() lists every name and Keras alias)");
  }

  /// ", did you mean: a, b, c" — the few names or aliases closest to `wrong`.
  std::string suggestions(const std::string& wrong, size_t how_many = 5) const {
    std::vector<std::pair<size_t, std::string>> scored;
    for (const auto& l : layers_) {
      scored.emplace_back(detail::edit_distance(wrong, l.name), l.name);
      if (!l.alias.empty()) scored.emplace_back(detail::edit_distance(wrong, l.alias), l.alias);
    }
    std::sort(scored.begin(), scored.end());
    std::string out;
    for (size_t i = 0; i < std::min(how_many, scored.size()); ++i) out += (i ? ", " : "; did you mean: ") + scored[i].second;
    return out;
  }

  std::vector<LayerInfo> info() const {
    std::vector<LayerInfo> out;
    for (size_t i = 0; i < layers_.size(); ++i) {
      const auto& l = layers_[i];
      out.push_back({i, l.name, l.alias, l.kind, l.parameter_count(), l.trainable});
    }
    return out;
  }

 private:
  std::vector<Layer> layers_;
};

}  // namespace tlearn
