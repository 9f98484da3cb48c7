// The core on a model built by hand (layer table, taps, freezing, the block vocabulary),
// ImageNet labels and preprocess_input policies.
#include <nlohmann/json.hpp>
#include <tlearn/tlearn.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "../support.hpp"

namespace tl = tlearn;

namespace {

// A family written by hand in the house shape: rows added as the modules are built,
// blocks that add their own rows (ConvNormAct, SqueezeExcitation), the top declared
// as a ClassifierTop, and a forward pass that taps every row.
struct TinyNetConfig {};

class TinyNetImpl : public tl::BackboneImpl {
 public:
  TinyNetImpl(const TinyNetConfig&, const tl::ModelSpec& spec, const tl::BackboneOptions& options)
      : BackboneImpl(spec, options) {
    stem_ = register_module(
        "stem", tl::nn::ConvNormAct(tl::nn::ConvNormActOptions(options.in_chans(), 8, 3).stride(2)));
    stem_->add_rows(table_, "stem");
    se_ = register_module("se", tl::nn::SqueezeExcitation(tl::nn::SqueezeExcitationOptions(8, 4)));
    se_->add_rows(table_, "se");
    conv_ = register_module("conv", tl::nn::Conv2d(torch::nn::Conv2dOptions(8, 16, 3).padding(1)));
    table_.add("conv", "Conv2d", {conv_.ptr()}, "block1_conv");
    feature_info_ = {{"stem", 8, 2}, {"conv", 16, 2}};
    output_channels_ = 16;
    if (options.include_top()) {
      fc_ = register_module("fc", tl::nn::Linear(16, options.classes()));
      top_.mean("avgpool", "avg_pool").dropout(0.25, "dropout").module("fc", fc_, "predictions").add_rows(table_);
    }
  }

 protected:
  torch::Tensor forward_body(torch::Tensor x) override {
    x = se_(stem_(std::move(x)));
    x = conv_(x);
    tl::tap("conv", x);
    return x;
  }

 private:
  tl::nn::ConvNormAct stem_{nullptr};
  tl::nn::SqueezeExcitation se_{nullptr};
  tl::nn::Conv2d conv_{nullptr};
  tl::nn::Linear fc_{nullptr};
};

const bool tiny_registered = tl::register_variant<TinyNetImpl>(
    [] {
      tl::ModelSpec s;
      s.name = "tiny_net";
      s.family = "tiny_net";
      s.default_size = 32;
      s.min_size = 8;
      s.top_modules = {"fc"};
      s.classifier_modules = {"fc"};
      return s;
    }(),
    TinyNetConfig{});

}  // namespace

TEST_CASE("a family built by hand: taps fire in the layer table's order, blocks and top included", "[core][taps]") {
  (void)tiny_registered;
  auto model = tl::make_backbone("tiny_net", tl::BackboneOptions().classes(5));
  model->eval();
  std::vector<std::string> rows;
  for (const auto& layer : model->layers()) rows.push_back(layer.name);
  const std::vector<std::string> expected = {
      "input", "stem.0", "stem.1", "stem.2", "se.avgpool", "se.fc1", "se.activation", "se.fc2",
      "se.scale_activation", "se", "conv", "avgpool", "dropout", "fc"};
  CHECK(rows == expected);

  tl::TapRecorder recorder;  // records every tap, in firing order
  const auto x = torch::randn({2, 3, 32, 32});
  const auto logits = model->forward(x);
  std::vector<std::string> fired;
  for (const auto& [name, output] : recorder.records()) fired.push_back(name);
  CHECK(fired == expected);
  CHECK(recorder.get("avgpool").sizes() == torch::IntArrayRef({2, 16}));
  CHECK(recorder.get("fc").equal(logits));
  CHECK(logits.sizes() == torch::IntArrayRef({2, 5}));
  // Keras' names address the same rows, and the top's rows freeze like any other.
  CHECK(model->layer_table().index_of("predictions") == model->layer_table().index_of("fc"));
  model->set_trainable(tl::from("avg_pool"), false);
  CHECK_FALSE(model->named_parameters()["fc.weight"].requires_grad());
  CHECK(model->named_parameters()["conv.weight"].requires_grad());

  // Training mode (batch statistics, the top's dropout) changes the output; eval gives it
  // back once the running statistics that training's forward moved are put back.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> statistics;
  for (const auto& buffer : model->buffers()) statistics.emplace_back(buffer, buffer.clone());
  model->train();
  torch::manual_seed(0);
  const auto a = model->forward(x);
  CHECK_FALSE(a.allclose(logits));
  model->eval();
  for (auto& [buffer, saved] : statistics) buffer.copy_(saved);
  CHECK(model->forward(x).equal(logits));

  // Without the top: no top rows; the last map, or pooled as asked.
  auto base = tl::make_backbone("tiny_net", tl::BackboneOptions().include_top(false));
  CHECK(base->layers().back().name == "conv");
  CHECK(base->forward(x).sizes() == torch::IntArrayRef({2, 16, 16, 16}));
  auto pooled = tl::make_backbone("tiny_net", tl::BackboneOptions().include_top(false).pooling(tl::Pooling::Avg));
  CHECK(pooled->forward(x).sizes() == torch::IntArrayRef({2, 16}));
}

