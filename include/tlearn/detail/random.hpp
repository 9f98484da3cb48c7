#pragma once
/// \file
/// Seeded random numbers for augmentation and mixing: mt19937_64 (specified
/// exactly by the C++ standard) and distributions written out here, because the
/// standard library's distributions differ between implementations. The same
/// seed gives the same numbers on every platform and with any worker count.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

namespace tlearn::detail {

struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  /// Uniform in [0, 1) from 53 bits.
  double uniform() { return double(g() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  /// Uniform integer in [lo, hi].
  int64_t integer(int64_t lo, int64_t hi) { return lo + int64_t(g() % uint64_t(hi - lo + 1)); }
  /// Standard normal (Box-Muller).
  double normal() {
    const double u1 = std::max(uniform(), 1e-300), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  /// Gamma(a, 1) (Marsaglia and Tsang; a < 1 boosted).
  double gamma(double a) {
    if (a < 1) return gamma(a + 1) * std::pow(std::max(uniform(), 1e-300), 1.0 / a);
    const double d = a - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
    while (true) {
      double x, v;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const double u = uniform();
      if (u < 1 - 0.0331 * x * x * x * x || std::log(std::max(u, 1e-300)) < 0.5 * x * x + d * (1 - v + std::log(v))) return d * v;
    }
  }
  /// Beta(a, b) as X / (X + Y) of two gamma draws.
  double beta(double a, double b) {
    const double x = gamma(a), y = gamma(b);
    return x / (x + y);
  }
};

/// SplitMix64's finalizer: independent seeds from combined keys.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace tlearn::detail
