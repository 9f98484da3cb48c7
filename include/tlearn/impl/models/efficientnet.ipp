// Implementation of tlearn/models/efficientnet.hpp.
#include <cctype>
#include <map>
#include <tuple>

#include "tlearn/models/efficientnet.hpp"
#include "tlearn/nn/normalization.hpp"
#include "tlearn/nn/rescaling.hpp"

namespace tlearn::nn {

MBConvImpl::MBConvImpl(LayerTable& table, const std::string& prefix, const std::string& keras, bool fused, int64_t in,
                       int64_t out, double expand_ratio, int64_t kernel, int64_t stride, double stochastic_depth_prob,
                       const torch::nn::BatchNormOptions& bn, KerasEfficientNet keras_layout)
    : residual_(stride == 1 && in == out), residual_add_(stochastic_depth_prob) {
  const bool keras_model = keras_layout != KerasEfficientNet::None;
  const bool pad_rows = keras_layout == KerasEfficientNet::V1;  // V2 pads inside the conv
  block_ = register_module("block", torch::nn::Sequential());
  const int64_t expanded = detail::make_divisible(static_cast<double>(in) * expand_ratio);
  const std::string path = prefix + ".block.";
  auto names = [&](std::initializer_list<const char*> parts) {
    std::vector<std::string> out_names;
    if (!keras.empty())
      for (const char* p : parts) out_names.push_back(*p ? keras + p : std::string());
    return out_names;
  };
  auto add_conv = [&](int64_t cin, int64_t cout, int64_t k, int64_t s, int64_t groups, bool act,
                      const std::vector<std::string>& aliases) {
    ConvNormAct conv(ConvNormActOptions(cin, cout, k)
                         .stride(s)
                         .groups(groups)
                         .eps(bn.eps())
                         .momentum(bn.momentum().value_or(0.1))
                         .tf_same_padding(keras_model && s > 1)
                         .padding_row(pad_rows && s > 1)
                         .activation(act ? Activation::SiLU : Activation::None));
    const std::string conv_path = path + std::to_string(block_->size());
    chain_.append_block(table, conv_path, conv, aliases);
    if (pad_rows && s > 1 && !aliases.empty()) table.set_alias(conv_path + ".pad", aliases.front() + "_pad");
    block_->push_back(conv);
  };
  if (fused) {
    if (expanded != in) {
      add_conv(in, expanded, kernel, stride, 1, true, names({"expand_conv", "expand_bn", "expand_activation"}));
      add_conv(expanded, out, 1, 1, 1, false, names({"project_conv", "project_bn"}));
    } else {
      add_conv(in, out, kernel, stride, 1, true, names({"project_conv", "project_bn", "project_activation"}));
    }
  } else {
    if (expanded != in) add_conv(in, expanded, 1, 1, 1, true, names({"expand_conv", "expand_bn", "expand_activation"}));
    const char* dwconv = keras_layout == KerasEfficientNet::V2 ? "dwconv2" : "dwconv";
    add_conv(expanded, expanded, kernel, stride, expanded, true, names({dwconv, "bn", "activation"}));
    SqueezeExcitation se(SqueezeExcitationOptions(expanded, std::max<int64_t>(1, in / 4))
                             .activation(Activation::SiLU)
                             .keras_rows(keras_model));
    const std::string se_path = path + std::to_string(block_->size());
    se->add_rows(table, se_path,
                 keras_model ? names({"se_squeeze", "se_reshape", "se_reduce", "se_expand", "se_excite"})
                              : names({"se_squeeze", "se_reduce", "", "se_expand", "", "se_excite"}));
    chain_.append(table, se_path, torch::nn::AnyModule(se), "");
    block_->push_back(se);
    add_conv(expanded, out, 1, 1, 1, false, names({"project_conv", "project_bn"}));
  }
  if (residual_) {
    // Keras builds its Dropout (the stochastic depth) only where the rate is above 0.
    if (!keras_model || stochastic_depth_prob > 0) {
      drop_tap_ = prefix + ".stochastic_depth";
      table.add(drop_tap_, "StochasticDepth", {}, keras.empty() ? "" : keras + "drop");
    }
    add_tap_ = prefix + ".add";
    table.add(add_tap_, "Add", {}, keras.empty() ? "" : keras + "add");
    residual_add_.taps(drop_tap_, add_tap_);
  }
}

torch::Tensor MBConvImpl::forward(const torch::Tensor& input) {
  auto x = chain_.forward(input);
  if (!residual_) return x;
  return residual_add_(input, x, is_training());
}

}  // namespace tlearn::nn

