// Implementation of tlearn/data/loader.hpp.
#include "tlearn/data/loader.hpp"

namespace tlearn::data {

Loader::Loader(DatasetPtr dataset, Transform transform, LoaderOptions options)
    : impl_(std::make_shared<Impl>(std::move(dataset), std::move(transform), std::move(options))) {}

std::vector<SkippedSample> Loader::skipped() const {
  std::lock_guard<std::mutex> lock(impl_->skip_mutex);
  return impl_->skipped;
}

}  // namespace tlearn::data

namespace tlearn::data::detail {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace tlearn::data::detail
