// Parity and family-specific tests for the mobile group of backbones:
// mobilenet_v2, mobilenet_v3, mnasnet, shufflenet_v2.
#include "../model_parity.hpp"

using namespace tlearn::test;
namespace tl = tlearn;

namespace {

std::vector<int64_t> strides(const std::vector<tl::FeatureInfo>& info) {
  std::vector<int64_t> out;
  for (const auto& f : info) out.push_back(f.stride);
  return out;
}

std::vector<int64_t> channels(const std::vector<tl::FeatureInfo>& info) {
  std::vector<int64_t> out;
  for (const auto& f : info) out.push_back(f.channels);
  return out;
}

}  // namespace

TEST_CASE("mobilenet_v2 carries every Keras MobileNetV2 layer name as an alias, in Keras' order", "[mobile][layers]") {
  // The whole list is checked against Keras' in test_models.cpp ("Keras indices").
  tl::Backbone<tl::arch::MobileNetV2> model;
  const auto& table = model->layer_table();
  auto name_of = [&](const std::string& alias) { return table[table.index_of(alias)].name; };
  CHECK(name_of("Conv1") == "features.0.0");
  CHECK(name_of("Conv1_relu") == "features.0.2");
  CHECK(name_of("expanded_conv_depthwise") == "features.1.conv.0.0");
  CHECK(name_of("expanded_conv_project_BN") == "features.1.conv.2");
  CHECK(name_of("block_1_expand") == "features.2.conv.0.0");
  CHECK(name_of("block_1_depthwise_relu") == "features.2.conv.1.2");
  CHECK(name_of("block_2_add") == "features.3.add");
  CHECK(name_of("block_16_project") == "features.17.conv.2");
  CHECK(name_of("block_16_project_BN") == "features.17.conv.3");
  CHECK(name_of("out_relu") == "features.18.2");
  CHECK(name_of("predictions") == "classifier.1");
  CHECK(name_of("block_1_pad") == "features.2.conv.1.pad");
  CHECK(table[table.index_of("block_1_pad")].kind == "ZeroPad2d");
  CHECK(table[table.index_of("block_1_expand")].kind == "Conv2d");
  CHECK(table[table.index_of("block_1_expand_relu")].kind == "ReLU6");
  CHECK(table[table.index_of("block_1_depthwise")].parameter_count() == 96 * 9);

  tl::Backbone<tl::arch::MobileNetV2> base(tl::BackboneOptions().include_top(false));
  CHECK(base->layers().back().alias == "out_relu");
  CHECK_FALSE(base->layer_table().find("predictions"));
}

TEST_CASE("mobilenet_v2 serves the segmentation tutorial's five Keras layers at strides 2 to 32", "[mobile][taps]") {
  auto base = tl::make_backbone("mobilenet_v2", tl::BackboneOptions().include_top(false).input_shape({128, 128}));
  torch::NoGradGuard no_grad;
  base->eval();
  const std::vector<std::string> names = {"block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu",
                                          "block_13_expand_relu", "block_16_project"};
  auto maps = base->forward_features(torch::randn({1, 3, 128, 128}), names);
  REQUIRE(maps.size() == 5);
  CHECK(maps[0].sizes() == torch::IntArrayRef({1, 96, 64, 64}));
  CHECK(maps[1].sizes() == torch::IntArrayRef({1, 144, 32, 32}));
  CHECK(maps[2].sizes() == torch::IntArrayRef({1, 192, 16, 16}));
  CHECK(maps[3].sizes() == torch::IntArrayRef({1, 576, 8, 8}));
  CHECK(maps[4].sizes() == torch::IntArrayRef({1, 320, 4, 4}));
  // Activations are not in place: a BatchNorm's tapped output keeps its negatives.
  auto bn = base->forward_features(torch::randn({1, 3, 128, 128}), {"block_1_expand_BN", "block_1_expand_relu"});
  CHECK(bn[0].min().item<float>() < 0);
  CHECK(torch::allclose(bn[1], bn[0].clamp(0, 6)));
}

