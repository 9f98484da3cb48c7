// Implementation of tlearn/nn/attention.hpp.
#include "tlearn/core/error.hpp"
#include "tlearn/detail/compat.hpp"
#include "tlearn/nn/attention.hpp"

#include <cmath>

namespace tlearn::nn {

MultiheadSelfAttentionImpl::MultiheadSelfAttentionImpl(int64_t embed_dim, int64_t num_heads)
    : embed_dim_(embed_dim), num_heads_(num_heads) {
  if (num_heads <= 0 || embed_dim % num_heads != 0)
    throw Error("MultiheadSelfAttention: embed_dim " + std::to_string(embed_dim) + " is not divisible by num_heads " +
                std::to_string(num_heads) + "; pick a head count that divides it");
  // torch.nn.MultiheadAttention's initialisation: xavier-uniform in_proj, zero biases.
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * embed_dim, embed_dim}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * embed_dim}));
  out_proj = register_module("out_proj", Linear(embed_dim, embed_dim));
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(in_proj_weight);
  out_proj->bias.zero_();
}

void MultiheadSelfAttentionImpl::set_prepacked(bool on) {
  prepack_ = on;
  in_proj_packed_.clear();
  out_proj->set_prepacked(on);
}

std::array<torch::Tensor, 3> MultiheadSelfAttentionImpl::project(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == embed_dim_, "MultiheadSelfAttention expects (N, S, ", embed_dim_,
              ") tokens, got ", x.sizes());
  const auto n = x.size(0), s = x.size(1);
  // (N, S, 3E) -> (3, N, heads, S, head_dim)
  torch::Tensor qkv = prepack_ ? in_proj_packed_.linear(x, in_proj_weight, in_proj_bias) : torch::Tensor();
  if (!qkv.defined()) qkv = torch::linear(x, in_proj_weight, in_proj_bias);
  qkv = qkv.view({n, s, 3, num_heads_, embed_dim_ / num_heads_}).permute({2, 0, 3, 1, 4});
  return {qkv[0], qkv[1], qkv[2]};
}

torch::Tensor MultiheadSelfAttentionImpl::forward(const torch::Tensor& x) {
  auto [q, k, v] = project(x);
  auto y = detail::compat::scaled_dot_product_attention(q, k, v);  // (N, heads, S, head_dim)
  return out_proj(y.transpose(1, 2).reshape({x.size(0), x.size(1), embed_dim_}));
}

torch::Tensor MultiheadSelfAttentionImpl::attention_weights(const torch::Tensor& x) {
  auto [q, k, v] = project(x);
  const double scale = 1.0 / std::sqrt(double(q.size(-1)));
  return torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * scale, -1);
}

}  // namespace tlearn::nn
