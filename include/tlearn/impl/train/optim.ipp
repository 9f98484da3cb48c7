// Implementation of tlearn/train/optim.hpp.
#include <cmath>
#include <regex>
#include <unordered_map>

#include "tlearn/models/layer_decay.hpp"
#include "tlearn/train/optim.hpp"

namespace tlearn::optim {

Spec& Spec::lr_multiplier(const std::string& pattern, double multiplier) {
  try {
    (void)std::regex(pattern);
  } catch (const std::regex_error& e) {
    throw Error("optim: lr_multiplier pattern \"" + pattern + "\" is not a valid regular expression: " + e.what());
  }
  if (!(multiplier > 0)) throw Error("optim: lr_multiplier for \"" + pattern + "\" must be positive");
  groups_.emplace_back(pattern, multiplier);
  return *this;
}

namespace {
/// The backbone `module` is or holds (a Classifier's), for layer decay.
const BackboneImpl* find_backbone(const torch::nn::Module& module) {
  if (const auto* b = dynamic_cast<const BackboneImpl*>(&module)) return b;
  for (const auto& child : module.modules(/*include_self=*/false))
    if (const auto* b = dynamic_cast<const BackboneImpl*>(child.get())) return b;
  return nullptr;
}
}  // namespace

std::unique_ptr<torch::optim::Optimizer> build(const Spec& spec, const torch::nn::Module& module,
                                               std::vector<GroupInfo>* info) {
  std::vector<std::regex> rules;
  for (const auto& g : spec.groups()) rules.emplace_back(g.first);
  if (!(spec.layer_decay() > 0 && spec.layer_decay() <= 1))
    throw Error("optim: layer_decay must be in (0, 1] (timm's usual values are 0.65-0.85), got " +
                std::to_string(spec.layer_decay()));
  const BackboneImpl* backbone = nullptr;
  std::unordered_map<const void*, int64_t> depths;
  int64_t max_depth = 0;
  if (spec.layer_decay() < 1) {
    backbone = find_backbone(module);
    if (backbone == nullptr)
      throw Error("optim: layer_decay needs a model that is or holds a backbone (make_backbone, Classifier)");
    depths = parameter_depths(*backbone);
    max_depth = layer_depths(*backbone).max_depth;
  }
  // (multiplier, weight decay) of each group; the plain ones first, in rule order.
  std::vector<std::pair<double, double>> keys{{1.0, spec.weight_decay()}};
  for (const auto& g : spec.groups()) {
    std::pair<double, double> key{g.second, spec.weight_decay()};
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  }
  std::vector<std::vector<torch::Tensor>> params(keys.size());
  std::vector<GroupInfo> groups(keys.size());
  size_t count = 0;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    const auto& p = item.value();
    if (!p.requires_grad()) continue;
    double m = 1.0, wd = spec.weight_decay();
    for (size_t r = 0; r < rules.size(); ++r)
      if (std::regex_search(item.key(), rules[r])) {
        m = spec.groups()[r].second;
        break;
      }
    if (backbone != nullptr) {
      const auto it = depths.find(p.unsafeGetTensorImpl());
      const int64_t depth = it == depths.end() ? max_depth : it->second;  // a head outside the backbone: lr
      m *= std::pow(spec.layer_decay(), double(max_depth - depth));
      if (p.dim() <= 1 || (it != depths.end() && exempt_from_weight_decay(*backbone, p))) wd = 0.0;
    }
    std::pair<double, double> key{m, wd};
    auto g = size_t(std::find(keys.begin(), keys.end(), key) - keys.begin());
    if (g == keys.size()) {
      keys.push_back(key);
      params.emplace_back();
      groups.emplace_back();
    }
    params[g].push_back(p);
    groups[g].multiplier = m;
    groups[g].weight_decay = wd;
    groups[g].names.push_back(item.key());
    ++count;
  }
  if (count == 0)
    throw Error(
        "optim: the model has no trainable parameters (all frozen?); unfreeze some layers with "
        "set_trainable(selector, true) or train a head");
  std::vector<torch::optim::OptimizerParamGroup> torch_groups;
  std::vector<GroupInfo> kept;
  for (size_t g = 0; g < keys.size(); ++g) {
    if (params[g].empty()) continue;
    const double lr = spec.lr() * keys[g].first, weight_decay = keys[g].second;
    std::unique_ptr<torch::optim::OptimizerOptions> o;
    switch (spec.kind) {
      case Kind::SGD:
        if (spec.nesterov() && spec.momentum() <= 0) throw Error("optim::SGD: nesterov(true) needs momentum > 0");
        o = std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(lr)
                                                           .momentum(spec.momentum())
                                                           .nesterov(spec.nesterov())
                                                           .weight_decay(weight_decay));
        break;
      case Kind::Adam:
        o = std::make_unique<torch::optim::AdamOptions>(torch::optim::AdamOptions(lr)
                                                            .betas({spec.beta1(), spec.beta2()})
                                                            .eps(spec.eps())
                                                            .weight_decay(weight_decay));
        break;
      case Kind::AdamW:
        o = std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(lr)
                                                             .betas({spec.beta1(), spec.beta2()})
                                                             .eps(spec.eps())
                                                             .weight_decay(weight_decay));
        break;
      case Kind::RMSprop:
        o = std::make_unique<torch::optim::RMSpropOptions>(torch::optim::RMSpropOptions(lr)
                                                               .alpha(spec.alpha())
                                                               .eps(spec.eps())
                                                               .momentum(spec.momentum())
                                                               .weight_decay(weight_decay));
        break;
    }
    torch_groups.emplace_back(params[g], std::move(o));
    kept.push_back(groups[g]);
  }
  if (info) *info = kept;
  auto defaults = [&]() -> std::unique_ptr<torch::optim::Optimizer> {
    switch (spec.kind) {
      case Kind::SGD:
        return std::make_unique<torch::optim::SGD>(torch_groups, torch::optim::SGDOptions(spec.lr()));
      case Kind::Adam:
        return std::make_unique<torch::optim::Adam>(torch_groups, torch::optim::AdamOptions(spec.lr()));
      case Kind::AdamW:
        return std::make_unique<torch::optim::AdamW>(torch_groups, torch::optim::AdamWOptions(spec.lr()));
      case Kind::RMSprop:
        return std::make_unique<torch::optim::RMSprop>(torch_groups, torch::optim::RMSpropOptions(spec.lr()));
    }
    return nullptr;
  };
  return defaults();
}

}  // namespace tlearn::optim
