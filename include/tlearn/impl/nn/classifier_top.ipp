// Implementation of tlearn/nn/classifier_top.hpp.
#include "tlearn/core/error.hpp"
#include "tlearn/core/tap.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/nn/classifier_top.hpp"

namespace tlearn::nn {

ClassifierTop& ClassifierTop::add(Row row) {
  rows_.push_back(std::move(row));
  return *this;
}

ClassifierTop& ClassifierTop::step(std::function<torch::Tensor(const torch::Tensor&)> fn) {
  return add({"", "", "", {}, [fn = std::move(fn)](torch::Tensor x, bool) { return fn(x); }});
}

ClassifierTop& ClassifierTop::mean(std::string row, std::string alias, std::string kind) {
  return add({std::move(row), std::move(kind), std::move(alias), {},
              [](torch::Tensor x, bool) { return x.mean({2, 3}); }});
}

ClassifierTop& ClassifierTop::pool(std::string row, std::string alias, int64_t size) {
  return add({std::move(row), "AdaptiveAvgPool2d", std::move(alias), {},
              [size](torch::Tensor x, bool) { return torch::adaptive_avg_pool2d(x, {size, size}); }});
}

ClassifierTop& ClassifierTop::pool_flat(std::string row, std::string alias, int64_t size, std::string kind) {
  return add({std::move(row), std::move(kind), std::move(alias), {},
              [size](torch::Tensor x, bool) { return torch::adaptive_avg_pool2d(x, {size, size}).flatten(1); }});
}

ClassifierTop& ClassifierTop::flatten(std::string row, std::string alias, std::string kind) {
  return add({std::move(row), std::move(kind), std::move(alias), {}, [](torch::Tensor x, bool) { return x.flatten(1); }});
}

ClassifierTop& ClassifierTop::dropout(double p, std::string row) {
  if (p < 0 || p >= 1) throw Error("ClassifierTop: dropout must be in [0, 1), got " + std::to_string(p));
  return add({std::move(row), "Dropout", "", {}, [p](torch::Tensor x, bool training) {
                return p > 0 ? torch::dropout(x, p, training) : x;
              }});
}

ClassifierTop& ClassifierTop::any_module(std::string row, torch::nn::AnyModule module,
                                         std::shared_ptr<torch::nn::Module> ptr, std::string alias, std::string kind) {
  if (kind.empty()) kind = detail::module_kind(*ptr);
  return add({std::move(row), std::move(kind), std::move(alias), {std::move(ptr)},
              [module](torch::Tensor x, bool) mutable { return module.forward(x); }});
}

ClassifierTop& ClassifierTop::sequential(const std::string& prefix, const torch::nn::Sequential& seq) {
  std::vector<Group> groups;
  for (const auto& child : seq->named_children())
    groups.push_back({prefix + "." + child.key(), 1, detail::module_kind(*child.value())});
  return sequential(seq, groups);
}

ClassifierTop& ClassifierTop::sequential(const torch::nn::Sequential& seq, const std::vector<Group>& groups) {
  auto child = seq->begin();
  size_t index = 0;
  for (const auto& group : groups) {
    if (group.count == 0 || index + group.count > seq->size())
      throw Error("ClassifierTop: the groups of row '" + group.name + "' run past the Sequential's " +
                  std::to_string(seq->size()) + " children (a model bug)");
    std::vector<torch::nn::AnyModule> chain(child, child + static_cast<std::ptrdiff_t>(group.count));
    std::vector<std::shared_ptr<torch::nn::Module>> modules;
    for (size_t i = 0; i < group.count; ++i) modules.push_back(seq->ptr(index + i));
    child += static_cast<std::ptrdiff_t>(group.count);
    index += group.count;
    add({group.name, group.kind, group.alias, std::move(modules), [chain](torch::Tensor x, bool) mutable {
           for (auto& m : chain) x = m.forward(x);
           return x;
         }});
  }
  if (index != seq->size())
    throw Error("ClassifierTop: the groups cover " + std::to_string(index) + " of the Sequential's " +
                std::to_string(seq->size()) + " children (a model bug)");
  return *this;
}

ClassifierTop& ClassifierTop::output_activation(std::string row, std::string alias, tlearn::Activation activation) {
  Row r{std::move(row), "Activation", std::move(alias), {}, [activation](torch::Tensor logits, bool) {
          return activation == tlearn::Activation::None ? logits : probabilities(logits, activation);
        }};
  r.recorded_only = true;
  return add(std::move(r));
}

void ClassifierTop::add_rows(LayerTable& table) const {
  for (const auto& row : rows_)
    if (!row.name.empty()) table.add(row.name, row.kind, row.modules, row.alias);
}

torch::Tensor ClassifierTop::forward(torch::Tensor x, bool training) const {
  for (const auto& row : rows_) {
    if (row.recorded_only) {
      if (tap_recording()) tap(row.name, row.apply(x, training));
      continue;
    }
    x = row.apply(std::move(x), training);
    if (!row.name.empty()) tap(row.name, x);
  }
  return x;
}

}  // namespace tlearn::nn
