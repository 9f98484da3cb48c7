#pragma once
/// \file
/// Layer selectors: which rows of a layer table an operation applies to, the
/// way Keras code slices `model.layers`.
///
///     base->set_trainable(tlearn::first(15), false);          // layers[:15]
///     base->set_trainable(tlearn::from("block5_conv1"), true); // block5_conv1 to the end
///
/// Indices follow Python slices: ranges are half-open, negative indices count
/// from the end. `until(x)` and `from(x)` split the table in two at x.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/core/layer_table.hpp"

namespace tlearn {

class LayerSelector {
 public:
  using Resolve = std::function<std::vector<size_t>(const LayerTable&)>;
  LayerSelector(std::string description, Resolve resolve)
      : description_(std::move(description)), resolve_(std::move(resolve)) {}

  /// The selected indices, in table order. Throws on unknown names or out-of-range indices.
  std::vector<size_t> resolve(const LayerTable& table) const { return resolve_(table); }
  const std::string& description() const { return description_; }

 private:
  std::string description_;
  Resolve resolve_;
};

namespace detail {
inline std::vector<size_t> index_range(size_t a, size_t b) {
  std::vector<size_t> out;
  for (size_t i = a; i < b; ++i) out.push_back(i);
  return out;
}

/// Python-style index (negative counts from the end) into [0, size]; out of range is an Error.
inline size_t checked_index(int64_t i, size_t size, const std::string& what) {
  int64_t n = static_cast<int64_t>(size);
  int64_t j = i < 0 ? i + n : i;
  if (j < 0 || j > n)
    throw Error(what + ": index " + std::to_string(i) + " is out of range for a model with " + std::to_string(n) +
                " layers (valid: " + std::to_string(-n) + ".." + std::to_string(n) + ")");
  return static_cast<size_t>(j);
}
}  // namespace detail

/// Every layer.
inline LayerSelector all() {
  return {"all()", [](const LayerTable& t) { return detail::index_range(0, t.size()); }};
}

/// Layers [a, b), Python slice rules: range(0, 15) is layers[:15], range(-4, 0)... use last(4).
inline LayerSelector range(int64_t a, int64_t b) {
  auto desc = "range(" + std::to_string(a) + ", " + std::to_string(b) + ")";
  return {desc, [a, b, desc](const LayerTable& t) {
            size_t lo = detail::checked_index(a, t.size(), desc), hi = detail::checked_index(b, t.size(), desc);
            if (lo > hi) throw Error(desc + ": the start comes after the end");
            return detail::index_range(lo, hi);
          }};
}

/// The first n layers (Keras: layers[:n]).
inline LayerSelector first(int64_t n) {
  auto desc = "first(" + std::to_string(n) + ")";
  return {desc, [n, desc](const LayerTable& t) {
            if (n < 0) throw Error(desc + ": n must not be negative");
            return detail::index_range(0, detail::checked_index(n, t.size(), desc));
          }};
}

/// The last n layers (Keras: layers[-n:]).
inline LayerSelector last(int64_t n) {
  auto desc = "last(" + std::to_string(n) + ")";
  return {desc, [n, desc](const LayerTable& t) {
            if (n < 0) throw Error(desc + ": n must not be negative");
            size_t count = detail::checked_index(n, t.size(), desc);
            return detail::index_range(t.size() - count, t.size());
          }};
}

/// From the layer named `name` (torchvision name or Keras alias) to the end, inclusive.
inline LayerSelector from(const std::string& name) {
  return {"from(\"" + name + "\")",
          [name](const LayerTable& t) { return detail::index_range(t.index_of(name), t.size()); }};
}

/// Every layer before the one named `name` (exclusive), so until(x) and from(x) split the table.
inline LayerSelector until(const std::string& name) {
  return {"until(\"" + name + "\")", [name](const LayerTable& t) { return detail::index_range(0, t.index_of(name)); }};
}

/// Layers whose name or alias matches the ECMAScript regular expression `pattern` (whole match).
LayerSelector regex(const std::string& pattern);

}  // namespace tlearn