TEST_CASE("nn::ResidualAdd: shortcut + branch, the branch dropped per sample in training, both tapped",
          "[core][taps]") {
  torch::manual_seed(0);
  const auto shortcut = torch::full({64, 2, 3, 3}, 1.0f), branch = torch::full({64, 2, 3, 3}, 2.0f);
  auto join = tl::nn::ResidualAdd(0.25).taps("block.drop", "block.add");
  tl::TapRecorder recorder;
  CHECK(join(shortcut, branch, /*training=*/false).equal(shortcut + branch));
  CHECK(recorder.get("block.drop").equal(branch));
  CHECK(recorder.get("block.add").equal(shortcut + branch));
  // Training: each sample's branch is dropped (sum 1) or kept and scaled by 1 / 0.75.
  const auto per_sample = join(shortcut, branch, /*training=*/true).flatten(1);
  CHECK(torch::equal(per_sample.amin(1), per_sample.amax(1)));
  const auto dropped = (per_sample.amin(1) == 1).sum().item<int64_t>();
  const auto kept = per_sample.amin(1).masked_select(per_sample.amin(1) != 1);
  CHECK(((kept - (1 + 2 / 0.75)).abs() < 1e-5).all().item<bool>());
  CHECK(dropped > 4);
  CHECK(dropped < 32);
  CHECK_THROWS_WITH(tl::nn::ResidualAdd(1.5), Catch::Contains("probability in [0, 1]"));
}

TEST_CASE("the compiled-in ImageNet classes equal the Keras class index", "[imagenet]") {
  std::ifstream in(std::string(TLEARN_TEST_FIXTURES) + "/imagenet_class_index.json");
  REQUIRE(in.good());
  auto index = nlohmann::json::parse(in);
  REQUIRE(index.size() == 1000);
  for (int i = 0; i < 1000; ++i) {
    auto entry = index[std::to_string(i)];
    CHECK(tl::imagenet::wnid(i) == entry[0].get<std::string>());
    CHECK(tl::imagenet::class_name(i) == entry[1].get<std::string>());
  }
  CHECK(tl::imagenet::class_name(281) == "tabby");
  CHECK_THROWS_AS(tl::imagenet::wnid(1000), tl::Error);
}

TEST_CASE("decode_predictions sorts each row by score", "[imagenet]") {
  auto probs = torch::zeros({2, 1000});
  probs[0][281] = 0.7;  probs[0][282] = 0.2;  probs[0][3] = 0.1;
  probs[1][999] = 0.9;  probs[1][0] = 0.05;
  auto top = tl::imagenet::decode_predictions(probs, 3);
  REQUIRE(top.size() == 2);
  REQUIRE(top[0].size() == 3);
  CHECK(top[0][0].wnid == "n02123045");
  CHECK(top[0][0].name == "tabby");
  CHECK(top[0][0].score == Approx(0.7));
  CHECK(top[0][1].index == 282);
  CHECK(top[0][2].index == 3);
  CHECK(top[1][0].index == 999);
  CHECK(top[1][1].index == 0);
}

