// Implementation of tlearn/models/keras_weights.hpp.
#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <map>
#include <sstream>

#include "tlearn/core/error.hpp"
#include "tlearn/models/keras_weights.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/nn/channel_order.hpp"
#include "tlearn/nn/normalization.hpp"
#include "tlearn/nn/parameter_row.hpp"
#include "tlearn/nn/separable_conv.hpp"

namespace tlearn {

namespace {

std::string shape_string(torch::IntArrayRef sizes) {
  std::ostringstream s;
  s << sizes;
  return s.str();
}

/// A Keras layer's weights by role. Legacy files name them ("kernel", "gamma");
/// Keras 3 files number them in the layer's variable order.
class KerasWeights {
 public:
  explicit KerasWeights(const io::KerasLayer& layer) : layer_(layer) {
    for (const auto& w : layer.weights) named_ = named_ || w.name.find_first_not_of("0123456789") != std::string::npos;
  }

  /// The weight named one of `names` (legacy) or at `index` (Keras 3); undefined if absent.
  torch::Tensor get(std::initializer_list<const char*> names, size_t index) const {
    if (!named_) return index < layer_.weights.size() ? layer_.weights[index].value : torch::Tensor();
    for (const auto& w : layer_.weights)
      for (const char* n : names)
        if (w.name == n) return w.value;
    return torch::Tensor();
  }

  size_t size() const { return layer_.weights.size(); }
  bool named() const { return named_; }
  const std::string& name() const { return layer_.name; }

 private:
  const io::KerasLayer& layer_;
  bool named_ = false;
};

/// C, H, W of the map a Flatten before a Dense of `in_features` inputs flattened
/// (square, as Keras' fixed-size tops are).
std::array<int64_t, 3> flattened_map(const BackboneImpl& model, int64_t in_features, const std::string& layer) {
  const int64_t channels = model.output_channels();
  const auto cells = channels > 0 && in_features % channels == 0 ? in_features / channels : 0;
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(double(cells))));
  if (cells == 0 || side * side != cells)
    throw Error("Keras layer '" + layer + "' follows a Flatten of " + std::to_string(in_features) +
                " values that tlearn cannot split into a square map of " + std::to_string(channels) +
                " channels; build the model at Keras' (square) input size");
  return {channels, side, side};
}

/// The modules of `row` that hold weights (vgg's row also holds its ReLU, which has none).
std::vector<std::shared_ptr<torch::nn::Module>> weighted_modules(const Layer& row) {
  std::vector<std::shared_ptr<torch::nn::Module>> found;
  for (const auto& m : row.modules)  // Keras' Normalization: weights that are buffers here
    if (!m->parameters().empty() || m->as<nn::NormalizationImpl>()) found.push_back(m);
  return found;
}

/// The one module of a Keras-named row that holds weights, or nullptr; two such
/// modules leave no way to match one Keras layer.
std::shared_ptr<torch::nn::Module> weighted_module(const Layer& row, const std::string& keras_layer) {
  const auto found = weighted_modules(row);
  if (found.size() > 1)
    throw Error("Keras layer '" + keras_layer + "': the row " + row.name +
                " holds several modules with weights; tlearn cannot tell which one the Keras weights fill");
  return found.empty() ? nullptr : found.front();
}

/// The Keras class, in snake case as Keras 3 names its layers' groups, of the layer a
/// weighted module stands for ("conv2d", "batch_normalization"); empty for none.
/// A row that names its class (Layer::keras_class) overrides the module's.
std::string keras_class(const torch::nn::Module& m, const std::string& row_class = "") {
  if (!row_class.empty()) return row_class;
  if (auto* conv = m.as<torch::nn::Conv2dImpl>()) {
    const auto& o = conv->options;
    if (o.groups() == 1) return "conv2d";
    return o.groups() == o.in_channels() ? "depthwise_conv2d" : "";
  }
  if (m.as<nn::SeparableConv2dImpl>()) return "separable_conv2d";
  if (m.as<torch::nn::LinearImpl>()) return "dense";
  if (m.as<torch::nn::LayerNormImpl>() || m.as<nn::LayerNorm2dImpl>()) return "layer_normalization";
  if (m.as<nn::NormalizationImpl>()) return "normalization";
  if (m.named_buffers(false).contains("running_mean")) return "batch_normalization";
  return "";
}

