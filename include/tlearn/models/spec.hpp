#pragma once
/// \file
/// What a model and its pretrained weights declare about themselves (timm's
/// pretrained_cfg): input sizes, where the first conv and the classifier are,
/// and per set of weights the URL, hash, preprocessing and eval transform.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tlearn/core/image_types.hpp"

namespace tlearn {

/// One set of pretrained weights.
struct WeightSpec {
  std::string tag;     ///< torchvision's enum name, e.g. "IMAGENET1K_V1"
  std::string url;     ///< official download URL; the file name carries the SHA-256 prefix
  std::string sha256;  ///< expected SHA-256 prefix of the file ("" = take it from the file name)
  /// A Keras Applications file: it lives in Keras' cache (io::keras_cache_dir()), is
  /// checked against the MD5 Keras checks (empty where Keras publishes none), and has
  /// a file without the top, for include_top(false).
  bool keras = false;
  std::string md5, notop_url, notop_md5;
  /// The names Keras caches them under, where not the URLs' (NASNet's "nasnet_mobile.h5").
  std::string keras_file, notop_keras_file;
  Preprocessing preprocessing = Preprocessing::Torch;
  EvalTransformSpec transform;  ///< resize, crop, interpolation
  int64_t num_classes = 1000;
  std::string categories = "imagenet";
  /// Renames applied to checkpoint keys before loading (regex, replacement),
  /// e.g. densenet's old "norm.1" names.
  std::vector<std::pair<std::string, std::string>> key_rename;
  /// The file holds timm's key names (ModelSpec::timm_keys turns them into tlearn's),
  /// for timm's architecture `timm_architecture`.
  bool timm_keys = false;
  std::string timm_architecture;
  /// The local file of these weights, when they were found before the model was
  /// built (timm's weights from the Hub or a folder); else `url` says where.
  std::string file;
  /// The classes' names, when the weights bring their own (timm's label_names);
  /// empty for "imagenet" (data/imagenet.hpp has those).
  std::vector<std::string> class_names;
};

/// One set of torchvision's weights: `file` under download.pytorch.org/models/ (its
/// name carries the hash prefix), evaluated with `transform`.
WeightSpec torchvision_weights(std::string tag, const std::string& file, EvalTransformSpec transform = {});

/// Keras Applications' "imagenet" weights: `file` and `notop_file` under
/// storage.googleapis.com/tensorflow/keras-applications/<folder>/, each with the MD5
/// Keras checks ("" where Keras checks none), evaluated with Keras' preprocess_input
/// `mode` at `size`. A Keras model with files per input size (MobileNet, MobileNetV2)
/// tags the others "imagenet_<size>": BackboneImpl::weight_spec() picks one of those
/// for "imagenet" when input_shape is that square, as Keras picks by input_shape.
WeightSpec keras_weights(const std::string& folder, const std::string& file, const std::string& md5,
                         const std::string& notop_file, const std::string& notop_md5, Preprocessing mode,
                         int64_t size = 224);

namespace detail {
/// Whether `key` matches (regex_match, whole key) one of `patterns`: a spec's timm rules.
bool matches_any(const std::string& key, const std::vector<std::string>& patterns);
/// Whether the state_dict key or layer-table row `key` lies in one of the modules at
/// `paths` (the module itself or anything under it: "fc" holds "fc.weight", not "fc2.weight").
bool in_modules(const std::string& key, const std::vector<std::string>& paths);
/// The io::LoadOptions::ignore pattern (searched) of every key under module `path`.
std::string module_keys_pattern(const std::string& path);
}  // namespace detail

/// One of timm's architectures that is a registered model, and how timm's numbers
/// differ from the model as tlearn builds it (models/timm.hpp applies them when
/// that architecture's weights load).
struct TimmArchitecture {
  std::string name;             ///< timm's name, e.g. "efficientnet_b0", "tf_efficientnet_b0"
  double batch_norm_eps = 0;    ///< timm's BatchNorm epsilon where it differs (0: the same)
  bool tf_same_padding = false;  ///< TensorFlow's "same" padding on the strided convolutions (timm's tf_ ports)
};

/// One stage's output: which tap, how many channels, total stride from the input.
struct FeatureInfo {
  FeatureInfo() = default;
  FeatureInfo(std::string name_, int64_t channels_, int64_t stride_, std::string after_ = {})
      : name(std::move(name_)), channels(channels_), stride(stride_), after(std::move(after_)) {}

