// Compile-time profile: the same backbone as with_tlearn.cpp, including only the
// family's header instead of tlearn/tlearn.hpp.
#include <tlearn/models/resnet.hpp>

int main() {
  tlearn::Backbone<tlearn::arch::ResNet18> model(tlearn::BackboneOptions().include_top(false));
  return model->forward(torch::zeros({1, 3, 64, 64})).dim() == 4 ? 0 : 1;
}
