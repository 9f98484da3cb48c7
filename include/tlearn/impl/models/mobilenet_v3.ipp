// Implementation of tlearn/models/mobilenet_v3.hpp.
#include "tlearn/models/mobilenet_v3.hpp"
#include "tlearn/nn/rescaling.hpp"

namespace tlearn {

namespace {
/// Conv2dNormActivation with MobileNetV3's BatchNorm (eps 0.001, momentum 0.01; Keras':
/// momentum 0.001, TensorFlow's "same" padding on strided convs, and a ZeroPadding2D
/// row before a strided depthwise conv).
nn::ConvNormAct mobilenet_v3_conv(const MobileNetV3Config& config, int64_t in, int64_t out, int64_t kernel,
                                  int64_t stride, int64_t groups, nn::Activation activation) {
  return nn::ConvNormAct(nn::ConvNormActOptions(in, out, kernel)
                             .stride(stride)
                             .groups(groups)
                             .eps(1e-3)
                             .momentum(config.keras() ? 1e-3 : 0.01)
                             .tf_same_padding(config.keras() && stride > 1)
                             .padding_row(config.keras() && stride > 1 && groups > 1)
                             .activation(activation));
}

/// The name Keras gives an activation layer it names itself: "activation_N" for
/// hard-swish (an Activation layer), "re_lu_N" for ReLU.
std::string keras_generated_activation_name(detail::KerasLayerNumbering& keras_names, nn::Activation activation) {
  return keras_names.next(activation == nn::Activation::Hardswish ? "activation" : "re_lu");
}

/// One row of Keras' stack_fn: `kernel` 0 is the model's kernel (5, or 3 when
/// minimalistic); `se` and `hardswish` hold unless minimalistic.
struct KerasMobileNetV3Row {
  double expansion;
  int64_t channels, kernel, stride;
  bool se, hardswish;
};
}  // namespace

nn::MobileNetV3BlockImpl::MobileNetV3BlockImpl(const MobileNetV3BlockConfig& c, const MobileNetV3Config& config,
                                           LayerTable& table, const std::string& name,
                                           detail::KerasLayerNumbering* keras_names, int64_t block_id) {
  const auto activation = c.hardswish ? nn::Activation::Hardswish : nn::Activation::ReLU;
  block_ = register_module("block", torch::nn::Sequential());
  if (c.expanded != c.in) block_->push_back(mobilenet_v3_conv(config, c.in, c.expanded, 1, 1, 1, activation));
  block_->push_back(mobilenet_v3_conv(config, c.expanded, c.expanded, c.kernel, c.stride, c.expanded, activation));
  if (c.se) {
    const int64_t squeeze = detail::make_divisible(static_cast<double>(c.expanded / 4));
    block_->push_back(nn::SqueezeExcitation(
        nn::SqueezeExcitationOptions(c.expanded, squeeze).gate(nn::Activation::Hardsigmoid)));
  }
  block_->push_back(mobilenet_v3_conv(config, c.expanded, c.out, 1, 1, 1, nn::Activation::None));
  chain_.append(table, name + ".block", *block_);
  if (c.stride == 1 && c.in == c.out) {
    add_ = name + ".add";
    residual_.taps("", add_);
    table.add(add_, "Add");
  }
  if (keras_names) set_keras_aliases(table, name, c, *keras_names, block_id);
}

void nn::MobileNetV3BlockImpl::set_keras_aliases(LayerTable& table, const std::string& name,
                                             const MobileNetV3BlockConfig& c, detail::KerasLayerNumbering& keras_names,
                                             int64_t block_id) {
  const std::string keras = block_id == 0 ? "expanded_conv_" : "expanded_conv_" + std::to_string(block_id) + "_";
  const auto activation = c.hardswish ? nn::Activation::Hardswish : nn::Activation::ReLU;
  const std::string row = name + ".block.";
  int64_t i = 0;
  if (c.expanded != c.in) {
    table.set_alias(row + "0.0", keras + "expand");
    table.set_alias(row + "0.1", keras + "expand_bn");
    table.set_alias(row + "0.2", keras_generated_activation_name(keras_names, activation));
    i = 1;
  }
  const std::string depthwise = row + std::to_string(i++) + ".";
  if (table.find(depthwise + "pad")) table.set_alias(depthwise + "pad", keras + "depthwise_pad");
  table.set_alias(depthwise + "0", keras + "depthwise");
  table.set_alias(depthwise + "1", keras + "depthwise_bn");
  table.set_alias(depthwise + "2", keras_generated_activation_name(keras_names, activation));
  if (c.se) {
    // Keras' hard sigmoid is ReLU(6)(x + 3) / 6: a ReLU layer it names itself.
    const std::string se = row + std::to_string(i++);
    table.set_alias(se + ".avgpool", keras + "squeeze_excite_avg_pool");
    table.set_alias(se + ".fc1", keras + "squeeze_excite_conv");
    table.set_alias(se + ".activation", keras + "squeeze_excite_relu");
    table.set_alias(se + ".fc2", keras + "squeeze_excite_conv_1");
    table.set_alias(se + ".scale_activation", keras_names.next("re_lu"));
    table.set_alias(se, keras + "squeeze_excite_mul");
  }
  table.set_alias(row + std::to_string(i) + ".0", keras + "project");
  table.set_alias(row + std::to_string(i) + ".1", keras + "project_bn");
  if (!add_.empty()) table.set_alias(add_, keras + "add");
}

torch::Tensor nn::MobileNetV3BlockImpl::forward(torch::Tensor x) {
  auto y = chain_.forward(x);
  if (add_.empty()) return y;
  return residual_(x, y, is_training());
}

MobileNetV3Impl::MobileNetV3Impl(const MobileNetV3Config& config, const ModelSpec& spec, const BackboneOptions& options)
    : BackboneImpl(spec, options), keras_(config.keras()) {
  detail::StageTracker stages;
  detail::KerasLayerNumbering keras_names;
  auto aliases = [&](const std::string& conv, nn::Activation activation) {
    return keras_ ? std::vector<std::string>{conv, conv + "_bn", keras_generated_activation_name(keras_names, activation)}
                  : std::vector<std::string>{};
  };
  features_ = register_module("features", torch::nn::Sequential());
  if (keras_) {
    auto rescaling = register_module("rescaling", nn::Rescaling(nn::RescalingOptions(1.0 / 127.5, -1.0)));
    body_.append(table_, "rescaling", torch::nn::AnyModule(rescaling), "Rescaling");
    table_.set_alias("rescaling", "rescaling");
  }
  const auto outer_activation = config.minimalistic() ? nn::Activation::ReLU : nn::Activation::Hardswish;

  const int64_t first = config.blocks().front().in;
  auto stem = mobilenet_v3_conv(config, options.in_chans(), first, 3, 2, 1, outer_activation);
  features_->push_back(stem);
  body_.append_block(table_, "features.0", stem, aliases("conv", outer_activation));
  stages.add("features.0.2", first, 2);

  int64_t index = 1;
  for (const auto& c : config.blocks()) {
    const std::string name = "features." + std::to_string(index++);
    nn::MobileNetV3Block block(c, config, table_, name, keras_ ? &keras_names : nullptr, index - 2);
    features_->push_back(block);
    body_.append(table_, name, torch::nn::AnyModule(block), "");
    stages.add(block->output_name(), c.out, c.stride);
  }

  const int64_t last_in = config.blocks().back().out;
  const int64_t last_out = keras_ ? detail::make_divisible(static_cast<double>(6 * last_in)) : 6 * last_in;
  const std::string head = "features." + std::to_string(index);
  auto head_conv = mobilenet_v3_conv(config, last_in, last_out, 1, 1, 1, outer_activation);
  features_->push_back(head_conv);
  body_.append_block(table_, head, head_conv, aliases("conv_1", outer_activation));
  stages.add(head + ".2", last_out, 1);
  feature_info_ = stages.finish();
  output_channels_ = last_out;

  if (options.include_top() && keras_) {
    // Keras' top keeps the pooled map 4-D: 1x1 convs where torchvision has Linear layers.
    const double drop = drop_rate_or(0.2);
    classifier_ = register_module(
        "classifier",
        torch::nn::Sequential(nn::Conv2d(torch::nn::Conv2dOptions(last_out, config.last_channel(), 1)),
                              nn::make_activation(outer_activation), torch::nn::Dropout(drop),
                              nn::Conv2d(torch::nn::Conv2dOptions(config.last_channel(), options.classes(), 1))));
    top_.pool("avgpool", "global_average_pooling2d")
        .sequential(classifier_,
                    {{"classifier.0", 1, "Conv2d", "conv_2"},
                     {"classifier.1", 1, activation_name(outer_activation),
                      keras_generated_activation_name(keras_names, outer_activation)},
                     {drop > 0 ? "classifier.2" : "", 1, "Dropout", "dropout"},  // Keras builds none at rate 0
                     {"classifier.3", 1, "Conv2d", "logits"}})
        .flatten("flatten", "flatten")
        .output_activation("predictions", "predictions", options.classifier_activation())
        .add_rows(table_);
  } else if (options.include_top()) {
    classifier_ =
        register_module("classifier", torch::nn::Sequential(nn::Linear(last_out, config.last_channel()),
                                                            nn::Hardswish(), torch::nn::Dropout(drop_rate_or(0.2)),
                                                            nn::Linear(config.last_channel(), options.classes())));
    top_.pool("avgpool").flatten().sequential("classifier", classifier_).add_rows(table_);
  }
  if (keras_)
    detail::init_keras_default(*this);
  else
    detail::init_torchvision_default(*this);
}

namespace detail {

MobileNetV3Config keras_mobilenet_v3_config(bool large, double alpha, bool minimalistic) {
  // Keras' stack_fn rows: expansion, channels, kernel (0: the model's), stride, SE, hard-swish.
  static const std::vector<KerasMobileNetV3Row> small_rows = {
      {1, 16, 3, 2, true, false},   {72.0 / 16, 24, 3, 2, false, false}, {88.0 / 24, 24, 3, 1, false, false},
      {4, 40, 0, 2, true, true},    {6, 40, 0, 1, true, true},           {6, 40, 0, 1, true, true},
      {3, 48, 0, 1, true, true},    {3, 48, 0, 1, true, true},           {6, 96, 0, 2, true, true},
      {6, 96, 0, 1, true, true},    {6, 96, 0, 1, true, true}};
  static const std::vector<KerasMobileNetV3Row> large_rows = {
      {1, 16, 3, 1, false, false},  {4, 24, 3, 2, false, false},  {3, 24, 3, 1, false, false},
      {3, 40, 0, 2, true, false},   {3, 40, 0, 1, true, false},   {3, 40, 0, 1, true, false},
      {6, 80, 3, 2, false, true},   {2.5, 80, 3, 1, false, true}, {2.3, 80, 3, 1, false, true},
      {2.3, 80, 3, 1, false, true}, {6, 112, 3, 1, true, true},   {6, 112, 3, 1, true, true},
      {6, 160, 0, 2, true, true},   {6, 160, 0, 1, true, true},   {6, 160, 0, 1, true, true}};
  MobileNetV3Config config;
  config.keras(true);
  config.minimalistic(minimalistic);
  const int64_t last_point = large ? 1280 : 1024;
  config.last_channel(alpha > 1.0 ? make_divisible(static_cast<double>(last_point) * alpha) : last_point);
  int64_t in = 16;  // Keras' stem has 16 channels whatever alpha is
  for (const auto& r : large ? large_rows : small_rows) {
    MobileNetV3BlockConfig c;
    c.in = in;
    // Keras' first block has no expansion conv: its width is the input's.
    c.expanded = config.blocks().empty() ? in : make_divisible(static_cast<double>(in) * r.expansion);
    c.out = make_divisible(static_cast<double>(r.channels) * alpha);
    c.kernel = r.kernel != 0 ? r.kernel : (minimalistic ? 3 : 5);
    c.stride = r.stride;
    c.se = r.se && !minimalistic;
    c.hardswish = r.hardswish && !minimalistic;
    config.blocks().push_back(c);
    in = c.out;
  }
  return config;
}

ModelSpec keras_mobilenet_v3_spec(const std::string& name, const std::string& keras_model, const std::string& md5,
                                  const std::string& notop_md5) {
  ModelSpec s;
  s.name = name;
  s.family = "mobilenet_v3";
  s.first_conv = "features.0.0.weight";
  s.top_modules = {"classifier"};
  s.classifier_modules = {"classifier.3"};
  const std::string file = "weights_mobilenet_v3_" + keras_model;
  s.weights = {keras_weights("mobilenet_v3", file + ".h5", md5, file + "_no_top_v2.h5", notop_md5,
                             Preprocessing::Identity)};
  return s;
}

std::vector<RegisteredModel> keras_mobilenet_v3_variants() {
  // Keras' WEIGHTS_HASHES: (with top, without) per model.
  struct Row {
    const char* suffix;
    bool large;
    double alpha;
    bool minimalistic;
    const char* keras_model;
    const char *md5, *notop_md5;
  };
  static const Row rows[] = {
      {"Small", false, 1.0, false, "small_224_1.0_float", "8768d4c2e7dee89b9d02b2d03d65d862",
       "d3e8ec802a04aa4fc771ee12a9a9b836"},
      {"Small_0.75", false, 0.75, false, "small_224_0.75_float", "cb65d4e5be93758266aa0a7f2c6708b7",
       "ebdb5cc8e0b497cd13a7c275d475c819"},
      {"Small_minimalistic", false, 1.0, true, "small_minimalistic_224_1.0_float", "99cd97fb2fcdad2bf028eb838de69e37",
       "cde8136e733e811080d9fcd8a252f7e4"},
      {"Large", true, 1.0, false, "large_224_1.0_float", "59e551e166be033d707958cf9e29a6a7",
       "07fb09a5933dd0c8eaafa16978110389"},
      {"Large_0.75", true, 0.75, false, "large_224_0.75_float", "765b44a33ad4005b3ac83185abf1d0eb",
       "40af19a13ebea4e2ee0c676887f69a2e"},
      {"Large_minimalistic", true, 1.0, true, "large_minimalistic_224_1.0_float", "675e7b876c45c57e9e63e6d90a36599c",
       "ec5221f64a2f6d1ef965a614bdae7973"},
  };
  std::vector<RegisteredModel> variants;
  for (const auto& r : rows)
    variants.push_back(variant<MobileNetV3Impl>(
        keras_mobilenet_v3_spec(std::string("keras.MobileNetV3") + r.suffix, r.keras_model, r.md5, r.notop_md5),
        keras_mobilenet_v3_config(r.large, r.alpha, r.minimalistic)));
  return variants;
}

}  // namespace detail

}  // namespace tlearn
