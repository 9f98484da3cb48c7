#pragma once
/// \file
/// NASNet-A as Keras Applications builds it (keras.applications.NASNetMobile and
/// NASNetLarge; torchvision has none): registered as "keras.NASNetMobile" (224 x 224
/// by default) and "keras.NASNetLarge" (331), 32 at least, with Keras' layer names
/// and order as the table (`first(n)` is `model.layers[:n]`), Keras' official
/// weights and their MD5s, "tf" preprocessing.
///
/// The network is a graph, not a chain: each cell reads the two cells before it
/// (`p` is the previous cell's input), adjusts `p` to its own shape (a factorised
/// reduction where the resolution halved, a 1x1 projection where only the width
/// differs), runs five pairs of separable-conv blocks and pools, and concatenates
/// them. Two reduction cells on the stem, then N normal cells, a reduction, N
/// normal cells, a reduction, N normal cells (Mobile: N = 4, Large: 6). Each
/// Keras layer is one row and one node of that graph, run in the order Keras
/// builds them; the rows are listed in Keras' order (detail::KerasGraph), which
/// interleaves branches by depth. Unnamed layers carry the names Keras generates
/// ("activation_12", "zero_padding2d", "add", "concatenate_3").
///
///     auto base = tlearn::make_backbone("keras.NASNetMobile", tlearn::BackboneOptions().include_top(false));
///
/// Module paths are the Keras names ("separable_conv_1_normal_left1_0", "predictions").

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tlearn/core/linear.hpp"
#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"

namespace tlearn {

/// Keras' NASNet(...) arguments.
struct KerasNASNetConfig {
  TORCH_ARG(int64_t, penultimate_filters) = 0;  ///< the last cells' width: 1056 (Mobile), 4032 (Large)
  TORCH_ARG(int, num_blocks) = 0;               ///< normal cells between reductions: 4, 6
  TORCH_ARG(int64_t, stem_filters) = 0;         ///< 32, 96
  TORCH_ARG(bool, skip_reduction) = false;      ///< Large: a reduction cell's input is not the next cell's `p`
  TORCH_ARG(int64_t, filter_multiplier) = 2;
};

class KerasNASNetImpl : public BackboneImpl {
 public:
  KerasNASNetImpl(const KerasNASNetConfig& config, const ModelSpec& spec, const BackboneOptions& options);

 protected:
  torch::Tensor forward_body(torch::Tensor x) override;


 public:
  /// Each BatchNorm after the convolution or separable convolution it alone reads.
  std::vector<std::pair<torch::nn::Module*, torch::nn::Module*>> conv_batch_norm_pairs() const override;

 private:
  /// A layer's output while the model is built: its node, its resolution (stride
  /// 2^level) and its channels.
  struct Output {
    size_t node;
    int level;
    int64_t channels;
  };
  using Op = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;
  /// One Keras layer: its row, the nodes it reads, what it computes from them.
  struct Node {
    std::string row;
    std::vector<size_t> inputs;
    Op op;
    std::shared_ptr<torch::nn::Module> module;  ///< the row's module, if it has one
  };

  /// Adds the layer `name` (a Keras name, or a class to number: "activation")
  /// of `kind` on `inputs`, holding `module` (registered under its name) if any.
  Output layer(std::string name, const std::string& kind, const std::vector<Output>& inputs,
               std::shared_ptr<torch::nn::Module> module, Op op, int level, int64_t channels);

  Output relu(const Output& x, const std::string& name = "");
  Output conv(const Output& x, int64_t filters, const std::string& name, int64_t kernel = 1, int64_t stride = 1);
  Output batch_norm(const Output& x, const std::string& name);
  /// ZeroPadding2D by imagenet_utils.correct_pad: what a stride-2 `kernel` needs.
  Output correct_pad(const Output& x, int64_t kernel, const std::string& name);
  Output separable(const Output& x, int64_t filters, int64_t kernel, int64_t stride, const std::string& name);
  Output pool(const Output& x, bool max, int64_t kernel, int64_t stride, bool same, const std::string& name);
  Output add(const std::vector<Output>& inputs, const std::string& name = "");
  Output concat(const std::vector<Output>& inputs, const std::string& name = "");

  /// Keras' _separable_conv_block: twice ReLU, separable conv, BatchNorm.
  Output separable_block(const Output& x, int64_t filters, int64_t kernel, int64_t stride, const std::string& id);
  /// Keras' _adjust_block: `p` brought to `ip`'s resolution and `filters` channels.
  Output adjust(std::optional<Output> p, const Output& ip, int64_t filters, const std::string& id);
  /// The cells; each returns its output and its input (the next cell's `p`).
  std::pair<Output, Output> normal_cell(const Output& ip, std::optional<Output> p, int64_t filters,
                                        const std::string& id);
  std::pair<Output, Output> reduction_cell(const Output& ip, std::optional<Output> p, int64_t filters,
                                           const std::string& id);

  std::vector<Node> nodes_;     ///< in the order Keras builds them: each after its inputs
  std::vector<size_t> last_use_;  ///< per node, the last node that reads it (frees it after)
  detail::KerasGraph graph_;
  detail::KerasLayerNumbering numbering_;
  nn::Linear predictions_{nullptr};
};

namespace detail {
/// keras.NASNetMobile and keras.NASNetLarge: Keras' files, cached under Keras' names.
ModelSpec keras_nasnet_spec(bool large);
KerasNASNetConfig keras_nasnet_config(bool large);
std::vector<RegisteredModel> keras_nasnet_variants();
}  // namespace detail

namespace arch {
struct KerasNASNetMobile { using Impl = KerasNASNetImpl; static constexpr const char* name = "keras.NASNetMobile"; };
struct KerasNASNetLarge { using Impl = KerasNASNetImpl; static constexpr const char* name = "keras.NASNetLarge"; };
}  // namespace arch

}  // namespace tlearn