/// Whether Keras generated `name` for a layer of `keras_class`: "conv2d", "conv2d_3".
/// Such names depend on what the saving process built before (Keras 2.0 started at
/// "conv2d_1"), so they are not compared, only the names a model gives its layers.
bool generated_name(const std::string& name, const std::string& keras_class) {
  if (keras_class.empty() || name.compare(0, keras_class.size(), keras_class) != 0) return false;
  const auto rest = name.substr(keras_class.size());
  return rest.empty() ||
         (rest.size() > 1 && rest[0] == '_' && rest.find_first_not_of("0123456789", 1) == std::string::npos);
}

/// One Keras layer with weights and the module of the model it fills: a row's, or
/// one layer of a nested Sequential row (Layer::keras_sublayers).
struct KerasRow {
  size_t row;
  std::shared_ptr<torch::nn::Module> module;  ///< null: the row has none, or several
  std::string name;                           ///< the Keras layer's name
  std::string keras_class;                    ///< empty: no Keras layer has this row's weights
  std::string path;                           ///< its group in a Keras 3 file ("layers/conv2d_3")
};

/// The Keras-named rows with weights, in model order, with their Keras 3 paths:
/// the class in snake case, numbered in model order. A nested Sequential counts as
/// one layer of its class, its own layers numbered inside it
/// ("layers/sequential_1/layers/conv2d").
std::vector<KerasRow> keras_rows(const BackboneImpl& model) {
  std::vector<KerasRow> rows;
  detail::KerasLayerNumbering numbering;
  const auto& table = model.layer_table();
  for (size_t i = 0; i < table.size(); ++i) {
    const auto& row = table[i];
    if (row.alias.empty()) continue;
    if (!row.keras_sublayers.empty()) {
      if (row.keras_sublayers.size() != row.modules.size())
        throw Error("row " + row.name + " names " + std::to_string(row.keras_sublayers.size()) + " Keras layers for " +
                    std::to_string(row.modules.size()) + " modules");
      const std::string outer = "layers/" + numbering.next(row.keras_class.empty() ? "sequential" : row.keras_class);
      detail::KerasLayerNumbering inner;
      for (size_t k = 0; k < row.modules.size(); ++k) {
        const auto& module = row.modules[k];
        if (module->parameters().empty()) continue;
        const std::string cls = keras_class(*module);
        rows.push_back(
            {i, module, row.keras_sublayers[k], cls, cls.empty() ? "" : outer + "/layers/" + inner.next(cls)});
      }
      continue;
    }
    const auto found = weighted_modules(row);
    if (found.empty()) continue;
    const auto module = found.size() == 1 ? found.front() : nullptr;
    const std::string cls = module ? keras_class(*module, row.keras_class) : "";
    rows.push_back({i, module, row.alias, cls, cls.empty() ? "" : "layers/" + numbering.next(cls)});
  }
  return rows;
}

/// Keras' own rule for load_weights: a Keras 3 file's layers go where their group's
/// path says, a legacy file's in order (the first layer with weights into the first
/// row with weights, ...). Layers left over are the top's, allowed when `skip_unknown`.
/// Each pair must agree by name, but where both names are ones Keras generated for the
/// class. Empty when any check fails: the file is then matched by names alone.
std::vector<std::pair<const io::KerasLayer*, KerasRow>> keras_rule_pairs(const BackboneImpl& model,
                                                                         const std::vector<io::KerasLayer>& layers,
                                                                         bool skip_unknown) {
  const auto rows = keras_rows(model);
  const bool by_path = !layers.empty() && std::all_of(layers.begin(), layers.end(),
                                                      [](const io::KerasLayer& l) { return !l.path.empty(); });
  std::map<std::string, const KerasRow*> row_at_path;
  for (const auto& r : rows)
    if (!r.path.empty()) row_at_path[r.path] = &r;
  std::vector<std::pair<const io::KerasLayer*, KerasRow>> pairs;
  size_t left_over = 0;
  for (size_t k = 0; k < layers.size(); ++k) {
    const KerasRow* row = nullptr;
    if (by_path) {
      auto it = row_at_path.find(layers[k].path);
      if (it != row_at_path.end()) row = it->second;
    } else if (k < rows.size()) {
      row = &rows[k];
    }
    if (!row) {
      ++left_over;
      continue;
    }
    const auto& name = row->name;
    const bool same = layers[k].name == name ||
                      (generated_name(layers[k].name, row->keras_class) && generated_name(name, row->keras_class));
    if (!same || row->keras_class.empty()) return {};
    pairs.emplace_back(&layers[k], *row);
  }
  if (pairs.empty() || (left_over > 0 && !skip_unknown)) return {};
  return pairs;
}

