#pragma once
/// \file
/// Keras' predict, shared by every model: eval mode and InferenceMode for the
/// call (each submodule's previous mode restored after), a big input cut into
/// batches moved to the model's device and dtype, and the outputs joined again.
/// forward() keeps returning logits, so a loss never sees probabilities twice;
/// predict() is where the probabilities come from.
///
///     auto probs = model->predict(images);        // (N, classes), batches of 32
///     auto probs = model->predict(test_loader);   // in data-set order

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "tlearn/core/error.hpp"

namespace tlearn {

/// What predict turns logits into (the ImageNet top's classifier_activation,
/// a head's output_activation).
enum class Activation { None, Softmax, Sigmoid };

/// One batch of inputs, already on the model's device, to its outputs.
using PredictFn = std::function<torch::Tensor(const torch::Tensor&)>;

/// Probabilities from logits along `dim` under `activation`; None picks the
/// usual one: sigmoid for a single output (binary), softmax for several.
torch::Tensor probabilities(const torch::Tensor& logits, Activation activation, int64_t dim = 1);

namespace detail {

/// Runs `fn` on `inputs` in order under eval mode and InferenceMode, then joins
/// the outputs on `out_device` (outside InferenceMode, so the result is an
/// ordinary tensor that may enter autograd later).
torch::Tensor predict_each(torch::nn::Module& model, const std::function<bool(torch::Tensor&)>& next_input,
                           const PredictFn& fn, const torch::Device& out_device, const char* what);

template <class B, class = void>
struct batch_has_images : std::false_type {};
template <class B>
struct batch_has_images<B, std::void_t<decltype(std::declval<B&>().images)>> : std::true_type {};
template <class B, class = void>
struct batch_has_index_list : std::false_type {};
template <class B>
struct batch_has_index_list<B, std::void_t<decltype(std::declval<B&>().indices.size())>> : std::true_type {};

/// Outputs put back in data-set order from the indices of the batches that made them.
torch::Tensor in_index_order(const torch::Tensor& outputs, const std::vector<size_t>& indices);

}  // namespace detail

/// predict over one tensor (N, ...), `batch_size` samples at a time. The result
/// is on `x`'s device.
torch::Tensor predict_tensor(torch::nn::Module& model, const torch::Tensor& x, int64_t batch_size, const PredictFn& fn);

/// predict over the batches of a range: a data::Loader (its Batch's images), or
/// any range of tensors. When the batches carry data-set indices (a Loader's do,
/// shuffled or not), row i of the result belongs to sample i. The result is on the CPU.
template <class R>
torch::Tensor predict_range(torch::nn::Module& model, R&& batches, const PredictFn& fn) {
  auto it = std::begin(batches);
  auto end = std::end(batches);
  std::vector<size_t> indices;
  bool indexed = true;
  auto next = [&](torch::Tensor& input) {
    if (it == end) return false;
    auto& batch = *it;
    using B = std::decay_t<decltype(batch)>;
    if constexpr (detail::batch_has_images<B>::value) {
      input = batch.images;
    } else {
      static_assert(std::is_convertible_v<B, torch::Tensor>,
                    "predict: the range must give tensors or batches with an `images` member");
      input = batch;
    }
    if constexpr (detail::batch_has_index_list<B>::value) {
      if (batch.indices.size() == size_t(input.size(0)))
        indices.insert(indices.end(), batch.indices.begin(), batch.indices.end());
      else
        indexed = false;
    } else {
      indexed = false;
    }
    ++it;
    return true;
  };
  auto out = detail::predict_each(model, next, fn, torch::kCPU, "predict");
  return indexed ? detail::in_index_order(out, indices) : out;
}

}  // namespace tlearn
