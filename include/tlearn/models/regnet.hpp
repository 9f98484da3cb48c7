#pragma once
/// \file
/// RegNetX 400MF to 32GF and RegNetY 400MF to 128GF (torchvision.models.regnet).
/// Stage widths and depths come from torchvision's BlockParams.from_init_params
/// (computed with the same tensor operations, so they are bit for bit the same).
/// Layer table: one row per leaf op, named by the torchvision module path
/// ("trunk_output.block2.block2-0.f.b.0"), plus "<block>.f.se" (the SE product),
/// "<block>.add" (residual sum) and "<block>.activation" (the block output).
///
///     auto base = tlearn::make_backbone("regnet_y_800mf", tlearn::BackboneOptions().include_top(false));
///
/// weights("imagenet") loads torchvision's DEFAULT weights (IMAGENET1K_V2); "IMAGENET1K_V1"
/// and, for regnet_y_16gf / 32gf, "IMAGENET1K_SWAG_E2E_V1" (384x384) and
/// "IMAGENET1K_SWAG_LINEAR_V1" can be named. regnet_y_128gf has only the two SWAG
/// files; "imagenet" is its end-to-end one, at 384x384.

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tlearn/models/backbone.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/layers.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/nn/residual.hpp"

namespace tlearn {

/// torchvision's from_init_params arguments.
struct RegNetConfig {
  TORCH_ARG(int64_t, depth) = 0;
  TORCH_ARG(int64_t, w_0) = 0;
  TORCH_ARG(double, w_a) = 0;
  TORCH_ARG(double, w_m) = 0;
  TORCH_ARG(int64_t, group_width) = 0;
  TORCH_ARG(double, se_ratio) = 0;  ///< 0: RegNetX (no squeeze-excitation)
};

/// Per-stage settings (torchvision's BlockParams with bottleneck multiplier 1, stride 2).
struct RegNetStage {
  int64_t width = 0;
  int64_t depth = 0;
  int64_t group_width = 0;
};

namespace detail {
/// BlockParams.from_init_params + _adjust_widths_groups_compatibilty, same float32 ops.
inline std::vector<RegNetStage> regnet_stages(const RegNetConfig& c) {
  constexpr int64_t quant = 8;
  auto widths_cont = torch::arange(c.depth()) * c.w_a() + c.w_0();
  auto capacity = torch::round(torch::log(widths_cont / c.w_0()) / std::log(c.w_m()));
  auto widths = (torch::round(torch::div(c.w_0() * torch::pow(c.w_m(), capacity), quant)) * quant).to(torch::kInt);
  std::vector<RegNetStage> stages;
  for (int64_t i = 0; i < c.depth(); ++i) {
    int64_t w = widths[i].item<int>();
    if (stages.empty() || stages.back().width != w) stages.push_back({w, 0, c.group_width()});
    stages.back().depth += 1;
  }
  for (auto& s : stages) {
    const int64_t g = std::min(s.group_width, s.width);
    int64_t w = std::max(g, (s.width + g / 2) / g * g);  // _make_divisible(width, g)
    if (double(w) < 0.9 * double(s.width)) w += g;
    s.width = w;
    s.group_width = g;
  }
  return stages;
}

}  // namespace detail

namespace nn {

/// torchvision's BottleneckTransform ("f": a, b, [se], c).
class RegNetBottleneckImpl : public torch::nn::Module {
 public:
  nn::ConvNormAct a{nullptr}, b{nullptr}, c{nullptr};
  nn::SqueezeExcitation se{nullptr};  ///< RegNetY only
};
TORCH_MODULE(RegNetBottleneck);

/// torchvision's ResBottleneckBlock: relu(proj(x) + f(x)) (or x + f(x)).
class RegNetBlockImpl : public torch::nn::Module {
 public:
  RegNetBlockImpl(int64_t in, int64_t out, int64_t stride, int64_t group_width, double se_ratio,
                  const std::string& prefix, LayerTable& table);

  torch::Tensor forward(const torch::Tensor& x);

  const std::string& output_name() const { return out_name_; }

 private:
  nn::ConvNormAct proj_{nullptr};
  RegNetBottleneck f_{nullptr};
  std::string add_name_, out_name_;
  nn::ResidualAdd residual_;
};
TORCH_MODULE(RegNetBlock);

}  // namespace nn

class RegNetImpl : public BackboneImpl {
 public:
  RegNetImpl(const RegNetConfig& config, const ModelSpec& spec, const BackboneOptions& options);

 protected:
  torch::Tensor forward_body(torch::Tensor x) override;

 private:
  /// torchvision's RegNet init: conv weights N(0, sqrt(2 / fan_out)) (biases keep their
  /// default), BatchNorm 1 / 0, Linear N(0, 0.01) with zero bias.
  void init_weights();

