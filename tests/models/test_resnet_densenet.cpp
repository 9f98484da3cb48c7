// Parity and family-specific tests for the resnet_densenet group of backbones:
// resnet / resnext / wide_resnet, densenet, alexnet, squeezenet.
#include "../model_parity.hpp"

using namespace tlearn::test;
namespace tl = tlearn;

namespace {
std::string row_name(const tl::BackboneImpl& model, const std::string& name_or_alias) {
  return model.layer_table()[model.layer_table().index_of(name_or_alias)].name;
}
}  // namespace

TEST_CASE("resnet50 answers to Keras' ResNet50 layer names", "[resnet]") {
  auto model = tl::make_backbone("resnet50");
  CHECK(row_name(*model, "conv1_conv") == "conv1");
  CHECK(row_name(*model, "pool1_pool") == "maxpool");
  CHECK(row_name(*model, "conv5_block1_1_conv") == "layer4.0.conv1");
  CHECK(row_name(*model, "conv2_block1_0_conv") == "layer1.0.downsample.0");
  CHECK(row_name(*model, "conv2_block1_0_bn") == "layer1.0.downsample.1");
  CHECK(row_name(*model, "conv3_block2_2_relu") == "layer2.1.relu2");
  CHECK(row_name(*model, "conv4_block6_out") == "layer3.5.out");
  CHECK(row_name(*model, "conv5_block3_add") == "layer4.2.add");
  CHECK(row_name(*model, "avg_pool") == "avgpool");
  CHECK(row_name(*model, "predictions") == "fc");
  CHECK_FALSE(model->layer_table().find("conv4_block7_out"));
  // 1 input + 6 stem (2 padding rows) + 16 blocks x 10 rows (3 conv, 3 bn, 2 relu, add, out)
  // + 4 x 2 downsample + 2 top: Keras' 177.
  CHECK(model->layers().size() == 1 + 6 + 16 * 10 + 4 * 2 + 2);

  auto base = tl::make_backbone("resnet50", tl::BackboneOptions().include_top(false));
  CHECK_FALSE(base->layer_table().find("fc"));
  std::vector<int64_t> channels, strides;
  for (const auto& f : base->feature_info()) {
    channels.push_back(f.channels);
    strides.push_back(f.stride);
  }
  CHECK(channels == std::vector<int64_t>{64, 256, 512, 1024, 2048});
  CHECK(strides == std::vector<int64_t>{2, 4, 8, 16, 32});
  CHECK(base->output_channels() == 2048);
  torch::NoGradGuard no_grad;
  auto maps = base->features_only(torch::randn({1, 3, 64, 64}));
  REQUIRE(maps.size() == 5);
  for (size_t i = 0; i < maps.size(); ++i) {
    CHECK(maps[i].size(1) == channels[i]);
    CHECK(maps[i].size(2) == 64 / strides[i]);
  }
}

TEST_CASE("resnet weights: V1 and V2 tags with their eval transforms", "[resnet]") {
  const auto& spec = tl::model_spec("resnet50");
  REQUIRE(spec.weights.size() == 2);
  CHECK(spec.weights[0].tag == "IMAGENET1K_V1");
  CHECK(spec.weights[0].transform.resize_size == 256);
  CHECK(spec.weights[1].tag == "IMAGENET1K_V2");
  CHECK(spec.weights[1].url == "https://download.pytorch.org/models/resnet50-11ad3fa6.pth");
  CHECK(spec.weights[1].transform.resize_size == 232);
  CHECK(spec.weights[1].transform.crop_size == 224);
  CHECK(tl::model_spec("resnet18").weights.size() == 1);
  CHECK(tl::model_spec("resnext101_64x4d").weights.at(0).transform.resize_size == 232);
  auto basic = tl::make_backbone("resnet18", tl::BackboneOptions().include_top(false));
  CHECK(basic->feature_info().back().channels == 512);
  CHECK(row_name(*basic, "conv2_block1_2_conv") == "layer1.0.conv2");
}

TEST_CASE("resnet parity with torchvision: eval with and without top, train mode", "[parity][resnet]") {
  check_numeric_parity("resnet18", 64, /*include_top=*/true);
  check_numeric_parity("resnet18", 64, /*include_top=*/false);
  check_numeric_parity("resnext50_32x4d", 64, /*include_top=*/true);
  check_numeric_parity("resnet18", 64, /*include_top=*/true, /*train=*/true);
}

