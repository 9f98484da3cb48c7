// Seeing inside: colour maps, Grad-CAM, activation and filter images, segmentation.

#include <tlearn/tlearn.hpp>

#include "catch.hpp"
#include "support.hpp"

namespace ex = tlearn::explain;

namespace {

/// conv-relu-pool-conv-relu, global average pool, linear: small enough to compute
/// Grad-CAM by hand (for GAP + linear, d score_c / d A_k(i, j) = w_ck / (h w)).
struct TinyNetImpl : torch::nn::Module {
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::Linear fc{nullptr};
  explicit TinyNetImpl(int64_t classes = 2) {
    conv1 = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)));
    conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 16, 3).padding(1)));
    fc = register_module("fc", torch::nn::Linear(16, classes));
  }
  torch::Tensor features(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(conv1(x)), 2);
    tlearn::tap("conv1", x);
    x = torch::relu(conv2(x));
    tlearn::tap("conv2", x);
    return x;
  }
  torch::Tensor forward(torch::Tensor x) { return fc(features(std::move(x)).mean({2, 3})); }
};
TORCH_MODULE(TinyNet);

/// Backbone without top + linear head: what a Classifier looks like to Grad-CAM.
struct HeadedImpl : torch::nn::Module {
  tlearn::AnyBackbone base;
  torch::nn::Linear head{nullptr};
  HeadedImpl(tlearn::AnyBackbone b, int64_t classes) : base(std::move(b)) {
    register_module("base", base.ptr());
    head = register_module("head", torch::nn::Linear(base->output_channels(), classes));
  }
  torch::Tensor forward(torch::Tensor x) { return head(base->forward(x).mean({2, 3})); }
};
TORCH_MODULE(Headed);

/// Noisy 32x32 images; class 1 has a bright 8x8 square somewhere in the top-left
/// quadrant, class 0 has none. Returns the squares' top-left corners too.
std::tuple<torch::Tensor, torch::Tensor, std::vector<std::array<int64_t, 2>>> squares(int64_t n, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  auto images = torch::rand({n, 3, 32, 32}, gen) * 0.3;
  auto labels = torch::randint(0, 2, {n}, gen, torch::kLong);
  auto pos = torch::randint(0, 9, {n, 2}, gen, torch::kLong);
  std::vector<std::array<int64_t, 2>> corners;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = pos[i][0].item<int64_t>(), x = pos[i][1].item<int64_t>();
    if (labels[i].item<int64_t>() == 1) images[i].narrow(1, y, 8).narrow(2, x, 8).fill_(1.0);
    corners.push_back({y, x});
  }
  return {images, labels, corners};
}

}  // namespace

TEST_CASE("colour maps: 256 entries with matplotlib's endpoints", "[explain]") {
  auto jet = ex::colormap_table(ex::Colormap::Jet);
  auto viridis = ex::colormap_table(ex::Colormap::Viridis);
  REQUIRE(jet.sizes() == torch::IntArrayRef({256, 3}));
  REQUIRE(viridis.scalar_type() == torch::kUInt8);
  auto rgb = [](const torch::Tensor& t, int64_t i) {
    return std::array<int, 3>{t[i][0].item<int>(), t[i][1].item<int>(), t[i][2].item<int>()};
  };
  CHECK(rgb(jet, 0) == std::array<int, 3>{0, 0, 128});       // dark blue
  CHECK(rgb(jet, 255) == std::array<int, 3>{128, 0, 0});     // dark red
  CHECK(rgb(viridis, 0) == std::array<int, 3>{68, 1, 84});   // #440154
  CHECK(rgb(viridis, 255) == std::array<int, 3>{253, 231, 37});  // #fde725
  CHECK(rgb(ex::colormap_table(ex::Colormap::Inferno), 0) == std::array<int, 3>{0, 0, 4});
  CHECK(rgb(ex::colormap_table(ex::Colormap::Gray), 200) == std::array<int, 3>{200, 200, 200});
  // Viridis gets brighter monotonically (perceptual uniformity's first requirement).
  auto v = viridis.to(torch::kFloat);
  auto luma = v.select(1, 0) * 0.299 + v.select(1, 1) * 0.587 + v.select(1, 2) * 0.114;
  CHECK((luma.slice(0, 1) - luma.slice(0, 0, 255)).min().item<float>() > -0.5f);

  auto img = ex::apply_colormap(torch::tensor({0.f, 1.f, 2.f, -1.f}).view({2, 2}), ex::Colormap::Viridis);
  REQUIRE(img.sizes() == torch::IntArrayRef({3, 2, 2}));
  CHECK(img[0][0][0].item<float>() == 68.f);
  CHECK(img[0][0][1].item<float>() == 253.f);
  CHECK(img[1][1][0].item<float>() == 231.f);  // clamped to 1
  CHECK(img[2][1][1].item<float>() == 84.f);   // clamped to 0
  CHECK(ex::colormap_from_name("jet") == ex::Colormap::Jet);
  CHECK_THROWS_WITH(ex::colormap_from_name("rainbow"), Catch::Contains("viridis"));
  CHECK_THROWS_AS(ex::apply_colormap(torch::zeros({3, 4, 4})), tlearn::Error);
}

