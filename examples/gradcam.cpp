// Grad-CAM: where does the network look for a class?
//   gradcam --model vgg16 --weights imagenet --class top cat.jpg cam.png
//   gradcam --model vgg16 --weights vgg16.pth --class 281 --layer block4_conv3 --colormap viridis cat.jpg cam.png
// --weights: "imagenet", a weights tag, a .pth/.safetensors path, or "none" (random, for a dry run).
// Also writes OUT.heatmap.png (the heatmap alone, colour-mapped at the input size).
#include <tlearn/tlearn.hpp>

#include <filesystem>
#include <iostream>
#include <string>

namespace tl = tlearn;
namespace ex = tlearn::explain;

static double number(const std::string& text, const std::string& what) {
  try {
    size_t used = 0;
    double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw tl::Error(what + " expects a number, got '" + text + "'");
}

int main(int argc, char** argv) try {
  std::string model_name = "vgg16", weights = "imagenet", cls = "top", layer, colormap = "jet";
  double alpha = 0.4;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw tl::Error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--model") model_name = value();
    else if (arg == "--weights") weights = value();
    else if (arg == "--class") cls = value();
    else if (arg == "--layer") layer = value();
    else if (arg == "--colormap") colormap = value();
    else if (arg == "--alpha") alpha = number(value(), "--alpha");
    else if (!arg.empty() && arg[0] == '-') throw tl::Error("unknown option '" + arg + "'");
    else files.push_back(arg);
  }
  if (files.size() != 2) {
    std::cerr << "usage: gradcam --model <name> --weights <path|imagenet|none> --class <index|top>\n"
                 "               [--layer <name>] [--colormap jet|viridis|inferno|gray] [--alpha 0.4] IMAGE OUT.png\n";
    return 2;
  }
  const auto map = ex::colormap_from_name(colormap);
  auto model = tl::make_backbone(model_name, tl::BackboneOptions().weights(weights == "none" ? "" : weights));
  const auto hw = model->input_shape();

  auto photo = tl::load_image(files[0]);               // the overlay goes on the photo as it is
  auto input = model->preprocess(tl::load_image(files[0], hw));
  auto options = ex::GradCamOptions().layer(layer);
  if (cls != "top") options.class_index(static_cast<int64_t>(number(cls, "--class (an index or 'top')")));
  auto cam = ex::grad_cam(*model, input, options);

  std::cout << "model " << model_name << ", layer " << cam.layer << " (" << cam.cam.size(0) << "x" << cam.cam.size(1)
            << "), class " << cam.class_index;
  if (model->options().classes() == tl::imagenet::kNumClasses) std::cout << " " << tl::imagenet::class_name(cam.class_index);
  std::cout << ", score " << cam.score << "\n";

  ex::save_overlay(files[1], photo, cam.heatmap, map, alpha);
  auto heat_path = std::filesystem::path(files[1]).replace_extension(".heatmap.png");
  tl::io::write_png(ex::apply_colormap(cam.heatmap, map), heat_path);
  std::cout << "wrote " << files[1] << " and " << heat_path.string() << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "gradcam: " << e.what() << "\n";
  return 1;
}
