// Keras weight files against Keras itself (tests/python/keras_reference.py, Keras 3 on JAX):
// the readers, the layout conversion into tlearn's families, and their errors.
#include <tlearn/io/keras.hpp>
#include <tlearn/models/keras_weights.hpp>

#include <fstream>
#include <random>

#include "../model_parity.hpp"

using namespace tlearn::test;
namespace tl = tlearn;
namespace fs = std::filesystem;

namespace {

/// keras_reference.py's files for one Keras Applications model, or none when there is no
/// Keras environment (the test then reports itself skipped).
struct KerasExport {
  explicit KerasExport(std::string model) : name(std::move(model)) {}
  std::string name;
  fs::path dir;
  tl::io::StateDict io;
  fs::path file(const std::string& suffix) const { return dir / (name + suffix); }
};

/// Runs `keras_reference.py export MODEL DIR args...` into a folder of its own per `test`
/// (test cases run in parallel under ctest).
bool export_keras(KerasExport& e, const std::string& test, const std::vector<std::string>& args) {
  e.dir = scratch_dir("keras_" + e.name + "_" + test);
  std::vector<std::string> all = {"export", e.name, e.dir.string()};
  all.insert(all.end(), args.begin(), args.end());
  if (!run_keras_python("keras_reference.py", all)) return false;
  e.io = tl::io::load_checkpoint(e.file(".io.safetensors"));
  return true;
}

/// Keras' output for e's input from keras.applications.<e.name> at `size` with `weights`
/// (a file tlearn wrote) loaded by load_weights.
torch::Tensor keras_prediction(const KerasExport& e, const fs::path& weights, const std::string& size) {
  tl::io::StateDict input;
  input.insert("input", e.io["input"]);
  tl::io::save_safetensors(input, e.dir / "input.safetensors");
  REQUIRE(run_keras_python("keras_reference.py",
                           {"predict", e.name, weights.string(), (e.dir / "input.safetensors").string(),
                            (e.dir / "keras.safetensors").string(), "--size", size}));
  return tl::io::load_checkpoint(e.dir / "keras.safetensors")["output"];
}

}  // namespace

TEST_CASE("Keras files: VGG16 without top loads from every format and agrees with Keras", "[keras]") {
  KerasExport e("VGG16");
  if (!export_keras(e, "formats", {"--size", "64"})) return;
  for (const char* suffix : {".h5", ".keras2.h5", ".full.h5", ".weights.h5", ".keras"}) {
    INFO("VGG16" << suffix);
    CHECK(tl::io::is_keras_file(e.file(suffix)));
    auto model = tl::make_backbone("vgg16", tl::BackboneOptions().include_top(false).weights(e.file(suffix).string()));
    model->eval();
    torch::NoGradGuard no_grad;
    CHECK(relative_error(model->forward(e.io["input"]), e.io["output"]) < 1e-4);
  }

  // What the readers return: layer names, weight names or indices, Keras layouts.
  auto legacy = tl::io::load_keras_weights(e.file(".h5"));
  REQUIRE(legacy.size() == 13);
  CHECK(legacy[0].name == "block1_conv1");
  CHECK(legacy[0].weights[0].name == "kernel");
  CHECK(legacy[0].weights[1].name == "bias");
  CHECK(legacy[0].weights[0].value.sizes() == torch::IntArrayRef({3, 3, 3, 64}));
  CHECK(legacy[12].name == "block5_conv3");
  auto keras2 = tl::io::load_keras_weights(e.file(".keras2.h5"));  // "block1_conv1/kernel:0"
  REQUIRE(keras2.size() == 13);
  CHECK(keras2[0].name == "block1_conv1");
  CHECK(keras2[0].weights[0].name == "kernel");
  auto keras3 = tl::io::load_keras_weights(e.file(".weights.h5"));
  REQUIRE(keras3.size() == 13);
  std::set<std::string> names;
  for (const auto& layer : keras3) names.insert(layer.name);
  CHECK(names.count("block3_conv2") == 1);
  CHECK(keras3[0].weights[0].name == "0");
  CHECK(tl::io::load_keras_weights(e.file(".keras")).size() == 13);
  CHECK_FALSE(tl::io::is_keras_file(e.file(".io.safetensors")));

  KerasExport e19("VGG19");  // block3_conv4 .. block5_conv4: Keras' names for vgg19's extra convs
  REQUIRE(export_keras(e19, "vgg19", {"--size", "64", "--formats", "h5"}));
  auto vgg19 = tl::make_backbone("vgg19", tl::BackboneOptions().include_top(false).weights(e19.file(".h5").string()));
  vgg19->eval();
  torch::NoGradGuard no_grad;
  CHECK(relative_error(vgg19->forward(e19.io["input"]), e19.io["output"]) < 1e-4);
}

