// A tlearn program for the distributed tests. Started as many processes (by
// tlearn-run, torchrun or the test itself) or alone, it fine-tunes a small
// resnet18 on real Fashion-MNIST images with the Trainer and writes, per rank,
// the weights it ends with, the epoch numbers, and its predictions and features
// on held-out images (every process must get all of them).
//
//   distributed_worker OUT [--batch B] [--accumulate K] [--freeze] [--epochs E] [--train-bn | --sync-bn] [--lr LR] [--steps N]
//                      [--checkpoint FILE] [--resume FILE] [--die-rank R --die-at-step S] [--timeout-ms T]
#include <signal.h>
#include <unistd.h>

#include <tlearn/tlearn.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

#include "../fashion_subset.hpp"

namespace tl = tlearn;

namespace {

/// Kills this process (SIGKILL: no cleanup, like a lost machine) at a batch of the last epoch.
struct DieAt : tl::Callback {
  bool armed = false;
  int64_t epoch = -1, last_epoch = 0, batch = 0;
  void on_epoch_begin(tl::TrainingContext&, int64_t e) override { epoch = e; }
  void on_batch_end(tl::TrainingContext&, int64_t b, double) override {
    if (armed && epoch == last_epoch && b == batch) raise(SIGKILL);
  }
};

/// Ends training after `steps` batches.
struct StopAfter : tl::Callback {
  int64_t steps = -1;
  void on_batch_end(tl::TrainingContext& ctx, int64_t b, double) override {
    if (b + 1 == steps) ctx.stop_training();
  }
};

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::cerr << "usage: distributed_worker OUT [options]\n";
    return 2;
  }
  const std::filesystem::path out = argv[1];
  int64_t batch = 4, accumulate = 1, epochs = 1, die_rank = -1, die_step = 0, timeout_ms = 20000;
  bool freeze = false, train_bn = false, sync_bn = false;
  double lr = 0.05;
  auto stop = std::make_shared<StopAfter>();
  std::string checkpoint, resume;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : throw tl::Error("worker: " + a + " needs a value"); };
    if (a == "--batch") batch = std::stoll(next());
    else if (a == "--accumulate") accumulate = std::stoll(next());
    else if (a == "--epochs") epochs = std::stoll(next());
    else if (a == "--freeze") freeze = true;
    else if (a == "--train-bn") train_bn = true;
    else if (a == "--lr") lr = std::stod(next());
    else if (a == "--steps") stop->steps = std::stoll(next());
    else if (a == "--sync-bn") train_bn = sync_bn = true;
    else if (a == "--checkpoint") checkpoint = next();
    else if (a == "--resume") resume = next();
    else if (a == "--die-rank") die_rank = std::stoll(next());
    else if (a == "--die-at-step") die_step = std::stoll(next());
    else if (a == "--timeout-ms") timeout_ms = std::stoll(next());
    else throw tl::Error("worker: unknown option " + a);
  }
  tl::distributed::init(tl::distributed::InitOptions().timeout(std::chrono::milliseconds(timeout_ms)));
  const int rank = tl::distributed::rank();
  torch::set_num_threads(1);

  auto train_data = tl::test::fashion_subset(true, 16, {0, 1, 7});   // 48 images
  auto held_out = tl::test::fashion_subset(false, 7, {0, 1, 7});     // 21: not a multiple of 2 or 4
  torch::manual_seed(rank == 0 ? 1 : 2);  // different on purpose: fit() starts every process from rank 0's weights
  auto base = tl::make_backbone("resnet18", tl::BackboneOptions().include_top(false).in_chans(1).input_shape({32, 32}));
  tl::Classifier model(base, tl::Head(tl::HeadOptions(base->output_channels()).classes(3)));
  // Per-process batch statistics differ from the union's: BatchNorm is frozen unless synchronised (or on purpose).
  if (!train_bn) base->set_batchnorm_frozen(tl::all(), true);
  if (freeze) base->set_trainable(tl::until("layer2.0.conv1"), false);

  tl::Trainer trainer(model, tl::TrainerOptions()
                                 .optimizer(tl::optim::SGD(lr).momentum(0.9))
                                 .gradient_accumulation_steps(accumulate)
                                 .device(torch::kCPU)
                                 .data_parallel(tl::DataParallelOptions().sync_batchnorm(sync_bn))
                                 .verbose(1));
  int64_t initial_epoch = 0;
  if (!resume.empty()) initial_epoch = trainer.load_checkpoint(resume);
  auto train = tl::data::loader(train_data, tl::data::Transform(), tl::data::LoaderOptions().batch_size(batch).seed(7).workers(1));
  auto val = tl::data::loader(held_out, tl::data::Transform(), tl::data::LoaderOptions().batch_size(4).shuffle(false).workers(0));
  tl::FitOptions fit = tl::FitOptions().epochs(epochs).initial_epoch(initial_epoch).validation(val);
  auto die = std::make_shared<DieAt>();
  if (rank == die_rank) die->armed = true, die->last_epoch = epochs - 1, die->batch = die_step;
  std::vector<tl::CallbackPtr> callbacks{die, stop};
  if (!checkpoint.empty())
    callbacks.push_back(std::make_shared<tl::ModelCheckpoint>(checkpoint, tl::ModelCheckpointOptions().full_state(true)));
  fit.callbacks(callbacks);
  std::vector<torch::Tensor> start;
  for (const auto& p : model->parameters()) start.push_back(p.detach().clone());
  auto history = trainer.fit(train, fit);

  // Every rank writes its own files here, to show they all hold the same.
  std::filesystem::create_directories(out);
  const auto me = "rank" + std::to_string(rank);
  history.write_csv(out / (me + ".csv"));
  tl::io::StateDict result;
  for (const auto& item : tl::io::state_dict(*model)) result.insert("model." + item.key(), item.value().contiguous());
  double moved = 0;  // how far the weights went from where this process started
  for (size_t i = 0; i < start.size(); ++i) moved = std::max(moved, (model->parameters()[i] - start[i]).abs().max().item<double>());
  result.insert("moved", torch::tensor(moved));
  result.insert("predict", trainer.predict(val));
  result.insert("features", tl::extract_features(base, val, tl::ExtractOptions().device(torch::kCPU)).images().contiguous());
  result.insert("confusion", trainer.report(val).confusion.to(torch::kFloat));
  tl::io::save_safetensors(result, out / (me + ".safetensors"));
  std::cout << "worker " << rank << " of " << tl::distributed::world_size() << " done\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "worker error: " << e.what() << '\n';
  return 1;
}