class Converter {
 public:
  Converter(BackboneImpl& model) : model_(model) {
    for (const auto& item : model.named_modules("", /*include_self=*/false)) path_of_[item.value().get()] = item.key();
    own_ = model.named_parameters();
    for (const auto& item : model.named_buffers()) own_.insert(item.key(), item.value());
  }

  void convert(const io::KerasLayer& layer, const KerasRow& keras_row) {
    const size_t row_index = keras_row.row;
    const auto& row = model_.layer_table()[row_index];
    const auto target = keras_row.module ? keras_row.module : weighted_module(row, layer.name);
    if (!target)
      throw Error("Keras layer '" + layer.name + "' has weights but the row " + row.name + " (" + row.kind +
                  ") has none; the file is for another architecture");
    KerasWeights w(layer);
    if (target->as<nn::ParameterRowImpl>()) {  // Keras' LayerScale: gamma (C,), here (C, 1, 1)
      const auto own = target->parameters().front();
      const std::string key = key_of(own, row.name);
      // Its one weight, whatever its name ("gamma", Keras 3's "variable_12", TF's "Variable").
      auto gamma = w.size() == 1 ? layer.weights.front().value : torch::Tensor();
      if (!gamma.defined()) gamma = require(w, {"gamma"}, 0, "gamma");
      if (gamma.numel() != own.numel()) bad_shape(w, "gamma", gamma, key);
      put(w, "gamma", key, gamma.reshape(own.sizes()));
      return;
    }
    const std::string prefix = path_of_.at(target.get()) + ".";

    if (auto* sep = target->as<nn::SeparableConv2dImpl>()) {
      // depthwise_kernel (kh, kw, in, multiplier), pointwise_kernel (1, 1, in * multiplier, out), bias.
      auto depthwise = require(w, {"depthwise_kernel"}, 0, "depthwise_kernel");
      auto pointwise = require(w, {"pointwise_kernel"}, 1, "pointwise_kernel");
      if (depthwise.dim() != 4) bad_shape(w, "depthwise_kernel", depthwise, prefix + "depthwise.weight");
      if (pointwise.dim() != 4) bad_shape(w, "pointwise_kernel", pointwise, prefix + "pointwise.weight");
      const int64_t in = sep->options.in_channels();
      put(w, "depthwise_kernel", prefix + "depthwise.weight",
          depthwise.permute({2, 3, 0, 1}).reshape({-1, 1, depthwise.size(0), depthwise.size(1)}));
      put(w, "pointwise_kernel", prefix + "pointwise.weight", pointwise.permute({3, 2, 0, 1}));
      if (depthwise.size(2) != in) bad_shape(w, "depthwise_kernel", depthwise, prefix + "depthwise.weight");
      put_optional(w, {"bias"}, 2, "bias", prefix + "pointwise.bias");
    } else if (auto* conv = target->as<torch::nn::Conv2dImpl>()) {
      auto kernel = require(w, {"kernel", "depthwise_kernel"}, 0, "kernel");
      const int64_t groups = conv->options.groups(), in = conv->options.in_channels();
      if (kernel.dim() != 4) bad_shape(w, "kernel", kernel, prefix + "weight");
      if (kernel.size(2) == in / groups) {  // Conv2D, grouped or not: (kh, kw, in / groups, out)
        put(w, "kernel", prefix + "weight", kernel.permute({3, 2, 0, 1}));
      } else if (groups == in && kernel.size(2) == in) {  // depthwise: (kh, kw, in, multiplier)
        put(w, "kernel", prefix + "weight",
            kernel.permute({2, 3, 0, 1}).reshape({in * kernel.size(3), 1, kernel.size(0), kernel.size(1)}));
      } else {
        bad_shape(w, "kernel", kernel, prefix + "weight");
      }
      put_optional(w, {"bias"}, 1, "bias", prefix + "bias");
    } else if (auto* linear = target->as<torch::nn::LinearImpl>()) {
      auto kernel = require(w, {"kernel"}, 0, "kernel");
      if (kernel.dim() != 2) bad_shape(w, "kernel", kernel, prefix + "weight");
      auto weight = kernel.t();
      if (row_index > 0 && model_.layer_table()[row_index - 1].kind == "Flatten")
        weight = from_keras_flatten(w, weight, linear->options.in_features());
      put(w, "kernel", prefix + "weight", weight);
      put_optional(w, {"bias"}, 1, "bias", prefix + "bias");
    } else if (own_.contains(prefix + "running_mean")) {  // BatchNorm
      // Keras 3 numbers gamma, beta, moving_mean, moving_variance; without gamma (scale=False) three remain.
      const bool has_gamma = w.named() ? w.get({"gamma"}, 0).defined() : w.size() == 4;
      const size_t first = has_gamma ? 1 : 0;
      if (has_gamma)
        put(w, "gamma", prefix + "weight", require(w, {"gamma"}, 0, "gamma"));
      else if (own_.contains(prefix + "weight"))  // a layer without scale (Keras' InceptionV3) has none
        state_.insert(prefix + "weight", torch::ones_like(own_[prefix + "weight"]));
      put(w, "beta", prefix + "bias", require(w, {"beta"}, first, "beta"));
      put(w, "moving_mean", prefix + "running_mean", require(w, {"moving_mean"}, first + 1, "moving_mean"));
      put(w, "moving_variance", prefix + "running_var", require(w, {"moving_variance"}, first + 2, "moving_variance"));
    } else if (target->as<torch::nn::LayerNormImpl>() || target->as<nn::LayerNorm2dImpl>()) {
      put(w, "gamma", prefix + "weight", require(w, {"gamma"}, 0, "gamma"));
      put(w, "beta", prefix + "bias", require(w, {"beta"}, 1, "beta"));
    } else if (target->as<nn::NormalizationImpl>()) {
      put(w, "mean", prefix + "mean", require(w, {"mean"}, 0, "mean").flatten());
      put(w, "variance", prefix + "variance", require(w, {"variance"}, 1, "variance").flatten());
      put_optional(w, {"count"}, 2, "count", prefix + "count");
    } else {
      throw Error("Keras layer '" + layer.name + "': tlearn cannot convert Keras weights into the " + row.kind +
                  " row " + row.name);
    }
  }

