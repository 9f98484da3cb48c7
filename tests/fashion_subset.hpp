#pragma once
// Real training data for the training tests: a few hundred Fashion-MNIST images.

#include <tlearn/data/dataset.hpp>
#include <tlearn/data/fashion_mnist.hpp>

#include <algorithm>
#include <vector>

namespace tlearn::test {

/// The first `per_class` Fashion-MNIST images of each of `classes`, relabelled 0..k-1 in
/// that order, as 1x32x32 floats 0..1 (zero-padded from 28x28).
inline tlearn::data::TensorDataset fashion_subset(bool train, int64_t per_class, std::vector<int64_t> classes) {
  tlearn::data::FashionMNIST f(tlearn::data::FashionMNISTOptions().train(train).rgb(false));
  std::vector<torch::Tensor> imgs;
  std::vector<int64_t> labels;
  std::vector<int64_t> seen(classes.size(), 0);
  for (size_t i = 0; i < f.size(); ++i) {
    auto it = std::find(classes.begin(), classes.end(), f.label(i));
    if (it == classes.end()) continue;
    const auto c = size_t(it - classes.begin());
    if (seen[c]++ >= per_class) continue;
    imgs.push_back(f.images()[int64_t(i)]);
    labels.push_back(int64_t(c));
  }
  auto x = torch::stack(imgs).to(torch::kFloat).div(255).unsqueeze(1);
  x = torch::constant_pad_nd(x, {2, 2, 2, 2});  // 28 -> 32
  return tlearn::data::TensorDataset(x, torch::tensor(labels));
}

}  // namespace tlearn::test
