// Implementation of tlearn/core/summary.hpp.
#include "tlearn/core/summary.hpp"

#include <iomanip>
#include <map>
#include <sstream>

namespace tlearn {

namespace {

std::string thousands(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

std::string keras_layer_type(const std::string& kind, const torch::nn::Module* module) {
  if (kind == "Conv2d") {
    if (auto* conv = dynamic_cast<const torch::nn::Conv2dImpl*>(module)) {
      const auto& o = conv->options;
      if (o.groups() > 1 && o.groups() == o.in_channels()) return "DepthwiseConv2D";
    }
    return "Conv2D";
  }
  static const std::map<std::string, std::string> words = {
      {"Linear", "Dense"},
      {"BatchNorm2d", "BatchNormalization"},
      {"LayerNorm", "LayerNormalization"},
      {"LayerNorm2d", "LayerNormalization"},
      {"ReLU6", "ReLU"},
      {"SiLU", "Activation"},
      {"GELU", "Activation"},
      {"Sigmoid", "Activation"},
      {"Hardswish", "Activation"},
      {"Hardsigmoid", "Activation"},
      {"Tanh", "Activation"},
      {"MaxPool2d", "MaxPooling2D"},
      {"AvgPool2d", "AveragePooling2D"},
      {"AdaptiveAvgPool2d", "GlobalAveragePooling2D"},
      {"AdaptiveMaxPool2d", "GlobalMaxPooling2D"},
      {"ZeroPad2d", "ZeroPadding2D"},
      {"SeparableConv2d", "SeparableConv2D"},
      {"ConvTranspose2d", "Conv2DTranspose"},
      {"Dropout2d", "SpatialDropout2D"},
  };
  auto it = words.find(kind);
  return it == words.end() ? kind : it->second;
}

std::string summary_shape(const torch::Tensor& t) {
  std::ostringstream s;
  s << "(None";
  for (int64_t d = 1; d < t.dim(); ++d) s << ", " << t.size(d);
  s << ")";
  return s.str();
}

void print_summary(std::ostream& os, const std::string& title, const std::vector<SummaryRow>& rows,
                   const torch::nn::Module& model, const SummaryOptions& options) {
  const int name_w = 52, shape_w = 30, param_w = options.show_trainable() ? 14 : 12;
  const int width = name_w + shape_w + param_w + (options.show_trainable() ? 10 : 4);
  const std::string rule(size_t(width), '_'), double_rule(size_t(width), '=');
  os << "Model: \"" << title << "\"\n" << rule << "\n";
  os << " " << std::left << std::setw(name_w) << "Layer (type)" << std::setw(shape_w) << "Output Shape"
     << std::setw(param_w) << "Param #";
  if (options.show_trainable()) os << "Trainable";
  os << "\n" << double_rule << "\n";
  for (const auto& row : rows) {
    const std::string label = std::string(size_t(row.depth) * 2, ' ') + row.name + " (" + row.type + ")";
    os << " " << std::left << std::setw(name_w) << label << std::setw(shape_w) << row.output_shape << std::setw(param_w)
       << thousands(row.params);
    if (options.show_trainable()) {
      const char* flag = row.params == 0                      ? (row.trainable ? "Y" : "N")
                         : row.trainable_params == row.params ? "Y"
                         : row.trainable_params == 0          ? "N"
                                                              : "part";
      os << flag;
    }
    os << "\n";
  }
  int64_t total = 0, trainable = 0;
  for (const auto& p : model.parameters()) {
    total += p.numel();
    if (p.requires_grad()) trainable += p.numel();
  }
  os << double_rule << "\n";
  os << "Total params: " << thousands(total) << "\n";
  os << "Trainable params: " << thousands(trainable) << "\n";
  os << "Non-trainable params: " << thousands(total - trainable) << "\n";
  os << rule << "\n";
}

}  // namespace tlearn
