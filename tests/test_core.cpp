// ImageNet labels and preprocess_input policies.
#include <nlohmann/json.hpp>
#include <tlearn/tlearn.hpp>

#include <fstream>

#include "support.hpp"

namespace tl = tlearn;

TEST_CASE("the compiled-in ImageNet classes equal the Keras class index", "[imagenet]") {
  std::ifstream in(std::string(TLEARN_TEST_DATA_DIR) + "/imagenet_class_index.json");
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
