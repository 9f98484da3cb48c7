// Implementation of tlearn/models/inception.hpp.
#include "tlearn/models/inception.hpp"

namespace tlearn {

nn::InceptionBlockImpl::InceptionBlockImpl(std::vector<InceptionBranch> branches, const std::string& path,
                                       LayerTable& table)
    : branches_(std::move(branches)), out_name_(path) {
  for (auto& branch : branches_)
    for (auto& op : branch) detail::register_inception_op(*this, path, op, table);
  table.add(out_name_, "Concatenate");
}

torch::Tensor nn::InceptionBlockImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> outputs;
  for (auto& branch : branches_) {
    auto y = x;
    for (auto& op : branch) y = detail::run_inception_op(op, y);
    outputs.push_back(y);
  }
  auto y = torch::cat(outputs, 1);
  tap(out_name_, y);
  return y;
}

void InceptionTrunk::add_op(torch::nn::Module& owner, InceptionOp op, LayerTable& table) {
  detail::register_inception_op(owner, "", op, table);
  items.push_back({std::move(op), nullptr});
  names.emplace_back();
}

void InceptionTrunk::add_block(torch::nn::Module& owner, const std::string& name, std::vector<InceptionBranch> branches,
                               LayerTable& table) {
  items.push_back({InceptionOp{}, owner.register_module(name, nn::InceptionBlock(std::move(branches), name, table))});
  names.push_back(name);
}

torch::Tensor InceptionTrunk::forward(torch::Tensor x, const std::string& block,
                                      const std::function<void(const torch::Tensor&)>& at_block) {
  for (size_t i = 0; i < items.size(); ++i) {
    auto& item = items[i];
    x = item.block ? item.block(x) : detail::run_inception_op(item.op, x);
    if (at_block && names[i] == block) at_block(x);
  }
  return x;
}

nn::InceptionAuxImpl::InceptionAuxImpl(int64_t in_channels, int64_t classes)
    : conv0(register_module(
          "conv0", nn::ConvNormAct(detail::basic_conv2d(torch::nn::Conv2dOptions(in_channels, 128, 1))))),
      conv1(register_module("conv1", nn::ConvNormAct(detail::basic_conv2d(torch::nn::Conv2dOptions(128, 768, 5))))),
      fc(register_module("fc", nn::Linear(768, classes))) {}

namespace detail {

void mark_keras(InceptionOp& op) {
  op.keras = true;
  for (auto& conv : op.split) mark_keras(conv);
}

void mark_keras(std::vector<InceptionBranch>& branches) {
  for (auto& branch : branches)
    for (auto& op : branch) mark_keras(op);
}

std::string KerasInceptionNames::op(const InceptionOp& op, const std::string& input) {
  switch (op.kind) {
    case InceptionOp::Kind::Conv: {
      const std::string rows[3] = {op.row + ".conv", op.row + ".bn", op.row};
      const char* classes[3] = {"conv2d", "batch_normalization", "activation"};
      std::string previous = input;
      for (int i = 0; i < 3; ++i) {
        table_.set_alias(rows[i], numbering.next(classes[i]));
        previous = graph.add(rows[i], {previous});
      }
      return previous;
    }
    case InceptionOp::Kind::AvgPool:
    case InceptionOp::Kind::MaxPool:
      table_.set_alias(op.row, numbering.next(op.kind == InceptionOp::Kind::AvgPool ? "average_pooling2d"
                                                                                    : "max_pooling2d"));
      return graph.add(op.row, {input});
    case InceptionOp::Kind::Split: {
      std::vector<std::string> parts;
      for (const auto& conv : op.split) parts.push_back(this->op(conv, input));
      table_.set_alias(op.row, split_alias ? split_alias(op) : numbering.next("concatenate"));
      return graph.add(op.row, parts);
    }
  }
  return input;
}

std::string KerasInceptionNames::block(const nn::InceptionBlockImpl& block, const std::string& input,
                                       const std::string& alias) {
  std::vector<std::string> outputs;
  for (const auto& branch : block.branches()) {
    std::string y = input;
    for (const auto& o : branch) y = op(o, y);
    outputs.push_back(y);
  }
  table_.set_alias(block.out_name(), alias);
  return graph.add(block.out_name(), outputs);
}

}  // namespace detail

