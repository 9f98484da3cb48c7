// Implementation of tlearn/nn/rescaling.hpp.
#include "tlearn/core/error.hpp"
#include "tlearn/nn/rescaling.hpp"

namespace tlearn::nn {

namespace {
/// `values` shaped to broadcast over the channels of an NCHW or CHW `x`.
torch::Tensor per_channel(const std::vector<double>& values, const torch::Tensor& x) {
  auto t = torch::tensor(values, torch::TensorOptions().dtype(torch::kDouble)).to(x.options());
  if (values.size() == 1) return t.reshape({});
  const int64_t channel_dim = x.dim() - 3;
  if (channel_dim < 0 || x.size(channel_dim) != static_cast<int64_t>(values.size()))
    throw Error("Rescaling: " + std::to_string(values.size()) + " per-channel values for an input of shape " +
                c10::str(x.sizes()) + "; give one value per channel or one for all");
  return t.view({-1, 1, 1});
}
}  // namespace

RescalingImpl::RescalingImpl(const RescalingOptions& options_) : options(options_) {
  if (options.scale().empty() || options.offset().empty())
    throw Error("Rescaling: scale and offset each need one value, or one per channel");
}

torch::Tensor RescalingImpl::forward(const torch::Tensor& x) {
  return x * per_channel(options.scale(), x) + per_channel(options.offset(), x);
}

}  // namespace tlearn::nn
