#pragma once
/// \file
/// The ImageNet top of a backbone (pooling, flatten, dropout, the classifier),
/// declared once as a list of rows. The same list gives the layer table its rows
/// and the forward pass its taps, so the two cannot disagree. A family declares
/// its top from the first layer to the last, as Keras lists them:
///
///     top_.mean("avgpool", "avg_pool").module("fc", fc_, "predictions");   // resnet
///     top_.add_rows(table_);
///
/// BackboneImpl::forward_top runs it. A row named "" is applied but has no row of
/// its own and records nothing (torchvision's functional flatten, say).
/// The block owns no parameters: the modules stay registered where the family
/// registered them, so state_dict keys are torchvision's.

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tlearn/core/layer_table.hpp"
#include "tlearn/core/predict.hpp"

namespace tlearn::nn {

class ClassifierTop {
 public:
  /// One row of a Sequential declared by sequential(seq, rows): `count` consecutive
  /// children, the row named `name` (tapped after the last of them).
  struct Group {
    std::string name;
    size_t count = 1;
    std::string kind;
    std::string alias = {};
  };

  /// A step with no row of its own, as torchvision's functional code between the
  /// top's modules: `fn` turns what arrives into what the next row takes (a vision
  /// transformer's class token in place of its token map, say).
  ClassifierTop& step(std::function<torch::Tensor(const torch::Tensor&)> fn);
  /// Global average pooling to (N, C), as torchvision's `x.mean({2, 3})`.
  ClassifierTop& mean(std::string row, std::string alias = "", std::string kind = "AdaptiveAvgPool2d");
  /// Adaptive average pooling to (N, C, size, size): nn.AdaptiveAvgPool2d(size).
  ClassifierTop& pool(std::string row, std::string alias = "", int64_t size = 1);
  /// Adaptive average pooling to `size` and a flatten, recorded as one row (N, C*size*size).
  ClassifierTop& pool_flat(std::string row, std::string alias = "", int64_t size = 1,
                           std::string kind = "AdaptiveAvgPool2d");
  ClassifierTop& flatten(std::string row = "", std::string alias = "", std::string kind = "Flatten");
  /// Dropout with probability `p` while training (the identity when p is 0).
  ClassifierTop& dropout(double p, std::string row = "");
  /// A module (a Linear, a 1x1 Conv2d) as one row; its kind is the module's own unless given.
  template <class Holder>
  ClassifierTop& module(std::string row, Holder holder, std::string alias = "", std::string kind = "") {
    return any_module(std::move(row), torch::nn::AnyModule(holder), holder.ptr(), std::move(alias), std::move(kind));
  }
  /// Every child of `seq` as a row "<prefix>.<index>" of the child's kind.
  ClassifierTop& sequential(const std::string& prefix, const torch::nn::Sequential& seq);
  /// The children of `seq` grouped into rows, in order; the groups cover every child.
  ClassifierTop& sequential(const torch::nn::Sequential& seq, const std::vector<Group>& groups);
  /// Keras' final Activation layer as a row of kind "Activation": the backbone applies
  /// the classifier activation after the top, so the row only records the probabilities
  /// while a tap records (summary, taps), and passes the logits on.
  ClassifierTop& output_activation(std::string row, std::string alias, tlearn::Activation activation);

  /// Adds the named rows to `table`, in order (call once, after the body's rows).
  void add_rows(LayerTable& table) const;
  /// The feature map through every row, tapping each named one.
  torch::Tensor forward(torch::Tensor x, bool training) const;
  bool empty() const { return rows_.empty(); }

 private:
  struct Row {
    std::string name, kind, alias;
    std::vector<std::shared_ptr<torch::nn::Module>> modules;
    std::function<torch::Tensor(torch::Tensor, bool training)> apply;
    bool recorded_only = false;
  };
  ClassifierTop& any_module(std::string row, torch::nn::AnyModule module, std::shared_ptr<torch::nn::Module> ptr,
                            std::string alias, std::string kind);
  ClassifierTop& add(Row row);

  std::vector<Row> rows_;
};

}  // namespace tlearn::nn
