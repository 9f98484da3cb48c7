// Implementation of tlearn/train/trainer.hpp.
#include "tlearn/core/tensor_options.hpp"
#include "tlearn/train/trainer.hpp"

namespace tlearn::detail {

Progress::Progress(std::ostream& out, int64_t steps)
    : out_(out), steps_(steps), tty_(&out == &std::cout && isatty(fileno(stdout))), t0_(clock::now()) {}

}  // namespace tlearn::detail

namespace tlearn {

History Trainer::fit_source(const BatchSource& train, const FitOptions& fit) {
  if (fit.epochs() < fit.initial_epoch())
    throw Error("fit: epochs (" + std::to_string(fit.epochs()) + ") is below initial_epoch (" +
                std::to_string(fit.initial_epoch()) + "); epochs is the index of the last epoch + 1, as in Keras");
  if (!optimizer_) optimizer_ = optim::build(options_.optimizer(), *module_, &groups_);  // throws: nothing trainable
  History history;
  stop_ = false;
  for (auto& cb : fit.callbacks()) cb->on_train_begin(*this);
  auto& out = *options_.out();
  for (int64_t epoch = fit.initial_epoch(); epoch < fit.epochs() && !stop_; ++epoch) {
    for (auto& cb : fit.callbacks()) cb->on_epoch_begin(*this, epoch);
    if (options_.verbose()) out << "Epoch " << epoch + 1 << '/' << fit.epochs() << '\n';
    detail::Progress progress(out, train.steps);
    module_->train();
    Accumulator acc(options_.metrics());
    int64_t step = 0;
    train.run(epoch, [&](const torch::Tensor& images, const torch::Tensor& labels, const std::vector<size_t>*) {
      auto x = to_device(images);
      auto y = labels.to(device_, /*non_blocking=*/labels.is_pinned());
      optimizer_->zero_grad();
      torch::Tensor logits;
      {
        detail::AutocastGuard autocast(device_, options_.precision());
        logits = logits_(x);
      }
      auto loss = options_.loss()(logits.to(torch::kFloat), y, fit.class_weights());
      scaler_.scale(loss).backward();  // the loss itself unless FP16
      scaler_.step(*optimizer_);       // skipped when FP16 gradients overflowed
      scaler_.update();
      const double l = loss.item<double>();
      acc.add(l, logits.detach().to(torch::kFloat), y);
      ++step;
      if (options_.verbose()) progress.update(step, acc.logs(""), false);
      for (auto& cb : fit.callbacks()) cb->on_batch_end(*this, step - 1, l);
      return !stop_;
    });
    if (step == 0)
      throw Error("fit: the training data gave no batch in epoch " + std::to_string(epoch + 1) + " (empty data set?)");
    Logs logs = acc.logs("");
    if (fit.validation()) {
      auto val = evaluate_source(*fit.validation(), fit.class_weights());
      for (const auto& [k, v] : val) logs.emplace_back("val_" + k, v);
    }
    logs.emplace_back("lr", learning_rate());
    epoch_ = epoch + 1;
    if (options_.verbose()) progress.update(step, logs, true);
    history.add(epoch, logs);
    for (auto& cb : fit.callbacks()) cb->on_epoch_end(*this, epoch, logs);
  }
  for (auto& cb : fit.callbacks()) cb->on_train_end(*this);
  return history;
}

Logs Trainer::evaluate_source(const BatchSource& data, const std::vector<double>& class_weights) {
  torch::NoGradGuard no_grad;
  EvalGuard eval(*module_);
  Accumulator acc(options_.metrics());
  data.run(0, [&](const torch::Tensor& images, const torch::Tensor& labels, const std::vector<size_t>*) {
    auto y = labels.to(device_, labels.is_pinned());
    torch::Tensor logits;
    {
      detail::AutocastGuard autocast(device_, options_.precision());
      logits = logits_(to_device(images)).to(torch::kFloat);
    }
    acc.add(options_.loss()(logits, y, class_weights).item<double>(), logits, y);
    return true;
  });
  if (acc.count == 0) throw Error("evaluate: the data gave no batch (empty data set?)");
  return acc.logs("");
}

double Trainer::learning_rate() const {
  if (!optimizer_) return options_.optimizer().lr();
  return optimizer_->param_groups().front().options().get_lr() / groups_.front().multiplier;
}

void Trainer::set_learning_rate(double lr) {
  if (!optimizer_) throw Error("set_learning_rate: the model has no trainable parameters, so no optimizer");
  auto& pg = optimizer_->param_groups();
  for (size_t g = 0; g < pg.size(); ++g) pg[g].options().set_lr(lr * groups_[g].multiplier);
}

void Trainer::save_checkpoint(const std::filesystem::path& path) {
  torch::serialize::OutputArchive archive;
  const auto sd = io::state_dict(*module_);
  std::string names;
  int64_t i = 0;
  for (const auto& item : sd) {
    archive.write("model_" + std::to_string(i++), item.value().detach().cpu(), /*is_buffer=*/true);
    names += item.key() + "\n";
  }
  archive.write("model_names", c10::IValue(names));
  if (optimizer_) {
    torch::serialize::OutputArchive opt;
    optimizer_->save(opt);
    archive.write("optimizer", opt);
  }
  for (const auto& [key, value] : scaler_.state_dict())
    archive.write("grad_scaler." + key, torch::tensor(value, torch::kDouble), true);
  archive.write("epoch", torch::tensor(epoch_, torch::kLong), true);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    archive.write("cpu_rng", gen.get_state(), true);
  }
  tlearn::detail::write_atomically(path, [&](std::ofstream& out) { archive.save_to(out); });
}

