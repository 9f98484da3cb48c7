#pragma once
/// \file
/// The two transfer-learning recipes, one call each.
///
/// Feature extraction: run the frozen base once over the data, keep its feature
/// maps (optionally in a safetensors cache), and train the head on them. Without
/// augmentation this reaches the same head weights as training end to end with
/// the base frozen, many times faster per epoch.
///
///     auto h = tlearn::feature_extraction(model, train, tlearn::FeatureExtractionOptions()
///                  .epochs(10).validation(val).cache("features.safetensors"));
///
/// The modern fine-tuning recipe (timm's and torchvision's references) in one
/// call: AdamW without weight decay on biases and norms, a cosine schedule after
/// a warm-up, MixUp / CutMix with label smoothing, gradient clipping and an EMA
/// of the weights. Every part stays an option to change:
///
///     tlearn::Trainer trainer(model, tlearn::recipes::timm_finetune(5e-4).metrics({tlearn::metrics::accuracy()}));
///
/// Warm-up then fine-tune (Keras' guide): freeze the whole base and train the
/// head; then unfreeze the base from a named layer and continue at a low
/// learning rate. The base's BatchNorm layers stay in inference mode even after
/// unfreezing (keep_batchnorm_frozen, default true): updating their statistics
/// on a small data set would wreck what the pretrained layers learned.
///
///     auto h = tlearn::fine_tune(model, train, tlearn::FineTuneOptions()
///                  .warmup_epochs(5).unfreeze_from("block5_conv1").finetune_epochs(10)
///                  .fit(tlearn::FitOptions().validation(val)));

#include <torch/torch.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tlearn/core/cpu_memory.hpp"
#include "tlearn/core/distributed.hpp"
#include "tlearn/core/error.hpp"
#include "tlearn/core/eval_guard.hpp"
#include "tlearn/core/selector.hpp"
#include "tlearn/core/tensor_options.hpp"
#include "tlearn/data/dataset.hpp"
#include "tlearn/data/loader.hpp"
#include "tlearn/heads/head.hpp"
#include "tlearn/io/safetensors.hpp"
#include "tlearn/train/trainer.hpp"

namespace tlearn {

struct ExtractOptions {
  /// A safetensors file: read when it exists (and was written for this model and
  /// sample count), else written after the pass. Delete it when the data change.
  TORCH_ARG(std::filesystem::path, cache) = {};

 public:
  /// Default: this process's GPU when CUDA is available (cuda:LOCAL_RANK in a job
  /// of many processes), else the CPU; the same device a Trainer picks.
  ExtractOptions& device(torch::Device d) {
    device_ = d;
    return *this;
  }
  torch::Device device() const { return device_ ? *device_ : distributed::device(); }

 private:
  std::optional<torch::Device> device_;
};

/// Runs the backbone (in inference mode, no gradients) over every batch and
/// returns its outputs with the labels as a data set, in data-set order when the
/// batches carry indices (tlearn::data::Loader's do), else in batch order. In a
/// job of many processes each runs its part of the data and every process gets
/// all the features; rank 0 writes the cache.
template <class R>
data::TensorDataset extract_features(AnyBackbone backbone, R&& batches, const ExtractOptions& options = {}) {
  const std::string model_name = backbone->spec().name;
  const auto& cache = options.cache();
  if (!cache.empty() && std::filesystem::exists(cache)) {
    auto meta = io::safetensors_metadata(cache);
    auto sd = io::load_safetensors(cache);
    if (meta["model"] != model_name || !sd.contains("features") || !sd.contains("labels"))
      throw Error("extract_features: the cache '" + cache.string() + "' holds features of '" + meta["model"] +
                  "', not '" + model_name + "'; delete it or use another cache path");
    return data::TensorDataset(sd["features"], sd["labels"]);
  }
  const torch::Device device = options.device();
  backbone->to(device);
  if (device.is_cpu()) reuse_freed_cpu_memory();
  torch::NoGradGuard no_grad;
  EvalGuard eval(*backbone);
  std::vector<torch::Tensor> feats, labels;
  std::vector<int64_t> order;
  bool indexed = true;
  auto source = batch_source(std::forward<R>(batches));
  source.run(-1, [&](const torch::Tensor& images, const torch::Tensor& y, const std::vector<size_t>* idx, size_t padding) {
    const int64_t real = y.size(0) - int64_t(padding);  // shard padding repeats other processes' samples
    if (real <= 0) return true;
    auto out = backbone->forward(to_module(images.narrow(0, 0, real), *backbone));
    if (out.dim() == 2) out = out.unsqueeze(2).unsqueeze(3);  // pooled vectors: (N, C, 1, 1)
    feats.push_back(out.cpu());
    labels.push_back(y.narrow(0, 0, real).cpu());
    if (idx)
      order.insert(order.end(), idx->begin(), idx->begin() + real);
    else
      indexed = false;
    return true;
  });
  if (feats.empty()) throw Error("extract_features: the data gave no batch (empty data set?)");
  auto f = torch::cat(feats), l = torch::cat(labels);
  if (distributed::world_size() > 1 && !indexed)
    throw Error("extract_features: in a job of many processes the batches must carry their data-set indices "
                "(a tlearn::data::Loader's do) to put every process's features back in order");
  if (indexed) {  // back to data-set order, every process's part
    auto all = distributed::gather_in_index_order({f, l}, order);
    f = all[0], l = all[1];
  }
  if (!cache.empty() && distributed::is_main_process()) {
    io::StateDict sd;
    sd.insert("features", f);
    sd.insert("labels", l);
    io::save_safetensors(sd, cache, {{"model", model_name}, {"count", std::to_string(f.size(0))}});
  }
  return data::TensorDataset(f, l);
}

struct FeatureExtractionOptions {
  TORCH_ARG(int64_t, epochs) = 10;
  /// Optimizer, loss, metrics, device, verbosity for the head.
  TORCH_ARG(TrainerOptions, trainer) = {};
  /// Callbacks and class weights (epochs and validation are set from here).
  TORCH_ARG(FitOptions, fit) = {};
  /// Training features cache; validation features go to "<stem>.val.safetensors".
  TORCH_ARG(std::filesystem::path, cache) = {};

