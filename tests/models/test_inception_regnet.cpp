// Parity and family-specific tests for the inception_regnet group of backbones.
#include "../model_parity.hpp"

using namespace tlearn::test;
namespace tl = tlearn;

TEST_CASE("regnet parity with torchvision: X and Y, with and without top", "[parity][regnet]") {
  check_numeric_parity("regnet_x_400mf", 64, /*include_top=*/true);
  check_numeric_parity("regnet_x_400mf", 64, /*include_top=*/false);
  check_numeric_parity("regnet_y_400mf", 64, /*include_top=*/true);
  check_numeric_parity("regnet_y_400mf", 64, /*include_top=*/false);
}

TEST_CASE("regnet stages, feature_info and layer table", "[layers][regnet]") {
  // torchvision's BlockParams.from_init_params for regnet_y_400mf and regnet_x_400mf.
  auto y = tl::detail::regnet_stages(
      tl::RegNetConfig().depth(16).w_0(48).w_a(27.89).w_m(2.09).group_width(8).se_ratio(0.25));
  REQUIRE(y.size() == 4);
  CHECK(y[0].width == 48);
  CHECK(y[1].width == 104);
  CHECK(y[2].width == 208);
  CHECK(y[3].width == 440);
  CHECK(y[0].depth + y[1].depth + y[2].depth + y[3].depth == 16);

  auto model = tl::make_backbone("regnet_y_400mf", tl::BackboneOptions().include_top(false));
  const auto& info = model->feature_info();
  REQUIRE(info.size() == 5);
  const int64_t strides[] = {2, 4, 8, 16, 32};
  const int64_t channels[] = {32, 48, 104, 208, 440};
  torch::NoGradGuard no_grad;
  auto maps = model->features_only(torch::randn({1, 3, 64, 64}));
  REQUIRE(maps.size() == 5);
  for (size_t i = 0; i < 5; ++i) {
    INFO("stage " << i);
    CHECK(info[i].stride == strides[i]);
    CHECK(info[i].channels == channels[i]);
    CHECK(maps[i].size(1) == channels[i]);
    CHECK(maps[i].size(2) == 64 / strides[i]);
  }
  CHECK(info[0].name == "stem.2");
  CHECK(info[1].name == "trunk_output.block1.block1-0.activation");
  CHECK(model->output_channels() == 440);
  auto layers = model->layers();
  CHECK(layers.back().name == info[4].name);
  CHECK(model->layer_table().find("trunk_output.block1.block1-0.f.se.fc1"));
  CHECK(model->layer_table().find("predictions") == std::nullopt);

  auto x = tl::make_backbone("regnet_x_400mf");
  CHECK_FALSE(x->layer_table().find("trunk_output.block1.block1-0.f.se"));
  CHECK(x->layers().back().alias == "predictions");
  CHECK(x->spec().weights.front().tag == "IMAGENET1K_V2");
  CHECK(x->spec().weights.front().transform.resize_size == 232);
  CHECK(tl::model_spec("regnet_y_32gf").weights.size() == 4);
  CHECK(tl::model_spec("regnet_y_32gf").weights[2].transform.crop_size == 384);
  // regnet_y_128gf has only torchvision's SWAG files: end-to-end at 384 is what "imagenet" loads.
  const auto& y128 = tl::model_spec("regnet_y_128gf").weights;
  REQUIRE(y128.size() == 2);
  CHECK(y128[0].tag == "IMAGENET1K_SWAG_E2E_V1");
  CHECK(y128[0].url == "https://download.pytorch.org/models/regnet_y_128gf_swag-c8ce3e52.pth");
  CHECK(y128[1].url == "https://download.pytorch.org/models/regnet_y_128gf_lc_swag-cbe8ce12.pth");
  CHECK(y128[1].transform.crop_size == 224);
  // regnet_y_32gf's 145,046,770 parameters: checked with every model's keys in test_models.cpp.
}

TEST_CASE("inception_v3 and googlenet parity with torchvision, with and without top", "[parity][inception]") {
  check_numeric_parity("inception_v3", 96, /*include_top=*/true);
  check_numeric_parity("inception_v3", 107, /*include_top=*/false);
  check_numeric_parity("googlenet", 64, /*include_top=*/true);
  check_numeric_parity("googlenet", 64, /*include_top=*/false);
}