TEST_CASE("Grad-CAM equals the hand computation on a GAP + linear model", "[explain]") {
  torch::manual_seed(3);
  TinyNet net;
  auto x = torch::rand({1, 3, 20, 28});
  for (int64_t cls : {0, 1}) {
    auto cam = ex::grad_cam([&](const torch::Tensor& in) { return net->forward(in); }, x, "conv2", cls);
    torch::Tensor a;
    {
      torch::NoGradGuard g;
      a = net->features(x)[0];  // (16, 10, 14)
    }
    auto w = net->fc->weight[cls].detach() / double(a.size(1) * a.size(2));
    auto hand = torch::relu((w.view({-1, 1, 1}) * a).sum(0));
    REQUIRE(cam.cam.sizes() == torch::IntArrayRef({10, 14}));
    CHECK(torch::allclose(cam.weights, w, 1e-5, 1e-7));
    CHECK(torch::allclose(cam.cam, hand, 1e-4, 1e-6));
    auto up = torch::nn::functional::interpolate(
        hand.view({1, 1, 10, 14}),
        torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{20, 28}).mode(torch::kBilinear).align_corners(false))[0][0];
    REQUIRE(cam.heatmap.sizes() == torch::IntArrayRef({20, 28}));
    CHECK(torch::allclose(cam.heatmap, up / up.max(), 1e-4, 1e-5));
    CHECK(cam.class_index == cls);
    CHECK(cam.score == Approx(net->forward(x)[0][cls].item<double>()).epsilon(1e-4));
  }
  // Top class by default; the parameters' gradients stay untouched.
  auto top = ex::grad_cam([&](const torch::Tensor& in) { return net->forward(in); }, x[0], "conv2");
  CHECK(top.class_index == net->forward(x).argmax(1).item<int64_t>());
  for (const auto& p : net->parameters()) CHECK(!p.grad().defined());

  CHECK_THROWS_WITH(ex::grad_cam([&](const torch::Tensor& in) { return net->forward(in); }, x, "conv9"),
                    Catch::Contains("conv9"));
  CHECK_THROWS_WITH(ex::grad_cam([&](const torch::Tensor& in) { return net->forward(in); }, x, "conv2", 5),
                    Catch::Contains("out of range"));
  CHECK_THROWS_WITH(ex::grad_cam([&](const torch::Tensor& in) { return net->forward(in); }, torch::rand({2, 3, 8, 8}), "conv2"),
                    Catch::Contains("one image"));
}

TEST_CASE("Grad-CAM finds the class evidence where the synthetic task put it", "[explain]") {
  torch::manual_seed(0);
  TinyNet net;
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(1e-2));
  for (int step = 0; step < 60; ++step) {
    auto [images, labels, corners] = squares(32, 100 + step);
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(net->forward(images), labels);
    loss.backward();
    opt.step();
  }
  auto [images, labels, corners] = squares(16, 7);
  net->eval();
  CHECK(net->forward(images).argmax(1).eq(labels).sum().item<int64_t>() >= 15);
  int inside = 0, tested = 0;
  for (int64_t i = 0; i < 16; ++i) {
    if (labels[i].item<int64_t>() != 1) continue;
    ++tested;
    auto cam = ex::grad_cam([&](const torch::Tensor& in) { return net->forward(in); }, images[i], "conv2", 1);
    const int64_t peak = cam.heatmap.argmax().item<int64_t>();
    const int64_t py = peak / 32, px = peak % 32;
    const auto [y, x] = corners[size_t(i)];
    auto mask = torch::zeros({32, 32}, torch::kBool);
    mask.narrow(0, y, 8).narrow(1, x, 8).fill_(true);
    const float in_mean = cam.heatmap.masked_select(mask).mean().item<float>();
    const float out_mean = cam.heatmap.masked_select(~mask).mean().item<float>();
    INFO("image " << i << " peak (" << py << ", " << px << ") square at (" << y << ", " << x << ")");
    CHECK(py < 16);
    CHECK(px < 16);
    CHECK(in_mean > 2 * out_mean);
    if (py >= y - 2 && py < y + 10 && px >= x - 2 && px < x + 10) ++inside;
  }
  REQUIRE(tested > 2);
  CHECK(inside >= tested - 1);
}