TEST_CASE("mobilenet_v2 at 160x160 without top gives 1280x5x5, and 1280 with average pooling", "[mobile][backbone]") {
  torch::NoGradGuard no_grad;
  auto base = tl::make_backbone("mobilenet_v2", tl::BackboneOptions().include_top(false).input_shape({160, 160}));
  base->eval();
  CHECK(base->forward(torch::zeros({1, 3, 160, 160})).sizes() == torch::IntArrayRef({1, 1280, 5, 5}));
  CHECK(base->output_channels() == 1280);
  auto pooled = tl::make_backbone("mobilenet_v2", tl::BackboneOptions().include_top(false).pooling(tl::Pooling::Avg));
  pooled->eval();
  CHECK(pooled->forward(torch::zeros({2, 3, 160, 160})).sizes() == torch::IntArrayRef({2, 1280}));
}

TEST_CASE("mobile backbones publish five stages at strides 2 to 32 that features_only returns", "[mobile][features]") {
  const std::map<std::string, std::vector<int64_t>> expected = {
      {"mobilenet_v2", {16, 24, 32, 96, 1280}},
      {"mobilenet_v3_small", {16, 16, 24, 48, 576}},
      {"mobilenet_v3_large", {16, 24, 40, 112, 960}},
      {"mnasnet0_5", {8, 16, 24, 48, 1280}},
      {"mnasnet1_0", {16, 24, 40, 96, 1280}},
      {"shufflenet_v2_x0_5", {24, 24, 48, 96, 1024}},
      {"shufflenet_v2_x2_0", {24, 24, 244, 488, 2048}}};
  torch::NoGradGuard no_grad;
  auto x = torch::randn({1, 3, 64, 64});
  for (const auto& [name, chans] : expected) {
    INFO("model " << name);
    auto model = tl::make_backbone(name, tl::BackboneOptions().include_top(false));
    model->eval();
    CHECK(channels(model->feature_info()) == chans);
    CHECK(strides(model->feature_info()) == std::vector<int64_t>{2, 4, 8, 16, 32});
    auto maps = model->features_only(x);
    REQUIRE(maps.size() == 5);
    for (size_t i = 0; i < 5; ++i) {
      const auto s = 64 / model->feature_info()[i].stride;
      CHECK(maps[i].sizes() == torch::IntArrayRef({1, chans[i], s, s}));
    }
    CHECK(model->output_channels() == chans.back());
    CHECK(torch::equal(maps.back(), model->forward(x)));
  }
}

