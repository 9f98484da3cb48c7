#pragma once
/// \file
/// State dicts: an ordered name -> tensor map, a module's state dict in
/// PyTorch's order and names, and loading one into a module with a report.
///
/// \code
/// auto report = tlearn::io::load_state_dict(model, tlearn::io::load_checkpoint("resnet50.pth"),
///     tlearn::io::LoadOptions().strict(false).ignore({"^fc\\."}));
/// \endcode

#include <torch/torch.h>

#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tlearn/core/error.hpp"

namespace tlearn::io {

/// Ordered name -> tensor, in the order PyTorch's `state_dict()` uses.
using StateDict = torch::OrderedDict<std::string, torch::Tensor>;

namespace detail {
inline void collect_state(const torch::nn::Module& m, const std::string& prefix, StateDict& out) {
  for (const auto& p : m.named_parameters(/*recurse=*/false))
    if (p.value().defined()) out.insert(prefix + p.key(), p.value());
  for (const auto& b : m.named_buffers(/*recurse=*/false))
    if (b.value().defined()) out.insert(prefix + b.key(), b.value());
  for (const auto& c : m.named_children()) collect_state(*c.value(), prefix + c.key() + ".", out);
}

inline std::string shape_str(const torch::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

inline std::string list_names(const std::vector<std::string>& names, std::size_t limit = 10) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < limit; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > limit) out += ", ... (" + std::to_string(names.size() - limit) + " more)";
  return out;
}

}  // namespace detail

/// A module's parameters and buffers (BatchNorm running statistics included),
/// named and ordered as PyTorch does: a module's own parameters, then its own
/// buffers, then each child recursively ("layer1.0.bn1.running_mean").
/// The tensors are the module's own, not copies.
inline StateDict state_dict(const torch::nn::Module& module) {
  StateDict out;
  detail::collect_state(module, "", out);
  return out;
}

/// How load_state_dict matches checkpoint keys to the module.
struct LoadOptions {
  using Renames = std::vector<std::pair<std::string, std::string>>;
  /// Throw unless every key matches and every shape agrees (PyTorch's strict=True).
  TORCH_ARG(bool, strict) = true;
  /// (regex, replacement) pairs applied in order to every checkpoint key,
  /// e.g. {"^module\\.", ""} for checkpoints saved from DataParallel.
  TORCH_ARG(Renames, key_rename) = {};
  /// Regexes (searched, anchor with ^...$ as needed) of keys, checkpoint or
  /// module, to skip entirely, e.g. {"^fc\\."} to keep a new head.
  TORCH_ARG(std::vector<std::string>, ignore) = {};
};

/// What did not match. `mismatched` entries read
/// "fc.weight: checkpoint [1000, 512] vs module [10, 512]".
struct LoadReport {
  std::vector<std::string> missing;     ///< in the module, not in the checkpoint
  std::vector<std::string> unexpected;  ///< in the checkpoint, not in the module
  std::vector<std::string> mismatched;  ///< in both, with different shapes (not copied)
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
};

/// Copies a checkpoint's tensors into the module's parameters and buffers
/// (converted to each one's dtype and device). Everything is checked before
/// anything is copied: when this throws, the module is unchanged. With strict
/// (the default) any missing, unexpected or mismatched key throws an Error that
/// names them; otherwise the matching keys are copied and the rest reported.
LoadReport load_state_dict(torch::nn::Module& module, const StateDict& checkpoint, const LoadOptions& options = {});

}  // namespace tlearn::io