TEST_CASE("Grad-CAM through a backbone and through a model that contains one", "[explain]") {
  torch::manual_seed(1);
  auto base = tlearn::make_backbone("vgg11", tlearn::BackboneOptions().include_top(false));
  Headed model(base, 3);
  auto x = torch::randn({3, 64, 48});
  auto cam = ex::grad_cam(model, *base, x, ex::GradCamOptions().class_index(2));
  CHECK(cam.layer == base->feature_info().back().name);  // default: the last stage
  CHECK(cam.cam.sizes() == torch::IntArrayRef({2, 1}));
  CHECK(cam.heatmap.sizes() == torch::IntArrayRef({64, 48}));
  CHECK(cam.heatmap.min().item<float>() >= 0.f);
  CHECK(cam.heatmap.max().item<float>() <= 1.f);
  CHECK(model->is_training());  // the mode is restored

  auto by_alias = ex::grad_cam(model, *base, x, ex::GradCamOptions().layer("block4_conv2").class_index(2));
  CHECK(by_alias.layer == base->layer_table()[base->layer_table().index_of("block4_conv2")].name);
  CHECK(by_alias.cam.sizes() == torch::IntArrayRef({8, 6}));
  CHECK_THROWS_WITH(ex::grad_cam(model, *base, x, ex::GradCamOptions().layer("block9_conv1")),
                    Catch::Contains("block9_conv1"));

  // A backbone alone (its output channels are the "classes" without a top).
  base->set_trainable(tlearn::all(), false);  // frozen models explain too
  auto own = ex::grad_cam(*base, x, ex::GradCamOptions().layer("block5_conv1").class_index(0));
  CHECK(own.heatmap.sizes() == torch::IntArrayRef({64, 48}));

  auto dir = tlearn::test::scratch_dir("gradcam");
  auto photo = torch::rand({3, 64, 48}) * 255;
  ex::save_overlay(dir / "overlay.png", photo, cam.heatmap, ex::Colormap::Viridis);
  auto back = tlearn::io::read_image(dir / "overlay.png");
  CHECK(back.sizes() == torch::IntArrayRef({64, 48, 3}));
  auto blend = ex::overlay(photo, torch::ones({4, 3}), ex::Colormap::Jet, 1.0);
  CHECK(blend[0][10][10].item<float>() == 128.f);  // jet at 1: (128, 0, 0)
  CHECK(blend[2][10][10].item<float>() == 0.f);
  CHECK_THROWS_WITH(ex::overlay(photo, cam.heatmap, ex::Colormap::Jet, 2.0), Catch::Contains("alpha"));
}

TEST_CASE("activation grid and filter patterns are written at the right sizes", "[explain]") {
  torch::manual_seed(2);
  auto vgg = tlearn::make_backbone("vgg11", tlearn::BackboneOptions().include_top(false));
  auto x = vgg->preprocess(torch::rand({3, 32, 40}) * 255);
  auto dir = tlearn::test::scratch_dir("activations");

  auto maps = ex::activations(*vgg, x, "block1_conv1");
  CHECK(maps.sizes() == torch::IntArrayRef({64, 32, 40}));
  ex::save_activation_grid(dir / "block1.png", *vgg, x, "block1_conv1",
                           ex::GridOptions().columns(8).max_channels(16).padding(2));
  // 16 tiles of 32x40 in 2 rows of 8, 2 pixels around each.
  CHECK(tlearn::io::read_image(dir / "block1.png").sizes() == torch::IntArrayRef({2 * 34 + 2, 8 * 42 + 2, 3}));
  auto scaled = ex::activation_grid(*vgg, x, "block2_conv1", ex::GridOptions().columns(5).max_channels(0).scale(2).padding(1));
  CHECK(scaled.sizes() == torch::IntArrayRef({3, 26 * 33 + 1, 5 * 41 + 1}));  // 128 tiles of 16x20 doubled, 26 rows of 5
  CHECK_THROWS_WITH(ex::activations(*vgg, x, "no_such_layer"), Catch::Contains("no_such_layer"));

  auto opts = ex::FilterOptions().size({40, 40}).steps(8).seed(5);
  auto grid = ex::save_filter_grid(dir / "filters.png", *vgg, "block2_conv1", {0, 1, 2}, opts, ex::GridOptions().columns(3));
  CHECK(grid.sizes() == torch::IntArrayRef({3, 44, 128}));
  CHECK(tlearn::io::read_image(dir / "filters.png").sizes() == torch::IntArrayRef({44, 128, 3}));
  auto all = ex::filter_grid(*vgg, "block1_conv1", {}, ex::FilterOptions().size({32, 32}).steps(1),
                             ex::GridOptions().columns(16).max_channels(0).padding(0));
  CHECK(all.sizes() == torch::IntArrayRef({3, 4 * 32, 16 * 32}));  // all 64 filters

  // Gradient ascent raises the filter's mean activation over the starting noise.
  auto response = [&](const torch::Tensor& pattern) {
    return ex::activations(*vgg, vgg->preprocess(pattern), "block2_conv1")[3].mean().item<float>();
  };
  const float before = response(ex::filter_pattern(*vgg, "block2_conv1", 3, opts.steps(0)));
  const float after = response(ex::filter_pattern(*vgg, "block2_conv1", 3, opts.steps(20)));
  CHECK(after > before);
  CHECK_THROWS_WITH(ex::filter_pattern(*vgg, "block2_conv1", 128, opts), Catch::Contains("filter 128"));
}
