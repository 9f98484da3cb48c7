// Prints a Keras-style summary of a registered backbone.
//   summary <name> [--no-top] [--input HxW] [--keras]
// --keras prints layer types in Keras' words and the Trainable column.
//   summary --list
#include <tlearn/tlearn.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

namespace tl = tlearn;

int main(int argc, char** argv) try {
  std::string name;
  bool include_top = true;
  std::vector<int64_t> input;
  bool keras = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--list") {
      for (const auto& n : tl::list_models()) std::cout << n << "\n";
      return 0;
    } else if (arg == "--keras") {
      keras = true;
    } else if (arg == "--no-top") {
      include_top = false;
    } else if (arg == "--input" && i + 1 < argc) {
      std::string hw = argv[++i];
      auto x = hw.find('x');
      if (x == std::string::npos) throw tl::Error("--input expects HxW, e.g. 150x150; got '" + hw + "'");
      input = {std::stoll(hw.substr(0, x)), std::stoll(hw.substr(x + 1))};
    } else if (!arg.empty() && arg[0] != '-' && name.empty()) {
      name = arg;
    } else {
      throw tl::Error("unknown argument '" + arg + "'");
    }
  }
  if (name.empty()) {
    std::cerr << "usage: summary <name> [--no-top] [--input HxW] [--keras]   (summary --list names the models)\n";
    return 2;
  }
  auto options = tl::BackboneOptions().include_top(include_top);
  if (!input.empty()) options.input_shape(input);
  auto model = tl::make_backbone(name, options);
  model->summary(std::cout, tl::SummaryOptions().keras_types(keras).show_trainable(keras));
  return 0;
} catch (const std::exception& e) {
  std::cerr << "summary: " << e.what() << "\n";
  return 1;
}