  /// The model's own values for what no Keras weight holds (BatchNorm's batch counter).
  io::StateDict finish() {
    for (const auto& item : own_)
      if (!state_.contains(item.key()) && item.key().size() >= 19 &&
          item.key().compare(item.key().size() - 19, 19, "num_batches_tracked") == 0)
        state_.insert(item.key(), item.value().clone());
    return std::move(state_);
  }

 private:
  torch::Tensor require(const KerasWeights& w, std::initializer_list<const char*> names, size_t index,
                        const std::string& role) const {
    auto t = w.get(names, index);
    if (!t.defined())
      throw Error("Keras layer '" + w.name() + "' has no " + role + " (it holds " + std::to_string(w.size()) +
                  " weights); the file is for another architecture");
    return t;
  }

  [[noreturn]] void bad_shape(const KerasWeights& w, const std::string& role, const torch::Tensor& t,
                              const std::string& key) const {
    throw Error("Keras layer '" + w.name() + "': its " + role + " has shape " + shape_string(t.sizes()) +
                (own_.contains(key) ? ", which does not fit " + key + " " + shape_string(own_[key].sizes()) : "") +
                "; the file is for another architecture or configuration");
  }

  void put(const KerasWeights& w, const std::string& role, const std::string& key, const torch::Tensor& value) {
    if (!own_.contains(key))
      throw Error("Keras layer '" + w.name() + "': the model has no " + key + " for its " + role);
    // The classifier may differ (ImageNet's 1000 classes, a model built for 10):
    // load_pretrained then keeps the model's own, as it does for .pth files.
    // So may the first conv for in_chans != 3, which load_pretrained adapts (timm's rule).
    const bool adapted = is_classifier(key) || key == model_.spec().first_conv;
    if (value.sizes() != own_[key].sizes() && !adapted) bad_shape(w, role, value, key);
    state_.insert(key, value.contiguous());
  }