TEST_CASE("densenet121: Keras names, feature_info, relu(features) without top", "[densenet]") {
  auto model = tl::make_backbone("densenet121", tl::BackboneOptions().include_top(false));
  CHECK(row_name(*model, "conv1_conv") == "features.conv0");
  CHECK(row_name(*model, "zero_padding2d") == "features.conv0.pad");
  CHECK(row_name(*model, "conv2_block1_1_conv") == "features.denseblock1.denselayer1.conv1");
  CHECK(row_name(*model, "conv5_block16_concat") == "features.denseblock4.denselayer16.concat");
  CHECK(row_name(*model, "pool4_conv") == "features.transition3.conv");
  CHECK(model->layers().back().name == "relu");
  std::vector<int64_t> channels;
  for (const auto& f : model->feature_info()) channels.push_back(f.channels);
  CHECK(channels == std::vector<int64_t>{64, 256, 512, 1024, 1024});
  CHECK(model->output_channels() == 1024);
  torch::NoGradGuard no_grad;
  auto y = model->forward(torch::randn({1, 3, 64, 64}));
  CHECK(y.sizes() == torch::IntArrayRef{1, 1024, 2, 2});
  CHECK(y.min().item<float>() >= 0);  // the final ReLU belongs to the body
}

TEST_CASE("densenet loads the official files' old key names (denselayer1.norm.1.weight)", "[densenet][parity]") {
  const auto& spec = tl::model_spec("densenet121");
  REQUIRE(spec.weights.size() == 1);
  REQUIRE(spec.weights[0].key_rename.size() == 1);
  auto dir = scratch_dir("densenet_old_keys");
  run_python("torchvision_reference.py", {"export", "densenet121", dir.string(), "--size", "64", "--old-keys"});
  auto file = dir / "densenet121.pth";
  auto state = tl::io::load_checkpoint(file);
  REQUIRE(state.contains("features.denseblock1.denselayer1.norm.1.weight"));
  REQUIRE_FALSE(state.contains("features.denseblock1.denselayer1.norm1.weight"));
  auto model = tl::make_backbone("densenet121", tl::BackboneOptions().weights(file.string()));
  model->eval();
  auto io = tl::io::load_checkpoint(dir / "densenet121.io.safetensors");
  torch::NoGradGuard no_grad;
  CHECK(relative_error(model->forward(io["input"]), io["output"]) < 1e-4);
  std::filesystem::remove_all(dir);
}

TEST_CASE("densenet121 parity with torchvision without top", "[parity][densenet]") {
  check_numeric_parity("densenet121", 64, /*include_top=*/false);
}

TEST_CASE("alexnet and squeezenet: layers, feature_info, parity with torchvision", "[parity][alexnet][squeezenet]") {
  auto alex = tl::make_backbone("alexnet", tl::BackboneOptions().include_top(false));
  CHECK(alex->feature_info().back().name == "features.12");
  CHECK(alex->layers().size() == 14);
  CHECK_THROWS_AS(alex->forward(torch::zeros({1, 3, 48, 48})), tl::Error);
  check_numeric_parity("alexnet", 64, /*include_top=*/true);
  check_numeric_parity("alexnet", 64, /*include_top=*/false);

  auto squeeze = tl::make_backbone("squeezenet1_1", tl::BackboneOptions().classes(10));
  CHECK(row_name(*squeeze, "features.3.expand3x3") == "features.3.expand3x3");
  CHECK(squeeze->layers().back().name == "flatten");
  CHECK(squeeze->spec().classifier_modules == std::vector<std::string>{"classifier.1"});
  {
    torch::NoGradGuard no_grad;
    squeeze->eval();
    CHECK(squeeze->forward(torch::randn({2, 3, 64, 64})).sizes() == torch::IntArrayRef{2, 10});
    auto maps = squeeze->features_only(torch::randn({1, 3, 64, 64}));
    REQUIRE(maps.size() == 4);
    CHECK(maps[3].size(1) == 512);
  }
  check_numeric_parity("squeezenet1_1", 64, /*include_top=*/true);
  check_numeric_parity("squeezenet1_1", 64, /*include_top=*/false);
}
