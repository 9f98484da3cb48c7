// Implementation of tlearn/models/regnet.hpp.
#include "tlearn/models/regnet.hpp"

namespace tlearn {

namespace {
/// Conv2dNormActivation as RegNet builds it: ReLU or no activation.
nn::ConvNormAct conv_bn(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups, bool relu) {
  return nn::ConvNormAct(nn::ConvNormActOptions(in, out, kernel)
                             .stride(stride)
                             .groups(groups)
                             .activation(relu ? nn::Activation::ReLU : nn::Activation::None));
}
}  // namespace

nn::RegNetBlockImpl::RegNetBlockImpl(int64_t in, int64_t out, int64_t stride, int64_t group_width, double se_ratio,
                                 const std::string& prefix, LayerTable& table)
    : add_name_(prefix + ".add"), out_name_(prefix + ".activation") {
  residual_.taps("", add_name_);
  if (in != out || stride != 1) {
    proj_ = register_module("proj", conv_bn(in, out, 1, stride, 1, false));
    proj_->add_rows(table, prefix + ".proj");
  }
  f_ = register_module("f", nn::RegNetBottleneck());
  const int64_t groups = out / group_width;
  f_->a = f_->register_module("a", conv_bn(in, out, 1, 1, 1, true));
  f_->a->add_rows(table, prefix + ".f.a");
  f_->b = f_->register_module("b", conv_bn(out, out, 3, stride, groups, true));
  f_->b->add_rows(table, prefix + ".f.b");
  if (se_ratio > 0) {
    auto squeeze = static_cast<int64_t>(std::nearbyint(se_ratio * double(in)));
    f_->se = f_->register_module("se", nn::SqueezeExcitation(nn::SqueezeExcitationOptions(out, squeeze)));
    f_->se->add_rows(table, prefix + ".f.se");
  }
  f_->c = f_->register_module("c", conv_bn(out, out, 1, 1, 1, false));
  f_->c->add_rows(table, prefix + ".f.c");
  table.add(add_name_, "Add");
  table.add(out_name_, "ReLU");
}

torch::Tensor nn::RegNetBlockImpl::forward(const torch::Tensor& x) {
  auto shortcut = proj_ ? proj_->forward(x) : x;
  auto y = f_->a->forward(x);
  y = f_->b->forward(y);
  if (f_->se) y = f_->se->forward(y);
  y = f_->c->forward(y);
  y = residual_(shortcut, y, is_training());
  y = torch::relu(y);
  tap(out_name_, y);
  return y;
}

RegNetImpl::RegNetImpl(const RegNetConfig& config, const ModelSpec& spec, const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  const int64_t stem_width = 32;
  stem_ = register_module("stem", conv_bn(options.in_chans(), stem_width, 3, 2, 1, true));
  stem_->add_rows(table_, "stem");
  feature_info_.push_back({stem_->output_row(), stem_width, 2});

  auto trunk = register_module("trunk_output", std::make_shared<torch::nn::Module>());
  int64_t width = stem_width, stride = 2, index = 1;
  for (const auto& stage : detail::regnet_stages(config)) {
    const std::string stage_name = "block" + std::to_string(index);
    auto stage_module = trunk->register_module(stage_name, std::make_shared<torch::nn::Module>());
    for (int64_t i = 0; i < stage.depth; ++i) {
      const std::string block_name = stage_name + "-" + std::to_string(i);
      auto block = stage_module->register_module(
          block_name, nn::RegNetBlock(i == 0 ? width : stage.width, stage.width, i == 0 ? 2 : 1, stage.group_width,
                                  config.se_ratio(), "trunk_output." + stage_name + "." + block_name, table_));
      blocks_.push_back(block);
    }
    width = stage.width;
    stride *= 2;
    feature_info_.push_back({blocks_.back()->output_name(), width, stride});
    ++index;
  }
  output_channels_ = width;

  if (options.include_top()) {
    fc_ = register_module("fc", nn::Linear(width, options.classes()));
    top_.pool("avgpool").flatten("flatten").dropout(drop_rate_or(0.0));  // torchvision has no dropout
    top_.module("fc", fc_, "predictions").add_rows(table_);
  }
  init_weights();
}

torch::Tensor RegNetImpl::forward_body(torch::Tensor x) {
  x = stem_->forward(std::move(x));
  for (auto& block : blocks_) x = block(x);
  return x;
}

void RegNetImpl::init_weights() {
  torch::NoGradGuard no_grad;
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      const auto& w = conv->weight;
      const double fan_out = double(w.size(0) * w.size(2) * w.size(3));
      conv->weight.normal_(0.0, std::sqrt(2.0 / fan_out));
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      if (bn->weight.defined()) bn->weight.fill_(1);
      bn->bias.zero_();
    } else if (auto* linear = m->as<torch::nn::Linear>()) {
      linear->weight.normal_(0.0, 0.01);
      linear->bias.zero_();
    }
  }
}

}  // namespace tlearn
