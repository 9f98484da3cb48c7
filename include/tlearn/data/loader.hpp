#pragma once
/// \file
/// A multi-threaded batch loader. N worker threads each build whole batches
/// (decode, transform, write into one contiguous NCHW tensor) ahead of the
/// consumer, up to `workers * prefetch` batches. Batches come out in a fixed
/// order whatever the thread timing: epoch e shuffles with (seed, e), and the
/// augmentation of each sample is seeded with (seed, e, sample index).
///
///     auto train = tlearn::data::loader(dataset, tlearn::data::TrainTransform().size({224, 224}).flip(),
///                                       tlearn::data::LoaderOptions().batch_size(32).seed(42).workers(4));
///     for (int epoch = 0; epoch < 5; ++epoch)
///       for (auto& batch : train) step(batch.images, batch.labels);   // each loop is one epoch
///
/// A file that fails to decode is skipped (the batch is one shorter), counted in
/// `skipped()` and reported on std::cerr with its path; with OnError::Throw the
/// loop throws tlearn::Error naming the file instead. Any exception inside a
/// worker reaches the consumer at its batch; destroying the loader mid-epoch
/// stops and joins the workers. The pixel kernels are plain loops (no intra-op
/// torch threads), so workers do not compete with the training thread pool.
///
/// In a job of many processes (core/distributed.hpp) each process reads its
/// own part of every epoch, as torch's DistributedSampler splits it: the epoch's
/// order (shuffled alike everywhere) is padded with its first samples to a
/// multiple of the process count, and rank r takes positions r, r + world, ...
/// The repeated samples are counted in Batch::padding; evaluation leaves them out.

#include <torch/torch.h>

#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "tlearn/core/distributed.hpp"
#include "tlearn/data/dataset.hpp"
#include "tlearn/data/transforms.hpp"
#include "tlearn/detail/random.hpp"

namespace tlearn::data {

enum class OnError { Skip, Throw };

/// A sample the loader left out because its image could not be read.
struct SkippedSample {
  int64_t epoch = 0;
  size_t index = 0;
  std::string source;  // the file path (Dataset::describe)
  std::string reason;
};

struct LoaderOptions {
  TORCH_ARG(int64_t, batch_size) = 32;
  TORCH_ARG(bool, shuffle) = true;
  /// Seeds the shuffle and every sample's augmentation.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Threads building batches; 0 builds them on the consuming thread.
  TORCH_ARG(int, workers) = 2;
  /// Batches ready ahead, per worker.
  TORCH_ARG(int, prefetch) = 2;
  /// Drop a last batch smaller than batch_size (decided before skipping).
  TORCH_ARG(bool, drop_last) = false;
  TORCH_ARG(OnError, on_error) = OnError::Skip;
  /// Page-locked batches when CUDA is available.
  TORCH_ARG(bool, pin_memory) = true;
  /// Called for each skipped sample (default: one line on std::cerr). Called under a lock.
  TORCH_ARG(std::function<void(const SkippedSample&)>, on_skip) = {};
  /// In a job of many processes, read only this process's part of each epoch
  /// (see above); false: every process reads everything.
  TORCH_ARG(bool, shard) = true;
};

struct Batch {
  torch::Tensor images;         ///< (N, C, H, W) float, contiguous
  torch::Tensor labels;         ///< (N) int64; a SampleFn's targets stacked, e.g. masks (N, H, W)
  std::vector<size_t> indices;  ///< data set indices of the N samples
  /// The last `padding` samples repeat others to give every process as many
  /// (a sharded loader's last batch); training uses them, evaluation does not.
  size_t padding = 0;
  size_t size() const { return indices.size(); }
};

namespace detail {
using tlearn::detail::mix64;
/// The augmentation seed of one sample in one epoch.
inline uint64_t sample_seed(uint64_t seed, int64_t epoch, size_t index) {
  return mix64(mix64(mix64(seed) ^ uint64_t(epoch)) ^ uint64_t(index));
}
}  // namespace detail

/// Makes sample `index` with the randomness of `seed`: the model's input and its
/// target (a mask, a box list made dense, ...). For data that is not an image with
/// a class label; segmentation_loader (data/segmentation.hpp) is one.
using SampleFn = std::function<std::pair<torch::Tensor, torch::Tensor>(size_t index, uint64_t seed)>;

class Loader {
  struct Impl;

 public:
  Loader(DatasetPtr dataset, Transform transform, LoaderOptions options);
  /// `size` samples made by `sample` (called from the worker threads, so it must be
  /// thread-safe); batches hold the inputs and the targets stacked.
  Loader(size_t size, SampleFn sample, LoaderOptions options);

  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = Batch*;
    using reference = Batch&;
    Iterator() = default;
    Batch& operator*() { return batch_; }
    Batch* operator->() { return &batch_; }
    Iterator& operator++() {
      if (!impl_->next(batch_)) impl_ = nullptr;
      return *this;
    }
    bool operator==(const Iterator& o) const { return impl_ == o.impl_; }
    bool operator!=(const Iterator& o) const { return impl_ != o.impl_; }

