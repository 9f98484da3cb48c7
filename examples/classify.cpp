// Top-5 ImageNet classes of each image, with the weights' own preprocessing.
//   classify --model <name> --weights <path|imagenet|TAG> IMAGE...
#include <tlearn/tlearn.hpp>

#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

namespace tl = tlearn;

int main(int argc, char** argv) try {
  std::string model_name, weights;
  std::vector<std::string> images;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--model" && i + 1 < argc) model_name = argv[++i];
    else if (arg == "--weights" && i + 1 < argc) weights = argv[++i];
    else if (!arg.empty() && arg[0] == '-') throw tl::Error("unknown option '" + arg + "'");
    else images.push_back(arg);
  }
  if (model_name.empty() || weights.empty() || images.empty()) {
    std::cerr << "usage: classify --model <name> --weights <path|imagenet|TAG> IMAGE...\n";
    return 2;
  }
  auto model = tl::make_backbone(model_name, tl::BackboneOptions().weights(weights));
  auto transform = tl::data::eval_transform(model);
  for (const auto& path : images) {
    auto x = transform(tl::io::read_image(path, transform.read_options()));
    auto probs = model->predict(x.unsqueeze(0));  // eval mode, softmax probabilities
    std::cout << path << "\n";
    const auto top5 = tl::imagenet::decode_predictions(probs, 5);  // kept: a range-for over [0] of a temporary dangles
    for (const auto& p : top5[0])
      std::cout << "  " << std::setw(4) << p.index << "  " << p.wnid << "  " << std::left << std::setw(28) << p.name
                << std::right << std::fixed << std::setprecision(4) << p.score << "\n";
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "classify: " << e.what() << "\n";
  return 1;
}
