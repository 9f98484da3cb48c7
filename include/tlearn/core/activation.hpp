#pragma once
/// \file
/// The activations tlearn's blocks are built with, named by one enum, applied
/// by one function, and the interface of the activation modules that a
/// convolution can apply in their place (nn/activation.hpp, core/conv2d.hpp).

#include <torch/torch.h>

#include <string>

namespace tlearn::nn {

/// An activation by name, as ConvNormAct, SqueezeExcitation and HeadOptions take it.
enum class Activation { None, ReLU, ReLU6, SiLU, GELU, Hardswish, Hardsigmoid, Sigmoid, Tanh, ELU };

/// "ReLU", "SiLU", ...: the kind a layer-table row of this activation shows.
std::string activation_name(Activation activation);

/// Keras' string for `activation`: "relu", "silu", "hard_swish", ... ("linear" for None).
std::string keras_activation_name(Activation activation);

/// The activation Keras calls `name` ("relu", "swish" or "silu", "gelu", "tanh",
/// "elu", "relu6", "hard_swish", "hard_sigmoid", "sigmoid", "linear"); an Error
/// naming the accepted names otherwise.
Activation parse_activation(const std::string& name);

/// `activation` applied to x (x itself for None); in place when `inplace`.
torch::Tensor apply_activation(Activation activation, torch::Tensor x, bool inplace = false);

/// An activation module that the convolution before it can apply instead.
class Absorbable {
 public:
  virtual ~Absorbable() = default;
  virtual Activation activation() const = 0;
  /// Set by optimize_for_inference when the convolution before this layer
  /// applies it as it writes its output.
  void set_absorbed(bool absorbed) { absorbed_ = absorbed; }
  bool absorbed() const { return absorbed_; }

 protected:
  /// Absorbed and no tap recording: the input already is this layer's output.
  bool passes_through() const;

 private:
  bool absorbed_ = false;
};

}  // namespace tlearn::nn