TEST_CASE("inception_v3 and googlenet feature_info, block rows and sizes", "[layers][inception]") {
  torch::NoGradGuard no_grad;
  struct Expect {
    std::string name;
    std::vector<std::string> taps;
    std::vector<int64_t> channels;
    int64_t size;
  };
  for (const auto& e : {Expect{"inception_v3", {"Conv2d_2b_3x3", "Conv2d_4a_3x3", "Mixed_5d", "Mixed_6e", "Mixed_7c"},
                               {64, 192, 288, 768, 2048}, 75},
                        Expect{"googlenet", {"conv1", "conv3", "inception3b", "inception4e", "inception5b"},
                               {64, 192, 480, 832, 1024}, 64}}) {
    INFO(e.name);
    auto model = tl::make_backbone(e.name, tl::BackboneOptions().include_top(false));
    REQUIRE(model->feature_info().size() == 5);
    auto maps = model->features_only(torch::randn({1, 3, e.size, e.size}));
    for (size_t i = 0; i < 5; ++i) {
      CHECK(model->feature_info()[i].name == e.taps[i]);
      CHECK(model->feature_info()[i].channels == e.channels[i]);
      CHECK(model->feature_info()[i].stride == int64_t(2) << i);
      CHECK(maps[i].size(1) == e.channels[i]);
    }
    CHECK(model->layers().back().name == e.taps.back());
    CHECK(model->layers().back().kind == "Concatenate");
    CHECK(model->output_channels() == e.channels.back());
  }
  auto inception = tl::make_backbone("inception_v3");
  CHECK(inception->spec().default_size == 299);
  CHECK(inception->eval_transform_spec().resize_size == 342);
  CHECK(inception->eval_transform_spec().crop_size == 299);
  const auto& table = inception->layer_table();
  CHECK(table[*table.find("Mixed_7b.branch3x3")].kind == "Concatenate");
  CHECK(table[*table.find("Mixed_5b.avg_pool")].kind == "AvgPool2d");
  CHECK(table[*table.find("Mixed_5b.branch1x1.bn")].kind == "BatchNorm2d");
  CHECK(inception->layers().back().alias == "predictions");
  // The smallest input torchvision accepts still runs to the logits.
  CHECK(inception->forward(torch::zeros({1, 3, 75, 75})).sizes() == torch::IntArrayRef({1, 1000}));
  CHECK_THROWS_AS(inception->forward(torch::zeros({1, 3, 74, 74})), tl::Error);
  auto googlenet = tl::make_backbone("googlenet");
  CHECK(googlenet->forward(torch::zeros({1, 3, 15, 15})).sizes() == torch::IntArrayRef({1, 1000}));
  CHECK(googlenet->layer_table().find("inception3a.branch4.0"));
}

