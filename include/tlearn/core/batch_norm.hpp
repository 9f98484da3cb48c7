#pragma once
/// \file
/// The BatchNorm that tlearn models use: torch's BatchNorm2d (same parameter and
/// buffer names, same maths through torch::batch_norm) that can be frozen. A
/// frozen BatchNorm runs in inference mode, with its running statistics fixed,
/// even when its parents call `train()` — Keras' rule for `trainable = False`,
/// and the fix for the most common transfer-learning bug in LibTorch code.
///
///     auto bn = tlearn::nn::BatchNorm2d(torch::nn::BatchNormOptions(64).eps(1e-3));

#include <torch/torch.h>

#include <ostream>

namespace tlearn::nn {

class BatchNorm2dImpl : public torch::nn::Cloneable<BatchNorm2dImpl> {
 public:
  explicit BatchNorm2dImpl(int64_t num_features) : BatchNorm2dImpl(torch::nn::BatchNormOptions(num_features)) {}
  explicit BatchNorm2dImpl(const torch::nn::BatchNormOptions& options) : options(options) { reset(); }

  void reset() override {
    const auto n = options.num_features();
    weight = register_parameter("weight", torch::ones({n}), options.affine());
    bias = register_parameter("bias", torch::zeros({n}), options.affine());
    running_mean = register_buffer("running_mean", torch::zeros({n}));
    running_var = register_buffer("running_var", torch::ones({n}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::tensor(0, torch::kLong));
  }

  torch::Tensor forward(const torch::Tensor& x) {
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

  /// Follows the requested mode unless frozen, in which case it stays in eval.
  void train(bool on = true) override {
    requested_training_ = on;
    torch::nn::Module::train(on && !frozen_);
  }

  /// Freezing puts the layer in inference mode now and keeps it there;
  /// unfreezing returns it to the mode its parents last asked for.
  void set_frozen(bool frozen) {
    frozen_ = frozen;
    torch::nn::Module::train(requested_training_ && !frozen_);
  }

  bool frozen() const { return frozen_; }

  /// After optimize_for_inference folded this layer into its convolution, it
  /// passes its input through.
  void set_folded(bool folded) { folded_ = folded; }
  bool folded() const { return folded_; }

  void pretty_print(std::ostream& os) const override {
    os << "tlearn::nn::BatchNorm2d(" << options.num_features() << ", eps=" << options.eps()
       << ", momentum=" << options.momentum().value_or(-1) << (frozen_ ? ", frozen" : "") << (folded_ ? ", folded" : "") << ")";
  }

  torch::nn::BatchNormOptions options;
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  bool frozen_ = false;
  bool folded_ = false;
  bool requested_training_ = true;
};

TORCH_MODULE(BatchNorm2d);

}  // namespace tlearn::nn
