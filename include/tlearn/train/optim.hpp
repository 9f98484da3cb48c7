#pragma once
/// \file
/// Optimizer recipes: what to build (SGD, Adam, AdamW, RMSprop and their
/// settings) and how to split the trainable parameters into groups with their
/// own learning rate. The Trainer builds the torch optimizer from the
/// parameters that require gradients only.
///
///     auto opt = tlearn::optim::SGD(1e-3).momentum(0.9).nesterov(true)
///                    .lr_multiplier(tlearn::until("block5_conv1"), 0.1);  // the base's early layers 10x slower
///
/// A multiplier's layers are chosen the way freezing chooses them (core/selector.hpp),
/// or, for modules outside the backbone, by a regex over parameter names.

#include <torch/torch.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/core/selector.hpp"

namespace tlearn::optim {

enum class Kind { SGD, Adam, AdamW, RMSprop };

/// An optimizer recipe. Build one with SGD(lr), Adam(lr), AdamW(lr) or RMSprop(lr).
struct Spec {
  Kind kind = Kind::Adam;
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(double, weight_decay) = 0.0;
  /// SGD and RMSprop.
  TORCH_ARG(double, momentum) = 0.0;
  /// SGD only.
  TORCH_ARG(bool, nesterov) = false;
  /// Adam / AdamW.
  TORCH_ARG(double, beta1) = 0.9;
  TORCH_ARG(double, beta2) = 0.999;
  TORCH_ARG(double, eps) = 1e-8;
  /// RMSprop's smoothing constant (Keras' rho).
  TORCH_ARG(double, alpha) = 0.99;
  /// Layer-wise learning-rate decay (models/layer_decay.hpp): below 1, the backbone's
  /// block i of B learns at lr * layer_decay^(B + 1 - i), its stem slowest, its final
  /// norm and the new head at lr; biases, norms, class tokens and position embeddings
  /// then take no weight decay. The model given to build() is a backbone or holds one.
  TORCH_ARG(double, layer_decay) = 1.0;
  /// No weight decay on biases and normalization weights (every parameter of at
  /// most one dimension): timm's param_groups_weight_decay, the usual fine-tuning rule.
  TORCH_ARG(bool, no_decay_on_bias_and_norm) = false;

 public:

  /// The parameters of the backbone's layers that `layers` selects (the selectors
  /// set_trainable takes: from("block5_conv1"), first(100), ...) learn at
  /// lr * multiplier. The model given to build() is a backbone or holds one.
  Spec& lr_multiplier(LayerSelector layers, double multiplier);
  /// Parameters whose state-dict name matches `pattern` (regex, searched) learn at
  /// lr * multiplier: for modules outside the backbone, e.g. a head's "^head\\.dense1\\.".
  Spec& lr_multiplier(const std::string& pattern, double multiplier);

  /// One lr_multiplier call. The first rule that matches a parameter wins; the rest use lr.
  struct MultiplierRule {
    std::optional<LayerSelector> layers;  ///< set by lr_multiplier(LayerSelector, m)
    std::string pattern;                  ///< set by lr_multiplier(pattern, m)
    double multiplier = 1.0;
  };
  const std::vector<MultiplierRule>& multiplier_rules() const { return rules_; }

  std::string name() const {
    switch (kind) {
      case Kind::SGD: return "SGD";
      case Kind::Adam: return "Adam";
      case Kind::AdamW: return "AdamW";
      case Kind::RMSprop: return "RMSprop";
    }
    return "?";
  }

 private:
  std::vector<MultiplierRule> rules_;
};

inline Spec SGD(double lr = 1e-2) { Spec s; s.kind = Kind::SGD; s.lr(lr); return s; }
inline Spec Adam(double lr = 1e-3) { Spec s; s.kind = Kind::Adam; s.lr(lr); return s; }
/// AdamW with torch's default decoupled weight decay of 0.01.
inline Spec AdamW(double lr = 1e-3) { Spec s; s.kind = Kind::AdamW; s.lr(lr); s.weight_decay(0.01); return s; }
inline Spec RMSprop(double lr = 1e-3) { Spec s; s.kind = Kind::RMSprop; s.lr(lr); return s; }

/// One parameter group as the Trainer built it: its multiplier, weight decay and parameters' names.
struct GroupInfo {
  double multiplier = 1.0;
  double weight_decay = 0.0;
  std::vector<std::string> names;
};

/// Builds the torch optimizer over the trainable parameters of `module`, one group
/// per distinct (multiplier, weight decay): in the order their first parameter
/// comes in module.named_parameters(). A parameter's multiplier is its
/// lr_multiplier rule's (the first that matches) times its layer decay.
std::unique_ptr<torch::optim::Optimizer> build(const Spec& spec, const torch::nn::Module& module,
                                               std::vector<GroupInfo>* info = nullptr);

// ---- what training checkpoints save of an optimizer ----

/// A parameter group's options by torch's names (lr, momentum, dampening,
/// weight_decay, nesterov, beta1, beta2, eps, amsgrad, alpha, centered), booleans as 0 / 1.
std::map<std::string, double> group_options(const torch::optim::OptimizerOptions& options);

/// Sets every option group_options() returns; an Error naming the option that
/// is missing or that this kind of optimizer does not have.
void set_group_options(torch::optim::OptimizerOptions& options, const std::map<std::string, double>& values);

/// The optimizer's buffers for parameter `p` (momentum_buffer, exp_avg,
/// exp_avg_sq, max_exp_avg_sq, square_avg, grad_avg, and step as a 0-d int64
/// tensor); empty before its first step.
std::map<std::string, torch::Tensor> parameter_state(torch::optim::Optimizer& optimizer, const torch::Tensor& p);

/// Puts back what parameter_state() returned, on p's device and in its memory
/// format; `name` is p's name for errors (a buffer of another shape, a missing one).
void set_parameter_state(torch::optim::Optimizer& optimizer, const torch::Tensor& p,
                         const std::map<std::string, torch::Tensor>& state, const std::string& name);

}  // namespace tlearn::optim
