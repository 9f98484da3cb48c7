// Implementation of tlearn/core/batch_norm.hpp.
#include "tlearn/core/batch_norm.hpp"
#include "tlearn/core/distributed.hpp"

namespace tlearn::nn {

void BatchNorm2dImpl::reset() {
  const auto n = options.num_features();
  weight = scale_ ? register_parameter("weight", torch::ones({n}), options.affine()) : torch::Tensor();
  bias = register_parameter("bias", torch::zeros({n}), options.affine());
  running_mean = register_buffer("running_mean", torch::zeros({n}));
  running_var = register_buffer("running_var", torch::ones({n}));
  num_batches_tracked = register_buffer("num_batches_tracked", torch::tensor(0, torch::kLong));
}

namespace {

/// BatchNorm over the batch of every process: the per-channel sums (in double,
/// so the union's variance is as exact as one process's) are all-reduced, and
/// backward all-reduces the two sums the input's gradient needs, as torch's
/// SyncBatchNorm does. The weight's and bias's gradients stay local: the
/// data-parallel reducer averages them with the rest.
struct SyncBatchNormFunction : torch::autograd::Function<SyncBatchNormFunction> {
  static std::vector<int64_t> reduced_dims(const torch::Tensor& x) {
    std::vector<int64_t> dims{0};
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    return dims;
  }
  static torch::Tensor channel_view(const torch::Tensor& t, const torch::Tensor& x) {
    std::vector<int64_t> shape(size_t(x.dim()), 1);
    shape[1] = x.size(1);
    return t.view(shape);
  }

  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, torch::Tensor running_mean, torch::Tensor running_var,
                               double momentum, double eps) {
    const auto dims = reduced_dims(x);
    const int64_t channels = x.size(1);
    auto xd = x.to(torch::kDouble);
    std::vector<torch::Tensor> stats{torch::cat({xd.sum(dims), (xd * xd).sum(dims), torch::full({1}, double(x.numel() / channels), xd.options())}).cpu()};
    distributed::all_reduce_sum(stats);
    const auto sums = stats[0].to(x.device());
    const double n = stats[0][2 * channels].item<double>();
    auto mean = sums.narrow(0, 0, channels) / n;
    auto var = (sums.narrow(0, channels, channels) / n - mean * mean).clamp_min(0);
    if (running_mean.defined()) {
      torch::NoGradGuard no_grad;
      running_mean.mul_(1 - momentum).add_(mean.to(running_mean.scalar_type()), momentum);
      running_var.mul_(1 - momentum).add_((var * (n / std::max(n - 1, 1.0))).to(running_var.scalar_type()), momentum);
    }
    auto invstd = (var + eps).rsqrt().to(x.scalar_type());
    mean = mean.to(x.scalar_type());
    auto y = (x - channel_view(mean, x)) * channel_view(invstd, x);
    if (weight.defined()) y = y * channel_view(weight, x);
    if (bias.defined()) y = y + channel_view(bias, x);
    ctx->save_for_backward({x, weight, mean, invstd});
    ctx->saved_data["has_bias"] = bias.defined();
    ctx->saved_data["n"] = n;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    const double n = ctx->saved_data["n"].toDouble();
    const auto& dy = grads[0];
    const auto dims = reduced_dims(x);
    const int64_t channels = x.size(1);
    auto xmu = x - channel_view(mean, x);
    auto sum_dy = dy.sum(dims), sum_dy_xmu = (dy * xmu).sum(dims);
    std::vector<torch::Tensor> global{torch::cat({sum_dy, sum_dy_xmu}).to(torch::kDouble).cpu()};
    distributed::all_reduce_sum(global);
    auto g = global[0].to(x.device(), x.scalar_type());
    auto mean_dy = channel_view(g.narrow(0, 0, channels) / n, x);
    auto mean_dy_xmu = channel_view(g.narrow(0, channels, channels) / n, x);
    auto scale = channel_view(invstd, x);
    if (weight.defined()) scale = scale * channel_view(weight, x);
    auto dx = (dy - mean_dy - xmu * channel_view(invstd * invstd, x) * mean_dy_xmu) * scale;
    torch::Tensor dweight, dbias;
    if (weight.defined()) dweight = sum_dy_xmu * invstd;
    if (ctx->saved_data["has_bias"].toBool()) dbias = sum_dy;
    return {dx, dweight, dbias, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor BatchNorm2dImpl::forward(const torch::Tensor& x) {
  if (folded_) return x;  // its affine map now lives in the preceding convolution
  double momentum = options.momentum().value_or(0.0);
  if (is_training()) {
    num_batches_tracked.add_(1);
    // momentum = None means a cumulative moving average, as in torch.
    if (!options.momentum()) momentum = 1.0 / num_batches_tracked.item<double>();
    if (synchronized_ && distributed::world_size() > 1)
      return SyncBatchNormFunction::apply(x, weight, bias, options.track_running_stats() ? running_mean : torch::Tensor(),
                                          options.track_running_stats() ? running_var : torch::Tensor(), momentum, options.eps());
  }
  return torch::batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, options.eps(),
                           /*cudnn_enabled=*/true);
}

void BatchNorm2dImpl::train(bool on) {
  requested_training_ = on;
  torch::nn::Module::train(on && !frozen_);
}

void BatchNorm2dImpl::set_frozen(bool frozen) {
  frozen_ = frozen;
  torch::nn::Module::train(requested_training_ && !frozen_);
}

void BatchNorm2dImpl::pretty_print(std::ostream& os) const {
  os << "tlearn::nn::BatchNorm2d(" << options.num_features() << ", eps=" << options.eps()
     << ", momentum=" << options.momentum().value_or(-1) << (scale_ ? "" : ", scale=False") << (frozen_ ? ", frozen" : "") << (folded_ ? ", folded" : "")
     << ")";
}

}  // namespace tlearn::nn
