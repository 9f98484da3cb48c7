#pragma once
/// \file
/// timm's weights and configs. The networks timm and tlearn share (ModelSpec::timm_name)
/// load timm's checkpoints, from the Hugging Face Hub or a folder, with the
/// preprocessing and eval transform their config.json names, and go back to timm
/// after fine-tuning:
///
///     auto model = tlearn::make_backbone("hf-hub:timm/resnet50.a1_in1k");
///     auto base = tlearn::make_backbone("convnext_tiny",
///         tlearn::BackboneOptions().weights("hf-hub:timm/convnext_tiny.fb_in1k").include_top(false));
///     tlearn::save_timm(*model, "my-model");   // Python: timm.create_model("local-dir:my-model")

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tlearn/io/state_dict.hpp"
#include "tlearn/models/backbone.hpp"
#include "tlearn/models/spec.hpp"

namespace tlearn {

/// What timm's config.json says of a set of weights (its pretrained_cfg).
struct TimmConfig {
  std::string architecture;  ///< timm's model name, e.g. "resnet50"
  std::string tag;           ///< e.g. "a1_in1k"
  int64_t num_classes = 1000;
  std::vector<std::string> label_names;  ///< empty when the file names none
  /// Readable names for label_names (timm's label_descriptions, e.g. for WordNet ids); may be empty.
  std::vector<std::string> label_descriptions;
  std::vector<int64_t> input_size = {3, 224, 224};
  std::string interpolation = "bicubic";
  double crop_pct = 0.875;
  std::string crop_mode = "center";
  std::vector<double> mean = {0.485, 0.456, 0.406};
  std::vector<double> std = {0.229, 0.224, 0.225};
};

/// Reads config.json as timm writes it for the Hub (save_for_hf), or a bare
/// pretrained_cfg. A damaged file is an Error naming the file and the entry.
TimmConfig read_timm_config(const std::filesystem::path& file);

/// The registered model timm calls `architecture` (a ViT named for another input
/// size, e.g. vit_base_patch16_384, is the same model at that size); an Error that
/// names the closest architectures tlearn has otherwise.
std::string model_for_timm(const std::string& architecture);

/// Whether `name` names timm weights: "hf-hub:ORG/REPO[@REVISION]" or "local-dir:FOLDER".
bool is_timm_source(const std::string& name);

/// `key` of one of `spec`'s weights, in timm's names.
std::string timm_key(const ModelSpec& spec, const std::string& key);

/// A checkpoint in timm's names, renamed and reshaped into `model`'s. Keys that
/// are not `model`'s stay as they are (loading then reports them).
io::StateDict from_timm_state_dict(const BackboneImpl& model, const io::StateDict& timm_state);

/// `model`'s weights in timm's names and shapes.
io::StateDict to_timm_state_dict(const BackboneImpl& model);

/// Writes `model` (built with its top) the way timm publishes a model: model.safetensors
/// in timm's names and config.json with the architecture, the class count, the
/// preprocessing and eval transform of the weights it was built with, and
/// `class_names` when given. timm.create_model("local-dir:FOLDER") rebuilds it,
/// make_backbone("local-dir:FOLDER") too, and the folder can be uploaded to the Hub.
void save_timm(const BackboneImpl& model, const std::filesystem::path& folder,
               const std::vector<std::string>& class_names = {});

namespace detail {
/// The entry of spec.timm_architectures for timm's `name` (a ViT for another input
/// size matches its 224 entry), or nullptr.
const TimmArchitecture* find_timm_architecture(const ModelSpec& spec, const std::string& name);

/// Makes `model` compute what timm's architecture `name` computes (its BatchNorm
/// epsilon, TensorFlow's padding on the strided convolutions): called when timm's
/// weights load.
void use_timm_architecture(BackboneImpl& model, const std::string& name);

/// make_backbone for timm weights named by `source` (is_timm_source): the model is
/// timm's architecture from the config, which must be `model_name` when that is
/// not empty. With include_top and the default 1000 classes, the top gets the
/// weights' own class count.
std::shared_ptr<BackboneImpl> create_timm_backbone(const std::string& model_name, const std::string& source,
                                                   BackboneOptions options);
}  // namespace detail

}  // namespace tlearn
