#pragma once
/// \file
/// Inception v3 (torchvision.models.inception_v3), and the pieces GoogLeNet shares
/// with it: BasicConv2d (tlearn/nn's ConvNormAct: conv, BatchNorm eps 0.001, ReLU) and a generic
/// multi-branch block described as data (InceptionOp lists).
///
/// Auxiliary classifier: built only with BackboneOptions::aux_logits (and the top).
/// By default, like Keras' InceptionV3 (and torchvision's pretrained googlenet), the
/// model has only the main head, and loading the official checkpoint skips its
/// AuxLogits.* keys (ModelSpec::ignore_modules), so eval outputs equal torchvision's and
/// a state_dict saved from tlearn loads into torchvision's
/// inception_v3(aux_logits=False). With aux_logits the head is torchvision's
/// InceptionAux, loaded from the weights, run after Mixed_6e in training mode only;
/// its logits are read with aux_output(). It is not in the layer table (it is
/// never on the path to the output), so set_trainable leaves it as it is: freeze it
/// with its parameters' requires_grad, or leave it training with the top.
///
/// transform_input: torchvision turns it on for its pretrained weights (they
/// expect inputs normalised to [-1, 1] while users feed ImageNet mean/std); tlearn
/// does the same when options.weights() is "imagenet" or a weights tag, and leaves
/// it off for random initialisation and weight files.
///
/// Layer table: per BasicConv2d "<path>.conv", "<path>.bn" and "<path>" (its ReLU:
/// the module's output); the functional pools ("Mixed_5b.avg_pool"); one
/// Concatenate row per block output named by the block ("Mixed_5b"), and for
/// InceptionE's split branches ("Mixed_7b.branch3x3").

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"

namespace tlearn {

namespace detail {
/// torchvision's BasicConv2d: conv (no bias), BatchNorm (eps 0.001), functional ReLU;
/// children "conv" and "bn".
inline nn::ConvNormActOptions basic_conv2d(torch::nn::Conv2dOptions conv) {
  return nn::ConvNormActOptions(std::move(conv)).eps(0.001).names(nn::ConvNormActNames::Named);
}
}  // namespace detail

/// One step of an Inception network: a BasicConv2d, a pool, or (InceptionE) a
/// split into convs on the same input whose outputs are concatenated.
struct InceptionOp {
  enum class Kind { Conv, AvgPool, MaxPool, Split };
  Kind kind = Kind::Conv;
  /// Conv: module path relative to its parent ("branch5x5_1", "branch2.0"); pools
  /// and Split: the row name relative to the parent ("avg_pool", "branch3x3").
  std::string name;
  torch::nn::Conv2dOptions conv_options{1, 1, 1};
  int64_t kernel = 3, stride = 1, padding = 0;
  bool ceil_mode = false;
  std::vector<InceptionOp> split;  ///< Split: the convs
  /// As Keras' InceptionV3 computes it: BatchNorm without scale and with Keras'
  /// momentum; average pooling that leaves the padding out of each mean.
  bool keras = false;

