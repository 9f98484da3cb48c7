// Implementation of tlearn/nn/pooling.hpp.
#include <limits>

#include "tlearn/nn/pooling.hpp"

namespace tlearn::nn {

namespace {
/// TensorFlow's "same" padding of one dimension: {before, after}.
std::pair<int64_t, int64_t> same_padding(int64_t size, int64_t kernel, int64_t stride) {
  const int64_t out = (size + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + kernel - size, 0);
  return {total / 2, total - total / 2};
}
}  // namespace

torch::Tensor max_pool2d_same(const torch::Tensor& x, int64_t kernel, int64_t stride) {
  const auto [top, bottom] = same_padding(x.size(-2), kernel, stride);
  const auto [left, right] = same_padding(x.size(-1), kernel, stride);
  auto padded = x;
  if (top + bottom + left + right > 0)
    padded = torch::constant_pad_nd(x, {left, right, top, bottom}, -std::numeric_limits<double>::infinity());
  return torch::max_pool2d(padded, kernel, stride);
}

}  // namespace tlearn::nn
