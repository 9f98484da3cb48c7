#pragma once
/// \file
/// Keras' Normalization layer: (x - mean) / max(sqrt(variance), 1e-7) per channel,
/// with mean, variance and count as its (non-trainable) weights, as Keras saves
/// them. Keras' EfficientNet normalises its 0..255 input in the model this way, in
/// a row of its own; an un-adapted layer (mean 0, variance 1) passes x through.
///
///     tlearn::nn::Normalization norm(3);   // buffers mean, variance (3 each), count

#include <torch/torch.h>

namespace tlearn::nn {

class NormalizationImpl : public torch::nn::Module {
 public:
  explicit NormalizationImpl(int64_t channels);

  torch::Tensor forward(const torch::Tensor& x);

  /// Buffers, not parameters: Keras never trains them.
  torch::Tensor mean, variance, count;
};
TORCH_MODULE(Normalization);

}  // namespace tlearn::nn