  void put_optional(const KerasWeights& w, std::initializer_list<const char*> names, size_t index,
                    const std::string& role, const std::string& key) {
    auto t = w.get(names, index);
    if (t.defined()) {
      put(w, role, key, t);
    } else if (own_.contains(key)) {
      throw Error("Keras layer '" + w.name() + "' has no " + role + " but " + key +
                  " needs one; the file is for another architecture");
    }
  }

  /// Keras flattens (H, W, C) maps, PyTorch (C, H, W): reorders a Dense's inputs.
  torch::Tensor from_keras_flatten(const KerasWeights& w, const torch::Tensor& weight, int64_t in_features) const {
    const auto [channels, h, wd] = flattened_map(model_, in_features, w.name());
    return detail::from_keras_flatten_order(weight, channels, h, wd);
  }

  /// The model's key of `parameter`, held by a row of its own (nn::ParameterRow).
  std::string key_of(const torch::Tensor& parameter, const std::string& row) const {
    for (const auto& item : own_)
      if (item.value().is_same(parameter)) return item.key();
    throw Error("row " + row + ": its parameter is not the model's own");
  }

  bool is_classifier(const std::string& key) const { return detail::in_modules(key, model_.spec().classifier_modules); }

  BackboneImpl& model_;
  std::map<const torch::nn::Module*, std::string> path_of_;
  io::StateDict own_, state_;
};

/// The names of a file written by TF-Keras, as Keras 3 names those layers: Keras 3
/// renamed MobileNetV3's ("Conv/BatchNorm" is "conv_bn", "expanded_conv_1/squeeze_excite/Conv"
/// "expanded_conv_1_squeeze_excite_conv", "Logits" "logits"), whose official files
/// keep the old names; Keras itself loads them by order. Keras 3 allows no "/" in
/// a name, so a file with one holds TF-Keras' names; other files are left alone.
std::vector<io::KerasLayer> with_keras3_names(std::vector<io::KerasLayer> layers) {
  const bool tf_keras = std::any_of(layers.begin(), layers.end(),
                                    [](const io::KerasLayer& l) { return l.name.find('/') != std::string::npos; });
  if (!tf_keras) return layers;
  for (auto& layer : layers) {
    std::string name;
    for (size_t i = 0; i < layer.name.size(); ++i) {
      if (layer.name.compare(i, 10, "/BatchNorm") == 0) {
        name += "_bn";
        i += 9;
      } else {
        const char c = layer.name[i];
        name += c == '/' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
    }
    layer.name = name;
  }
  return layers;
}

}  // namespace

