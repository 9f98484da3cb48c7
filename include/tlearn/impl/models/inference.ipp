// Implementation of tlearn/models/inference.hpp.
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "tlearn/core/batch_norm.hpp"
#include "tlearn/core/conv2d.hpp"
#include "tlearn/core/prepackable.hpp"
#include "tlearn/core/cpu_memory.hpp"
#include "tlearn/core/tap.hpp"
#include "tlearn/core/tensor_options.hpp"
#include "tlearn/models/inference.hpp"
#include "tlearn/nn/activation.hpp"

namespace tlearn {

namespace detail {
/// The parameter dictionary of any module (Module::parameters_ is protected).
struct ParameterSlots : torch::nn::Module {
  static torch::OrderedDict<std::string, torch::Tensor>& of(torch::nn::Module& m) {
    return m.*(&ParameterSlots::parameters_);
  }
};

/// W' = W * g / sqrt(v + eps) per output channel; b' = (b - m) * g / sqrt(v + eps) + beta,
/// computed in float32 and stored in the model's dtype (a bf16 model rounds once).
void fold_batchnorm_into_conv(torch::nn::Conv2dImpl& conv, nn::BatchNorm2dImpl& bn) {
  torch::NoGradGuard no_grad;
  auto f32 = [](const torch::Tensor& t) { return t.to(torch::kFloat32); };
  auto scale = 1 / torch::sqrt(f32(bn.running_var) + bn.options.eps());
  if (bn.weight.defined()) scale = scale * f32(bn.weight);  // Keras' scale=False has none
  conv.weight.copy_(f32(conv.weight) * scale.view({-1, 1, 1, 1}));
  auto bias = conv.bias.defined() ? f32(conv.bias) : torch::zeros_like(scale);
  auto folded = ((bias - f32(bn.running_mean)) * scale + f32(bn.bias)).to(conv.weight.scalar_type());
  if (conv.bias.defined()) {
    conv.bias.copy_(folded);
  } else if (auto* slot = ParameterSlots::of(conv).find("bias")) {
    // A bias-free LibTorch conv still registers "bias" (undefined): fill that slot.
    folded.set_requires_grad(conv.weight.requires_grad());
    *slot = folded;
    conv.bias = folded;
  } else {
    conv.bias = conv.register_parameter("bias", folded, conv.weight.requires_grad());
  }
  bn.set_folded(true);
}

/// How far the probe's output may move for a step to be kept: float rounding in
/// float32; in bf16 or fp16 a fold or a fused kernel rounds differently, so the
/// bound is the reduced precision's (a wrong rewrite moves it by order 1).
double probe_tolerance(const torch::Tensor& reference) {
  const auto dtype = reference.scalar_type();
  return dtype == torch::kBFloat16 || dtype == torch::kHalf ? 3e-2 : 1e-4;
}

double max_relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  const auto a32 = a.to(torch::kFloat32), b32 = b.to(torch::kFloat32);
  return ((a32 - b32).abs().max() / (b32.abs().max() + 1e-12)).item<double>();
}

/// A leaf module of the layer table, the row that holds it, and the module whose
/// child it is (nullptr for a module the row lists itself).
struct LeafInRow {
  size_t row;
  std::shared_ptr<torch::nn::Module> module;
  const torch::nn::Module* parent = nullptr;
};

/// Every leaf module of the table in forward order.
std::vector<LeafInRow> table_leaves(const LayerTable& table) {
  std::vector<LeafInRow> leaves;
  std::function<void(size_t, const std::shared_ptr<torch::nn::Module>&, const torch::nn::Module*)> visit =
      [&](size_t row, const std::shared_ptr<torch::nn::Module>& m, const torch::nn::Module* parent) {
        const auto children = m->children();
        if (children.empty()) leaves.push_back({row, m, parent});
        for (const auto& child : children) visit(row, child, m.get());
      };
  for (size_t r = 0; r < table.size(); ++r)
    for (const auto& m : table[r].modules) visit(r, m, nullptr);
  return leaves;
}

/// A conv's weights before a BatchNorm was folded into it, to undo the fold.
struct FoldBackup {
  torch::nn::Conv2dImpl* conv;
  nn::BatchNorm2dImpl* bn;
  torch::Tensor weight, bias;  ///< bias undefined: the conv had none
};

void undo_fold(const FoldBackup& b) {
  torch::NoGradGuard no_grad;
  b.conv->weight.copy_(b.weight);
  if (b.bias.defined()) {
    b.conv->bias.copy_(b.bias);
  } else {
    if (auto* slot = ParameterSlots::of(*b.conv).find("bias")) *slot = torch::Tensor();
    b.conv->bias = torch::Tensor();
  }
  b.bn->set_folded(false);
}

/// Marks conv -> [folded BatchNorm] -> activation runs for fusion: the conv
/// applies the activation (ReLU, ReLU6, SiLU, Hardswish: nn::Absorbable), which
/// passes its input through. Where they share one row (vgg's Keras style conv +
/// relu row) and one parent module they are sequential by construction; across
/// rows they must be consecutive rows of one module each and the activation
/// row's recorded output must be the activation of the row before's. An
/// activation module used twice never fuses. Returns the pairs it marked.
std::vector<std::pair<nn::Conv2dImpl*, nn::Absorbable*>> fuse_conv_activation(
    const LayerTable& table, const std::vector<LeafInRow>& leaves, const std::vector<nn::ConvNormActImpl*>& blocks,
    const std::function<torch::Tensor(size_t)>& recorded) {
  std::map<const torch::nn::Module*, int> uses;
  for (const auto& leaf : leaves) ++uses[leaf.module.get()];
  std::vector<std::pair<nn::Conv2dImpl*, nn::Absorbable*>> fused;
  // A ConvNormAct whose BatchNorm folded: conv and activation are sequential by construction.
  for (auto* block : blocks) {
    if (!block->bn->folded() || block->activation.is_empty()) continue;
    auto* activation = dynamic_cast<nn::Absorbable*>(block->activation.ptr().get());
    if (!activation || activation->absorbed() || uses[block->activation.ptr().get()] > 1) continue;
    if (!nn::Conv2dImpl::fusable_activation(activation->activation())) continue;
    if (block->conv->fused_activation() != nn::Activation::None) continue;
    block->conv->set_fused_activation(activation->activation());
    activation->set_absorbed(true);
    fused.emplace_back(block->conv.get(), activation);
  }
  for (size_t i = 0; i + 1 < leaves.size(); ++i) {
    auto* conv = dynamic_cast<nn::Conv2dImpl*>(leaves[i].module.get());
    if (!conv || conv->fused_activation() != nn::Activation::None) continue;
    size_t j = i + 1;
    auto* bn = dynamic_cast<nn::BatchNorm2dImpl*>(leaves[j].module.get());
    if (bn && bn->folded() && ++j == leaves.size()) continue;
    auto* activation = dynamic_cast<nn::Absorbable*>(leaves[j].module.get());
    if (!activation || activation->absorbed() || uses[leaves[j].module.get()] != 1) continue;
    if (!nn::Conv2dImpl::fusable_activation(activation->activation())) continue;
    const bool one_row = leaves[j].row == leaves[i].row && leaves[j - 1].row == leaves[i].row &&
                         leaves[j].parent == leaves[i].parent && leaves[j - 1].parent == leaves[i].parent;
    if (!one_row) {
      bool separate_rows = true;
      for (size_t k = i; k <= j; ++k)
        separate_rows = separate_rows && table[leaves[k].row].modules.size() == 1 &&
                        (k == i || leaves[k].row == leaves[k - 1].row + 1);
      if (!separate_rows) continue;
      auto before = recorded(leaves[j - 1].row), after = recorded(leaves[j].row);
      if (!before.defined() || !after.defined() || before.sizes() != after.sizes()) continue;
      torch::NoGradGuard no_grad;
      if (!torch::allclose(nn::apply_activation(activation->activation(), before), after, 1e-4, 1e-5)) continue;
    }
    conv->set_fused_activation(activation->activation());
    activation->set_absorbed(true);
    fused.emplace_back(conv, activation);
  }
  return fused;
}
}  // namespace detail

