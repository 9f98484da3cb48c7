#pragma once
/// \file
/// Taps: LibTorch has no forward hooks, so every named layer of a tlearn model
/// reports its output with `tap(name, output)`. Nothing happens unless a
/// `TapRecorder` is active on this thread; then it keeps the outputs it was
/// asked for and can cut the forward pass short after the deepest one.
///
///     tlearn::TapRecorder rec({"layer2", "layer3"}, /*stop_early=*/true);
///     tlearn::run_until_stopped(rec, [&] { model->forward(x); });
///     auto c3 = rec.get("layer3");
///
/// One mechanism serves summary() (output shapes), forward_features and
/// features_only, Grad-CAM and activation images.

#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "tlearn/core/error.hpp"

namespace tlearn {

class TapRecorder;

namespace detail {
inline thread_local TapRecorder* active_tap_recorder = nullptr;
/// Thrown by a recorder that has everything it wants; caught by run_until_stopped.
struct StopForward {
  const TapRecorder* recorder;
};
}  // namespace detail

/// Collects the outputs of named layers during forward passes on this thread,
/// from construction to destruction. Recorders nest, and every active one sees each tap.
class TapRecorder {
 public:
  /// Records every tap, in the order they fire.
  TapRecorder();

  /// Records only `names`. With `stop_early`, the forward pass is stopped once
  /// all of them have been recorded (run it through run_until_stopped).
  explicit TapRecorder(std::vector<std::string> names, bool stop_early = false)
      : wanted_(std::move(names)), stop_early_(stop_early) {
    activate();
  }

  TapRecorder(const TapRecorder&) = delete;
  TapRecorder& operator=(const TapRecorder&) = delete;
  ~TapRecorder() { detail::active_tap_recorder = previous_; }

  /// Called through tap(); keeps `output` if it is wanted. Returns true when
  /// this recorder wants the forward pass stopped now.
  bool record(const std::string& name, const torch::Tensor& output);

  /// True when every wanted name has been recorded at least once.
  bool complete() const;

  bool has(const std::string& name) const {
    return std::any_of(records_.begin(), records_.end(), [&](const auto& r) { return r.first == name; });
  }

  /// The last output recorded under `name`.
  torch::Tensor get(const std::string& name) const;

  /// Outputs of the wanted names, in the order they were asked for.
  std::vector<torch::Tensor> outputs() const;

  const std::vector<std::pair<std::string, torch::Tensor>>& records() const { return records_; }

  /// The recorder that was active before this one.
  TapRecorder* previous() const { return previous_; }

 private:
  void activate();

  std::vector<std::string> wanted_;
  bool record_all_ = false;
  bool stop_early_ = false;
  std::vector<std::pair<std::string, torch::Tensor>> records_;
  TapRecorder* previous_ = nullptr;
};

/// Whether any recorder is active on this thread. Forward passes fuse layers or
/// work in place only when nothing records, so every recorded row keeps its own
/// output.
inline bool tap_recording() { return detail::active_tap_recorder != nullptr; }

/// Reports a named layer's output to the active recorder, if any. Costs one
/// thread-local load when nothing records.
inline void tap(const std::string& name, const torch::Tensor& output) {
  const TapRecorder* stop = nullptr;
  for (auto* r = detail::active_tap_recorder; r != nullptr; r = r->previous())
    if (r->record(name, output) && stop == nullptr) stop = r;
  if (stop != nullptr) throw detail::StopForward{stop};
}

/// Runs `forward` and swallows the early stop of `recorder` (an outer recorder's
/// stop passes through). Returns true when the pass ran to its end, false when
/// it was cut short.
template <class Forward>
bool run_until_stopped(const TapRecorder& recorder, Forward&& forward) {
  try {
    forward();
    return true;
  } catch (const detail::StopForward& stop) {
    if (stop.recorder != &recorder) throw;
    return false;
  }
}

}  // namespace tlearn
