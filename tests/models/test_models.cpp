// Backbones: parity with torchvision (keys, shapes, parameter counts, outputs),
// the layer table, selectors, freezing, summary and taps.
#include <nlohmann/json.hpp>
#include <tlearn/tlearn.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <typeindex>

#include "../model_parity.hpp"
#include "../support.hpp"

namespace tl = tlearn;
using namespace tlearn::test;


TEST_CASE("every registered model has torchvision's state_dict keys, shapes and parameter count", "[parity]") {
  std::vector<std::string> names;
  for (const auto& name : tl::list_models())
    if (name.rfind("keras.", 0) != 0) names.push_back(name);  // Keras' own weights: tests/models/test_keras.cpp
  REQUIRE(!names.empty());
  auto dir = scratch_dir("keys");
  std::vector<std::string> args = {"keys", (dir / "keys.json").string()};
  args.insert(args.end(), names.begin(), names.end());
  run_python("torchvision_reference.py", args);
  std::ifstream in(dir / "keys.json");
  auto reference = nlohmann::json::parse(in);
  for (const auto& name : names) {
    INFO("model " << name);
    auto model = tl::make_backbone(name);
    auto ours = tl::io::state_dict(*model);
    const auto& theirs = reference[name]["keys"];
    REQUIRE(ours.size() == theirs.size());
    size_t i = 0;
    for (const auto& item : ours) {
      INFO("key #" << i);
      CHECK(item.key() == theirs[i][0].get<std::string>());
      CHECK(item.value().sizes().vec() == theirs[i][1].get<std::vector<int64_t>>());
      ++i;
    }
    CHECK(count_parameters(*model) == reference[name]["params"].get<int64_t>());
  }
}

namespace {
// Every Arch tag in tlearn (the `namespace arch` of each family header).
using ArchTags = std::tuple<
    tl::arch::AlexNet, tl::arch::ConvNeXtTiny, tl::arch::ConvNeXtSmall, tl::arch::ConvNeXtBase,
    tl::arch::ConvNeXtLarge, tl::arch::KerasConvNeXtTiny, tl::arch::KerasConvNeXtSmall, tl::arch::KerasConvNeXtBase,
    tl::arch::KerasConvNeXtLarge, tl::arch::KerasConvNeXtXLarge, tl::arch::DenseNet121, tl::arch::DenseNet161,
    tl::arch::DenseNet169, tl::arch::DenseNet201, tl::arch::KerasDenseNet121, tl::arch::KerasDenseNet169,
    tl::arch::KerasDenseNet201, tl::arch::KerasEfficientNetB0, tl::arch::EfficientNetB0, tl::arch::EfficientNetB1,
    tl::arch::EfficientNetB2, tl::arch::EfficientNetB3, tl::arch::EfficientNetB4, tl::arch::EfficientNetB5,
    tl::arch::EfficientNetB6, tl::arch::EfficientNetB7, tl::arch::EfficientNetV2S, tl::arch::EfficientNetV2M,
    tl::arch::EfficientNetV2L, tl::arch::KerasEfficientNetB1, tl::arch::KerasEfficientNetB2,
    tl::arch::KerasEfficientNetB3, tl::arch::KerasEfficientNetB4, tl::arch::KerasEfficientNetB5,
    tl::arch::KerasEfficientNetB6, tl::arch::KerasEfficientNetB7, tl::arch::KerasEfficientNetV2B0,
    tl::arch::KerasEfficientNetV2B1, tl::arch::KerasEfficientNetV2B2, tl::arch::KerasEfficientNetV2B3,
    tl::arch::KerasEfficientNetV2S, tl::arch::KerasEfficientNetV2M, tl::arch::KerasEfficientNetV2L,
    tl::arch::GoogLeNet, tl::arch::InceptionV3, tl::arch::KerasInceptionV3, tl::arch::KerasInceptionResNetV2,
    tl::arch::KerasMobileNet, tl::arch::KerasMobileNet_025, tl::arch::KerasMobileNet_05,
    tl::arch::KerasMobileNet_075, tl::arch::KerasNASNetMobile, tl::arch::KerasNASNetLarge,
    tl::arch::KerasResNet50V2, tl::arch::KerasResNet101V2, tl::arch::KerasResNet152V2, tl::arch::KerasXception,
    tl::arch::MaxVitT, tl::arch::MNASNet0_5, tl::arch::MNASNet0_75, tl::arch::MNASNet1_0, tl::arch::MNASNet1_3,
    tl::arch::MobileNetV2, tl::arch::KerasMobileNetV2, tl::arch::KerasMobileNetV2_035,
    tl::arch::KerasMobileNetV2_05, tl::arch::KerasMobileNetV2_075, tl::arch::KerasMobileNetV2_13,
    tl::arch::KerasMobileNetV2_14, tl::arch::MobileNetV3Small, tl::arch::MobileNetV3Large,
    tl::arch::KerasMobileNetV3Small, tl::arch::KerasMobileNetV3Large, tl::arch::KerasMobileNetV3Small_075,
    tl::arch::KerasMobileNetV3Small_Minimalistic, tl::arch::KerasMobileNetV3Large_075,
    tl::arch::KerasMobileNetV3Large_Minimalistic, tl::arch::RegNetX400MF, tl::arch::RegNetX800MF,
    tl::arch::RegNetX1_6GF, tl::arch::RegNetX3_2GF, tl::arch::RegNetX8GF, tl::arch::RegNetX16GF,
    tl::arch::RegNetX32GF, tl::arch::RegNetY400MF, tl::arch::RegNetY800MF, tl::arch::RegNetY1_6GF,
    tl::arch::RegNetY3_2GF, tl::arch::RegNetY8GF, tl::arch::RegNetY16GF, tl::arch::RegNetY32GF,
    tl::arch::RegNetY128GF, tl::arch::ResNet18, tl::arch::ResNet34, tl::arch::ResNet50, tl::arch::ResNet101,
    tl::arch::ResNet152, tl::arch::ResNeXt50_32X4D, tl::arch::ResNeXt101_32X8D, tl::arch::ResNeXt101_64X4D,
    tl::arch::WideResNet50_2, tl::arch::WideResNet101_2, tl::arch::KerasResNet50, tl::arch::KerasResNet101,
    tl::arch::KerasResNet152, tl::arch::ShuffleNetV2_x0_5, tl::arch::ShuffleNetV2_x1_0, tl::arch::ShuffleNetV2_x1_5,
    tl::arch::ShuffleNetV2_x2_0, tl::arch::SqueezeNet1_0, tl::arch::SqueezeNet1_1, tl::arch::SwinT, tl::arch::SwinS,
    tl::arch::SwinB, tl::arch::SwinV2T, tl::arch::SwinV2S, tl::arch::SwinV2B, tl::arch::VGG11, tl::arch::VGG13,
    tl::arch::VGG16, tl::arch::VGG19, tl::arch::VGG11_BN, tl::arch::VGG13_BN, tl::arch::VGG16_BN,
    tl::arch::VGG19_BN, tl::arch::KerasVGG16, tl::arch::KerasVGG19, tl::arch::ViTB16, tl::arch::ViTB32,
    tl::arch::ViTL16, tl::arch::ViTL32, tl::arch::ViTH14>;

template <class... Tag>
std::vector<std::tuple<std::string, std::type_index, std::string>> arch_tag_rows(std::tuple<Tag...>*) {
  return {{Tag::name, std::type_index(typeid(typename Tag::Impl)), typeid(Tag).name()}...};
}
}  // namespace

