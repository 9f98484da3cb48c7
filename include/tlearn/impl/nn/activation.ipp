// Implementation of tlearn/nn/activation.hpp.
#include "tlearn/core/tap.hpp"
#include "tlearn/nn/activation.hpp"

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

torch::Tensor ReLUImpl::forward(torch::Tensor x) {
  if (!tap_recording()) return absorbed_ ? x : inplace_ ? x.relu_() : torch::relu(x);
  return torch::relu(x);
}

torch::nn::AnyModule make_activation(Activation activation) {
  switch (activation) {
    case Activation::None:
      return {};
    case Activation::ReLU:
      return torch::nn::AnyModule(ReLU());
    case Activation::ReLU6:
      return torch::nn::AnyModule(torch::nn::ReLU6());
    case Activation::SiLU:
      return torch::nn::AnyModule(torch::nn::SiLU());
    case Activation::GELU:
      return torch::nn::AnyModule(torch::nn::GELU());
    case Activation::Hardswish:
      return torch::nn::AnyModule(Hardswish());
    case Activation::Hardsigmoid:
      return torch::nn::AnyModule(Hardsigmoid());
    case Activation::Sigmoid:
      return torch::nn::AnyModule(torch::nn::Sigmoid());
  }
  return {};
}

}  // namespace tlearn::nn
