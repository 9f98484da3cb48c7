// Seeing inside: colour maps, Grad-CAM, activation and filter images, segmentation.

#include <tlearn/tlearn.hpp>

#include "../catch.hpp"
#include "../support.hpp"
#include "../toy_vit.hpp"

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

/// Trains `net` for `steps` Adam-family steps, each on a fresh batch of 32 squares().
template <class Net>
void train_on_squares(Net& net, torch::optim::Optimizer& opt, int steps) {
  for (int step = 0; step < steps; ++step) {
    auto [images, labels, corners] = squares(32, 100 + uint64_t(step));
    opt.zero_grad();
    torch::nn::functional::cross_entropy(net->forward(images), labels).backward();
    opt.step();
  }
}

/// How a heatmap (`heatmap_of(image)`) places the squares of the class-1 images of squares(16, 7):
/// heatmaps that peak within `margin` pixels of the square, in the top-left quadrant, and
/// that are on average twice as bright inside the square as outside.
struct Placed {
  int tested = 0, near = 0, top_left = 0, brighter = 0;
};
Placed place_squares(const std::function<torch::Tensor(const torch::Tensor&)>& heatmap_of, int64_t margin) {
  auto [images, labels, corners] = squares(16, 7);
  Placed r;
  for (int64_t i = 0; i < 16; ++i) {
    if (labels[i].item<int64_t>() != 1) continue;
    ++r.tested;
    auto heatmap = heatmap_of(images[i]);
    const int64_t peak = heatmap.argmax().item<int64_t>(), py = peak / 32, px = peak % 32;
    const auto [y, x] = corners[size_t(i)];
    auto mask = torch::zeros({32, 32}, torch::kBool);
    mask.narrow(0, y, 8).narrow(1, x, 8).fill_(true);
    const float in_mean = heatmap.masked_select(mask).mean().item<float>();
    const float out_mean = heatmap.masked_select(~mask).mean().item<float>();
    r.brighter += in_mean > 2 * out_mean;
    r.top_left += py < 16 && px < 16;
    r.near += py >= y - margin && py < y + 8 + margin && px >= x - margin && px < x + 8 + margin;
  }
  return r;
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
  train_on_squares(net, opt, 60);
  auto [images, labels, corners] = squares(16, 7);
  net->eval();
  CHECK(net->forward(images).argmax(1).eq(labels).sum().item<int64_t>() >= 15);
  auto placed = place_squares(
      [&](const torch::Tensor& image) {
        return ex::grad_cam([&](const torch::Tensor& in) { return net->forward(in); }, image, "conv2", 1).heatmap;
      },
      /*margin=*/2);
  REQUIRE(placed.tested > 2);
  CHECK(placed.top_left == placed.tested);
  CHECK(placed.brighter == placed.tested);
  CHECK(placed.near >= placed.tested - 1);
}

// A two-block ViT with 4x4 patches: 64 patch tokens on a 32x32 image.
const bool vit_squares_registered = tlearn::test::register_toy_vit(
    "vit_squares",
    tlearn::VisionTransformerConfig().patch_size(4).num_layers(2).num_heads(4).hidden_dim(32).mlp_dim(64), 32);

