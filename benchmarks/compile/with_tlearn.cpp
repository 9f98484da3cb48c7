// Compile-time row: one backbone through tlearn.
#include <tlearn/tlearn.hpp>

int main() {
  auto model = tlearn::make_backbone("resnet18", tlearn::BackboneOptions().include_top(false));
  return model->forward(torch::zeros({1, 3, 64, 64})).dim() == 4 ? 0 : 1;
}
