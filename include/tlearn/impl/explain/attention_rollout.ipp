// Implementation of tlearn/explain/attention_rollout.hpp.
#include "tlearn/core/eval_guard.hpp"
#include "tlearn/explain/attention_rollout.hpp"
#include "tlearn/explain/gradcam.hpp"

namespace tlearn::explain {

AttentionRollout attention_rollout(VisionTransformerImpl& model, const torch::Tensor& image, int64_t last_block) {
  auto x = detail::as_single_batch(image, "attention_rollout");
  const int64_t blocks = model.num_blocks();
  if (last_block >= blocks)
    throw Error("attention_rollout: last_block " + std::to_string(last_block) + " is outside 0.." +
                std::to_string(blocks - 1));
  if (last_block < 0) last_block = blocks - 1;
  EvalGuard eval(model);
  torch::NoGradGuard no_grad;
  auto weights = model.attention_weights(x);
  const int64_t tokens = weights.front().size(-1);
  auto eye = torch::eye(tokens, weights.front().options());
  auto rollout = eye;
  for (int64_t b = 0; b <= last_block; ++b) {
    auto a = weights[size_t(b)][0].mean(0) + eye;  // heads averaged, plus the residual path
    a = a / a.sum(-1, /*keepdim=*/true);
    rollout = torch::matmul(a, rollout);
  }
  const int64_t p = model.patch_size(), h = x.size(2) / p, w = x.size(3) / p;
  AttentionRollout result;
  result.rollout = rollout.to(torch::kFloat);
  result.map = result.rollout[0].narrow(0, 1, tokens - 1).reshape({h, w});
  auto up = detail::upsample(result.map, x.size(2), x.size(3));
  const auto lo = up.min(), hi = up.max();
  result.heatmap = (hi.item<float>() > lo.item<float>()) ? ((up - lo) / (hi - lo)).clamp(0, 1) : torch::zeros_like(up);
  return result;
}

}  // namespace tlearn::explain
