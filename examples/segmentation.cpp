// Semantic segmentation with a backbone encoder and a U-Net decoder, trained on a
// synthetic shapes data set this program draws itself (no download): circles,
// squares and triangles (classes 1, 2, 3) on noisy colour gradients (class 0).
//   segmentation [--model mobilenet_v2|vgg11_bn|vgg16|...] [--weights PATH|imagenet] [--train-encoder]
//                [--epochs 15] [--size 64] [--out seg_out]
// Default encoder: mobilenet_v2 with the five taps of the TF tutorial when it is
// registered, else vgg11_bn with its five stage outputs (BatchNorm trains from scratch).
// With pretrained weights the encoder is frozen (TensorFlow's segmentation tutorial);
// with random weights (the default here: nothing is downloaded) it is trained too
// unless --freeze-encoder. Trains with Trainer::fit (cross-entropy + Dice, mean IoU
// logged). Writes OUT/val_<i>.png (photo | true mask | prediction), OUT/history.png
// and reports the validation mean IoU.
#include <tlearn/tlearn.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <random>
#include <string>

namespace tl = tlearn;
namespace td = tlearn::data;

namespace {

/// n images (n, 3, size, size) float 0..255 and masks (n, size, size).
std::pair<torch::Tensor, torch::Tensor> draw_shapes(int64_t n, int64_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  auto gen = at::detail::createCPUGenerator(seed);
  auto images = torch::empty({n, 3, size, size});
  auto masks = torch::zeros({n, size, size}, torch::kLong);
  auto yy = torch::arange(size, torch::kFloat).view({-1, 1}).expand({size, size});
  auto xx = torch::arange(size, torch::kFloat).view({1, -1}).expand({size, size});
  for (int64_t i = 0; i < n; ++i) {
    const double angle = uniform(0, 6.2832);
    auto t = ((xx * std::cos(angle) + yy * std::sin(angle)) / double(size) + 1) / 2;
    for (int64_t c = 0; c < 3; ++c) images[i][c] = uniform(0, 255) * (1 - t) + uniform(0, 255) * t;
    images[i] += torch::randn({3, size, size}, gen) * 12;
    const int shapes = 1 + int(rng() % 3);
    for (int s = 0; s < shapes; ++s) {
      const int64_t cls = 1 + int64_t(rng() % 3);
      const double r = uniform(0.1, 0.22) * double(size);
      const double cx = uniform(r, double(size) - r), cy = uniform(r, double(size) - r);
      torch::Tensor region;
      if (cls == 1) region = (xx - cx).pow(2) + (yy - cy).pow(2) <= r * r;
      else if (cls == 2) region = ((xx - cx).abs() <= 0.85 * r) & ((yy - cy).abs() <= 0.85 * r);
      else region = (yy >= cy - r) & (yy <= cy + 0.8 * r) & ((xx - cx).abs() <= (yy - (cy - r)) * 0.6);
      for (int64_t c = 0; c < 3; ++c) images[i][c].masked_fill_(region, uniform(0, 255));
      masks[i].masked_fill_(region, cls);
    }
  }
  return {images.clamp(0, 255), masks};
}

/// Class indices (H, W) to colours (3, H, W): black, red, green, blue.
torch::Tensor colour(const torch::Tensor& mask) {
  auto palette = torch::tensor({0.f, 0.f, 0.f, 230.f, 40.f, 40.f, 40.f, 200.f, 40.f, 50.f, 90.f, 240.f}).view({4, 3});
  return palette.index_select(0, mask.flatten().clamp(0, 3)).view({mask.size(0), mask.size(1), 3}).permute({2, 0, 1});
}

}  // namespace