TEST_CASE("mobile weight specs carry torchvision 0.14's URLs and eval transforms", "[mobile][weights]") {
  auto v2 = tl::model_spec("mobilenet_v2");
  REQUIRE(v2.weights.size() == 2);
  CHECK(v2.weights[0].tag == "IMAGENET1K_V2");  // torchvision's DEFAULT
  CHECK(v2.weights[0].url == "https://download.pytorch.org/models/mobilenet_v2-7ebf99e0.pth");
  CHECK(v2.weights[0].transform.resize_size == 232);
  CHECK(v2.weights[1].url == "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth");
  CHECK(v2.weights[1].transform.resize_size == 256);
  auto default_model = tl::make_backbone("mobilenet_v2");
  CHECK(default_model->eval_transform_spec().resize_size == 232);

  auto large = tl::model_spec("mobilenet_v3_large");
  REQUIRE(large.weights.size() == 2);
  CHECK(large.weights[0].url == "https://download.pytorch.org/models/mobilenet_v3_large-5c1a4163.pth");
  CHECK(large.weights[1].url == "https://download.pytorch.org/models/mobilenet_v3_large-8738ca79.pth");
  CHECK(tl::model_spec("mobilenet_v3_small").weights.at(0).url ==
        "https://download.pytorch.org/models/mobilenet_v3_small-047dcff4.pth");

  const std::map<std::string, std::pair<std::string, int64_t>> single = {
      {"mnasnet0_5", {"mnasnet0.5_top1_67.823-3ffadce67e.pth", 256}},
      {"mnasnet0_75", {"mnasnet0_75-7090bc5f.pth", 232}},
      {"mnasnet1_0", {"mnasnet1.0_top1_73.512-f206786ef8.pth", 256}},
      {"mnasnet1_3", {"mnasnet1_3-a4c69d6f.pth", 232}},
      {"shufflenet_v2_x0_5", {"shufflenetv2_x0.5-f707e7126e.pth", 256}},
      {"shufflenet_v2_x1_0", {"shufflenetv2_x1-5666bf0f80.pth", 256}},
      {"shufflenet_v2_x1_5", {"shufflenetv2_x1_5-3c479a10.pth", 232}},
      {"shufflenet_v2_x2_0", {"shufflenetv2_x2_0-8be3c8ee.pth", 232}}};
  for (const auto& [name, file] : single) {
    INFO("model " << name);
    const auto& spec = tl::model_spec(name);
    REQUIRE(spec.weights.size() == 1);
    CHECK(spec.weights[0].tag == "IMAGENET1K_V1");
    CHECK(spec.weights[0].url == "https://download.pytorch.org/models/" + file.first);
    CHECK(spec.weights[0].transform.resize_size == file.second);
    CHECK(spec.weights[0].transform.crop_size == 224);
  }
}

TEST_CASE("mobilenet_v3 uses torchvision's BatchNorm settings and hardsigmoid squeeze-excitation", "[mobile][layers]") {
  auto model = tl::make_backbone("mobilenet_v3_large");
  auto modules = model->named_modules();
  auto* bn = modules["features.0.1"]->as<tl::nn::BatchNorm2d>();
  REQUIRE(bn != nullptr);
  CHECK(bn->options.eps() == Approx(1e-3));
  CHECK(bn->options.momentum().value() == Approx(0.01));
  const auto& table = model->layer_table();
  CHECK(table[table.index_of("features.4.block.2.fc1")].parameter_count() == 72 * 24 + 24);
  CHECK(table[table.index_of("features.4.block.2.scale_activation")].kind == "Hardsigmoid");
  CHECK(table[table.index_of("features.7.block.0.2")].kind == "Hardswish");
  CHECK(table[table.index_of("classifier.1")].kind == "Hardswish");

  auto mnas = tl::make_backbone("mnasnet1_0");
  auto* mnas_bn = mnas->named_modules()["layers.1"]->as<tl::nn::BatchNorm2d>();
  REQUIRE(mnas_bn != nullptr);
  CHECK(mnas_bn->options.momentum().value() == Approx(1 - 0.9997));
}

TEST_CASE("mobilenet_v2 parity with torchvision: with top, and the features path at 160", "[mobile][parity]") {
  check_numeric_parity("mobilenet_v2", 64, /*include_top=*/true);
  check_numeric_parity("mobilenet_v2", 160, /*include_top=*/false);
}

TEST_CASE("mobilenet_v3 parity with torchvision: small with top, large without top in train mode", "[mobile][parity]") {
  check_numeric_parity("mobilenet_v3_small", 64, /*include_top=*/true);
  check_numeric_parity("mobilenet_v3_large", 64, /*include_top=*/false, /*train=*/true);
}

TEST_CASE("mnasnet parity with torchvision: with top and model.layers", "[mobile][parity]") {
  check_numeric_parity("mnasnet0_5", 64, /*include_top=*/true);
  check_numeric_parity("mnasnet1_3", 64, /*include_top=*/false);
}

TEST_CASE("shufflenet_v2 parity with torchvision: with top and the conv5 path", "[mobile][parity]") {
  check_numeric_parity("shufflenet_v2_x0_5", 64, /*include_top=*/true);
  check_numeric_parity("shufflenet_v2_x1_5", 96, /*include_top=*/false, /*train=*/true);
}
