#pragma once
/// \file
/// Many processes, one training job, on LibTorch's own engine (c10d): a TCPStore
/// rendezvous and a Gloo process group, which reduces CPU tensors and, in a CUDA
/// build of LibTorch, CUDA tensors through the host (NCCL is not wired in yet;
/// see README, Distributed training). Start the processes with torchrun or with
/// tlearn-run, then call init() first thing in main():
///
///     tlearn::distributed::init();          // reads torchrun's RANK, WORLD_SIZE, MASTER_ADDR, ...
///     tlearn::Trainer trainer(model, options);   // trains data-parallel from here on
///
/// A program started alone (no WORLD_SIZE in its environment) runs as a job of
/// one process, so the same binary serves both. After init() the Trainer
/// averages gradients across processes, every data::Loader reads its 1/world of
/// each epoch, and only rank 0 prints and writes files (train/data_parallel.hpp).
///
/// A peer that dies or stops answering makes the next collective throw
/// tlearn::Error within the timeout, naming the ranks that are gone.

#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace tlearn::distributed {

/// Where this process sits in the job: torchrun's environment variables.
struct Environment {
  int rank = 0;              ///< RANK
  int world_size = 1;        ///< WORLD_SIZE
  int local_rank = 0;        ///< LOCAL_RANK: this process's index on its machine (its GPU)
  int local_world_size = 1;  ///< LOCAL_WORLD_SIZE
  std::string master_addr = "127.0.0.1";  ///< MASTER_ADDR: the host of rank 0's store
  int master_port = 29500;                ///< MASTER_PORT
  /// TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent already serves the store
  /// on MASTER_PORT, so rank 0 connects to it instead of starting one.
  bool agent_store = false;
  int restart_count = 0;  ///< TORCHELASTIC_RESTART_COUNT: keys of an earlier attempt are not reused

  /// Reads the variables; a job of one process when WORLD_SIZE is unset. Throws
  /// tlearn::Error naming a variable that is malformed or out of range.
  static Environment from_env();
};

struct InitOptions {
  /// "gloo" or "auto" (today also Gloo); anything else is refused by name.
  TORCH_ARG(std::string, backend) = "auto";
  /// How long a rendezvous or a collective waits for a peer before giving up.
  TORCH_ARG(std::chrono::milliseconds, timeout) = std::chrono::minutes(10);
};

/// Joins the job described by the environment (torchrun's variables). Does
/// nothing for a job of one process. Throws tlearn::Error when a peer never
/// arrives within the timeout, or when this tlearn was built without c10d.
void init(const InitOptions& options = {});
/// Joins the job `env` describes.
void init(const Environment& env, const InitOptions& options = {});
/// Leaves the job (also at exit). init() may be called again afterwards.
void shutdown();

/// True between init() of a job of more than one process and shutdown().
bool is_initialized();
/// True where tlearn was built with c10d (Gloo): otherwise init() of more than one process throws.
bool available();
int rank();
int world_size();
int local_rank();
/// Rank 0: the process that prints and writes files.
inline bool is_main_process() { return rank() == 0; }
/// The device this process trains on: cuda:LOCAL_RANK when CUDA is available, else the CPU.
torch::Device device();
/// The backend in use ("gloo" or "nccl"); "" when not initialised.
std::string backend();

/// Waits until every process has arrived.
void barrier();
/// Sums each tensor across processes, in place (dense, contiguous tensors).
void all_reduce_sum(std::vector<torch::Tensor>& tensors);
/// Copies `root`'s tensors into every other process's, in place.
void broadcast(std::vector<torch::Tensor>& tensors, int root = 0);
/// Every process's `t` (the first dimension may differ between processes),
/// concatenated along it in rank order.
torch::Tensor all_gather_cat(const torch::Tensor& t);

/// Rows of data-set samples from every process, in data-set order: each of
/// `rows` (first dimension = samples) is gathered from all processes and sorted
/// by the samples' data-set `indices`. With one process, only sorted.
std::vector<torch::Tensor> gather_in_index_order(std::vector<torch::Tensor> rows, const std::vector<int64_t>& indices);

/// An all-reduce under way; wait() blocks until it is done and throws what it met.
class PendingReduction {
 public:
  PendingReduction() = default;
  explicit PendingReduction(std::function<void()> wait) : wait_(std::move(wait)) {}
  void wait() {
    if (wait_) {
      auto w = std::move(wait_);
      wait_ = nullptr;
      w();
    }
  }

 private:
  std::function<void()> wait_;
};

/// Starts summing `tensors` across processes in the background (the data-parallel
/// Trainer overlaps this with the rest of the backward pass).
PendingReduction all_reduce_sum_async(std::vector<torch::Tensor> tensors);

}  // namespace tlearn::distributed