  // Filled when the op is registered.
  nn::ConvNormAct conv{nullptr};
  std::string row;
};
/// A branch: ops applied one after the other.
using InceptionBranch = std::vector<InceptionOp>;

namespace detail {
inline InceptionOp inception_conv(std::string name, int64_t in, int64_t out, torch::ExpandingArray<2> kernel,
                                  int64_t stride = 1, torch::ExpandingArray<2> padding = 0) {
  InceptionOp op;
  op.name = std::move(name);
  op.conv_options = torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding);
  return op;
}

inline InceptionOp inception_pool(InceptionOp::Kind kind, std::string name, int64_t kernel, int64_t stride,
                                  int64_t padding = 0, bool ceil_mode = false) {
  InceptionOp op;
  op.kind = kind;
  op.name = std::move(name);
  op.kernel = kernel;
  op.stride = stride;
  op.padding = padding;
  op.ceil_mode = ceil_mode;
  return op;
}

inline InceptionOp inception_split(std::string name, std::vector<InceptionOp> convs) {
  InceptionOp op;
  op.kind = InceptionOp::Kind::Split;
  op.name = std::move(name);
  op.split = std::move(convs);
  return op;
}

/// Registers `op`'s modules under `parent` (creating containers for dotted paths such as
/// "branch2.0") and adds its rows, names prefixed by `prefix` ("" at the top level).
inline void register_inception_op(torch::nn::Module& parent, const std::string& prefix, InceptionOp& op,
                                  LayerTable& table) {
  const std::string full = prefix.empty() ? op.name : prefix + "." + op.name;
  switch (op.kind) {
    case InceptionOp::Kind::Conv: {
      torch::nn::Module* owner = &parent;
      std::string local = op.name;
      for (auto dot = local.find('.'); dot != std::string::npos; dot = local.find('.')) {
        const std::string head = local.substr(0, dot);
        auto children = owner->named_children();
        auto child = children.contains(head) ? children[head]
                                             : owner->register_module(head, std::make_shared<torch::nn::Module>());
        owner = child.get();
        local = local.substr(dot + 1);
      }
      auto options = basic_conv2d(op.conv_options);
      if (op.keras) options.scale(false).momentum(0.01);
      op.conv = owner->register_module(local, nn::ConvNormAct(options));
      op.conv->add_rows(table, full);
      op.row = full;
      return;
    }
    case InceptionOp::Kind::AvgPool:
    case InceptionOp::Kind::MaxPool:
      op.row = full;
      table.add(full, op.kind == InceptionOp::Kind::AvgPool ? "AvgPool2d" : "MaxPool2d");
      return;
    case InceptionOp::Kind::Split:
      for (auto& conv : op.split) register_inception_op(parent, prefix, conv, table);
      op.row = full;
      table.add(full, "Concatenate");
      return;
  }
}

inline torch::Tensor run_inception_op(InceptionOp& op, const torch::Tensor& x) {
  torch::Tensor y;
  switch (op.kind) {
    case InceptionOp::Kind::Conv: return op.conv(x);
    case InceptionOp::Kind::AvgPool:
      y = torch::avg_pool2d(x, op.kernel, op.stride, op.padding, op.ceil_mode, /*count_include_pad=*/!op.keras);
      break;
    case InceptionOp::Kind::MaxPool:
      y = torch::max_pool2d(x, op.kernel, op.stride, op.padding, 1, op.ceil_mode);
      break;
    case InceptionOp::Kind::Split: {
      std::vector<torch::Tensor> parts;
      for (auto& conv : op.split) parts.push_back(run_inception_op(conv, x));
      y = torch::cat(parts, 1);
      break;
    }
  }
  tap(op.row, y);
  return y;
}
}  // namespace detail

namespace nn {

/// A multi-branch block: each branch runs on the input, the outputs are concatenated
/// (torchvision's InceptionA..E and GoogLeNet's Inception).
class InceptionBlockImpl : public torch::nn::Module {
 public:
  InceptionBlockImpl(std::vector<InceptionBranch> branches, const std::string& path, LayerTable& table);

  torch::Tensor forward(const torch::Tensor& x);

  const std::vector<InceptionBranch>& branches() const { return branches_; }
  /// The row of the block's output (its Concatenate).
  const std::string& out_name() const { return out_name_; }

 private:
  std::vector<InceptionBranch> branches_;
  std::string out_name_;
};
TORCH_MODULE(InceptionBlock);

}  // namespace nn

namespace detail {
/// Marks ops to compute as Keras does (InceptionOp::keras), a split's convs too.
void mark_keras(InceptionOp& op);
void mark_keras(std::vector<InceptionBranch>& branches);

/// Keras' names and order for Inception ops built with keras = true (InceptionV3,
/// InceptionResNetV2): each conv2d_bn's Conv2D, BatchNormalization and Activation
/// take generated names (conv2d_N, batch_normalization_N, activation_N), pools
/// too (max_pooling2d_N), and every row goes into `graph` with the rows it reads.
class KerasInceptionNames {
 public:
  /// Starts the graph at the table's input row.
  explicit KerasInceptionNames(LayerTable& table) : table_(table) { graph.add(table[0].name, {}); }

