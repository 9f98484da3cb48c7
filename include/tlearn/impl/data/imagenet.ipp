// Implementation of tlearn/data/imagenet.hpp.
#include "tlearn/data/imagenet.hpp"

namespace tlearn::imagenet {

std::string wnid(int64_t index) {
  if (index < 0 || index >= kNumClasses)
    throw Error("imagenet::wnid: class index " + std::to_string(index) + " is outside 0..999");
  return detail::kClasses[index].wnid;
}

std::string class_name(int64_t index) {
  if (index < 0 || index >= kNumClasses)
    throw Error("imagenet::class_name: class index " + std::to_string(index) + " is outside 0..999");
  return detail::kClasses[index].name;
}

std::vector<std::vector<Prediction>> decode_predictions(const torch::Tensor& scores, int64_t top) {
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

std::vector<std::vector<Prediction>> decode_predictions(const torch::Tensor& scores,
                                                        const std::vector<std::string>& class_names, int64_t top) {
  const auto classes = int64_t(class_names.size());
  if (scores.dim() != 2 || scores.size(1) != classes) {
    std::ostringstream msg;
    msg << "decode_predictions expects scores of shape (N, " << classes << "), one per class name, but got "
        << scores.sizes();
    throw Error(msg.str());
  }
  if (top < 1 || top > classes)
    throw Error("decode_predictions: top must be in 1.." + std::to_string(classes) + ", got " + std::to_string(top));
  auto cpu = scores.detach().to(torch::kCPU, torch::kFloat);
  auto [values, indices] = cpu.topk(top, /*dim=*/1, /*largest=*/true, /*sorted=*/true);
  std::vector<std::vector<Prediction>> out(static_cast<size_t>(cpu.size(0)));
  for (int64_t n = 0; n < cpu.size(0); ++n)
    for (int64_t k = 0; k < top; ++k) {
      const int64_t c = indices[n][k].item<int64_t>();
      out[size_t(n)].push_back({"", class_names[size_t(c)], values[n][k].item<float>(), c});
    }
  return out;
}

}  // namespace tlearn::imagenet