   private:
    friend class Loader;
    explicit Iterator(Impl* impl) : impl_(impl) { ++*this; }
    Impl* impl_ = nullptr;
    Batch batch_;
  };

  /// Starts the next epoch (stopping an unfinished one) and returns its first batch.
  Iterator begin() {
    impl_->start();
    return Iterator(impl_.get());
  }
  Iterator end() { return Iterator(); }

  /// Batches per epoch (before skipping).
  size_t size() const { return impl_->num_batches(); }
  /// The epoch the next begin() starts; set it to resume training.
  int64_t next_epoch() const { return impl_->next_epoch; }
  void set_epoch(int64_t e) { impl_->next_epoch = e; }
  const DatasetPtr& dataset() const { return impl_->dataset; }
  const LoaderOptions& options() const { return impl_->options; }
  /// Every sample skipped so far (all epochs).
  std::vector<SkippedSample> skipped() const;

 private:
  struct Impl {
    DatasetPtr dataset;
    Transform transform;
    SampleFn sample_fn;  // instead of dataset and transform
    size_t sample_count = 0;
    LoaderOptions options;
    int64_t next_epoch = 0;
    bool pin = false;  // page-locked batches
    mutable std::mutex skip_mutex;
    mutable std::vector<SkippedSample> skipped;

    // The running epoch.
    struct Ready {
      Batch batch;
      std::exception_ptr error;
    };
    int64_t epoch = 0;
    std::vector<std::vector<size_t>> plan;
    std::vector<size_t> plan_real;  // how many of each batch's samples are not shard padding
    std::mutex m;
    std::condition_variable work_cv, ready_cv;
    size_t next_claim = 0, next_yield = 0;
    std::map<size_t, Ready> ready;
    bool stopping = false;
    std::vector<std::thread> threads;

    Impl(DatasetPtr d, Transform t, SampleFn f, size_t count, LoaderOptions o)
        : dataset(std::move(d)), transform(std::move(t)), sample_fn(std::move(f)), sample_count(count), options(std::move(o)) {
      if (!dataset && !sample_fn) throw Error("loader: the data set is null");
      if (options.batch_size() <= 0) throw Error("loader: LoaderOptions::batch_size must be positive");
      if (options.workers() < 0) throw Error("loader: LoaderOptions::workers must be >= 0");
      if (options.prefetch() < 1) options.prefetch(1);
      pin = options.pin_memory() && torch::cuda::is_available();
      if (!options.on_skip())
        options.on_skip([](const SkippedSample& s) {
          std::cerr << "tlearn loader: skipped '" << s.source << "': " << s.reason << '\n';
        });
    }
    ~Impl() { stop(); }

    size_t samples() const { return dataset ? dataset->size() : sample_count; }
    std::string describe(size_t i) const { return dataset ? dataset->describe(i) : "sample " + std::to_string(i); }

    /// The processes this loader's epochs are split between, and this one's place.
    std::pair<size_t, size_t> shard() const {
      if (!options.shard()) return {0, 1};
      return {size_t(distributed::rank()), size_t(distributed::world_size())};
    }
    /// Samples per epoch in this process (with padding).
    size_t shard_samples() const {
      const size_t world = shard().second;
      return (samples() + world - 1) / world;
    }

    size_t num_batches() const {
      const size_t n = shard_samples(), b = size_t(options.batch_size());
      return options.drop_last() ? n / b : (n + b - 1) / b;
    }

    void stop() {
      {
        std::lock_guard<std::mutex> lock(m);
        stopping = true;
      }
      work_cv.notify_all();
      for (auto& t : threads) t.join();
      threads.clear();
    }

    void start() {
      stop();
      epoch = next_epoch++;
      std::vector<size_t> order(samples());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      if (options.shuffle()) {
        std::mt19937_64 rng(detail::mix64(options.seed() ^ detail::mix64(uint64_t(epoch))));
        for (size_t k = order.size(); k > 1; --k) std::swap(order[k - 1], order[rng() % k]);
      }
      const auto [rank, world] = shard();
      size_t real = order.size();
      if (world > 1) {  // DistributedSampler: pad with the first samples, take every world-th
        const size_t n = order.size();
        std::vector<size_t> mine;
        for (size_t p = rank; p < shard_samples() * world; p += world) mine.push_back(order[n ? p % n : 0]);
        real = n > rank ? (n - rank + world - 1) / world : 0;
        order = std::move(mine);
      }
      plan.assign(num_batches(), {});
      plan_real.assign(plan.size(), 0);
      for (size_t b = 0; b < plan.size(); ++b) {
        const size_t lo = b * size_t(options.batch_size()), hi = std::min(order.size(), lo + size_t(options.batch_size()));
        plan[b].assign(order.begin() + long(lo), order.begin() + long(hi));
        plan_real[b] = std::min(hi, std::max(lo, real)) - lo;
      }
      next_claim = next_yield = 0;
      ready.clear();
      stopping = false;
      for (int w = 0; w < options.workers(); ++w) threads.emplace_back([this] { work(); });
    }

