// Implementation of tlearn/train/trainer.hpp.
#include "tlearn/core/tensor_options.hpp"
#include "tlearn/detail/file.hpp"
#include "tlearn/detail/random.hpp"
#include "tlearn/train/progress.hpp"
#include "tlearn/train/trainer.hpp"

namespace tlearn {

namespace {

/// The checkpoint names of fit()'s stateful callbacks: their state_name(), then
/// ".1", ".2", ... for the second and later of one kind.
std::vector<std::pair<std::string, Callback*>> stateful_callbacks(const std::vector<CallbackPtr>& callbacks) {
  std::vector<std::pair<std::string, Callback*>> out;
  std::map<std::string, int> seen;
  for (const auto& cb : callbacks) {
    const auto name = cb->state_name();
    if (name.empty()) continue;
    const int n = seen[name]++;
    out.emplace_back(n == 0 ? name : name + "." + std::to_string(n), cb.get());
  }
  return out;
}


}  // namespace

History Trainer::fit_source(const BatchSource& train, const FitOptions& fit) {
  if (fit.epochs() < fit.initial_epoch())
    throw Error("fit: epochs (" + std::to_string(fit.epochs()) + ") is below initial_epoch (" +
                std::to_string(fit.initial_epoch()) + "); epochs is the index of the last epoch + 1, as in Keras");
  if (!optimizer_) optimizer_ = optim::build(options_.optimizer(), *module_, &groups_);  // throws: nothing trainable
  History history;
  stop_ = false;
  const auto callbacks = local_callbacks(fit.callbacks());
  callbacks_ = &callbacks;
  struct Reset {
    Trainer& t;
    ~Reset() { t.callbacks_ = nullptr, t.defer_checkpoints_ = false, t.deferred_checkpoints_.clear(); }
  } reset{*this};
  for (auto& cb : callbacks) cb->on_train_begin(*this);
  // Resuming: callbacks go on from the state the checkpoint saved.
  for (const auto& [name, cb] : stateful_callbacks(callbacks))
    if (const auto it = restored_callbacks_.find(name); it != restored_callbacks_.end()) cb->load_state(it->second);
  restored_callbacks_.clear();
  auto& out = *options_.out();
  const bool verbose = options_.verbose() && distributed::is_main_process();
  if (distributed::world_size() > 1) {
    if (!data_parallel_) {
      std::vector<torch::Tensor> trained;
      for (auto& group : optimizer_->param_groups())
        for (auto& p : group.params()) trained.push_back(p);
      data_parallel_ = std::make_unique<DataParallel>(*module_, trained, options_.data_parallel());
    }
    data_parallel_->broadcast_state();  // every process starts from rank 0's weights
  }
  const auto& mixup = options_.mixup();
  if (mixup && options_.loss().kind != loss::Kind::CrossEntropy)
    throw Error("fit: MixUp / CutMix make soft targets, which need loss::CrossEntropy(), not " + options_.loss().name());
  // The schedule counts optimizer updates; a source of unknown length is stepped per epoch.
  const int64_t k = options_.gradient_accumulation_steps();
  const int64_t per_epoch = train.steps > 0 ? (train.steps + k - 1) / k : 1;
  const double schedule_epochs = options_.schedule().epochs() > 0 ? options_.schedule().epochs() : double(fit.epochs());
  const int64_t total_updates = std::max<int64_t>(1, std::llround(schedule_epochs * double(per_epoch)));
  for (int64_t epoch = fit.initial_epoch(); epoch < fit.epochs() && !stop_; ++epoch) {
    for (auto& cb : callbacks) cb->on_epoch_begin(*this, epoch);
    if (verbose) out << "Epoch " << epoch + 1 << '/' << fit.epochs() << '\n';
    detail::Progress progress(out, train.steps, scheduled());
    module_->train();
    Accumulator acc(options_.metrics());
    int64_t step = 0, in_group = 0, group_samples = 0, update_in_epoch = 0;
    auto update = [&] {
      if (scheduled())
        apply_schedule(epoch * per_epoch + (train.steps > 0 ? update_in_epoch : 0), total_updates, per_epoch);
      update_weights(in_group, group_samples);
      ++update_in_epoch, in_group = 0, group_samples = 0;
    };
    train.run(epoch, [&](const torch::Tensor& images, const torch::Tensor& labels, const std::vector<size_t>*, size_t) {
      auto x = to_device(images);
      auto y = labels.to(device_, /*non_blocking=*/labels.is_pinned());
      MixParams mix;
      if (mixup) {
        if (x.dim() != 4) throw Error("fit: MixUp / CutMix need image batches (N, C, H, W)");
        mix = sample_mix(*mixup, x.size(2), x.size(3), detail::mix64(mixup->seed() ^ detail::mix64(uint64_t(epoch) * 1000003ULL + uint64_t(step))));
        x = mix_images(x, mix);
      }
      if (in_group == 0) optimizer_->zero_grad();
      if (data_parallel_) data_parallel_->broadcast_buffers();
      torch::Tensor logits;
      {
        detail::AutocastGuard autocast(device_, options_.precision());
        logits = logits_(x);
      }
      logits = logits.to(torch::kFloat);
      torch::Tensor target = y, metric_labels = y;
      if (mixup) {
        if (logits.dim() != 2 || logits.size(1) < 2 || y.dim() != 1)
          throw Error("fit: MixUp / CutMix need class indices (N) and a model with one output per class");
        target = mix_targets(y, logits.size(1), mix.lam, mixup->label_smoothing());
        metric_labels = target.argmax(1);  // metrics on mixed batches count against the mixed target's argmax
      }
      auto loss = options_.loss()(logits, target, fit.class_weights());
      const int64_t n = y.size(0);
      // Accumulating: each batch adds its summed loss; update_weights divides by the samples seen.
      // Processes average gradients at a group's last batch (or every batch when the epoch's length is unknown).
      if (data_parallel_) data_parallel_->prepare(in_group + 1 == k || train.steps <= 0 || step + 1 == train.steps);
      scaler_.scale(k > 1 ? loss * double(n) : loss).backward();  // scaled only with FP16
      if (data_parallel_) data_parallel_->finish();
      ++in_group, group_samples += n;
      if (in_group == k) update();
      const double l = loss.item<double>();
      acc.add(l, logits.detach(), metric_labels);
      ++step;
      if (verbose) {
        auto logs = acc.logs("");
        if (scheduled()) logs.emplace_back("lr", learning_rate());
        progress.update(step, logs, false);
      }
      for (auto& cb : callbacks) cb->on_batch_end(*this, step - 1, l);
      if (data_parallel_) {  // one process's callback stopping stops all: their collectives must match
        std::vector<torch::Tensor> stop{torch::full({1}, stop_ ? 1.0f : 0.0f)};
        distributed::all_reduce_sum(stop);
        stop_ = stop[0].item<float>() > 0;
      }
      return !stop_;
    });
    if (in_group > 0 && !stop_) update();  // the epoch's last, shorter group
    if (step == 0)
      throw Error("fit: the training data gave no batch in epoch " + std::to_string(epoch + 1) + " (empty data set?)");
    if (data_parallel_) data_parallel_->broadcast_buffers();  // evaluate and save rank 0's statistics everywhere
    acc.reduce_across_processes();
    Logs logs = acc.logs("");
    if (fit.validation()) {
      for (const auto& [key, v] : evaluate_source(*fit.validation(), fit.class_weights())) logs.emplace_back("val_" + key, v);
      if (ema_)
        for (const auto& [key, v] : evaluate_ema(*fit.validation(), fit.class_weights())) logs.emplace_back("val_ema_" + key, v);
    }
    logs.emplace_back("lr", learning_rate());
    epoch_ = epoch + 1;
    if (verbose) progress.update(step, logs, true);
    history.add(epoch, logs);
    defer_checkpoints_ = true;
    for (auto& cb : callbacks) cb->on_epoch_end(*this, epoch, logs);
    defer_checkpoints_ = false;
    for (const auto& path : deferred_checkpoints_) save_checkpoint(path);
    deferred_checkpoints_.clear();
  }
  for (auto& cb : callbacks) cb->on_train_end(*this);
  return history;
}

Logs Trainer::evaluate_source(const BatchSource& data, const std::vector<double>& class_weights) {
  torch::NoGradGuard no_grad;
  EvalGuard eval(*module_);
  Accumulator acc(options_.metrics());
  data.run(0, [&](const torch::Tensor& images, const torch::Tensor& labels, const std::vector<size_t>*, size_t padding) {
    const int64_t real = labels.size(0) - int64_t(padding);  // shard padding repeats samples other processes have
    if (real <= 0) return true;
    auto y = labels.narrow(0, 0, real).to(device_, labels.is_pinned());
    torch::Tensor logits;
    {
      detail::AutocastGuard autocast(device_, options_.precision());
      logits = logits_(to_device(images.narrow(0, 0, real))).to(torch::kFloat);
    }
    acc.add(options_.loss()(logits, y, class_weights).item<double>(), logits, y);
    return true;
  });
  acc.reduce_across_processes();
  if (acc.count == 0) throw Error("evaluate: the data gave no batch (empty data set?)");
  return acc.logs("");
}

void Trainer::Accumulator::reduce_across_processes() {
  if (distributed::world_size() == 1) return;
  std::vector<torch::Tensor> totals{torch::tensor({loss_sum, double(count), count > 0 ? 1.0 : 0.0}, torch::kDouble)};
  distributed::all_reduce_sum(totals);
  const auto t = totals[0];
  const int64_t with_data = int64_t(t[2].item<double>());
  if (with_data == 0) return;  // the caller reports the empty data set
  if (with_data != distributed::world_size())
    throw Error("the data set has fewer samples than the job has processes (" + std::to_string(distributed::world_size()) +
                "), so some process got none to evaluate; use fewer processes or LoaderOptions().shard(false)");
  loss_sum = t[0].item<double>();
  count = int64_t(t[1].item<double>());
  for (size_t i = 0; i < metrics.size(); ++i) {
    auto local = sums[i].to(torch::kCPU, torch::kDouble).contiguous();
    if (metrics[i].concatenate) {
      sums[i] = distributed::all_gather_cat(local);
    } else {
      std::vector<torch::Tensor> one{local};
      distributed::all_reduce_sum(one);
      sums[i] = one[0];
    }
  }
}

std::pair<torch::Tensor, torch::Tensor> Trainer::infer_all(const BatchSource& data,
                                                           const std::function<torch::Tensor(const torch::Tensor&)>& fn,
                                                           const char* what) {
  torch::NoGradGuard no_grad;
  EvalGuard eval(*module_);
  std::vector<torch::Tensor> outs, labels;
  std::vector<int64_t> order;
  bool indexed = true;
  data.run(0, [&](const torch::Tensor& images, const torch::Tensor& y, const std::vector<size_t>* idx, size_t padding) {
    const int64_t real = y.size(0) - int64_t(padding);
    if (real <= 0) return true;
    detail::AutocastGuard autocast(device_, options_.precision());
    outs.push_back(fn(to_device(images.narrow(0, 0, real))).to(torch::kFloat).cpu());
    labels.push_back(y.narrow(0, 0, real).cpu());
    if (idx) order.insert(order.end(), idx->begin(), idx->begin() + real);
    else indexed = false;
    return true;
  });
  const bool many = distributed::world_size() > 1;
  if (many) {
    std::vector<torch::Tensor> flags{torch::tensor({outs.empty() ? 0.0 : 1.0, indexed ? 1.0 : 0.0}, torch::kDouble)};
    distributed::all_reduce_sum(flags);
    if (flags[0][0].item<double>() != double(distributed::world_size()))
      throw Error(std::string(what) + ": some process of the job got no batch (fewer samples than processes?); "
                                      "use fewer processes or LoaderOptions().shard(false)");
    indexed = flags[0][1].item<double>() == double(distributed::world_size());
  }
  if (outs.empty()) throw Error(std::string(what) + ": the data gave no batch (empty data set?)");
  auto out = torch::cat(outs), y = torch::cat(labels);
  if (!many) return {out, y};
  if (!indexed)
    throw Error(std::string(what) + ": in a job of many processes the batches must carry their data-set indices "
                                    "(a tlearn::data::Loader's do) to put every process's outputs back in order");
  auto all = distributed::gather_in_index_order({out, y}, order);
  return {all[0], all[1]};
}

std::vector<CallbackPtr> Trainer::local_callbacks(const std::vector<CallbackPtr>& callbacks) const {
  if (distributed::is_main_process()) return callbacks;
  std::vector<CallbackPtr> out;
  for (const auto& cb : callbacks)
    if (!cb->main_process_only()) out.push_back(cb);
  return out;
}

void Trainer::apply_schedule(int64_t t, int64_t total, int64_t per_epoch) {
  const double lr = options_.optimizer().lr() * options_.schedule().factor(t, total, per_epoch, options_.optimizer().lr());
  auto& pg = optimizer_->param_groups();
  for (size_t g = 0; g < pg.size(); ++g) pg[g].options().set_lr(lr * lr_scale_ * groups_[g].multiplier);
}

void Trainer::update_weights(int64_t batches, int64_t samples) {
  std::vector<torch::Tensor> params;
  for (auto& group : optimizer_->param_groups())
    for (auto& p : group.params())
      if (p.grad().defined()) params.push_back(p);
  if (batches > 1 || options_.gradient_accumulation_steps() > 1) {
    torch::NoGradGuard no_grad;
    for (auto& p : params) p.mutable_grad().div_(double(samples));
  }
  if (options_.clip_grad_norm() > 0 || options_.clip_grad_value() > 0) {
    scaler_.unscale_(*optimizer_);  // clip the true gradients
    if (options_.clip_grad_value() > 0) torch::nn::utils::clip_grad_value_(params, options_.clip_grad_value());
    if (options_.clip_grad_norm() > 0) torch::nn::utils::clip_grad_norm_(params, options_.clip_grad_norm());
  }
  scaler_.step(*optimizer_);  // skipped when FP16 gradients overflowed
  scaler_.update();
  ++updates_;
  if (ema_) ema_->update(*module_, updates_);
}

Logs Trainer::evaluate_ema(const BatchSource& data, const std::vector<double>& class_weights) {
  io::StateDict current;
  {
    torch::NoGradGuard no_grad;
    for (const auto& item : io::state_dict(*module_)) current.insert(item.key(), item.value().clone());
  }
  ema_->copy_to(*module_);
  struct Restore {
    torch::nn::Module& m;
    const io::StateDict& s;
    ~Restore() { io::load_state_dict(m, s); }
  } restore{*module_, current};
  return evaluate_source(data, class_weights);
}

double Trainer::learning_rate() const {
  if (!optimizer_) return options_.optimizer().lr();
  return optimizer_->param_groups().front().options().get_lr() / groups_.front().multiplier;
}

void Trainer::set_learning_rate(double lr) {
  if (!optimizer_) throw Error("set_learning_rate: the model has no trainable parameters, so no optimizer");
  // Under a schedule the change scales the schedule from now on.
  if (scheduled() && learning_rate() > 0) lr_scale_ *= lr / learning_rate();
  auto& pg = optimizer_->param_groups();
  for (size_t g = 0; g < pg.size(); ++g) pg[g].options().set_lr(lr * groups_[g].multiplier);
}

TrainingState Trainer::training_state() const {
  TrainingState state;
  state.epoch = epoch_;
  state.updates = updates_;
  state.lr_scale = lr_scale_;
  if (ema_)
    for (const auto& item : ema_->state()) state.ema.insert(item.key(), item.value().detach());
  for (const auto& item : io::state_dict(*module_)) state.model.insert(item.key(), item.value().detach());
  if (optimizer_) {
    state.optimizer = options_.optimizer().name();
    const auto& pg = optimizer_->param_groups();
    for (size_t g = 0; g < pg.size(); ++g) {
      OptimizerGroupState group{optim::group_options(pg[g].options()), groups_[g].names};
      for (size_t i = 0; i < pg[g].params().size(); ++i)
        for (const auto& [buffer, t] : optim::parameter_state(*optimizer_, pg[g].params()[i]))
          state.optimizer_state.insert(groups_[g].names[i] + "." + buffer, t.detach());
      state.groups.push_back(std::move(group));
    }
  }
  state.grad_scaler = scaler_.state_dict();
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    state.rng.insert("cpu", gen.get_state());
  }
  if (torch::cuda::is_available())
    for (int i = 0; i < int(torch::cuda::device_count()); ++i) {
      auto gen = at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, c10::DeviceIndex(i)));
      std::lock_guard<std::mutex> lock(gen.mutex());
      state.rng.insert("cuda:" + std::to_string(i), gen.get_state());
    }
  if (callbacks_)
    for (const auto& [name, cb] : stateful_callbacks(*callbacks_)) state.callbacks[name] = cb->state();
  return state;
}

