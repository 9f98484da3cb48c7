// Implementation of tlearn/core/activation.hpp.
#include "tlearn/core/activation.hpp"
#include "tlearn/core/tap.hpp"

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
  }
  return "None";
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
  }
  return x;
}

bool Absorbable::passes_through() const { return absorbed_ && !tap_recording(); }

}  // namespace tlearn::nn
