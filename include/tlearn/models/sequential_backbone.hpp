#pragma once
/// \file
/// The shape of torchvision's oldest families (AlexNet, VGG, SqueezeNet): a
/// `features` Sequential run child by child, then a `classifier` Sequential in the
/// top. A family derived from SequentialBackboneImpl fills both in its constructor
/// and writes no forward of its own.

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/layers.hpp"

namespace tlearn {

class SequentialBackboneImpl : public BackboneImpl {
 public:
  using BackboneImpl::BackboneImpl;

 protected:
  torch::Tensor forward_body(torch::Tensor x) override {
    return detail::forward_sequential(features_, feature_taps_, std::move(x));
  }

  torch::nn::Sequential features_{nullptr}, classifier_{nullptr};
  /// The row each child of features_ is tapped as; "" for a child whose output
  /// belongs to the next child's row.
  std::vector<std::string> feature_taps_;
};

}  // namespace tlearn