TEST_CASE("every Arch tag names a registered model of its family, and every registered model has a tag", "[registry]") {
  std::set<std::string> tagged;
  for (const auto& [name, impl, tag] : arch_tag_rows(static_cast<ArchTags*>(nullptr))) {
    INFO("tag " << tag << " names '" << name << "'");
    const auto& row = tl::detail::registered_model(name);  // throws for an unknown name
    CHECK(row.impl == impl);  // Backbone<Tag> would hold a null module otherwise
    CHECK(tagged.insert(name).second);               // two tags, one name
  }
  std::string untagged;
  for (const auto& name : tl::list_models())
    if (!tagged.count(name) && name != "vit_toy") untagged += " " + name;  // vit_toy: registered by this binary
  INFO("registered models without an Arch tag:" << untagged);
  CHECK(untagged.empty());
}

TEST_CASE("summary prints torchvision's parameter count for every registered model", "[summary]") {
  const std::map<std::string, int64_t> known = {
      {"vgg16", 138357544}, {"resnet50", 25557032}, {"mobilenet_v2", 3504872},
      {"efficientnet_b0", 5288548}, {"densenet121", 7978856}};
  for (const auto& name : tl::list_models()) {
    INFO("model " << name);
    auto model = tl::make_backbone(name);
    std::ostringstream out;
    const int64_t unit = model->spec().min_size;  // a ViT takes multiples of its patch size
    auto size = (std::max<int64_t>(64, unit) + unit - 1) / unit * unit;
    model->summary(out, {size, size});
    std::ostringstream expected;
    auto total = count_parameters(*model);
    CHECK(out.str().find("Total params: ") != std::string::npos);
    if (known.count(name)) CHECK(total == known.at(name));
    // Every row's output shape comes from a real forward pass.
    CHECK(out.str().find(" - ") == std::string::npos);
    // Rows add up to the total: the table covers every parameter exactly once.
    int64_t rows = 0;
    for (const auto& layer : model->layers()) rows += layer.params;
    CHECK(rows == total);
  }
}

namespace {
/// Keras' model.layers names, in order, from tests/fixtures/keras_layers/<model>.tsv
/// (written by tests/python/keras_layers.py with Keras 3).
std::vector<std::string> keras_layer_names(const std::string& model) {
  std::ifstream in(std::string(TLEARN_TEST_FIXTURES) + "/keras_layers/" + model + ".tsv");
  REQUIRE(in);
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto a = line.find('\t'), b = line.find('\t', a + 1);
    names.push_back(line.substr(a + 1, b - a - 1));
  }
  return names;
}
}  // namespace

