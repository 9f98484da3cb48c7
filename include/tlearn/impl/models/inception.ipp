// Implementation of tlearn/models/inception.hpp.
#include "tlearn/models/inception.hpp"

namespace tlearn {

InceptionBlockImpl::InceptionBlockImpl(std::vector<InceptionBranch> branches, const std::string& path,
                                       LayerTable& table)
    : branches_(std::move(branches)), out_name_(path) {
  for (auto& branch : branches_)
    for (auto& op : branch) detail::register_inception_op(*this, path, op, table);
  table.add(out_name_, "Concatenate");
}

torch::Tensor InceptionBlockImpl::forward(const torch::Tensor& x) {
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
  items.push_back({InceptionOp{}, owner.register_module(name, InceptionBlock(std::move(branches), name, table))});
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

InceptionAuxImpl::InceptionAuxImpl(int64_t in_channels, int64_t classes)
    : conv0(register_module(
          "conv0", nn::ConvNormAct(detail::basic_conv2d(torch::nn::Conv2dOptions(in_channels, 128, 1))))),
      conv1(register_module("conv1", nn::ConvNormAct(detail::basic_conv2d(torch::nn::Conv2dOptions(128, 768, 5))))),
      fc(register_module("fc", nn::Linear(768, classes))) {}

InceptionV3Impl::InceptionV3Impl(const InceptionV3Config&, const ModelSpec& spec, const BackboneOptions& options)
    : BackboneImpl(spec, options), transform_input_(detail::inception_transform_input_on(spec, options)) {
  using detail::inception_conv;
  using Kind = InceptionOp::Kind;
  trunk_.add_op(*this, inception_conv("Conv2d_1a_3x3", options.in_chans(), 32, 3, 2), table_);
  trunk_.add_op(*this, inception_conv("Conv2d_2a_3x3", 32, 32, 3), table_);
  trunk_.add_op(*this, inception_conv("Conv2d_2b_3x3", 32, 64, 3, 1, 1), table_);
  trunk_.add_op(*this, detail::inception_pool(Kind::MaxPool, "maxpool1", 3, 2), table_);
  trunk_.add_op(*this, inception_conv("Conv2d_3b_1x1", 64, 80, 1), table_);
  trunk_.add_op(*this, inception_conv("Conv2d_4a_3x3", 80, 192, 3), table_);
  trunk_.add_op(*this, detail::inception_pool(Kind::MaxPool, "maxpool2", 3, 2), table_);
  trunk_.add_block(*this, "Mixed_5b", detail::inception_a(192, 32), table_);
  trunk_.add_block(*this, "Mixed_5c", detail::inception_a(256, 64), table_);
  trunk_.add_block(*this, "Mixed_5d", detail::inception_a(288, 64), table_);
  trunk_.add_block(*this, "Mixed_6a", detail::inception_b(288), table_);
  trunk_.add_block(*this, "Mixed_6b", detail::inception_c(768, 128), table_);
  trunk_.add_block(*this, "Mixed_6c", detail::inception_c(768, 160), table_);
  trunk_.add_block(*this, "Mixed_6d", detail::inception_c(768, 160), table_);
  trunk_.add_block(*this, "Mixed_6e", detail::inception_c(768, 192), table_);
  if (options.include_top() && options.aux_logits())  // registered here: torchvision's key order
    aux_ = register_module("AuxLogits", InceptionAux(768, options.classes()));
  trunk_.add_block(*this, "Mixed_7a", detail::inception_d(768), table_);
  trunk_.add_block(*this, "Mixed_7b", detail::inception_e(1280), table_);
  trunk_.add_block(*this, "Mixed_7c", detail::inception_e(2048), table_);
  feature_info_ = {{"Conv2d_2b_3x3", 64, 2},
                   {"Conv2d_4a_3x3", 192, 4},
                   {"Mixed_5d", 288, 8},
                   {"Mixed_6e", 768, 16},
                   {"Mixed_7c", 2048, 32}};
  output_channels_ = 2048;

  if (options.include_top()) {
    dropout_ = register_module("dropout", torch::nn::Dropout(drop_rate_or(0.5)));
    fc_ = register_module("fc", nn::Linear(2048, options.classes()));
    table_.add("avgpool", "AdaptiveAvgPool2d", {}, "avg_pool");
    table_.add("dropout", "Dropout");
    table_.add("flatten", "Flatten");
    table_.add("fc", "Linear", {fc_.ptr()}, "predictions");
  }
  detail::init_inception(*this, 0.1);
  if (aux_) {  // torchvision gives the aux classifier's linear layer stddev 0.001
    torch::NoGradGuard no_grad;
    aux_->fc->weight.normal_(0.0, 0.001).clamp_(-2.0, 2.0);
  }
}

torch::Tensor InceptionV3Impl::forward_body(torch::Tensor x) {
  if (transform_input_) x = detail::inception_transform_input(x);
  aux_output_ = torch::Tensor();
  if (aux_ && is_training())
    return trunk_.forward(std::move(x), "Mixed_6e", [this](const torch::Tensor& t) { aux_output_ = aux_(t); });
  return trunk_.forward(std::move(x));
}

torch::Tensor InceptionV3Impl::forward_top(torch::Tensor x) {
  x = torch::adaptive_avg_pool2d(x, {1, 1});
  tap("avgpool", x);
  x = dropout_(x);
  tap("dropout", x);
  x = x.flatten(1);
  tap("flatten", x);
  x = fc_(x);
  tap("fc", x);
  return x;
}

}  // namespace tlearn
