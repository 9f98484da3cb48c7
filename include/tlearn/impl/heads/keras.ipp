// Implementation of tlearn/heads/keras.hpp.
#include <cmath>

#include "tlearn/core/error.hpp"
#include "tlearn/heads/keras.hpp"
#include "tlearn/io/keras.hpp"
#include "tlearn/models/keras_weights.hpp"
#include "tlearn/models/layers.hpp"

namespace tlearn {

void save_keras_weights(ClassifierImpl& model, const std::filesystem::path& path) {
  auto& base = *model.backbone.ptr();
  auto layers = keras_layers(base);
  if (layers.empty())
    throw Error("save_keras_weights: the backbone " + base.spec().name +
                " has no Keras layer names; build a Keras family (keras.VGG16, keras.Xception, ...) to save for Keras");
  for (auto& layer : layers) layer.path = "layers/functional/" + layer.path;  // a nested functional model

  auto& head = *model.head;
  if (!head.built())
    throw Error("save_keras_weights: the head has no Dense layers yet; run the model once (or give HeadOptions "
                "feature_hw) before saving it for Keras");
  const auto& options = head.options();
  detail::KerasLayerNumbering numbering;
  bool first = true;
  for (const auto& child : head.named_children()) {
    auto* linear = child.value()->as<torch::nn::LinearImpl>();
    if (!linear) continue;  // dropout
    io::KerasLayer layer;
    layer.name = child.key();
    layer.path = "layers/" + numbering.next("dense");
    auto weight = linear->weight.detach().cpu();
    if (first && options.pooling() == Pooling::None) {
      const int64_t channels = base.output_channels(), cells = linear->options.in_features() / channels;
      int64_t h = 0, w = 0;
      if (options.feature_hw().size() == 2) {
        h = options.feature_hw()[0];
        w = options.feature_hw()[1];
      } else {
        h = w = static_cast<int64_t>(std::llround(std::sqrt(double(cells))));
      }
      if (h * w != cells || h * w * channels != linear->options.in_features())
        throw Error("save_keras_weights: the head flattens " + std::to_string(linear->options.in_features()) +
                    " features that tlearn cannot split into " + std::to_string(channels) +
                    " channels of a square map; give HeadOptions feature_hw({H, W})");
      weight = detail::to_keras_flatten_order(weight, channels, h, w);
    }
    first = false;
    layer.weights.push_back({"0", weight.t().contiguous()});
    if (linear->bias.defined()) layer.weights.push_back({"1", linear->bias.detach().cpu().contiguous()});
    layers.push_back(std::move(layer));
  }
  io::save_keras_weights(layers, path);
}

}  // namespace tlearn