TEST_CASE("Keras indices: the families with Keras aliases have Keras' layers, count and order", "[layers][keras]") {
  // README's list of families with Keras indices; index i is Keras' model.layers[i].
  const std::vector<std::pair<std::string, std::string>> families = {
      {"vgg16", "VGG16"},       {"vgg19", "VGG19"},           {"resnet50", "ResNet50"},
      {"resnet101", "ResNet101"}, {"resnet152", "ResNet152"}, {"mobilenet_v2", "MobileNetV2"},
      {"densenet121", "DenseNet121"}, {"densenet169", "DenseNet169"}, {"densenet201", "DenseNet201"},
      {"keras.MobileNetV2", "MobileNetV2"}, {"keras.ResNet50", "ResNet50"}, {"keras.MobileNet", "MobileNet"},
      {"keras.ResNet50V2", "ResNet50V2"}, {"keras.DenseNet121", "DenseNet121"}, {"keras.Xception", "Xception"},
      {"keras.InceptionV3", "InceptionV3"}, {"keras.InceptionResNetV2", "InceptionResNetV2"},
      {"keras.MobileNetV3Small", "MobileNetV3Small"}, {"keras.MobileNetV3Large", "MobileNetV3Large"},
      {"keras.EfficientNetB0", "EfficientNetB0"}, {"keras.EfficientNetB3", "EfficientNetB3"},
      {"keras.EfficientNetV2B0", "EfficientNetV2B0"}, {"keras.EfficientNetV2S", "EfficientNetV2S"},
      {"keras.ConvNeXtTiny", "ConvNeXtTiny"}, {"keras.NASNetMobile", "NASNetMobile"}};
  for (const auto& [ours, keras] : families) {
    INFO(ours << " vs Keras' " << keras);
    auto model = tl::make_backbone(ours);
    const auto expected = keras_layer_names(keras);
    std::vector<std::string> aliases;
    for (const auto& layer : model->layers()) aliases.push_back(layer.alias.empty() ? "<" + layer.name + ">" : layer.alias);
    CHECK(aliases.size() == expected.size());
    for (size_t i = 0; i < std::min(aliases.size(), expected.size()); ++i)
      if (aliases[i] != expected[i]) {
        FAIL_CHECK("row " << i << ": " << aliases[i] << " where Keras has " << expected[i]);
        break;
      }
  }
  // Padding rows hold no module; summary() still shows the padded shape Keras shows.
  auto resnet = tl::make_backbone("resnet50");
  const auto& table = resnet->layer_table();
  CHECK(table[1].alias == "conv1_pad");
  CHECK(table[1].kind == "ZeroPad2d");
  CHECK(table[1].modules.empty());
  std::ostringstream text;
  resnet->summary(text, {224, 224});
  CHECK(text.str().find("(None, 3, 230, 230)") != std::string::npos);  // Keras' conv1_pad: 224 + 2 * 3
  // first(100) freezes what Keras' layers[:100] freezes.
  auto mobile = tl::make_backbone("mobilenet_v2", tl::BackboneOptions().include_top(false));
  mobile->set_trainable(tl::first(100), false);
  const auto names = keras_layer_names("MobileNetV2");
  const auto& mt = mobile->layer_table();
  CHECK_FALSE(mt[mt.index_of(names[99])].trainable);
  CHECK(mt[mt.index_of(names[100])].trainable);
}

TEST_CASE("vgg16 without its top ends at block5_pool", "[layers]") {
  tl::Backbone<tl::arch::VGG16> vgg;
  auto layers = vgg->layers();
  CHECK(layers[1].name == "features.0");
  CHECK(layers[1].params == 1792);
  CHECK(layers[22].name == "classifier.6");
  tl::Backbone<tl::arch::VGG16> base(tl::BackboneOptions().include_top(false));
  CHECK(base->layers().size() == 19);
  CHECK(base->layers().back().alias == "block5_pool");
}

TEST_CASE("selectors address layers the way Keras slices model.layers", "[layers]") {
  tl::Backbone<tl::arch::VGG16> vgg(tl::BackboneOptions().include_top(false));
  const auto& table = vgg->layer_table();
  CHECK(tl::first(15).resolve(table).size() == 15);
  CHECK(tl::first(15).resolve(table).back() == 14);
  CHECK(tl::last(4).resolve(table) == std::vector<size_t>{15, 16, 17, 18});
  CHECK(tl::range(3, 5).resolve(table) == std::vector<size_t>{3, 4});
  CHECK(tl::range(-2, 19).resolve(table) == std::vector<size_t>{17, 18});
  CHECK(tl::from("block5_conv1").resolve(table).front() == 15);
  CHECK(tl::from("features.24").resolve(table).front() == 15);
  CHECK(tl::until("block5_conv1").resolve(table).size() == 15);
  CHECK(tl::all().resolve(table).size() == 19);
  CHECK(tl::regex("block[12]_conv.").resolve(table).size() == 4);

  CHECK_THROWS_WITH(tl::from("block5_cnv1").resolve(table), Catch::Matchers::Contains("block5_conv1"));
  CHECK_THROWS_AS(tl::first(20).resolve(table), tl::Error);
  CHECK_THROWS_AS(tl::range(5, 3).resolve(table), tl::Error);
  CHECK_THROWS_AS(tl::regex("nothing_matches").resolve(table), tl::Error);
  CHECK_THROWS_AS(tl::regex("(unclosed"), tl::Error);
}

TEST_CASE("set_trainable freezes gradients and BatchNorm statistics, and unfreezing restores both", "[freeze]") {
  torch::manual_seed(0);
  auto model = tl::make_backbone("vgg11_bn", tl::BackboneOptions().include_top(false));
  model->set_trainable(tl::until("block4_conv1"), false);
  model->train();  // must not wake the frozen BatchNorm layers

  auto frozen_bn = model->named_modules()["features.1"]->as<tl::nn::BatchNorm2d>();
  auto live_bn = model->named_modules()["features.19"]->as<tl::nn::BatchNorm2d>();
  REQUIRE(frozen_bn != nullptr);
  REQUIRE(live_bn != nullptr);
  CHECK_FALSE(frozen_bn->is_training());
  CHECK(live_bn->is_training());
  auto frozen_mean = frozen_bn->running_mean.clone();
  auto live_mean = live_bn->running_mean.clone();

  auto y = model->forward(torch::randn({2, 3, 64, 64}));
  y.mean().backward();
  auto params = model->named_parameters();
  CHECK_FALSE(params["features.0.weight"].requires_grad());
  CHECK_FALSE(params["features.0.weight"].grad().defined());
  CHECK(params["features.18.weight"].grad().defined());
  CHECK(torch::equal(frozen_bn->running_mean, frozen_mean));
  CHECK_FALSE(torch::equal(live_bn->running_mean, live_mean));

  auto trainable = model->trainable_parameters();
  int64_t trainable_count = 0;
  for (const auto& p : trainable) trainable_count += p.numel();
  int64_t expected = 0;
  for (const auto& l : model->layers()) expected += l.trainable ? l.params : 0;
  CHECK(trainable_count == expected);
  CHECK(model->layers()[1].trainable == false);

  model->set_trainable(tl::all(), true);
  CHECK(frozen_bn->is_training());
  CHECK(params["features.0.weight"].requires_grad());
  model->forward(torch::randn({2, 3, 64, 64}));
  CHECK_FALSE(torch::equal(frozen_bn->running_mean, frozen_mean));
  model->eval();
  CHECK_FALSE(frozen_bn->is_training());
}

