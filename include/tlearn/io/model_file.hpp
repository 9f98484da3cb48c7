#pragma once
/// \file
/// Whole models in one file, Keras' model.save / load_model: the weights as
/// safetensors (torchvision's key names, so PyTorch reads them too) and, in its
/// metadata, what rebuilds the model without the code that made it: the
/// architecture, BackboneOptions, HeadOptions or the segmentation layout, the
/// class names, which layers were frozen, the preprocessing and eval transform.
///
///     tl::save_model(model, "flowers.safetensors");
///     auto model = tl::load_model<tl::Classifier>("flowers.safetensors");
///     auto probs = model->predict(images);
///
/// A file written by another tlearn version with other options, or with weights
/// that no longer fit the architecture, is refused with the reason; nothing loads
/// half-way.

#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

#include "tlearn/core/image_types.hpp"
#include "tlearn/heads/head.hpp"
#include "tlearn/heads/segmentation.hpp"
#include "tlearn/models/create.hpp"

namespace tlearn {

/// The model description save_model writes, readable without building the model.
struct SavedModelInfo {
  /// "backbone", "classifier" or "segmentation".
  std::string kind;
  /// The registered architecture of the backbone ("resnet50").
  std::string architecture;
  /// Names of the outputs (HeadOptions / SegmentationModelOptions class_names); may be empty.
  std::vector<std::string> class_names;
  Preprocessing preprocessing = Preprocessing::Torch;
  EvalTransformSpec eval_transform;
  /// The whole description as JSON (the file's "tlearn.model" metadata).
  std::string json;
};

/// Writes weights and description (to a temporary file, then renamed).
void save_model(const AnyBackbone& model, const std::filesystem::path& path);
void save_model(const Classifier& model, const std::filesystem::path& path);
void save_model(const SegmentationModel& model, const std::filesystem::path& path);

/// The description of a file save_model wrote.
SavedModelInfo read_model_info(const std::filesystem::path& path);

/// Rebuilds the model a file holds and loads its weights: M is AnyBackbone,
/// Classifier or SegmentationModel, the kind that was saved. Layers frozen when
/// saved are frozen again; the model is in training mode, as a new one is.
template <class M>
M load_model(const std::filesystem::path& path) {
  static_assert(sizeof(M) == 0, "load_model<M>: M is AnyBackbone, Classifier or SegmentationModel");
  (void)path;
}

template <>
AnyBackbone load_model<AnyBackbone>(const std::filesystem::path& path);
template <>
Classifier load_model<Classifier>(const std::filesystem::path& path);
template <>
SegmentationModel load_model<SegmentationModel>(const std::filesystem::path& path);

}  // namespace tlearn
