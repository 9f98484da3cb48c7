// Implementation of tlearn/models/backbone.hpp.
#include <algorithm>

#include "tlearn/core/eval_guard.hpp"
#include "tlearn/core/tensor_options.hpp"
#include "tlearn/data/preprocess.hpp"
#include "tlearn/models/backbone.hpp"

namespace tlearn {

BackboneImpl::BackboneImpl(ModelSpec spec, BackboneOptions options)
    : spec_(std::move(spec)), options_(std::move(options)) {
  if (options_.in_chans() < 1) throw Error(spec_.name + ": in_chans must be at least 1");
  if (options_.classes() < 1) throw Error(spec_.name + ": classes must be at least 1");
  if (options_.aux_logits() && !spec_.has_aux_logits)
    throw Error(spec_.name + ": aux_logits: this architecture has no auxiliary classifier (inception_v3 has one)");
  if (options_.aux_logits() && !options_.include_top())
    throw Error(spec_.name + ": aux_logits needs include_top(true): the auxiliary classifier is part of the top");
  if (!options_.input_shape().empty()) {
    const auto& s = options_.input_shape();
    if (s.size() != 2 || s[0] < spec_.min_size || s[1] < spec_.min_size)
      throw Error(spec_.name + ": input_shape must be {H, W} with both at least " + std::to_string(spec_.min_size));
  }
  table_.add(kInputLayer, "InputLayer", {}, "input_layer");  // Keras 3's name (Keras 2: input_1)
}

torch::Tensor BackboneImpl::preprocess(const torch::Tensor& x) const { return preprocess_input(x, preprocessing()); }

torch::Tensor BackboneImpl::forward(torch::Tensor x) {
  auto features = forward_features(std::move(x));
  if (!options_.include_top()) {
    switch (options_.pooling()) {
      case Pooling::None:
        return forward_no_top(std::move(features));
      case Pooling::Avg:
        return forward_no_top(features.mean({2, 3}));
      case Pooling::Max:
        return forward_no_top(features.amax({2, 3}));
      case Pooling::Token:
        return forward_no_top(pool_token(features));
    }
  }
  auto logits = forward_top(features);
  if (options_.classifier_activation() == Activation::None) return logits;
  return probabilities(logits, options_.classifier_activation());
}

torch::Tensor BackboneImpl::predict(const torch::Tensor& x, int64_t batch_size) {
  return predict_tensor(*this, x, batch_size, predict_fn());
}

PredictFn BackboneImpl::predict_fn() {
  return [this](const torch::Tensor& x) {
    auto y = forward(x);
    if (!options_.include_top() || options_.classifier_activation() != Activation::None) return y;
    return y.softmax(1);  // ImageNet's top is multi-class, whatever its class count
  };
}

torch::Tensor BackboneImpl::forward_features(torch::Tensor x) {
  check_input(x);
  if (memory_format_ != torch::MemoryFormat::Contiguous) x = x.contiguous(memory_format_);
  tap(kInputLayer, x);
  return forward_body(std::move(x));
}

std::vector<torch::Tensor> BackboneImpl::forward_features(const torch::Tensor& x,
                                                          const std::vector<std::string>& layer_names) {
  std::vector<std::string> names;
  for (const auto& n : layer_names) {
    const bool between_rows = std::any_of(feature_info_.begin(), feature_info_.end(),
                                          [&](const FeatureInfo& f) { return f.name == n && !f.after.empty(); });
    names.push_back(between_rows ? n : table_[table_.index_of(n)].name);
  }
  TapRecorder recorder(names, /*stop_early=*/true);
  run_until_stopped(recorder, [&] { forward(x); });
  return recorder.outputs();
}

std::vector<torch::Tensor> BackboneImpl::features_only(const torch::Tensor& x, std::vector<int64_t> out_indices) {
  std::vector<std::string> names;
  if (out_indices.empty())
    for (size_t i = 0; i < feature_info_.size(); ++i) out_indices.push_back(static_cast<int64_t>(i));
  for (auto i : out_indices) {
    if (i < 0 || i >= static_cast<int64_t>(feature_info_.size()))
      throw Error(spec_.name + ": out_indices " + std::to_string(i) + " is outside 0.." +
                  std::to_string(feature_info_.size() - 1) + " (see feature_info())");
    names.push_back(feature_info_[static_cast<size_t>(i)].name);
  }
  auto outputs = forward_features(x, names);
  for (size_t i = 0; i < outputs.size(); ++i) outputs[i] = feature_map(names[i], outputs[i]);
  return outputs;
}

torch::Tensor BackboneImpl::pool_token(const torch::Tensor&) {
  throw Error(spec_.name +
              " has no class token: Pooling::Token is for vision transformers; use Pooling::Avg or "
              "Pooling::Max");
}

std::vector<SummaryRow> BackboneImpl::summary_rows(const SummaryOptions& options, torch::Tensor* output) {
  auto hw = options.input_shape().empty() ? input_shape() : options.input_shape();
  if (hw.size() != 2) throw Error("summary: input_shape must be {H, W}");
  torch::NoGradGuard no_grad;
  TapRecorder recorder;
  torch::Tensor y;
  {
    EvalGuard eval(*this);
    y = forward(torch::zeros({1, options_.in_chans(), hw[0], hw[1]}, module_options(*this)));
  }
  if (output) *output = y;
  std::vector<SummaryRow> rows;
  for (const auto& layer : table_) {
    SummaryRow row;
    row.name = layer.alias.empty() ? layer.name : layer.alias;
    row.type = options.keras_types()
                   ? keras_layer_type(layer.kind, layer.modules.empty() ? nullptr : layer.modules.front().get())
                   : layer.kind;
    row.output_shape = "-";
    for (auto it = recorder.records().rbegin(); it != recorder.records().rend(); ++it)
      if (it->first == layer.name) {
        row.output_shape = summary_shape(it->second);
        break;
      }
    for (const auto& p : layer.parameters()) {
      row.params += p.numel();
      if (p.requires_grad()) row.trainable_params += p.numel();
    }
    row.trainable = layer.trainable;
    rows.push_back(std::move(row));
  }
  return rows;
}

void BackboneImpl::summary(std::ostream& os, const SummaryOptions& options) {
  print_summary(os, spec_.name, summary_rows(options), *this, options);
}

void BackboneImpl::summary(std::ostream& os, std::vector<int64_t> input_hw) {
  summary(os, SummaryOptions().input_shape(std::move(input_hw)));
}

const WeightSpec* BackboneImpl::weight_spec() const {
  if (spec_.weights.empty()) return nullptr;
  // Keras' rule for models with weights per input size: "imagenet" at a square
  // input_shape of one of those sizes means that size's file.
  const auto& shape = options_.input_shape();
  const std::string sized =
      shape.size() == 2 && shape[0] == shape[1] ? "imagenet_" + std::to_string(shape[0]) : std::string();
  for (const std::string& wanted : {options_.weights() == "imagenet" ? sized : std::string(), options_.weights()})
    for (const auto& w : spec_.weights)
      if (!wanted.empty() && w.tag == wanted) return &w;
  return &spec_.weights.front();
}

void BackboneImpl::set_memory_format(torch::MemoryFormat format) {
  torch::NoGradGuard no_grad;
  for (auto& t : parameters())
    if (t.dim() == 4) t.set_data(t.contiguous(format));
  for (auto& t : buffers())
    if (t.dim() == 4) t.set_data(t.contiguous(format));
  memory_format_ = format;
}

std::vector<int64_t> BackboneImpl::input_shape() const {
  if (!options_.input_shape().empty()) return options_.input_shape();
  const auto* w = weight_spec();
  const bool named = options_.weights() == "imagenet" || (w != nullptr && w->tag == options_.weights());
  const int64_t size =
      named && w != nullptr && w->transform.crop_size > 0 ? w->transform.crop_size : spec_.default_size;
  return {size, size};
}

void BackboneImpl::check_input(const torch::Tensor& x) const {
  if (x.dim() != 4 || x.size(1) != options_.in_chans() || x.size(2) < spec_.min_size || x.size(3) < spec_.min_size) {
    std::ostringstream msg;
    msg << spec_.name << " expects input of shape (N, " << options_.in_chans()
        << ", H, W) with H, W >= " << spec_.min_size << ", got " << x.sizes();
    if (x.dim() == 4 && x.size(3) == options_.in_chans() && x.size(1) != options_.in_chans())
      msg << ": that looks channels-last (N, H, W, C), as Keras and image files lay it out; use "
             "x.permute({0, 3, 1, 2})";
    else if (x.dim() == 3 && (x.size(0) == options_.in_chans() || x.size(2) == options_.in_chans()))
      msg << ": one image needs a batch dimension; use x.unsqueeze(0)"
          << (x.size(0) == options_.in_chans() ? "" : " after x.permute({2, 0, 1})");
    else if (x.dim() == 4 && x.size(1) != options_.in_chans())
      msg << ": build the model with BackboneOptions().in_chans(" << x.size(1) << ") for " << x.size(1)
          << "-channel images";
    else if (x.dim() == 4)
      msg << ": the image is smaller than the network allows; resize it to at least " << spec_.min_size << "x"
          << spec_.min_size;
    throw Error(msg.str());
  }
}

}  // namespace tlearn
