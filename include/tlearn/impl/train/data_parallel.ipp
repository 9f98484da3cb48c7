// Implementation of tlearn/train/data_parallel.hpp.
#include <chrono>
#include <mutex>

#include "tlearn/core/batch_norm.hpp"
#include "tlearn/core/distributed.hpp"
#include "tlearn/core/error.hpp"
#include "tlearn/train/data_parallel.hpp"

namespace tlearn {

struct DataParallel::Impl {
  struct Slot {
    torch::Tensor param;
    size_t bucket = 0;
    int64_t offset = 0;
    bool ready = false;
  };
  struct Bucket {
    torch::Tensor flat;  // the gradients of its slots, back to back
    std::vector<size_t> slots;
    size_t pending = 0;
    distributed::PendingReduction reduction;
  };

  torch::nn::Module& module;
  DataParallelOptions options;
  std::vector<Slot> slots;
  std::vector<Bucket> buckets;
  std::vector<std::pair<torch::Tensor, unsigned>> hooks;
  std::mutex mutex;  // hooks run on autograd's device threads
  bool syncing = false;
  size_t next_launch = 0;
  DataParallelStats stats;

  Impl(torch::nn::Module& m, std::vector<torch::Tensor> parameters, DataParallelOptions o) : module(m), options(o) {
    if (options.bucket_cap_mb() <= 0) throw Error("DataParallelOptions: bucket_cap_mb must be positive");
    const int64_t cap = std::max<int64_t>(1, int64_t(options.bucket_cap_mb() * 1024 * 1024));
    const int64_t first_cap = std::min<int64_t>(cap, 1024 * 1024);
    // Reverse order: backward makes the last layers' gradients first.
    int64_t bytes = 0;
    for (auto it = parameters.rbegin(); it != parameters.rend(); ++it) {
      const auto& p = *it;
      const int64_t size = p.numel() * int64_t(p.element_size());
      const bool fresh = buckets.empty() || bytes >= (buckets.size() == 1 ? first_cap : cap) ||
                         buckets.back().flat.scalar_type() != p.scalar_type() || buckets.back().flat.device() != p.device();
      if (fresh) {
        buckets.emplace_back();
        buckets.back().flat = torch::empty({0}, p.options());
        bytes = 0;
      }
      auto& b = buckets.back();
      slots.push_back({p, buckets.size() - 1, b.flat.numel(), false});
      b.slots.push_back(slots.size() - 1);
      b.flat = torch::empty({b.flat.numel() + p.numel()}, p.options().requires_grad(false));
      bytes += size;
    }
    if (options.sync_batchnorm())
      for (auto& child : module.modules())
        if (auto* bn = dynamic_cast<nn::BatchNorm2dImpl*>(child.get())) bn->set_synchronized(true);
    for (size_t i = 0; i < slots.size(); ++i) {
      auto p = slots[i].param;
      hooks.emplace_back(p, p.register_hook([this, i](torch::Tensor grad) { on_gradient(i, grad); }));
    }
  }

  ~Impl() {
    for (auto& [p, h] : hooks) p.remove_hook(h);
  }

  torch::Tensor view(size_t i) {
    const auto& s = slots[i];
    return buckets[s.bucket].flat.narrow(0, s.offset, s.param.numel()).view(s.param.sizes());
  }

  /// The gradient AccumulateGrad is about to store: this pass's plus what the group accumulated so far.
  void on_gradient(size_t i, const torch::Tensor& grad) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!syncing || slots[i].ready) return;
    torch::NoGradGuard no_grad;
    auto v = view(i);
    v.copy_(grad);
    const auto& accumulated = slots[i].param.grad();
    if (accumulated.defined()) v.add_(accumulated);
    mark_ready(i, true);
  }

  void mark_ready(size_t i, bool in_backward) {
    slots[i].ready = true;
    --buckets[slots[i].bucket].pending;
    // Buckets start in order, the same on every process: collectives must match.
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
      auto& b = buckets[next_launch++];
      b.reduction = distributed::all_reduce_sum_async({b.flat});
      ++stats.buckets;
      stats.bytes += b.flat.numel() * int64_t(b.flat.element_size());
      if (in_backward) ++stats.buckets_during_backward;
    }
  }
};

DataParallel::DataParallel(torch::nn::Module& module, std::vector<torch::Tensor> parameters, DataParallelOptions options)
    : impl_(std::make_unique<Impl>(module, std::move(parameters), options)) {}

DataParallel::~DataParallel() = default;

void DataParallel::broadcast_state() {
  std::vector<torch::Tensor> state;
  for (auto& p : impl_->module.parameters()) state.push_back(p);
  for (auto& b : impl_->module.buffers()) state.push_back(b);
  distributed::broadcast(state, 0);
}

void DataParallel::broadcast_buffers() {
  if (!impl_->options.broadcast_buffers()) return;
  auto buffers = impl_->module.buffers();
  if (!buffers.empty()) distributed::broadcast(buffers, 0);
}

void DataParallel::prepare(bool sync) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->syncing = sync;
  impl_->next_launch = 0;
  for (auto& s : impl_->slots) s.ready = false;
  for (auto& b : impl_->buckets) b.pending = b.slots.size();
}

void DataParallel::finish() {
  auto& m = *impl_;
  if (!m.syncing) return;
  const auto t0 = std::chrono::steady_clock::now();
  {
    // Parameters backward did not reach this time (an unused branch) send what they hold.
    std::lock_guard<std::mutex> lock(m.mutex);
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < m.slots.size(); ++i)
      if (!m.slots[i].ready) {
        const auto& g = m.slots[i].param.grad();
        if (g.defined()) m.view(i).copy_(g);
        else m.view(i).zero_();
        m.mark_ready(i, false);
      }
  }
  for (auto& b : m.buckets) b.reduction.wait();
  torch::NoGradGuard no_grad;
  const double world = double(distributed::world_size());
  for (size_t i = 0; i < m.slots.size(); ++i) {
    auto& p = m.slots[i].param;
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    p.mutable_grad().copy_(m.view(i)).div_(world);
  }
  m.syncing = false;
  ++m.stats.reductions;
  m.stats.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

const DataParallelStats& DataParallel::stats() const { return impl_->stats; }
const DataParallelOptions& DataParallel::options() const { return impl_->options; }

}  // namespace tlearn
