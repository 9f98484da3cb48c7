#pragma once
/// \file
/// Small pieces every family uses: activations LibTorch lacks, walking a
/// torch::nn::Sequential with a tap after each child, and torchvision's
/// initialisation rules.

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tlearn/core/batch_norm.hpp"
#include "tlearn/core/conv2d.hpp"
#include "tlearn/core/layer_table.hpp"
#include "tlearn/core/tap.hpp"
#include "tlearn/models/spec.hpp"

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

/// A torch::nn::Sequential that can sit inside another one (LibTorch's cannot: its
/// forward is a template), for torchvision's nested Sequentials such as
/// Conv2dNormActivation inside an inverted residual.
class NestedSequentialImpl : public torch::nn::SequentialImpl {
 public:
  using torch::nn::SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return torch::nn::SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(NestedSequential);

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

/// torchvision's _make_divisible (and mnasnet's _round_to_multiple_of): `v` rounded to
/// a multiple of `divisor`, never below `divisor` nor more than 10% below `v`.
inline int64_t make_divisible(double v, int64_t divisor = 8) {
  int64_t rounded = std::max<int64_t>(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

/// torchvision's Conv2dNormActivation: Conv2d (no bias, padding (k - 1) / 2), BatchNorm2d
/// (eps, momentum) and, unless `activation` is empty, the activation.
inline nn::NestedSequential conv_norm_activation(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                                                  int64_t groups, double eps, double momentum,
                                                  torch::nn::AnyModule activation = {}) {
  nn::NestedSequential seq(
      nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding((kernel - 1) / 2)
                            .groups(groups).bias(false)),
      nn::BatchNorm2d(torch::nn::BatchNormOptions(out).eps(eps).momentum(momentum)));
  if (!activation.is_empty()) seq->push_back(std::move(activation));
  return seq;
}

/// A run of leaf modules with a tap after each, for blocks whose torchvision
/// modules nest Sequentials (Conv2dNormActivation inside InvertedResidual):
/// append() flattens them, adding one table row per leaf ("block.0.1").
class LeafChain {
 public:
  /// Appends every leaf of `seq`, recursively, as rows "<prefix>.<i>[.<j>...]".
  void append(LayerTable& table, const std::string& prefix, const torch::nn::SequentialImpl& seq) {
    size_t i = 0;
    for (const auto& child : seq) {
      auto name = prefix + "." + std::to_string(i++);
      if (auto nested = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(child.ptr()))
        append(table, name, *nested);
      else
        append(table, name, child, module_kind(*child.ptr()));
    }
  }

  /// Appends one module as the row `name`; with an empty `kind` no row and no tap
  /// (a module that adds its own rows and taps them in its forward).
  void append(LayerTable& table, const std::string& name, torch::nn::AnyModule module, const std::string& kind) {
    if (!kind.empty()) table.add(name, kind, {module.ptr()});
    taps_.push_back(kind.empty() ? std::string() : name);
    leaves_.push_back(std::move(module));
  }

  torch::Tensor forward(torch::Tensor x) {
    for (size_t i = 0; i < leaves_.size(); ++i) {
      x = leaves_[i].forward(x);
      if (!taps_[i].empty()) tap(taps_[i], x);
    }
    return x;
  }

  /// Tap name of the last row (the chain's output).
  const std::string& last() const { return taps_.back(); }

 private:
  std::vector<torch::nn::AnyModule> leaves_;
  std::vector<std::string> taps_;
};

/// Builds feature_info from a model's units in forward order: the last unit
/// before each reduction (and the last of all) ends a stage.
class StageTracker {
 public:
  /// A unit with output tap `name`, `channels` out, reducing its input by `stride`.
  void add(std::string name, int64_t channels, int64_t stride) {
    if (stride > 1 && !pending_.name.empty()) stages_.push_back(pending_);
    total_stride_ *= stride;
    pending_ = FeatureInfo{std::move(name), channels, total_stride_};
  }

  std::vector<FeatureInfo> finish() const {
    auto stages = stages_;
    if (!pending_.name.empty()) stages.push_back(pending_);
    return stages;
  }

 private:
  std::vector<FeatureInfo> stages_;
  FeatureInfo pending_;
  int64_t total_stride_ = 1;
};

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