TEST_CASE("taps return named layers from one forward pass that stops after the deepest", "[taps]") {
  tl::Backbone<tl::arch::VGG16> vgg(tl::BackboneOptions().include_top(false));
  torch::NoGradGuard no_grad;
  auto x = torch::randn({1, 3, 64, 64});
  auto maps = vgg->forward_features(x, {"block1_conv2", "features.9"});
  REQUIRE(maps.size() == 2);
  CHECK(maps[0].sizes() == torch::IntArrayRef({1, 64, 64, 64}));
  CHECK(maps[1].sizes() == torch::IntArrayRef({1, 128, 16, 16}));

  // The pass stopped: an outer recorder saw nothing deeper than features.9.
  tl::TapRecorder everything;
  vgg->forward_features(x, {"block2_pool"});
  CHECK(everything.records().back().first == "features.9");
  CHECK_FALSE(everything.has("features.10"));

  auto stages = vgg->features_only(x);
  REQUIRE(stages.size() == 5);
  CHECK(stages[4].sizes() == torch::IntArrayRef({1, 512, 2, 2}));
  CHECK(vgg->feature_info()[2].stride == 8);
  CHECK_THROWS_AS(vgg->forward_features(x, {"block9_conv1"}), tl::Error);
  CHECK_THROWS_AS(vgg->features_only(x, {7}), tl::Error);
}

TEST_CASE("include_top = false with pooling and other input sizes", "[backbone]") {
  auto base = tl::make_backbone("vgg16", tl::BackboneOptions().include_top(false).input_shape({150, 150}));
  torch::NoGradGuard no_grad;
  CHECK(base->forward(torch::zeros({1, 3, 150, 150})).sizes() == torch::IntArrayRef({1, 512, 4, 4}));
  CHECK(base->output_channels() == 512);
  auto pooled = tl::make_backbone("vgg16", tl::BackboneOptions().include_top(false).pooling(tl::Pooling::Avg));
  CHECK(pooled->forward(torch::zeros({2, 3, 64, 64})).sizes() == torch::IntArrayRef({2, 512}));
  CHECK_THROWS_WITH(base->forward(torch::zeros({1, 3, 16, 16})), Catch::Matchers::Contains("H, W >= 32"));
  CHECK_THROWS_AS(tl::make_backbone("vgg61"), tl::Error);
  CHECK_THROWS_WITH(tl::make_backbone("vgg61"), Catch::Matchers::Contains("vgg16"));
}

TEST_CASE("vgg parity with torchvision: eval, without top, and train mode with gradients", "[parity]") {
  check_numeric_parity("vgg11", 64, /*include_top=*/true);
  check_numeric_parity("vgg16", 64, /*include_top=*/false);
  // Train mode without the top: the classifier's Dropout draws random masks.
  check_numeric_parity("vgg11_bn", 64, /*include_top=*/false, /*train=*/true);
}

namespace {
/// Non-trivial BatchNorm statistics and affine parameters, so that a wrong fold shows.
void randomize_batch_norms(tl::BackboneImpl& model) {
  torch::NoGradGuard no_grad;
  for (const auto& m : model.modules(false))
    if (auto* bn = m->as<tl::nn::BatchNorm2d>()) {
      bn->running_mean.uniform_(-0.5, 0.5);
      bn->running_var.uniform_(0.5, 1.5);
      if (bn->weight.defined()) bn->weight.uniform_(0.5, 1.5);  // none in Keras' InceptionV3 (scale=False)
      bn->bias.uniform_(-0.5, 0.5);
    }
}
}  // namespace

TEST_CASE("optimize_for_inference folds BatchNorm into convolutions and keeps outputs", "[inference]") {
  for (const std::string& name : tl::list_models()) {
    auto model = tl::make_backbone(name);
    bool has_bn = false;
    for (const auto& m : model->modules(false)) has_bn = has_bn || m->as<tl::nn::BatchNorm2d>() != nullptr;
    if (!has_bn) continue;
    INFO("model " << name);
    randomize_batch_norms(*model);
    model->eval();
    const int64_t unit = model->spec().min_size;  // a ViT takes multiples of its patch size
    auto size = (std::max<int64_t>(64, unit) + unit - 1) / unit * unit;
    auto x = torch::randn({2, 3, size, size});
    torch::NoGradGuard no_grad;
    auto before = model->forward(x);
    CHECK(tl::optimize_for_inference(*model) > 0);
    CHECK(relative_error(model->forward(x), before) < 1e-4);
  }
  auto training = tl::make_backbone("vgg11_bn");
  CHECK_THROWS_AS(tl::optimize_for_inference(*training), tl::Error);
}

