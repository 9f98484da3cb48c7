// Implementation of tlearn/models/layers.hpp.
#include <functional>

#include "tlearn/core/error.hpp"
#include "tlearn/models/layers.hpp"

namespace tlearn::detail {

void LeafChain::append(LayerTable& table, const std::string& prefix, const torch::nn::SequentialImpl& seq) {
  size_t i = 0;
  for (const auto& child : seq) {
    auto name = prefix + "." + std::to_string(i++);
    if (auto nested = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(child.ptr())) {
      append(table, name, *nested);
    } else if (auto block = std::dynamic_pointer_cast<nn::ConvNormActImpl>(child.ptr())) {
      append_block(table, name, nn::ConvNormAct(block));
    } else if (auto se = std::dynamic_pointer_cast<nn::SqueezeExcitationImpl>(child.ptr())) {
      se->add_rows(table, name);
      append(table, name, child, "");  // its output row is `name`
    } else
      append(table, name, child, module_kind(*child.ptr()));
  }
}

void LeafChain::append(LayerTable& table, const std::string& name, torch::nn::AnyModule module,
                       const std::string& kind) {
  if (!kind.empty()) table.add(name, kind, {module.ptr()});
  taps_.push_back(kind.empty() ? std::string() : name);
  outputs_.push_back(name);
  leaves_.push_back(std::move(module));
}

void LeafChain::append_block(LayerTable& table, const std::string& path, nn::ConvNormAct block,
                             const std::vector<std::string>& aliases) {
  block->add_rows(table, path, aliases);
  append(table, path, torch::nn::AnyModule(block), "");
  outputs_.back() = block->output_row();
}

torch::Tensor LeafChain::forward(torch::Tensor x) {
  for (size_t i = 0; i < leaves_.size(); ++i) {
    x = leaves_[i].forward(x);
    if (!taps_[i].empty()) tap(taps_[i], x);
  }
  return x;
}

void StageTracker::add(std::string name, int64_t channels, int64_t stride) {
  if (stride > 1 && !pending_.name.empty()) stages_.push_back(pending_);
  total_stride_ *= stride;
  pending_ = FeatureInfo{std::move(name), channels, total_stride_};
}

std::vector<FeatureInfo> StageTracker::finish() const {
  auto stages = stages_;
  if (!pending_.name.empty()) stages.push_back(pending_);
  return stages;
}

std::string module_kind(const torch::nn::Module& m) {
  std::string name = m.name();
  for (const char* prefix : {"torch::nn::", "tlearn::nn::"})
    if (name.rfind(prefix, 0) == 0) name = name.substr(std::string(prefix).size());
  if (name.size() > 4 && name.compare(name.size() - 4, 4, "Impl") == 0) name.resize(name.size() - 4);
  return name;
}

std::vector<std::string> add_sequential_layers(LayerTable& table, const std::string& prefix,
                                               const torch::nn::Sequential& seq) {
  std::vector<std::string> names;
  for (const auto& child : seq->named_children()) {
    names.push_back(prefix + "." + child.key());
    table.add(names.back(), module_kind(*child.value()), {child.value()});
  }
  return names;
}

torch::Tensor forward_sequential(torch::nn::Sequential& seq, const std::vector<std::string>& names, torch::Tensor x) {
  size_t i = 0;
  for (auto& child : *seq) {
    x = child.forward(x);
    if (!names[i].empty()) tap(names[i], x);
    ++i;
  }
  return x;
}

int64_t make_divisible(double v, int64_t divisor) {
  int64_t rounded = std::max<int64_t>(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  return rounded < 0.9 * v ? rounded + divisor : rounded;
}

void init_torchvision_default(torch::nn::Module& root) {
  torch::NoGradGuard no_grad;
  for (auto& m : root.modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (conv->bias.defined()) torch::nn::init::zeros_(conv->bias);
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      if (bn->weight.defined()) torch::nn::init::ones_(bn->weight);
      torch::nn::init::zeros_(bn->bias);
    } else if (auto* linear = m->as<torch::nn::Linear>()) {
      torch::nn::init::normal_(linear->weight, 0, 0.01);
      torch::nn::init::zeros_(linear->bias);
    }
  }
}

std::string KerasLayerNumbering::next(const std::string& keras_class) {
  const int n = seen_[keras_class]++;
  return n == 0 ? keras_class : keras_class + "_" + std::to_string(n);
}

std::string KerasGraph::add(const std::string& name, const std::vector<std::string>& inputs) {
  std::vector<size_t> from;
  for (const auto& input : inputs) {
    auto it = index_.find(input);
    if (it == index_.end()) throw Error("Keras graph: row '" + input + "' feeds '" + name + "' before it was added (a model bug)");
    from.push_back(it->second);
  }
  if (!index_.emplace(name, names_.size()).second) throw Error("Keras graph: row '" + name + "' added twice (a model bug)");
  names_.push_back(name);
  inputs_.push_back(std::move(from));
  return name;
}

void KerasGraph::sort(LayerTable& table) const {
  if (names_.empty()) return;
  // Keras' map_graph: a depth-first walk from the output numbers the layers as it
  // first reaches them; a layer's depth is its longest path to the output.
  const size_t n = names_.size();
  std::vector<size_t> first_reached(n, n), finished;
  std::vector<char> done(n, 0);
  size_t counter = 0;
  std::function<void(size_t)> walk = [&](size_t node) {
    if (done[node]) return;
    if (first_reached[node] == n) first_reached[node] = counter++;
    for (size_t input : inputs_[node]) walk(input);
    done[node] = 1;
    finished.push_back(node);
  };
  walk(n - 1);
  std::vector<size_t> depth(n, 0);
  for (auto it = finished.rbegin(); it != finished.rend(); ++it)  // each layer before its inputs
    for (size_t input : inputs_[*it]) depth[input] = std::max(depth[input], depth[*it] + 1);
  std::sort(finished.begin(), finished.end(), [&](size_t a, size_t b) {
    return depth[a] != depth[b] ? depth[a] > depth[b] : first_reached[a] < first_reached[b];
  });
  // The table's order: the graph's rows so sorted, then the rest as they were.
  std::vector<size_t> order;
  std::vector<char> placed(table.size(), 0);
  for (size_t node : finished) {
    const size_t row = table.index_of(names_[node]);
    order.push_back(row);
    placed[row] = 1;
  }
  for (size_t row = 0; row < table.size(); ++row)
    if (!placed[row]) order.push_back(row);
  table.reorder(order);
}

nn::BatchNorm2d keras_batch_norm(int64_t channels, double eps) {
  return nn::BatchNorm2d(torch::nn::BatchNormOptions(channels).eps(eps).momentum(0.01));
}

void init_keras_default(torch::nn::Module& root) {
  torch::NoGradGuard no_grad;
  for (auto& m : root.modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::xavier_uniform_(conv->weight);
      if (conv->bias.defined()) torch::nn::init::zeros_(conv->bias);
    } else if (auto* linear = m->as<torch::nn::Linear>()) {
      torch::nn::init::xavier_uniform_(linear->weight);
      if (linear->bias.defined()) torch::nn::init::zeros_(linear->bias);
    }
  }
}

}  // namespace tlearn::detail
