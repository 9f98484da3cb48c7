// Implementation of tlearn/data/preprocess.hpp.
#include "tlearn/data/preprocess.hpp"

#include <sstream>
#include <vector>

#include "tlearn/core/error.hpp"

namespace tlearn::detail {

torch::Tensor channel_vector(const torch::Tensor& x, std::initializer_list<float> v) {
  // Shaped to broadcast over the channel axis of CHW or NCHW.
  auto t = torch::tensor(std::vector<float>(v), x.options());
  return x.dim() == 3 ? t.view({3, 1, 1}) : t.view({1, 3, 1, 1});
}

}  // namespace tlearn::detail

namespace tlearn {

torch::Tensor preprocess_input(const torch::Tensor& x, Preprocessing policy) {
  if (x.dim() != 3 && x.dim() != 4) {
    std::ostringstream msg;
    msg << "preprocess_input expects a CHW or NCHW image tensor, got shape " << x.sizes();
    throw Error(msg.str());
  }
  if (!x.is_floating_point())
    throw Error("preprocess_input expects a floating-point tensor holding 0..255; convert with .to(torch::kFloat)");
  const int64_t channel_dim = x.dim() - 3;
  const auto mode = policy.mode();
  if (mode != Preprocessing::Identity && mode != Preprocessing::TF && x.size(channel_dim) != 3) {
    std::ostringstream msg;
    msg << "preprocess_input(" << to_string(policy) << ") needs 3 RGB channels, got shape " << x.sizes();
    throw Error(msg.str());
  }
  switch (mode) {
    case Preprocessing::Identity:
      return x.clone();
    case Preprocessing::TF:
      return x / 127.5 - 1.0;
    case Preprocessing::Caffe:
      return x.flip({channel_dim}) - detail::channel_vector(x, {103.939f, 116.779f, 123.68f});
    case Preprocessing::Torch:
      return (x / 255.0 - detail::channel_vector(x, {0.485f, 0.456f, 0.406f})) /
             detail::channel_vector(x, {0.229f, 0.224f, 0.225f});
    case Preprocessing::MeanStd: {
      const auto m = policy.mean(), d = policy.stddev();
      return (x / 255.0 - detail::channel_vector(x, {m[0], m[1], m[2]})) / detail::channel_vector(x, {d[0], d[1], d[2]});
    }
  }
  throw Error("preprocess_input: unknown policy");
}

}  // namespace tlearn
