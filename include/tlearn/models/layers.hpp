#pragma once
/// \file
/// Small pieces every family uses: activations LibTorch lacks, walking a
/// torch::nn::Sequential with a tap after each child, and torchvision's
/// initialisation rules.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tlearn/core/batch_norm.hpp"
#include "tlearn/core/layer_table.hpp"
#include "tlearn/core/tap.hpp"

namespace tlearn::nn {

/// x * relu6(x + 3) / 6 (LibTorch 1.13 has the function but no module).
struct HardswishImpl : torch::nn::Module {
  torch::Tensor forward(const torch::Tensor& x) { return torch::hardswish(x); }
};
TORCH_MODULE(Hardswish);

/// relu6(x + 3) / 6.
struct HardsigmoidImpl : torch::nn::Module {
  torch::Tensor forward(const torch::Tensor& x) { return torch::hardsigmoid(x); }
};
TORCH_MODULE(Hardsigmoid);

}  // namespace tlearn::nn

namespace tlearn::detail {

/// "Conv2d" for torch::nn::Conv2dImpl, "BatchNorm2d" for tlearn's, and so on.
inline std::string module_kind(const torch::nn::Module& m) {
  std::string name = m.name();
  for (const char* prefix : {"torch::nn::", "tlearn::nn::"})
    if (name.rfind(prefix, 0) == 0) name = name.substr(std::string(prefix).size());
  if (name.size() > 4 && name.compare(name.size() - 4, 4, "Impl") == 0) name.resize(name.size() - 4);
  return name;
}

/// Adds one layer per child of `seq` ("<prefix>.<i>") to `table`; returns their
/// names so the forward pass can tap them.
inline std::vector<std::string> add_sequential_layers(LayerTable& table, const std::string& prefix,
                                                      const torch::nn::Sequential& seq) {
  std::vector<std::string> names;
  for (const auto& child : seq->named_children()) {
    names.push_back(prefix + "." + child.key());
    table.add(names.back(), module_kind(*child.value()), {child.value()});
  }
  return names;
}

/// Runs the children of `seq` in order, tapping child i's output under names[i]
/// (an empty name: no tap, for a child whose output belongs to the next row).
inline torch::Tensor forward_sequential(torch::nn::Sequential& seq, const std::vector<std::string>& names,
                                        torch::Tensor x) {
  size_t i = 0;
  for (auto& child : *seq) {
    x = child.forward(x);
    if (!names[i].empty()) tap(names[i], x);
    ++i;
  }
  return x;
}

/// torchvision.ops.StochasticDepth, "row" mode: drops whole samples of the residual
/// branch in training with probability p, scaling the survivors by 1 / (1 - p).
inline torch::Tensor stochastic_depth_row(const torch::Tensor& x, double p, bool training) {
  if (!training || p == 0.0) return x;
  const double survival = 1.0 - p;
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  auto noise = torch::empty(shape, x.options()).bernoulli_(survival);
  if (survival > 0.0) noise.div_(survival);
  return x * noise;
}

/// torchvision's usual initialisation: kaiming-normal (fan_out) convs with zero
/// bias, BatchNorm at 1 / 0, Linear N(0, 0.01) with zero bias.
inline void init_torchvision_default(torch::nn::Module& root) {
  torch::NoGradGuard no_grad;
  for (auto& m : root.modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (conv->bias.defined()) torch::nn::init::zeros_(conv->bias);
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      torch::nn::init::ones_(bn->weight);
      torch::nn::init::zeros_(bn->bias);
    } else if (auto* linear = m->as<torch::nn::Linear>()) {
      torch::nn::init::normal_(linear->weight, 0, 0.01);
      torch::nn::init::zeros_(linear->bias);
    }
  }
}

}  // namespace tlearn::detail