TEST_CASE("prepacked convolutions match torch's, follow weight changes and leave training alone", "[inference]") {
  if (!tl::nn::Conv2dImpl::prepacking_available()) {
    WARN("this LibTorch has no mkldnn_prepacked operators; convolutions always run torch's forward");
    return;
  }
  using tl::nn::Activation;
  torch::manual_seed(0);
  tl::nn::Conv2d conv(torch::nn::Conv2dOptions(8, 16, 3).stride(2).padding(1));
  const auto x = torch::randn({2, 8, 15, 15});
  auto reference = [&] { return torch::conv2d(x, conv->weight, conv->bias, 2, 1).detach(); };
  conv->set_prepacked(true);
  {
    c10::InferenceMode inference;
    for (auto format : {torch::MemoryFormat::Contiguous, torch::MemoryFormat::ChannelsLast}) {
      const auto input = x.contiguous(format);
      CHECK(relative_error(conv->forward(input), reference()) < 1e-5);
      for (auto activation : {Activation::ReLU, Activation::ReLU6, Activation::SiLU, Activation::Hardswish}) {
        INFO("fused " << tl::nn::activation_name(activation));
        conv->set_fused_activation(activation);
        const auto output = conv->forward(input);
        CHECK(output.is_contiguous(format));
        CHECK(relative_error(output, tl::nn::apply_activation(activation, reference())) < 1e-5);
      }
      conv->set_fused_activation(Activation::None);
    }
    // One shape. mkldnn_prepacked packs plain and ReLU apart; on LibTorch 2.x
    // channels-last inputs take oneDNN's pointwise convolution, whose one
    // packed copy serves every activation.
    CHECK(conv->packed_copies() == (tl::nn::Conv2dImpl::fuses_every_activation() ? 3 : 2));
  }
  CHECK_THROWS(conv->set_fused_activation(Activation::GELU));

  // A weight changed in place (an optimizer step, load_state_dict) is packed again.
  {
    torch::NoGradGuard no_grad;
    conv->weight.mul_(-2);
    conv->bias.add_(1);
    CHECK(relative_error(conv->forward(x), reference()) < 1e-5);
    CHECK(conv->packed_copies() == 1);
  }

  // At most kMaxPackedCopies copies, whatever the shapes seen.
  {
    c10::InferenceMode inference;
    for (int64_t size = 9; size < 16; ++size) {
      const auto input = torch::randn({1, 8, size, size});
      CHECK(relative_error(conv->forward(input), torch::conv2d(input, conv->weight, conv->bias, 2, 1)) < 1e-5);
    }
    CHECK(conv->packed_copies() == tl::nn::Conv2dImpl::kMaxPackedCopies);
  }

  // Recording gradients always goes through torch's differentiable forward.
  auto input = x.clone().requires_grad_();
  conv->set_fused_relu(true);
  conv->forward(input).sum().backward();
  conv->set_fused_relu(false);
  REQUIRE(conv->weight.grad().defined());
  REQUIRE(input.grad().defined());
  auto plain_input = x.clone().requires_grad_();
  auto plain_weight = conv->weight.detach().clone().requires_grad_();
  torch::relu(torch::conv2d(plain_input, plain_weight, conv->bias.detach(), 2, 1)).sum().backward();
  CHECK(relative_error(conv->weight.grad(), plain_weight.grad()) < 1e-5);
  CHECK(relative_error(input.grad(), plain_input.grad()) < 1e-5);

  conv->set_prepacked(false);
  CHECK(conv->packed_copies() == 0);
}

TEST_CASE("prepacked linear layers match torch's, follow weight changes and leave training alone", "[inference]") {
  // Where this LibTorch lacks oneDNN's linear operators (1.13) the layer must
  // still give torch's answers, through torch's forward.
  const bool packs = tl::nn::PackedLinearWeights::available();
  UNSCOPED_INFO("oneDNN linear operators available: " << packs);
  torch::manual_seed(0);
  tl::nn::Linear linear(96, 200);
  const auto x = torch::randn({3, 7, 96});  // any leading dimensions, like tokens
  auto reference = [&](const torch::Tensor& input) { return torch::linear(input, linear->weight, linear->bias).detach(); };
  linear->set_prepacked(true);
  {
    torch::NoGradGuard no_grad;
    CHECK(relative_error(linear->forward(x), reference(x)) < 1e-5);
    CHECK(linear->holds_packed_weights() == packs);
    // One packed copy serves every row count, a single row and a transposed view too.
    for (const auto& input : {x[0][0].unsqueeze(0), torch::randn({96, 50}).t(), torch::randn({2, 4, 5, 96})})
      CHECK(relative_error(linear->forward(input), reference(input)) < 1e-5);
    // A weight changed in place (an optimizer step, load_state_dict) is packed again.
    linear->weight.mul_(-2);
    linear->bias.add_(1);
    CHECK(relative_error(linear->forward(x), reference(x)) < 1e-5);
    // So is one replaced outright.
    linear->weight = linear->weight.detach().clone().mul_(0.5).requires_grad_();
    CHECK(relative_error(linear->forward(x), reference(x)) < 1e-5);
    // bf16 weights and input.
    tl::nn::Linear half(96, 200);
    half->to(torch::kBFloat16);
    half->set_prepacked(true);
    const auto xb = x.to(torch::kBFloat16);
    CHECK(relative_error(half->forward(xb).to(torch::kFloat32),
                         torch::linear(xb, half->weight, half->bias).to(torch::kFloat32)) < 1e-2);
  }
  // Recording gradients always goes through torch's differentiable forward.
  auto input = x.clone().requires_grad_();
  linear->forward(input).sum().backward();
  REQUIRE(linear->weight.grad().defined());
  REQUIRE(input.grad().defined());
  auto plain_input = x.clone().requires_grad_();
  auto plain_weight = linear->weight.detach().clone().requires_grad_();
  torch::linear(plain_input, plain_weight, linear->bias.detach()).sum().backward();
  CHECK(relative_error(linear->weight.grad(), plain_weight.grad()) < 1e-5);
  CHECK(relative_error(input.grad(), plain_input.grad()) < 1e-5);

  linear->set_prepacked(false);
  CHECK_FALSE(linear->holds_packed_weights());
}

