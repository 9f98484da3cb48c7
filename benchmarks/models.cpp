// Inference and training-step throughput of tlearn backbones (images/s), one
// JSON line per row. The Python twin is models.py; run.sh runs both.
//   models inference <name> <batch> [--optimized] [--dtype float32|bfloat16] [--repeats N]
//   models train <name> <batch> [--freeze-half] [--plain]
// Training runs with what tlearn::Trainer does by default on the CPU (channels_last,
// freed memory kept for reuse); --plain measures without both.
#include <tlearn/tlearn.hpp>

#include <iostream>
#include <string>

#include "timing.hpp"

namespace tl = tlearn;

int main(int argc, char** argv) try {
  if (argc < 4) {
    std::cerr << "usage: models inference|train <name> <batch> [--optimized] [--freeze-half] [--threads N]\n";
    return 2;
  }
  std::string mode = argv[1], name = argv[2];
  int64_t batch = std::stoll(argv[3]);
  bool optimized = false, freeze_half = false, plain = false, prepack = true;
  int threads = 2, size = 224, repeats = 0;
  std::string dtype_name = "float32";
  for (int i = 4; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--optimized") optimized = true;
    else if (a == "--no-prepack") prepack = false;
    else if (a == "--freeze-half") freeze_half = true;
    else if (a == "--plain") plain = true;
    else if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (a == "--size" && i + 1 < argc) size = std::stoi(argv[++i]);
    else if (a == "--repeats" && i + 1 < argc) repeats = std::stoi(argv[++i]);  // longer runs for a profiler
    else if (a == "--dtype" && i + 1 < argc) dtype_name = argv[++i];
    else throw tl::Error("unknown argument " + a);
  }
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  if (dtype_name != "float32" && dtype_name != "bfloat16")
    throw tl::Error("--dtype must be float32 or bfloat16, got " + dtype_name);
  const auto dtype = dtype_name == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
  auto model = tl::make_backbone(name);
  auto x = torch::randn({batch, 3, size, size});
  double seconds = 0, max_abs_diff = -1;
  torch::Tensor reference;  // the plain fp32 model's output, which the optimized or bf16 one must stay near
  if (mode == "inference" && (optimized || dtype != torch::kFloat32)) {
    model->eval();
    c10::InferenceMode guard;
    reference = model->forward(x);
  }
  model->to(dtype);
  x = x.to(dtype);
  const int train_repeats = repeats > 0 ? repeats : 3;
  if (repeats <= 0) repeats = batch == 1 ? 15 : 5;
  if (mode == "inference") {
    model->eval();
    if (optimized) tl::optimize_for_inference(*model, tl::InferenceOptions().prepack_weights(prepack));
    torch::Tensor y;
    seconds = tl::bench::median_seconds([&] {
      c10::InferenceMode guard;
      y = model->forward(x);
    }, 2, repeats);
    if (reference.defined()) max_abs_diff = (y.to(torch::kFloat32) - reference).abs().max().item<double>();
  } else if (mode == "train") {
    model->train();
    if (!plain) {
      model->set_memory_format(torch::MemoryFormat::ChannelsLast);
      tl::reuse_freed_cpu_memory();
    }
    if (freeze_half) model->set_trainable(tl::first(static_cast<int64_t>(model->layers().size() / 2)), false);
    torch::optim::SGD sgd(model->trainable_parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
    auto labels = torch::randint(0, 1000, {batch});
    seconds = tl::bench::median_seconds([&] {
      sgd.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(model->forward(x), labels);
      loss.backward();
      sgd.step();
    }, 1, train_repeats);
  } else {
    throw tl::Error("mode must be inference or train, got " + mode);
  }
  std::cout << "{\"impl\": \"tlearn\", \"mode\": \"" << mode << (optimized ? "-optimized" : "")
            << (freeze_half ? "-freeze-half" : "") << (plain ? "-plain" : "") << "\", \"model\": \"" << name << "\", \"batch\": " << batch
            << ", \"dtype\": \"" << dtype_name << "\", \"images_per_s\": " << batch / seconds;
  if (max_abs_diff >= 0)  // against the plain fp32 model's logits, whose largest magnitude is logit_max_abs
    std::cout << ", \"max_abs_diff\": " << max_abs_diff << ", \"logit_max_abs\": " << reference.abs().max().item<double>();
  std::cout << "}" << std::endl;
  return 0;
} catch (const std::exception& e) {
  std::cerr << "models: " << e.what() << "\n";
  return 1;
}
