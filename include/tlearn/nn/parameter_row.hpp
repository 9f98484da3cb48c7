#pragma once
/// \file
/// A module that holds a parameter owned by another module (the same tensor),
/// so that a layer-table row can stand for that parameter alone: ConvNeXt's
/// layer_scale, ViT's class token and position embedding. Freezing the row
/// freezes the model's own parameter; the holder adds no state_dict keys because
/// it is never registered as a child.

#include <torch/torch.h>

#include <string>

namespace tlearn::nn {

class ParameterRowImpl : public torch::nn::Module {
 public:
  ParameterRowImpl(const std::string& name, const torch::Tensor& p) { register_parameter(name, p); }
};
TORCH_MODULE(ParameterRow);

}  // namespace tlearn::nn
