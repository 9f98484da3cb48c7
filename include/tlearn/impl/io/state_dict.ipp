// Implementation of tlearn/io/state_dict.hpp.
#include <regex>

#include "tlearn/detail/file.hpp"
#include "tlearn/io/state_dict.hpp"

namespace tlearn::io::detail {

bool matches_any(const std::string& key, const std::vector<std::regex>& patterns) {
  for (const auto& r : patterns)
    if (std::regex_search(key, r)) return true;
  return false;
}

std::regex compile(const std::string& pattern, const char* option) {
  try {
    return std::regex(pattern);
  } catch (const std::regex_error& e) {
    throw Error(std::string("LoadOptions::") + option + ": invalid regex \"" + pattern + "\": " + e.what());
  }
}

}  // namespace tlearn::io::detail

namespace tlearn::io {

namespace detail {

std::string in_chans_hint(const StateDict& module_state,
                          const std::vector<std::pair<std::string, torch::Tensor>>& checkpoint) {
  // The module's first convolution weight: the first 4-D tensor in module order.
  for (const auto& item : module_state) {
    if (item.value().dim() != 4) continue;
    for (const auto& [key, tensor] : checkpoint) {
      if (key != item.key()) continue;
      const auto& mine = item.value();
      if (tensor.defined() && tensor.dim() == 4 && tensor.size(1) != mine.size(1) && tensor.size(0) == mine.size(0) &&
          tensor.size(2) == mine.size(2) && tensor.size(3) == mine.size(3))
        return "\n  " + key + " takes " + std::to_string(tensor.size(1)) + " input channels in the checkpoint and " +
               std::to_string(mine.size(1)) + " in the model: build the backbone with BackboneOptions().in_chans(" +
               std::to_string(tensor.size(1)) + ") to match the checkpoint.";
    }
    break;
  }
  return "";
}

}  // namespace detail

LoadReport load_state_dict(torch::nn::Module& module, const StateDict& checkpoint, const LoadOptions& options) {
  std::vector<std::pair<std::regex, std::string>> renames;
  for (const auto& [pattern, replacement] : options.key_rename())
    renames.emplace_back(detail::compile(pattern, "key_rename"), replacement);
  std::vector<std::regex> ignore;
  for (const auto& pattern : options.ignore()) ignore.push_back(detail::compile(pattern, "ignore"));

  // Checkpoint keys after renaming, minus ignored ones.
  std::vector<std::pair<std::string, torch::Tensor>> source;
  std::map<std::string, std::string> renamed_from;
  for (const auto& item : checkpoint) {
    std::string key = item.key();
    for (const auto& [re, replacement] : renames) key = std::regex_replace(key, re, replacement);
    if (detail::matches_any(key, ignore) || detail::matches_any(item.key(), ignore)) continue;
    auto [it, fresh] = renamed_from.emplace(key, item.key());
    if (!fresh)
      throw Error("load_state_dict: checkpoint keys \"" + it->second + "\" and \"" + item.key() + "\" both become \"" +
                  key + "\" after key_rename; fix the rename patterns");
    source.emplace_back(key, item.value());
  }

  StateDict target = state_dict(module);
  LoadReport report;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (destination, source)
  for (const auto& [key, tensor] : source) {
    const torch::Tensor* dst = target.find(key);
    if (!dst) {
      report.unexpected.push_back(key);
      continue;
    }
    if (!tensor.defined() || dst->sizes() != tensor.sizes()) {
      report.mismatched.push_back(key + ": checkpoint " +
                                  (tensor.defined() ? detail::shape_str(tensor) : std::string("undefined")) +
                                  " vs module " + detail::shape_str(*dst));
      continue;
    }
    copies.emplace_back(*dst, tensor);
  }
  for (const auto& item : target)
    if (!renamed_from.count(item.key()) && !detail::matches_any(item.key(), ignore))
      report.missing.push_back(item.key());

  if (options.strict() && !report.ok()) {
    std::string msg = "load_state_dict: the checkpoint does not fit the module (nothing was copied).";
    if (!report.missing.empty())
      msg += "\n  missing (" + std::to_string(report.missing.size()) + "): " + detail::list_names(report.missing);
    if (!report.unexpected.empty())
      msg +=
          "\n  unexpected (" + std::to_string(report.unexpected.size()) + "): " + detail::list_names(report.unexpected);
    if (!report.mismatched.empty())
      msg += "\n  shape mismatch (" + std::to_string(report.mismatched.size()) +
             "): " + detail::list_names(report.mismatched);
    msg += detail::in_chans_hint(target, source);
    msg +=
        "\nUse LoadOptions().key_rename(...) to map names, .ignore(...) to skip keys, "
        "or .strict(false) to load what matches.";
    throw Error(msg);
  }

  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> copied;
  for (auto& [dst, src] : copies) {
    dst.copy_(src);
    copied.push_back(src);
  }
  detail::require_files_intact(copied, "load_state_dict");  // a checkpoint overwritten in place since loading
  return report;
}

}  // namespace tlearn::io
