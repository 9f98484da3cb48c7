#pragma once
/// \file
/// The Linear that tlearn models build: torch's Linear (same options, parameter
/// names and maths) that can also run with its weights prepacked for oneDNN.
///
/// Why: torch::linear runs on the BLAS's sgemm (MKL's in the PyPI wheel), which
/// can be well below oneDNN's speed with weights reordered once
/// (`python benchmarks/linear_backends.py` measures both on vit_b_16's MLP shape;
/// the README's Performance section quotes a run). One packed copy serves every
/// batch size. optimize_for_inference turns packing on; like nn::Conv2d, the
/// layer then packs on first use when no gradient is recorded, packs again when
/// its weight changes, and leaves everything else (gradients, other devices or
/// dtypes, a LibTorch without oneDNN's linear operators, such as 1.13) to torch's
/// forward.

#include <torch/torch.h>

#include <mutex>

#include "tlearn/core/prepackable.hpp"
#include "tlearn/detail/packed_weights.hpp"

namespace tlearn::nn {

/// A weight (and bias) packed once for oneDNN's matrix product, shared by the
/// layers that compute x W^T + b: Linear, and attention's input projection.
class PackedLinearWeights {
 public:
  /// Whether this LibTorch offers oneDNN's linear operators (LibTorch 2.x built with oneDNN).
  static bool available();

  /// torch::linear(input, weight, bias) through the packed weight, packing it on
  /// first use; an undefined tensor when this call must go through torch::linear
  /// (gradients recorded, another device or dtype, oneDNN declined).
  torch::Tensor linear(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias);

  /// Drops the packed copy.
  void clear();
  /// Whether a packed copy is held now (tests and diagnostics).
  bool packed();

 private:
  bool can_run(const torch::Tensor& input, const torch::Tensor& weight, const torch::Tensor& bias) const;

  std::mutex mutex_;
  torch::Tensor packed_;
  detail::WeightStamp stamp_;
  bool unsupported_ = false;
};

class LinearImpl : public torch::nn::LinearImpl, public Prepackable {
 public:
  using torch::nn::LinearImpl::LinearImpl;

  torch::Tensor forward(const torch::Tensor& input);

  void set_prepacked(bool on) override;
  bool prepacked() const override { return prepack_; }
  /// Whether a packed copy of the weights is held now (tests and diagnostics).
  bool holds_packed_weights() { return packed_.packed(); }

 private:
  bool prepack_ = false;
  PackedLinearWeights packed_;
};

TORCH_MODULE(Linear);

}  // namespace tlearn::nn
