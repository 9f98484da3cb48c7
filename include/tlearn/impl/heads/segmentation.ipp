// Implementation of tlearn/heads/segmentation.hpp.
#include "tlearn/core/eval_guard.hpp"
#include "tlearn/core/tensor_options.hpp"
#include "tlearn/detail/compat.hpp"
#include "tlearn/heads/segmentation.hpp"

namespace tlearn {

MultiScaleFeaturesImpl::MultiScaleFeaturesImpl(AnyBackbone backbone, std::vector<std::string> layers)
    : backbone_(std::move(backbone)) {
  if (!backbone_) throw Error("MultiScaleFeatures: the backbone is empty; pass one made by make_backbone(...)");
  register_module("backbone", backbone_.ptr());
  if (layers.empty())
    for (const auto& f : backbone_->feature_info()) layers.push_back(f.name);
  if (layers.empty())
    throw Error("MultiScaleFeatures: " + backbone_->spec().name +
                " declares no feature_info(); name the layers to tap");
  const auto& table = backbone_->layer_table();
  // In row order; a feature tap between rows (FeatureInfo::after) right after its row.
  std::vector<std::pair<size_t, std::string>> rows;
  for (const auto& l : layers) {
    std::string between;
    for (const auto& f : backbone_->feature_info())
      if (f.name == l && !f.after.empty()) between = f.after;
    if (between.empty())
      rows.emplace_back(2 * table.index_of(l), table[table.index_of(l)].name);
    else
      rows.emplace_back(2 * table.index_of(between) + 1, l);
  }
  std::sort(rows.begin(), rows.end());
  for (size_t i = 0; i + 1 < rows.size(); ++i)
    if (rows[i].first == rows[i + 1].first)
      throw Error("MultiScaleFeatures: layer '" + rows[i].second + "' is named twice; name each layer once");
  for (const auto& r : rows) names_.push_back(r.second);
  measure();
}

std::vector<int64_t> MultiScaleFeaturesImpl::channels() const {
  std::vector<int64_t> c;
  for (const auto& t : taps_) c.push_back(t.channels);
  return c;
}

void MultiScaleFeaturesImpl::measure() {
  // The input_shape the user chose, else a square small enough to be quick.
  const int64_t side = std::max<int64_t>(backbone_->spec().min_size, 128);
  const auto hw =
      backbone_->options().input_shape().empty() ? std::vector<int64_t>{side, side} : backbone_->input_shape();
  std::vector<torch::Tensor> maps;
  {
    EvalGuard eval(*backbone_);
    torch::NoGradGuard no_grad;
    maps = forward(torch::zeros({1, backbone_->options().in_chans(), hw[0], hw[1]}, module_options(*backbone_)));
  }
  for (size_t i = 0; i < maps.size(); ++i) {
    if (maps[i].dim() != 4) {
      std::ostringstream msg;
      msg << "MultiScaleFeatures: layer '" << names_[i] << "' outputs shape " << maps[i].sizes()
          << "; a decoder needs (N, C, h, w) feature maps, so tap convolutional layers";
      throw Error(msg.str());
    }
    taps_.push_back(
        {names_[i], maps[i].size(1), std::max<int64_t>(1, std::llround(double(hw[0]) / double(maps[i].size(2))))});
  }
}

UNetDecoderImpl::UNetDecoderImpl(UNetDecoderOptions options) : options_(std::move(options)) {
  const auto& skips = options_.skip_channels();
  if (skips.empty()) throw Error("UNetDecoder: skip_channels is empty; pass the channels of at least one encoder map");
  for (auto c : skips)
    if (c < 1) throw Error("UNetDecoder: every skip channel count must be positive");
  if (options_.classes() < 1) throw Error("UNetDecoder: classes must be at least 1");
  if (!(options_.dropout() >= 0 && options_.dropout() < 1))
    throw Error("UNetDecoder: dropout must be in [0, 1), got " + std::to_string(options_.dropout()));
  const size_t blocks = skips.size() - 1;
  widths_ = options_.widths();
  auto& widths = widths_;
  if (widths.empty())
    for (size_t i = 0; i < blocks; ++i) widths.push_back(std::max<int64_t>(16, 512 >> i));
  if (widths.size() != blocks)
    throw Error("UNetDecoder: widths has " + std::to_string(widths.size()) +
                " entries; it needs one per skip but the deepest (" + std::to_string(blocks) + ")");
  int64_t in = skips.back();
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < blocks; ++i) {
    torch::nn::Sequential block;
    block->push_back(
        "conv",
        torch::nn::ConvTranspose2d(
            torch::nn::ConvTranspose2dOptions(in, widths[i], 3).stride(2).padding(1).output_padding(1).bias(false)));
    block->push_back("bn", nn::BatchNorm2d(widths[i]));
    if (options_.dropout() > 0) block->push_back("dropout", torch::nn::Dropout2d(options_.dropout()));
    block->push_back("relu", nn::ReLU(true));
    blocks_->push_back(block);
    in = widths[i] + skips[skips.size() - 2 - i];
  }
  head_ = register_module(
      "head", torch::nn::ConvTranspose2d(
                  torch::nn::ConvTranspose2dOptions(in, options_.classes(), 3).stride(2).padding(1).output_padding(1)));
}

