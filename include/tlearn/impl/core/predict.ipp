// Implementation of tlearn/core/predict.hpp.
#include "tlearn/core/predict.hpp"

#include <string>

#include "tlearn/core/eval_guard.hpp"
#include "tlearn/core/tensor_options.hpp"

namespace tlearn {

torch::Tensor probabilities(const torch::Tensor& logits, Activation activation, int64_t dim) {
  switch (activation) {
    case Activation::Softmax:
      return logits.softmax(dim);
    case Activation::Sigmoid:
      return logits.sigmoid();
    case Activation::None:
      break;
  }
  return logits.size(dim) == 1 ? logits.sigmoid() : logits.softmax(dim);
}

namespace detail {

torch::Tensor predict_each(torch::nn::Module& model, const std::function<bool(torch::Tensor&)>& next_input,
                           const PredictFn& fn, const torch::Device& out_device, const char* what) {
  std::vector<torch::Tensor> outputs;
  {
    EvalGuard eval(model);
    c10::InferenceMode inference;
    torch::Tensor input;
    while (next_input(input)) {
      if (!input.defined() || input.dim() == 0)
        throw Error(std::string(what) + ": a batch has no samples; give tensors shaped (N, ...)");
      outputs.push_back(fn(to_module(input, model)).to(out_device));
    }
  }
  if (outputs.empty()) throw Error(std::string(what) + ": the data gave no batch (empty data set?)");
  // Joined outside InferenceMode: the result is an ordinary tensor.
  return torch::cat(outputs);
}

torch::Tensor in_index_order(const torch::Tensor& outputs, const std::vector<size_t>& indices) {
  auto idx = torch::empty({int64_t(indices.size())}, torch::kLong);
  auto* p = idx.data_ptr<int64_t>();
  for (size_t i = 0; i < indices.size(); ++i) p[i] = int64_t(indices[i]);
  return outputs.index_select(0, idx.argsort());
}

}  // namespace detail

torch::Tensor predict_tensor(torch::nn::Module& model, const torch::Tensor& x, int64_t batch_size,
                             const PredictFn& fn) {
  if (batch_size < 1) throw Error("predict: batch_size must be at least 1, got " + std::to_string(batch_size));
  if (!x.defined() || x.dim() == 0) throw Error("predict: give a batch (N, ...) of inputs, got an empty tensor");
  int64_t start = 0;
  auto next = [&](torch::Tensor& input) {
    if (start >= x.size(0)) return false;
    input = x.slice(0, start, std::min(start + batch_size, x.size(0)));
    start += batch_size;
    return true;
  };
  return detail::predict_each(model, next, fn, x.device(), "predict");
}

}  // namespace tlearn