  /// Names `op`'s rows, fed by the row `input`; returns the op's output row.
  std::string op(const InceptionOp& op, const std::string& input);
  /// Names a block's ops branch by branch and its Concatenate `alias`; returns that row.
  std::string block(const nn::InceptionBlockImpl& block, const std::string& input, const std::string& alias);

  KerasLayerNumbering numbering;
  KerasGraph graph;
  /// The name of a split's Concatenate; unset: generated ("concatenate_N").
  std::function<std::string(const InceptionOp&)> split_alias;

 private:
  LayerTable& table_;
};
}  // namespace detail

/// The trunk of an Inception network: single ops (stem convs, pools) and blocks, in order.
struct InceptionTrunk {
  struct Item {
    InceptionOp op;
    nn::InceptionBlock block{nullptr};
  };
  std::vector<Item> items;
  std::vector<std::string> names;  ///< per item: the block's name, "" for single ops

  void add_op(torch::nn::Module& owner, InceptionOp op, LayerTable& table);
  void add_block(torch::nn::Module& owner, const std::string& name, std::vector<InceptionBranch> branches,
                 LayerTable& table);
  /// Runs every item; `at_block`, when given, also sees the output of the block `block`.
  torch::Tensor forward(torch::Tensor x, const std::string& block = "",
                        const std::function<void(const torch::Tensor&)>& at_block = nullptr);
};