 public:
  FeatureExtractionOptions& validation(data::Loader val) {
    validation_ = std::move(val);
    return *this;
  }
  const std::optional<data::Loader>& validation() const { return validation_; }

 private:
  std::optional<data::Loader> validation_;
};

namespace detail {
/// A loader over stored features with the batching and shuffling of `like`
/// (same batch size, seed, order), so each epoch sees the same batches.
data::Loader feature_loader(const data::TensorDataset& features, const data::Loader& like);
}  // namespace detail

/// Freezes model->backbone, extracts its features from `train` (and the
/// validation loader) once, and trains model->head on them. The model is then
/// ready to use end to end. Features are taken without the training loader's
/// augmentation only if it has none: extraction runs the loader's transform once.
History feature_extraction(Classifier model, data::Loader train, const FeatureExtractionOptions& options);

struct FineTuneOptions {
  /// Stage 1: base frozen, head trained.
  TORCH_ARG(int64_t, warmup_epochs) = 5;
  TORCH_ARG(optim::Spec, warmup_optimizer) = optim::Adam(1e-3);
  /// Stage 2: base unfrozen from this layer (name or Keras alias) to the end.
  TORCH_ARG(std::string, unfreeze_from) = "";
  TORCH_ARG(int64_t, finetune_epochs) = 5;
  /// Keras' advice: a rate 10-100x lower than the warm-up's (its tutorial: 10x).
  TORCH_ARG(optim::Spec, finetune_optimizer) = optim::Adam(1e-4);
  /// Keep the base's BatchNorm layers in inference mode when unfreezing.
  TORCH_ARG(bool, keep_batchnorm_frozen) = true;
  /// Loss, metrics, device, verbosity (the optimizer is replaced per stage).
  TORCH_ARG(TrainerOptions, trainer) = {};
  /// Validation, callbacks, class weights (epochs are set from here).
  TORCH_ARG(FitOptions, fit) = {};
};

/// Warm-up with the base frozen, then fine-tuning from `unfreeze_from`; one
/// History over both stages (epochs numbered on).
template <class R>
History fine_tune(Classifier model, R&& train, const FineTuneOptions& options) {
  if (options.unfreeze_from().empty())
    throw Error("fine_tune: set FineTuneOptions::unfreeze_from to the first layer to unfreeze (e.g. \"block5_conv1\"; "
                "backbone->layers() lists them)");
  auto& base = model->backbone;
  (void)base->layer_table().index_of(options.unfreeze_from());  // unknown names fail before any training
  auto source = batch_source(std::forward<R>(train));

  base->set_trainable(all(), false);
  History history;
  {
    TrainerOptions t = options.trainer();
    t.optimizer(options.warmup_optimizer());
    Trainer warmup(model, t);
    FitOptions f = options.fit();
    f.epochs(options.warmup_epochs());
    history.extend(warmup.fit(source, f));
  }
  base->set_trainable(from(options.unfreeze_from()), true);
  if (options.keep_batchnorm_frozen()) base->set_batchnorm_frozen(all(), true);
  TrainerOptions t = options.trainer();
  t.optimizer(options.finetune_optimizer());
  Trainer finetune(model, t);
  FitOptions f = options.fit();
  f.initial_epoch(options.warmup_epochs());
  f.epochs(options.warmup_epochs() + options.finetune_epochs());
  history.extend(finetune.fit(source, f));
  history.mark(options.warmup_epochs(), "fine-tuning");
  return history;
}

namespace recipes {

/// TrainerOptions for fine-tuning a pretrained backbone with timm's recipe:
/// AdamW(lr, weight decay 0.05, none on biases and norms); cosine to lr / 1000
/// after one warm-up epoch; MixUp 0.8 / CutMix 1.0 with label smoothing 0.1;
/// gradient norm clipped at 1; EMA of the weights (decay 0.9998, warmed up).
inline TrainerOptions timm_finetune(double lr = 1e-3) {
  return TrainerOptions()
      .optimizer(optim::AdamW(lr).weight_decay(0.05).no_decay_on_bias_and_norm(true))
      .schedule(schedule::Cosine().warmup_epochs(1).min_lr(lr * 1e-3))
      .clip_grad_norm(1.0)
      .mixup(MixupOptions().mixup_alpha(0.8).cutmix_alpha(1.0).label_smoothing(0.1))
      .ema(EmaOptions().decay(0.9998).warmup(true));
}

}  // namespace recipes

}  // namespace tlearn