TEST_CASE("decode_predictions rejects anything but (N, 1000)", "[imagenet]") {
  CHECK_THROWS_WITH(tl::imagenet::decode_predictions(torch::zeros({2, 10})),
                    Catch::Matchers::Contains("(N, 1000)"));
  CHECK_THROWS_AS(tl::imagenet::decode_predictions(torch::zeros({1000})), tl::Error);
  CHECK_THROWS_AS(tl::imagenet::decode_predictions(torch::zeros({1, 1000}), 0), tl::Error);
}

TEST_CASE("preprocess_input policies match hand-computed values", "[preprocess]") {
  // One pixel, RGB = (10, 100, 200).
  auto chw = torch::tensor({10.f, 100.f, 200.f}).view({3, 1, 1});
  auto nchw = chw.unsqueeze(0);

  SECTION("caffe: RGB to BGR, minus the BGR mean") {
    auto y = tl::preprocess_input(chw, tl::Preprocessing::Caffe).flatten();
    CHECK(y[0].item<float>() == Approx(200 - 103.939));
    CHECK(y[1].item<float>() == Approx(100 - 116.779));
    CHECK(y[2].item<float>() == Approx(10 - 123.68));
    auto y4 = tl::preprocess_input(nchw, tl::Preprocessing::Caffe);
    CHECK(y4.sizes() == nchw.sizes());
    CHECK(torch::allclose(y4.flatten(), y));
  }
  SECTION("tf: x / 127.5 - 1") {
    auto y = tl::preprocess_input(nchw, tl::Preprocessing::TF).flatten();
    CHECK(y[0].item<float>() == Approx(10 / 127.5 - 1));
    CHECK(y[2].item<float>() == Approx(200 / 127.5 - 1));
  }
  SECTION("torch: /255, minus mean, over std") {
    auto y = tl::preprocess_input(chw, tl::Preprocessing::Torch).flatten();
    CHECK(y[0].item<float>() == Approx((10 / 255.0 - 0.485) / 0.229));
    CHECK(y[1].item<float>() == Approx((100 / 255.0 - 0.456) / 0.224));
    CHECK(y[2].item<float>() == Approx((200 / 255.0 - 0.406) / 0.225));
  }
  SECTION("identity leaves the input as it is, and does not alias it") {
    auto y = tl::preprocess_input(chw, tl::Preprocessing::Identity);
    CHECK(torch::equal(y, chw));
    y.add_(1);
    CHECK(chw[0][0][0].item<float>() == 10.f);
  }
}

TEST_CASE("preprocess_input rejects what it cannot handle", "[preprocess]") {
  CHECK_THROWS_AS(tl::preprocess_input(torch::zeros({3, 4}), tl::Preprocessing::Torch), tl::Error);
  CHECK_THROWS_AS(tl::preprocess_input(torch::zeros({3, 4, 4}, torch::kByte), tl::Preprocessing::TF), tl::Error);
  CHECK_THROWS_AS(tl::preprocess_input(torch::zeros({1, 4, 4}), tl::Preprocessing::Caffe), tl::Error);
  CHECK(tl::preprocessing_from_string("caffe") == tl::Preprocessing::Caffe);
  CHECK_THROWS_AS(tl::preprocessing_from_string("keras"), tl::Error);
  // Any mean and std (timm's configs): numbers as torchvision's Normalize, and a name that reads back.
  const auto clip = tl::Preprocessing::mean_std({0.48145466f, 0.4578275f, 0.40821073f}, {0.26862954f, 0.26130258f, 0.27577711f});
  auto x = torch::rand({2, 3, 4, 5}) * 255;
  auto expected = (x / 255 - torch::tensor({0.48145466f, 0.4578275f, 0.40821073f}).view({1, 3, 1, 1})) /
                  torch::tensor({0.26862954f, 0.26130258f, 0.27577711f}).view({1, 3, 1, 1});
  CHECK(torch::allclose(tl::preprocess_input(x, clip), expected, 1e-5, 1e-5));
  CHECK(tl::preprocessing_from_string(tl::to_string(clip)) == clip);
  CHECK(clip != tl::Preprocessing::Torch);
  CHECK(tl::Preprocessing(tl::Preprocessing::Torch).mean()[0] == 0.485f);
  CHECK_THROWS_AS(tl::preprocessing_from_string("mean_std(1, 2 / 3)"), tl::Error);
  CHECK_THROWS_AS(tl::Preprocessing::mean_std({0, 0, 0}, {1, 0, 1}), tl::Error);
}
