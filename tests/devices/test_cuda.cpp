// The `cuda` label: the public-path sweep and mixed-precision training on a CUDA
// device. Without one, each test prints "SKIPPED: ..." and ctest reports it skipped.
#include "../sweep.hpp"

namespace {
bool cuda_or_skip() {
  if (torch::cuda::is_available()) return true;
  std::cout << "SKIPPED: no CUDA device here\n";
  return false;
}
}  // namespace

TEST_CASE("CUDA: every public path runs on a float32 and a bfloat16 model", "[cuda]") {
  if (!cuda_or_skip()) return;
  tlearn::test::run_public_api_sweep(torch::kCUDA, torch::kFloat);
  tlearn::test::run_public_api_sweep(torch::kCUDA, torch::kBFloat16);
}

TEST_CASE("CUDA: bf16 and fp16 (loss-scaled) training learn", "[cuda]") {
  if (!cuda_or_skip()) return;
  namespace tl = tlearn;
  for (auto precision : {tl::Precision::BF16, tl::Precision::FP16}) {
    auto base = tl::make_backbone("resnet18", tl::BackboneOptions().include_top(false).input_shape({64, 64}));
    tl::Classifier model(base, tl::Head(tl::HeadOptions(base->output_channels()).classes(3)));
    tl::Trainer trainer(model, tl::TrainerOptions().device(torch::kCUDA).verbose(0).precision(precision)
                                   .optimizer(tl::optim::Adam(1e-3)).metrics({tl::metrics::accuracy()}));
    auto batches = tl::test::sweep_batches(48, 16);
    auto h = trainer.fit(batches, tl::FitOptions().epochs(5));
    INFO(tl::to_string(precision));
    CHECK(h["loss"].back() < h["loss"].front());
    for (const auto& p : model->parameters()) CHECK(p.scalar_type() == torch::kFloat);
  }
}
