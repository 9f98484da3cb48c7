// Implementation of tlearn/models/mnasnet.hpp.
#include "tlearn/models/mnasnet.hpp"

namespace tlearn {

nn::MNASNetBlockImpl::MNASNetBlockImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t expansion,
                                   LayerTable& table, const std::string& name) {
  const int64_t mid = in * expansion;
  layers_ = register_module(
      "layers", torch::nn::Sequential(detail::mnasnet_conv(in, mid, 1), detail::mnasnet_bn(mid), nn::ReLU(),
                                      detail::mnasnet_conv(mid, mid, kernel, stride, mid), detail::mnasnet_bn(mid),
                                      nn::ReLU(), detail::mnasnet_conv(mid, out, 1), detail::mnasnet_bn(out)));
  chain_.append(table, name + ".layers", *layers_);
  if (in == out && stride == 1) {
    add_ = name + ".add";
    residual_.taps("", add_);
    table.add(add_, "Add");
  }
}

torch::Tensor nn::MNASNetBlockImpl::forward(torch::Tensor x) {
  auto y = chain_.forward(x);
  if (add_.empty()) return y;
  return residual_(x, y, is_training());
}

MNASNetImpl::MNASNetImpl(const MNASNetConfig& config, const ModelSpec& spec, const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  int64_t d[8];
  const int64_t depths[8] = {32, 16, 24, 40, 80, 96, 192, 320};
  for (int i = 0; i < 8; ++i) d[i] = detail::make_divisible(static_cast<double>(depths[i]) * config.alpha());
  detail::StageTracker stages;

  layers_ = register_module(
      "layers",
      torch::nn::Sequential(detail::mnasnet_conv(options.in_chans(), d[0], 3, 2), detail::mnasnet_bn(d[0]),
                            nn::ReLU(), detail::mnasnet_conv(d[0], d[0], 3, 1, d[0]), detail::mnasnet_bn(d[0]),
                            nn::ReLU(), detail::mnasnet_conv(d[0], d[1], 1), detail::mnasnet_bn(d[1])));
  body_.append(table_, "layers", *layers_);
  stages.add("layers.7", d[1], 2);

  // out depth index, kernel, stride, expansion, repeats (torchvision's _stack calls)
  const int64_t stacks[6][5] = {{2, 3, 2, 3, 3}, {3, 5, 2, 3, 3}, {4, 5, 2, 6, 3},
                                {5, 3, 1, 6, 2}, {6, 5, 2, 6, 4}, {7, 3, 1, 6, 1}};
  int64_t in = d[1];
  for (size_t s = 0; s < 6; ++s) {
    const auto& st = stacks[s];
    const int64_t out = d[st[0]];
    const std::string stack_name = "layers." + std::to_string(8 + s);
    nn::NestedSequential stack;
    for (int64_t r = 0; r < st[4]; ++r) {
      const int64_t stride = r == 0 ? st[2] : 1;
      nn::MNASNetBlock block(in, out, st[1], stride, st[3], table_, stack_name + "." + std::to_string(r));
      stack->push_back(block);
      body_.append(table_, "", torch::nn::AnyModule(block), "");
      stages.add(block->output_name(), out, stride);
      in = out;
    }
    layers_->push_back(stack);
  }

  torch::nn::Sequential head(detail::mnasnet_conv(in, 1280, 1), detail::mnasnet_bn(1280), nn::ReLU());
  int64_t index = 14;
  for (const auto& module : *head) {
    layers_->push_back(module);
    body_.append(table_, "layers." + std::to_string(index++), module, detail::module_kind(*module.ptr()));
  }
  stages.add("layers.16", 1280, 1);
  feature_info_ = stages.finish();
  output_channels_ = 1280;

  if (options.include_top()) {
    classifier_ = register_module("classifier", torch::nn::Sequential(torch::nn::Dropout(drop_rate_or(0.2)),
                                                                      nn::Linear(1280, options.classes())));
    top_.mean("avgpool", "", "GlobalAveragePooling2D").sequential("classifier", classifier_).add_rows(table_);
  }
  init_weights();
}

void MNASNetImpl::init_weights() {
  detail::init_torchvision_default(*this);
  if (!classifier_) return;
  torch::NoGradGuard no_grad;
  auto* linear = classifier_[1]->as<torch::nn::Linear>();
  torch::nn::init::kaiming_uniform_(linear->weight, 0.0, torch::kFanOut, torch::kSigmoid);
  torch::nn::init::zeros_(linear->bias);
}

}  // namespace tlearn
