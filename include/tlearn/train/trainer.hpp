#pragma once
/// \file
/// The training loop: fit / evaluate / predict over any range of batches with
/// `.images` and `.labels` (tlearn::data::Loader, or a std::vector of your own).
///
///     tlearn::Trainer trainer(model, tlearn::TrainerOptions()
///         .optimizer(tlearn::optim::SGD(1e-4).momentum(0.9))
///         .loss(tlearn::loss::BinaryCrossEntropy()));
///     auto history = trainer.fit(train, tlearn::FitOptions().epochs(5).validation(val));
///
/// Each epoch prints a Keras progress line (in place on a terminal, once per
/// epoch otherwise). The optimizer sees the parameters that require gradients
/// only, so freeze layers before building the Trainer. A Loader's shuffle is
/// seeded with the epoch number, and Trainer::save_checkpoint stores model,
/// optimizer (buffers and every group's options), loss scaler, callbacks' state,
/// epoch and random state: a run resumed at epoch k repeats the uninterrupted
/// run exactly (on the CPU), learning-rate changes included.
///
/// After tlearn::distributed::init() joined a job of many processes, the Trainer
/// trains data-parallel (train/data_parallel.hpp): rank 0's weights go to every
/// process, gradients are averaged, each Loader reads its part of the data, the
/// epoch's numbers are reduced over all processes, and only rank 0 prints,
/// writes checkpoints and runs the callbacks that write files.

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tlearn/core/cpu_memory.hpp"
#include "tlearn/core/distributed.hpp"
#include "tlearn/core/error.hpp"
#include "tlearn/core/eval_guard.hpp"
#include "tlearn/core/freeze.hpp"
#include "tlearn/detail/file.hpp"
#include "tlearn/io/state_dict.hpp"
#include "tlearn/train/batch_source.hpp"
#include "tlearn/train/callbacks.hpp"
#include "tlearn/train/data_parallel.hpp"
#include "tlearn/train/ema.hpp"
#include "tlearn/train/grad_scaler.hpp"
#include "tlearn/train/history.hpp"
#include "tlearn/train/loss.hpp"
#include "tlearn/train/metrics.hpp"
#include "tlearn/train/mixup.hpp"
#include "tlearn/train/optim.hpp"
#include "tlearn/train/precision.hpp"
#include "tlearn/train/schedule.hpp"
#include "tlearn/train/training_state.hpp"

namespace tlearn {

namespace detail {
template <class M, class = void>
struct has_logits : std::false_type {};
template <class M>
struct has_logits<M, std::void_t<decltype(std::declval<M&>()->logits(torch::Tensor()))>> : std::true_type {};
}  // namespace detail

struct TrainerOptions {
  TORCH_ARG(optim::Spec, optimizer) = optim::Adam();
  /// The learning rate over the run, stepped after every optimizer update
  /// (train/schedule.hpp); the optimizer's lr is its peak.
  TORCH_ARG(schedule::Spec, schedule) = schedule::Constant();
  TORCH_ARG(loss::Spec, loss) = loss::CrossEntropy();
  /// Rescale the gradients when their global L2 norm exceeds this (torch's
  /// clip_grad_norm_, Keras' global_clipnorm); 0: off.
  TORCH_ARG(double, clip_grad_norm) = 0;
  /// Clamp every gradient to [-v, v] (torch's clip_grad_value_, Keras' clipvalue); 0: off.
  TORCH_ARG(double, clip_grad_value) = 0;
  /// Sum the gradients of this many batches before each optimizer update (Keras'
  /// gradient_accumulation_steps): the update equals one on a batch k times larger.
  TORCH_ARG(int64_t, gradient_accumulation_steps) = 1;
  TORCH_ARG(std::vector<metrics::Metric>, metrics) = {metrics::accuracy()};
  /// 0 silent, 1 a progress line per epoch.
  TORCH_ARG(int, verbose) = 1;
  /// The forward pass's dtype: FP32; BF16 (autocast to bfloat16, CUDA and CPU);
  /// FP16 (autocast to float16 with dynamic loss scaling, see grad_scaler.hpp).
  TORCH_ARG(Precision, precision) = Precision::FP32;
  /// FP16's loss scaler (torch.amp.GradScaler's defaults).
  TORCH_ARG(GradScalerOptions, grad_scaler) = {};
  /// Convert 4-D weights and inputs to channels_last (NHWC) memory format: oneDNN's
  /// and cuDNN's fast path (1.3-2x on CPU training steps). Turn it off if your own
  /// module calls view() on 4-D activations.
  TORCH_ARG(bool, channels_last) = true;
  /// On the CPU, keep freed memory for the next step instead of returning it to the
  /// system (see core/cpu_memory.hpp; process-wide).
  TORCH_ARG(bool, reuse_cpu_memory) = true;
  /// How gradients are averaged in a job of many processes (train/data_parallel.hpp).
  TORCH_ARG(DataParallelOptions, data_parallel) = {};

