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

}  // namespace tlearn