TEST_CASE("Keras files: VGG16 with its top at 224, the first Dense after Flatten reordered", "[keras]") {
  KerasExport e("VGG16");
  if (!export_keras(e, "top", {"--size", "224", "--top", "--classes", "10", "--formats", "h5"})) return;
  auto model = tl::make_backbone(
      "vgg16",
      tl::BackboneOptions().classes(10).classifier_activation(tl::Activation::Softmax).weights(e.file(".h5").string()));
  model->eval();
  torch::NoGradGuard no_grad;
  CHECK(relative_error(model->forward(e.io["input"]), e.io["output"]) < 1e-4);
}

TEST_CASE("Keras files for another model, and files that are not Keras', give errors that say so", "[keras]") {
  KerasExport e("VGG16");
  if (!export_keras(e, "errors", {"--size", "64", "--formats", "h5"})) return;
  const auto file = e.file(".h5").string();
  auto wrong_model = error_of([&] { tl::make_backbone("resnet18", tl::BackboneOptions().weights(file)); });
  CHECK_THAT(wrong_model,
             Catch::Matchers::Contains("has no layer named block1_conv1") && Catch::Matchers::Contains(file));
  auto wrong_width = error_of([&] { tl::make_backbone("vgg11", tl::BackboneOptions().weights(file)); });
  CHECK_THAT(wrong_width, Catch::Matchers::Contains("block1_conv2"));  // vgg11 has no second conv in block 1

  // The same weights, damaged: cut anywhere, or with bytes flipped in the superblock and in
  // the weights' data, they give an Error or a load, never a crash. (Not fuzzed: flips in
  // libhdf5's own metadata, such as a string attribute's global-heap reference, which
  // libhdf5 1.10 dereferences unchecked; see the README.)
  const std::string good = [&] {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  const auto damaged = e.dir / "damaged.h5";
  std::mt19937 rng(7);
  size_t errors = 0, loads = 0;
  auto attempt = [&](const std::string& bytes) {
    std::ofstream(damaged, std::ios::binary | std::ios::trunc).write(bytes.data(), std::streamsize(bytes.size()));
    try {
      tl::io::load_keras_weights(damaged);
      ++loads;
    } catch (const tl::Error& err) {
      CHECK_THAT(std::string(err.what()), Catch::Matchers::Contains(damaged.string()));
      ++errors;
    }
  };
  for (size_t n = 0; n < good.size(); n += 1 + n / 4) attempt(good.substr(0, n));
  for (int i = 0; i < 200; ++i) {
    std::string bytes = good;
    const size_t at = i % 2 ? rng() % 96 : good.size() / 2 + rng() % (good.size() / 2);
    bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
    attempt(bytes);
  }
  CHECK(errors >= 6);
  CHECK(loads > 0);
  CHECK_THAT(error_of([&] { tl::io::load_keras_weights(e.file(".io.safetensors")); }),
             Catch::Matchers::Contains("not a Keras weights file"));
}

TEST_CASE("Back to Keras: a VGG16 changed in tlearn saves as .weights.h5 that Keras loads and predicts alike",
          "[keras]") {
  KerasExport e("VGG16");
  if (!export_keras(e, "back", {"--size", "64", "--formats", "h5"})) return;
  auto model = tl::make_backbone("vgg16", tl::BackboneOptions().include_top(false).weights(e.file(".h5").string()));
  {
    torch::NoGradGuard no_grad;  // stands for fine-tuning: every weight moves
    for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.01);
  }
  model->eval();
  const auto saved = e.dir / "tuned.weights.h5";
  tl::save_keras_weights(*model, saved);
  auto layers = tl::io::load_keras_weights(saved);  // our reader reads what we wrote
  REQUIRE(layers.size() == 13);
  std::map<std::string, std::string> path_of;
  for (const auto& layer : layers) path_of[layer.name] = layer.path;
  CHECK(path_of["block1_conv1"] == "layers/conv2d");  // Keras 3 names groups by class, in model order
  CHECK(path_of["block5_conv3"] == "layers/conv2d_12");

  const auto keras = keras_prediction(e, saved, "64");
  torch::NoGradGuard no_grad;
  CHECK(relative_error(model->forward(e.io["input"]), keras) < 1e-4);
}