 public:
  /// Where progress goes (a terminal gets in-place updates).
  TrainerOptions& out(std::ostream* os) {
    out_ = os;
    return *this;
  }
  std::ostream* out() const { return out_; }
  /// Default: this process's GPU when CUDA is available (cuda:LOCAL_RANK in a job
  /// of many processes), else the CPU.
  TrainerOptions& device(torch::Device d) {
    device_ = d;
    return *this;
  }
  torch::Device device() const { return device_ ? *device_ : distributed::device(); }
  /// Keep a moving average of the weights (train/ema.hpp); validation then also
  /// logs val_ema_* for it.
  TrainerOptions& ema(EmaOptions o) {
    ema_ = o;
    return *this;
  }
  const std::optional<EmaOptions>& ema() const { return ema_; }
  /// Mix each training batch (train/mixup.hpp); needs loss::CrossEntropy on class indices.
  TrainerOptions& mixup(MixupOptions o) {
    mixup_ = o;
    return *this;
  }
  const std::optional<MixupOptions>& mixup() const { return mixup_; }

 private:
  std::optional<torch::Device> device_;
  std::optional<EmaOptions> ema_;
  std::optional<MixupOptions> mixup_;
  std::ostream* out_ = &std::cout;
};

struct FitOptions {
  TORCH_ARG(int64_t, epochs) = 1;
  /// First epoch to run (0-based), e.g. after Trainer::load_checkpoint.
  TORCH_ARG(int64_t, initial_epoch) = 0;
  TORCH_ARG(std::vector<CallbackPtr>, callbacks) = {};
  /// Keras' class_weight: the loss of a sample of class c is multiplied by class_weights[c].
  TORCH_ARG(std::vector<double>, class_weights) = {};

 public:
  /// Evaluated after each epoch; its numbers are logged as val_loss, val_accuracy, ...
  template <class R>
  FitOptions& validation(R range) {
    validation_ = batch_source(std::move(range));
    return *this;
  }
  const std::optional<BatchSource>& validation() const { return validation_; }

