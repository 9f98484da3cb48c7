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
  explicit BatchNorm2dImpl(const torch::nn::BatchNormOptions& norm_options) : options(norm_options) { reset(); }
  /// `scale` false: no weight, only the bias (Keras' BatchNormalization(scale=False),
  /// which InceptionV3 uses: the ReLU after it makes a scale redundant).
  BatchNorm2dImpl(const torch::nn::BatchNormOptions& norm_options, bool scale)
      : options(norm_options), scale_(scale) {
    reset();
  }

  void reset() override;

  torch::Tensor forward(const torch::Tensor& x);

  /// Follows the requested mode unless frozen, in which case it stays in eval.
  void train(bool on = true) override;

  /// Freezing puts the layer in inference mode now and keeps it there;
  /// unfreezing returns it to the mode its parents last asked for.
  void set_frozen(bool frozen);

  bool frozen() const { return frozen_; }

  /// After optimize_for_inference folded this layer into its convolution, it
  /// passes its input through.
  void set_folded(bool folded) { folded_ = folded; }
  bool folded() const { return folded_; }

  /// In training mode, normalise with the statistics of the whole batch across
  /// all processes of a distributed job (torch's SyncBatchNorm), not of this
  /// process's part. Set by DataParallelOptions::sync_batchnorm.
  void set_synchronized(bool on) { synchronized_ = on; }
  bool synchronized() const { return synchronized_; }

  void pretty_print(std::ostream& os) const override;

  /// Whether the layer has a weight (gamma); see the constructor.
  bool scale() const { return scale_; }

  torch::nn::BatchNormOptions options;
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  bool scale_ = true;
  bool frozen_ = false;
  bool folded_ = false;
  bool synchronized_ = false;
  bool requested_training_ = true;
};

TORCH_MODULE(BatchNorm2d);

}  // namespace tlearn::nn
