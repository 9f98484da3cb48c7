// Parity and family-specific tests for the vision transformers.
#include <tlearn/models/maxvit.hpp>
#include <tlearn/models/swin.hpp>
#include <tlearn/models/vit.hpp>

#include "../model_parity.hpp"
#include "../toy_vit.hpp"

using namespace tlearn::test;
namespace tl = tlearn;

namespace {

// torchvision's VisionTransformer at two blocks of width 64: the same code and key names as
// vit_b_16, small enough to export and compare in any mode (tests/python builds "vit_toy" alike).
const bool vit_toy_registered = register_toy_vit(
    "vit_toy", tl::VisionTransformerConfig().num_layers(2).num_heads(4).hidden_dim(64).mlp_dim(128), 224);

struct Export {
  std::filesystem::path dir;
  tl::io::StateDict io;
  std::string weights() const { return (dir / (name + ".pth")).string(); }
  std::string name;
};

Export export_vit(const std::string& name, int size, const std::vector<std::string>& extra = {}) {
  (void)vit_toy_registered;
  Export e;
  e.dir = scratch_dir("vit_" + name + "_" + std::to_string(size));
  e.name = name;
  std::vector<std::string> args = {"export", name, e.dir.string(), "--size", std::to_string(size)};
  args.insert(args.end(), extra.begin(), extra.end());
  run_python("torchvision_reference.py", args);
  e.io = tl::io::load_checkpoint(e.dir / (name + ".io.safetensors"));
  return e;
}

}  // namespace

TEST_CASE("vit parity with torchvision: vit_b_16 with its top, the encoder's tokens, map and class token",
          "[parity][vit]") {
  check_numeric_parity("vit_b_16", 64, /*include_top=*/true);

  auto e = export_vit("vit_toy", 64);
  torch::NoGradGuard no_grad;
  const auto x = e.io["input"];
  const auto tokens = e.io["tokens"];  // (2, 1 + 16, 64)
  auto with_top = tl::make_backbone("vit_toy", tl::BackboneOptions().weights(e.weights()));
  with_top->eval();
  CHECK(relative_error(with_top->forward(x), e.io["output"]) < 1e-4);

  auto map = tl::make_backbone("vit_toy", tl::BackboneOptions().weights(e.weights()).include_top(false));
  map->eval();
  auto patches = tokens.narrow(1, 1, 16).transpose(1, 2).reshape({2, 64, 4, 4});
  CHECK(relative_error(map->forward(x), patches) < 1e-4);
  CHECK(relative_error(map->forward_features(x, {"encoder.ln"}).at(0), tokens) < 1e-4);

  auto token = tl::make_backbone(
      "vit_toy", tl::BackboneOptions().weights(e.weights()).include_top(false).pooling(tl::Pooling::Token));
  token->eval();
  CHECK(relative_error(token->forward(x), tokens.select(1, 0)) < 1e-4);
  auto avg = tl::make_backbone("vit_toy",
                               tl::BackboneOptions().weights(e.weights()).include_top(false).pooling(tl::Pooling::Avg));
  avg->eval();
  CHECK(relative_error(avg->forward(x), patches.mean({2, 3})) < 1e-4);

  auto resnet = tl::make_backbone("resnet18", tl::BackboneOptions().include_top(false).pooling(tl::Pooling::Token));
  CHECK_THROWS_WITH(
      resnet->forward(torch::randn({1, 3, 64, 64})),
      Catch::Matchers::Contains("resnet18 has no class token") && Catch::Matchers::Contains("Pooling::Avg"));
}