 private:
  std::optional<BatchSource> validation_;
};


class Trainer : public TrainingContext {
 public:
  /// `model` is a module holder (Classifier, Head, AnyBackbone, your own TORCH_MODULE).
  /// Losses use model->logits(x) when the model has it, else model->forward(x).
  template <class M>
  Trainer(M model, TrainerOptions options) : options_(std::move(options)), device_(options_.device()) {
    auto ptr = model.ptr();
    module_ = ptr;
    if constexpr (detail::has_logits<M>::value) logits_ = [ptr](const torch::Tensor& x) { return ptr->logits(x); };
    else logits_ = [ptr](const torch::Tensor& x) { return ptr->forward(x); };
    forward_ = [ptr](const torch::Tensor& x) { return ptr->forward(x); };
    { detail::AutocastGuard probe(device_, options_.precision()); }  // an impossible precision throws here
    scaler_ = GradScaler(options_.grad_scaler().enabled(options_.precision() == Precision::FP16));
    module_->to(device_);
    if (device_.is_cpu() && options_.reuse_cpu_memory()) reuse_freed_cpu_memory();
    if (options_.channels_last()) {
      torch::NoGradGuard no_grad;
      for (auto& p : module_->parameters())
        if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
    }
    // A model with nothing to train can still evaluate and predict; fit() says what is wrong.
    if (!tlearn::trainable_parameters(*module_).empty()) optimizer_ = optim::build(options_.optimizer(), *module_, &groups_);
    if (options_.gradient_accumulation_steps() < 1)
      throw Error("TrainerOptions: gradient_accumulation_steps must be at least 1, got " +
                  std::to_string(options_.gradient_accumulation_steps()));
    if (options_.clip_grad_norm() < 0 || options_.clip_grad_value() < 0)
      throw Error("TrainerOptions: clip_grad_norm and clip_grad_value must be >= 0 (0 turns them off)");
    if (options_.ema()) ema_ = std::make_unique<ModelEma>(*module_, *options_.ema());
  }

  /// Trains for epochs [initial_epoch, epochs); returns the per-epoch numbers.
  template <class R>
  History fit(R&& train, const FitOptions& fit = {}) {
    return fit_source(batch_source(std::forward<R>(train)), fit);
  }

  History fit_source(const BatchSource& train, const FitOptions& fit);

  /// Loss and metrics over `data`, in inference mode.
  template <class R>
  Logs evaluate(R&& data, const std::vector<double>& class_weights = {}) {
    return evaluate_source(batch_source(std::forward<R>(data)), class_weights);
  }

  Logs evaluate_source(const BatchSource& data, const std::vector<double>& class_weights = {});

  /// scikit-learn's classification report and the confusion matrix over `data`
  /// (a single-label classifier; `names` label the classes).
  /// In a job of many processes each reads its part and every process gets the whole report.
  template <class R>
  metrics::ClassificationReport report(R&& data, std::vector<std::string> names = {}) {
    auto [logits, labels] = infer_all(batch_source(std::forward<R>(data)), logits_, "report");
    return metrics::classification_report(logits, labels, std::move(names));
  }

  /// The model's outputs (forward(), with the head's activation) for every batch, on the CPU.
  /// In a job of many processes each computes its part and every process gets
  /// all outputs, in data-set order (a data::Loader's batches carry the indices).
  template <class R>
  torch::Tensor predict(R&& data) {
    return infer_all(batch_source(std::forward<R>(data)), forward_, "predict").first;
  }

  // ---- TrainingContext ----
  double learning_rate() const override;
  void set_learning_rate(double lr) override;
  void stop_training() override { stop_ = true; }
  torch::nn::Module& model() override { return *module_; }

  /// Writes the training state after the last finished epoch (train/training_state.hpp:
  /// safetensors with a JSON description, written to a temporary file and renamed).
  /// Called from a callback's on_epoch_end, it writes once every callback has
  /// finished the epoch, so their state after it is saved.
  void save_checkpoint(const std::filesystem::path& path) override;

  /// The training state as save_checkpoint would write it now.
  TrainingState training_state() const;

  /// Restores what save_checkpoint wrote: weights, optimizer (each group's options
  /// and buffers; the groups must be the same, so freeze the same layers first),
  /// loss scaler, random state. Callbacks get their state back at the start of
  /// the next fit(). Returns the epoch to resume from (FitOptions().initial_epoch(...)).
  int64_t load_checkpoint(const std::filesystem::path& path);

  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  /// The parameter groups: multiplier and parameter names of each.
  const std::vector<optim::GroupInfo>& parameter_groups() const { return groups_; }
  const torch::Device& device() const { return device_; }
  /// Epochs finished so far (by fit or a loaded checkpoint).
  int64_t epoch() const { return epoch_; }
  /// Optimizer updates made so far.
  int64_t updates() const { return updates_; }
  /// The weights' moving average (TrainerOptions::ema); nullptr without one.
  ModelEma* ema() { return ema_.get(); }
  const TrainerOptions& options() const { return options_; }
  /// The gradient averaging of a job of many processes; nullptr before fit() or with one process.
  const DataParallel* data_parallel() const { return data_parallel_.get(); }

