// Implementation of tlearn/nn/conv_norm_act.hpp.
#include "tlearn/core/tap.hpp"
#include "tlearn/nn/conv_norm_act.hpp"
#include "tlearn/nn/zero_padding.hpp"

namespace tlearn::nn {

ConvNormActOptions::ConvNormActOptions(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
    : conv_(torch::nn::Conv2dOptions(in_channels, out_channels, kernel_size).padding((kernel_size - 1) / 2)) {}

ConvNormActOptions::ConvNormActOptions(torch::nn::Conv2dOptions conv) : conv_(std::move(conv)) {}

ConvNormActImpl::ConvNormActImpl(const ConvNormActOptions& options_) : options(options_) {
  const bool numbered = options.names() == ConvNormActNames::Numbered;
  conv = register_module(numbered ? "0" : "conv", Conv2d(torch::nn::Conv2dOptions(options.conv()).bias(false)));
  if (options.tf_same_padding()) conv->set_tf_same_padding(true);
  if (!options.input_padding().empty()) conv->set_input_padding(options.input_padding());
  bn = register_module(
      numbered ? "1" : "bn",
      BatchNorm2d(
          torch::nn::BatchNormOptions(options.conv().out_channels()).eps(options.eps()).momentum(options.momentum()),
          options.scale()));
  activation = make_activation(options.activation());
  // BasicConv2d applies its ReLU as a function: no child, the row still holds the module.
  if (numbered && !activation.is_empty()) register_module("2", activation.ptr());
}

void ConvNormActImpl::add_rows(LayerTable& table, const std::string& path, const std::vector<std::string>& aliases) {
  const bool numbered = options.names() == ConvNormActNames::Numbered;
  rows_ = {path + (numbered ? ".0" : ".conv"), path + (numbered ? ".1" : ".bn")};
  if (options.padding_row()) {
    padding_row_ = path + ".pad";
    table.add(padding_row_, kZeroPaddingKind);
  }
  table.add(rows_[0], "Conv2d", {conv.ptr()});
  table.add(rows_[1], "BatchNorm2d", {bn.ptr()});
  if (!activation.is_empty()) {
    rows_.push_back(numbered ? path + ".2" : path);
    table.add(rows_[2], activation_name(options.activation()), {activation.ptr()});
  }
  for (size_t i = 0; i < aliases.size() && i < rows_.size(); ++i) table.set_alias(rows_[i], aliases[i]);
}

torch::Tensor ConvNormActImpl::forward(torch::Tensor x) {
  const bool tapped = !rows_.empty();
  if (!padding_row_.empty()) {
    if (!conv->pads_input())
      tap_zero_padded(padding_row_, x, options.conv().kernel_size()->at(0) / 2);
    else if (tap_recording())
      tap(padding_row_, conv->pad_input(x));
  }
  x = conv->forward(x);
  if (tapped) tap(rows_[0], x);
  x = bn->forward(x);
  if (tapped) tap(rows_[1], x);
  if (activation.is_empty()) return x;
  x = activation.forward(x);
  if (tapped) tap(rows_[2], x);
  return x;
}

}  // namespace tlearn::nn