TEST_CASE("vit at other sizes: weights for 64 run at 96 as torchvision's interpolate_embeddings makes them",
          "[parity][vit]") {
  auto e = export_vit("vit_toy", 96, {"--from-size", "64", "--batch", "1"});
  torch::NoGradGuard no_grad;
  const auto x = e.io["input"];  // 96 x 96

  // Built for 96: the 4x4 position grid of the file is resized once, at load.
  auto built = tl::make_backbone("vit_toy", tl::BackboneOptions().weights(e.weights()).input_shape({96, 96}));
  built->eval();
  CHECK(built->as<tl::VisionTransformerImpl>()->position_grid() == std::vector<int64_t>{6, 6});
  CHECK(relative_error(built->forward(x), e.io["output"]) < 1e-4);

  // No size given: the model takes the file's 4x4 grid and resizes on the fly at 96.
  auto loaded = tl::make_backbone("vit_toy", tl::BackboneOptions().weights(e.weights()));
  loaded->eval();
  CHECK(loaded->as<tl::VisionTransformerImpl>()->position_grid() == std::vector<int64_t>{4, 4});
  CHECK(relative_error(loaded->forward(x), e.io["output"]) < 1e-4);
  // Not square, nor the size it was built for: any multiple of the patch size runs.
  CHECK(loaded->forward(torch::randn({1, 3, 48, 80})).sizes() == torch::IntArrayRef{1, 1000});

  CHECK_THROWS_WITH(
      loaded->forward(torch::randn({1, 3, 100, 100})),
      Catch::Matchers::Contains("not a multiple of the patch size 16") && Catch::Matchers::Contains("96x96"));
  CHECK_THROWS_WITH(tl::make_backbone("vit_toy", tl::BackboneOptions().input_shape({100, 100})),
                    Catch::Matchers::Contains("{96, 96}"));
}

TEST_CASE("vit layer table: a row per encoder block, frozen by Keras-style ranges, maps per block, attention",
          "[layers][vit]") {
  auto model = tl::make_backbone("vit_b_16");
  const auto& table = model->layer_table();
  const std::vector<std::string> head = {"input", "conv_proj", "class_token", "encoder.pos_embedding"};
  for (size_t i = 0; i < head.size(); ++i) CHECK(table[i].name == head[i]);
  for (size_t i = 0; i < 12; ++i) {
    CHECK(table[4 + i].name == "encoder.layers.encoder_layer_" + std::to_string(i));
    CHECK(table[4 + i].alias == "encoder_layer_" + std::to_string(i));
    CHECK(table[4 + i].kind == "EncoderBlock");
    CHECK(table[4 + i].parameter_count() == 7087872);  // torchvision's EncoderBlock at 768 / 3072
  }
  CHECK(table[16].name == "encoder.ln");
  CHECK(table[17].name == "heads.head");
  CHECK(table.size() == 18);

  // Freeze the embeddings and the first 9 blocks, as people fine-tune ViTs.
  model->set_trainable(tl::until("encoder_layer_9"), false);
  auto params = model->named_parameters();
  CHECK_FALSE(params["class_token"].requires_grad());
  CHECK_FALSE(params["encoder.pos_embedding"].requires_grad());
  CHECK_FALSE(params["conv_proj.weight"].requires_grad());
  CHECK_FALSE(params["encoder.layers.encoder_layer_8.mlp.3.bias"].requires_grad());
  CHECK(params["encoder.layers.encoder_layer_9.self_attention.in_proj_weight"].requires_grad());
  CHECK(params["encoder.ln.weight"].requires_grad());
  model->set_trainable(tl::last(2), false);  // encoder.ln and the head
  CHECK_FALSE(model->named_parameters()["heads.head.weight"].requires_grad());
  CHECK(model->named_parameters()["encoder.layers.encoder_layer_11.ln_1.weight"].requires_grad());

  auto toy = tl::make_backbone("vit_toy", tl::BackboneOptions().include_top(false));
  toy->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 3, 64, 96});
  const auto& info = toy->feature_info();
  REQUIRE(info.size() == 2);
  CHECK(info[1].channels == 64);
  CHECK(info[1].stride == 16);
  auto maps = toy->features_only(x);
  REQUIRE(maps.size() == 2);
  CHECK(maps[0].sizes() == torch::IntArrayRef{2, 64, 4, 6});
  CHECK(torch::allclose(
      maps[1],
      toy->forward_features(x, {"encoder_layer_1"}).at(0).narrow(1, 1, 24).transpose(1, 2).reshape({2, 64, 4, 6})));

  auto* vit = toy->as<tl::VisionTransformerImpl>();
  auto w = vit->attention_weights(x, 1);
  CHECK(w.sizes() == torch::IntArrayRef{2, 4, 25, 25});
  CHECK(torch::allclose(w.sum(-1), torch::ones({2, 4, 25}), 1e-5, 1e-5));
  CHECK_THROWS_WITH(vit->attention_weights(x, 2), Catch::Matchers::Contains("outside 0..1"));
}