 private:
  struct Accumulator {
    const std::vector<metrics::Metric>& metrics;
    std::vector<torch::Tensor> sums;
    double loss_sum = 0;
    int64_t count = 0;
    explicit Accumulator(const std::vector<metrics::Metric>& m) : metrics(m), sums(m.size()) {}
    void add(double loss, const torch::Tensor& logits, const torch::Tensor& labels) {
      const int64_t n = labels.size(0);
      loss_sum += loss * double(n);
      count += n;
      for (size_t i = 0; i < metrics.size(); ++i) {
        auto s = metrics[i].sums(logits, labels);
        if (!sums[i].defined()) sums[i] = s;
        else sums[i] = metrics[i].concatenate ? torch::cat({sums[i], s}) : sums[i] + s;
      }
    }
    /// Sums the counts of every process into each (a job of many processes).
    void reduce_across_processes();
    Logs logs(const std::string& prefix) const {
      Logs out{{prefix + "loss", count ? loss_sum / double(count) : NAN}};
      for (size_t i = 0; i < metrics.size(); ++i)
        out.emplace_back(prefix + metrics[i].name, sums[i].defined() ? metrics[i].value(sums[i]) : NAN);
      return out;
    }
  };

  torch::Tensor to_device(const torch::Tensor& images) const;
  /// `fn`'s float outputs and the labels of every sample of `data` (shard padding
  /// left out), gathered from every process, in data-set order when indexed.
  std::pair<torch::Tensor, torch::Tensor> infer_all(const BatchSource& data,
                                                    const std::function<torch::Tensor(const torch::Tensor&)>& fn,
                                                    const char* what);
  /// fit()'s callbacks that run in this process: all on rank 0; on the others
  /// those that write no files.
  std::vector<CallbackPtr> local_callbacks(const std::vector<CallbackPtr>& callbacks) const;
  /// The learning rate of update `t` of `total` (`per_epoch` a epoch), times lr_scale_, into every group.
  void apply_schedule(int64_t t, int64_t total, int64_t per_epoch);
  bool scheduled() const {
    return options_.schedule().kind != schedule::Kind::Constant || options_.schedule().warmup_epochs() > 0;
  }
  /// The optimizer update after the accumulated batches of `samples` samples.
  void update_weights(int64_t batches, int64_t samples);
  /// evaluate() with the moving average's weights in the model, which is then restored.
  Logs evaluate_ema(const BatchSource& data, const std::vector<double>& class_weights);

  TrainerOptions options_;
  torch::Device device_;
  std::shared_ptr<torch::nn::Module> module_;
  std::function<torch::Tensor(const torch::Tensor&)> logits_, forward_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  GradScaler scaler_{GradScalerOptions().enabled(false)};
  std::vector<optim::GroupInfo> groups_;
  int64_t epoch_ = 0;
  int64_t updates_ = 0;
  // What callbacks that set the learning rate scaled the schedule by.
  double lr_scale_ = 1.0;
  std::unique_ptr<ModelEma> ema_;
  std::unique_ptr<DataParallel> data_parallel_;
  bool stop_ = false;
  // While fit() runs: its callbacks, and the checkpoints asked for during on_epoch_end.
  const std::vector<CallbackPtr>* callbacks_ = nullptr;
  bool defer_checkpoints_ = false;
  std::vector<std::filesystem::path> deferred_checkpoints_;
  // Callback states from load_checkpoint, handed over at the start of the next fit().
  std::map<std::string, CallbackState> restored_callbacks_;
};

}  // namespace tlearn
