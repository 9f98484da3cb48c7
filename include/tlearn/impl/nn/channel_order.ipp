// Implementation of tlearn/nn/channel_order.hpp.
#include "tlearn/nn/channel_order.hpp"

namespace tlearn::nn {

LayerNorm2dImpl::LayerNorm2dImpl(int64_t channels, double eps) : channels_(channels), eps_(eps) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

}  // namespace tlearn::nn
