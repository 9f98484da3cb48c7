// Implementation of tlearn/train/grad_scaler.hpp.
#include "tlearn/core/error.hpp"
#include "tlearn/train/grad_scaler.hpp"

namespace tlearn {

namespace {
/// Whether `op` has a kernel for `device`: LibTorch 1.13 has the AMP kernels on
/// CUDA only; then the same arithmetic runs as ordinary tensor operations.
bool has_kernel(const char* op, c10::DeviceType device) {
  auto handle = c10::Dispatcher::singleton().findOp(c10::OperatorName(op, ""));
  if (!handle) return false;
  return handle->hasKernelForDispatchKey(device == c10::DeviceType::CUDA ? c10::DispatchKey::CUDA
                                                                         : c10::DispatchKey::CPU);
}

void unscale_grads(std::vector<torch::Tensor>& grads, torch::Tensor& found_inf, const torch::Tensor& inv_scale) {
  if (grads.empty()) return;
  if (has_kernel("aten::_amp_foreach_non_finite_check_and_unscale_", found_inf.device().type())) {
    at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv_scale);
    return;
  }
  for (auto& g : grads) {
    if (!torch::isfinite(g).all().item<bool>()) found_inf.fill_(1.0);
    g.mul_(inv_scale.to(g.dtype()));
  }
}

void update_scale(torch::Tensor& scale, torch::Tensor& tracker, const torch::Tensor& found_inf, double growth,
                  double backoff, int64_t interval) {
  if (has_kernel("aten::_amp_update_scale_", scale.device().type())) {
    at::_amp_update_scale_(scale, tracker, found_inf, growth, backoff, interval);
    return;
  }
  // _amp_update_scale_'s rule, written out.
  if (found_inf.item<double>() > 0) {
    scale.mul_(backoff);
    tracker.zero_();
    return;
  }
  const auto successful = tracker.item<int64_t>() + 1;
  if (successful == interval) {
    const auto grown = scale * growth;
    if (torch::isfinite(grown).item<bool>()) scale.copy_(grown);
    tracker.zero_();
  } else {
    tracker.fill_(successful);
  }
}
}  // namespace

GradScaler::GradScaler(GradScalerOptions options) : options_(std::move(options)) {
  if (!(options_.init_scale() > 0)) throw Error("GradScaler: init_scale must be positive");
  if (!(options_.growth_factor() > 1)) throw Error("GradScaler: growth_factor must be above 1");
  if (!(options_.backoff_factor() > 0 && options_.backoff_factor() < 1))
    throw Error("GradScaler: backoff_factor must be between 0 and 1");
  if (options_.growth_interval() < 1) throw Error("GradScaler: growth_interval must be at least 1");
}

void GradScaler::lazy_init(const torch::Device& device) {
  if (!scale_.defined()) {
    scale_ = torch::full({}, options_.init_scale(), torch::TensorOptions().dtype(torch::kFloat).device(device));
    growth_tracker_ = torch::zeros({}, torch::TensorOptions().dtype(torch::kInt).device(device));
  } else if (scale_.device() != device) {
    scale_ = scale_.to(device);
    growth_tracker_ = growth_tracker_.to(device);
  }
}

torch::Tensor GradScaler::scale(const torch::Tensor& loss) {
  if (!enabled()) return loss;
  lazy_init(loss.device());
  return loss * scale_.to(loss.dtype());
}

void GradScaler::unscale_(torch::optim::Optimizer& optimizer) {
  if (!enabled()) return;
  if (unscaled_) throw Error("GradScaler::unscale_ was already called since the last update(); call it once per step");
  if (!scale_.defined()) throw Error("GradScaler::unscale_: no loss was scaled yet; call scale(loss).backward() first");
  std::vector<torch::Tensor> grads;
  for (auto& group : optimizer.param_groups())
    for (auto& p : group.params())
      if (p.grad().defined()) {
        if (p.grad().scalar_type() == torch::kHalf)
          throw Error(
              "GradScaler: a gradient is float16; keep the weights in float32 and let autocast "
              "compute in float16 (Precision::FP16)");
        grads.push_back(p.grad());
      }
  found_inf_ = torch::zeros({}, scale_.options());
  const auto inv_scale = scale_.to(torch::kDouble).reciprocal().to(torch::kFloat);
  unscale_grads(grads, found_inf_, inv_scale);
  unscaled_ = true;
}

bool GradScaler::step(torch::optim::Optimizer& optimizer) {
  if (!enabled()) {
    optimizer.step();
    return true;
  }
  if (stepped_) throw Error("GradScaler::step was already called since the last update(); call update() first");
  if (!unscaled_) unscale_(optimizer);
  stepped_ = true;
  if (found_inf_.item<double>() > 0) return false;
  optimizer.step();
  return true;
}

void GradScaler::update() {
  if (!enabled()) return;
  if (!unscaled_)
    throw Error(
        "GradScaler::update: no gradients were checked since the last update(); call step() (or "
        "unscale_()) after backward(), then update()");
  update_scale(scale_, growth_tracker_, found_inf_, options_.growth_factor(), options_.backoff_factor(),
               options_.growth_interval());
  unscaled_ = stepped_ = false;
}

double GradScaler::get_scale() const {
  if (!enabled()) return 1.0;
  return scale_.defined() ? scale_.item<double>() : options_.init_scale();
}

int64_t GradScaler::growth_tracker() const { return growth_tracker_.defined() ? growth_tracker_.item<int64_t>() : 0; }

std::map<std::string, double> GradScaler::state_dict() const {
  if (!enabled()) return {};
  return {{"scale", get_scale()},
          {"growth_factor", options_.growth_factor()},
          {"backoff_factor", options_.backoff_factor()},
          {"growth_interval", double(options_.growth_interval())},
          {"_growth_tracker", double(growth_tracker())}};
}

void GradScaler::load_state_dict(const std::map<std::string, double>& state) {
  if (state.empty()) throw Error("GradScaler::load_state_dict: the state is empty (saved from a disabled scaler?)");
  auto get = [&](const std::string& key) {
    auto it = state.find(key);
    if (it == state.end()) throw Error("GradScaler::load_state_dict: the state has no '" + key + "'");
    return it->second;
  };
  options_.growth_factor(get("growth_factor")).backoff_factor(get("backoff_factor"));
  options_.growth_interval(static_cast<int64_t>(get("growth_interval")));
  const auto device = scale_.defined() ? scale_.device() : torch::Device(torch::kCPU);
  scale_ = torch::full({}, get("scale"), torch::TensorOptions().dtype(torch::kFloat).device(device));
  growth_tracker_ = torch::full({}, static_cast<int64_t>(get("_growth_tracker")),
                                torch::TensorOptions().dtype(torch::kInt).device(device));
}

}  // namespace tlearn