TEST_CASE("inception_v3 aux_logits: torchvision's AuxLogits loads and matches in train mode, gradients included",
          "[parity][inception]") {
  auto dir = scratch_dir("aux_logits_inception_v3");
  run_python("torchvision_reference.py",
             {"export", "inception_v3", dir.string(), "--size", "299", "--batch", "4", "--aux", "--train"});
  auto base = tl::make_backbone("inception_v3", tl::BackboneOptions().aux_logits(true).drop_rate(0).weights(
                                                     (dir / "inception_v3.pth").string()));
  auto* model = base->as<tl::InceptionV3Impl>();
  REQUIRE(model != nullptr);
  // Every key of torchvision's aux-on state dict, AuxLogits.* included, and its parameter count.
  auto state = tl::io::load_checkpoint(dir / "inception_v3.pth");
  CHECK(tl::io::state_dict(*model).keys() == state.keys());
  int64_t count = 0;
  for (const auto& p : model->parameters()) count += p.numel();
  CHECK(count == 27161264);
  auto io = tl::io::load_checkpoint(dir / "inception_v3.io.safetensors");
  model->train();
  auto x = io["input"].clone().requires_grad_(true);
  auto y = model->forward(x);
  REQUIRE(model->aux_output().defined());
  CHECK(relative_error(y.detach(), io["output"]) < 1e-4);
  CHECK(relative_error(model->aux_output().detach(), io["aux_output"]) < 1e-4);
  (model->aux_output().pow(2).sum() + y.pow(2).sum()).backward();
  auto params = model->named_parameters();
  CHECK(relative_error(params["AuxLogits.fc.weight"].grad(), io["aux_fc_grad"]) < 1e-4);
  CHECK(relative_error(params["AuxLogits.conv0.conv.weight"].grad(), io["aux_conv0_grad"]) < 1e-3);
  // Through the whole trunk in training mode the float32 gradient itself is only good to a
  // few % (torchvision's, against float64 on this input: 2.5% for the main loss), so the
  // deep gradients are compared at that level.
  CHECK(relative_error(x.grad(), io["input_grad"]) < 5e-2);
  CHECK(relative_error(params["Conv2d_1a_3x3.conv.weight"].grad(), io["first_conv_grad"]) < 5e-2);
  // Eval mode: the main head only, as torchvision.
  model->eval();
  torch::NoGradGuard no_grad;
  model->forward(io["input"]);
  CHECK_FALSE(model->aux_output().defined());
  // Training on inputs too small for the aux head, or asking for it where there is none: clear errors.
  model->train();
  CHECK_THROWS_WITH(model->forward(torch::randn({4, 3, 160, 160})), Catch::Contains("299x299"));
  CHECK_THROWS_WITH(tl::make_backbone("resnet18", tl::BackboneOptions().aux_logits(true)),
                    Catch::Contains("no auxiliary classifier"));
  CHECK_THROWS_WITH(tl::make_backbone("inception_v3", tl::BackboneOptions().aux_logits(true).include_top(false)),
                    Catch::Contains("include_top"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("inception checkpoints: aux heads are skipped, transform_input follows the weights", "[inception]") {
  torch::NoGradGuard no_grad;
  {
    // torchvision's own default inception_v3 (aux head on) checkpoint loads; AuxLogits.* is skipped.
    auto dir = scratch_dir("aux_inception_v3");
    run_python("torchvision_reference.py", {"export", "inception_v3", dir.string(), "--size", "80", "--aux"});
    auto model = tl::make_backbone("inception_v3", tl::BackboneOptions().weights((dir / "inception_v3.pth").string()));
    model->eval();
    auto io = tl::io::load_checkpoint(dir / "inception_v3.io.safetensors");
    CHECK(relative_error(model->forward(io["input"]), io["output"]) < 1e-4);
    std::filesystem::remove_all(dir);
  }
  {
    // googlenet: a checkpoint with aux1 / aux2 keys loads; other unknown keys still fail.
    auto dir = scratch_dir("aux_googlenet");
    auto state = tl::io::state_dict(*tl::make_backbone("googlenet"));
    state.insert("aux1.conv.conv.weight", torch::zeros({128, 512, 1, 1}));
    state.insert("aux2.fc2.bias", torch::zeros({1000}));
    tl::io::save_safetensors(state, dir / "with_aux.safetensors");
    CHECK_NOTHROW(tl::make_backbone("googlenet", tl::BackboneOptions().weights((dir / "with_aux.safetensors").string())));
    state.insert("aux3.fc.bias", torch::zeros({1000}));
    tl::io::save_safetensors(state, dir / "unknown.safetensors");
    CHECK_THROWS_AS(tl::make_backbone("googlenet", tl::BackboneOptions().weights((dir / "unknown.safetensors").string())),
                    tl::Error);
    std::filesystem::remove_all(dir);
  }
  for (std::string name : {"inception_v3", "googlenet"}) {
    INFO(name);
    // With the ImageNet weights (built without loading, as no download is possible here)
    // inputs are re-normalised the way torchvision's transform_input does.
    const auto& entry = tl::detail::registered_model(name);
    auto pretrained = entry.build(entry.spec, tl::BackboneOptions().weights("imagenet"));
    auto plain = entry.build(entry.spec, tl::BackboneOptions());
    tl::io::load_state_dict(*pretrained, tl::io::state_dict(*plain));
    pretrained->eval();
    plain->eval();
    auto x = torch::randn({1, 3, 96, 96});
    auto expected = plain->forward(tl::detail::inception_transform_input(x));
    CHECK(relative_error(pretrained->forward(x), expected) < 1e-5);
    // (compared on the first stage: random-init logits are too close to zero to tell apart)
    const auto first = pretrained->feature_info().front().name;
    CHECK(relative_error(plain->forward_features(x, {first})[0],
                         pretrained->forward_features(x, {first})[0]) > 1e-2);
    // One input channel (summed RGB kernels): no per-channel transform.
    auto gray = entry.build(entry.spec, tl::BackboneOptions().weights("imagenet").in_chans(1));
    gray->eval();
    CHECK(gray->forward(torch::zeros({1, 1, 96, 96})).size(1) == 1000);
  }
}
