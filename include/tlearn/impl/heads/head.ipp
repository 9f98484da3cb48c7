// Implementation of tlearn/heads/head.hpp.
#include "tlearn/core/eval_guard.hpp"
#include "tlearn/core/tensor_options.hpp"
#include "tlearn/heads/head.hpp"

namespace tlearn {

HeadImpl::HeadImpl(HeadOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  if (o.in_channels() < 1) throw Error("HeadOptions: in_channels must be at least 1 (use backbone->output_channels())");
  if (o.classes() < 1) throw Error("HeadOptions: classes must be at least 1");
  if (o.dropout() < 0 || o.dropout() >= 1) throw Error("HeadOptions: dropout must be in [0, 1)");
  const auto names = int64_t(o.class_names().size());
  if (names != 0 && names != o.classes() && !(o.classes() == 1 && names == 2))
    throw Error("HeadOptions: " + std::to_string(names) + " class_names for " + std::to_string(o.classes()) +
                " outputs; give one name per output (two for a one-output binary head), or none");
  for (auto h : o.hidden())
    if (h < 1) throw Error("HeadOptions: every hidden width must be at least 1");
  if (o.pooling() == Pooling::Token)
    throw Error("HeadOptions: Pooling::Token belongs to the backbone (BackboneOptions().include_top(false)"
                ".pooling(Pooling::Token)), whose (N, C) class token a head takes with any pooling");
  if (o.pooling() != Pooling::None) {
    build(o.in_channels());
  } else if (!o.feature_hw().empty()) {
    if (o.feature_hw().size() != 2) throw Error("HeadOptions: feature_hw must be {H, W}");
    build(o.in_channels() * o.feature_hw()[0] * o.feature_hw()[1]);
  }
}

void HeadImpl::build(int64_t in_features) {
  if (built()) throw Error("Head: build() called twice");
  in_features_ = in_features;
  int64_t in = in_features;
  for (size_t i = 0; i < options_.hidden().size(); ++i) {
    dense_.push_back(register_module("dense" + std::to_string(i + 1), nn::Linear(in, options_.hidden()[i])));
    in = options_.hidden()[i];
  }
  if (options_.dropout() > 0) dropout_ = register_module("dropout", torch::nn::Dropout(options_.dropout()));
  fc_ = register_module("fc", nn::Linear(in, options_.classes()));
}

torch::Tensor HeadImpl::logits(torch::Tensor x) {
  if (!built())
    throw Error(
        "Head: a flatten head needs the feature map size; set HeadOptions::feature_hw({H, W}) "
        "or put the head in a Classifier, which measures it");
  x = pool(std::move(x));
  if (x.size(1) != in_features_) {
    std::ostringstream msg;
    msg << "Head: expected " << in_features_ << " features after "
        << (options_.pooling() == Pooling::None ? "flatten" : "pooling") << ", got input of shape " << x.sizes();
    if (options_.pooling() == Pooling::None)
      msg << ". A flatten head (Keras' Flatten) is sized for one image size: build the backbone with "
             "BackboneOptions().input_shape({H, W}) equal to the images you feed, or use global pooling "
             "(HeadOptions::pooling(Pooling::Avg)), which takes any size";
    else
      msg << "; check HeadOptions::in_channels against backbone->output_channels()";
    throw Error(msg.str());
  }
  for (auto& d : dense_) {
    x = nn::apply_activation(options_.activation(), d->forward(x));
    if (dropout_) x = dropout_->forward(x);
  }
  if (dense_.empty() && dropout_) x = dropout_->forward(x);
  return fc_->forward(x);
}

torch::Tensor HeadImpl::forward(torch::Tensor x) {
  auto z = logits(std::move(x));
  if (options_.output_activation() == Activation::None) return z;
  return probabilities(z, options_.output_activation());
}

torch::Tensor HeadImpl::predict(const torch::Tensor& features, int64_t batch_size) {
  return predict_tensor(*this, features, batch_size, predict_fn());
}

PredictFn HeadImpl::predict_fn() {
  return [this](const torch::Tensor& x) { return probabilities(logits(x), options_.output_activation()); };
}

std::vector<SummaryRow> HeadImpl::summary_rows(const SummaryOptions& options, const std::string& prefix) const {
  if (!built())
    throw Error("Head::summary: a flatten head has no Dense layers until it knows its feature size; set "
                "HeadOptions::feature_hw or put it in a Classifier");
  std::vector<SummaryRow> rows;
  auto add = [&](std::string name, std::string kind, int64_t width, const torch::nn::Module* module) {
    SummaryRow row;
    row.name = prefix + std::move(name);
    row.type = options.keras_types() ? keras_layer_type(kind, module) : kind;
    row.output_shape = "(None, " + std::to_string(width) + ")";
    if (module)
      for (const auto& p : module->parameters()) {
        row.params += p.numel();
        if (p.requires_grad()) row.trainable_params += p.numel();
      }
    rows.push_back(std::move(row));
  };
  switch (options_.pooling()) {
    case Pooling::Avg:
      add("pool", "AdaptiveAvgPool2d", in_features_, nullptr);
      break;
    case Pooling::Max:
      add("pool", "AdaptiveMaxPool2d", in_features_, nullptr);
      break;
    case Pooling::None:
    case Pooling::Token:  // refused by the constructor
      add("flatten", "Flatten", in_features_, nullptr);
      break;
  }
  for (size_t i = 0; i < dense_.size(); ++i)
    add("dense" + std::to_string(i + 1), "Linear", options_.hidden()[i], dense_[i].get());
  if (dropout_) add("dropout", "Dropout", dense_.empty() ? in_features_ : options_.hidden().back(), nullptr);
  add("fc", "Linear", options_.classes(), fc_.get());
  return rows;
}

void HeadImpl::summary(std::ostream& os, const SummaryOptions& options) const {
  print_summary(os, "head", summary_rows(options), *this, options);
}

torch::Tensor HeadImpl::pool(torch::Tensor x) const {
  if (x.dim() == 2) return x;
  if (x.dim() != 4) {
    std::ostringstream msg;
    msg << "Head: expected a (N, C, H, W) feature map or (N, C) vector, got " << x.sizes();
    throw Error(msg.str());
  }
  switch (options_.pooling()) {
    case Pooling::Avg:
      return x.mean({2, 3});
    case Pooling::Max:
      return x.amax({2, 3});
    case Pooling::None:
    case Pooling::Token:  // refused by the constructor
      break;
  }
  return x.flatten(1);
}

ClassifierImpl::ClassifierImpl(AnyBackbone backbone_, Head head_)
    : backbone(register_module("backbone", std::move(backbone_))), head(register_module("head", std::move(head_))) {
  const auto& bo = backbone->options();
  if (bo.include_top())
    throw Error("Classifier: the backbone '" + backbone->spec().name +
                "' still has its ImageNet top; build it with BackboneOptions().include_top(false)");
  if (bo.pooling() == Pooling::None && head->options().in_channels() != backbone->output_channels())
    throw Error("Classifier: HeadOptions(" + std::to_string(head->options().in_channels()) + ") does not match " +
                backbone->spec().name + "'s " + std::to_string(backbone->output_channels()) +
                " output channels; use HeadOptions(backbone->output_channels())");
  if (!head->built()) {
    // A flatten head: measure the feature map at the backbone's input size.
    torch::NoGradGuard no_grad;
    EvalGuard eval(*backbone);
    auto hw = backbone->input_shape();
    auto y = backbone->forward(torch::zeros({1, bo.in_chans(), hw[0], hw[1]}, module_options(*backbone)));
    head->build(y[0].numel());
  }
}

void ClassifierImpl::summary(std::ostream& os, const SummaryOptions& options) {
  torch::Tensor features;
  auto base_rows = backbone->summary_rows(options, &features);
  SummaryRow base;
  base.name = backbone->spec().name;
  base.type = options.keras_types() ? "Functional" : "Backbone";
  base.output_shape = summary_shape(features);
  for (const auto& p : backbone->parameters()) {
    base.params += p.numel();
    if (p.requires_grad()) base.trainable_params += p.numel();
  }
  std::vector<SummaryRow> rows{base};
  if (options.expand_nested())
    for (auto& row : base_rows) {
      row.depth = 1;
      rows.push_back(std::move(row));
    }
  for (auto& row : head->summary_rows(options, "head.")) rows.push_back(std::move(row));
  print_summary(os, "classifier", rows, *this, options);
}

torch::Tensor ClassifierImpl::predict(const torch::Tensor& x, int64_t batch_size) {
  return predict_tensor(*this, x, batch_size, predict_fn());
}

PredictFn ClassifierImpl::predict_fn() {
  return [this](const torch::Tensor& x) { return head->predict_fn()(backbone->forward(x)); };
}

}  // namespace tlearn