TEST_CASE("vit weights: torchvision's tags, files and transforms, SWAG weights set the input size", "[vit]") {
  const auto& b16 = tl::model_spec("vit_b_16").weights;
  REQUIRE(b16.size() == 3);
  CHECK(b16[0].tag == "IMAGENET1K_V1");
  CHECK(b16[0].url == "https://download.pytorch.org/models/vit_b_16-c867db91.pth");
  CHECK(b16[0].transform.resize_size == 256);
  CHECK(b16[1].tag == "IMAGENET1K_SWAG_E2E_V1");
  CHECK(b16[1].url == "https://download.pytorch.org/models/vit_b_16_swag-9ac1b537.pth");
  CHECK(b16[1].transform.crop_size == 384);
  CHECK(b16[1].transform.interpolation == tl::Interpolation::Bicubic);
  CHECK(b16[2].url == "https://download.pytorch.org/models/vit_b_16_lc_swag-4e70ced5.pth");
  CHECK(tl::model_spec("vit_l_16").weights[0].transform.resize_size == 242);
  CHECK(tl::model_spec("vit_l_16").weights[1].transform.crop_size == 512);
  const auto& h14 = tl::model_spec("vit_h_14").weights;
  REQUIRE(h14.size() == 2);  // torchvision has no IMAGENET1K_V1 for H/14: SWAG end-to-end is its default
  CHECK(h14[0].tag == "IMAGENET1K_SWAG_E2E_V1");
  CHECK(h14[0].transform.crop_size == 518);
  CHECK(tl::model_spec("vit_b_32").weights.size() == 1);
  CHECK(tl::model_spec("vit_b_32").min_size == 32);

  // Naming the 384 weights builds the model for 384 (its position grid), before any download.
  const auto& entry = tl::detail::registered_model("vit_b_16");
  auto swag = entry.build(entry.spec, tl::BackboneOptions().weights("IMAGENET1K_SWAG_E2E_V1"));  // modules only
  CHECK(swag->input_shape() == std::vector<int64_t>{384, 384});
  CHECK(swag->as<tl::VisionTransformerImpl>()->position_grid() == std::vector<int64_t>{24, 24});
}

TEST_CASE("swin parity with torchvision: swin_t with its top, swin_v2_t without at an odd size", "[parity][swin]") {
  check_numeric_parity("swin_t", 64, /*include_top=*/true);
  check_numeric_parity("swin_v2_t", 72, /*include_top=*/false);  // 18x18 patches: padded windows, odd merges
}

TEST_CASE("swin layer table: a row per block and patch merging, stage maps channels-first", "[layers][swin]") {
  auto model = tl::make_backbone("swin_t");
  const auto& table = model->layer_table();
  CHECK(table[1].name == "features.0.0");
  CHECK(table[2].kind == "Permute");
  CHECK(table[3].kind == "LayerNorm");
  CHECK(table[4].name == "features.1.0");
  CHECK(table[4].kind == "SwinTransformerBlock");
  CHECK(table[6].name == "features.2");
  CHECK(table[6].kind == "PatchMerging");
  CHECK(table[table.size() - 1].name == "head");
  model->set_trainable(tl::until("features.5.0"), false);  // stem, stages 1-2 and their mergings
  auto params = model->named_parameters();
  CHECK_FALSE(params["features.3.1.attn.relative_position_bias_table"].requires_grad());
  CHECK_FALSE(params["features.4.reduction.weight"].requires_grad());
  CHECK(params["features.5.0.mlp.0.weight"].requires_grad());

  auto base = tl::make_backbone("swin_v2_t", tl::BackboneOptions().include_top(false));
  base->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({1, 3, 96, 64});
  auto maps = base->features_only(x);
  const std::vector<int64_t> channels = {96, 192, 384, 768}, strides = {4, 8, 16, 32};
  REQUIRE(maps.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(base->feature_info()[i].stride == strides[i]);
    CHECK(maps[i].sizes() == torch::IntArrayRef({1, channels[i], 96 / strides[i], 64 / strides[i]}));
  }
  CHECK(base->forward(x).sizes() == torch::IntArrayRef({1, 768, 3, 2}));
  CHECK(tl::model_spec("swin_v2_b").weights[0].url == "https://download.pytorch.org/models/swin_v2_b-781e5279.pth");
  CHECK(tl::model_spec("swin_v2_b").weights[0].transform.resize_size == 272);
  CHECK(tl::model_spec("swin_s").weights[0].transform.interpolation == tl::Interpolation::Bicubic);
  CHECK(base->input_shape() == std::vector<int64_t>{256, 256});
}

TEST_CASE("vit parity with torchvision in train mode: outputs and gradients of the input and patch embedding",
          "[parity][vit]") {
  (void)vit_toy_registered;
  check_numeric_parity("vit_toy", 64, /*include_top=*/true, /*train=*/true);
}

