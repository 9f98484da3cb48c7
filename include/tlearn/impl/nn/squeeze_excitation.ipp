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
  std::vector<std::string> rows;
  if (options.keras_rows()) {
    rows = {path + ".avgpool", path + ".reshape", path + ".fc1", path + ".fc2", path};
    table.add(rows[0], "AdaptiveAvgPool2d");
    table.add(rows[1], "Reshape");
    table.add(rows[2], "Conv2d", {fc1.ptr(), activation.ptr()});
    table.add(rows[3], "Conv2d", {fc2.ptr(), scale_activation.ptr()});
    table.add(rows[4], "Multiply");
    step_rows_ = {{rows[0], rows[1]}, {}, {rows[2]}, {}, {rows[3]}, {rows[4]}};
  } else {
    rows = {path + ".avgpool", path + ".fc1", path + ".activation", path + ".fc2", path + ".scale_activation", path};
    table.add(rows[0], "AdaptiveAvgPool2d");
    table.add(rows[1], "Conv2d", {fc1.ptr()});
    table.add(rows[2], activation_name(options.activation()), {activation.ptr()});
    table.add(rows[3], "Conv2d", {fc2.ptr()});
    table.add(rows[4], activation_name(options.gate()), {scale_activation.ptr()});
    table.add(rows[5], "Multiply");
    for (const auto& row : rows) step_rows_.push_back({row});
  }
  for (size_t i = 0; i < aliases.size() && i < rows.size(); ++i)
    if (!aliases[i].empty()) table.set_alias(rows[i], aliases[i]);
}

torch::Tensor SqueezeExcitationImpl::forward(const torch::Tensor& x) {
  size_t step = 0;
  auto tap_step = [&](const torch::Tensor& t) {
    if (step < step_rows_.size())
      for (const auto& row : step_rows_[step]) tap(row, t);
    ++step;
  };
  auto scale = torch::adaptive_avg_pool2d(x, {1, 1});
  tap_step(scale);
  scale = fc1->forward(scale);
  tap_step(scale);
  scale = activation.forward(scale);
  tap_step(scale);
  scale = fc2->forward(scale);
  tap_step(scale);
  scale = scale_activation.forward(scale);
  tap_step(scale);
  auto y = scale * x;
  tap_step(y);
  return y;
}

}  // namespace tlearn::nn