namespace tlearn {

EfficientNetImpl::EfficientNetImpl(const EfficientNetConfig& config, const ModelSpec& spec,
                                   const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  const auto bn = torch::nn::BatchNormOptions(1).eps(config.bn_eps()).momentum(config.bn_momentum());
  const double stochastic_depth_prob = drop_path_rate_or(0.2);
  const bool keras_v2 = config.keras() == KerasEfficientNet::V2;
  auto width = [&](int64_t c) {
    const double scaled = static_cast<double>(c) * config.width_mult();
    // Keras' EfficientNetV2 rounds to the nearest multiple of 8 without the 10% rule.
    if (keras_v2) return std::max<int64_t>(8, static_cast<int64_t>(scaled + 4) / 8 * 8);
    return detail::make_divisible(scaled);
  };
  auto depth = [&](int64_t n) { return static_cast<int64_t>(std::ceil(static_cast<double>(n) * config.depth_mult())); };
  auto keras = [&](std::vector<std::string> names) { return config.keras_names() ? names : std::vector<std::string>{}; };

  if (config.keras() != KerasEfficientNet::None) {
    auto add_preprocessing = [&](const std::string& name, std::shared_ptr<torch::nn::Module> module,
                                 torch::nn::AnyModule any, const std::string& kind, const std::string& alias) {
      register_module(name, module);
      table_.add(name, kind, {module}, alias);
      preprocessing_.push_back(std::move(any));
      preprocessing_rows_.push_back(name);
    };
    const bool v2_imagenet_mean = keras_v2 && !config.keras_v2_signed() && options.in_chans() == 3;
    if (keras_v2 && !v2_imagenet_mean) {  // V2-S/M/L, or another channel count
      nn::Rescaling to_signed(nn::RescalingOptions(1.0 / 128.0, -1.0));
      add_preprocessing("rescaling", to_signed.ptr(), torch::nn::AnyModule(to_signed), "Rescaling", "rescaling");
    } else {
      nn::Rescaling to_unit(nn::RescalingOptions(1.0 / 255.0));
      add_preprocessing("rescaling", to_unit.ptr(), torch::nn::AnyModule(to_unit), "Rescaling", "rescaling");
    }
    if (v2_imagenet_mean) {
      // Keras' Normalization(mean, variance) given as constants: no weights, so a rescaling here.
      const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
      nn::Rescaling normalize(nn::RescalingOptions({1 / std[0], 1 / std[1], 1 / std[2]},
                                                   {-mean[0] / std[0], -mean[1] / std[1], -mean[2] / std[2]}));
      add_preprocessing("normalization", normalize.ptr(), torch::nn::AnyModule(normalize), "Normalization",
                        "normalization");
    }
    if (!keras_v2) {
      nn::Normalization normalization(options.in_chans());
      add_preprocessing("normalization", normalization.ptr(), torch::nn::AnyModule(normalization), "Normalization",
                        "normalization");
    }
    // Keras' "imagenet" file holds ImageNet's std as the variance; Keras divides once
    // more by its square root, in a layer it builds only for those weights.
    if (!keras_v2 && options.weights().rfind("imagenet", 0) == 0) {
      nn::Rescaling by_std(nn::RescalingOptions({1.0 / std::sqrt(0.229), 1.0 / std::sqrt(0.224), 1.0 / std::sqrt(0.225)},
                                                {0.0}));
      add_preprocessing("std_rescaling", by_std.ptr(), torch::nn::AnyModule(by_std), "Rescaling", "rescaling_1");
    }
  }
  features_ = register_module("features", torch::nn::ModuleList());
  const int64_t stem = width(config.stages().front().in_channels);
  auto conv_bn_silu = [&](int64_t in, int64_t out, int64_t kernel, int64_t stride) {
    return nn::ConvNormAct(nn::ConvNormActOptions(in, out, kernel)
                               .stride(stride)
                               .eps(config.bn_eps())
                               .momentum(config.bn_momentum())
                               .tf_same_padding(config.keras() != KerasEfficientNet::None && stride > 1)
                               .padding_row(config.keras() == KerasEfficientNet::V1 && stride > 1)
                               .activation(nn::Activation::SiLU));
  };
  stem_ = conv_bn_silu(options.in_chans(), stem, 3, 2);
  stem_->add_rows(table_, "features.0", keras({"stem_conv", "stem_bn", "stem_activation"}));
  if (config.keras() == KerasEfficientNet::V1) table_.set_alias("features.0.pad", "stem_conv_pad");
  features_->push_back(stem_);

  int64_t total_blocks = 0, block_id = 0, stride = 2;
  // Keras' V2 divides by the stages' repeats before depth scaling.
  for (const auto& s : config.stages()) total_blocks += keras_v2 ? s.layers : depth(s.layers);
  std::vector<FeatureInfo> stage_outputs;
  for (size_t i = 0; i < config.stages().size(); ++i) {
    const auto& s = config.stages()[i];
    const std::string stage_path = "features." + std::to_string(i + 1);
    torch::nn::ModuleList stage;
    const int64_t in = width(s.in_channels), out = width(s.out_channels);
    for (int64_t j = 0; j < depth(s.layers); ++j) {
      const std::string keras_prefix =
          config.keras_names() ? "block" + std::to_string(i + 1) + std::string(1, static_cast<char>('a' + j)) + "_" : "";
      const double sd = stochastic_depth_prob * static_cast<double>(block_id++) / static_cast<double>(total_blocks);
      auto block = nn::MBConv(table_, stage_path + "." + std::to_string(j), keras_prefix, s.fused, j ? out : in, out,
                              s.expand_ratio, s.kernel, j ? 1 : s.stride, sd, bn, config.keras());
      stage->push_back(block);
      blocks_.push_back(block);
    }
    features_->push_back(stage);
    stride *= s.stride;
    // timm's feature_info: the last stage at each stride.
    if (!stage_outputs.empty() && stage_outputs.back().stride == stride) stage_outputs.pop_back();
    stage_outputs.push_back({blocks_.back()->output_tap(), out, stride});
  }
  feature_info_ = stage_outputs;

  const int64_t last_in = width(config.stages().back().out_channels);
  output_channels_ = config.last_channel() ? config.last_channel() : 4 * last_in;
  head_ = conv_bn_silu(last_in, output_channels_, 1, 1);
  head_->add_rows(table_, "features." + std::to_string(config.stages().size() + 1),
                  keras({"top_conv", "top_bn", "top_activation"}));
  features_->push_back(head_);

  if (options.include_top()) {
    classifier_ =
        register_module("classifier", torch::nn::Sequential(torch::nn::Dropout(drop_rate_or(config.dropout())),
                                                            nn::Linear(output_channels_, options.classes())));
    const bool k = config.keras_names();
    top_.pool_flat("avgpool", k ? "avg_pool" : "")
        .sequential(classifier_, {{"classifier.0", 1, "Dropout", k ? "top_dropout" : ""},
                                  {"classifier.1", 1, "Linear", k ? "predictions" : ""}})
        .add_rows(table_);
  }
  detail::init_torchvision_default(*this);
  if (classifier_) {
    torch::NoGradGuard no_grad;
    auto& linear = classifier_[1]->as<torch::nn::Linear>()->weight;
    const double range = 1.0 / std::sqrt(static_cast<double>(options.classes()));
    torch::nn::init::uniform_(linear, -range, range);
  }
}

torch::Tensor EfficientNetImpl::forward_body(torch::Tensor x) {
  for (size_t i = 0; i < preprocessing_.size(); ++i) {
    x = preprocessing_[i].forward(x);
    tap(preprocessing_rows_[i], x);
  }
  x = stem_->forward(std::move(x));
  for (auto& block : blocks_) x = block->forward(x);
  return head_->forward(std::move(x));
}

namespace detail {

EfficientNetConfig keras_efficientnet_config(int n) {
  // Keras' (width, depth, dropout) per EfficientNetB<n>, as torchvision's.
  static const double scaling[8][3] = {{1.0, 1.0, 0.2}, {1.0, 1.1, 0.2}, {1.1, 1.2, 0.3}, {1.2, 1.4, 0.3},
                                       {1.4, 1.8, 0.4}, {1.6, 2.2, 0.4}, {1.8, 2.6, 0.5}, {2.0, 3.1, 0.5}};
  // Keras' BatchNormalization defaults: epsilon 1e-3, momentum 0.99.
  return efficientnet_v1(scaling[n][0], scaling[n][1], scaling[n][2])
      .bn_eps(1e-3)
      .bn_momentum(0.01)
      .keras(KerasEfficientNet::V1);
}

ModelSpec keras_efficientnet_spec(int n) {
  // Keras' WEIGHTS_HASHES: (with top, without) per model.
  static const char* md5[8][2] = {{"902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"},
                                  {"1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"},
                                  {"b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"},
                                  {"ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"},
                                  {"18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"},
                                  {"ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"},
                                  {"165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"},
                                  {"8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"}};
  static const int64_t sizes[8] = {224, 240, 260, 300, 380, 456, 528, 600};
  const std::string file = "efficientnetb" + std::to_string(n);
  auto s = efficientnet_spec("keras.EfficientNetB" + std::to_string(n),
                             {keras_weights("", file + ".h5", md5[n][0], file + "_notop.h5", md5[n][1],
                                            Preprocessing::Identity, sizes[n])});
  // Keras keeps EfficientNet's files outside tensorflow/keras-applications/.
  const std::string base = "https://storage.googleapis.com/keras-applications/";
  s.weights.front().url = base + file + ".h5";
  s.weights.front().notop_url = base + file + "_notop.h5";
  s.default_size = sizes[n];
  s.min_size = 32;
  return s;
}

EfficientNetConfig keras_efficientnet_v2_config(const std::string& variant) {
  // Keras' DEFAULT_BLOCKS_ARGS: fused, expansion, kernel, stride, in, out, repeats.
  static const std::vector<EfficientNetStage> b_stages = {
      {true, 1, 3, 1, 32, 16, 1},   {true, 4, 3, 2, 16, 32, 2},   {true, 4, 3, 2, 32, 48, 2},
      {false, 4, 3, 2, 48, 96, 3},  {false, 6, 3, 1, 96, 112, 5}, {false, 6, 3, 2, 112, 192, 8}};
  static const std::map<std::string, std::vector<EfficientNetStage>> sml = {
      {"S", {{true, 1, 3, 1, 24, 24, 2}, {true, 4, 3, 2, 24, 48, 4}, {true, 4, 3, 2, 48, 64, 4},
             {false, 4, 3, 2, 64, 128, 6}, {false, 6, 3, 1, 128, 160, 9}, {false, 6, 3, 2, 160, 256, 15}}},
      {"M", {{true, 1, 3, 1, 24, 24, 3}, {true, 4, 3, 2, 24, 48, 5}, {true, 4, 3, 2, 48, 80, 5},
             {false, 4, 3, 2, 80, 160, 7}, {false, 6, 3, 1, 160, 176, 14}, {false, 6, 3, 2, 176, 304, 18},
             {false, 6, 3, 1, 304, 512, 5}}},
      {"L", {{true, 1, 3, 1, 32, 32, 4}, {true, 4, 3, 2, 32, 64, 7}, {true, 4, 3, 2, 64, 96, 7},
             {false, 4, 3, 2, 96, 192, 10}, {false, 6, 3, 1, 192, 224, 19}, {false, 6, 3, 2, 224, 384, 25},
             {false, 6, 3, 1, 384, 640, 7}}}};
  // (width, depth) of B0..B3; S, M and L are unscaled.
  static const std::map<std::string, std::pair<double, double>> scaling = {
      {"B0", {1.0, 1.0}}, {"B1", {1.0, 1.1}}, {"B2", {1.1, 1.2}}, {"B3", {1.2, 1.4}}};
  const bool b = variant.front() == 'B';
  auto c = efficientnet_v2(b ? b_stages : sml.at(variant), 0.2);
  if (b) c.width_mult(scaling.at(variant).first).depth_mult(scaling.at(variant).second);
  // Keras' V2: BatchNormalization(momentum=0.9).
  return c.last_channel(std::max<int64_t>(8, static_cast<int64_t>(1280 * c.width_mult() + 4) / 8 * 8))
      .bn_eps(1e-3)
      .bn_momentum(0.1)
      .keras(KerasEfficientNet::V2)
      .keras_names(true)
      .keras_v2_signed(!b);
}

ModelSpec keras_efficientnet_v2_spec(const std::string& variant) {
  static const std::map<std::string, std::tuple<int64_t, const char*, const char*>> files = {
      {"B0", {224, "21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"}},
      {"B1", {240, "069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"}},
      {"B2", {260, "424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"}},
      {"B3", {300, "1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"}},
      {"S", {384, "e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"}},
      {"M", {480, "a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"}},
      {"L", {480, "27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"}}};
  const auto& [size, md5, notop_md5] = files.at(variant);
  std::string lower = variant;
  lower[0] = static_cast<char>(std::tolower(lower[0]));
  const std::string file = "efficientnetv2-" + lower;
  auto s = efficientnet_spec("keras.EfficientNetV2" + variant,
                             {keras_weights("efficientnet_v2", file + ".h5", md5, file + "_notop.h5", notop_md5,
                                            Preprocessing::Identity, size)});
  s.default_size = size;
  s.min_size = 32;
  return s;
}

std::vector<RegisteredModel> keras_efficientnet_variants() {
  std::vector<RegisteredModel> variants;
  for (int n = 0; n < 8; ++n)
    variants.push_back(variant<EfficientNetImpl>(keras_efficientnet_spec(n), keras_efficientnet_config(n)));
  for (const char* v : {"B0", "B1", "B2", "B3", "S", "M", "L"})
    variants.push_back(variant<EfficientNetImpl>(keras_efficientnet_v2_spec(v), keras_efficientnet_v2_config(v)));
  return variants;
}

}  // namespace detail

}  // namespace tlearn
