// Implementation of tlearn/train/callbacks.hpp.
#include "tlearn/train/callbacks.hpp"

namespace tlearn::detail {

double Monitor::read(const Logs& logs, const char* who) const {
  const double v = log_value(logs, key);
  if (std::isnan(v) && std::none_of(logs.begin(), logs.end(), [&](const auto& kv) { return kv.first == key; })) {
    std::string known;
    for (const auto& kv : logs) known += (known.empty() ? "" : ", ") + kv.first;
    throw Error(std::string(who) + ": monitor '" + key + "' is not logged (available: " + known +
                "); val_* keys need FitOptions().validation(...)");
  }
  return v;
}

bool Monitor::improved(double v) const {
  if (std::isnan(v)) return false;
  if (std::isnan(best)) return true;
  return max ? v > best + min_delta : v < best - min_delta;
}

/// `key` of a callback's saved state; an Error naming the callback when it is missing.
double state_number(const CallbackState& state, const std::string& key, const char* who) {
  const auto it = state.numbers.find(key);
  if (it == state.numbers.end())
    throw Error(std::string(who) + ": the training checkpoint's state for it has no '" + key +
                "' (written by another tlearn version?)");
  return it->second;
}

}  // namespace tlearn::detail

namespace tlearn {

void LearningRateScheduler::on_epoch_begin(TrainingContext& ctx, int64_t epoch) {
  const double lr = schedule_(epoch, ctx.learning_rate());
  if (!(lr >= 0) || !std::isfinite(lr))
    throw Error("LearningRateScheduler: the schedule returned " + std::to_string(lr) + " for epoch " +
                std::to_string(epoch) + "; it must return a finite, non-negative rate");
  ctx.set_learning_rate(lr);
}

void ReduceLROnPlateau::on_epoch_end(TrainingContext& ctx, int64_t, const Logs& logs) {
  const double v = m_.read(logs, "ReduceLROnPlateau");
  if (cooldown_ > 0) --cooldown_, wait_ = 0;
  if (m_.improved(v)) {
    m_.best = v, wait_ = 0;
  } else if (cooldown_ == 0 && ++wait_ >= o_.patience()) {
    const double lr = ctx.learning_rate();
    if (lr > o_.min_lr()) ctx.set_learning_rate(std::max(lr * o_.factor(), o_.min_lr()));
    cooldown_ = o_.cooldown(), wait_ = 0;
  }
}

CallbackState ReduceLROnPlateau::state() const {
  return {{{"best", m_.best}, {"wait", double(wait_)}, {"cooldown", double(cooldown_)}}, io::StateDict()};
}

void ReduceLROnPlateau::load_state(const CallbackState& state) {
  m_.best = detail::state_number(state, "best", "ReduceLROnPlateau");
  wait_ = int64_t(detail::state_number(state, "wait", "ReduceLROnPlateau"));
  cooldown_ = int64_t(detail::state_number(state, "cooldown", "ReduceLROnPlateau"));
}

CallbackState EarlyStopping::state() const {
  return {{{"best", m_.best}, {"wait", double(wait_)}, {"best_epoch", double(best_epoch_)}}, best_};
}

void EarlyStopping::load_state(const CallbackState& state) {
  m_.best = detail::state_number(state, "best", "EarlyStopping");
  wait_ = int64_t(detail::state_number(state, "wait", "EarlyStopping"));
  best_epoch_ = int64_t(detail::state_number(state, "best_epoch", "EarlyStopping"));
  best_ = io::StateDict();
  for (const auto& item : state.tensors) best_.insert(item.key(), item.value().clone());
}

void ModelCheckpoint::load_state(const CallbackState& state) {
  m_.best = detail::state_number(state, "best", "ModelCheckpoint");
}

void EarlyStopping::on_epoch_end(TrainingContext& ctx, int64_t epoch, const Logs& logs) {
  const double v = m_.read(logs, "EarlyStopping");
  if (m_.improved(v)) {
    m_.best = v, wait_ = 0, best_epoch_ = epoch;
    if (o_.restore_best_weights()) best_ = detail::clone_state(ctx.model());
  } else if (++wait_ >= o_.patience()) {
    stopped_epoch_ = epoch;
    ctx.stop_training();
  }
}

void ModelCheckpoint::on_epoch_end(TrainingContext& ctx, int64_t epoch, const Logs& logs) {
  if (o_.save_best_only()) {
    const double v = m_.read(logs, "ModelCheckpoint");
    if (!m_.improved(v)) return;
    m_.best = v;
  }
  auto p = path_.string();
  const auto at = p.find("{epoch}");
  if (at != std::string::npos) p.replace(at, 7, std::to_string(epoch + 1));
  if (o_.full_state()) {
    ctx.save_checkpoint(p);
  } else if (std::filesystem::path(p).extension() == ".safetensors") {
    io::save_safetensors(io::state_dict(ctx.model()), p, {{"format", "pt"}, {"epoch", std::to_string(epoch + 1)}});
  } else {
    io::save_pth(io::state_dict(ctx.model()), p);
  }
  saved_.push_back(p);
}

void CSVLogger::on_train_begin(TrainingContext&) {
  const bool had = append_ && std::filesystem::exists(path_) && std::filesystem::file_size(path_) > 0;
  out_.open(path_, append_ ? std::ios::app : std::ios::trunc);
  if (!out_) throw Error("CSVLogger: cannot open '" + path_.string() + "' for writing (check the folder exists)");
  header_written_ = had;
  keys_.clear();
}

void CSVLogger::on_epoch_end(TrainingContext&, int64_t epoch, const Logs& logs) {
  if (keys_.empty())
    for (const auto& kv : logs) keys_.push_back(kv.first);
  if (!header_written_) {
    out_ << "epoch";
    for (const auto& k : keys_) out_ << ',' << k;
    out_ << '\n';
    header_written_ = true;
  }
  out_ << epoch << std::setprecision(10);
  for (const auto& k : keys_) {
    const double v = log_value(logs, k);
    out_ << ',';
    if (!std::isnan(v)) out_ << v;
  }
  out_ << '\n' << std::flush;
}

void TerminateOnNaN::on_batch_end(TrainingContext& ctx, int64_t batch, double loss) {
  if (!std::isfinite(loss)) {
    std::cerr << "Batch " << batch << ": invalid loss " << loss << ", terminating training\n";
    terminated_ = true;
    ctx.stop_training();
  }
}

}  // namespace tlearn

namespace tlearn::detail {

bool maximise(const std::string& monitor, const std::string& mode) {
  if (mode == "max") return true;
  if (mode == "min") return false;
  if (mode != "auto") throw Error("callback: mode must be \"auto\", \"min\" or \"max\", got \"" + mode + "\"");
  for (const char* k : {"acc", "precision", "recall", "auc"})
    if (monitor.find(k) != std::string::npos) return true;
  return false;
}

io::StateDict clone_state(torch::nn::Module& m) {
  io::StateDict out;
  for (const auto& item : io::state_dict(m)) out.insert(item.key(), item.value().detach().clone());
  return out;
}

}  // namespace tlearn::detail