InceptionV3Impl::InceptionV3Impl(const InceptionV3Config& config, const ModelSpec& spec, const BackboneOptions& options)
    : BackboneImpl(spec, options),
      transform_input_(!config.keras() && detail::inception_transform_input_on(spec, options)) {
  if (config.keras() && options.aux_logits())
    throw Error(spec.name + ": Keras' InceptionV3 has no auxiliary classifier; build inception_v3 for aux_logits");
  using detail::inception_conv;
  using Kind = InceptionOp::Kind;
  auto op = [&](InceptionOp o) {
    if (config.keras()) detail::mark_keras(o);
    trunk_.add_op(*this, std::move(o), table_);
  };
  auto block = [&](const std::string& name, std::vector<InceptionBranch> branches) {
    if (config.keras()) detail::mark_keras(branches);
    trunk_.add_block(*this, name, std::move(branches), table_);
  };
  op(inception_conv("Conv2d_1a_3x3", options.in_chans(), 32, 3, 2));
  op(inception_conv("Conv2d_2a_3x3", 32, 32, 3));
  op(inception_conv("Conv2d_2b_3x3", 32, 64, 3, 1, 1));
  op(detail::inception_pool(Kind::MaxPool, "maxpool1", 3, 2));
  op(inception_conv("Conv2d_3b_1x1", 64, 80, 1));
  op(inception_conv("Conv2d_4a_3x3", 80, 192, 3));
  op(detail::inception_pool(Kind::MaxPool, "maxpool2", 3, 2));
  block("Mixed_5b", detail::inception_a(192, 32));
  block("Mixed_5c", detail::inception_a(256, 64));
  block("Mixed_5d", detail::inception_a(288, 64));
  block("Mixed_6a", detail::inception_b(288));
  block("Mixed_6b", detail::inception_c(768, 128));
  block("Mixed_6c", detail::inception_c(768, 160));
  block("Mixed_6d", detail::inception_c(768, 160));
  block("Mixed_6e", detail::inception_c(768, 192));
  if (options.include_top() && options.aux_logits() && !config.keras())  // registered here: torchvision's key order
    aux_ = register_module("AuxLogits", nn::InceptionAux(768, options.classes()));
  block("Mixed_7a", detail::inception_d(768));
  block("Mixed_7b", detail::inception_e(1280));
  block("Mixed_7c", detail::inception_e(2048));
  feature_info_ = {{"Conv2d_2b_3x3", 64, 2},
                   {"Conv2d_4a_3x3", 192, 4},
                   {"Mixed_5d", 288, 8},
                   {"Mixed_6e", 768, 16},
                   {"Mixed_7c", 2048, 32}};
  output_channels_ = 2048;

  if (options.include_top()) {
    fc_ = register_module("fc", nn::Linear(2048, options.classes()));
    top_.pool("avgpool", "avg_pool");
    if (config.keras())  // Keras' top is GlobalAveragePooling2D and Dense alone
      top_.flatten();
    else
      top_.dropout(drop_rate_or(0.5), "dropout").flatten("flatten");
    top_.module("fc", fc_, "predictions").add_rows(table_);
  }

  if (config.keras()) {
    use_keras_layer_names();
    detail::init_keras_default(*this);
    return;
  }
  detail::init_inception(*this, 0.1);
  if (aux_) {  // torchvision gives the aux classifier's linear layer stddev 0.001
    torch::NoGradGuard no_grad;
    aux_->fc->weight.normal_(0.0, 0.001).clamp_(-2.0, 2.0);
  }
}

void InceptionV3Impl::use_keras_layer_names() {
  // Keras' conv2d_bn creates Conv2D, BatchNormalization and Activation with generated
  // names, in the order torchvision's blocks list their ops; the blocks are mixed0..10.
  detail::KerasInceptionNames keras(table_);
  int mixed = 0, mixed9_split = 0;
  // mixed9/10's 1x3 + 3x1 pair is named "mixed9_<i>"; the double branch's, generated.
  keras.split_alias = [&](const InceptionOp& op) {
    return op.name.find("dbl") != std::string::npos ? keras.numbering.next("concatenate")
                                                    : "mixed9_" + std::to_string(mixed9_split++);
  };
  std::string x = table_[0].name;
  for (const auto& item : trunk_.items)
    x = item.block ? keras.block(*item.block, x, "mixed" + std::to_string(mixed++)) : keras.op(item.op, x);
  keras.graph.sort(table_);
}

torch::Tensor InceptionV3Impl::forward_body(torch::Tensor x) {
  if (transform_input_) x = detail::inception_transform_input(x);
  aux_output_ = torch::Tensor();
  if (aux_ && is_training())
    return trunk_.forward(std::move(x), "Mixed_6e", [this](const torch::Tensor& t) { aux_output_ = aux_(t); });
  return trunk_.forward(std::move(x));
}

}  // namespace tlearn
