// Implementation of tlearn/train/optim.hpp.
#include <regex>

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

std::unique_ptr<torch::optim::Optimizer> build(const Spec& spec, const torch::nn::Module& module,
                                               std::vector<GroupInfo>* info) {
  std::vector<std::regex> rules;
  for (const auto& g : spec.groups()) rules.emplace_back(g.first);
  std::vector<double> mults{1.0};
  for (const auto& g : spec.groups())
    if (std::find(mults.begin(), mults.end(), g.second) == mults.end()) mults.push_back(g.second);
  std::vector<std::vector<torch::Tensor>> params(mults.size());
  std::vector<GroupInfo> groups(mults.size());
  size_t count = 0;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    if (!item.value().requires_grad()) continue;
    double m = 1.0;
    for (size_t r = 0; r < rules.size(); ++r)
      if (std::regex_search(item.key(), rules[r])) {
        m = spec.groups()[r].second;
        break;
      }
    const size_t g = size_t(std::find(mults.begin(), mults.end(), m) - mults.begin());
    params[g].push_back(item.value());
    groups[g].multiplier = m;
    groups[g].names.push_back(item.key());
    ++count;
  }
  if (count == 0)
    throw Error(
        "optim: the model has no trainable parameters (all frozen?); unfreeze some layers with "
        "set_trainable(selector, true) or train a head");
  std::vector<torch::optim::OptimizerParamGroup> torch_groups;
  std::vector<GroupInfo> kept;
  for (size_t g = 0; g < mults.size(); ++g) {
    if (params[g].empty()) continue;
    const double lr = spec.lr() * mults[g];
    std::unique_ptr<torch::optim::OptimizerOptions> o;
    switch (spec.kind) {
      case Kind::SGD:
        if (spec.nesterov() && spec.momentum() <= 0) throw Error("optim::SGD: nesterov(true) needs momentum > 0");
        o = std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(lr)
                                                           .momentum(spec.momentum())
                                                           .nesterov(spec.nesterov())
                                                           .weight_decay(spec.weight_decay()));
        break;
      case Kind::Adam:
        o = std::make_unique<torch::optim::AdamOptions>(torch::optim::AdamOptions(lr)
                                                            .betas({spec.beta1(), spec.beta2()})
                                                            .eps(spec.eps())
                                                            .weight_decay(spec.weight_decay()));
        break;
      case Kind::AdamW:
        o = std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(lr)
                                                             .betas({spec.beta1(), spec.beta2()})
                                                             .eps(spec.eps())
                                                             .weight_decay(spec.weight_decay()));
        break;
      case Kind::RMSprop:
        o = std::make_unique<torch::optim::RMSpropOptions>(torch::optim::RMSpropOptions(lr)
                                                               .alpha(spec.alpha())
                                                               .eps(spec.eps())
                                                               .momentum(spec.momentum())
                                                               .weight_decay(spec.weight_decay()));
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
