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
std::string wnid(int64_t index);

/// Readable name of class `index` (0..999), e.g. "tabby".
std::string class_name(int64_t index);

/// Top `top` classes of each row of `scores` (N x 1000 probabilities or logits),
/// sorted by score, highest first.
std::vector<std::vector<Prediction>> decode_predictions(const torch::Tensor& scores, int64_t top = 5);

/// The same for any class set, e.g. the ImageNet-21k names a timm model's weights
/// bring (`weight_spec()->class_names`): (N, class_names.size()) scores; `wnid` is
/// left empty.
std::vector<std::vector<Prediction>> decode_predictions(const torch::Tensor& scores,
                                                        const std::vector<std::string>& class_names, int64_t top = 5);

}  // namespace tlearn::imagenet