TEST_CASE("an inference-optimized vision transformer runs its linear layers prepacked, outputs unchanged",
          "[inference]") {
  torch::manual_seed(0);
  auto model = tl::make_backbone("vit_b_16");
  model->eval();
  const auto x = torch::randn({2, 3, 224, 224});
  torch::NoGradGuard no_grad;
  const auto before = model->forward(x);
  tl::optimize_for_inference(*model);
  const auto after = model->forward(x);
  CHECK(relative_error(after, before) < 1e-4);
  size_t linears = 0, packed = 0, attentions = 0;
  for (const auto& m : model->modules()) {
    if (auto* linear = dynamic_cast<tl::nn::LinearImpl*>(m.get())) {
      ++linears;
      CHECK(linear->prepacked());
      packed += linear->holds_packed_weights();
    }
    if (auto* attention = dynamic_cast<tl::nn::MultiheadSelfAttentionImpl*>(m.get()))
      attentions += attention->prepacked();
  }
  CHECK(linears == 12 * 3 + 1);  // each block's out_proj and two MLP layers, the head
  CHECK(attentions == 12);
  CHECK(packed == (tl::nn::PackedLinearWeights::available() ? linears : 0));
}

TEST_CASE("Conv2d::forward_add: a residual sum and its activation inside the convolution equal the three steps",
          "[inference]") {
  using tl::nn::Activation;
  torch::manual_seed(0);
  tl::nn::Conv2d conv(torch::nn::Conv2dOptions(8, 16, 3).stride(2).padding(1));
  const auto x = torch::randn({2, 8, 15, 15});
  const auto shortcut = torch::randn({2, 16, 8, 8});
  auto three_steps = [&](const torch::Tensor& other, Activation activation) {
    auto y = torch::conv2d(x.to(other.scalar_type()), conv->weight.to(other.scalar_type()),
                           conv->bias.to(other.scalar_type()), 2, 1);
    return tl::nn::apply_activation(activation, y + other).detach();
  };
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    conv->to(dtype);
    const double tolerance = dtype == torch::kFloat ? 1e-5 : 2e-2;
    for (bool prepacked : {false, true}) {
      conv->set_prepacked(prepacked);
      c10::InferenceMode inference;
      for (auto format : {torch::MemoryFormat::Contiguous, torch::MemoryFormat::ChannelsLast}) {
        const auto input = x.to(dtype).contiguous(format), other = shortcut.to(dtype).contiguous(format);
        for (auto activation : {Activation::None, Activation::ReLU, Activation::ReLU6, Activation::SiLU}) {
          INFO(c10::toString(dtype) << (prepacked ? " prepacked " : " ") << format << " "
                                    << tl::nn::activation_name(activation));
          const auto output = conv->forward_add(input, other, activation);
          CHECK(output.scalar_type() == dtype);
          CHECK(relative_error(output.to(torch::kFloat), three_steps(other, activation).to(torch::kFloat)) < tolerance);
        }
        // A shortcut that only broadcasts never reaches oneDNN's binary post-op,
        // which would broadcast it on its own terms: the three steps add it.
        const auto bias_like = torch::randn({1, 16, 1, 1}).to(dtype).contiguous(format);
        CHECK(relative_error(conv->forward_add(input, bias_like, Activation::ReLU).to(torch::kFloat),
                             three_steps(bias_like, Activation::ReLU).to(torch::kFloat)) < tolerance);
      }
    }
  }
  conv->to(torch::kFloat);
  // LibTorch 2.x brings the binary post-op with the pointwise convolution; 1.13 has neither.
  CHECK(tl::nn::Conv2dImpl::fuses_residual_add() == tl::nn::Conv2dImpl::fuses_every_activation());

  // A fused activation would come before the sum: refused, as is one oneDNN cannot apply.
  conv->set_fused_activation(Activation::ReLU);
  CHECK_THROWS_WITH(conv->forward_add(x, shortcut, Activation::None), Catch::Matchers::Contains("before the sum"));
  conv->set_fused_activation(Activation::None);
  CHECK_THROWS_WITH(conv->forward_add(x, shortcut, Activation::GELU), Catch::Matchers::Contains("after the sum"));

  // Recording gradients: torch's differentiable steps, gradients to both inputs.
  auto input = x.clone().requires_grad_(), other = shortcut.clone().requires_grad_();
  conv->forward_add(input, other, Activation::ReLU).sum().backward();
  REQUIRE(input.grad().defined());
  REQUIRE(other.grad().defined());
  CHECK(relative_error(other.grad(), (three_steps(shortcut, Activation::None) > 0).to(torch::kFloat)) < 1e-6);
}