void Trainer::save_checkpoint(const std::filesystem::path& path) {
  if (!distributed::is_main_process()) return;  // every process holds the same state; rank 0 writes it
  if (defer_checkpoints_) {
    deferred_checkpoints_.push_back(path);
    return;
  }
  save_training_state(training_state(), path);
}

int64_t Trainer::load_checkpoint(const std::filesystem::path& path) {
  auto state = load_training_state(path);
  const std::string where = "load_checkpoint: " + path.string() + ": ";
  if (!optimizer_ && !state.groups.empty()) optimizer_ = optim::build(options_.optimizer(), *module_, &groups_);
  if (ema_ && state.ema.is_empty())
    throw Error(where + "the checkpoint has no moving average of the weights, this Trainer keeps one "
                        "(TrainerOptions::ema); resume with the options of the saved run");
  if (!ema_ && !state.ema.is_empty())
    throw Error(where + "the checkpoint has a moving average of the weights; set TrainerOptions::ema to resume it");
  if (ema_) {
    const auto& mine = ema_->state();
    bool same = mine.size() == state.ema.size();
    for (const auto& item : mine) {
      const auto* saved = state.ema.find(item.key());
      same = same && saved != nullptr && saved->sizes().equals(item.value().sizes());
    }
    if (!same) throw Error(where + "the checkpoint's moving average is of another model; resume the same model");
  }
  if (optimizer_) {
    if (state.optimizer != options_.optimizer().name())
      throw Error(where + "the checkpoint was saved with " + (state.optimizer.empty() ? "no optimizer" : state.optimizer) +
                  ", this Trainer uses " + options_.optimizer().name() + "; resume with the same optimizer");
    auto& pg = optimizer_->param_groups();
    if (state.groups.size() != pg.size())
      throw Error(where + "the checkpoint has " + std::to_string(state.groups.size()) +
                  " parameter groups, this Trainer has " + std::to_string(pg.size()) +
                  "; freeze the same layers and use the same lr_multiplier / layer_decay as the saved run");
    // Check everything before changing anything.
    for (size_t g = 0; g < pg.size(); ++g)
      if (state.groups[g].parameters != groups_[g].names) {
        const auto& saved = state.groups[g].parameters;
        const auto& mine = groups_[g].names;
        size_t i = 0;
        while (i < saved.size() && i < mine.size() && saved[i] == mine[i]) ++i;
        throw Error(where + "parameter group " + std::to_string(g) + " differs from this Trainer's: " +
                    (i < saved.size() ? "the checkpoint trains '" + saved[i] + "'" : "the checkpoint ends") +
                    " where this Trainer " + (i < mine.size() ? "trains '" + mine[i] + "'" : "ends") +
                    "; freeze the same layers as the saved run before building the Trainer");
      }
    io::load_state_dict(*module_, state.model);  // strict: names the keys that differ
    std::map<std::string, std::map<std::string, torch::Tensor>> buffers;
    for (const auto& item : state.optimizer_state) {
      const auto dot = item.key().rfind('.');
      if (dot == std::string::npos) throw Error(where + "optimizer buffer '" + item.key() + "' names no parameter");
      buffers[item.key().substr(0, dot)][item.key().substr(dot + 1)] = item.value();
    }
    for (size_t g = 0; g < pg.size(); ++g) {
      optim::set_group_options(pg[g].options(), state.groups[g].options);
      for (size_t i = 0; i < pg[g].params().size(); ++i) {
        const auto& name = groups_[g].names[i];
        static const std::map<std::string, torch::Tensor> never_stepped;
        const auto it = buffers.find(name);
        optim::set_parameter_state(*optimizer_, pg[g].params()[i], it == buffers.end() ? never_stepped : it->second, name);
        if (it != buffers.end()) buffers.erase(it);
      }
    }
    if (!buffers.empty())
      throw Error(where + "the checkpoint has optimizer state for '" + buffers.begin()->first +
                  "', which this Trainer does not train");
  } else {
    io::load_state_dict(*module_, state.model);
  }
  if (scaler_.enabled() && !state.grad_scaler.empty()) scaler_.load_state_dict(state.grad_scaler);
  for (const auto& item : state.rng) {
    const auto& key = item.key();
    if (key == "cpu") {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(item.value());
    } else if (key.rfind("cuda:", 0) == 0 && torch::cuda::is_available()) {
      const int index = std::stoi(key.substr(5));
      if (index < int(torch::cuda::device_count())) {
        auto gen = at::globalContext().defaultGenerator(torch::Device(torch::kCUDA, c10::DeviceIndex(index)));
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(item.value());
      }
    }
  }
  if (ema_) ema_->load(state.ema);  // checked above, before anything changed
  std::vector<torch::Tensor> read;  // all copied by now: was the file overwritten in place meanwhile?
  for (const auto* part : {&state.model, &state.optimizer_state, &state.rng, &state.ema})
    for (const auto& item : *part) read.push_back(item.value());
  tlearn::detail::require_files_intact(read, "load_checkpoint");
  restored_callbacks_ = std::move(state.callbacks);
  updates_ = state.updates;
  lr_scale_ = state.lr_scale;
  epoch_ = state.epoch;
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
