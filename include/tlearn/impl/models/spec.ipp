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

}  // namespace tlearn
