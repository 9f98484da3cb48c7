#pragma once
/// \file
/// Inference mode: fold every BatchNorm into the convolution that feeds it, so
/// a conv + BN pair costs one convolution, and switch weights and activations to
/// channels-last where that keeps the outputs (oneDNN then skips its per-layer
/// layout conversions), and let each convolution keep its weights prepacked in
/// oneDNN's layout instead of reordering them on every call (core/conv2d.hpp;
/// what makes batch 1 fast). Outputs stay equal within float rounding (checked
/// on a probe batch); the model is for inference only afterwards (its BatchNorm
/// layers pass their input through and conv biases appear in its state_dict).
/// On the CPU it also keeps freed memory for reuse (core/cpu_memory.hpp).
///
///     model->eval();
///     tlearn::optimize_for_inference(*model);

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "tlearn/core/batch_norm.hpp"
#include "tlearn/core/conv2d.hpp"
#include "tlearn/core/cpu_memory.hpp"
#include "tlearn/core/tap.hpp"
#include "tlearn/core/tensor_options.hpp"
#include "tlearn/models/backbone.hpp"

namespace tlearn {

namespace detail {
/// The parameter dictionary of any module (Module::parameters_ is protected).
struct ParameterSlots : torch::nn::Module {
  static torch::OrderedDict<std::string, torch::Tensor>& of(torch::nn::Module& m) {
    return m.*(&ParameterSlots::parameters_);
  }
};

/// W' = W * g / sqrt(v + eps) per output channel; b' = (b - m) * g / sqrt(v + eps) + beta.
inline void fold_batchnorm_into_conv(torch::nn::Conv2dImpl& conv, nn::BatchNorm2dImpl& bn) {
  torch::NoGradGuard no_grad;
  auto scale = bn.weight / torch::sqrt(bn.running_var + bn.options.eps());
  conv.weight.mul_(scale.view({-1, 1, 1, 1}));
  auto bias = conv.bias.defined() ? conv.bias.clone() : torch::zeros_like(bn.running_mean);
  auto folded = (bias - bn.running_mean) * scale + bn.bias;
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

inline double max_relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / (b.abs().max() + 1e-12)).item<double>();
}

struct LeafInRow {
  size_t row;
  std::shared_ptr<torch::nn::Module> module;
};
}  // namespace detail

struct InferenceOptions {
  /// Fold each BatchNorm into the convolution feeding it.
  TORCH_ARG(bool, fold_batchnorm) = true;
  /// Channels-last weights and activations, kept only when the probe batch's
  /// outputs are unchanged (an architecture that views its activations as
  /// NCHW, like shufflenet's channel shuffle, stays contiguous).
  TORCH_ARG(bool, channels_last) = true;
  /// On the CPU, keep freed memory for the next batch (core/cpu_memory.hpp; process-wide).
  TORCH_ARG(bool, reuse_cpu_memory) = true;
  /// Convolutions keep their weights in oneDNN's layout, packed once per input
  /// shape, when no gradient is recorded (core/conv2d.hpp). Costs a copy of the
  /// convolution weights per input shape in use.
  TORCH_ARG(bool, prepack_weights) = true;
};

/// Folds BatchNorm layers into their convolutions; returns how many were folded.
/// Pairs inside one layer-table row (conv + bn + relu) are sequential by
/// construction; a conv row followed by a BatchNorm row is folded only when a
/// probe pass shows the BatchNorm really consumes that conv's output.
inline int optimize_for_inference(BackboneImpl& model, const InferenceOptions& options = {}) {
  if (model.is_training())
    throw Error(model.spec().name + ": call eval() before optimize_for_inference (BatchNorm must use running statistics)");
  const auto params = model.parameters();
  if (options.reuse_cpu_memory() && (params.empty() || params.front().is_cpu())) reuse_freed_cpu_memory();
  const auto& table = model.layer_table();
  std::vector<detail::LeafInRow> leaves;
  for (size_t r = 0; r < table.size(); ++r)
    for (const auto& m : table[r].modules)
      for (const auto& leaf : m->modules(/*include_self=*/true))
        if (leaf->children().empty()) leaves.push_back({r, leaf});

  const auto hw = model.input_shape();
  const auto probe =
      torch::randn({1, model.options().in_chans(), std::min<int64_t>(hw[0], 96), std::min<int64_t>(hw[1], 96)},
                   module_options(model));
  torch::Tensor reference;
  int folded = 0;
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
    for (size_t i = 0; options.fold_batchnorm() && i + 1 < leaves.size(); ++i) {
      auto* conv = dynamic_cast<torch::nn::Conv2dImpl*>(leaves[i].module.get());
      auto* bn = dynamic_cast<nn::BatchNorm2dImpl*>(leaves[i + 1].module.get());
      if (!conv || !bn || bn->folded() || conv->options.out_channels() != bn->options.num_features()) continue;
      if (leaves[i].row != leaves[i + 1].row) {
        // Separate rows: the rows must hold just the conv and just the BN, and the
        // BN's recorded output must be BN(the conv's recorded output).
        if (table[leaves[i].row].modules.size() != 1 || table[leaves[i + 1].row].modules.size() != 1) continue;
        auto conv_out = recorded(leaves[i].row), bn_out = recorded(leaves[i + 1].row);
        if (!conv_out.defined() || !bn_out.defined() || conv_out.sizes() != bn_out.sizes()) continue;
        torch::NoGradGuard no_grad;
        if (!torch::allclose(bn->forward(conv_out), bn_out, 1e-4, 1e-5)) continue;
      }
      detail::fold_batchnorm_into_conv(*conv, *bn);
      ++folded;
    }
  }

  // Each later step is kept only if the probe's output stays the same. Nothing
  // records now, so the probe takes the paths inference takes (fused ones too).
  auto probe_unchanged = [&] {
    try {
      torch::NoGradGuard no_grad;
      return detail::max_relative_difference(model.forward(probe), reference) < 1e-4;
    } catch (const c10::Error&) {
      return false;  // e.g. an NCHW view in the architecture's forward, under channels-last
    }
  };

  if (options.channels_last() && model.memory_format() == torch::MemoryFormat::Contiguous) {
    model.set_memory_format(torch::MemoryFormat::ChannelsLast);
    if (!probe_unchanged()) model.set_memory_format(torch::MemoryFormat::Contiguous);
  }

  if (options.prepack_weights() && nn::Conv2dImpl::prepacking_available()) {
    std::vector<nn::Conv2dImpl*> convs;
    for (const auto& m : model.modules())
      if (auto* conv = dynamic_cast<nn::Conv2dImpl*>(m.get())) convs.push_back(conv);
    for (auto* conv : convs) conv->set_prepacked(true);
    const bool same = probe_unchanged();
    // Either way drop the probe's packed copies: real inputs have other shapes.
    for (auto* conv : convs) conv->set_prepacked(same);
  }
  return folded;
}

}  // namespace tlearn
