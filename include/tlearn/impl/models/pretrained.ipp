// Implementation of tlearn/models/pretrained.hpp.
#include <cmath>
#include <regex>

#include "tlearn/io/checkpoint.hpp"
#include "tlearn/io/hub.hpp"
#include "tlearn/io/keras.hpp"
#include "tlearn/io/state_dict.hpp"
#include "tlearn/models/keras_weights.hpp"
#include "tlearn/models/pretrained.hpp"
#include "tlearn/models/timm.hpp"

namespace tlearn {

namespace detail {

/// timm's adapt_input_conv: 1 channel sums the RGB kernels; other counts repeat
/// them and rescale so activations keep their magnitude.
inline torch::Tensor adapt_first_conv(const torch::Tensor& weight, int64_t in_chans) {
  if (in_chans == weight.size(1)) return weight;
  if (in_chans == 1) return weight.sum(1, /*keepdim=*/true);
  auto repeats = static_cast<int64_t>(std::ceil(double(in_chans) / double(weight.size(1))));
  return weight.repeat({1, repeats, 1, 1}).narrow(1, 0, in_chans) * (double(weight.size(1)) / double(in_chans));
}
}  // namespace detail

std::filesystem::path resolve_weights_file(const BackboneImpl& model) {
  const std::string& weights = model.options().weights();
  const auto& spec = model.spec();
  bool is_tag = weights == "imagenet";
  for (const auto& w : spec.weights) is_tag = is_tag || w.tag == weights;
  if (is_tag) {
    if (spec.weights.empty()) throw Error(spec.name + " has no pretrained weights; pass a file path or \"\"");
    const WeightSpec& w = *model.weight_spec();
    if (!w.file.empty()) return w.file;  // found before the model was built (timm's, models/timm.hpp)
    if (w.keras) {  // a Keras Applications file, in Keras' cache
      const bool notop = !model.options().include_top() && !w.notop_url.empty();
      return io::fetch_keras_weights(notop ? w.notop_url : w.url, notop ? w.notop_md5 : w.md5,
                                     /*allow_unverified=*/false, notop ? w.notop_keras_file : w.keras_file);
    }
    return io::fetch_weights(w.url, w.sha256);
  }
  std::filesystem::path file(weights);
  if (!std::filesystem::exists(file)) {
    std::string tags;
    for (const auto& w : spec.weights) tags += ", \"" + w.tag + "\"";
    throw Error(spec.name + ": weights file '" + weights + "' does not exist; pass \"imagenet\"" + tags +
                ", the path of a .pth / .safetensors / Keras .h5 file, or timm's weights as \"hf-hub:ORG/REPO\" "
                "or \"local-dir:FOLDER\"");
  }
  return file;
}

void load_pretrained(BackboneImpl& model) {
  const auto& spec = model.spec();
  const auto& options = model.options();
  auto file = resolve_weights_file(model);
  // Keras files (.h5, .weights.h5, .keras) arrive converted to the model's keys and layouts.
  auto state = [&] {
    if (!io::is_keras_file(file)) return io::load_checkpoint(file);
    if (!spec.keras_model.empty())
      throw Error(spec.name + ": '" + file.string() + "' is a Keras file, and Keras builds this architecture " +
                  "otherwise (its padding and BatchNorm epsilon): the weights would load and compute something " +
                  "else; build " + spec.keras_model + " (or its other widths) for Keras' files");
    try {
      return keras_state_dict(model, io::load_keras_weights(file), /*skip_unknown=*/!options.include_top());
    } catch (const Error& e) {
      throw Error(spec.name + ": cannot load Keras weights from '" + file.string() + "': " + e.what());
    }
  }();

  io::LoadOptions load;
  for (const auto& w : spec.weights)
    for (const auto& rename : w.key_rename) load.key_rename().push_back(rename);
  auto own = io::state_dict(model);
  // timm's names: weights from the Hub or a timm folder, or a timm file passed by path
  // (recognised by the first conv's timm name).
  const WeightSpec* selected = model.weight_spec();
  const bool timm_weights = selected && selected->timm_keys && selected->tag == options.weights();
  const bool timm_file = !timm_weights && !spec.timm_architectures.empty() && !spec.first_conv.empty() &&
                         !state.contains(spec.first_conv) && state.contains(timm_key(spec, spec.first_conv));
  if (timm_weights || timm_file) {
    state = from_timm_state_dict(model, state);
    // A file without a config: the first timm architecture's numbers.
    detail::use_timm_architecture(model, timm_weights ? selected->timm_architecture
                                                       : spec.timm_architectures.front().name);
    // Without the top, timm's head has no counterpart here to be renamed to: every
    // weight this model has must still come from the file (missing ones are errors).
    if (!options.include_top()) {
      io::StateDict kept;
      for (const auto& item : state)
        if (own.contains(item.key())) kept.insert(item.key(), item.value());
      state = std::move(kept);
    }
  }
  for (const auto& path : spec.ignore_modules) {  // only where the model did not build that part
    bool built = false;
    for (const auto& item : own) built = built || detail::in_modules(item.key(), {path});
    if (!built) load.ignore().push_back(detail::module_keys_pattern(path));
  }
  if (!options.include_top()) {
    for (const auto& path : spec.top_modules) load.ignore().push_back(detail::module_keys_pattern(path));
  } else {
    // ImageNet weights on a model with another class count: the last layer keeps
    // its fresh initialisation. A file fine-tuned for this count loads whole.
    for (const auto& item : state)
      if (detail::in_modules(item.key(), spec.classifier_modules) && own.contains(item.key()) &&
          own[item.key()].sizes() != item.value().sizes()) {
        for (const auto& path : spec.classifier_modules) load.ignore().push_back(detail::module_keys_pattern(path));
        break;
      }
  }
  model.adapt_checkpoint(state);
  if (options.in_chans() != 3 && !spec.first_conv.empty() && state.contains(spec.first_conv)) {
    auto& w = state[spec.first_conv];
    if (w.dim() == 4 && w.size(1) != options.in_chans()) w = detail::adapt_first_conv(w, options.in_chans());
  }
  try {
    io::load_state_dict(model, state, load);
  } catch (const Error& e) {
    throw Error(spec.name + ": cannot load weights from '" + file.string() + "': " + e.what());
  }
}

}  // namespace tlearn
