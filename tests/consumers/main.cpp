// A program that uses tlearn the way a user would: include the umbrella,
// build a backbone, run it, decode predictions.
#include <tlearn/tlearn.hpp>

#include <iostream>

int main() {
  namespace tl = tlearn;
  torch::NoGradGuard no_grad;
  auto model = tl::make_backbone("vgg11", tl::BackboneOptions().classifier_activation(tl::Activation::Softmax));
  model->eval();
  auto probs = model->forward(model->preprocess(torch::full({1, 3, 32, 32}, 128.f)));
  auto top = tl::imagenet::decode_predictions(probs, 1);
  std::cout << "consumer ok: " << tl::list_models().size() << " models, top-1 " << top[0][0].wnid << "\n";
  return top[0].size() == 1 ? 0 : 1;
}
