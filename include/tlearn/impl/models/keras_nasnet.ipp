// Implementation of tlearn/models/keras_nasnet.hpp.
#include "tlearn/models/keras_nasnet.hpp"

#include "tlearn/core/batch_norm.hpp"
#include "tlearn/core/conv2d.hpp"
#include "tlearn/core/linear.hpp"
#include "tlearn/nn/separable_conv.hpp"
#include "tlearn/nn/zero_padding.hpp"

namespace tlearn {

KerasNASNetImpl::KerasNASNetImpl(const KerasNASNetConfig& config, const ModelSpec& spec,
                                 const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  nodes_.push_back({table_[0].name, {}, nullptr, nullptr});
  graph_.add(table_[0].name, {});
  const Output input{0, 0, options.in_chans()};
  const int64_t filters = config.penultimate_filters() / 24, m = config.filter_multiplier();

  auto x = batch_norm(conv(input, config.stem_filters(), "stem_conv1", 3, 2), "stem_bn1");
  const auto stem = x;
  std::optional<Output> p;
  std::tie(x, p) = reduction_cell(x, std::nullopt, filters / (m * m), "stem_1");
  const auto stem_1 = x;
  std::tie(x, p) = reduction_cell(x, p, filters / m, "stem_2");
  // Three stacks of normal cells, a reduction cell between two.
  std::vector<Output> stacks;
  for (int stack = 0; stack < 3; ++stack) {
    const int64_t width = filters * (stack == 0 ? 1 : stack == 1 ? m : m * m);
    if (stack > 0) {
      Output before_reduction = *p;
      std::tie(x, before_reduction) =
          reduction_cell(x, p, width, "reduce_" + std::to_string(stack * config.num_blocks()));
      if (!config.skip_reduction()) p = before_reduction;
    }
    // Keras numbers them 0..N-1, N+1..2N, 2N+1..3N.
    for (int i = 0; i < config.num_blocks(); ++i)
      std::tie(x, p) = normal_cell(x, p, width, std::to_string(stack == 0 ? i : stack * config.num_blocks() + 1 + i));
    stacks.push_back(x);
  }
  x = relu(x);
  graph_.sort(table_);

  const auto row = [&](const Output& o) { return nodes_[o.node].row; };
  feature_info_ = {{row(stem), stem.channels, 2},
                   {row(stem_1), stem_1.channels, 4},
                   {row(stacks[0]), stacks[0].channels, 8},
                   {row(stacks[1]), stacks[1].channels, 16},
                   {row(x), x.channels, 32}};
  output_channels_ = x.channels;
  if (options.include_top()) {
    predictions_ = register_module("predictions", nn::Linear(output_channels_, options.classes()));
    top_.pool_flat("avgpool", numbering_.next("global_average_pooling2d")).module("predictions", predictions_, "predictions");
    top_.add_rows(table_);
  }

  // Each node's last reader, so that forward frees what no later layer needs.
  last_use_.assign(nodes_.size(), 0);
  for (size_t i = 0; i < nodes_.size(); ++i)
    for (size_t in : nodes_[i].inputs) last_use_[in] = i;
  last_use_.back() = nodes_.size();
  detail::init_keras_default(*this);
}

torch::Tensor KerasNASNetImpl::forward_body(torch::Tensor x) {
  std::vector<torch::Tensor> values(nodes_.size());
  values[0] = std::move(x);
  std::vector<torch::Tensor> inputs;
  for (size_t i = 1; i < nodes_.size(); ++i) {
    const auto& node = nodes_[i];
    inputs.clear();
    for (size_t in : node.inputs) inputs.push_back(values[in]);
    values[i] = node.op(inputs);
    tap(node.row, values[i]);
    for (size_t in : node.inputs)
      if (last_use_[in] == i) values[in] = torch::Tensor();
  }
  return values.back();
}

KerasNASNetImpl::Output KerasNASNetImpl::layer(std::string name, const std::string& kind,
                                               const std::vector<Output>& inputs,
                                               std::shared_ptr<torch::nn::Module> module, Op op, int level,
                                               int64_t channels) {
  std::vector<size_t> from;
  std::vector<std::string> rows;
  for (const auto& in : inputs) {
    from.push_back(in.node);
    rows.push_back(nodes_[in.node].row);
  }
  if (module) register_module(name, module);
  table_.add(name, kind, module ? std::vector<std::shared_ptr<torch::nn::Module>>{module}
                                : std::vector<std::shared_ptr<torch::nn::Module>>{},
             name);
  graph_.add(name, rows);
  nodes_.push_back({name, std::move(from), std::move(op), module});
  return {nodes_.size() - 1, level, channels};
}

std::vector<std::pair<torch::nn::Module*, torch::nn::Module*>> KerasNASNetImpl::conv_batch_norm_pairs() const {
  std::vector<int> readers(nodes_.size(), 0);
  for (const auto& node : nodes_)
    for (auto in : node.inputs) ++readers[in];
  std::vector<std::pair<torch::nn::Module*, torch::nn::Module*>> pairs;
  for (const auto& node : nodes_) {
    if (!node.module || !node.module->as<nn::BatchNorm2d>() || node.inputs.size() != 1) continue;
    const auto& producer = nodes_[node.inputs[0]];
    const bool conv = producer.module && (producer.module->as<nn::Conv2d>() || producer.module->as<nn::SeparableConv2d>());
    if (conv && readers[node.inputs[0]] == 1) pairs.emplace_back(producer.module.get(), node.module.get());
  }
  return pairs;
}

KerasNASNetImpl::Output KerasNASNetImpl::relu(const Output& x, const std::string& name) {
  return layer(name.empty() ? numbering_.next("activation") : name, "ReLU", {x}, nullptr,
               [](const std::vector<torch::Tensor>& in) { return torch::relu(in[0]); }, x.level, x.channels);
}

KerasNASNetImpl::Output KerasNASNetImpl::conv(const Output& x, int64_t filters, const std::string& name,
                                              int64_t kernel, int64_t stride) {
  // Keras' "valid" for the stem's 3x3; a 1x1 is the same under "same".
  nn::Conv2d c(torch::nn::Conv2dOptions(x.channels, filters, kernel).stride(stride).bias(false));
  return layer(name, "Conv2d", {x}, c.ptr(), [m = c.ptr()](const std::vector<torch::Tensor>& in) { return m->forward(in[0]); },
               x.level + (stride == 2 ? 1 : 0), filters);
}

KerasNASNetImpl::Output KerasNASNetImpl::batch_norm(const Output& x, const std::string& name) {
  // Keras: momentum 0.9997 (torch's 0.0003), epsilon 1e-3.
  nn::BatchNorm2d bn(torch::nn::BatchNormOptions(x.channels).eps(1e-3).momentum(0.0003));
  return layer(name, "BatchNorm2d", {x}, bn.ptr(),
               [m = bn.ptr()](const std::vector<torch::Tensor>& in) { return m->forward(in[0]); }, x.level, x.channels);
}

KerasNASNetImpl::Output KerasNASNetImpl::correct_pad(const Output& x, int64_t kernel, const std::string& name) {
  // (k/2 - 1, k/2) on an even side, k/2 on both sides of an odd one: Keras bakes this in
  // for the size it was built at; here each input's own size decides.
  return layer(name.empty() ? numbering_.next("zero_padding2d") : name, nn::kZeroPaddingKind, {x}, nullptr,
               [kernel](const std::vector<torch::Tensor>& in) {
                 const int64_t h = in[0].size(2), w = in[0].size(3), half = kernel / 2;
                 return torch::constant_pad_nd(
                     in[0], {half - (1 - w % 2), half, half - (1 - h % 2), half}, 0.0);
               },
               x.level, x.channels);
}

KerasNASNetImpl::Output KerasNASNetImpl::separable(const Output& x, int64_t filters, int64_t kernel, int64_t stride,
                                                   const std::string& name) {
  // Stride 2 follows an explicit padding row ("valid"); stride 1 pads (k - 1) / 2 ("same").
  nn::SeparableConv2d s(
      nn::SeparableConv2dOptions(x.channels, filters, kernel).stride(stride).padding(stride == 1 ? -1 : 0));
  return layer(name, "SeparableConv2d", {x}, s.ptr(),
               [m = s.ptr()](const std::vector<torch::Tensor>& in) { return m->forward(in[0]); },
               x.level + (stride == 2 ? 1 : 0), filters);
}

KerasNASNetImpl::Output KerasNASNetImpl::pool(const Output& x, bool max, int64_t kernel, int64_t stride, bool same,
                                              const std::string& name) {
  // "same" (3x3 at stride 1): padded by 1, the padding left out of each mean, as
  // TensorFlow averages. The adjust blocks' 1x1 average at stride 2 keeps every other pixel.
  Op op = [=](const std::vector<torch::Tensor>& in) {
    if (max) return torch::max_pool2d(in[0], {kernel, kernel}, {stride, stride});
    return torch::avg_pool2d(in[0], {kernel, kernel}, {stride, stride}, {same ? 1 : 0, same ? 1 : 0},
                             /*ceil_mode=*/false, /*count_include_pad=*/false);
  };
  return layer(name, max ? "MaxPool2d" : "AvgPool2d", {x}, nullptr, std::move(op), x.level + (stride == 2 ? 1 : 0),
               x.channels);
}

KerasNASNetImpl::Output KerasNASNetImpl::add(const std::vector<Output>& inputs, const std::string& name) {
  return layer(name.empty() ? numbering_.next("add") : name, "Add", inputs, nullptr,
               [](const std::vector<torch::Tensor>& in) {
                 auto sum = in[0] + in[1];
                 for (size_t i = 2; i < in.size(); ++i) sum = sum + in[i];
                 return sum;
               },
               inputs[0].level, inputs[0].channels);
}

KerasNASNetImpl::Output KerasNASNetImpl::concat(const std::vector<Output>& inputs, const std::string& name) {
  int64_t channels = 0;
  for (const auto& in : inputs) channels += in.channels;
  return layer(name.empty() ? numbering_.next("concatenate") : name, "Concatenate", inputs, nullptr,
               [](const std::vector<torch::Tensor>& in) { return torch::cat(in, 1); }, inputs[0].level, channels);
}

KerasNASNetImpl::Output KerasNASNetImpl::separable_block(const Output& x, int64_t filters, int64_t kernel,
                                                         int64_t stride, const std::string& id) {
  auto y = relu(x);
  if (stride == 2) y = correct_pad(y, kernel, "separable_conv_1_pad_" + id);
  y = batch_norm(separable(y, filters, kernel, stride, "separable_conv_1_" + id), "separable_conv_1_bn_" + id);
  y = relu(y);
  return batch_norm(separable(y, filters, kernel, 1, "separable_conv_2_" + id), "separable_conv_2_bn_" + id);
}

KerasNASNetImpl::Output KerasNASNetImpl::adjust(std::optional<Output> p, const Output& ip, int64_t filters,
                                                const std::string& id) {
  if (!p) return ip;
  if (p->level != ip.level) {
    // Factorised reduction: two 1x1 convs on the even and on the odd pixels, concatenated.
    const auto r = relu(*p, "adjust_relu_1_" + id);
    const auto p1 = conv(pool(r, false, 1, 2, false, "adjust_avg_pool_1_" + id), filters / 2, "adjust_conv_1_" + id);
    // The odd pixels: padded at the bottom and right by one, cropped at the top and left by one.
    auto shifted = layer(numbering_.next("zero_padding2d"), nn::kZeroPaddingKind, {r}, nullptr,
                         [](const std::vector<torch::Tensor>& in) {
                           return torch::constant_pad_nd(in[0], {0, 1, 0, 1}, 0.0);
                         },
                         r.level, r.channels);
    shifted = layer(numbering_.next("cropping2d"), "Cropping2D", {shifted}, nullptr,
                    [](const std::vector<torch::Tensor>& in) { return in[0].slice(2, 1).slice(3, 1); }, r.level,
                    r.channels);
    const auto p2 =
        conv(pool(shifted, false, 1, 2, false, "adjust_avg_pool_2_" + id), filters / 2, "adjust_conv_2_" + id);
    return batch_norm(concat({p1, p2}), "adjust_bn_" + id);
  }
  if (p->channels != filters)
    return batch_norm(conv(relu(*p), filters, "adjust_conv_projection_" + id), "adjust_bn_" + id);
  return *p;
}

std::pair<KerasNASNetImpl::Output, KerasNASNetImpl::Output> KerasNASNetImpl::normal_cell(const Output& ip,
                                                                                         std::optional<Output> p,
                                                                                         int64_t filters,
                                                                                         const std::string& id) {
  const auto q = adjust(p, ip, filters, id);
  const auto h = batch_norm(conv(relu(ip), filters, "normal_conv_1_" + id), "normal_bn_1_" + id);
  const auto x1 = add({separable_block(h, filters, 5, 1, "normal_left1_" + id),
                       separable_block(q, filters, 3, 1, "normal_right1_" + id)},
                      "normal_add_1_" + id);
  const auto x2 = add({separable_block(q, filters, 5, 1, "normal_left2_" + id),
                       separable_block(q, filters, 3, 1, "normal_right2_" + id)},
                      "normal_add_2_" + id);
  const auto x3 = add({pool(h, false, 3, 1, true, "normal_left3_" + id), q}, "normal_add_3_" + id);
  const auto x4 = add(
      {pool(q, false, 3, 1, true, "normal_left4_" + id), pool(q, false, 3, 1, true, "normal_right4_" + id)},
      "normal_add_4_" + id);
  const auto x5 = add({separable_block(h, filters, 3, 1, "normal_left5_" + id), h}, "normal_add_5_" + id);
  return {concat({q, x1, x2, x3, x4, x5}, "normal_concat_" + id), ip};
}

std::pair<KerasNASNetImpl::Output, KerasNASNetImpl::Output> KerasNASNetImpl::reduction_cell(const Output& ip,
                                                                                            std::optional<Output> p,
                                                                                            int64_t filters,
                                                                                            const std::string& id) {
  const auto q = adjust(p, ip, filters, id);
  const auto h = batch_norm(conv(relu(ip), filters, "reduction_conv_1_" + id), "reduction_bn_1_" + id);
  const auto h3 = correct_pad(h, 3, "reduction_pad_1_" + id);
  const auto x1 = add({separable_block(h, filters, 5, 2, "reduction_left1_" + id),
                       separable_block(q, filters, 7, 2, "reduction_right1_" + id)},
                      "reduction_add_1_" + id);
  const auto x2 = add({pool(h3, true, 3, 2, false, "reduction_left2_" + id),
                       separable_block(q, filters, 7, 2, "reduction_right2_" + id)},
                      "reduction_add_2_" + id);
  const auto x3 = add({pool(h3, false, 3, 2, false, "reduction_left3_" + id),
                       separable_block(q, filters, 5, 2, "reduction_right3_" + id)},
                      "reduction_add3_" + id);
  const auto x4 = add({x2, pool(x1, false, 3, 1, true, "reduction_left4_" + id)});
  const auto x5 = add({separable_block(x1, filters, 3, 1, "reduction_left4_" + id),
                       pool(h3, true, 3, 2, false, "reduction_right5_" + id)},
                      "reduction_add4_" + id);
  return {concat({x2, x3, x4, x5}, "reduction_concat_" + id), ip};
}

namespace detail {

KerasNASNetConfig keras_nasnet_config(bool large) {
  if (large) return KerasNASNetConfig().penultimate_filters(4032).num_blocks(6).stem_filters(96).skip_reduction(true);
  return KerasNASNetConfig().penultimate_filters(1056).num_blocks(4).stem_filters(32);
}

ModelSpec keras_nasnet_spec(bool large) {
  const std::string file = large ? "NASNet-large" : "NASNet-mobile";
  const int64_t size = large ? 331 : 224;
  auto s = keras_model_spec(
      large ? "keras.NASNetLarge" : "keras.NASNetMobile", "keras_nasnet", "stem_conv1.weight",
      R"(_(stem_\d+|reduce_\d+|\d+)$)",
      keras_weights("nasnet", file + ".h5", large ? "11577c9a518f0070763c2b964a382f17" : "020fb642bf7360b370c678b08e0adf61",
                    file + "-no-top.h5",
                    large ? "d81d89dc07e6e56530c4e77faddd61b5" : "1ed92395b5b598bdda52abe5c0dbfd63", Preprocessing::TF,
                    size),
      size, 32);
  // Keras caches them under its own names (get_file's fname), not the URLs'.
  auto& w = s.weights.front();
  w.keras_file = large ? "nasnet_large.h5" : "nasnet_mobile.h5";
  w.notop_keras_file = large ? "nasnet_large_no_top.h5" : "nasnet_mobile_no_top.h5";
  s.top_modules = {"predictions"};
  s.classifier_modules = {"predictions"};
  return s;
}

std::vector<RegisteredModel> keras_nasnet_variants() {
  return {variant<KerasNASNetImpl>(keras_nasnet_spec(false), keras_nasnet_config(false)),
          variant<KerasNASNetImpl>(keras_nasnet_spec(true), keras_nasnet_config(true))};
}

}  // namespace detail

}  // namespace tlearn