TEST_CASE("keras.ResNet50: Keras' v1 ResNet (stride on the 1x1 conv, conv biases) agrees with Keras", "[keras]") {
  // Keras' count: weights plus BatchNorm statistics (its non-trainable parameters).
  auto keras_count = [](torch::nn::Module& m) {
    int64_t n = 0;
    for (const auto& p : m.named_parameters()) n += p.value().numel();
    for (const auto& b : m.named_buffers())
      if (b.key().find("num_batches_tracked") == std::string::npos) n += b.value().numel();
    return n;
  };
  const auto& w = tl::model_spec("keras.ResNet50").weights.at(0);
  CHECK(w.url ==
        "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
        "resnet50_weights_tf_dim_ordering_tf_kernels.h5");
  CHECK(w.notop_md5 == "4d473c1dd8becc155b73f8504c6f6626");
  CHECK(w.preprocessing == tl::Preprocessing::Caffe);
  // Keras' model.summary(): 25,636,712 parameters with the top, 23,587,712 without;
  // ResNet101 44,707,176 and ResNet152 60,419,944 with it.
  CHECK(keras_count(*tl::make_backbone("keras.ResNet50")) == 25636712);
  CHECK(keras_count(*tl::make_backbone("keras.ResNet101")) == 44707176);
  CHECK(keras_count(*tl::make_backbone("keras.ResNet152")) == 60419944);
  CHECK(tl::make_backbone("keras.ResNet101")->layer_table().size() == 347);  // len(model.layers)
  CHECK(tl::make_backbone("keras.ResNet152")->layer_table().size() == 517);
  auto notop = tl::make_backbone("keras.ResNet50", tl::BackboneOptions().include_top(false));
  CHECK(keras_count(*notop) == 23587712);
  CHECK(notop->layer_table().size() == tl::make_backbone("resnet50", tl::BackboneOptions().include_top(false))
                                           ->layer_table()
                                           .size());  // Keras' layer list, checked against Keras for resnet50

  KerasExport e("ResNet50");
  if (!export_keras(e, "formats", {"--size", "96"})) return;
  for (const char* suffix : {".h5", ".keras2.h5", ".weights.h5", ".keras"}) {
    INFO("ResNet50" << suffix);
    auto model =
        tl::make_backbone("keras.ResNet50", tl::BackboneOptions().include_top(false).weights(e.file(suffix).string()));
    model->eval();
    torch::NoGradGuard no_grad;
    CHECK(relative_error(model->forward(e.io["input"]), e.io["output"]) < 1e-4);
  }
  {  // Back to Keras: every weight moved, saved for load_weights, and Keras predicts alike.
    auto model =
        tl::make_backbone("keras.ResNet50", tl::BackboneOptions().include_top(false).weights(e.file(".h5").string()));
    {
      torch::NoGradGuard no_grad;
      for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.01);
    }
    model->eval();
    const auto saved = e.dir / "tuned.weights.h5";
    tl::save_keras_weights(*model, saved);
    const auto keras = keras_prediction(e, saved, "96");
    torch::NoGradGuard no_grad;
    CHECK(relative_error(model->forward(e.io["input"]), keras) < 1e-4);
  }
  // torchvision's ResNet50 has no conv biases and strides the 3x3 conv: Keras' file does not fit it.
  CHECK_THAT(error_of([&] {
               tl::make_backbone("resnet50", tl::BackboneOptions().include_top(false).weights(e.file(".h5").string()));
             }),
             Catch::Matchers::Contains("conv1_conv"));

  KerasExport top("ResNet50");
  REQUIRE(export_keras(top, "top", {"--size", "224", "--top", "--classes", "10", "--formats", "h5"}));
  auto model = tl::make_backbone(
      "keras.ResNet50",
      tl::BackboneOptions().classes(10).classifier_activation(tl::Activation::Softmax).weights(top.file(".h5").string()));
  model->eval();
  torch::NoGradGuard no_grad;
  CHECK(relative_error(model->forward(top.io["input"]), top.io["output"]) < 1e-4);
}

