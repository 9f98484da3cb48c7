// Parity and family-specific tests for the efficientnet_convnext group of backbones.
#include "../model_parity.hpp"

using namespace tlearn::test;
namespace tl = tlearn;

namespace {
std::string layer_name(const tl::BackboneImpl& model, const std::string& name_or_alias) {
  return model.layer_table()[model.layer_table().index_of(name_or_alias)].name;
}

void check_feature_info(tl::BackboneImpl& model, const std::vector<int64_t>& channels,
                        const std::vector<int64_t>& strides, int64_t size) {
  const auto& info = model.feature_info();
  REQUIRE(info.size() == channels.size());
  torch::NoGradGuard no_grad;
  model.eval();
  auto maps = model.features_only(torch::randn({1, 3, size, size}));
  REQUIRE(maps.size() == channels.size());
  for (size_t i = 0; i < info.size(); ++i) {
    INFO("stage " << i << " (" << info[i].name << ")");
    CHECK(info[i].channels == channels[i]);
    CHECK(info[i].stride == strides[i]);
    CHECK(maps[i].sizes() == torch::IntArrayRef({1, channels[i], size / strides[i], size / strides[i]}));
  }
}
}  // namespace

TEST_CASE("efficientnet parity with torchvision: B0 with and without top, V2-S", "[parity][efficientnet]") {
  check_numeric_parity("efficientnet_b0", 64, /*include_top=*/true);
  check_numeric_parity("efficientnet_b0", 96, /*include_top=*/false);
  check_numeric_parity("efficientnet_v2_s", 64, /*include_top=*/true);
}

TEST_CASE("convnext parity with torchvision: tiny with and without top", "[parity][convnext]") {
  check_numeric_parity("convnext_tiny", 64, /*include_top=*/true);
  check_numeric_parity("convnext_tiny", 96, /*include_top=*/false);
}

TEST_CASE("efficientnet_b0's layer table carries Keras' EfficientNetB0 layer names", "[layers][efficientnet]") {
  auto model = tl::make_backbone("efficientnet_b0");
  CHECK(layer_name(*model, "stem_conv") == "features.0.0");
  CHECK(layer_name(*model, "stem_bn") == "features.0.1");
  CHECK(layer_name(*model, "stem_activation") == "features.0.2");
  CHECK(layer_name(*model, "block1a_dwconv") == "features.1.0.block.0.0");
  CHECK(layer_name(*model, "block1a_se_excite") == "features.1.0.block.1");
  CHECK(layer_name(*model, "block1a_project_bn") == "features.1.0.block.2.1");
  CHECK(layer_name(*model, "block2a_expand_conv") == "features.2.0.block.0.0");
  CHECK(layer_name(*model, "block2a_expand_activation") == "features.2.0.block.0.2");
  CHECK(layer_name(*model, "block2b_drop") == "features.2.1.stochastic_depth");
  CHECK(layer_name(*model, "block2b_add") == "features.2.1.add");
  CHECK(layer_name(*model, "block7a_project_conv") == "features.7.0.block.3.0");
  CHECK(layer_name(*model, "top_conv") == "features.8.0");
  CHECK(layer_name(*model, "top_activation") == "features.8.2");
  CHECK(layer_name(*model, "avg_pool") == "avgpool");
  CHECK(layer_name(*model, "top_dropout") == "classifier.0");
  CHECK(layer_name(*model, "predictions") == "classifier.1");
  // No residual where the stride or the width changes.
  CHECK_FALSE(model->layer_table().find("block2a_add").has_value());
  // Keras' block counts: B0 has 16 blocks, B7 55 (depth multiplier 3.1, rounded up per stage).
  CHECK(model->layer_table().find("block6d_add").has_value());
  CHECK_FALSE(model->layer_table().find("block6e_project_conv").has_value());
  auto b7 = tl::make_backbone("efficientnet_b7", tl::BackboneOptions().include_top(false));
  CHECK(b7->layer_table().find("block6m_add").has_value());
  CHECK_FALSE(b7->layer_table().find("block6n_add").has_value());
  CHECK(b7->output_channels() == 2560);
  // Keras-style slicing: freeze everything up to block6a.
  model->set_trainable(tl::until("block6a_expand_conv"), false);
  auto params = model->named_parameters();
  CHECK_FALSE(params["features.5.2.block.1.0.weight"].requires_grad());
  CHECK(params["features.6.0.block.0.0.weight"].requires_grad());
}

TEST_CASE("efficientnet feature_info: timm's stages at strides 2..32", "[features][efficientnet]") {
  auto b0 = tl::make_backbone("efficientnet_b0", tl::BackboneOptions().include_top(false));
  check_feature_info(*b0, {16, 24, 40, 112, 320}, {2, 4, 8, 16, 32}, 64);
  CHECK(b0->feature_info()[3].name == "features.5.2.add");
  CHECK(b0->output_channels() == 1280);
  auto v2 = tl::make_backbone("efficientnet_v2_s", tl::BackboneOptions().include_top(false));
  check_feature_info(*v2, {24, 48, 64, 160, 256}, {2, 4, 8, 16, 32}, 64);
  auto v2m = tl::make_backbone("efficientnet_v2_m", tl::BackboneOptions().include_top(false));
  CHECK(v2m->feature_info().back().channels == 512);
  CHECK(v2m->feature_info().back().stride == 32);
}

