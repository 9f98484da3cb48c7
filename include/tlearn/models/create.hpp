#pragma once
/// \file
/// The two ways to build a backbone:
///
///     tlearn::Backbone<tlearn::arch::ResNet50> a(opts);      // compile time, typed
///     auto b = tlearn::make_backbone("resnet50", opts);      // run time, type-erased
///
/// Both go through create_backbone(), which builds the modules from the
/// registry and loads the weights the options name (models/pretrained.hpp).

#include <torch/torch.h>

#include <memory>
#include <string>

#include "tlearn/models/backbone.hpp"

namespace tlearn {

/// Builds the registered model `name` and loads the weights `options` name.
std::shared_ptr<BackboneImpl> create_backbone(const std::string& name, const BackboneOptions& options = {});

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
