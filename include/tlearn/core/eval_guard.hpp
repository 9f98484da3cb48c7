#pragma once
/// \file
/// Inference mode for a scope: the module (and every submodule) in eval() while
/// the guard lives; when it ends, also by an exception, each submodule gets back
/// its own previous flag, so a part the user left in eval (a frozen block, a
/// Dropout switched off) stays as it was.
///
///     { tlearn::EvalGuard eval(*model); auto y = model->forward(x); }

#include <torch/torch.h>

#include <memory>
#include <utility>
#include <vector>

namespace tlearn {

class EvalGuard {
 public:
  explicit EvalGuard(torch::nn::Module& module);
  ~EvalGuard();
  EvalGuard(const EvalGuard&) = delete;
  EvalGuard& operator=(const EvalGuard&) = delete;

 private:
  torch::nn::Module& module_;
  /// Every submodule (pre-order, the module first) with its flag before the guard.
  std::vector<std::pair<std::shared_ptr<torch::nn::Module>, bool>> was_training_;
  bool module_was_training_;
};

}  // namespace tlearn