int64_t Trainer::load_checkpoint(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path))
    throw Error("load_checkpoint: '" + path.string() +
                "' does not exist (written by Trainer::save_checkpoint or "
                "ModelCheckpoint with full_state(true))");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string());
  } catch (const c10::Error& e) {
    throw Error("load_checkpoint: '" + path.string() + "' is not a training checkpoint: " + e.what_without_backtrace());
  }
  c10::IValue names_value;
  archive.read("model_names", names_value);
  std::istringstream names(names_value.toStringRef());
  io::StateDict sd;
  std::string name;
  int64_t i = 0;
  while (std::getline(names, name)) {
    torch::Tensor t;
    archive.read("model_" + std::to_string(i++), t, true);
    sd.insert(name, t);
  }
  io::load_state_dict(*module_, sd);  // strict: names the keys that differ
  torch::serialize::InputArchive opt;
  if (optimizer_ && archive.try_read("optimizer", opt)) optimizer_->load(opt);
  if (scaler_.enabled()) {
    std::map<std::string, double> scaler_state;
    for (const char* key : {"scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"}) {
      torch::Tensor value;
      if (archive.try_read(std::string("grad_scaler.") + key, value, true)) scaler_state[key] = value.item<double>();
    }
    if (!scaler_state.empty()) scaler_.load_state_dict(scaler_state);
  }
  torch::Tensor epoch, rng;
  archive.read("epoch", epoch, true);
  archive.read("cpu_rng", rng, true);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng);
  }
  epoch_ = epoch.item<int64_t>();
  return epoch_;
}

torch::Tensor Trainer::to_device(const torch::Tensor& images) const {
  // A model converted to another floating dtype (float64, bfloat16) gets its inputs in it.
  const auto dtype = module_options(*module_).dtype().toScalarType();
  auto x = images.is_floating_point() ? images.to(device_, dtype, /*non_blocking=*/images.is_pinned())
                                      : images.to(device_, /*non_blocking=*/images.is_pinned());
  if (options_.channels_last() && x.dim() == 4) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  return x;
}

}  // namespace tlearn
