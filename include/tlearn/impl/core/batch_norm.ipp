// Implementation of tlearn/core/batch_norm.hpp.
#include "tlearn/core/batch_norm.hpp"

namespace tlearn::nn {

void BatchNorm2dImpl::reset() {
  const auto n = options.num_features();
  weight = register_parameter("weight", torch::ones({n}), options.affine());
  bias = register_parameter("bias", torch::zeros({n}), options.affine());
  running_mean = register_buffer("running_mean", torch::zeros({n}));
  running_var = register_buffer("running_var", torch::ones({n}));
  num_batches_tracked = register_buffer("num_batches_tracked", torch::tensor(0, torch::kLong));
}

torch::Tensor BatchNorm2dImpl::forward(const torch::Tensor& x) {
  if (folded_) return x;  // its affine map now lives in the preceding convolution
  double momentum = options.momentum().value_or(0.0);
  if (is_training()) {
    num_batches_tracked.add_(1);
    // momentum = None means a cumulative moving average, as in torch.
    if (!options.momentum()) momentum = 1.0 / num_batches_tracked.item<double>();
  }
  return torch::batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, options.eps(),
                           /*cudnn_enabled=*/true);
}

void BatchNorm2dImpl::train(bool on) {
  requested_training_ = on;
  torch::nn::Module::train(on && !frozen_);
}

void BatchNorm2dImpl::set_frozen(bool frozen) {
  frozen_ = frozen;
  torch::nn::Module::train(requested_training_ && !frozen_);
}

void BatchNorm2dImpl::pretty_print(std::ostream& os) const {
  os << "tlearn::nn::BatchNorm2d(" << options.num_features() << ", eps=" << options.eps()
     << ", momentum=" << options.momentum().value_or(-1) << (frozen_ ? ", frozen" : "") << (folded_ ? ", folded" : "")
     << ")";
}

}  // namespace tlearn::nn