TEST_CASE("efficientnet weight specs: torchvision's URLs and eval transforms", "[spec][efficientnet]") {
  const auto& b0 = tl::model_spec("efficientnet_b0");
  CHECK(b0.weights.at(0).url == "https://download.pytorch.org/models/efficientnet_b0_rwightman-3dd342df.pth");
  CHECK(b0.weights.at(0).transform.interpolation == tl::Interpolation::Bicubic);
  const auto& b1 = tl::model_spec("efficientnet_b1");  // DEFAULT is the V2 recipe
  REQUIRE(b1.weights.size() == 2);
  CHECK(b1.weights[0].tag == "IMAGENET1K_V2");
  CHECK(b1.weights[0].transform.resize_size == 255);
  CHECK(b1.weights[0].transform.interpolation == tl::Interpolation::Bilinear);
  CHECK(b1.weights[1].transform.interpolation == tl::Interpolation::Bicubic);
  const auto& b3 = tl::model_spec("efficientnet_b3");
  CHECK(b3.weights[0].transform.resize_size == 320);
  CHECK(b3.weights[0].transform.crop_size == 300);
  CHECK(b3.default_size == 300);
  CHECK(tl::model_spec("efficientnet_b7").weights[0].transform.crop_size == 600);
  CHECK(tl::model_spec("efficientnet_v2_s").weights[0].transform.interpolation == tl::Interpolation::Bilinear);
  CHECK(tl::model_spec("efficientnet_v2_s").min_size == 33);
  CHECK(tl::model_spec("efficientnet_v2_l").weights[0].preprocessing == tl::Preprocessing::TF);
  CHECK(tl::model_spec("efficientnet_v2_l").weights[0].transform.interpolation == tl::Interpolation::Bicubic);

  // BatchNorm: torch's defaults for B0..B4, eps 1e-3 / momentum 0.01 for B5..B7, eps 1e-3 for V2.
  auto bn_of = [](const std::string& name) {
    auto m = tl::make_backbone(name, tl::BackboneOptions().include_top(false));
    return m->named_modules()["features.0.1"]->as<tl::nn::BatchNorm2d>()->options;
  };
  CHECK(bn_of("efficientnet_b0").eps() == Approx(1e-5));
  CHECK(bn_of("efficientnet_b5").eps() == Approx(1e-3));
  CHECK(bn_of("efficientnet_b5").momentum().value() == Approx(0.01));
  CHECK(bn_of("efficientnet_v2_s").eps() == Approx(1e-3));
  CHECK(bn_of("efficientnet_v2_s").momentum().value() == Approx(0.1));
}

TEST_CASE("stochastic depth: identity in eval, whole samples dropped in train", "[efficientnet][convnext]") {
  torch::manual_seed(0);
  auto x = torch::ones({64, 2, 3, 3});
  CHECK(torch::equal(tl::nn::stochastic_depth(x, 0.5, /*training=*/false), x));
  auto y = tl::nn::stochastic_depth(x, 0.5, /*training=*/true);
  auto per_sample = y.flatten(1);
  // Every sample is all 0 or all 2 (1 / survival).
  CHECK(torch::equal(per_sample.amin(1), per_sample.amax(1)));
  CHECK(((per_sample.amin(1) == 0) | (per_sample.amin(1) == 2)).all().item<bool>());
  const auto dropped = (per_sample.amin(1) == 0).sum().item<int64_t>();
  CHECK(dropped > 10);
  CHECK(dropped < 54);

  auto model = tl::make_backbone("efficientnet_b0", tl::BackboneOptions().include_top(false));
  model->train();
  torch::NoGradGuard no_grad;
  CHECK(model->forward(torch::randn({2, 3, 64, 64})).sizes() == torch::IntArrayRef({2, 1280, 2, 2}));
}

TEST_CASE("convnext layer table, layer_scale rows and feature_info", "[layers][convnext]") {
  auto model = tl::make_backbone("convnext_tiny");
  const auto& table = model->layer_table();
  CHECK(table[1].name == "features.0.0");
  CHECK(table[2].name == "features.0.1");
  CHECK(table[2].kind == "LayerNorm2d");
  const std::vector<std::string> block = {"block.0", "block.1", "block.2", "block.3", "block.4",
                                          "block.5", "block.6", "layer_scale", "stochastic_depth", "add"};
  const std::vector<std::string> kinds = {"Conv2d", "Permute", "LayerNorm", "Linear", "GELU",
                                          "Linear", "Permute", "LayerScale", "StochasticDepth", "Add"};
  for (size_t i = 0; i < block.size(); ++i) {
    CHECK(table[3 + i].name == "features.1.0." + block[i]);
    CHECK(table[3 + i].kind == kinds[i]);
  }
  auto scale = table[table.index_of("features.1.0.layer_scale")];
  CHECK(scale.parameter_count() == 96);
  CHECK(table[table.index_of("features.2.0")].kind == "LayerNorm2d");
  CHECK(table[table.index_of("features.2.1")].kind == "Conv2d");
  const auto& last = table[table.size() - 1];
  CHECK(last.name == "classifier.2");
  CHECK(table[table.size() - 3].kind == "LayerNorm2d");

  // Freezing a layer_scale row reaches the model's own parameter.
  model->set_trainable(tl::regex("features\\.1\\.0\\.layer_scale"), false);
  auto params = model->named_parameters();
  CHECK_FALSE(params["features.1.0.layer_scale"].requires_grad());
  CHECK(params["features.1.0.block.0.weight"].requires_grad());

  auto base = tl::make_backbone("convnext_tiny", tl::BackboneOptions().include_top(false));
  CHECK_FALSE(base->layer_table().find("classifier.0").has_value());
  CHECK(base->output_channels() == 768);
  check_feature_info(*base, {96, 192, 384, 768}, {4, 8, 16, 32}, 64);
  CHECK(tl::model_spec("convnext_tiny").weights.at(0).transform.resize_size == 236);
  CHECK(tl::model_spec("convnext_large").weights.at(0).url ==
        "https://download.pytorch.org/models/convnext_large-ea097f82.pth");
}
