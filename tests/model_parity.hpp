#pragma once
// Parity with torchvision: the checks every family's tests call.
#include <tlearn/tlearn.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "support.hpp"

namespace tlearn::test {

/// Max |a - b| relative to the scale of b.
inline double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  auto scale = b.abs().max().item<double>();
  return (a - b).abs().max().item<double>() / std::max(scale, 1e-12);
}

/// Exports torchvision's `name` with random weights (tests/python/torchvision_reference.py),
/// loads it through make_backbone(name, weights(path)) and compares outputs on the same
/// input: eval mode, or train mode (batch statistics) plus the gradients of
/// (output**2).sum() with respect to the input and the first conv's weight.
inline void check_numeric_parity(const std::string& name, int size, bool include_top, bool train = false) {
  namespace tl = tlearn;
  auto dir = scratch_dir("parity_" + name);
  std::vector<std::string> args = {"export", name, dir.string(), "--size", std::to_string(size)};
  if (!include_top) args.push_back("--no-top");
  if (train) args.push_back("--train");
  run_python("torchvision_reference.py", args);
  auto model = tl::make_backbone(name, tl::BackboneOptions().weights((dir / (name + ".pth")).string())
                                           .include_top(include_top));
  auto io = tl::io::load_checkpoint(dir / (name + ".io.safetensors"));
  model->train(train);
  auto x = io["input"].clone();
  INFO(name << (include_top ? "" : " without top") << (train ? " in train mode" : "") << " at " << size);
  if (train) {
    x.requires_grad_(true);
    auto y = model->forward(x);
    CHECK(relative_error(y.detach(), io["output"]) < 1e-4);
    y.pow(2).sum().backward();
    CHECK(relative_error(x.grad(), io["input_grad"]) < 1e-4);
    auto params = model->named_parameters();
    CHECK(relative_error(params[model->spec().first_conv].grad(), io["first_conv_grad"]) < 1e-4);
  } else {
    torch::NoGradGuard no_grad;
    auto y = model->forward(x);
    CHECK(relative_error(y, io["output"]) < 1e-4);
  }
  std::filesystem::remove_all(dir);
}

inline int64_t count_parameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace tlearn::test
