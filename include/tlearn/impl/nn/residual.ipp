// Implementation of tlearn/nn/residual.hpp.
#include "tlearn/nn/residual.hpp"

#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/core/tap.hpp"

namespace tlearn::nn {

torch::Tensor stochastic_depth(const torch::Tensor& x, double p, bool training) {
  if (!training || p == 0.0) return x;
  const double survival = 1.0 - p;
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  auto noise = torch::empty(shape, x.options()).bernoulli_(survival);
  if (survival > 0.0) noise.div_(survival);
  return x * noise;
}

ResidualAdd::ResidualAdd(double drop_prob) : drop_prob_(drop_prob) {
  if (!(drop_prob >= 0.0 && drop_prob <= 1.0))
    throw Error("ResidualAdd: the stochastic depth rate is a probability in [0, 1], got " + std::to_string(drop_prob));
}

ResidualAdd& ResidualAdd::taps(std::string dropped, std::string sum) {
  dropped_tap_ = std::move(dropped);
  sum_tap_ = std::move(sum);
  return *this;
}

torch::Tensor ResidualAdd::operator()(const torch::Tensor& shortcut, const torch::Tensor& branch, bool training) const {
  auto x = stochastic_depth(branch, drop_prob_, training);
  if (!dropped_tap_.empty()) tap(dropped_tap_, x);
  x = shortcut + x;
  if (!sum_tap_.empty()) tap(sum_tap_, x);
  return x;
}

}  // namespace tlearn::nn
