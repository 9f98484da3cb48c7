// Implementation of tlearn/nn/normalization.hpp.
#include "tlearn/nn/normalization.hpp"

namespace tlearn::nn {

NormalizationImpl::NormalizationImpl(int64_t channels) {
  mean = register_buffer("mean", torch::zeros({channels}));
  variance = register_buffer("variance", torch::ones({channels}));
  count = register_buffer("count", torch::zeros({}));
}

torch::Tensor NormalizationImpl::forward(const torch::Tensor& x) {
  // Keras' backend.epsilon() keeps a zero variance from dividing by zero.
  const auto shape = std::vector<int64_t>{1, -1, 1, 1};
  const auto scale = variance.sqrt().clamp_min(1e-7).to(x.scalar_type()).view(shape);
  return (x - mean.to(x.scalar_type()).view(shape)) / scale;
}

}  // namespace tlearn::nn
