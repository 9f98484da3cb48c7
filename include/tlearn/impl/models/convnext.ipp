// Implementation of tlearn/models/convnext.hpp.
#include <map>

#include "tlearn/models/convnext.hpp"

namespace tlearn::nn {

CNBlockImpl::CNBlockImpl(LayerTable& table, const std::string& prefix, int64_t dim, double layer_scale,
                         double stochastic_depth_prob, const std::string& keras)
    : residual_(stochastic_depth_prob) {
  layer_scale_ = register_parameter("layer_scale", torch::full({dim, 1, 1}, layer_scale));
  block_ = register_module(
      "block", torch::nn::Sequential(nn::Conv2d(torch::nn::Conv2dOptions(dim, dim, 7).padding(3).groups(dim)),
                                     Permute(std::vector<int64_t>{0, 2, 3, 1}),
                                     torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6)),
                                     nn::Linear(dim, 4 * dim), torch::nn::GELU(), nn::Linear(4 * dim, dim),
                                     Permute(std::vector<int64_t>{0, 3, 1, 2})));
  scale_tap_ = prefix + ".layer_scale";
  drop_tap_ = prefix + ".stochastic_depth";
  add_tap_ = prefix + ".add";
  residual_.taps(drop_tap_, add_tap_);
  if (keras.empty()) {
    taps_ = detail::add_sequential_layers(table, prefix + ".block", block_);
    table.add(scale_tap_, "LayerScale", {ParameterRow("layer_scale", layer_scale_).ptr()});
    table.add(drop_tap_, "StochasticDepth");
    table.add(add_tap_, "Add");
    return;
  }
  // Keras' Dense layers work on channels-last maps: no rows for the permutes, nor for the
  // add, which Keras writes as `inputs + x` outside any layer.
  const char* keras_parts[] = {"_depthwise_conv",   nullptr, "_layernorm", "_pointwise_conv_1", "_gelu",
                               "_pointwise_conv_2", nullptr};
  size_t i = 0;
  for (const auto& child : block_->named_children()) {
    taps_.push_back(keras_parts[i] ? prefix + ".block." + child.key() : "");
    if (keras_parts[i])
      table.add(taps_.back(), detail::module_kind(*child.value()), {child.value()}, keras + keras_parts[i]);
    ++i;
  }
  table[table.index_of(taps_[0])].keras_class = "conv2d";  // Conv2D(groups=dim), not a DepthwiseConv2D
  table.add(scale_tap_, "LayerScale", {ParameterRow("layer_scale", layer_scale_).ptr()}, keras + "_layer_scale")
      .keras_class = "layer_scale";
  table.add(drop_tap_, "StochasticDepth", {}, keras + (stochastic_depth_prob > 0 ? "_stochastic_depth" : "_identity"));
}

torch::Tensor CNBlockImpl::forward(const torch::Tensor& input) {
  auto x = layer_scale_ * detail::forward_sequential(block_, taps_, input);
  tap(scale_tap_, x);
  return residual_(input, x, is_training());
}

}  // namespace tlearn::nn

