// Implementation of tlearn/nn/mlp.hpp.
#include "tlearn/nn/mlp.hpp"

namespace tlearn::nn {

torch::nn::Sequential transformer_mlp(int64_t dim, int64_t hidden, double dropout) {
  nn::Linear fc1(dim, hidden), fc2(hidden, dim);
  torch::NoGradGuard no_grad;
  for (auto* fc : {fc1.get(), fc2.get()}) {
    torch::nn::init::xavier_uniform_(fc->weight);
    fc->bias.normal_(0, 1e-6);
  }
  return torch::nn::Sequential(fc1, torch::nn::GELU(), torch::nn::Dropout(dropout), fc2, torch::nn::Dropout(dropout));
}

}  // namespace tlearn::nn
