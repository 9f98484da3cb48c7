// Implementation of tlearn/nn/separable_conv.hpp.
#include "tlearn/nn/separable_conv.hpp"

namespace tlearn::nn {

SeparableConv2dImpl::SeparableConv2dImpl(const SeparableConv2dOptions& options_) : options(options_) {
  const int64_t in = options.in_channels(), k = options.kernel_size();
  depthwise = register_module("depthwise", Conv2d(torch::nn::Conv2dOptions(in, in * options.depth_multiplier(), k)
                                                      .stride(options.stride())
                                                      .padding(options.padding() < 0 ? (k - 1) / 2
                                                                                     : options.padding())
                                                      .groups(in)
                                                      .bias(false)));
  if (options.tf_same_padding()) depthwise->set_tf_same_padding(true);
  pointwise = register_module(
      "pointwise", Conv2d(torch::nn::Conv2dOptions(in * options.depth_multiplier(), options.out_channels(), 1)
                              .bias(options.bias())));
}

torch::Tensor SeparableConv2dImpl::forward(const torch::Tensor& x) {
  return pointwise->forward(depthwise->forward(x));
}

}  // namespace tlearn::nn
