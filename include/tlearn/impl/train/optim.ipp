// Implementation of tlearn/train/optim.hpp.
#include <cmath>
#include <functional>
#include <regex>
#include <set>
#include <unordered_map>

#include "tlearn/detail/compat.hpp"
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
  rules_.push_back({std::nullopt, pattern, multiplier});
  return *this;
}

Spec& Spec::lr_multiplier(LayerSelector layers, double multiplier) {
  if (!(multiplier > 0)) throw Error("optim: lr_multiplier for " + layers.description() + " must be positive");
  rules_.push_back({std::move(layers), "", multiplier});
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
  // Each rule as a test of a parameter: its name against a regex, or its tensor
  // against the parameters of the selected backbone rows.
  std::vector<std::function<bool(const std::string&, const torch::Tensor&)>> rules;
  for (const auto& rule : spec.multiplier_rules()) {
    if (!rule.layers) {
      rules.push_back([re = std::regex(rule.pattern)](const std::string& name, const torch::Tensor&) {
        return std::regex_search(name, re);
      });
      continue;
    }
    const BackboneImpl* base = find_backbone(module);
    if (base == nullptr)
      throw Error("optim: lr_multiplier(" + rule.layers->description() +
                  ") selects backbone layers, but the model is not and holds no backbone; use a name pattern");
    std::set<const void*> selected;
    for (size_t row : rule.layers->resolve(base->layer_table()))
      for (const auto& p : base->layer_table()[row].parameters()) selected.insert(p.unsafeGetTensorImpl());
    rules.push_back([selected = std::move(selected)](const std::string&, const torch::Tensor& p) {
      return selected.count(p.unsafeGetTensorImpl()) > 0;
    });
  }
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
  for (const auto& rule : spec.multiplier_rules()) {
    std::pair<double, double> key{rule.multiplier, spec.weight_decay()};
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
      if (rules[r](item.key(), p)) {
        m = spec.multiplier_rules()[r].multiplier;
        break;
      }
    if (backbone != nullptr) {
      const auto it = depths.find(p.unsafeGetTensorImpl());
      const int64_t depth = it == depths.end() ? max_depth : it->second;  // a head outside the backbone: lr
      m *= std::pow(spec.layer_decay(), double(max_depth - depth));
      if (p.dim() <= 1 || (it != depths.end() && exempt_from_weight_decay(*backbone, p))) wd = 0.0;
    }
    if (spec.no_decay_on_bias_and_norm() && p.dim() <= 1) wd = 0.0;
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

// ---- what training checkpoints save of an optimizer ----

namespace {

/// Reads a saved group's options: each one asked for must be there, and no other.
class OptionReader {
 public:
  OptionReader(const std::map<std::string, double>& values, const char* kind) : values_(values), kind_(kind) {}
  double operator()(const std::string& key) {
    const auto it = values_.find(key);
    if (it == values_.end())
      throw Error(std::string("optimizer state: the saved ") + kind_ + " parameter group has no option '" + key +
                  "' (saved for another optimizer?)");
    seen_.insert(key);
    return it->second;
  }
  bool flag(const std::string& key) { return (*this)(key) != 0; }
  void finish() const {
    for (const auto& [key, value] : values_)
      if (!seen_.count(key))
        throw Error(std::string("optimizer state: '") + key + "' is not an option of " + kind_ +
                    " (the checkpoint was saved for another optimizer)");
  }

 private:
  const std::map<std::string, double>& values_;
  const char* kind_;
  std::set<std::string> seen_;
};

template <class AdamLike>
std::map<std::string, double> adam_options(const AdamLike& o) {
  return {{"lr", o.lr()},   {"beta1", std::get<0>(o.betas())},      {"beta2", std::get<1>(o.betas())},
          {"eps", o.eps()}, {"weight_decay", o.weight_decay()}, {"amsgrad", o.amsgrad() ? 1.0 : 0.0}};
}

template <class AdamLike>
void set_adam_options(AdamLike& o, OptionReader read) {
  o.lr(read("lr")).betas({read("beta1"), read("beta2")}).eps(read("eps")).weight_decay(read("weight_decay"));
  o.amsgrad(read.flag("amsgrad"));
  read.finish();
}

template <class ParamState>
ParamState& new_state(torch::optim::Optimizer& optimizer, const torch::Tensor& p) {
  auto& states = optimizer.state();
  auto state = std::make_unique<ParamState>();
  auto& ref = *state;
  states[tlearn::detail::compat::optimizer_state_key(states, p)] = std::move(state);
  return ref;
}

/// Reads the buffers of one parameter's saved state: each taken buffer is moved
/// to p's device and memory format; what is left untaken at the end is an error.
class BufferReader {
 public:
  BufferReader(const std::map<std::string, torch::Tensor>& state, const torch::Tensor& p, const std::string& name)
      : state_(state), p_(p), name_(name) {}
  torch::Tensor tensor(const std::string& key, bool required = true) {
    const auto it = state_.find(key);
    if (it == state_.end()) {
      if (required) fail("has no '" + key + "'");
      return {};
    }
    seen_.insert(key);
    const auto& t = it->second;
    if (t.sizes() != p_.sizes())
      fail("has '" + key + "' of shape " + c10::str(t.sizes()) + ", the parameter's is " + c10::str(p_.sizes()));
    if (!t.is_floating_point()) fail("has '" + key + "' of type " + std::string(c10::toString(t.scalar_type())));
    return torch::empty_like(p_, p_.options().dtype(t.scalar_type())).copy_(t);
  }
  int64_t step() {
    const auto it = state_.find("step");
    if (it == state_.end()) fail("has no 'step'");
    seen_.insert("step");
    const auto& t = it->second;
    if (t.numel() != 1 || t.scalar_type() != torch::kLong || t.item<int64_t>() < 0)
      fail("has a 'step' that is not one non-negative int64");
    return t.item<int64_t>();
  }
  void finish() const {
    for (const auto& [key, value] : state_)
      if (!seen_.count(key)) fail("has '" + key + "', which this optimizer does not keep");
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw Error("optimizer state: parameter '" + name_ + "' " + why + " (saved for another optimizer or model?)");
  }

 private:
  const std::map<std::string, torch::Tensor>& state_;
  const torch::Tensor& p_;
  const std::string& name_;
  std::set<std::string> seen_;
};

template <class ParamState>
void set_adam_state(torch::optim::Optimizer& optimizer, const torch::Tensor& p, BufferReader read) {
  auto& s = new_state<ParamState>(optimizer, p);
  s.step(read.step());
  s.exp_avg(read.tensor("exp_avg"));
  s.exp_avg_sq(read.tensor("exp_avg_sq"));
  if (auto t = read.tensor("max_exp_avg_sq", false); t.defined()) s.max_exp_avg_sq(t);
  read.finish();
}

}  // namespace

std::map<std::string, double> group_options(const torch::optim::OptimizerOptions& options) {
  if (const auto* o = dynamic_cast<const torch::optim::SGDOptions*>(&options))
    return {{"lr", o->lr()},
            {"momentum", o->momentum()},
            {"dampening", o->dampening()},
            {"weight_decay", o->weight_decay()},
            {"nesterov", o->nesterov() ? 1.0 : 0.0}};
  if (const auto* o = dynamic_cast<const torch::optim::AdamOptions*>(&options)) return adam_options(*o);
  if (const auto* o = dynamic_cast<const torch::optim::AdamWOptions*>(&options)) return adam_options(*o);
  if (const auto* o = dynamic_cast<const torch::optim::RMSpropOptions*>(&options))
    return {{"lr", o->lr()},
            {"alpha", o->alpha()},
            {"eps", o->eps()},
            {"weight_decay", o->weight_decay()},
            {"momentum", o->momentum()},
            {"centered", o->centered() ? 1.0 : 0.0}};
  throw Error("optimizer state: the optimizer is not one tlearn builds (SGD, Adam, AdamW, RMSprop)");
}

void set_group_options(torch::optim::OptimizerOptions& options, const std::map<std::string, double>& values) {
  if (auto* sgd = dynamic_cast<torch::optim::SGDOptions*>(&options)) {
    OptionReader read(values, "SGD");
    sgd->lr(read("lr")).momentum(read("momentum")).dampening(read("dampening")).weight_decay(read("weight_decay"));
    sgd->nesterov(read.flag("nesterov"));
    read.finish();
  } else if (auto* adam = dynamic_cast<torch::optim::AdamOptions*>(&options)) {
    set_adam_options(*adam, OptionReader(values, "Adam"));
  } else if (auto* adamw = dynamic_cast<torch::optim::AdamWOptions*>(&options)) {
    set_adam_options(*adamw, OptionReader(values, "AdamW"));
  } else if (auto* rmsprop = dynamic_cast<torch::optim::RMSpropOptions*>(&options)) {
    OptionReader read(values, "RMSprop");
    rmsprop->lr(read("lr")).alpha(read("alpha")).eps(read("eps")).weight_decay(read("weight_decay"));
    rmsprop->momentum(read("momentum")).centered(read.flag("centered"));
    read.finish();
  } else {
    throw Error("optimizer state: the optimizer is not one tlearn builds (SGD, Adam, AdamW, RMSprop)");
  }
}

std::map<std::string, torch::Tensor> parameter_state(torch::optim::Optimizer& optimizer, const torch::Tensor& p) {
  auto& states = optimizer.state();
  const auto it = states.find(tlearn::detail::compat::optimizer_state_key(states, p));
  std::map<std::string, torch::Tensor> out;
  if (it == states.end()) return out;
  auto put = [&](const char* key, const torch::Tensor& t) {
    if (t.defined()) out[key] = t;
  };
  auto step = [&](int64_t n) { out["step"] = torch::tensor(n, torch::kLong); };
  const auto* state = it->second.get();
  if (const auto* sgd = dynamic_cast<const torch::optim::SGDParamState*>(state)) {
    put("momentum_buffer", sgd->momentum_buffer());
  } else if (const auto* adam = dynamic_cast<const torch::optim::AdamParamState*>(state)) {
    step(adam->step()), put("exp_avg", adam->exp_avg()), put("exp_avg_sq", adam->exp_avg_sq());
    put("max_exp_avg_sq", adam->max_exp_avg_sq());
  } else if (const auto* adamw = dynamic_cast<const torch::optim::AdamWParamState*>(state)) {
    step(adamw->step()), put("exp_avg", adamw->exp_avg()), put("exp_avg_sq", adamw->exp_avg_sq());
    put("max_exp_avg_sq", adamw->max_exp_avg_sq());
  } else if (const auto* rmsprop = dynamic_cast<const torch::optim::RMSpropParamState*>(state)) {
    step(rmsprop->step()), put("square_avg", rmsprop->square_avg()), put("momentum_buffer", rmsprop->momentum_buffer());
    put("grad_avg", rmsprop->grad_avg());
  } else {
    throw Error("optimizer state: the optimizer is not one tlearn builds (SGD, Adam, AdamW, RMSprop)");
  }
  return out;
}

void set_parameter_state(torch::optim::Optimizer& optimizer, const torch::Tensor& p,
                         const std::map<std::string, torch::Tensor>& state, const std::string& name) {
  auto& states = optimizer.state();
  states.erase(tlearn::detail::compat::optimizer_state_key(states, p));
  if (state.empty()) return;  // saved before the parameter's first step
  torch::NoGradGuard no_grad;
  BufferReader read(state, p, name);
  if (dynamic_cast<torch::optim::SGD*>(&optimizer)) {
    new_state<torch::optim::SGDParamState>(optimizer, p).momentum_buffer(read.tensor("momentum_buffer"));
    read.finish();
  } else if (dynamic_cast<torch::optim::Adam*>(&optimizer)) {
    set_adam_state<torch::optim::AdamParamState>(optimizer, p, read);
  } else if (dynamic_cast<torch::optim::AdamW*>(&optimizer)) {
    set_adam_state<torch::optim::AdamWParamState>(optimizer, p, read);
  } else if (dynamic_cast<torch::optim::RMSprop*>(&optimizer)) {
    auto& s = new_state<torch::optim::RMSpropParamState>(optimizer, p);
    s.step(read.step());
    s.square_avg(read.tensor("square_avg"));
    if (auto t = read.tensor("momentum_buffer", false); t.defined()) s.momentum_buffer(t);
    if (auto t = read.tensor("grad_avg", false); t.defined()) s.grad_avg(t);
    read.finish();
  } else {
    throw Error("optimizer state: the optimizer is not one tlearn builds (SGD, Adam, AdamW, RMSprop)");
  }
}

}  // namespace tlearn::optim