namespace tlearn {

ConvNeXtImpl::ConvNeXtImpl(const ConvNeXtConfig& config, const ModelSpec& spec, const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  const auto& dims = config.dims();
  const std::string& keras = config.keras();
  // Keras: a nested Sequential is one row, its layers named inside it.
  auto add_part = [&](const std::string& path, torch::nn::Sequential seq, const std::string& alias,
                      std::vector<std::string> sublayers) {
    features_->push_back(seq);
    if (keras.empty()) {
      parts_.push_back({seq, detail::add_sequential_layers(table_, path, seq), {}});
      return;
    }
    auto& row = table_.add(path, "Sequential", {seq[0], seq[1]}, keras + alias);
    row.keras_class = "sequential";
    for (auto& name : sublayers) name = keras + name;
    row.keras_sublayers = std::move(sublayers);
    parts_.push_back({seq, {"", path}, {}});
  };
  if (!keras.empty() && options.in_chans() == 3) {
    // Keras' PreStem: Normalization(mean = 255 * ImageNet's mean, variance = (255 * std)^2),
    // constants rather than weights.
    const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
    prestem_ =
        register_module("normalization",
                        nn::Rescaling(nn::RescalingOptions({1 / (255 * std[0]), 1 / (255 * std[1]), 1 / (255 * std[2])},
                                                           {-mean[0] / std[0], -mean[1] / std[1], -mean[2] / std[2]})));
    table_.add("normalization", "Normalization", {prestem_.ptr()}, keras + "_prestem_normalization");
  }
  features_ = register_module("features", torch::nn::ModuleList());
  // Stem: Conv2dNormActivation(k=4, s=4, bias, LayerNorm2d, no activation).
  add_part("features.0",
           torch::nn::Sequential(nn::Conv2d(torch::nn::Conv2dOptions(options.in_chans(), dims[0], 4).stride(4)),
                                 nn::LayerNorm2d(dims[0])),
           "_stem", {"_stem_conv", "_stem_layernorm"});

  int64_t total_blocks = 0, block_id = 0, stride = 4;
  for (auto d : config.depths()) total_blocks += d;
  for (size_t i = 0; i < dims.size(); ++i) {
    const std::string stage_path = "features." + std::to_string(features_->size());
    torch::nn::ModuleList stage;
    Part part;
    for (int64_t j = 0; j < config.depths()[i]; ++j) {
      const double sd = drop_path_rate_or(config.stochastic_depth_prob()) * static_cast<double>(block_id++) /
                        (static_cast<double>(total_blocks) - 1.0);
      const std::string keras_block =
          keras.empty() ? "" : keras + "_stage_" + std::to_string(i) + "_block_" + std::to_string(j);
      auto block =
          nn::CNBlock(table_, stage_path + "." + std::to_string(j), dims[i], config.layer_scale(), sd, keras_block);
      stage->push_back(block);
      part.blocks.push_back(block);
    }
    features_->push_back(stage);
    const auto& last = part.blocks.back();
    feature_info_.push_back({last->output_tap(), dims[i], stride, keras.empty() ? "" : last->last_row()});
    parts_.push_back(std::move(part));
    if (i + 1 < dims.size()) {
      const std::string n = std::to_string(i);
      add_part("features." + std::to_string(features_->size()),
               torch::nn::Sequential(nn::LayerNorm2d(dims[i]),
                                     nn::Conv2d(torch::nn::Conv2dOptions(dims[i], dims[i + 1], 2).stride(2))),
               "_downsampling_block_" + n, {"_downsampling_layernorm_" + n, "_downsampling_conv_" + n});
      stride *= 2;
    }
  }
  output_channels_ = dims.back();

  if (options.include_top()) {
    classifier_ =
        register_module("classifier", torch::nn::Sequential(nn::LayerNorm2d(output_channels_), torch::nn::Flatten(),
                                                            nn::Linear(output_channels_, options.classes())));
    if (keras.empty()) {
      top_.pool("avgpool").sequential("classifier", classifier_);
    } else {  // Keras' Head: GlobalAveragePooling2D, LayerNormalization, Dense; no Flatten
      top_.pool("avgpool", keras + "_head_gap")
          .sequential(classifier_, {{"classifier.0", 1, "LayerNorm2d", keras + "_head_layernorm"},
                                    {"", 1, "Flatten"},
                                    {"classifier.2", 1, "Linear", keras + "_head_dense"}});
    }
    top_.add_rows(table_);
  } else if (!keras.empty()) {
    // Keras' model without its top ends in an unnamed LayerNormalization, after the pooling if any.
    no_top_norm_ = register_module("norm", nn::LayerNorm2d(output_channels_));
    table_.add("norm", "LayerNorm", {no_top_norm_.ptr()}, "layer_normalization");
  }

  // torchvision: trunc_normal_(std=0.02) (truncated at +-2, i.e. 100 sigma) and zero bias
  // for convs and linears; LayerNorm at 1 / 0.
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      conv->weight.normal_(0, 0.02);
      conv->bias.zero_();
    } else if (auto* linear = m->as<torch::nn::Linear>()) {
      linear->weight.normal_(0, 0.02);
      linear->bias.zero_();
    }
  }
}