  nn::ConvNormAct stem_{nullptr};
  std::vector<nn::RegNetBlock> blocks_;
  nn::Linear fc_{nullptr};
};

namespace detail {
/// v1 / v2: the files' names after "regnet_..-"; swag / swag_lc: the SWAG files (regnet_y_16gf, 32gf,
/// 128gf). An empty hash: torchvision has no such file.
inline ModelSpec regnet_spec(const std::string& name, const std::string& v1, const std::string& v2,
                             const std::string& swag = "", const std::string& swag_lc = "") {
  ModelSpec s;
  s.name = name;
  s.family = "regnet";
  s.first_conv = "stem.0.weight";
  s.block_pattern = R"(^trunk_output\.block\d+\.block\d+-\d+)";
  s.top_modules = {"fc"};
  s.classifier_modules = {"fc"};
  // timm's RegNets with torchvision's numbers (the others differ in widths or groups).
  static const std::map<std::string, std::string> timm_names = {
      {"regnet_y_400mf", "regnety_004"}, {"regnet_y_1_6gf", "regnety_016"}, {"regnet_y_3_2gf", "regnety_032"},
      {"regnet_y_16gf", "regnety_160"},  {"regnet_y_32gf", "regnety_320"},  {"regnet_x_800mf", "regnetx_008"},
      {"regnet_x_1_6gf", "regnetx_016"}, {"regnet_x_3_2gf", "regnetx_032"}, {"regnet_x_8gf", "regnetx_080"},
      {"regnet_x_16gf", "regnetx_160"},  {"regnet_x_32gf", "regnetx_320"}};
  if (auto it = timm_names.find(name); it != timm_names.end()) {
    s.timm_architectures = {{it->second}};
    s.timm_keys = {{"^stem\\.0\\.", "stem.conv."},
                   {"^stem\\.1\\.", "stem.bn."},
                   {"^trunk_output\\.block(\\d+)\\.block\\d+-(\\d+)\\.", "s$1.b${2+1}."},
                   {"\\.proj\\.0\\.", ".downsample.conv."},
                   {"\\.proj\\.1\\.", ".downsample.bn."},
                   {"\\.f\\.a\\.0\\.", ".conv1.conv."},
                   {"\\.f\\.a\\.1\\.", ".conv1.bn."},
                   {"\\.f\\.b\\.0\\.", ".conv2.conv."},
                   {"\\.f\\.b\\.1\\.", ".conv2.bn."},
                   {"\\.f\\.se\\.", ".se."},
                   {"\\.f\\.c\\.0\\.", ".conv3.conv."},
                   {"\\.f\\.c\\.1\\.", ".conv3.bn."},
                   {"^fc\\.", "head.fc."}};
  }
  auto weights = [&](const std::string& tag, const std::string& file, int64_t resize, int64_t crop,
                     Interpolation interpolation) {
    s.weights.push_back(torchvision_weights(tag, file, {resize, crop, interpolation}));
  };
  // torchvision's DEFAULT (V2) first: what weights("imagenet") loads; regnet_y_128gf has only SWAG.
  if (!v2.empty()) weights("IMAGENET1K_V2", name + "-" + v2 + ".pth", 232, 224, Interpolation::Bilinear);
  if (!v1.empty()) weights("IMAGENET1K_V1", name + "-" + v1 + ".pth", 256, 224, Interpolation::Bilinear);
  if (!swag.empty()) {
    weights("IMAGENET1K_SWAG_E2E_V1", name + "_swag-" + swag + ".pth", 384, 384, Interpolation::Bicubic);
    weights("IMAGENET1K_SWAG_LINEAR_V1", name + "_lc_swag-" + swag_lc + ".pth", 224, 224, Interpolation::Bicubic);
  }
  return s;
}
}  // namespace detail

namespace arch {
struct RegNetX400MF { using Impl = RegNetImpl; static constexpr const char* name = "regnet_x_400mf"; };
struct RegNetX800MF { using Impl = RegNetImpl; static constexpr const char* name = "regnet_x_800mf"; };
struct RegNetX1_6GF { using Impl = RegNetImpl; static constexpr const char* name = "regnet_x_1_6gf"; };
struct RegNetX3_2GF { using Impl = RegNetImpl; static constexpr const char* name = "regnet_x_3_2gf"; };
struct RegNetX8GF { using Impl = RegNetImpl; static constexpr const char* name = "regnet_x_8gf"; };
struct RegNetX16GF { using Impl = RegNetImpl; static constexpr const char* name = "regnet_x_16gf"; };
struct RegNetX32GF { using Impl = RegNetImpl; static constexpr const char* name = "regnet_x_32gf"; };
struct RegNetY400MF { using Impl = RegNetImpl; static constexpr const char* name = "regnet_y_400mf"; };
struct RegNetY800MF { using Impl = RegNetImpl; static constexpr const char* name = "regnet_y_800mf"; };
struct RegNetY1_6GF { using Impl = RegNetImpl; static constexpr const char* name = "regnet_y_1_6gf"; };
struct RegNetY3_2GF { using Impl = RegNetImpl; static constexpr const char* name = "regnet_y_3_2gf"; };
struct RegNetY8GF { using Impl = RegNetImpl; static constexpr const char* name = "regnet_y_8gf"; };
struct RegNetY16GF { using Impl = RegNetImpl; static constexpr const char* name = "regnet_y_16gf"; };
struct RegNetY32GF { using Impl = RegNetImpl; static constexpr const char* name = "regnet_y_32gf"; };
struct RegNetY128GF { using Impl = RegNetImpl; static constexpr const char* name = "regnet_y_128gf"; };
}  // namespace arch

namespace detail {
/// The regnet variants, one row each; register_builtin_models() adds them.
inline std::vector<RegisteredModel> regnet_variants() {
  return {
      // depth, w_0, w_a, w_m, group_width and se_ratio as torchvision 0.14's builders give them.
      variant<RegNetImpl>(regnet_spec("regnet_x_400mf", "adf1edd5", "62229a5f"),
                          RegNetConfig().depth(22).w_0(24).w_a(24.48).w_m(2.54).group_width(16)),
      variant<RegNetImpl>(regnet_spec("regnet_x_800mf", "ad17e45c", "94a99ebd"),
                          RegNetConfig().depth(16).w_0(56).w_a(35.73).w_m(2.28).group_width(16)),
      variant<RegNetImpl>(regnet_spec("regnet_x_1_6gf", "e3633e7f", "a12f2b72"),
                          RegNetConfig().depth(18).w_0(80).w_a(34.01).w_m(2.25).group_width(24)),
      variant<RegNetImpl>(regnet_spec("regnet_x_3_2gf", "f342aeae", "7071aa85"),
                          RegNetConfig().depth(25).w_0(88).w_a(26.31).w_m(2.25).group_width(48)),
      variant<RegNetImpl>(regnet_spec("regnet_x_8gf", "03ceed89", "2b70d774"),
                          RegNetConfig().depth(23).w_0(80).w_a(49.56).w_m(2.88).group_width(120)),
      variant<RegNetImpl>(regnet_spec("regnet_x_16gf", "2007eb11", "ba3796d7"),
                          RegNetConfig().depth(22).w_0(216).w_a(55.59).w_m(2.1).group_width(128)),
      variant<RegNetImpl>(regnet_spec("regnet_x_32gf", "9d47f8d0", "6eb8fdc6"),
                          RegNetConfig().depth(23).w_0(320).w_a(69.86).w_m(2.0).group_width(168)),
      variant<RegNetImpl>(regnet_spec("regnet_y_400mf", "c65dace8", "e6988f5f"),
                          RegNetConfig().depth(16).w_0(48).w_a(27.89).w_m(2.09).group_width(8).se_ratio(0.25)),
      variant<RegNetImpl>(regnet_spec("regnet_y_800mf", "1b27b58c", "58fc7688"),
                          RegNetConfig().depth(14).w_0(56).w_a(38.84).w_m(2.4).group_width(16).se_ratio(0.25)),
      variant<RegNetImpl>(regnet_spec("regnet_y_1_6gf", "b11a554e", "0d7bc02a"),
                          RegNetConfig().depth(27).w_0(48).w_a(20.71).w_m(2.65).group_width(24).se_ratio(0.25)),
      variant<RegNetImpl>(regnet_spec("regnet_y_3_2gf", "b5a9779c", "9180c971"),
                          RegNetConfig().depth(21).w_0(80).w_a(42.63).w_m(2.66).group_width(24).se_ratio(0.25)),
      variant<RegNetImpl>(regnet_spec("regnet_y_8gf", "d0d0e4a8", "dc2b1b54"),
                          RegNetConfig().depth(17).w_0(192).w_a(76.82).w_m(2.19).group_width(56).se_ratio(0.25)),
      variant<RegNetImpl>(regnet_spec("regnet_y_16gf", "9e6ed7dd", "3e4a00f9", "43afe44d", "f3ec0043"),
                          RegNetConfig().depth(18).w_0(200).w_a(106.23).w_m(2.48).group_width(112).se_ratio(0.25)),
      variant<RegNetImpl>(regnet_spec("regnet_y_32gf", "4dee3f7a", "8db6d4b5", "04fdfa75", "e1583746"),
                          RegNetConfig().depth(20).w_0(232).w_a(115.89).w_m(2.53).group_width(232).se_ratio(0.25)),
      variant<RegNetImpl>(regnet_spec("regnet_y_128gf", "", "", "c8ce3e52", "cbe8ce12"),
                          RegNetConfig().depth(27).w_0(456).w_a(160.83).w_m(2.52).group_width(264).se_ratio(0.25)),
  };
}
}  // namespace detail

}  // namespace tlearn
