// Implementation of tlearn/nn/zero_padding.hpp.
#include "tlearn/core/tap.hpp"
#include "tlearn/nn/zero_padding.hpp"

namespace tlearn::nn {

void tap_zero_padded(const std::string& row, const torch::Tensor& x, int64_t pad) {
  if (!tap_recording()) return;
  tap(row, torch::constant_pad_nd(x, {pad, pad, pad, pad}));
}

}  // namespace tlearn::nn
