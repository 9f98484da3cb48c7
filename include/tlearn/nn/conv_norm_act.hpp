#pragma once
/// \file
/// ConvNormAct: convolution, BatchNorm, activation, the block every CNN family
/// is built from (torchvision's Conv2dNormActivation, Inception's BasicConv2d,
/// timm's ConvNormAct). Its children carry torchvision's names, so checkpoints
/// load unchanged: "0", "1", "2" as Conv2dNormActivation numbers them, or
/// "conv" and "bn" as BasicConv2d names them (its ReLU is a function there, so
/// not a child either).
///
///     auto stem = tlearn::nn::ConvNormAct(tlearn::nn::ConvNormActOptions(3, 32, 3).stride(2)
///                                             .activation(tlearn::nn::Activation::SiLU));
///     stem->add_rows(table, "features.0", {"stem_conv", "stem_bn", "stem_activation"});

#include <torch/torch.h>

#include <string>
#include <vector>

#include "tlearn/core/batch_norm.hpp"
#include "tlearn/core/conv2d.hpp"
#include "tlearn/core/layer_table.hpp"
#include "tlearn/nn/activation.hpp"

namespace tlearn::nn {

/// How a ConvNormAct names its children and rows.
enum class ConvNormActNames {
  Numbered,  ///< children "0", "1", "2"; rows "<path>.0", "<path>.1", "<path>.2" (Conv2dNormActivation)
  Named,     ///< children "conv", "bn"; rows "<path>.conv", "<path>.bn", "<path>" (BasicConv2d)
};

struct ConvNormActOptions {
  /// A k x k convolution without bias, padded by (k - 1) / 2 as torchvision pads it.
  ConvNormActOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size);
  /// Any convolution (Inception's 1x7 padded by (0, 3)); its bias is turned off.
  explicit ConvNormActOptions(torch::nn::Conv2dOptions conv);

  ConvNormActOptions& stride(int64_t stride) {
    conv_.stride(stride);
    return *this;
  }
  ConvNormActOptions& groups(int64_t groups) {
    conv_.groups(groups);
    return *this;
  }

  TORCH_ARG(torch::nn::Conv2dOptions, conv);
  /// BatchNorm's epsilon and momentum (Keras-ported families use 1e-3 and 0.01).
  TORCH_ARG(double, eps) = 1e-5;
  TORCH_ARG(double, momentum) = 0.1;
  /// BatchNorm's weight (gamma); false: only its bias (Keras' scale=False, InceptionV3).
  TORCH_ARG(bool, scale) = true;
  TORCH_ARG(Activation, activation) = Activation::ReLU;
  TORCH_ARG(ConvNormActNames, names) = ConvNormActNames::Numbered;
  /// A Keras ZeroPadding2D row "<path>.pad" before the conv's row (nn/zero_padding.hpp),
  /// where the Keras model pads in a layer of its own.
  TORCH_ARG(bool, padding_row) = false;
  /// TensorFlow's "same" padding instead of torchvision's (k - 1) / 2 (Conv2d::set_tf_same_padding):
  /// Keras' strided convolutions, which pad the odd row and column at the bottom and right.
  TORCH_ARG(bool, tf_same_padding) = false;
  /// Fixed zero padding of the input, {left, right, top, bottom}, instead of
  /// torchvision's (Conv2d::set_input_padding): Keras' ZeroPadding2D(((0, 1), (0, 1))).
  TORCH_ARG(std::vector<int64_t>, input_padding) = {};
};

class ConvNormActImpl : public torch::nn::Module {
 public:
  explicit ConvNormActImpl(const ConvNormActOptions& options);

  /// Adds the block's rows to `table` under its module path (see ConvNormActNames),
  /// with Keras `aliases` for them in order when given (the padding row, when the
  /// options ask for one, is "<path>.pad", aliased by name); forward() then taps them.
  void add_rows(LayerTable& table, const std::string& path, const std::vector<std::string>& aliases = {});

  torch::Tensor forward(torch::Tensor x);

  /// The tap of the block's output (its last row).
  const std::string& output_row() const { return rows_.back(); }

  ConvNormActOptions options;
  Conv2d conv{nullptr};
  BatchNorm2d bn{nullptr};
  torch::nn::AnyModule activation;  ///< empty for Activation::None

 private:
  std::vector<std::string> rows_;
  std::string padding_row_;
};
TORCH_MODULE(ConvNormAct);

}  // namespace tlearn::nn