TEST_CASE("Grad-CAM on a vision transformer finds the square, attention rollout is the product of the blocks",
          "[explain][vit]") {
  (void)vit_squares_registered;
  torch::manual_seed(0);
  auto vit = tlearn::make_backbone("vit_squares", tlearn::BackboneOptions().classes(2));
  torch::optim::AdamW opt(vit->parameters(), torch::optim::AdamWOptions(3e-3));
  train_on_squares(vit, opt, 400);
  auto [images, labels, corners] = squares(16, 7);
  vit->eval();
  CHECK(vit->forward(images).argmax(1).eq(labels).sum().item<int64_t>() >= 15);
  // The default layer is the last block whose patch tokens still reach the class token
  // (here the first of two). Attention has mixed the tokens there; the patch embeddings,
  // one token per patch, show where the evidence is.
  auto by_default = ex::grad_cam(*vit, images[1], ex::GradCamOptions().class_index(1));
  CHECK(by_default.layer == "encoder.layers.encoder_layer_0");
  CHECK(by_default.cam.sizes() == torch::IntArrayRef({8, 8}));
  CHECK(by_default.weights.sizes() == torch::IntArrayRef({32}));
  auto placed = place_squares(
      [&](const torch::Tensor& image) {
        auto cam = ex::grad_cam(*vit, image, ex::GradCamOptions().layer("encoder.pos_embedding").class_index(1));
        CHECK(cam.cam.sizes() == torch::IntArrayRef({8, 8}));
        return cam.heatmap;
      },
      /*margin=*/4);
  REQUIRE(placed.tested > 2);
  CHECK(placed.near >= placed.tested - 1);
  CHECK(placed.brighter >= placed.tested - 1);
  auto by_alias = ex::grad_cam(*vit, images[0], ex::GradCamOptions().layer("encoder_layer_0").class_index(1));
  CHECK(by_alias.layer == "encoder_layer_0");

  // Rollout: heads averaged, identity added, rows renormalised, multiplied block by block.
  auto* model = vit->as<tlearn::VisionTransformerImpl>();
  auto rolled = place_squares(
      [&](const torch::Tensor& image) { return ex::attention_rollout(*model, image).heatmap; }, /*margin=*/4);
  CHECK(rolled.near == rolled.tested);  // the class token looks at the square
  CHECK(rolled.brighter == rolled.tested);
  auto rollout = ex::attention_rollout(*model, images[1]);
  torch::NoGradGuard no_grad;
  auto w = model->attention_weights(images[1].unsqueeze(0));
  REQUIRE(w.size() == 2);
  auto eye = torch::eye(65);
  auto a0 = w[0][0].mean(0) + eye, a1 = w[1][0].mean(0) + eye;
  a0 = a0 / a0.sum(-1, true);
  a1 = a1 / a1.sum(-1, true);
  CHECK(torch::allclose(rollout.rollout, a1.matmul(a0), 1e-5, 1e-6));
  CHECK(torch::allclose(rollout.rollout.sum(-1), torch::ones({65}), 1e-5, 1e-5));
  CHECK(rollout.map.sizes() == torch::IntArrayRef({8, 8}));
  CHECK(rollout.heatmap.sizes() == torch::IntArrayRef({32, 32}));
  CHECK(rollout.heatmap.max().item<float>() == Approx(1.f));
  CHECK(torch::allclose(ex::attention_rollout(*model, images[1], 0).rollout, a0, 1e-5, 1e-6));
  CHECK_THROWS_WITH(ex::attention_rollout(*model, images[1], 2), Catch::Contains("outside 0..1"));
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
  CHECK(by_alias.layer == "block4_conv2");  // a Keras alias in, a Keras alias out
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

TEST_CASE("Grad-CAM of a Classifier explains its logits", "[explain]") {
  torch::manual_seed(6);
  auto base = tlearn::make_backbone("vgg11", tlearn::BackboneOptions().include_top(false));
  tlearn::Classifier model(base, tlearn::Head(tlearn::HeadOptions(base->output_channels())
                                                  .classes(4).output_activation(tlearn::Activation::Softmax)));
  auto x = torch::randn({3, 64, 64});
  auto cam = ex::grad_cam(model, x, ex::GradCamOptions().layer("block5_conv2").class_index(3));
  CHECK(cam.layer == "block5_conv2");  // reported as the caller named it
  CHECK(cam.heatmap.sizes() == torch::IntArrayRef({64, 64}));
  model->eval();
  CHECK(cam.score == Approx(model->logits(x.unsqueeze(0))[0][3].item<double>()).epsilon(1e-4));  // the logit, not the probability
  CHECK_THROWS_WITH(ex::grad_cam(model, x, ex::GradCamOptions().class_index(4)), Catch::Contains("4 outputs"));
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

// ---- segmentation -----------------------------------------------------------

namespace {
/// A 64x64 scene: a square (class 1, red) and a triangle (class 2, green) on black.
tlearn::data::SegmentationExample two_shapes() {
  auto image = torch::zeros({3, 64, 64});
  auto mask = torch::zeros({64, 64}, torch::kLong);
  image[0].narrow(0, 8, 20).narrow(1, 10, 20).fill_(255.f);
  mask.narrow(0, 8, 20).narrow(1, 10, 20).fill_(1);
  for (int64_t y = 34; y < 60; ++y)
    for (int64_t x = 30; x < 30 + (y - 34); ++x) {
      image[1][y][x] = 255.f;
      mask[y][x] = 2;
    }
  return {image, mask};
}
}  // namespace

TEST_CASE("multi-scale taps and U-Net decoder shapes for several backbones and sizes", "[explain][segmentation]") {
  torch::manual_seed(4);
  auto vgg = tlearn::make_backbone("vgg11", tlearn::BackboneOptions().include_top(false));
  tlearn::SegmentationModel model(vgg, {}, 3, tlearn::SegmentationModelOptions().widths({32, 32, 16, 16}));
  const auto& taps = model->encoder()->taps();
  REQUIRE(taps.size() == 5);
  const int64_t channels[] = {64, 128, 256, 512, 512};
  for (size_t i = 0; i < 5; ++i) {
    CHECK(taps[i].name == vgg->feature_info()[i].name);
    CHECK(taps[i].channels == channels[i]);
    CHECK(taps[i].stride == (int64_t(2) << i));
  }
  for (auto hw : {std::vector<int64_t>{64, 64}, {96, 64}, {75, 90}}) {
    auto out = model->forward(torch::rand({2, 3, hw[0], hw[1]}));
    CHECK(out.sizes() == torch::IntArrayRef({2, 3, hw[0], hw[1]}));
  }
  // The encoder is frozen, the decoder is not.
  for (const auto& p : vgg->parameters()) CHECK(!p.requires_grad());
  CHECK(!model->trainable_parameters().empty());
  CHECK(model->trainable_parameters().size() == model->decoder()->parameters().size());

  // Chosen layers by Keras alias, any order, a partly frozen encoder; one class.
  auto bn = tlearn::make_backbone("vgg11_bn", tlearn::BackboneOptions().include_top(true).classes(10));
  bn->set_trainable(tlearn::until("block2_conv1"), false);
  tlearn::SegmentationModel other(bn, {"block4_conv1", "block1_conv1", "block3_pool"}, 1,
                                  tlearn::SegmentationModelOptions().freeze_encoder(false).dropout(0.3));
  const auto& t2 = other->encoder()->taps();
  REQUIRE(t2.size() == 3);
  CHECK(t2[0].stride == 1);
  CHECK(t2[0].channels == 64);
  CHECK(t2[1].stride == 8);
  CHECK(t2[2].channels == 512);
  CHECK(t2[2].stride == 8);
  CHECK(other->forward(torch::rand({1, 3, 40, 56})).sizes() == torch::IntArrayRef({1, 1, 40, 56}));
  auto probs = other->predict(torch::rand({2, 3, 32, 32}));  // one class: per-pixel sigmoid
  CHECK(probs.sizes() == torch::IntArrayRef({2, 1, 32, 32}));
  CHECK((probs.min().item<float>() >= 0 && probs.max().item<float>() <= 1));
  CHECK(other->is_training());
  CHECK(!bn->layer_table()[bn->layer_table().index_of("block1_conv1")].trainable);

  CHECK_THROWS_WITH(tlearn::SegmentationModel(vgg, {"block1_pool", "block_99"}, 2), Catch::Contains("block_99"));

  // MobileNetV2 with the TF segmentation tutorial's five Keras taps.
  auto mobile = tlearn::make_backbone("mobilenet_v2", tlearn::BackboneOptions().include_top(false));
  tlearn::SegmentationModel unet(mobile, {"block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu",
                                          "block_13_expand_relu", "block_16_project"}, 5);
  const int64_t mobile_channels[] = {96, 144, 192, 576, 320};
  for (size_t i = 0; i < 5; ++i) {
    CHECK(unet->encoder()->taps()[i].channels == mobile_channels[i]);
    CHECK(unet->encoder()->taps()[i].stride == (int64_t(2) << i));
  }
  for (auto hw : {std::vector<int64_t>{128, 128}, {80, 112}, {65, 70}})
    CHECK(unet->forward(torch::rand({1, 3, hw[0], hw[1]})).sizes() == torch::IntArrayRef({1, 5, hw[0], hw[1]}));
  CHECK_THROWS_WITH(tlearn::UNetDecoder(tlearn::UNetDecoderOptions({8, 16}, 2).widths({4, 4})), Catch::Contains("widths"));
  tlearn::UNetDecoder dec(tlearn::UNetDecoderOptions({8, 16}, 2));
  CHECK_THROWS_WITH(dec->forward({torch::rand({1, 8, 8, 8})}, {16, 16}), Catch::Contains("feature maps"));
  CHECK_THROWS_WITH(dec->forward({torch::rand({1, 8, 8, 8}), torch::rand({1, 7, 4, 4})}, {16, 16}), Catch::Contains("skip_channels"));
  CHECK(dec->forward({torch::rand({1, 8, 8, 8}), torch::rand({1, 16, 4, 4})}, {16, 16}).sizes() ==
        torch::IntArrayRef({1, 2, 16, 16}));
}

TEST_CASE("augmentation moves the mask with the image", "[explain][segmentation]") {
  auto scene = two_shapes();
  namespace td = tlearn::data;
  auto aug = td::SegmentationTransform(
      td::TrainTransform().size({48, 56}).flip(true, true).rotate(30).zoom(0.2).shift(0.1, 0.1).shear(10));
  auto plain = td::SegmentationTransform(td::TrainTransform().size({48, 56}))(scene, 0);
  int64_t moved = 0;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    auto out = aug(scene, seed);
    REQUIRE(out.image.sizes() == torch::IntArrayRef({3, 48, 56}));
    REQUIRE(out.mask.sizes() == torch::IntArrayRef({48, 56}));
    REQUIRE(out.mask.scalar_type() == torch::kLong);
    // Class indices never blend.
    CHECK(((out.mask == 0) | (out.mask == 1) | (out.mask == 2)).all().item<bool>());
    auto red = out.image[0], green = out.image[1];
    auto agree = [](const torch::Tensor& where, const torch::Tensor& ok) {
      const int64_t n = where.sum().item<int64_t>();
      return n == 0 ? 1.0 : double((where & ok).sum().item<int64_t>()) / double(n);
    };
    INFO("seed " << seed);
    // Clearly inside a shape in the image: the mask says that shape; clearly outside: background.
    CHECK(agree(red > 200, out.mask == 1) > 0.98);
    CHECK(agree(green > 200, out.mask == 2) > 0.98);
    CHECK(agree((red < 30) & (green < 30), out.mask == 0) > 0.98);
    CHECK(agree(out.mask == 1, red > 60) > 0.95);
    CHECK(agree(out.mask == 2, green > 60) > 0.95);
    if (!out.mask.equal(plain.mask)) ++moved;
  }
  CHECK(moved >= 10);  // the augmentation did move things

  // Constant fill: mask pixels from outside the image take the given value.
  auto shrink = td::SegmentationTransform(td::TrainTransform().zoom(2.0, 2.0).fill_mode(tlearn::FillMode::Constant))
                    .mask_fill(tlearn::FillMode::Constant, 255);
  auto out = shrink(scene, 1);
  CHECK(out.mask[0][0].item<int64_t>() == 255);
  CHECK(out.mask[32][32].item<int64_t>() != 255);
  CHECK_THROWS_WITH(shrink({scene.image, torch::zeros({10, 10}, torch::kLong)}, 0), Catch::Contains("mask"));
}

TEST_CASE("segmentation folder, batches, losses and IoU", "[explain][segmentation]") {
  namespace td = tlearn::data;
  auto dir = tlearn::test::scratch_dir("segfolder");
  std::filesystem::create_directories(dir / "images");
  std::filesystem::create_directories(dir / "masks");
  auto scene = two_shapes();
  tlearn::io::write_png(scene.image, dir / "images" / "a.png");
  td::write_mask(scene.mask, dir / "masks" / "a.png");
  tlearn::io::write_png(scene.image.flip({2}), dir / "images" / "b.png");
  td::write_mask(scene.mask.flip({1}), dir / "masks" / "b.png");
  td::SegmentationFolder folder(dir);
  REQUIRE(folder.size() == 2);
  CHECK(folder.get(0).mask.equal(scene.mask));
  CHECK(folder.get(1).mask.equal(scene.mask.flip({1})));
  auto batch = td::make_batch(folder, {1, 0}, td::SegmentationTransform(td::TrainTransform().size({32, 32})));
  CHECK(batch.images.sizes() == torch::IntArrayRef({2, 3, 32, 32}));
  CHECK(batch.masks.sizes() == torch::IntArrayRef({2, 32, 32}));
  // Nearest sampling at half-pixel ties is not mirror-symmetric: compare areas, not pixels.
  CHECK(batch.masks[1].eq(1).sum().item<double>() == Approx(batch.masks[0].eq(1).sum().item<double>()).epsilon(0.1));
  CHECK(batch.masks[1].eq(2).sum().item<double>() == Approx(batch.masks[0].eq(2).sum().item<double>()).epsilon(0.2));
  CHECK((batch.images[0][0] > 128).eq(batch.masks[0].eq(1)).all().item<bool>());
  auto epoch = td::batch_indices(5, 2, 3);
  CHECK(epoch.size() == 3);
  CHECK(epoch.back().size() == 1);
  tlearn::io::write_png(scene.image, dir / "images" / "c.png");
  CHECK_THROWS_WITH(td::SegmentationFolder(dir), Catch::Contains("c.png"));
  CHECK_THROWS_WITH(td::SegmentationFolder(dir / "nothing"), Catch::Contains("not a folder"));

  // IoU by hand: truth 0 0 1 1, prediction 0 1 1 1 -> class 0: 1/2, class 1: 2/3; class 2 absent.
  auto truth = torch::tensor({0, 0, 1, 1}, torch::kLong).view({1, 2, 2});
  auto pred = torch::tensor({0, 1, 1, 1}, torch::kLong).view({1, 2, 2});
  auto iou = tlearn::seg::iou(pred, truth, 3);
  CHECK(iou[0] == Approx(0.5));
  CHECK(iou[1] == Approx(2.0 / 3));
  CHECK(std::isnan(iou[2]));
  CHECK(tlearn::seg::mean_iou(pred, truth, 3) == Approx((0.5 + 2.0 / 3) / 2));
  tlearn::seg::ConfusionMatrix cm(3, /*ignore_index=*/255);
  cm.update(pred, truth.masked_fill(truth.eq(0), 255));  // only the two class-1 pixels count
  CHECK(cm.iou()[1] == Approx(1.0));
  CHECK(cm.pixel_accuracy() == Approx(1.0));

  auto perfect = torch::one_hot(truth, 3).permute({0, 3, 1, 2}).to(torch::kFloat) * 50;
  CHECK(tlearn::seg::dice_loss(perfect, truth).item<float>() < 0.2f);  // class 2 is absent: smooth / smooth = 1
  CHECK(tlearn::seg::dice_loss(perfect, truth, 1e-6).item<float>() < 1e-4f + 1.f / 3);
  CHECK(tlearn::seg::cross_entropy(perfect, truth).item<float>() < 1e-6f);
  auto wrong = torch::one_hot(1 - truth, 3).permute({0, 3, 1, 2}).to(torch::kFloat) * 50;
  CHECK(tlearn::seg::dice_loss(wrong, truth, 1e-6).item<float>() > 0.6f);  // 1 - (0 + 0 + 1) / 3
  CHECK_THROWS_WITH(tlearn::seg::cross_entropy(perfect, truth + 3), Catch::Contains("holds class"));
  CHECK_THROWS_WITH(tlearn::seg::dice_loss(perfect, truth.view({1, 4})), Catch::Contains("masks (N, H, W)"));
}

TEST_CASE("a few training steps reduce the segmentation loss on a real photo", "[explain][segmentation]") {
  torch::manual_seed(5);
  // skimage's coins: bright coins on a dark background; a threshold gives the mask.
  auto photo = tlearn::load_image("/usr/lib/python3/dist-packages/skimage/data/coins.png", {64, 80});
  auto mask = (photo[0] > 110).to(torch::kLong);
  REQUIRE(mask.sum().item<int64_t>() > 500);
  namespace td = tlearn::data;
  td::SegmentationTensors data(photo.unsqueeze(0), mask.unsqueeze(0));
  auto aug = td::SegmentationTransform(td::TrainTransform().flip().rotate(10));

  auto vgg = tlearn::make_backbone("vgg11", tlearn::BackboneOptions().include_top(false));
  tlearn::SegmentationModel model(vgg, {"block1_conv1", "block2_conv1", "block3_conv2"}, 2,
                                  tlearn::SegmentationModelOptions().widths({32, 16}));
  torch::optim::Adam opt(model->trainable_parameters(), torch::optim::AdamOptions(1e-2));
  auto eval_loss = [&] {
    torch::NoGradGuard g;
    model->eval();
    auto logits = model->forward(vgg->preprocess(photo.unsqueeze(0)));
    model->train();
    return tlearn::seg::cross_entropy(logits, mask.unsqueeze(0)).item<double>();
  };
  const double before = eval_loss();
  for (int step = 0; step < 25; ++step) {
    auto batch = td::make_batch(data, {0, 0, 0, 0}, aug, uint64_t(step));
    opt.zero_grad();
    auto logits = model->forward(vgg->preprocess(batch.images));
    auto loss = tlearn::seg::cross_entropy(logits, batch.masks) + tlearn::seg::dice_loss(logits, batch.masks);
    loss.backward();
    opt.step();
  }
  const double after = eval_loss();
  INFO("loss " << before << " -> " << after);
  CHECK(after < 0.6 * before);
  CHECK(tlearn::seg::mean_iou(model->predict(vgg->preprocess(photo.unsqueeze(0))), mask.unsqueeze(0), 2) > 0.6);
}
