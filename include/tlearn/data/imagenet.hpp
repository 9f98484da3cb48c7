#pragma once
/// \file
/// The 1000 ImageNet classes and `decode_predictions`, as in Keras:
///
///     auto top = tlearn::imagenet::decode_predictions(probs, 5);
///     for (auto& p : top[0]) std::cout << p.wnid << ' ' << p.name << ' ' << p.score << '\n';

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "tlearn/core/error.hpp"
#include "tlearn/data/imagenet_classes.hpp"

namespace tlearn::imagenet {

inline constexpr int64_t kNumClasses = 1000;

/// One predicted class: WordNet id, readable name, score.
struct Prediction {
  std::string wnid;
  std::string name;
  float score = 0;
  int64_t index = 0;
};

/// WordNet id of class `index` (0..999), e.g. "n02123045".
inline std::string wnid(int64_t index) {
  if (index < 0 || index >= kNumClasses)
    throw Error("imagenet::wnid: class index " + std::to_string(index) + " is outside 0..999");
  return detail::kClasses[index].wnid;
}

/// Readable name of class `index` (0..999), e.g. "tabby".
inline std::string class_name(int64_t index) {
  if (index < 0 || index >= kNumClasses)
    throw Error("imagenet::class_name: class index " + std::to_string(index) + " is outside 0..999");
  return detail::kClasses[index].name;
}

/// Top `top` classes of each row of `scores` (N x 1000 probabilities or logits),
/// sorted by score, highest first.
inline std::vector<std::vector<Prediction>> decode_predictions(const torch::Tensor& scores,
                                                               int64_t top = 5) {
  if (scores.dim() != 2 || scores.size(1) != kNumClasses) {
    std::ostringstream msg;
    msg << "decode_predictions expects scores of shape (N, 1000) but got " << scores.sizes()
        << "; pass the output of a model with the ImageNet top (include_top = true, classes = 1000)";
    throw Error(msg.str());
  }
  if (top < 1 || top > kNumClasses)
    throw Error("decode_predictions: top must be in 1..1000, got " + std::to_string(top));
  auto cpu = scores.detach().to(torch::kCPU, torch::kFloat);
  auto [values, indices] = cpu.topk(top, /*dim=*/1, /*largest=*/true, /*sorted=*/true);
  auto v = values.accessor<float, 2>();
  auto ix = indices.accessor<int64_t, 2>();
  std::vector<std::vector<Prediction>> out(static_cast<size_t>(cpu.size(0)));
  for (int64_t n = 0; n < cpu.size(0); ++n) {
    for (int64_t k = 0; k < top; ++k) {
      auto c = ix[n][k];
      out[n].push_back({detail::kClasses[c].wnid, detail::kClasses[c].name, v[n][k], c});
    }
  }
  return out;
}

}  // namespace tlearn::imagenet
