#pragma once
/// \file
/// Inference mode: fold every BatchNorm into the convolution that feeds it, so
/// a conv + BN pair costs one convolution, let each convolution apply the
/// activation that follows it (ReLU in vgg, densenet, regnet, resnet, ...; ReLU6
/// in mobilenet_v2, SiLU in efficientnet, Hardswish in mobilenet_v3), switch
/// weights and activations to channels-last where that keeps the outputs
/// (oneDNN then skips its per-layer layout conversions), and
/// let every convolution, linear layer and attention projection keep its weights
/// prepacked in oneDNN's layout instead of reordering them on every call
/// (core/conv2d.hpp, core/linear.hpp; what makes batch 1 and transformers fast).
/// Outputs stay equal within rounding, checked on a probe batch: a relative
/// difference under 1e-4 in float32, 3e-2 in bfloat16 or float16 (whose own
/// rounding is that coarse). The model is for inference only afterwards (its
/// BatchNorm layers pass their input through and conv biases appear in its
/// state_dict). On the CPU it also keeps freed memory for reuse (core/cpu_memory.hpp).
///
///     model->eval();
///     tlearn::optimize_for_inference(*model);

#include <torch/torch.h>

#include "tlearn/models/backbone.hpp"

namespace tlearn {

struct InferenceOptions {
  /// Fold each BatchNorm into the convolution feeding it.
  TORCH_ARG(bool, fold_batchnorm) = true;
  /// Let a convolution apply the activation that follows it (after a folded
  /// BatchNorm or directly: ReLU, ReLU6, SiLU, Hardswish); the activation then
  /// passes its input through. Both fuse only while no tap records, so
  /// summary(), features and Grad-CAM still see every row.
  TORCH_ARG(bool, fuse_activations) = true;
  /// Channels-last weights and activations, kept only when the probe batch's
  /// outputs are unchanged (an architecture that views its activations as
  /// NCHW, like shufflenet's channel shuffle, stays contiguous).
  TORCH_ARG(bool, channels_last) = true;
  /// On the CPU, keep freed memory for the next batch (core/cpu_memory.hpp; process-wide).
  TORCH_ARG(bool, reuse_cpu_memory) = true;
  /// Convolutions and linear layers keep their weights in oneDNN's layout,
  /// packed on first use, when no gradient is recorded (core/conv2d.hpp,
  /// core/linear.hpp). Costs a copy of the convolution weights per input shape
  /// in use, and one of the linear weights.
  TORCH_ARG(bool, prepack_weights) = true;
};

/// Folds BatchNorm layers into their convolutions and fuses conv + activation; returns
/// how many BatchNorm layers were folded. The model walks its layer table: a
/// pair inside one row (conv + bn + relu) is sequential by construction; across
/// rows a pair is fused only when a probe pass shows the second layer really
/// consumes the first one's output, and every step is undone unless the
/// probe's output stays the same.
int optimize_for_inference(BackboneImpl& model, const InferenceOptions& options = {});

}  // namespace tlearn
