// Implementation of tlearn/models/keras_inception_resnet_v2.hpp.
#include "tlearn/models/keras_inception_resnet_v2.hpp"

namespace tlearn {

namespace {
using detail::inception_conv;
using Kind = InceptionOp::Kind;

std::vector<InceptionBranch> block35_branches(int64_t in) {
  return {{inception_conv("branch0", in, 32, 1)},
          {inception_conv("branch1.0", in, 32, 1), inception_conv("branch1.1", 32, 32, 3, 1, 1)},
          {inception_conv("branch2.0", in, 32, 1), inception_conv("branch2.1", 32, 48, 3, 1, 1),
           inception_conv("branch2.2", 48, 64, 3, 1, 1)}};
}

std::vector<InceptionBranch> block17_branches(int64_t in) {
  return {{inception_conv("branch0", in, 192, 1)},
          {inception_conv("branch1.0", in, 128, 1), inception_conv("branch1.1", 128, 160, {1, 7}, 1, {0, 3}),
           inception_conv("branch1.2", 160, 192, {7, 1}, 1, {3, 0})}};
}

std::vector<InceptionBranch> block8_branches(int64_t in) {
  return {{inception_conv("branch0", in, 192, 1)},
          {inception_conv("branch1.0", in, 192, 1), inception_conv("branch1.1", 192, 224, {1, 3}, 1, {0, 1}),
           inception_conv("branch1.2", 224, 256, {3, 1}, 1, {1, 0})}};
}

/// The channels a block's branches concatenate: each branch's last conv, or its input for a pool.
int64_t concatenated(const std::vector<InceptionBranch>& branches, int64_t in) {
  int64_t channels = 0;
  for (const auto& branch : branches)
    channels += branch.back().kind == Kind::Conv ? branch.back().conv_options.out_channels() : in;
  return channels;
}
}  // namespace

nn::InceptionResNetBlockImpl::InceptionResNetBlockImpl(LayerTable& table, detail::KerasInceptionNames& names,
                                                   const std::string& path, const std::string& input_row,
                                                   const std::string& keras, std::vector<InceptionBranch> branches,
                                                   int64_t channels, double scale, bool relu)
    : scale_(scale), path_(path) {
  detail::mark_keras(branches);
  const int64_t mixed_channels = concatenated(branches, channels);
  mixed_ = register_module("mixed", nn::InceptionBlock(std::move(branches), path + ".mixed", table));
  conv_ = register_module("conv", nn::Conv2d(torch::nn::Conv2dOptions(mixed_channels, channels, 1)));
  const auto mixed = names.block(*mixed_, input_row, keras + "_mixed");
  table.add(path + ".conv", "Conv2d", {conv_.ptr()}, keras + "_conv");
  names.graph.add(path + ".conv", {mixed});
  // Keras' CustomScaleLayer: input + residual * scale.
  table.add(path + ".scale", "CustomScaleLayer", {}, names.numbering.next("custom_scale_layer"));
  residual_.taps("", path + ".scale");
  out_row_ = names.graph.add(path + ".scale", {input_row, path + ".conv"});
  if (relu) {
    relu_ = register_module("relu", nn::ReLU(/*inplace=*/true));
    table.add(path + ".relu", "ReLU", {relu_.ptr()}, keras + "_ac");
    out_row_ = names.graph.add(path + ".relu", {out_row_});
  }
}

torch::Tensor nn::InceptionResNetBlockImpl::forward(const torch::Tensor& x) {
  auto residual = conv_->forward(mixed_->forward(x));
  tap(path_ + ".conv", residual);
  auto y = residual_(x, residual * scale_, is_training());
  if (!relu_) return y;
  y = relu_->forward(y);
  tap(out_row_, y);
  return y;
}

KerasInceptionResNetV2Impl::KerasInceptionResNetV2Impl(const KerasInceptionResNetV2Config&, const ModelSpec& spec,
                                                       const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  detail::KerasInceptionNames names(table_);
  std::string x = table_[0].name;
  auto op = [&](InceptionOp o) {
    detail::mark_keras(o);
    stem_.add_op(*this, std::move(o), table_);
    x = names.op(stem_.items.back().op, x);
  };
  op(inception_conv("conv2d_1a", options.in_chans(), 32, 3, 2));
  op(inception_conv("conv2d_2a", 32, 32, 3));
  op(inception_conv("conv2d_2b", 32, 64, 3, 1, 1));
  op(detail::inception_pool(Kind::MaxPool, "maxpool_3a", 3, 2));
  op(inception_conv("conv2d_3b", 64, 80, 1));
  op(inception_conv("conv2d_4a", 80, 192, 3));
  op(detail::inception_pool(Kind::MaxPool, "maxpool_5a", 3, 2));

  // A multi-branch block without a residual (mixed_5b, the two reductions).
  auto block = [&](const std::string& name, std::vector<InceptionBranch> branches) {
    detail::mark_keras(branches);
    nn::InceptionBlock b(std::move(branches), name, table_);
    register_module(name, b);
    x = names.block(*b, x, name);
    return b;
  };
  std::vector<InceptionBranch> mixed_5b = {
      {inception_conv("branch0", 192, 96, 1)},
      {inception_conv("branch1.0", 192, 48, 1), inception_conv("branch1.1", 48, 64, 5, 1, 2)},
      {inception_conv("branch2.0", 192, 64, 1), inception_conv("branch2.1", 64, 96, 3, 1, 1),
       inception_conv("branch2.2", 96, 96, 3, 1, 1)},
      {detail::inception_pool(Kind::AvgPool, "branch3.0", 3, 1, 1), inception_conv("branch3.1", 192, 64, 1)}};
  body_.emplace_back(block("mixed_5b", std::move(mixed_5b)));

  // Residual blocks: `count` of `type` at `channels`, under the Sequential `container`.
  auto repeat = [&](const std::string& container, const std::string& type, int count, int64_t channels, double scale,
                    std::vector<InceptionBranch> (*branches)(int64_t)) {
    auto seq = register_module(container, torch::nn::Sequential());
    for (int i = 1; i <= count; ++i) {
      nn::InceptionResNetBlock b(table_, names, container + "." + std::to_string(i - 1), x,
                             type + "_" + std::to_string(i), branches(channels), channels, scale, true);
      seq->push_back(b);
      body_.emplace_back(b);
      x = b->output_row();
    }
  };
  repeat("repeat", "block35", 10, 320, 0.17, block35_branches);
  const std::string stage8 = x;  // the strides: 8 from here, 16 after mixed_6a, 32 after mixed_7a
  body_.emplace_back(block(
      "mixed_6a", {{inception_conv("branch0", 320, 384, 3, 2)},
                   {inception_conv("branch1.0", 320, 256, 1), inception_conv("branch1.1", 256, 256, 3, 1, 1),
                    inception_conv("branch1.2", 256, 384, 3, 2)},
                   {detail::inception_pool(Kind::MaxPool, "branch2", 3, 2)}}));
  repeat("repeat_1", "block17", 20, 1088, 0.1, block17_branches);
  const std::string stage16 = x;
  body_.emplace_back(block(
      "mixed_7a", {{inception_conv("branch0.0", 1088, 256, 1), inception_conv("branch0.1", 256, 384, 3, 2)},
                   {inception_conv("branch1.0", 1088, 256, 1), inception_conv("branch1.1", 256, 288, 3, 2)},
                   {inception_conv("branch2.0", 1088, 256, 1), inception_conv("branch2.1", 256, 288, 3, 1, 1),
                    inception_conv("branch2.2", 288, 320, 3, 2)},
                   {detail::inception_pool(Kind::MaxPool, "branch3", 3, 2)}}));
  repeat("repeat_2", "block8", 9, 2080, 0.2, block8_branches);
  // The last block8 adds its residual unscaled and does not rectify.
  nn::InceptionResNetBlock last(table_, names, "block8", x, "block8_10", block8_branches(2080), 2080, 1.0, false);
  body_.emplace_back(register_module("block8", last));
  x = last->output_row();

  conv_7b_ = register_module(
      "conv2d_7b",
      nn::ConvNormAct(detail::basic_conv2d(torch::nn::Conv2dOptions(2080, 1536, 1)).scale(false).momentum(0.01)));
  conv_7b_->add_rows(table_, "conv2d_7b", {"conv_7b", "conv_7b_bn", "conv_7b_ac"});
  for (const char* row : {"conv2d_7b.conv", "conv2d_7b.bn", "conv2d_7b"}) x = names.graph.add(row, {x});
  names.graph.sort(table_);

  feature_info_ = {{"conv2d_2b", 64, 2}, {"conv2d_4a", 192, 4}, {stage8, 320, 8}, {stage16, 1088, 16},
                   {"conv2d_7b", 1536, 32}};
  output_channels_ = 1536;
  if (options.include_top()) {
    fc_ = register_module("fc", nn::Linear(1536, options.classes()));
    top_.pool_flat("avgpool", "avg_pool").module("fc", fc_, "predictions");
    top_.add_rows(table_);
  }
  detail::init_keras_default(*this);
}

torch::Tensor KerasInceptionResNetV2Impl::forward_body(torch::Tensor x) {
  x = stem_.forward(std::move(x));
  for (auto& module : body_) x = module.forward(x);
  return conv_7b_->forward(x);
}

}  // namespace tlearn
