// Implementation of tlearn/train/ema.hpp.
#include <cmath>
#include <unordered_set>

#include "tlearn/core/error.hpp"
#include "tlearn/train/ema.hpp"

namespace tlearn {

ModelEma::ModelEma(const torch::nn::Module& model, EmaOptions options) : options_(options) {
  if (!(options_.decay() >= 0 && options_.decay() < 1) || !(options_.min_decay() >= 0 && options_.min_decay() <= options_.decay()))
    throw Error("EmaOptions: need 0 <= min_decay <= decay < 1, got decay " + std::to_string(options_.decay()) +
                " and min_decay " + std::to_string(options_.min_decay()));
  if (options_.warmup() && !(options_.warmup_gamma() > 0 && options_.warmup_power() > 0))
    throw Error("EmaOptions: warmup_gamma and warmup_power must be positive");
  torch::NoGradGuard no_grad;
  for (const auto& item : io::state_dict(model)) state_.insert(item.key(), item.value().detach().clone());
}

double ModelEma::decay_at(int64_t updates) const {
  const int64_t s = updates - 1;
  if (s <= 0) return 0.0;
  if (!options_.warmup()) return options_.decay();
  const double warm = 1.0 - std::pow(1.0 + double(s) / options_.warmup_gamma(), -options_.warmup_power());
  return std::max(std::min(warm, options_.decay()), options_.min_decay());
}

void ModelEma::update(const torch::nn::Module& model, int64_t updates) {
  torch::NoGradGuard no_grad;
  const double decay = decay_at(updates);
  std::unordered_set<std::string> parameters;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) parameters.insert(p.key());
  const auto current = io::state_dict(model);
  if (current.size() != state_.size())
    throw Error("ModelEma::update: the model has " + std::to_string(current.size()) + " state entries, the average " +
                std::to_string(state_.size()) + "; build the average from the model it follows");
  for (const auto& item : current) {
    auto* ema = state_.find(item.key());
    if (ema == nullptr)
      throw Error("ModelEma::update: the average has no '" + item.key() + "'; build it from the model it follows");
    const auto& v = item.value();
    const bool average = v.is_floating_point() && (options_.average_buffers() || parameters.count(item.key()));
    if (average) ema->lerp_(v.to(ema->device(), ema->scalar_type()), 1.0 - decay);
    else ema->copy_(v);
  }
}

void ModelEma::load(const io::StateDict& state) {
  torch::NoGradGuard no_grad;
  for (const auto& item : state_) {
    const auto* saved = state.find(item.key());
    if (saved == nullptr || !saved->sizes().equals(item.value().sizes()))
      throw Error("ModelEma::load: the saved average " +
                  std::string(saved == nullptr ? "has no '" + item.key() + "'" : "has another shape for '" + item.key() + "'") +
                  "; it was saved for another model");
  }
  if (state.size() != state_.size())
    throw Error("ModelEma::load: the saved average has " + std::to_string(state.size()) + " entries, this model " +
                std::to_string(state_.size()) + "; it was saved for another model");
  for (auto& item : state_) item.value().copy_(state[item.key()]);
}

void ModelEma::copy_to(torch::nn::Module& model) const { io::load_state_dict(model, state_); }

}  // namespace tlearn
