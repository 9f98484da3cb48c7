// Implementation of tlearn/models/layer_decay.hpp.
#include <algorithm>
#include <regex>

#include "tlearn/core/error.hpp"
#include "tlearn/models/layer_decay.hpp"

namespace tlearn {

namespace {
bool is_top_row(const ModelSpec& spec, const std::string& row) {
  return detail::in_modules(row, spec.top_modules);
}
}  // namespace

LayerDepths layer_depths(const BackboneImpl& model) {
  const auto& spec = model.spec();
  const std::regex block(spec.block_pattern.empty() ? std::string(R"(^[^.]+\.\d+)") : spec.block_pattern);
  const auto& table = model.layer_table();
  LayerDepths d;
  std::vector<std::string> row_block(table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    std::smatch m;
    const auto& name = table[i].name;
    // Rows without parameters (activations, pools) never start a block.
    if (table[i].parameter_count() == 0 || is_top_row(spec, name) || !std::regex_search(name, m, block)) continue;
    row_block[i] = m.str(0);
    // Keras' order may interleave two blocks' rows (NASNet's cells): a block counts once.
    if (std::find(d.blocks.begin(), d.blocks.end(), row_block[i]) == d.blocks.end()) d.blocks.push_back(row_block[i]);
  }
  if (d.blocks.empty())
    throw Error(spec.name + ": layer decay found no blocks in the layer table (block pattern \"" + spec.block_pattern +
                "\"); set ModelSpec::block_pattern for the family");
  d.max_depth = static_cast<int64_t>(d.blocks.size()) + 1;
  int64_t current = 0;  // rows before the first block: the stem
  size_t last_block_row = 0;
  for (size_t i = 0; i < table.size(); ++i)
    if (!row_block[i].empty()) last_block_row = i;
  for (size_t i = 0; i < table.size(); ++i) {
    if (!row_block[i].empty()) {
      current = static_cast<int64_t>(std::find(d.blocks.begin(), d.blocks.end(), row_block[i]) - d.blocks.begin()) + 1;
      d.row_depth.push_back(current);
    } else if (i > last_block_row || is_top_row(spec, table[i].name)) {
      d.row_depth.push_back(d.max_depth);  // final norm, top
    } else {
      d.row_depth.push_back(current);  // between blocks: with the block before
    }
  }
  return d;
}

std::unordered_map<const void*, int64_t> parameter_depths(const BackboneImpl& model) {
  const auto d = layer_depths(model);
  std::unordered_map<const void*, int64_t> depths;
  const auto& table = model.layer_table();
  for (size_t i = 0; i < table.size(); ++i)
    for (const auto& p : table[i].parameters()) depths.emplace(p.unsafeGetTensorImpl(), d.row_depth[i]);
  return depths;
}

bool exempt_from_weight_decay(const BackboneImpl& model, const torch::Tensor& parameter) {
  if (parameter.dim() <= 1) return true;
  for (const auto& row : model.layer_table())
    if (row.kind == "ClassToken" || row.kind == "PositionEmbedding")
      for (const auto& p : row.parameters())
        if (p.unsafeGetTensorImpl() == parameter.unsafeGetTensorImpl()) return true;
  return false;
}

}  // namespace tlearn
