// Implementation of tlearn/nn/activation.hpp.
#include "tlearn/core/tap.hpp"
#include "tlearn/nn/activation.hpp"

namespace tlearn::nn {

torch::Tensor ReLUImpl::forward(torch::Tensor x) {
  if (passes_through()) return x;
  return inplace_ && !tap_recording() ? x.relu_() : torch::relu(x);
}

torch::nn::AnyModule make_activation(Activation activation) {
  switch (activation) {
    case Activation::None:
      return {};
    case Activation::ReLU:
      return torch::nn::AnyModule(ReLU());
    case Activation::ReLU6:
      return torch::nn::AnyModule(ReLU6());
    case Activation::SiLU:
      return torch::nn::AnyModule(SiLU());
    case Activation::GELU:
      return torch::nn::AnyModule(torch::nn::GELU());
    case Activation::Hardswish:
      return torch::nn::AnyModule(Hardswish());
    case Activation::Hardsigmoid:
      return torch::nn::AnyModule(Hardsigmoid());
    case Activation::Sigmoid:
      return torch::nn::AnyModule(torch::nn::Sigmoid());
    case Activation::Tanh:
      return torch::nn::AnyModule(torch::nn::Tanh());
    case Activation::ELU:
      return torch::nn::AnyModule(torch::nn::ELU());
  }
  return {};
}

}  // namespace tlearn::nn
