#pragma once
/// \file
/// Model names known at run time. Each family ends with a table of its
/// variants (`resnet_variants()`, ...); register_builtin_models() adds them all,
/// the first time the registry is used, so what list_models() returns never
/// depends on which headers a file included. Your own variants join with
/// register_model(variant<Impl>(spec, config)).
///
/// Building a model by name is models/create.hpp.

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/spec.hpp"

namespace tlearn {

using BackboneFactory = std::function<std::shared_ptr<BackboneImpl>(const ModelSpec&, const BackboneOptions&)>;

/// One row of the registry: a name's spec and how to build its modules.
struct RegisteredModel {
  ModelSpec spec;
  BackboneFactory build;
  /// The family's module class (typeid(ResNetImpl), ...): what `build` returns,
  /// and what Backbone<arch::...> expects to find under that name.
  std::type_index impl = typeid(BackboneImpl);
};

/// A variant of family `Impl`, built as Impl(config, spec, options).
template <class Impl, class Config>
RegisteredModel variant(ModelSpec spec, Config config) {
  return {std::move(spec),
          [config](const ModelSpec& s, const BackboneOptions& o) {
            return std::static_pointer_cast<BackboneImpl>(std::make_shared<Impl>(config, s, o));
          },
          typeid(Impl)};
}

/// Adds (or replaces) the model `model.spec.name`; returns true so it can initialise a variable.
bool register_model(RegisteredModel model);

/// Registers a variant of family `Impl`, built as Impl(config, spec, options).
template <class Impl, class Config>
bool register_variant(ModelSpec spec, Config config) {
  return register_model(variant<Impl>(std::move(spec), std::move(config)));
}

/// The registered model names, sorted.
std::vector<std::string> list_models();

/// The spec (sizes, weights, ...) of a registered model.
const ModelSpec& model_spec(const std::string& name);

namespace detail {
/// The registry row of `name`; an unknown name is an Error that suggests the closest ones.
const RegisteredModel& registered_model(const std::string& name);
}  // namespace detail

}  // namespace tlearn
