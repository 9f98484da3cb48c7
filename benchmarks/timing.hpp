#pragma once
// Timing helpers shared by the benchmark programs: warm-up, repeats, median.
#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace tlearn::bench {

/// Runs `step` `warmup` times untimed, then `repeats` times; returns the median seconds.
inline double median_seconds(const std::function<void()>& step, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i) step();
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    step();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace tlearn::bench
