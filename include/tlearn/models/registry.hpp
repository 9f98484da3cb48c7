#pragma once
/// \file
/// Model names known at run time, and the two ways to build a backbone:
///
///     tlearn::Backbone<tlearn::arch::ResNet50> a(opts);      // compile time, typed
///     auto b = tlearn::make_backbone("resnet50", opts);      // run time, type-erased
///
/// Both go through create_backbone(), which builds the modules and loads the
/// weights the options name. Families register each variant with one line.

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/core/layer_table.hpp"
#include "tlearn/models/backbone.hpp"
#include "tlearn/models/pretrained.hpp"
#include "tlearn/models/spec.hpp"

namespace tlearn {

using BackboneFactory = std::function<std::shared_ptr<BackboneImpl>(const ModelSpec&, const BackboneOptions&)>;

struct RegisteredModel {
  ModelSpec spec;
  BackboneFactory build;
};

namespace detail {
inline std::map<std::string, RegisteredModel>& model_registry() {
  static std::map<std::string, RegisteredModel> registry;
  return registry;
}

inline const RegisteredModel& registered_model(const std::string& name) {
  auto& registry = model_registry();
  auto it = registry.find(name);
  if (it != registry.end()) return it->second;
  std::vector<std::pair<size_t, std::string>> scored;
  for (const auto& [n, entry] : registry) scored.emplace_back(edit_distance(name, n), n);
  std::sort(scored.begin(), scored.end());
  std::string hint;
  for (size_t i = 0; i < std::min<size_t>(5, scored.size()); ++i) hint += (i ? ", " : "") + scored[i].second;
  throw Error("unknown model '" + name + "'; did you mean: " + hint + " (list_models() has them all)");
}
}  // namespace detail

/// Registers a model under spec.name; returns true so it can initialise an inline variable.
inline bool register_model(ModelSpec spec, BackboneFactory build) {
  auto name = spec.name;
  detail::model_registry()[name] = RegisteredModel{std::move(spec), std::move(build)};
  return true;
}

/// Registers a variant of family `Impl`, built as Impl(config, spec, options).
template <class Impl, class Config>
bool register_variant(ModelSpec spec, Config config) {
  return register_model(std::move(spec), [config](const ModelSpec& s, const BackboneOptions& o) {
    return std::static_pointer_cast<BackboneImpl>(std::make_shared<Impl>(config, s, o));
  });
}

/// The registered model names, sorted.
inline std::vector<std::string> list_models() {
  std::vector<std::string> names;
  for (const auto& [name, entry] : detail::model_registry()) names.push_back(name);
  return names;
}

/// The spec (sizes, weights, ...) of a registered model.
inline const ModelSpec& model_spec(const std::string& name) { return detail::registered_model(name).spec; }

/// Builds the registered model `name` and loads the weights `options` name.
inline std::shared_ptr<BackboneImpl> create_backbone(const std::string& name, const BackboneOptions& options = {}) {
  const auto& entry = detail::registered_model(name);
  auto model = entry.build(entry.spec, options);
  if (!options.weights().empty()) load_pretrained(*model);
  return model;
}

/// A backbone whose architecture is known only at run time.
class AnyBackbone : public torch::nn::ModuleHolder<BackboneImpl> {
 public:
  using torch::nn::ModuleHolder<BackboneImpl>::ModuleHolder;
};

/// Builds a backbone by name, e.g. make_backbone("mobilenet_v2", BackboneOptions().include_top(false)).
inline AnyBackbone make_backbone(const std::string& name, const BackboneOptions& options = {}) {
  return AnyBackbone(create_backbone(name, options));
}

/// A backbone whose architecture is a compile-time tag from tlearn::arch, e.g.
/// Backbone<arch::VGG16>. Its -> reaches the family's Impl; it converts to AnyBackbone.
template <class Arch>
class Backbone : public torch::nn::ModuleHolder<typename Arch::Impl> {
 public:
  using Impl = typename Arch::Impl;
  explicit Backbone(const BackboneOptions& options = {})
      : torch::nn::ModuleHolder<Impl>(std::dynamic_pointer_cast<Impl>(create_backbone(Arch::name, options))) {}
  operator AnyBackbone() const { return AnyBackbone(std::static_pointer_cast<BackboneImpl>(this->ptr())); }
};

}  // namespace tlearn
