#pragma once
/// \file
/// Inference mode for a scope: the module (and every submodule) in eval() while
/// the guard lives, its previous training flag restored when it ends, also when
/// an exception leaves the scope.
///
///     { tlearn::EvalGuard eval(*model); auto y = model->forward(x); }

#include <torch/torch.h>

namespace tlearn {

class EvalGuard {
 public:
  explicit EvalGuard(torch::nn::Module& module) : module_(module), was_training_(module.is_training()) {
    module.eval();
  }
  ~EvalGuard() { module_.train(was_training_); }
  EvalGuard(const EvalGuard&) = delete;
  EvalGuard& operator=(const EvalGuard&) = delete;

 private:
  torch::nn::Module& module_;
  bool was_training_;
};

}  // namespace tlearn