torch::Tensor UNetDecoderImpl::forward(const std::vector<torch::Tensor>& features, std::vector<int64_t> output_hw) {
  const auto& skips = options_.skip_channels();
  if (features.size() != skips.size())
    throw Error("UNetDecoder: got " + std::to_string(features.size()) + " feature maps, built for " +
                std::to_string(skips.size()) + " (one per skip_channels entry, shallow to deep)");
  for (size_t i = 0; i < features.size(); ++i)
    if (features[i].dim() != 4 || features[i].size(1) != skips[i]) {
      std::ostringstream msg;
      msg << "UNetDecoder: feature map " << i << " has shape " << features[i].sizes() << ", expected (N, " << skips[i]
          << ", h, w) as skip_channels says";
      throw Error(msg.str());
    }
  if (output_hw.size() != 2) throw Error("UNetDecoder: output_hw must be {H, W}");
  auto x = features.back();
  if (!detail::compat::kCpuBFloat16ConvTranspose && x.scalar_type() == torch::kBFloat16 && x.device().is_cpu())
    throw Error("UNetDecoder: this LibTorch (" TORCH_VERSION
                ") cannot run its ConvTranspose2d in bfloat16 on the "
                "CPU; keep the decoder in float32 there, or use LibTorch 2.x");
  for (size_t i = 0; i < blocks_->size(); ++i) {
    x = blocks_[i]->as<torch::nn::Sequential>()->forward(x);
    const auto& skip = features[features.size() - 2 - i];
    x = torch::cat({resize(x, skip.size(2), skip.size(3)), skip}, 1);
  }
  return resize(head_(x), output_hw[0], output_hw[1]);
}

torch::Tensor UNetDecoderImpl::resize(const torch::Tensor& x, int64_t h, int64_t w) {
  if (x.size(2) == h && x.size(3) == w) return x;
  namespace F = torch::nn::functional;
  return F::interpolate(
      x, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBilinear).align_corners(false));
}

SegmentationModelImpl::SegmentationModelImpl(AnyBackbone backbone, std::vector<std::string> layers, int64_t classes,
                                             const SegmentationModelOptions& options)
    : options_(options),
      encoder_(std::move(backbone), std::move(layers)),
      decoder_(UNetDecoderOptions(encoder_->channels(), classes).widths(options.widths()).dropout(options.dropout())) {
  register_module("encoder", encoder_);
  register_module("decoder", decoder_);
  if (options.freeze_encoder()) encoder_->backbone()->set_trainable(all(), false);
  if (!options.class_names().empty() && int64_t(options.class_names().size()) != classes)
    throw Error("SegmentationModel: " + std::to_string(options.class_names().size()) + " class_names for " +
                std::to_string(classes) + " classes; give one name per class or none");
}