TEST_CASE("an inference-optimized resnet fuses conv + ReLU only while nothing records its layers", "[inference]") {
  for (const std::string name : {"resnet18", "resnet50"}) {
    INFO("model " << name);
    auto model = tl::make_backbone(name);
    model->eval();
    const auto x = torch::randn({1, 3, 64, 64});
    torch::NoGradGuard no_grad;
    std::vector<std::string> relu_rows;
    for (const auto& row : model->layer_table())
      if (row.kind == "ReLU") relu_rows.push_back(row.name);
    REQUIRE(relu_rows.size() > 10);
    auto record = [&] {
      tl::TapRecorder recorder(relu_rows);
      auto output = model->forward(x);
      return std::make_pair(output, recorder.records());
    };
    const auto [before, rows_before] = record();
    // Every BatchNorm folds, those of the blocks with a shortcut too: the table
    // lists the shortcut's rows between a block's last conv and its BatchNorm,
    // and the family names those pairs (conv_batch_norm_pairs).
    int batch_norms = 0;
    for (const auto& m : model->modules()) batch_norms += dynamic_cast<tl::nn::BatchNorm2dImpl*>(m.get()) != nullptr;
    CHECK(batch_norms == (name == "resnet18" ? 20 : 53));  // stem + 2 or 3 per block + one per shortcut
    CHECK(tl::optimize_for_inference(*model) == batch_norms);
    const auto [after, rows_after] = record();
    CHECK(relative_error(after, before) < 1e-4);
    REQUIRE(rows_after.size() == rows_before.size());
    for (size_t i = 0; i < rows_after.size(); ++i) {
      INFO("row " << rows_after[i].first);
      CHECK(relative_error(rows_after[i].second, rows_before[i].second) < 1e-4);
    }
    // Not recording: the fused path, same logits; its packed copies hold the fused ReLU.
    CHECK(relative_error(model->forward(x), before) < 1e-4);
    if (tl::nn::Conv2dImpl::prepacking_available()) {
      auto* stem = model->named_modules()["conv1"]->as<tl::nn::Conv2d>();
      REQUIRE(stem != nullptr);
      // one recorded pass unfused, one fused: one packed copy where oneDNN takes the ReLU per call
      CHECK(stem->packed_copies() == (tl::nn::Conv2dImpl::fuses_every_activation() ? 1 : 2));
    }
  }
}

TEST_CASE("inference fuses conv + activation in every family that has the pair, and recorded rows stay unfused",
          "[inference]") {
  // name, convolutions whose activation follows them (directly or after a BatchNorm)
  const std::vector<std::pair<std::string, size_t>> expected = {
      {"vgg11", 8}, {"alexnet", 5}, {"densenet121", 1}, {"regnet_x_400mf", 1 + 2 * 22}, {"mnasnet0_5", 1 + 1 + 2 * 16 + 1},
      {"inception_v3", 94}, {"squeezenet1_1", 1 + 3 * 8 + 1}, {"resnet18", 1 + 8},
      // ReLU6: stem, 16 expansions, 17 depthwise, last conv
      {"mobilenet_v2", 1 + 16 + 17 + 1},
      // SiLU: stem, 15 expansions, 16 depthwise, 16 squeeze-excitation reductions, head
      {"efficientnet_b0", 1 + 15 + 16 + 16 + 1},
      // Hardswish and ReLU: stem, 10 expansions, 11 depthwise, 9 squeeze-excitation reductions, last conv
      {"mobilenet_v3_small", 1 + 10 + 11 + 9 + 1}};
  for (const auto& [name, pairs] : expected) {
    INFO("model " << name);
    torch::manual_seed(0);
    auto model = tl::make_backbone(name);
    randomize_batch_norms(*model);
    model->eval();
    const auto size = std::max<int64_t>(96, model->spec().min_size);
    const auto x = torch::randn({1, 3, size, size});
    torch::NoGradGuard no_grad;
    auto record = [&] {
      tl::TapRecorder recorder;
      auto output = model->forward(x);
      return std::make_pair(output, recorder.records());
    };
    const auto [before, rows_before] = record();
    tl::optimize_for_inference(*model, tl::InferenceOptions().prepack_weights(false));
    std::map<std::string, size_t> fused;
    for (const auto& m : model->modules())
      if (auto* conv = dynamic_cast<tl::nn::Conv2dImpl*>(m.get()))
        if (conv->fused_activation() != tl::nn::Activation::None) ++fused[tl::nn::activation_name(conv->fused_activation())];
    std::set<const tl::nn::Absorbable*> activations;  // registered or held by rows only (resnet's, inception's)
    for (const auto& m : model->modules())
      if (auto* activation = dynamic_cast<tl::nn::Absorbable*>(m.get())) activations.insert(activation);
    for (const auto& row : model->layer_table())
      for (const auto& m : row.modules)
        if (auto* activation = dynamic_cast<tl::nn::Absorbable*>(m.get())) activations.insert(activation);
    const auto absorbed =
        std::count_if(activations.begin(), activations.end(), [](auto* activation) { return activation->absorbed(); });
    size_t total = 0;
    for (const auto& [kind, count] : fused) {
      UNSCOPED_INFO("fused " << kind << ": " << count);
      total += count;
    }
    UNSCOPED_INFO("absorbed " << absorbed);
    CHECK(total == pairs);
    CHECK(static_cast<size_t>(absorbed) == pairs);
    CHECK(relative_error(model->forward(x), before) < 1e-4);
    // Prepacked too (oneDNN applies the activation where this LibTorch lets it).
    for (const auto& m : model->modules())
      if (auto* layer = dynamic_cast<tl::nn::Prepackable*>(m.get())) layer->set_prepacked(true);
    CHECK(relative_error(model->forward(x), before) < 1e-4);
    const auto [after, rows_after] = record();
    CHECK(relative_error(after, before) < 1e-4);
    REQUIRE(rows_after.size() == rows_before.size());
    for (size_t i = 0; i < rows_after.size(); ++i) {
      INFO("row " << rows_after[i].first);
      const auto& row = model->layer_table()[model->layer_table().index_of(rows_after[i].first)];
      if (row.kind == "Conv2d") continue;  // holds its folded BatchNorm's output now
      CHECK(relative_error(rows_after[i].second, rows_before[i].second) < 1e-4);
    }
  }
  // Without fuse_activations nothing fuses.
  auto vgg = tl::make_backbone("vgg11");
  vgg->eval();
  tl::optimize_for_inference(*vgg, tl::InferenceOptions().fuse_activations(false));
  for (const auto& m : vgg->modules())
    if (auto* conv = dynamic_cast<tl::nn::Conv2dImpl*>(m.get())) CHECK(conv->fused_activation() == tl::nn::Activation::None);
}

