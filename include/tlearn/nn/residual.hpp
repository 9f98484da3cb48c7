#pragma once
/// \file
/// The residual join every family's blocks end with: shortcut + the branch, the
/// branch first dropped per sample in training (stochastic depth: torchvision's
/// StochasticDepth in "row" mode, timm's DropPath), scaling the samples kept by
/// 1 / (1 - p). Rows are the family's to add (their names and Keras aliases
/// differ); ResidualAdd taps the dropped branch and the sum under the names given.
///
///     residual_ = nn::ResidualAdd(p).taps(prefix + ".stochastic_depth", prefix + ".add");
///     return residual_(input, chain_.forward(input), is_training());

#include <torch/torch.h>

#include <string>

namespace tlearn::nn {

/// `x` with whole samples zeroed with probability `p` in training and the rest
/// scaled by 1 / (1 - p); `x` itself outside training or with p = 0.
torch::Tensor stochastic_depth(const torch::Tensor& x, double p, bool training);

class ResidualAdd {
 public:
  explicit ResidualAdd(double drop_prob = 0.0);

  /// Tap names for the dropped branch and the sum; an empty name taps nothing.
  ResidualAdd& taps(std::string dropped, std::string sum);

  double drop_prob() const { return drop_prob_; }

  /// shortcut + stochastic_depth(branch, drop_prob, training).
  torch::Tensor operator()(const torch::Tensor& shortcut, const torch::Tensor& branch, bool training) const;

 private:
  double drop_prob_;
  std::string dropped_tap_, sum_tap_;
};

}  // namespace tlearn::nn