    void work() {
      while (true) {
        size_t b;
        {
          std::unique_lock<std::mutex> lock(m);
          const size_t capacity = size_t(options.workers()) * size_t(options.prefetch());
          work_cv.wait(lock, [&] { return stopping || next_claim >= plan.size() || next_claim < next_yield + capacity; });
          if (stopping || next_claim >= plan.size()) return;
          b = next_claim++;
        }
        Ready r;
        try {
          r.batch = build(plan[b], plan_real[b]);
        } catch (...) {
          r.error = std::current_exception();
        }
        {
          std::lock_guard<std::mutex> lock(m);
          ready[b] = std::move(r);
        }
        ready_cv.notify_all();
      }
    }

    /// The next non-empty batch of the epoch; false at its end.
    bool next(Batch& out) {
      while (true) {
        Ready r;
        {
          std::unique_lock<std::mutex> lock(m);
          if (next_yield >= plan.size()) return false;
          if (options.workers() == 0) {
            const size_t b = next_yield++;
            lock.unlock();
            r.batch = build(plan[b], plan_real[b]);  // exceptions go straight to the caller
          } else {
            ready_cv.wait(lock, [&] { return ready.count(next_yield) > 0; });
            auto it = ready.find(next_yield);
            r = std::move(it->second);
            ready.erase(it);
            ++next_yield;
          }
        }
        work_cv.notify_all();
        if (r.error) {
          stop();
          {
            std::lock_guard<std::mutex> lock(m);
            next_yield = plan.size();  // the epoch ends here
          }
          std::rethrow_exception(r.error);
        }
        if (r.batch.size() == 0) continue;  // every sample of the batch was skipped
        out = std::move(r.batch);
        return true;
      }
    }

    /// The batch of `indices`, of which those from position `real` on are shard padding.
    Batch build(const std::vector<size_t>& indices, size_t real) const {
      Batch batch;
      std::vector<int64_t> labels;
      std::vector<torch::Tensor> targets;  // a SampleFn's
      float* dst = nullptr;
      int64_t sample_numel = 0;
      for (size_t position = 0; position < indices.size(); ++position) {
        const size_t i = indices[position];
        const uint64_t seed = detail::sample_seed(options.seed(), epoch, i);
        torch::Tensor raw, target;
        try {
          if (sample_fn) std::tie(raw, target) = sample_fn(i, seed);
          else raw = dataset->image(i, transform.read_options());
        } catch (const std::exception& e) {
          if (options.on_error() == OnError::Throw)
            throw Error("loader: cannot load sample " + std::to_string(i) + " ('" + describe(i) + "'): " + e.what());
          SkippedSample s{epoch, i, describe(i), e.what()};
          std::lock_guard<std::mutex> lock(skip_mutex);
          skipped.push_back(s);
          options.on_skip()(s);
          continue;
        }
        torch::Tensor x = (sample_fn ? raw : transform(raw, seed)).contiguous();
        if (!batch.images.defined()) {
          std::vector<int64_t> shape{int64_t(indices.size())};
          for (auto s : x.sizes()) shape.push_back(s);
          auto opts = torch::TensorOptions().dtype(torch::kFloat);
          if (pin) opts = opts.pinned_memory(true);
          batch.images = torch::empty(shape, opts);
          dst = batch.images.data_ptr<float>();
          sample_numel = x.numel();
        } else if (x.sizes() != batch.images.sizes().slice(1)) {
          std::ostringstream msg;
          msg << "loader: sample " << i << " ('" << describe(i) << "') came out of the transform with shape "
              << x.sizes() << " but the batch holds " << batch.images.sizes().slice(1)
              << "; add a resize or crop to the transform so that every image has the same size";
          throw Error(msg.str());
        }
        std::memcpy(dst + int64_t(batch.indices.size()) * sample_numel, x.to(torch::kFloat).data_ptr<float>(),
                    size_t(sample_numel) * sizeof(float));
        batch.indices.push_back(i);
        if (position >= real) ++batch.padding;
        if (sample_fn) {
          if (!targets.empty() && target.sizes() != targets.front().sizes()) {
            std::ostringstream msg;
            msg << "loader: sample " << i << " has a target of shape " << target.sizes() << " but the batch holds "
                << targets.front().sizes() << "; every sample's target must have the same shape";
            throw Error(msg.str());
          }
          targets.push_back(target);
        } else {
          labels.push_back(dataset->label(i));
        }
      }
      if (batch.images.defined() && batch.indices.size() < indices.size())
        batch.images = batch.images.narrow(0, 0, int64_t(batch.indices.size()));
      if (!sample_fn) batch.labels = torch::tensor(labels, torch::kLong);
      else if (!targets.empty()) batch.labels = torch::stack(targets);
      return batch;
    }
  };

  std::shared_ptr<Impl> impl_;
};

/// A loader over `dataset` (a data set by value or a shared pointer). Each
/// `for (auto& batch : l)` loop is one epoch.
template <class D>
Loader loader(D&& dataset, Transform transform = {}, LoaderOptions options = {}) {
  return Loader(share(std::forward<D>(dataset)), std::move(transform), std::move(options));
}

}  // namespace tlearn::data
