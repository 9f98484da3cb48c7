// Implementation of tlearn/data/loader.hpp.
#include "tlearn/data/loader.hpp"

namespace tlearn::data {

Loader::Loader(DatasetPtr dataset, Transform transform, LoaderOptions options)
    : impl_(std::make_shared<Impl>(std::move(dataset), std::move(transform), SampleFn(), 0, std::move(options))) {}

Loader::Loader(size_t size, SampleFn sample, LoaderOptions options)
    : impl_(std::make_shared<Impl>(nullptr, Transform(), std::move(sample), size, std::move(options))) {}

std::vector<SkippedSample> Loader::skipped() const {
  std::lock_guard<std::mutex> lock(impl_->skip_mutex);
  return impl_->skipped;
}

}  // namespace tlearn::data
