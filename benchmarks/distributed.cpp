// Data-parallel training on CPUs: what one step communicates and how much of it
// backward hides. Run by benchmarks/distributed.sh as
//
//     tlearn-run -n 2 bench_distributed MODEL BATCH_PER_PROCESS [STEPS]
//     bench_distributed MODEL BATCH [STEPS]                 (one process, for the scaling row)
//
// Prints one JSON line (rank 0): images/s, seconds per step, gradient bytes
// all-reduced per step, the all-reduce of those bytes alone (no compute beside
// it), the part of it the step still waited for after backward, and the share
// of buckets that started while backward ran.
#include <tlearn/tlearn.hpp>

#include <cstdio>
#include <iostream>

#include "timing.hpp"

namespace tl = tlearn;

int main(int argc, char** argv) try {
  if (argc < 3) {
    std::cerr << "usage: bench_distributed MODEL BATCH_PER_PROCESS [STEPS]\n";
    return 2;
  }
  const std::string name = argv[1];
  const int64_t batch = std::stoll(argv[2]), steps = argc > 3 ? std::stoll(argv[3]) : 8;
  tl::distributed::init();
  const int world = tl::distributed::world_size();

  torch::manual_seed(0);
  auto base = tl::make_backbone(name, tl::BackboneOptions().include_top(false).input_shape({64, 64}));
  tl::Classifier model(base, tl::Head(tl::HeadOptions(base->output_channels()).classes(10)));
  base->set_batchnorm_frozen(tl::all(), true);  // the fine-tuning default
  // Random images: the step's arithmetic, not the data, is what this measures.
  const int64_t samples = batch * world * (steps + 2);
  tl::data::TensorDataset data(torch::rand({samples, 3, 64, 64}), torch::randint(0, 10, {samples}));
  auto loader = tl::data::loader(data, tl::data::Transform(), tl::data::LoaderOptions().batch_size(batch).workers(1));
  tl::Trainer trainer(model, tl::TrainerOptions().optimizer(tl::optim::SGD(0.01).momentum(0.9)).verbose(0));

  trainer.fit(loader, tl::FitOptions().epochs(1));  // warm-up epoch: allocator, oneDNN kernels, buckets
  const auto before = trainer.data_parallel() ? trainer.data_parallel()->stats() : tl::DataParallelStats();
  const auto t0 = std::chrono::steady_clock::now();
  trainer.fit(loader, tl::FitOptions().initial_epoch(1).epochs(2));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t done_steps = int64_t(loader.size());

  double bytes = 0, wait = 0, during = 0, alone = 0;
  int64_t buckets = 0;
  if (const auto* dp = trainer.data_parallel()) {
    const auto& s = dp->stats();
    const double n = double(s.reductions - before.reductions);
    bytes = double(s.bytes - before.bytes) / n;
    wait = (s.wait_seconds - before.wait_seconds) / n;
    buckets = (s.buckets - before.buckets) / int64_t(n);
    during = double(s.buckets_during_backward - before.buckets_during_backward) / double(s.buckets - before.buckets);
    // The same bytes all-reduced with nothing else running: the step's communication unhidden.
    std::vector<torch::Tensor> flat{torch::zeros({int64_t(bytes / 4)})};
    alone = tl::bench::median_seconds([&] { tl::distributed::all_reduce_sum(flat); }, 1, 5);
  }
  if (tl::distributed::is_main_process()) {
    std::printf(
        "{\"libtorch\": \"%d.%d.%d\", \"model\": \"%s\", \"processes\": %d, \"threads\": %d, \"batch_per_process\": %lld, \"step_s\": %.4f, "
        "\"images_per_s\": %.2f, \"allreduce_mb_per_step\": %.2f, \"buckets_per_step\": %lld, "
        "\"buckets_started_in_backward\": %.2f, \"allreduce_alone_s\": %.4f, \"waited_after_backward_s\": %.4f}\n",
        TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, TORCH_VERSION_PATCH, name.c_str(), world, torch::get_num_threads(), (long long)batch, seconds / double(done_steps),
        double(done_steps * batch * world) / seconds, bytes / 1e6, (long long)buckets, during, alone, wait);
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bench_distributed: " << e.what() << '\n';
  return 1;
}
