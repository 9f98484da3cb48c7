#pragma once
/// \file
/// Small pieces every family uses: walking a torch::nn::Sequential with a tap
/// after each child, torchvision's rounding and initialisation rules; and the
/// blocks of tlearn/nn (ConvNormAct, SqueezeExcitation, ReLU).

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tlearn/core/batch_norm.hpp"
#include "tlearn/core/conv2d.hpp"
#include "tlearn/core/layer_table.hpp"
#include "tlearn/core/linear.hpp"
#include "tlearn/core/tap.hpp"
#include "tlearn/models/spec.hpp"
#include "tlearn/nn/activation.hpp"
#include "tlearn/nn/conv_norm_act.hpp"
#include "tlearn/nn/squeeze_excitation.hpp"

namespace tlearn::nn {

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
std::string module_kind(const torch::nn::Module& m);

/// Adds one layer per child of `seq` ("<prefix>.<i>") to `table`; returns their
/// names so the forward pass can tap them.
std::vector<std::string> add_sequential_layers(LayerTable& table, const std::string& prefix,
                                               const torch::nn::Sequential& seq);

/// Runs the children of `seq` in order, tapping child i's output under names[i]
/// (an empty name: no tap, for a child whose output belongs to the next row).
torch::Tensor forward_sequential(torch::nn::Sequential& seq, const std::vector<std::string>& names, torch::Tensor x);

/// torchvision's _make_divisible (and mnasnet's _round_to_multiple_of): `v` rounded to
/// a multiple of `divisor`, never below `divisor` nor more than 10% below `v`.
int64_t make_divisible(double v, int64_t divisor = 8);

/// A run of leaf modules with a tap after each, for blocks whose torchvision
/// modules nest Sequentials (Conv2dNormActivation inside InvertedResidual):
/// append() flattens them, adding one table row per leaf ("block.0.1").
class LeafChain {
 public:
  /// Appends every leaf of `seq`, recursively, as rows "<prefix>.<i>[.<j>...]";
  /// a ConvNormAct or SqueezeExcitation child adds its own rows.
  void append(LayerTable& table, const std::string& prefix, const torch::nn::SequentialImpl& seq);

  /// Appends one module as the row `name`; with an empty `kind` no row and no tap
  /// (a module that adds its own rows and taps them in its forward).
  void append(LayerTable& table, const std::string& name, torch::nn::AnyModule module, const std::string& kind);

  /// Appends a ConvNormAct, which adds its own rows under `path` (with Keras `aliases`).
  void append_block(LayerTable& table, const std::string& path, nn::ConvNormAct block,
                    const std::vector<std::string>& aliases = {});

  torch::Tensor forward(torch::Tensor x);

  /// Row name of the chain's output (its last row).
  const std::string& last() const { return outputs_.back(); }

 private:
  std::vector<torch::nn::AnyModule> leaves_;
  std::vector<std::string> taps_;     ///< tapped after the leaf runs; empty: the leaf taps itself
  std::vector<std::string> outputs_;  ///< the row holding each leaf's output
};

/// Builds feature_info from a model's units in forward order: the last unit
/// before each reduction (and the last of all) ends a stage.
class StageTracker {
 public:
  /// A unit with output tap `name`, `channels` out, reducing its input by `stride`.
  void add(std::string name, int64_t channels, int64_t stride);

  std::vector<FeatureInfo> finish() const;

 private:
  std::vector<FeatureInfo> stages_;
  FeatureInfo pending_;
  int64_t total_stride_ = 1;
};

/// Keras' model-wide numbering of layers it names itself: a class's first
/// unnamed layer is "conv2d", the next "conv2d_1", and so on (Xception's
/// shortcut convs, the adds; Keras 3's paths inside .weights.h5 files).
class KerasLayerNumbering {
 public:
  /// `keras_class` ("conv2d") the first time, then "conv2d_1", "conv2d_2", ...
  std::string next(const std::string& keras_class);

 private:
  std::map<std::string, int> seen_;
};

/// The order in which Keras lists a functional model's layers (model.layers), for
/// families whose Keras model branches (InceptionV3): the deepest first, by the
/// longest path from a layer to the output, ties in the order a depth-first walk
/// from the output back through each layer's inputs (in order) first reaches them.
/// A family records each row with the rows it reads, then sorts its table.
class KerasGraph {
 public:
  /// Row `name`, fed by `inputs` (rows added before); returns `name` for chaining.
  std::string add(const std::string& name, const std::vector<std::string>& inputs);

  /// Puts the graph's rows of `table` in Keras' order, the last added being the
  /// output; rows not in the graph (the top) follow in their own order.
  void sort(LayerTable& table) const;

 private:
  std::vector<std::string> names_;
  std::vector<std::vector<size_t>> inputs_;
  std::map<std::string, size_t> index_;
};

/// BatchNorm as Keras defaults it: epsilon 1e-3 (unless given), momentum 0.99
/// (PyTorch's 0.01: Keras weighs the old statistics, PyTorch the new batch).
nn::BatchNorm2d keras_batch_norm(int64_t channels, double eps = 1e-3);

/// torchvision's usual initialisation: kaiming-normal (fan_out) convs with zero
/// bias, BatchNorm at 1 / 0, Linear N(0, 0.01) with zero bias.
void init_torchvision_default(torch::nn::Module& root);

/// Keras' initialisation, for the families Keras defines: Glorot-uniform kernels
/// (convolutions, separable convolutions' two, Dense) with zero biases; BatchNorm
/// keeps its 1 / 0.
void init_keras_default(torch::nn::Module& root);

}  // namespace tlearn::detail
