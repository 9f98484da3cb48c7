// Implementation of tlearn/models/keras_xception.hpp.
#include "tlearn/models/keras_xception.hpp"
#include "tlearn/nn/pooling.hpp"

namespace tlearn {

nn::KerasXceptionBlockImpl::KerasXceptionBlockImpl(LayerTable& table, detail::KerasLayerNumbering& numbering, int number,
                                               int64_t in, const std::vector<int64_t>& filters, Kind kind)
    : kind_(kind), out_channels_(filters.back()), path_("block" + std::to_string(number)) {
  const std::string keras = path_;
  // Keras names the shortcut's layers by creating them first: conv2d_k, batch_normalization_k.
  std::string shortcut_name, shortcut_bn_name;
  if (kind == Kind::Strided) {
    shortcut_name = numbering.next("conv2d");
    shortcut_bn_name = numbering.next("batch_normalization");
    shortcut_ = register_module("shortcut", nn::Conv2d(torch::nn::Conv2dOptions(in, out_channels_, 1).stride(2).bias(false)));
    shortcut_bn_ = register_module("shortcut_bn", detail::keras_batch_norm(out_channels_));
  }
  auto add_row = [&](const std::string& name, const std::string& kind_name,
                     std::shared_ptr<torch::nn::Module> module, const std::string& alias) {
    rows_.push_back(path_ + "." + name);
    table.add(rows_.back(), kind_name,
              module ? std::vector<std::shared_ptr<torch::nn::Module>>{std::move(module)}
                     : std::vector<std::shared_ptr<torch::nn::Module>>{},
              alias);
  };
  int64_t channels = in;
  for (size_t i = 0; i < filters.size(); ++i) {
    const std::string id = std::to_string(i + 1), unit = keras + "_sepconv" + id;
    // Every unit rectifies its input but block2's first (block1 ended with a ReLU)
    // and block14's, which rectify their output instead. A block's first ReLU
    // also feeds the shortcut its input, so it may not work in place.
    const bool relu_before = kind != Kind::Exit && !(number == 2 && i == 0);
    nn::ReLU relu{nullptr};
    if (relu_before || kind == Kind::Exit)
      relu = register_module("relu" + id, nn::ReLU(/*inplace=*/i > 0 || kind == Kind::Exit));
    nn::SeparableConv2d conv = register_module("sepconv" + id, nn::SeparableConv2d(nn::SeparableConv2dOptions(channels, filters[i], 3)));
    nn::BatchNorm2d bn = register_module("bn" + id, detail::keras_batch_norm(filters[i]));
    relus_.push_back(relu);
    convs_.push_back(conv);
    norms_.push_back(bn);
    if (relu_before) add_row("relu" + id, "ReLU", relu.ptr(), unit + "_act");
    add_row("sepconv" + id, "SeparableConv2d", conv.ptr(), unit);
    add_row("bn" + id, "BatchNorm2d", bn.ptr(), unit + "_bn");
    if (kind == Kind::Exit) add_row("relu" + id, "ReLU", relu.ptr(), unit + "_act");
    channels = filters[i];
  }
  if (kind == Kind::Strided) {
    add_row("shortcut", "Conv2d", shortcut_.ptr(), shortcut_name);
    add_row("pool", "MaxPool2d", nullptr, keras + "_pool");
    add_row("shortcut_bn", "BatchNorm2d", shortcut_bn_.ptr(), shortcut_bn_name);
  }
  if (kind != Kind::Exit) add_row("add", "Add", nullptr, numbering.next("add"));
}

torch::Tensor nn::KerasXceptionBlockImpl::forward(torch::Tensor x) {
  const auto input = x;
  size_t row = 0;
  auto next = [&](const torch::Tensor& t) {
    tap(rows_[row++], t);
    return t;
  };
  for (size_t i = 0; i < convs_.size(); ++i) {
    if (relus_[i] && kind_ != Kind::Exit) x = next(relus_[i]->forward(x));
    x = next(convs_[i]->forward(x));
    x = next(norms_[i]->forward(x));
    if (kind_ == Kind::Exit) x = next(relus_[i]->forward(x));
  }
  if (kind_ == Kind::Strided) {
    auto shortcut = next(shortcut_->forward(input));
    x = next(nn::max_pool2d_same(x, 3, 2));
    shortcut = next(shortcut_bn_->forward(shortcut));
    x = next(residual_(shortcut, x, is_training()));
  } else if (kind_ == Kind::Middle) {
    x = next(residual_(input, x, is_training()));
  }
  return x;
}

KerasXceptionImpl::KerasXceptionImpl(const KerasXceptionConfig&, const ModelSpec& spec, const BackboneOptions& options)
    : BackboneImpl(spec, options) {
  // block1: two 3x3 convs without padding, the first at stride 2.
  auto stem_conv = [](int64_t in, int64_t out, int64_t stride) {
    return nn::ConvNormAct(nn::ConvNormActOptions(torch::nn::Conv2dOptions(in, out, 3).stride(stride))
                               .eps(1e-3)
                               .momentum(0.01));
  };
  conv1_ = stem_conv(options.in_chans(), 32, 2);
  conv2_ = stem_conv(32, 64, 1);
  auto block1 = register_module("block1", torch::nn::Sequential());
  block1->push_back("conv1", conv1_);
  block1->push_back("conv2", conv2_);
  conv1_->add_rows(table_, "block1.conv1", {"block1_conv1", "block1_conv1_bn", "block1_conv1_act"});
  conv2_->add_rows(table_, "block1.conv2", {"block1_conv2", "block1_conv2_bn", "block1_conv2_act"});
  detail::StageTracker stages;
  stages.add(conv2_->output_row(), 64, 2);

  using BlockKind = nn::KerasXceptionBlockImpl::Kind;
  detail::KerasLayerNumbering numbering;
  int64_t in = 64;
  auto add_block = [&](int number, std::vector<int64_t> filters, BlockKind kind) {
    nn::KerasXceptionBlock block(table_, numbering, number, in, filters, kind);
    register_module("block" + std::to_string(number), block);
    stages.add(block->output_name(), block->out_channels(), kind == BlockKind::Strided ? 2 : 1);
    blocks_.push_back(block);
    in = block->out_channels();
  };
  add_block(2, {128, 128}, BlockKind::Strided);  // entry flow
  add_block(3, {256, 256}, BlockKind::Strided);
  add_block(4, {728, 728}, BlockKind::Strided);
  for (int number = 5; number <= 12; ++number) add_block(number, {728, 728, 728}, BlockKind::Middle);  // middle flow
  add_block(13, {728, 1024}, BlockKind::Strided);  // exit flow
  add_block(14, {1536, 2048}, BlockKind::Exit);
  feature_info_ = stages.finish();
  output_channels_ = in;

  if (options.include_top()) {
    fc_ = register_module("fc", nn::Linear(in, options.classes()));
    top_.pool_flat("avgpool", "avg_pool").module("fc", fc_, "predictions");
    top_.add_rows(table_);
  }
  detail::init_keras_default(*this);
}

torch::Tensor KerasXceptionImpl::forward_body(torch::Tensor x) {
  x = conv2_->forward(conv1_->forward(x));
  for (auto& block : blocks_) x = block->forward(x);
  return x;
}

}  // namespace tlearn