int optimize_for_inference(BackboneImpl& model, const InferenceOptions& options) {
  if (model.is_training())
    throw Error(model.spec().name +
                ": call eval() before optimize_for_inference (BatchNorm must use running statistics)");
  const auto params = model.parameters();
  if (options.reuse_cpu_memory() && (params.empty() || params.front().is_cpu())) reuse_freed_cpu_memory();
  const auto& table = model.layer_table();
  const auto leaves = detail::table_leaves(table);

  // A small probe, but never below what the model takes (maxvit_t: 224).
  const auto hw = model.input_shape();
  const int64_t side = std::max<int64_t>(96, model.spec().min_size);
  const auto probe = torch::randn(
      {1, model.options().in_chans(), std::min<int64_t>(hw[0], side), std::min<int64_t>(hw[1], side)},
      module_options(model));
  torch::Tensor reference;
  int folded = 0;
  std::vector<detail::FoldBackup> backups;
  std::vector<std::pair<nn::Conv2dImpl*, nn::Absorbable*>> fused;
  {
    // One probe pass records every row's output, to confirm cross-row pairs.
    TapRecorder recorder;
    {
      torch::NoGradGuard no_grad;
      reference = model.forward(probe);
    }
    auto recorded = [&](size_t row) -> torch::Tensor {
      const auto& name = table[row].name;
      return recorder.has(name) ? recorder.get(name) : torch::Tensor();
    };
    // A ConvNormAct runs conv, BatchNorm and activation in sequence by construction,
    // wherever the table puts their rows (Keras' InceptionV3 interleaves a block's branches).
    std::vector<nn::ConvNormActImpl*> blocks;
    for (const auto& m : model.modules(/*include_self=*/false))
      if (auto* block = dynamic_cast<nn::ConvNormActImpl*>(m.get())) blocks.push_back(block);
    // Whether conv -> bn can fold at all; the callers know they run in sequence.
    auto foldable = [](torch::nn::Conv2dImpl* conv, nn::BatchNorm2dImpl* bn) {
      return conv && bn && !bn->folded() && conv->options.out_channels() == bn->options.num_features();
    };
    // Folds, keeping what undoes it if the probe's output changes.
    auto fold = [&](torch::nn::Conv2dImpl& conv, nn::BatchNorm2dImpl& bn) {
      backups.push_back({&conv, &bn, conv.weight.detach().clone(),
                         conv.bias.defined() ? conv.bias.detach().clone() : torch::Tensor()});
      detail::fold_batchnorm_into_conv(conv, bn);
      ++folded;
    };
    for (auto* block : blocks)
      if (options.fold_batchnorm() && foldable(block->conv.get(), block->bn.get())) fold(*block->conv, *block->bn);
    // Pairs the family knows from its data flow (NASNet): the conv is the producer's last leaf.
    if (options.fold_batchnorm())
      for (const auto& [producer, norm] : model.conv_batch_norm_pairs()) {
        torch::nn::Module* last = producer;
        while (!last->children().empty()) last = last->children().back().get();
        auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(last);
        auto* bn = dynamic_cast<nn::BatchNorm2dImpl*>(norm);
        if (foldable(conv, bn)) fold(*conv, *bn);
      }
    for (size_t i = 0; options.fold_batchnorm() && i + 1 < leaves.size(); ++i) {
      auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(leaves[i].module.get());
      auto* bn = dynamic_cast<nn::BatchNorm2dImpl*>(leaves[i + 1].module.get());
      if (!foldable(conv, bn)) continue;
      // In one row, only siblings are sequential: a row holding a whole block (maxvit's
      // MBconv) may end one branch with a conv and start the next with a BatchNorm.
      if (leaves[i].row == leaves[i + 1].row && leaves[i].parent != leaves[i + 1].parent) continue;
      if (leaves[i].row != leaves[i + 1].row) {
        // Separate rows: the rows must hold just the conv and just the BN, and the
        // BN's recorded output must be BN(the conv's recorded output).
        if (table[leaves[i].row].modules.size() != 1 || table[leaves[i + 1].row].modules.size() != 1) continue;
        auto conv_out = recorded(leaves[i].row), bn_out = recorded(leaves[i + 1].row);
        if (!conv_out.defined() || !bn_out.defined() || conv_out.sizes() != bn_out.sizes()) continue;
        torch::NoGradGuard no_grad;
        if (!torch::allclose(bn->forward(conv_out), bn_out, 1e-4, 1e-5)) continue;
      }
      fold(*conv, *bn);
    }
    // A fold the rows could not rule out (a conv and a BatchNorm on different paths)
    // would change the output: then none is kept, and the rows are recorded afresh.
    if (folded > 0) {
      torch::NoGradGuard no_grad;
      if (detail::max_relative_difference(model.forward(probe), reference) >= detail::probe_tolerance(reference)) {
        for (const auto& b : backups) detail::undo_fold(b);
        folded = 0;
        model.forward(probe);
      }
    }
    if (options.fuse_activations()) fused = detail::fuse_conv_activation(table, leaves, blocks, recorded);
  }

  // Each later step is kept only if the probe's output stays the same. Nothing
  // records now, so the probe takes the paths inference takes (fused ones too).
  auto probe_unchanged = [&] {
    try {
      torch::NoGradGuard no_grad;
      return detail::max_relative_difference(model.forward(probe), reference) < detail::probe_tolerance(reference);
    } catch (const c10::Error&) {
      return false;  // e.g. an NCHW view in the architecture's forward, under channels-last
    }
  };

  // A conv output also used past its activation (a skip connection) would see
  // the activation applied: the rows cannot show that, the output can.
  if (!fused.empty() && !probe_unchanged()) {
    for (auto& [conv, activation] : fused) {
      conv->set_fused_activation(nn::Activation::None);
      activation->set_absorbed(false);
    }
  }

  if (options.channels_last() && model.memory_format() == torch::MemoryFormat::Contiguous) {
    model.set_memory_format(torch::MemoryFormat::ChannelsLast);
    if (!probe_unchanged()) model.set_memory_format(torch::MemoryFormat::Contiguous);
  }

  if (options.prepack_weights()) {
    // Convolutions, linear layers, attention projections (core/prepackable.hpp).
    std::vector<nn::Prepackable*> layers;
    for (const auto& m : model.modules())
      if (auto* layer = dynamic_cast<nn::Prepackable*>(m.get())) layers.push_back(layer);
    for (auto* layer : layers) layer->set_prepacked(true);
    const bool same = probe_unchanged();
    // Either way drop the probe's packed copies: real inputs have other shapes.
    for (auto* layer : layers) layer->set_prepacked(same);
  }
  return folded;
}

}  // namespace tlearn