namespace detail {
/// torchvision's _transform_input: inputs normalised with ImageNet mean/std to the
/// [-1, 1] scaling the original Google weights expect.
inline torch::Tensor inception_transform_input(const torch::Tensor& x) {
  auto c0 = x.select(1, 0).unsqueeze(1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5;
  auto c1 = x.select(1, 1).unsqueeze(1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5;
  auto c2 = x.select(1, 2).unsqueeze(1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5;
  return torch::cat({c0, c1, c2}, 1);
}

/// True when options name torchvision's pretrained weights ("imagenet" or a tag), where
/// torchvision sets transform_input (RGB inputs only: it is a per-channel affine map).
/// timm's weights expect Inception's own scaling from their eval transform instead.
inline bool inception_transform_input_on(const ModelSpec& spec, const BackboneOptions& options) {
  if (options.in_chans() != 3) return false;
  if (options.weights() == "imagenet") return true;
  for (const auto& w : spec.weights)
    if (w.tag == options.weights()) return !w.timm_keys;
  return false;
}

/// Conv and Linear weights N(0, std) truncated to [-2, 2] (torchvision's trunc_normal_),
/// BatchNorm 1 / 0; biases keep their default.
inline void init_inception(torch::nn::Module& root, double std) {
  torch::NoGradGuard no_grad;
  for (auto& m : root.modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      conv->weight.normal_(0.0, std).clamp_(-2.0, 2.0);
    } else if (auto* linear = m->as<torch::nn::Linear>()) {
      linear->weight.normal_(0.0, std).clamp_(-2.0, 2.0);
    } else if (auto* bn = m->as<nn::BatchNorm2d>()) {
      if (bn->weight.defined()) bn->weight.fill_(1);
      bn->bias.zero_();
    }
  }
}

inline std::vector<InceptionBranch> inception_a(int64_t in, int64_t pool_features) {
  return {{inception_conv("branch1x1", in, 64, 1)},
          {inception_conv("branch5x5_1", in, 48, 1), inception_conv("branch5x5_2", 48, 64, 5, 1, 2)},
          {inception_conv("branch3x3dbl_1", in, 64, 1), inception_conv("branch3x3dbl_2", 64, 96, 3, 1, 1),
           inception_conv("branch3x3dbl_3", 96, 96, 3, 1, 1)},
          {inception_pool(InceptionOp::Kind::AvgPool, "avg_pool", 3, 1, 1),
           inception_conv("branch_pool", in, pool_features, 1)}};
}

inline std::vector<InceptionBranch> inception_b(int64_t in) {
  return {{inception_conv("branch3x3", in, 384, 3, 2)},
          {inception_conv("branch3x3dbl_1", in, 64, 1), inception_conv("branch3x3dbl_2", 64, 96, 3, 1, 1),
           inception_conv("branch3x3dbl_3", 96, 96, 3, 2)},
          {inception_pool(InceptionOp::Kind::MaxPool, "max_pool", 3, 2)}};
}

inline std::vector<InceptionBranch> inception_c(int64_t in, int64_t c7) {
  return {{inception_conv("branch1x1", in, 192, 1)},
          {inception_conv("branch7x7_1", in, c7, 1), inception_conv("branch7x7_2", c7, c7, {1, 7}, 1, {0, 3}),
           inception_conv("branch7x7_3", c7, 192, {7, 1}, 1, {3, 0})},
          {inception_conv("branch7x7dbl_1", in, c7, 1), inception_conv("branch7x7dbl_2", c7, c7, {7, 1}, 1, {3, 0}),
           inception_conv("branch7x7dbl_3", c7, c7, {1, 7}, 1, {0, 3}),
           inception_conv("branch7x7dbl_4", c7, c7, {7, 1}, 1, {3, 0}),
           inception_conv("branch7x7dbl_5", c7, 192, {1, 7}, 1, {0, 3})},
          {inception_pool(InceptionOp::Kind::AvgPool, "avg_pool", 3, 1, 1), inception_conv("branch_pool", in, 192, 1)}};
}

inline std::vector<InceptionBranch> inception_d(int64_t in) {
  return {{inception_conv("branch3x3_1", in, 192, 1), inception_conv("branch3x3_2", 192, 320, 3, 2)},
          {inception_conv("branch7x7x3_1", in, 192, 1), inception_conv("branch7x7x3_2", 192, 192, {1, 7}, 1, {0, 3}),
           inception_conv("branch7x7x3_3", 192, 192, {7, 1}, 1, {3, 0}),
           inception_conv("branch7x7x3_4", 192, 192, 3, 2)},
          {inception_pool(InceptionOp::Kind::MaxPool, "max_pool", 3, 2)}};
}

inline std::vector<InceptionBranch> inception_e(int64_t in) {
  return {{inception_conv("branch1x1", in, 320, 1)},
          {inception_conv("branch3x3_1", in, 384, 1),
           inception_split("branch3x3", {inception_conv("branch3x3_2a", 384, 384, {1, 3}, 1, {0, 1}),
                                         inception_conv("branch3x3_2b", 384, 384, {3, 1}, 1, {1, 0})})},
          {inception_conv("branch3x3dbl_1", in, 448, 1), inception_conv("branch3x3dbl_2", 448, 384, 3, 1, 1),
           inception_split("branch3x3dbl", {inception_conv("branch3x3dbl_3a", 384, 384, {1, 3}, 1, {0, 1}),
                                            inception_conv("branch3x3dbl_3b", 384, 384, {3, 1}, 1, {1, 0})})},
          {inception_pool(InceptionOp::Kind::AvgPool, "avg_pool", 3, 1, 1), inception_conv("branch_pool", in, 192, 1)}};
}
}  // namespace detail

namespace nn {

/// torchvision's InceptionAux: avg pool 5/3, 1x1 conv to 128, 5x5 conv to 768,
/// global average, linear. It expects Mixed_6e at 17x17 (299x299 inputs).
class InceptionAuxImpl : public torch::nn::Module {
 public:
  InceptionAuxImpl(int64_t in_channels, int64_t classes);

  torch::Tensor forward(const torch::Tensor& mixed_6e) {
    if (mixed_6e.size(2) < 17 || mixed_6e.size(3) < 17)
      throw Error("inception_v3: the auxiliary classifier (aux_logits) needs Mixed_6e at 17x17 or more, i.e. inputs "
                  "of 299x299 or more in training mode; this input gives " + std::to_string(mixed_6e.size(2)) + "x" +
                  std::to_string(mixed_6e.size(3)) + ". Feed larger images or build the model without aux_logits");
    auto x = torch::avg_pool2d(mixed_6e, 5, 3);
    x = conv1(conv0(x));
    return fc(torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1));
  }

  // No rows: the aux head stays out of the model's layer table.
  nn::ConvNormAct conv0, conv1;
  nn::Linear fc;
};
TORCH_MODULE(InceptionAux);

}  // namespace nn

/// torchvision's Inception v3, or (keras) Keras Applications' InceptionV3: the same
/// network with Keras' BatchNorm (no scale, momentum 0.99), average pools that
/// leave the padding out of each mean ("same" in TensorFlow), no auxiliary
/// head, no dropout before the Dense, Keras' layer names (conv2d_N,
/// batch_normalization_N, activation_N, mixed0 .. mixed10) and Keras' order of
/// model.layers, which interleaves a block's branches by depth.
struct InceptionV3Config {
  TORCH_ARG(bool, keras) = false;
};

class InceptionV3Impl : public BackboneImpl {
 public:
  InceptionV3Impl(const InceptionV3Config&, const ModelSpec& spec, const BackboneOptions& options);

