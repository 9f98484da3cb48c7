// Implementation of tlearn/models/shufflenet.hpp.
#include "tlearn/models/shufflenet.hpp"

namespace tlearn {

nn::ShuffleNetV2UnitImpl::ShuffleNetV2UnitImpl(int64_t in, int64_t out, int64_t stride, LayerTable& table,
                                           const std::string& name)
    : stride_(stride), concat_(name + ".concat"), shuffle_(name + ".shuffle") {
  using detail::shufflenet_conv;
  const int64_t branch = out / 2;
  if (stride == 1 && in != branch * 2)
    throw Error(name + ": a stride-1 ShuffleNetV2 unit needs in == out, got " + std::to_string(in) + " and " +
                std::to_string(out));
  if (stride > 1) {
    auto branch1 = register_module(
        "branch1", torch::nn::Sequential(shufflenet_conv(in, in, 3, stride, in), nn::BatchNorm2d(in),
                                         shufflenet_conv(in, branch, 1), nn::BatchNorm2d(branch), nn::ReLU()));
    branch1_.append(table, name + ".branch1", *branch1);
  }
  auto branch2 = register_module(
      "branch2", torch::nn::Sequential(shufflenet_conv(stride > 1 ? in : branch, branch, 1), nn::BatchNorm2d(branch),
                                       nn::ReLU(), shufflenet_conv(branch, branch, 3, stride, branch),
                                       nn::BatchNorm2d(branch), shufflenet_conv(branch, branch, 1),
                                       nn::BatchNorm2d(branch), nn::ReLU()));
  branch2_.append(table, name + ".branch2", *branch2);
  table.add(concat_, "Concatenate");
  table.add(shuffle_, "ChannelShuffle");
}

torch::Tensor nn::ShuffleNetV2UnitImpl::forward(const torch::Tensor& x) {
  torch::Tensor out;
  if (stride_ == 1) {
    auto halves = x.chunk(2, 1);
    out = torch::cat({halves[0], branch2_.forward(halves[1])}, 1);
  } else {
    auto left = branch1_.forward(x);
    out = torch::cat({left, branch2_.forward(x)}, 1);
  }
  tap(concat_, out);
  out = detail::channel_shuffle(out, 2);
  tap(shuffle_, out);
  return out;
}

ShuffleNetV2Impl::ShuffleNetV2Impl(const ShuffleNetV2Config& config, const ModelSpec& spec,
                                   const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  using detail::shufflenet_conv;
  const auto& ch = config.channels();
  detail::StageTracker stages;

  auto conv1 = register_module("conv1", torch::nn::Sequential(shufflenet_conv(options.in_chans(), ch[0], 3, 2),
                                                              nn::BatchNorm2d(ch[0]), nn::ReLU()));
  body_.append(table_, "conv1", *conv1);
  stages.add("conv1.2", ch[0], 2);
  auto maxpool = register_module("maxpool", torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2).padding(1)));
  body_.append(table_, "maxpool", torch::nn::AnyModule(maxpool), "MaxPool2d");
  stages.add("maxpool", ch[0], 2);

  int64_t in = ch[0];
  for (size_t s = 0; s < 3; ++s) {
    const std::string stage_name = "stage" + std::to_string(s + 2);
    auto stage = register_module(stage_name, torch::nn::Sequential());
    for (int64_t i = 0; i < config.repeats()[s]; ++i) {
      const int64_t stride = i == 0 ? 2 : 1;
      nn::ShuffleNetV2Unit unit(in, ch[s + 1], stride, table_, stage_name + "." + std::to_string(i));
      stage->push_back(unit);
      body_.append(table_, "", torch::nn::AnyModule(unit), "");
      stages.add(unit->output_name(), ch[s + 1], stride);
      in = ch[s + 1];
    }
  }

  auto conv5 = register_module(
      "conv5", torch::nn::Sequential(shufflenet_conv(in, ch[4], 1), nn::BatchNorm2d(ch[4]), nn::ReLU()));
  body_.append(table_, "conv5", *conv5);
  stages.add("conv5.2", ch[4], 1);
  feature_info_ = stages.finish();
  output_channels_ = ch[4];

  if (options.include_top()) {
    fc_ = register_module("fc", nn::Linear(ch[4], options.classes()));
    top_.mean("avgpool", "", "GlobalAveragePooling2D").dropout(drop_rate_or(0.0));
    top_.module("fc", fc_).add_rows(table_);
  }
  // torchvision keeps PyTorch's default initialisation, which LibTorch shares.
}

}  // namespace tlearn