std::vector<io::KerasLayer> keras_layers(BackboneImpl& model) {
  const auto& table = model.layer_table();
  std::vector<io::KerasLayer> out;
  for (const auto& keras_row : keras_rows(model)) {
    const size_t i = keras_row.row;
    const auto& row = table[i];
    const auto& target = keras_row.module;
    if (keras_row.keras_class.empty() || !target)
      throw Error("save_keras_weights: the " + row.kind + " row " + row.name + " has no Keras layer to match");
    io::KerasLayer layer;
    layer.name = keras_row.name;
    layer.path = keras_row.path;
    auto add = [&](const torch::Tensor& t) {
      layer.weights.push_back({std::to_string(layer.weights.size()), t.detach().cpu().contiguous()});
    };
    if (target->as<nn::ParameterRowImpl>()) {  // LayerScale
      add(target->parameters().front().flatten());
    } else if (auto* sep = target->as<nn::SeparableConv2dImpl>()) {
      const auto& d = sep->depthwise->weight;
      const int64_t in = sep->options.in_channels();
      add(d.reshape({in, d.size(0) / in, d.size(2), d.size(3)}).permute({2, 3, 0, 1}));
      add(sep->pointwise->weight.permute({2, 3, 1, 0}));
      if (sep->pointwise->bias.defined()) add(sep->pointwise->bias);
    } else if (auto* conv = target->as<torch::nn::Conv2dImpl>()) {
      const auto& w = conv->weight;
      const int64_t in = conv->options.in_channels();
      if (conv->options.groups() == 1 || keras_row.keras_class == "conv2d")  // grouped Conv2D: ConvNeXt's
        add(w.permute({2, 3, 1, 0}));
      else  // depthwise
        add(w.reshape({in, w.size(0) / in, w.size(2), w.size(3)}).permute({2, 3, 0, 1}));
      if (conv->bias.defined()) add(conv->bias);
    } else if (auto* linear = target->as<torch::nn::LinearImpl>()) {
      auto w = linear->weight;
      if (i > 0 && table[i - 1].kind == "Flatten") {
        const auto [c, h, wd] = flattened_map(model, linear->options.in_features(), row.alias);
        w = detail::to_keras_flatten_order(w, c, h, wd);
      }
      add(w.t());
      if (linear->bias.defined()) add(linear->bias);
    } else if (auto* norm = target->as<torch::nn::LayerNormImpl>()) {
      add(norm->weight);
      add(norm->bias);
    } else if (auto* norm2d = target->as<nn::LayerNorm2dImpl>()) {
      add(norm2d->weight);
      add(norm2d->bias);
    } else if (auto* normalization = target->as<nn::NormalizationImpl>()) {
      add(normalization->mean);
      add(normalization->variance);
      add(normalization->count);
    } else {  // BatchNorm
      const auto params = target->named_parameters(false);
      const auto buffers = target->named_buffers(false);
      if (params.contains("weight")) add(params["weight"]);  // none with Keras' scale=False
      add(params["bias"]);
      add(buffers["running_mean"]);
      add(buffers["running_var"]);
    }
    out.push_back(std::move(layer));
  }
  return out;
}

namespace detail {
torch::Tensor to_keras_flatten_order(const torch::Tensor& weight, int64_t channels, int64_t h, int64_t w) {
  if (h * w == 1) return weight;
  return weight.reshape({weight.size(0), channels, h, w}).permute({0, 2, 3, 1}).reshape({weight.size(0), -1});
}

torch::Tensor from_keras_flatten_order(const torch::Tensor& weight, int64_t channels, int64_t h, int64_t w) {
  if (h * w == 1) return weight;
  return weight.reshape({weight.size(0), h, w, channels}).permute({0, 3, 1, 2}).reshape({weight.size(0), -1});
}
}  // namespace detail

void save_keras_weights(BackboneImpl& model, const std::filesystem::path& path) {
  io::save_keras_weights(keras_layers(model), path);
}

io::StateDict keras_state_dict(BackboneImpl& model, const std::vector<io::KerasLayer>& file_layers, bool skip_unknown) {
  const auto layers = with_keras3_names(file_layers);
  // Keras' own rule first: it holds for files whose generated names ("conv2d_1")
  // were numbered in another process than the model's.
  const auto pairs = keras_rule_pairs(model, layers, skip_unknown);
  if (!pairs.empty()) {
    Converter converter(model);
    for (const auto& [layer, row] : pairs) converter.convert(*layer, row);
    return converter.finish();
  }
  // By name: every Keras-named row (one without weights refuses a layer with them)
  // and every layer of a nested Sequential.
  std::map<std::string, KerasRow> row_of;
  for (auto& row : keras_rows(model)) row_of.emplace(row.name, std::move(row));
  const auto& table = model.layer_table();
  for (size_t i = 0; i < table.size(); ++i)
    if (!table[i].alias.empty()) row_of.emplace(table[i].alias, KerasRow{i, nullptr, table[i].alias, "", ""});
  Converter converter(model);
  std::vector<std::string> unknown;
  for (const auto& layer : layers) {
    auto it = row_of.find(layer.name);
    if (it == row_of.end()) {
      unknown.push_back(layer.name);
      continue;
    }
    converter.convert(layer, it->second);
  }
  if (!unknown.empty() && (!skip_unknown || unknown.size() == layers.size())) {
    std::string names;
    for (size_t i = 0; i < unknown.size() && i < 5; ++i) names += (i ? ", " : "") + unknown[i];
    if (unknown.size() > 5) names += ", ... (" + std::to_string(unknown.size()) + " in all)";
    throw Error(model.spec().name + " has no layer named " + names +
                " for the Keras weights; the file is for another architecture (layers() lists this model's Keras "
                "names)");
  }
  return converter.finish();
}

}  // namespace tlearn