TEST_CASE("keras.VGG16 and keras.VGG19: Keras' files and MD5s, its cache, caffe preprocessing, offline advice",
          "[keras]") {
  const auto& w = tl::model_spec("keras.VGG16").weights.at(0);
  CHECK(w.tag == "imagenet");
  CHECK(
      w.url ==
      "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5");
  CHECK(w.md5 == "64373286793e3c8b2b4e3219cbf3544b");
  CHECK(w.notop_url ==
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5");
  CHECK(w.preprocessing == tl::Preprocessing::Caffe);
  CHECK(tl::model_spec("keras.VGG19").weights.at(0).notop_md5 == "253f8cb515780f3b799900260a226db6");
  CHECK(tl::make_backbone("keras.VGG19")->layer_table().index_of("block5_conv4") > 0);

  // Keras' cache: $KERAS_HOME/models, else ~/.keras/models.
  const auto home = scratch_dir("keras_home");
  EnvVar keras_home("KERAS_HOME", home.c_str());
  CHECK(tl::io::keras_cache_dir() == home / "models");
  {
    EnvVar unset("KERAS_HOME", nullptr);
    EnvVar user("HOME", "/home/someone");
    CHECK(tl::io::keras_cache_dir() == fs::path("/home/someone/.keras/models"));
  }

  // A file already in the cache is checked against its MD5 ("abc" hashes to 900150...).
  fs::create_directories(home / "models");
  std::ofstream(home / "models" / "tiny.h5") << "abc";
  CHECK(tl::io::fetch_keras_weights("http://127.0.0.1:1/tiny.h5", "900150983cd24fb0d6963f7d28e17f72") ==
        home / "models" / "tiny.h5");
  CHECK_THAT(error_of([&] { tl::io::fetch_keras_weights("http://127.0.0.1:1/tiny.h5", "0123456789abcdef"); }),
             Catch::Matchers::Contains("MD5") && Catch::Matchers::Contains("tiny.h5"));
  // The official name in the cache, but another file: refused, not loaded.
  std::ofstream(home / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5") << "not the weights";
  CHECK_THAT(
      error_of([&] { tl::make_backbone("keras.VGG16", tl::BackboneOptions().include_top(false).weights("imagenet")); }),
      Catch::Matchers::Contains("6d6bbae143d832006294945121d1f1fc"));
  // Missing and unreachable: the error says exactly where to put the file.
  CHECK_THAT(
      error_of([&] { tl::io::fetch_keras_weights("http://127.0.0.1:1/absent.h5", "00"); }),
      Catch::Matchers::Contains((home / "models" / "absent.h5").string()) && Catch::Matchers::Contains("KERAS_HOME"));
}
