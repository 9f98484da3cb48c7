// Implementation of tlearn/models/spec.hpp.
#include "tlearn/models/spec.hpp"

namespace tlearn {

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
  w.url = base + file;
  w.md5 = md5;
  w.notop_url = base + notop_file;
  w.notop_md5 = notop_md5;
  w.preprocessing = mode;
  w.transform = {size, size, Interpolation::Bilinear};
  return w;
}

}  // namespace tlearn
