// Implementation of tlearn/core/layer_table.hpp.
#include "tlearn/core/layer_table.hpp"

namespace tlearn {

std::vector<torch::Tensor> Layer::parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& m : modules)
    for (auto& p : m->parameters()) out.push_back(p);
  return out;
}

int64_t Layer::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

Layer& LayerTable::add(std::string name, std::string kind, std::vector<std::shared_ptr<torch::nn::Module>> modules,
                       std::string alias) {
  if (find(name))
    throw Error("layer table: duplicate layer name '" + name + "' (a model bug: each tap name must be unique)");
  layers_.push_back(Layer{std::move(name), std::move(alias), std::move(kind), std::move(modules), true, {}, {}});
  return layers_.back();
}

void LayerTable::reorder(const std::vector<size_t>& order) {
  std::vector<bool> seen(layers_.size(), false);
  for (size_t i : order) {
    if (i >= layers_.size() || seen[i])
      throw Error("layer table: reorder needs each of the " + std::to_string(layers_.size()) +
                  " row indices once (a model bug)");
    seen[i] = true;
  }
  if (order.size() != layers_.size())
    throw Error("layer table: reorder got " + std::to_string(order.size()) + " indices for " +
                std::to_string(layers_.size()) + " rows (a model bug)");
  std::vector<Layer> sorted;
  sorted.reserve(layers_.size());
  for (size_t i : order) sorted.push_back(std::move(layers_[i]));
  layers_ = std::move(sorted);
}

std::optional<size_t> LayerTable::find(const std::string& name_or_alias) const {
  for (size_t i = 0; i < layers_.size(); ++i)
    if (layers_[i].name == name_or_alias || (!layers_[i].alias.empty() && layers_[i].alias == name_or_alias)) return i;
  return std::nullopt;
}

size_t LayerTable::index_of(const std::string& name_or_alias) const {
  if (auto i = find(name_or_alias)) return *i;
  throw Error("no layer named '" + name_or_alias + "'" + suggestions(name_or_alias) +
              " (layers() lists every name and Keras alias)");
}

std::string LayerTable::suggestions(const std::string& wrong, size_t how_many) const {
  std::vector<std::pair<size_t, std::string>> scored;
  for (const auto& l : layers_) {
    scored.emplace_back(detail::edit_distance(wrong, l.name), l.name);
    if (!l.alias.empty()) scored.emplace_back(detail::edit_distance(wrong, l.alias), l.alias);
  }
  std::sort(scored.begin(), scored.end());
  std::string out;
  for (size_t i = 0; i < std::min(how_many, scored.size()); ++i)
    out += (i ? ", " : "; did you mean: ") + scored[i].second;
  return out;
}

std::vector<LayerInfo> LayerTable::info() const {
  std::vector<LayerInfo> out;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& l = layers_[i];
    out.push_back({i, l.name, l.alias, l.kind, l.parameter_count(), l.trainable});
  }
  return out;
}

}  // namespace tlearn

namespace tlearn::detail {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace tlearn::detail
