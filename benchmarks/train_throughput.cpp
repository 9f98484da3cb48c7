// Training throughput (images/s) of fine-tuning a backbone + new head with tlearn's
// Trainer; benchmarks/gpu/train_reference.py runs the same loop in PyTorch Python.
//
//     train_throughput [model=resnet50] [batch=64] [size=224] [steps=50] [bf16=1] [channels_last=1]
//
// Synthetic data: 8 distinct batches in pinned memory (copied non-blocking), SGD
// momentum 0.9, cross-entropy, 10 classes, every layer trainable. 10 warm-up steps
// are not timed. On a machine without CUDA it runs on the CPU (bf16 is then off).
#include <tlearn/tlearn.hpp>

#include <chrono>
#include <iostream>

namespace tl = tlearn;

int main(int argc, char** argv) try {
  const std::string name = argc > 1 ? argv[1] : "resnet50";
  const int64_t batch = argc > 2 ? std::stoll(argv[2]) : 64, size = argc > 3 ? std::stoll(argv[3]) : 224;
  const int64_t steps = argc > 4 ? std::stoll(argv[4]) : 50;
  const bool bf16 = argc > 5 ? std::stoi(argv[5]) != 0 : true, channels_last = argc > 6 ? std::stoi(argv[6]) != 0 : true;
  const bool cuda = torch::cuda::is_available();
  torch::manual_seed(0);
  auto base = tl::make_backbone(name, tl::BackboneOptions().include_top(false).input_shape({size, size}));
  tl::Classifier model(base, tl::Head(tl::HeadOptions(base->output_channels()).classes(10)));
  tl::Trainer trainer(model, tl::TrainerOptions().optimizer(tl::optim::SGD(0.01).momentum(0.9)).verbose(0)
                                 .precision(bf16 ? tl::Precision::BF16 : tl::Precision::FP32).channels_last(channels_last).metrics({}));
  std::vector<tl::data::Batch> batches(8);
  for (auto& b : batches) {
    auto opts = torch::TensorOptions().dtype(torch::kFloat).pinned_memory(cuda);
    b.images = torch::empty({batch, 3, size, size}, opts).normal_();
    b.labels = torch::randint(10, {batch}, torch::TensorOptions().dtype(torch::kLong).pinned_memory(cuda));
  }
  auto run = [&](int64_t n) {
    std::vector<tl::data::Batch> plan;
    for (int64_t i = 0; i < n; ++i) plan.push_back(batches[size_t(i) % batches.size()]);
    trainer.fit(plan, tl::FitOptions().epochs(1));
    if (cuda) torch::cuda::synchronize();
  };
  run(10);  // warm-up: cuDNN autotuning, allocator
  const auto t0 = std::chrono::steady_clock::now();
  run(steps);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "tlearn C++ " << name << " batch " << batch << " " << size << "x" << size << " on "
            << (cuda ? "CUDA" : "CPU") << (cuda && bf16 ? " bf16" : "") << (channels_last ? " channels_last" : "")
            << ": " << double(steps * batch) / s << " images/s\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "train_throughput: " << e.what() << "\n";
  return 1;
}