int main(int argc, char** argv) try {
  std::string model_name, weights, out_dir = "seg_out";
  int64_t epochs = 15, size = 64;
  int freeze = -1;  // -1: freeze exactly when pretrained weights are given
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw tl::Error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--model") model_name = value();
    else if (arg == "--weights") weights = value();
    else if (arg == "--epochs") epochs = std::stoll(value());
    else if (arg == "--size") size = std::stoll(value());
    else if (arg == "--out") out_dir = value();
    else if (arg == "--train-encoder") freeze = 0;
    else if (arg == "--freeze-encoder") freeze = 1;
    else throw tl::Error("unknown argument '" + arg + "'; see the comment at the top of examples/segmentation.cpp");
  }
  if (size < 32 || size % 32 != 0) throw tl::Error("--size must be a multiple of 32 (at least 32), got " + std::to_string(size));
  const auto models = tl::list_models();
  if (model_name.empty())
    model_name = std::find(models.begin(), models.end(), "mobilenet_v2") != models.end() ? "mobilenet_v2" : "vgg11_bn";
  std::vector<std::string> taps;  // empty: the stages of feature_info()
  if (model_name == "mobilenet_v2")
    taps = {"block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu", "block_13_expand_relu", "block_16_project"};
  if (freeze < 0) freeze = weights.empty() ? 0 : 1;

  torch::manual_seed(0);
  auto base = tl::make_backbone(model_name, tl::BackboneOptions().include_top(false).weights(weights).input_shape({size, size}));
  tl::SegmentationModel model(base, taps, 4,
                              tl::SegmentationModelOptions().freeze_encoder(freeze == 1).widths({128, 64, 48, 32}));
  std::cout << "encoder " << model_name << (weights.empty() ? " (random weights)" : " (" + weights + ")")
            << (freeze ? ", frozen" : ", trained") << "; taps:";
  for (const auto& t : model->encoder()->taps()) std::cout << " " << t.name << " (" << t.channels << " ch, /" << t.stride << ")";
  std::cout << "\n";

  auto [train_images, train_masks] = draw_shapes(256, size, 1);
  auto [val_images, val_masks] = draw_shapes(48, size, 2);
  // The encoder's preprocessing is part of the transform, so batches go straight into the model.
  const auto preprocessing = base->preprocessing();
  auto train = td::segmentation_loader(
      td::SegmentationTensors(train_images, train_masks),
      td::SegmentationTransform(td::TrainTransform().flip(true, true).rotate(15).zoom(0.1).preprocessing(preprocessing)),
      td::LoaderOptions().batch_size(16).seed(1).workers(2));
  auto val = td::segmentation_loader(td::SegmentationTensors(val_images, val_masks),
                                     td::SegmentationTransform(td::TrainTransform().preprocessing(preprocessing)),
                                     td::LoaderOptions().batch_size(16).shuffle(false).workers(0));

  // Pixel-wise cross-entropy plus Dice, mean IoU logged for training and validation.
  tl::Trainer trainer(model, tl::TrainerOptions()
                                 .optimizer(tl::optim::Adam(2e-3))
                                 .loss(tl::loss::CrossEntropy().dice_weight(1.0))
                                 .metrics({tl::metrics::accuracy(), tl::metrics::mean_iou()}));
  auto history = trainer.fit(train, tl::FitOptions().epochs(epochs).validation(val));
  std::filesystem::create_directories(out_dir);
  history.plot(std::filesystem::path(out_dir) / "history.png");

  tl::seg::ConfusionMatrix cm(4);
  auto predicted = model->predict(base->preprocess(val_images)).argmax(1);  // class per pixel
  cm.update(predicted, val_masks);
  const char* names[] = {"background", "circle", "square", "triangle"};
  auto iou = cm.iou();
  std::cout << std::setprecision(4);
  for (int k = 0; k < 4; ++k) std::cout << "IoU " << names[k] << ": " << iou[size_t(k)] << "\n";
  std::cout << "validation mean IoU: " << cm.mean_iou() << ", pixel accuracy: " << cm.pixel_accuracy() << "\n";

  for (int64_t i = 0; i < 8; ++i) {
    auto row = torch::stack({val_images[i], colour(val_masks[i]), colour(predicted[i])});
    td::save_grid(row, std::filesystem::path(out_dir) / ("val_" + std::to_string(i) + ".png"), 3);
  }
  std::cout << "wrote " << out_dir << "/val_0..7.png (photo | truth | prediction) and " << out_dir
            << "/history.png\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "segmentation: " << e.what() << "\n";
  return 1;
}