  std::string name;  ///< a row's tap, or a tap between rows (see `after`)
  int64_t channels = 0;
  int64_t stride = 1;
  /// For a tap between rows (Keras' ConvNeXt adds a block's input outside any layer):
  /// the row it follows, which orders it among rows. Empty for a row's own tap.
  std::string after;
};

/// Everything a registered model name stands for, apart from its modules.
struct ModelSpec {
  std::string name;    ///< torchvision builder name, e.g. "resnet50"
  std::string family;  ///< e.g. "resnet"
  int64_t default_size = 224;
  int64_t min_size = 32;
  std::string first_conv;  ///< state_dict key of the first conv's weight, e.g. "conv1.weight"
  /// Module paths of the ImageNet top: their weights are skipped when loading with
  /// include_top = false, e.g. {"classifier"} for VGG.
  std::vector<std::string> top_modules;
  /// Module paths of the final classification layer only: re-initialised, not
  /// loaded, when `classes` differs from the weights', e.g. {"fc"}, {"classifier.6"}.
  std::vector<std::string> classifier_modules;
  /// Module paths whose checkpoint weights are skipped when the model did not build
  /// them: parts of the official checkpoints a model may leave out, e.g.
  /// inception_v3's auxiliary head {"AuxLogits"}.
  std::vector<std::string> ignore_modules;
  /// Regex (searched from the start of a layer-table row name) whose match names the
  /// block a row belongs to, for layer-wise learning-rate decay (models/layer_decay.hpp);
  /// empty: `^[^.]+\.\d+` ("layer1.0", "features.3").
  std::string block_pattern;
  /// Whether BackboneOptions::aux_logits can build an auxiliary classifier (inception_v3).
  bool has_aux_logits = false;
  /// Where Keras builds this architecture otherwise (padding, BatchNorm epsilon)
  /// under the same layer names, the keras.* model its Keras files need: loading
  /// one here is refused, naming that model, since it would load and compute
  /// something else.
  std::string keras_model;
  /// timm's architectures with the same modules (timm.create_model names), so timm's
  /// checkpoints load (models/timm.hpp); save_timm writes the first whose numbers the
  /// model has.
  std::vector<TimmArchitecture> timm_architectures;
  /// How this model's state_dict keys become timm's: (regex, replacement) pairs
  /// applied in order, each to every match in the key. A replacement may use $N and
  /// ${N+K} / ${N-K} (group N plus or minus K: "features.3" is timm's "blocks.2").
  /// Empty: the keys are the same.
  std::vector<std::pair<std::string, std::string>> timm_keys;
  /// Weights timm stores in another shape: (regex of this model's keys, whole match,
  /// timm's shape), where 0 keeps that dimension of ours and -1 is
  /// inferred; e.g. a layer scale (C,1,1) is timm's gamma {-1}. Loading reshapes to
  /// ours either way.
  std::vector<std::pair<std::string, std::vector<int64_t>>> timm_shapes;
  /// Regexes (whole match) of this model's buffers that timm does not save (a Swin
  /// block's relative_position_index): filled from the model when loading, left out when saving.
  std::vector<std::string> timm_unsaved;
  std::vector<WeightSpec> weights;  ///< the first is what weights("imagenet") loads
};

/// The spec of a family Keras Applications defines (keras.Xception, ...): `weights`
/// (keras_weights), Keras' default and minimum input sizes, and a top that is
/// global average pooling and one Dense, module "fc".
ModelSpec keras_model_spec(const std::string& name, const std::string& family, const std::string& first_conv,
                           const std::string& block_pattern, WeightSpec weights, int64_t default_size,
                           int64_t min_size);

}  // namespace tlearn