  /// The auxiliary logits of the last training-mode forward (aux_logits only);
  /// undefined after an eval-mode forward or without aux_logits.
  torch::Tensor aux_output() const { return aux_output_; }

  /// Whether inputs are re-normalised as torchvision does for its pretrained weights.
  bool transform_input() const { return transform_input_; }

 protected:
  torch::Tensor forward_body(torch::Tensor x) override;

 private:
  /// Keras' names and order for the rows (config.keras()).
  void use_keras_layer_names();

  bool transform_input_ = false;
  InceptionTrunk trunk_;
  nn::Linear fc_{nullptr};
  nn::InceptionAux aux_{nullptr};
  torch::Tensor aux_output_;
};

namespace detail {
inline ModelSpec inception_v3_spec() {
  ModelSpec s;
  s.name = "inception_v3";
  s.family = "inception";
  s.default_size = 299;
  s.min_size = 75;
  s.first_conv = "Conv2d_1a_3x3.conv.weight";
  s.block_pattern = R"(^(Conv2d_[0-9a-z]+_[0-9x]+|Mixed_[0-9a-z]+))";
  s.top_modules = {"fc"};
  s.classifier_modules = {"fc"};
  s.ignore_modules = {"AuxLogits"};
  s.has_aux_logits = true;
  s.timm_architectures = {{"inception_v3"}};  // timm's has no auxiliary head; the rest has torchvision's names
  s.keras_model = "keras.InceptionV3";
  s.weights.push_back(
      torchvision_weights("IMAGENET1K_V1", "inception_v3_google-0cc3c7bd.pth", {342, 299, Interpolation::Bilinear}));
  return s;
}

/// Keras Applications' InceptionV3, with Keras' files and MD5s and "tf" preprocessing.
inline ModelSpec keras_inception_v3_spec() {
  ModelSpec s = inception_v3_spec();
  s.name = "keras.InceptionV3";
  s.keras_model.clear();
  s.ignore_modules.clear();
  s.has_aux_logits = false;
  s.timm_architectures.clear();
  s.weights = {keras_weights("inception_v3", "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                             "9a0d58056eeedaa3f26cb7ebd46da564",
                             "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
                             "bcbd6486424b2319ff4ef7d526e38f63", Preprocessing::TF, 299)};
  return s;
}
}  // namespace detail

namespace arch {
struct InceptionV3 { using Impl = InceptionV3Impl; static constexpr const char* name = "inception_v3"; };
struct KerasInceptionV3 { using Impl = InceptionV3Impl; static constexpr const char* name = "keras.InceptionV3"; };
}  // namespace arch

namespace detail {
/// The inception variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> inception_variants() {
  return {
      variant<InceptionV3Impl>(inception_v3_spec(), InceptionV3Config()),
      variant<InceptionV3Impl>(keras_inception_v3_spec(), InceptionV3Config().keras(true)),
  };
}
}  // namespace detail

}  // namespace tlearn