TEST_CASE("maxvit parity with torchvision: maxvit_t with its top and without", "[parity][maxvit]") {
  check_numeric_parity("maxvit_t", 224, /*include_top=*/true);
  check_numeric_parity("maxvit_t", 224, /*include_top=*/false);
}

TEST_CASE("maxvit layer table: MBconv, window and grid attention rows, stage maps, sizes it cannot split",
          "[layers][maxvit]") {
  auto model = tl::make_backbone("maxvit_t");
  const auto& table = model->layer_table();
  CHECK(table[1].name == "stem.0.0");
  CHECK(table[4].name == "stem.1.0");
  CHECK(table[5].name == "blocks.0.layers.0.layers.MBconv");
  CHECK(table[5].kind == "MBConv");
  CHECK(table[7].name == "blocks.0.layers.0.layers.grid_attention");
  CHECK(table[7].kind == "PartitionAttentionLayer");
  CHECK(table[table.size() - 1].name == "classifier.5");
  CHECK(tl::layer_depths(*model).blocks.size() == 11);  // 2 + 2 + 5 + 2 MaxVit layers

  model->set_trainable(tl::until("blocks.2.layers.0.layers.MBconv"), false);  // stem, stages 1 and 2
  auto params = model->named_parameters();
  CHECK_FALSE(params["blocks.1.layers.1.layers.grid_attention.attn_layer.1.relative_position_bias_table"]
                  .requires_grad());
  CHECK(params["blocks.2.layers.0.layers.MBconv.layers.conv_a.0.weight"].requires_grad());

  auto base = tl::make_backbone("maxvit_t", tl::BackboneOptions().include_top(false));
  base->eval();
  torch::NoGradGuard no_grad;
  auto x = torch::randn({1, 3, 224, 224});
  auto maps = base->features_only(x);
  const std::vector<int64_t> channels = {64, 128, 256, 512}, strides = {4, 8, 16, 32};
  REQUIRE(maps.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(base->feature_info()[i].stride == strides[i]);
    CHECK(maps[i].sizes() == torch::IntArrayRef({1, channels[i], 224 / strides[i], 224 / strides[i]}));
  }
  CHECK(base->forward(x).sizes() == torch::IntArrayRef({1, 512, 7, 7}));
  CHECK_THROWS_WITH(base->forward(torch::randn({1, 3, 240, 240})),
                    Catch::Contains("does not split into 7x7 windows") && Catch::Contains("224"));
  CHECK(tl::model_spec("maxvit_t").weights[0].url == "https://download.pytorch.org/models/maxvit_t-bc5ab103.pth");
  CHECK(tl::model_spec("maxvit_t").weights[0].transform.resize_size == 224);
}

TEST_CASE("drop_path_rate: stochastic depth on or off in train mode for transformers and convnets", "[vit][swin]") {
  (void)vit_toy_registered;
  const auto x = torch::randn({4, 3, 32, 32});
  auto same_twice = [&](tl::AnyBackbone model) {
    model->train();
    torch::NoGradGuard no_grad;
    return torch::equal(model->forward(x), model->forward(x));
  };
  auto options = [] { return tl::BackboneOptions().include_top(false); };
  CHECK(same_twice(tl::make_backbone("vit_toy", options())));  // torchvision's ViT: none
  CHECK_FALSE(same_twice(tl::make_backbone("vit_toy", options().drop_path_rate(0.5))));
  CHECK_FALSE(same_twice(tl::make_backbone("convnext_tiny", options())));  // torchvision's 0.1
  CHECK(same_twice(tl::make_backbone("convnext_tiny", options().drop_path_rate(0))));
  CHECK(same_twice(tl::make_backbone("swin_t", options().drop_path_rate(0))));
  {
    auto maxvit = tl::make_backbone("maxvit_t", options());  // torchvision's 0.2
    maxvit->train();
    torch::NoGradGuard no_grad;
    const auto big = torch::randn({2, 3, 224, 224});
    CHECK_FALSE(torch::equal(maxvit->forward(big), maxvit->forward(big)));
  }
  // Eval mode never drops.
  auto vit = tl::make_backbone("vit_toy", options().drop_path_rate(0.5));
  vit->eval();
  torch::NoGradGuard no_grad;
  CHECK(torch::equal(vit->forward(x), vit->forward(x)));
}
