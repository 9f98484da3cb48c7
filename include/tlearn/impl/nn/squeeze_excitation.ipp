// Implementation of tlearn/nn/squeeze_excitation.hpp.
#include "tlearn/core/error.hpp"
#include "tlearn/core/tap.hpp"
#include "tlearn/nn/squeeze_excitation.hpp"

namespace tlearn::nn {

SqueezeExcitationImpl::SqueezeExcitationImpl(const SqueezeExcitationOptions& options_) : options(options_) {
  if (options.activation() == Activation::None || options.gate() == Activation::None)
    throw Error("SqueezeExcitation needs an activation and a gate (Activation::None was given)");
  fc1 = register_module("fc1", Conv2d(torch::nn::Conv2dOptions(options.channels(), options.squeeze_channels(), 1)));
  fc2 = register_module("fc2", Conv2d(torch::nn::Conv2dOptions(options.squeeze_channels(), options.channels(), 1)));
  activation = make_activation(options.activation());
  scale_activation = make_activation(options.gate());
  register_module("activation", activation.ptr());
  register_module("scale_activation", scale_activation.ptr());
}

void SqueezeExcitationImpl::add_rows(LayerTable& table, const std::string& path,
                                     const std::vector<std::string>& aliases) {
  rows_ = {path + ".avgpool", path + ".fc1", path + ".activation", path + ".fc2", path + ".scale_activation", path};
  table.add(rows_[0], "AdaptiveAvgPool2d");
  table.add(rows_[1], "Conv2d", {fc1.ptr()});
  table.add(rows_[2], activation_name(options.activation()), {activation.ptr()});
  table.add(rows_[3], "Conv2d", {fc2.ptr()});
  table.add(rows_[4], activation_name(options.gate()), {scale_activation.ptr()});
  table.add(rows_[5], "Multiply");
  for (size_t i = 0; i < aliases.size() && i < rows_.size(); ++i)
    if (!aliases[i].empty()) table.set_alias(rows_[i], aliases[i]);
}

torch::Tensor SqueezeExcitationImpl::forward(const torch::Tensor& x) {
  const bool tapped = !rows_.empty();
  auto scale = torch::adaptive_avg_pool2d(x, {1, 1});
  if (tapped) tap(rows_[0], scale);
  scale = fc1->forward(scale);
  if (tapped) tap(rows_[1], scale);
  scale = activation.forward(scale);
  if (tapped) tap(rows_[2], scale);
  scale = fc2->forward(scale);
  if (tapped) tap(rows_[3], scale);
  scale = scale_activation.forward(scale);
  if (tapped) tap(rows_[4], scale);
  auto y = scale * x;
  if (tapped) tap(rows_[5], y);
  return y;
}

}  // namespace tlearn::nn
