// Every public path on a model that lives on `device` in `dtype`: each tensor
// tlearn creates must follow the model (or the input), wherever it is.
// Used by devices/test_devices.cpp (CPU, float64 and bfloat16) and devices/test_cuda.cpp.
#pragma once

#include <tlearn/detail/compat.hpp>
#include <tlearn/tlearn.hpp>

#include <sstream>

#include "catch.hpp"
#include "support.hpp"

namespace tlearn::test {

/// Float images 0..255 on the CPU in float32, as loaders give them: the model's
/// side must move and cast them.
inline std::vector<data::Batch> sweep_batches(int64_t n, int64_t batch) {
  torch::manual_seed(5);
  auto labels = torch::arange(n) % 3;
  auto images = torch::rand({n, 3, 64, 64}) * 60 + labels.view({-1, 1, 1, 1}).to(torch::kFloat) * 60;
  std::vector<data::Batch> out;
  for (int64_t i = 0; i < n; i += batch) {
    data::Batch b;
    b.images = images.narrow(0, i, std::min(batch, n - i));
    b.labels = labels.narrow(0, i, std::min(batch, n - i));
    out.push_back(b);
  }
  return out;
}

inline void check_follows(const torch::Tensor& t, torch::Device device, torch::Dtype dtype, const char* what) {
  INFO(what << ": " << t.device() << " " << t.scalar_type());
  CHECK(t.device().type() == device.type());
  CHECK(t.scalar_type() == dtype);
}

inline void run_public_api_sweep(torch::Device device, torch::Dtype dtype) {
  const auto opts = torch::TensorOptions().device(device).dtype(dtype);
  auto base = make_backbone("resnet18", BackboneOptions().include_top(false).input_shape({64, 64}));
  base->to(device, dtype);
  const auto x = torch::rand({2, 3, 64, 64}, opts);

  // Backbone: summary's dry run, forward, features_only.
  std::ostringstream summary;
  base->summary(summary);
  CHECK(summary.str().find("conv5_block2_out (ReLU)") != std::string::npos);
  check_follows(base->forward(x), device, dtype, "forward");
  for (const auto& f : base->features_only(x)) check_follows(f, device, dtype, "features_only");

  INFO("sweep step: Head and Classifier");
  // Head and Classifier built on the CPU in float32, then moved like a user does.
  Classifier model(base, Head(HeadOptions(base->output_channels()).hidden({8}).classes(3)));
  model->to(device, dtype);
  check_follows(model->forward(x), device, dtype, "Classifier");

  INFO("sweep step: Grad-CAM");
  // Grad-CAM and activation images from a float32 CPU photo.
  const auto photo = torch::rand({3, 64, 64}) * 255;
  auto cam = explain::grad_cam(model, photo);
  CHECK(cam.heatmap.dim() == 2);
  CHECK(torch::isfinite(cam.heatmap.to(torch::kFloat)).all().item<bool>());
  auto grid = explain::activation_grid(*base, photo, base->feature_info().back().name);
  CHECK(grid.dim() == 3);

  INFO("sweep step: Trainer");
  // Trainer: fit, evaluate, predict from float32 CPU batches.
  auto batches = sweep_batches(12, 4);
  Trainer trainer(model, TrainerOptions().device(device).verbose(0).optimizer(optim::SGD(1e-3)));
  auto h = trainer.fit(batches, FitOptions().epochs(1));
  CHECK(std::isfinite(h["loss"].back()));
  CHECK(std::isfinite(trainer.evaluate(batches)[0].second));
  auto predictions = trainer.predict(batches);
  CHECK(predictions.sizes() == torch::IntArrayRef({12, 3}));

  INFO("sweep step: Feature extraction");
  // Feature extraction: the frozen base once, then the head on stored features.
  auto features = extract_features(base, batches, ExtractOptions().device(device));
  check_follows(features.images().narrow(0, 0, 1).to(device), device, dtype, "extract_features");

  INFO("sweep step: Segmentation");
  // Segmentation: encoder taps + U-Net decoder.
  SegmentationModel seg(base, {"layer1.1.out", "layer2.1.out", "layer3.1.out"}, 3);
  seg->to(device, dtype);
  if (!detail::compat::kCpuBFloat16ConvTranspose && dtype == torch::kBFloat16 && device.is_cpu()) {
    CHECK_THROWS_WITH(seg->forward(x), Catch::Contains("cannot run its ConvTranspose2d in bfloat16"));
  } else {
    check_follows(seg->forward(x), device, dtype, "SegmentationModel");
  }

  INFO("sweep step: Save and load");
  // Save and load keep the dtype.
  const auto dir = scratch_dir("sweep_" + std::string(c10::toString(dtype)) + "_" + device.str());
  io::save_safetensors(io::state_dict(*base), dir / "base.safetensors");
  auto loaded = io::load_safetensors(dir / "base.safetensors");
  CHECK(loaded["conv1.weight"].scalar_type() == dtype);
  CHECK(torch::equal(loaded["conv1.weight"].to(device), base->named_parameters()["conv1.weight"]));

  INFO("sweep step: Inference optimisation");
  // Inference optimisation folds BatchNorm in the model's dtype.
  base->eval();
  torch::Tensor before;
  {
    torch::NoGradGuard no_grad;
    before = base->forward(x).to(torch::kDouble);
  }
  optimize_for_inference(*base);
  torch::NoGradGuard no_grad;
  auto after = base->forward(x);
  check_follows(after, device, dtype, "optimize_for_inference");
  const double tolerance = dtype == torch::kBFloat16 ? 0.1 : 1e-4;
  CHECK((after.to(torch::kDouble) - before).abs().max().item<double>() <=
        tolerance * (1 + before.abs().max().item<double>()));
}

}  // namespace tlearn::test