torch::Tensor ConvNeXtImpl::forward_body(torch::Tensor x) {
  if (prestem_) {
    x = prestem_->forward(x);
    tap("normalization", x);
  }
  for (auto& part : parts_) {
    if (part.seq) {
      x = detail::forward_sequential(part.seq, part.taps, std::move(x));
    } else {
      for (auto& block : part.blocks) x = block->forward(x);
    }
  }
  return x;
}

torch::Tensor ConvNeXtImpl::forward_no_top(torch::Tensor pooled) {
  if (!no_top_norm_) return pooled;
  auto y = pooled.dim() == 4
               ? no_top_norm_->forward(pooled)
               : torch::layer_norm(pooled, {output_channels_}, no_top_norm_->weight, no_top_norm_->bias, 1e-6);
  tap("norm", y);
  return y;
}

namespace detail {

ConvNeXtConfig keras_convnext_config(const std::string& size) {
  // Keras' MODEL_CONFIGS; its applications build without stochastic depth.
  static const std::map<std::string, std::pair<std::vector<int64_t>, std::vector<int64_t>>> configs = {
      {"tiny", {{96, 192, 384, 768}, {3, 3, 9, 3}}},
      {"small", {{96, 192, 384, 768}, {3, 3, 27, 3}}},
      {"base", {{128, 256, 512, 1024}, {3, 3, 27, 3}}},
      {"large", {{192, 384, 768, 1536}, {3, 3, 27, 3}}},
      {"xlarge", {{256, 512, 1024, 2048}, {3, 3, 27, 3}}}};
  const auto& [dims, depths] = configs.at(size);
  return ConvNeXtConfig().dims(dims).depths(depths).stochastic_depth_prob(0.0).keras("convnext_" + size);
}

ModelSpec keras_convnext_spec(const std::string& size) {
  // Keras' WEIGHTS_HASHES (SHA-256): with the top, without.
  static const std::map<std::string, std::pair<const char*, const char*>> sha256 = {
      {"tiny",
       {"8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
        "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"}},
      {"small",
       {"ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
        "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab"}},
      {"base",
       {"52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6",
        "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45"}},
      {"large",
       {"070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6",
        "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd"}},
      {"xlarge",
       {"c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee",
        "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05"}}};
  const std::string file = "convnext_" + size;
  auto s = convnext_spec(file, file + ".pth", 224);  // torchvision's rows and keys; Keras' files below
  std::string title = size == "xlarge" ? "XLarge" : size;
  title[0] = static_cast<char>(std::toupper(title[0]));
  s.name = "keras.ConvNeXt" + title;
  s.keras_model.clear();
  s.timm_architectures.clear();
  s.timm_keys.clear();
  s.timm_shapes.clear();
  const auto& [top, notop] = sha256.at(size);
  s.weights = {keras_weights("convnext", file + ".h5", top, file + "_notop.h5", notop, Preprocessing::Identity, 224)};
  s.default_size = 224;
  s.min_size = 32;
  return s;
}

std::vector<RegisteredModel> keras_convnext_variants() {
  std::vector<RegisteredModel> variants;
  for (const char* size : {"tiny", "small", "base", "large", "xlarge"})
    variants.push_back(variant<ConvNeXtImpl>(keras_convnext_spec(size), keras_convnext_config(size)));
  return variants;
}

}  // namespace detail

}  // namespace tlearn
