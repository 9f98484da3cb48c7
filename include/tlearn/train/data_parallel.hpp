#pragma once
/// \file
/// Data-parallel training, as torch's DistributedDataParallel does it: every
/// process holds the whole model, trains on its own part of each batch, and the
/// gradients are averaged across processes before each optimizer update. The
/// Trainer does this by itself once tlearn::distributed::init() joined a job of
/// more than one process; TrainerOptions::data_parallel tunes it.
///
/// DDP's reducer, step by step: the trained parameters (frozen ones take no
/// part) are laid out in buckets in reverse order, the order backward produces
/// their gradients. A hook on each parameter copies its gradient into its bucket
/// as autograd makes it; a full bucket starts its all-reduce at once, in bucket
/// order, while backward goes on with the layers below. After backward the
/// Trainer waits for the last buckets and writes the averages back. With
/// gradient accumulation only the group's last batch communicates (DDP's
/// no_sync), carrying the sum of the group's gradients.

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace tlearn {

struct DataParallelOptions {
  /// Gradients travel in buckets of about this many MiB (DDP's bucket_cap_mb);
  /// the first bucket is 1 MiB, so communication starts early in backward.
  TORCH_ARG(double, bucket_cap_mb) = 25;
  /// Copy rank 0's buffers (BatchNorm's running statistics) to every process
  /// before each training step, as DDP's broadcast_buffers does.
  TORCH_ARG(bool, broadcast_buffers) = true;
  /// Normalise every BatchNorm layer that trains with the statistics of the
  /// whole batch across processes (torch's SyncBatchNorm), instead of each
  /// process's part (DDP's default). Layers kept in inference mode are not affected.
  TORCH_ARG(bool, sync_batchnorm) = false;
};

/// What a data-parallel Trainer communicated so far.
struct DataParallelStats {
  int64_t reductions = 0;  ///< gradient averagings (optimizer updates)
  int64_t buckets = 0;     ///< all-reduces of buckets
  int64_t bytes = 0;       ///< gradient bytes this process sent into all-reduces
  /// Buckets whose all-reduce started while backward was still running.
  int64_t buckets_during_backward = 0;
  /// Seconds from the end of backward until the last bucket was averaged: the
  /// communication backward did not hide.
  double wait_seconds = 0;
};

/// The gradient averaging of one model's trained parameters. Used by the Trainer;
/// usable with a training loop of your own: prepare(), backward, finish().
class DataParallel {
 public:
  /// `parameters`: those the optimizer updates, in the module's order.
  DataParallel(torch::nn::Module& module, std::vector<torch::Tensor> parameters, DataParallelOptions options = {});
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  /// Copies rank 0's parameters and buffers to every process (at the start of training).
  void broadcast_state();
  /// Copies rank 0's buffers to every process (before a step; a no-op without buffers).
  void broadcast_buffers();
  /// Before a backward pass: `sync` false while accumulating gradients locally.
  void prepare(bool sync);
  /// After the backward pass: when prepared with sync, every trained parameter's
  /// gradient becomes its average over the processes.
  void finish();

  const DataParallelStats& stats() const;
  const DataParallelOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tlearn
