// Implementation of tlearn/core/eval_guard.hpp.
#include "tlearn/core/eval_guard.hpp"

namespace tlearn {

EvalGuard::EvalGuard(torch::nn::Module& module) : module_(module), module_was_training_(module.is_training()) {
  for (auto& m : module.modules(/*include_self=*/false)) was_training_.emplace_back(m, m->is_training());
  module.eval();
}

EvalGuard::~EvalGuard() {
  // train(flag) recurses into children, so restoring in pre-order (parents
  // first) leaves each module with its own flag. Unchanged modules are skipped.
  module_.train(module_was_training_);
  for (auto& [m, flag] : was_training_)
    if (m->is_training() != flag) m->train(flag);
}

}  // namespace tlearn
