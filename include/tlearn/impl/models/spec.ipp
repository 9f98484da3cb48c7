// Implementation of tlearn/models/spec.hpp.
#include <regex>

#include "tlearn/models/spec.hpp"

namespace tlearn {

namespace detail {
bool matches_any(const std::string& key, const std::vector<std::string>& patterns) {
  for (const auto& p : patterns)
    if (std::regex_match(key, std::regex(p))) return true;
  return false;
}

bool in_modules(const std::string& key, const std::vector<std::string>& paths) {
  for (const auto& path : paths)
    if (key == path || (key.size() > path.size() && key.compare(0, path.size(), path) == 0 && key[path.size()] == '.'))
      return true;
  return false;
}

std::string module_keys_pattern(const std::string& path) {
  std::string pattern = "^";
  for (char c : path) {
    if (std::string(".^$|()[]{}*+?\\").find(c) != std::string::npos) pattern += '\\';
    pattern += c;
  }
  return pattern + "\\.";
}
}  // namespace detail

WeightSpec torchvision_weights(std::string tag, const std::string& file, EvalTransformSpec transform) {
  WeightSpec w;
  w.tag = std::move(tag);
  w.url = "https://download.pytorch.org/models/" + file;
  w.transform = transform;
  return w;
}

WeightSpec keras_weights(const std::string& folder, const std::string& file, const std::string& md5,
                         const std::string& notop_file, const std::string& notop_md5, Preprocessing mode,
                         int64_t size) {
  const std::string base = "https://storage.googleapis.com/tensorflow/keras-applications/" + folder + "/";
  WeightSpec w;
  w.tag = "imagenet";
  w.keras = true;
  w.url = base + file;
  w.md5 = md5;
  w.notop_url = base + notop_file;
  w.notop_md5 = notop_md5;
  w.preprocessing = mode;
  w.transform = {size, size, Interpolation::Bilinear};
  return w;
}

ModelSpec keras_model_spec(const std::string& name, const std::string& family, const std::string& first_conv,
                           const std::string& block_pattern, WeightSpec weights, int64_t default_size,
                           int64_t min_size) {
  ModelSpec s;
  s.name = name;
  s.family = family;
  s.default_size = default_size;
  s.min_size = min_size;
  s.first_conv = first_conv;
  s.top_modules = {"fc"};
  s.classifier_modules = {"fc"};
  s.block_pattern = block_pattern;
  s.weights = {std::move(weights)};
  return s;
}

}  // namespace tlearn
