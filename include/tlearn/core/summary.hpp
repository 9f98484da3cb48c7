#pragma once
/// \file
/// Keras' model.summary() for every tlearn model: one row per layer (name, type,
/// output shape, parameters, optionally whether it trains), then Total /
/// Trainable / Non-trainable. A Classifier or segmentation model shows its
/// backbone as one row, or all of the backbone's rows with expand_nested.
///
///     model->summary(std::cout, tlearn::SummaryOptions().show_trainable(true).keras_types(true));

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace tlearn {

struct SummaryOptions {
  /// {H, W} of the input the output shapes are measured at; empty: the model's input_shape().
  TORCH_ARG(std::vector<int64_t>, input_shape) = {};
  /// Keras' expand_nested: the backbone's own rows instead of one row for it.
  TORCH_ARG(bool, expand_nested) = false;
  /// Keras' show_trainable: a column saying Y, N (frozen) or "part" (some of it frozen).
  TORCH_ARG(bool, show_trainable) = false;
  /// Layer types in Keras' words where Keras has the layer (Conv2D, Dense,
  /// BatchNormalization, GlobalAveragePooling2D, ...) instead of torch's.
  TORCH_ARG(bool, keras_types) = false;
};

/// One row of a summary table.
struct SummaryRow {
  std::string name;  ///< the Keras alias where there is one, else the torchvision name
  std::string type;  ///< torch's class name ("Conv2d"), or Keras' with keras_types
  std::string output_shape;
  int64_t params = 0;
  int64_t trainable_params = 0;
  /// For rows without parameters: whether the layer is marked trainable.
  bool trainable = true;
  /// 0 for the model's own rows, 1 for the rows of a nested (expanded) backbone.
  int depth = 0;
};

/// Keras' name for a layer of torch type `kind` ("Conv2d" -> "Conv2D", or
/// "DepthwiseConv2D" when `module` is a depthwise convolution); `kind` itself
/// where Keras has no such layer.
std::string keras_layer_type(const std::string& kind, const torch::nn::Module* module = nullptr);

/// "(None, 64, 112, 112)": a tensor's shape with the batch dimension as Keras writes it.
std::string summary_shape(const torch::Tensor& t);

/// Prints the table: title, rows, and the parameter totals of `model`.
void print_summary(std::ostream& os, const std::string& title, const std::vector<SummaryRow>& rows,
                   const torch::nn::Module& model, const SummaryOptions& options);

}  // namespace tlearn