TEST_CASE("a bf16 model is optimized for inference too: BatchNorm folded in float32, weights prepacked",
          "[inference]") {
  for (const std::string name : {"resnet18", "mobilenet_v2"}) {
    INFO("model " << name);
    auto make = [&] {
      torch::manual_seed(0);
      auto model = tl::make_backbone(name);
      randomize_batch_norms(*model);
      model->eval();
      return model;
    };
    auto model = make();
    const auto x = torch::randn({2, 3, 96, 96});
    torch::NoGradGuard no_grad;
    const auto fp32 = model->forward(x);
    model->to(torch::kBFloat16);
    const auto xb = x.to(torch::kBFloat16);
    const auto plain = model->forward(xb).to(torch::kFloat32);
    // As many BatchNorm layers fold as in float32: the probe's bound is bf16's.
    auto twin = make();
    const int folded_fp32 = tl::optimize_for_inference(*twin);
    CHECK(folded_fp32 > 0);
    CHECK(tl::optimize_for_inference(*model) == folded_fp32);
    const auto optimized = model->forward(xb);
    CHECK(optimized.scalar_type() == torch::kBFloat16);
    // Within bf16 rounding of the plain bf16 model and of the float32 one.
    CHECK(relative_error(optimized.to(torch::kFloat32), plain) < 3e-2);
    CHECK(relative_error(optimized.to(torch::kFloat32), fp32) < 3e-2);
    if (tl::nn::Conv2dImpl::prepacking_available()) {
      size_t packed = 0;
      for (const auto& m : model->modules())
        if (auto* conv = dynamic_cast<tl::nn::Conv2dImpl*>(m.get())) packed += conv->packed_copies() > 0;
      UNSCOPED_INFO("convolutions running prepacked in bf16: " << packed);
      CHECK(packed > 0);
    }
  }
}

TEST_CASE("end to end on a real photo: eval transform, weights, decode_predictions agree with torchvision",
          "[parity][photo]") {
  const std::string photo = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png";
  auto dir = scratch_dir("classify_vgg11");
  run_python("torchvision_reference.py", {"export", "vgg11", dir.string()});
  auto weights = (dir / "vgg11.pth").string();
  run_python("classify_reference.py", {"vgg11", weights, photo, (dir / "ref.safetensors").string()});
  auto ref = tl::io::load_checkpoint(dir / "ref.safetensors");

  auto model = tl::make_backbone("vgg11", tl::BackboneOptions().weights(weights));
  model->eval();
  auto transform = tl::data::eval_transform(model);
  auto x = transform(tl::io::read_image(photo, transform.read_options()));
  // PIL's and tlearn's resampling agree within rounding of 8-bit levels.
  CHECK(x.sizes() == ref["input"].sizes());
  CHECK((x - ref["input"]).abs().max().item<double>() < 3.0 / 255 / 0.225);
  torch::NoGradGuard no_grad;
  auto probs = model->forward(x.unsqueeze(0)).softmax(1);
  auto ours = tl::imagenet::decode_predictions(probs, 5)[0];
  auto theirs = tl::imagenet::decode_predictions(ref["probs"], 5)[0];
  for (size_t i = 0; i < 5; ++i) CHECK(ours[i].index == theirs[i].index);
  CHECK((probs - ref["probs"]).abs().max().item<double>() < 1e-3);
  // The same photo through the inference-optimized model (prepacked convolutions).
  tl::optimize_for_inference(*model);
  auto optimized = model->forward(x.unsqueeze(0)).softmax(1);
  CHECK((optimized - probs).abs().max().item<double>() < 1e-5);
  auto top = tl::imagenet::decode_predictions(optimized, 5)[0];
  for (size_t i = 0; i < 5; ++i) CHECK(top[i].index == theirs[i].index);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a backbone's train_transform resizes to its input shape and applies its weights' preprocessing",
          "[photo]") {
  auto base = tl::make_backbone("vgg16", tl::BackboneOptions().include_top(false).input_shape({150, 120}));
  auto photo = tl::io::read_image("/usr/lib/python3/dist-packages/skimage/data/chelsea.png");
  tl::data::Transform augment = tl::data::train_transform(base).flip().rotate(20);
  auto a = augment(photo, /*seed=*/1), b = augment(photo, /*seed=*/1), c = augment(photo, /*seed=*/2);
  CHECK(a.sizes() == torch::IntArrayRef({3, 150, 120}));
  CHECK(torch::equal(a, b));
  CHECK_FALSE(torch::equal(a, c));
  // Torch preprocessing: roughly zero-centred, unit-scaled values, not 0..255.
  CHECK(a.max().item<double>() < 3.0);
  CHECK(a.min().item<double>() > -3.0);
}
