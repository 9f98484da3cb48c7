#pragma once
/// \file
/// Keras' progress line (Progbar, verbose = 1): "12/50 [=====>....] - 3s 250ms/step
/// - loss: 0.4210 - accuracy: 0.8125", redrawn in place on a terminal and written
/// once per epoch otherwise.

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "tlearn/train/history.hpp"

namespace tlearn {

namespace detail {
/// Keras' Progbar, verbose = 1.
class Progress {
 public:
  /// `show_lr`: print the logs' "lr" too (when a schedule moves it within the epoch).
  Progress(std::ostream& out, int64_t steps, bool show_lr = false);

  /// Prints step `step` of the epoch with `logs`; the last call passes final = true.
  void update(int64_t step, const Logs& logs, bool final);

 private:
  using clock = std::chrono::steady_clock;
  std::ostream& out_;
  int64_t steps_;
  bool tty_;
  bool show_lr_;
  clock::time_point t0_;
  size_t last_width_ = 0;
};

}  // namespace detail

}  // namespace tlearn
