// Implementation of tlearn/core/activation.hpp.
#include "tlearn/core/activation.hpp"
#include "tlearn/core/error.hpp"
#include "tlearn/core/tap.hpp"

#include <utility>
#include <vector>

namespace tlearn::nn {

std::string activation_name(Activation activation) {
  switch (activation) {
    case Activation::None:
      return "None";
    case Activation::ReLU:
      return "ReLU";
    case Activation::ReLU6:
      return "ReLU6";
    case Activation::SiLU:
      return "SiLU";
    case Activation::GELU:
      return "GELU";
    case Activation::Hardswish:
      return "Hardswish";
    case Activation::Hardsigmoid:
      return "Hardsigmoid";
    case Activation::Sigmoid:
      return "Sigmoid";
    case Activation::Tanh:
      return "Tanh";
    case Activation::ELU:
      return "ELU";
  }
  return "None";
}

namespace {
// Keras' names, the first of each activation being the one Keras writes.
const std::vector<std::pair<std::string, Activation>>& keras_activation_names() {
  static const std::vector<std::pair<std::string, Activation>> names = {
      {"linear", Activation::None},          {"relu", Activation::ReLU},
      {"relu6", Activation::ReLU6},          {"silu", Activation::SiLU},
      {"swish", Activation::SiLU},           {"gelu", Activation::GELU},
      {"hard_swish", Activation::Hardswish}, {"hard_sigmoid", Activation::Hardsigmoid},
      {"sigmoid", Activation::Sigmoid},      {"tanh", Activation::Tanh},
      {"elu", Activation::ELU}};
  return names;
}
}  // namespace

std::string keras_activation_name(Activation activation) {
  for (const auto& [name, a] : keras_activation_names())
    if (a == activation) return name;
  return "linear";
}

Activation parse_activation(const std::string& name) {
  std::string accepted;
  for (const auto& [known, a] : keras_activation_names()) {
    if (known == name) return a;
    accepted += (accepted.empty() ? "" : ", ") + known;
  }
  throw Error("unknown activation '" + name + "'; use one of " + accepted);
}

torch::Tensor apply_activation(Activation activation, torch::Tensor x, bool inplace) {
  switch (activation) {
    case Activation::None:
      return x;
    case Activation::ReLU:
      return inplace ? x.relu_() : torch::relu(x);
    case Activation::ReLU6:
      return inplace ? torch::hardtanh_(x, 0, 6) : torch::hardtanh(x, 0, 6);
    case Activation::SiLU:
      return inplace ? torch::silu_(x) : torch::silu(x);
    case Activation::GELU:
      return torch::gelu(x);
    case Activation::Hardswish:
      return inplace ? torch::hardswish_(x) : torch::hardswish(x);
    case Activation::Hardsigmoid:
      return inplace ? torch::hardsigmoid_(x) : torch::hardsigmoid(x);
    case Activation::Sigmoid:
      return inplace ? x.sigmoid_() : torch::sigmoid(x);
    case Activation::Tanh:
      return inplace ? x.tanh_() : torch::tanh(x);
    case Activation::ELU:
      return inplace ? torch::elu_(x) : torch::elu(x);
  }
  return x;
}

bool Absorbable::passes_through() const { return absorbed_ && !tap_recording(); }

}  // namespace tlearn::nn
