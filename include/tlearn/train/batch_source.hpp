#pragma once
/// \file
/// What the Trainer reads batches from: any range whose elements have `.images`
/// and `.labels` (a data::Loader, a std::vector<data::Batch>, your own), behind
/// one type-erased BatchSource. A range with set_epoch() is told each epoch (a
/// Loader reshuffles); one with size() gives the progress line its step count.

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace tlearn {

/// Batches from any range, type-erased: `run(epoch, body)` calls body(images, labels,
/// indices, padding) for each batch until body returns false. `indices` is null
/// for batches without them; the last `padding` samples repeat others (data::Batch).
struct BatchSource {
  using Body = std::function<bool(const torch::Tensor&, const torch::Tensor&, const std::vector<size_t>*, size_t)>;
  std::function<void(int64_t, const Body&)> run;
  int64_t steps = -1;  ///< batches per epoch, -1 if unknown
};

namespace detail {
template <class R, class = void>
struct has_set_epoch : std::false_type {};
template <class R>
struct has_set_epoch<R, std::void_t<decltype(std::declval<R&>().set_epoch(int64_t(0)))>> : std::true_type {};
template <class R, class = void>
struct has_size : std::false_type {};
template <class R>
struct has_size<R, std::void_t<decltype(std::declval<const R&>().size())>> : std::true_type {};
template <class B, class = void>
struct has_indices : std::false_type {};
template <class B>
struct has_indices<B, std::void_t<decltype(std::declval<B&>().indices.size())>> : std::true_type {};
template <class B, class = void>
struct has_padding : std::false_type {};
template <class B>
struct has_padding<B, std::void_t<decltype(size_t(std::declval<B&>().padding))>> : std::true_type {};
}  // namespace detail

/// Wraps a range (copied into shared ownership; a data::Loader copy shares its workers).
template <class R>
BatchSource batch_source(R range) {
  if constexpr (std::is_same_v<std::decay_t<R>, BatchSource>) {
    return range;
  } else {
    auto r = std::make_shared<R>(std::move(range));
    BatchSource s;
    if constexpr (detail::has_size<R>::value) s.steps = int64_t(r->size());
    s.run = [r](int64_t epoch, const BatchSource::Body& body) {
      if constexpr (detail::has_set_epoch<R>::value) {
        if (epoch >= 0) r->set_epoch(epoch);
      }
      (void)epoch;
      for (auto& batch : *r) {
        const std::vector<size_t>* idx = nullptr;
        size_t padding = 0;
        // Batches built by hand leave indices empty: then they carry none.
        if constexpr (detail::has_indices<std::decay_t<decltype(batch)>>::value) {
          if (!batch.indices.empty()) idx = &batch.indices;
        }
        if constexpr (detail::has_padding<std::decay_t<decltype(batch)>>::value) padding = batch.padding;
        if (!body(batch.images, batch.labels, idx, padding)) break;
      }
    };
    return s;
  }
}

}  // namespace tlearn