torch::Tensor SegmentationModelImpl::predict(const torch::Tensor& x, int64_t batch_size) {
  return predict_tensor(*this, x, batch_size, predict_fn());
}

PredictFn SegmentationModelImpl::predict_fn() {
  return [this](const torch::Tensor& x) { return probabilities(forward(x), Activation::None); };
}

void SegmentationModelImpl::summary(std::ostream& os, const SummaryOptions& options) {
  auto backbone = encoder_->backbone();
  auto hw = options.input_shape().empty() ? backbone->input_shape() : options.input_shape();
  std::vector<torch::Tensor> maps;
  {
    EvalGuard eval(*this);
    torch::NoGradGuard no_grad;
    maps = encoder_->forward(
        torch::zeros({1, backbone->options().in_chans(), hw.at(0), hw.at(1)}, module_options(*backbone)));
  }
  auto count = [](const torch::nn::Module& m, SummaryRow& row) {
    for (const auto& p : m.parameters()) {
      row.params += p.numel();
      if (p.requires_grad()) row.trainable_params += p.numel();
    }
  };
  std::vector<SummaryRow> rows;
  SummaryRow encoder;
  encoder.name = "encoder." + backbone->spec().name;
  encoder.type = options.keras_types() ? "Functional" : "Backbone";
  encoder.output_shape = summary_shape(maps.back());
  count(*backbone, encoder);
  rows.push_back(encoder);
  const auto& table = backbone->layer_table();
  if (options.expand_nested())
    for (auto& row : backbone->summary_rows(SummaryOptions(options).input_shape(hw))) {
      row.depth = 1;
      rows.push_back(std::move(row));
    }
  for (size_t i = 0; i < maps.size(); ++i) {  // where the skips come from
    const auto& layer = table[table.index_of(encoder_->layer_names()[i])];
    SummaryRow tap;
    tap.name = "skip " + std::to_string(i) + ": " + (layer.alias.empty() ? layer.name : layer.alias);
    tap.type = "tap";
    tap.depth = 1;
    tap.output_shape = summary_shape(maps[i]);
    rows.push_back(tap);
  }
  const auto& widths = decoder_->widths();
  for (size_t i = 0; i < widths.size(); ++i) {
    const auto& skip = maps[maps.size() - 2 - i];
    SummaryRow block;
    block.name = "decoder.blocks." + std::to_string(i);
    block.type = options.keras_types() ? "Conv2DTranspose+Concatenate" : "ConvTranspose2d+cat";
    block.output_shape = "(None, " + std::to_string(widths[i] + skip.size(1)) + ", " + std::to_string(skip.size(2)) +
                         ", " + std::to_string(skip.size(3)) + ")";
    count(*decoder_->named_children()["blocks"]->children()[i], block);
    rows.push_back(block);
  }
  SummaryRow out;
  out.name = "decoder.head";
  out.type = options.keras_types() ? "Conv2DTranspose" : "ConvTranspose2d";
  out.output_shape = "(None, " + std::to_string(decoder_->options().classes()) + ", " + std::to_string(hw[0]) + ", " +
                     std::to_string(hw[1]) + ")";
  count(*decoder_->named_children()["head"], out);
  rows.push_back(out);
  print_summary(os, "segmentation", rows, *this, options);
}

std::vector<torch::Tensor> SegmentationModelImpl::trainable_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& p : parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

SegmentationModel::SegmentationModel(AnyBackbone backbone, std::vector<std::string> layers, int64_t classes,
                                     const SegmentationModelOptions& options)
    : ModuleHolder(std::make_shared<SegmentationModelImpl>(std::move(backbone), std::move(layers), classes, options)) {}

}  // namespace tlearn
