// Implementation of tlearn/core/tap.hpp.
#include "tlearn/core/tap.hpp"

namespace tlearn {

TapRecorder::TapRecorder() : record_all_(true) { activate(); }

bool TapRecorder::record(const std::string& name, const torch::Tensor& output) {
  if (!record_all_ && std::find(wanted_.begin(), wanted_.end(), name) == wanted_.end()) return false;
  records_.emplace_back(name, output);
  return stop_early_ && complete();
}

bool TapRecorder::complete() const {
  if (record_all_) return false;
  return std::all_of(wanted_.begin(), wanted_.end(), [&](const std::string& n) { return has(n); });
}

torch::Tensor TapRecorder::get(const std::string& name) const {
  for (auto it = records_.rbegin(); it != records_.rend(); ++it)
    if (it->first == name) return it->second;
  throw Error("no output was recorded for layer '" + name +
              "'; the forward pass never reached it (check the name against layers())");
}

std::vector<torch::Tensor> TapRecorder::outputs() const {
  std::vector<torch::Tensor> out;
  for (const auto& n : wanted_) out.push_back(get(n));
  return out;
}

void TapRecorder::activate() {
  previous_ = detail::active_tap_recorder;
  detail::active_tap_recorder = this;
}

}  // namespace tlearn
