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
/// (a file tlearn wrote) loaded by load_weights; `more` are further arguments ("--alpha").
torch::Tensor keras_prediction(const KerasExport& e, const fs::path& weights, const std::string& size,
                               const std::vector<std::string>& more = {}) {
  tl::io::StateDict input;
  input.insert("input", e.io["input"]);
  tl::io::save_safetensors(input, e.dir / "input.safetensors");
  std::vector<std::string> args = {"predict", e.name, weights.string(), (e.dir / "input.safetensors").string(),
                                   (e.dir / "keras.safetensors").string(), "--size", size};
  args.insert(args.end(), more.begin(), more.end());
  REQUIRE(run_keras_python("keras_reference.py", args));
  return tl::io::load_checkpoint(e.dir / "keras.safetensors")["output"];
}

/// Every weight moved a little (standing for fine-tuning), then saved for Keras' load_weights.
fs::path tune_and_save_for_keras(tl::BackboneImpl& model, const fs::path& path) {
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model.parameters()) p.add_(torch::randn_like(p) * 0.01);
  }
  model.eval();
  tl::save_keras_weights(model, path);
  return path;
}

/// Keras' parameter counts: {count_params(), trainable, non-trainable}, where BatchNorm's
/// moving statistics count as non-trainable weights.
std::vector<int64_t> keras_counts(torch::nn::Module& m) {
  int64_t total = 0, trainable = 0;
  for (const auto& p : m.named_parameters()) {
    total += p.value().numel();
    if (p.value().requires_grad()) trainable += p.value().numel();
  }
  for (const auto& b : m.named_buffers())
    if (b.key().find("num_batches_tracked") == std::string::npos) total += b.value().numel();
  return {total, trainable, total - trainable};
}

std::vector<int64_t> exported_counts(const KerasExport& e) {
  const auto c = e.io["counts"];
  return {c[0].item<int64_t>(), c[1].item<int64_t>(), c[2].item<int64_t>()};
}

/// The relative error of `name`, built with `options` and e's file `suffix` as its weights,
/// in eval mode, against Keras' output for e's input.
double error_against_keras(const std::string& name, const tl::BackboneOptions& options, const KerasExport& e,
                           const std::string& suffix = ".h5") {
  auto model = tl::make_backbone(name, tl::BackboneOptions(options).weights(e.file(suffix).string()));
  model->eval();
  torch::NoGradGuard no_grad;
  auto y = model->forward(e.io["input"]);
  REQUIRE(y.sizes() == e.io["output"].sizes());
  return relative_error(y, e.io["output"]);
}

/// What a Keras model with its top built for `classes` classes returns: probabilities.
tl::BackboneOptions keras_top(int64_t classes) {
  return tl::BackboneOptions().classes(classes).classifier_activation(tl::Activation::Softmax);
}

/// A Keras model whose "imagenet" file at `options` (an input_shape) is `file`, which Keras
/// publishes no MD5 for: refused while not in Keras' cache, saying what to do; loaded once
/// there (e's weights stand for Keras' download); tuned and saved back, predicted alike by
/// Keras (`more`: e's export arguments Keras needs again, "--alpha").
void check_unverified_keras_file(const std::string& name, const tl::BackboneOptions& options, const std::string& file,
                                 const KerasExport& e, const std::string& size, const std::vector<std::string>& more) {
  const auto home = scratch_dir("keras_home_" + e.name);
  EnvVar keras_home("KERAS_HOME", home.c_str());
  CHECK_THAT(error_of([&] { tl::make_backbone(name, options); }),
             Catch::Matchers::Contains("no MD5") && Catch::Matchers::Contains(file) &&
                 Catch::Matchers::Contains("allow_unverified"));
  fs::create_directories(home / "models");
  fs::copy_file(e.file(".h5"), home / "models" / file);
  auto model = tl::make_backbone(name, options);
  CHECK(model->preprocessing() == tl::Preprocessing::TF);
  model->eval();
  {
    torch::NoGradGuard no_grad;
    CHECK(relative_error(model->forward(e.io["input"]), e.io["output"]) < 1e-4);
  }
  const auto keras = keras_prediction(e, tune_and_save_for_keras(*model, e.dir / "tuned.weights.h5"), size, more);
  torch::NoGradGuard no_grad;
  CHECK(relative_error(model->forward(e.io["input"]), keras) < 1e-4);
}

/// e's files in every format Keras writes (legacy .h5, Keras 2's layout, .weights.h5,
/// .keras) load into `name` with `options`, which then agrees with Keras.
void check_every_format(const std::string& name, const tl::BackboneOptions& options, const KerasExport& e) {
  for (const char* suffix : {".h5", ".keras2.h5", ".weights.h5", ".keras"}) {
    INFO(name << " from " << e.name << suffix);
    CHECK(error_against_keras(name, options, e, suffix) < 1e-4);
  }
}

/// keras.<model> agrees with Keras without its top at `odd_size` (where padding rules
/// part), and with its top for 10 classes at `top_size`.
void check_odd_size_and_top(const std::string& model, const std::string& odd_size, const std::string& top_size) {
  const std::string name = "keras." + model;
  KerasExport odd(model);
  REQUIRE(export_keras(odd, "odd", {"--size", odd_size, "--formats", "h5"}));
  CHECK(error_against_keras(name, tl::BackboneOptions().include_top(false), odd) < 1e-4);
  KerasExport top(model);
  REQUIRE(export_keras(top, "top", {"--size", top_size, "--top", "--classes", "10", "--formats", "h5"}));
  CHECK(error_against_keras(name, keras_top(10), top) < 1e-4);
}

/// `model` (loaded from e's file) with `layers[:frozen]` frozen has Keras' counts; unfrozen,
/// tuned and saved back, it predicts what Keras then predicts at `size`, before and after
/// optimize_for_inference, which folds `batch_norms` BatchNorms.
void check_counts_and_round_trip(tl::BackboneImpl& model, const KerasExport& e, int64_t frozen,
                                 const std::string& size, int64_t batch_norms) {
  model.set_trainable(tl::first(frozen), false);
  CHECK(keras_counts(model) == exported_counts(e));
  model.set_trainable(tl::all(), true);
  const auto keras = keras_prediction(e, tune_and_save_for_keras(model, e.dir / "tuned.weights.h5"), size);
  for (bool optimized : {false, true}) {
    INFO("optimize_for_inference: " << optimized);
    if (optimized) CHECK(tl::optimize_for_inference(model) == batch_norms);
    torch::NoGradGuard no_grad;
    CHECK(relative_error(model.forward(e.io["input"]), keras) < 1e-4);
  }
}

/// `name`'s "imagenet" weights are Keras' `file` under `folder`, with Keras' MD5s and
/// `preprocessing` ("tf" unless said), at Keras' default and minimum input sizes.
void check_keras_spec(const std::string& name, const std::string& folder, const std::string& file,
                      const std::string& md5, const std::string& notop_md5, int64_t default_size, int64_t min_size,
                      tl::Preprocessing preprocessing = tl::Preprocessing::TF) {
  const auto& spec = tl::model_spec(name);
  const auto& w = spec.weights.at(0);
  CHECK(w.url == "https://storage.googleapis.com/tensorflow/keras-applications/" + folder + "/" + file);
  CHECK(w.md5 == md5);
  CHECK(w.notop_md5 == notop_md5);
  CHECK(w.preprocessing == preprocessing);
  CHECK(spec.default_size == default_size);
  CHECK(spec.min_size == min_size);
}

/// Keras' count_params() and len(model.layers) of one Keras model, with its top and without.
struct KerasModelCounts {
  const char* name;
  int64_t top, notop;
  size_t layers, notop_layers;
};

/// Each model, built with its top and without, has Keras' parameter count and number of
/// layers, and the preprocessing of its "imagenet" weights.
void check_keras_model_counts(const std::vector<KerasModelCounts>& models,
                              tl::Preprocessing preprocessing = tl::Preprocessing::Identity) {
  for (const auto& c : models) {
    INFO(c.name);
    auto top = tl::make_backbone(c.name);
    auto base = tl::make_backbone(c.name, tl::BackboneOptions().include_top(false));
    CHECK(keras_counts(*top)[0] == c.top);
    CHECK(keras_counts(*base)[0] == c.notop);
    CHECK(top->layers().size() == c.layers);
    CHECK(base->layers().size() == c.notop_layers);
    CHECK(base->preprocessing() == preprocessing);
  }
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
  // the weights' data, they give an Error or a load, never a crash. (test_io.cpp flips every
  // byte of small Keras files, and the clang lane fuzzes the reader.)
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
  for (size_t n = 0; n < good.size(); n += 1 + n / 2) attempt(good.substr(0, n));
  for (int i = 0; i < 60; ++i) {
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
  const auto saved = tune_and_save_for_keras(*model, e.dir / "tuned.weights.h5");
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
  auto keras_count = [](torch::nn::Module& m) { return keras_counts(m)[0]; };
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
    const auto keras = keras_prediction(e, tune_and_save_for_keras(*model, e.dir / "tuned.weights.h5"), "96");
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

TEST_CASE("keras.MobileNetV2: TensorFlow's padding, BatchNorm 1e-3, every alpha, weights per input size, Keras' counts",
          "[keras]") {
  // Keras' files, one per alpha and input size; Keras publishes no MD5 for them.
  const auto& w = tl::model_spec("keras.MobileNetV2").weights.at(0);
  CHECK(w.url ==
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5");
  CHECK(w.notop_url ==
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5");
  CHECK(w.md5.empty());
  CHECK(w.preprocessing == tl::Preprocessing::TF);
  CHECK(tl::model_spec("keras.MobileNetV2_0.35").weights.size() == 5);  // 224, 96, 128, 160, 192
  // Keras' model.summary() with the top: 3,538,984 (alpha 1.0) and 6,156,712 (alpha 1.4).
  CHECK(keras_counts(*tl::make_backbone("keras.MobileNetV2"))[0] == 3538984);
  CHECK(keras_counts(*tl::make_backbone("keras.MobileNetV2_1.4"))[0] == 6156712);

  // Alpha 1.0 without the top, at 96 from every format and at an odd size (97: Keras pads
  // its strided convs by one on every side there, by one at the bottom and right at even sizes).
  const auto notop = tl::BackboneOptions().include_top(false);
  KerasExport e("MobileNetV2");
  if (!export_keras(e, "formats", {"--size", "96", "--freeze", "100"})) return;
  check_every_format("keras.MobileNetV2", notop, e);
  // Keras' tutorial freezes layers[:100] ("fine_tune_at = 100"): the same counts here.
  auto frozen = tl::make_backbone("keras.MobileNetV2", notop);
  frozen->set_trainable(tl::first(100), false);
  CHECK(keras_counts(*frozen) == exported_counts(e));
  // torchvision's mobilenet_v2 pads and normalises otherwise: a Keras file is refused there.
  CHECK_THAT(error_of([&] { error_against_keras("mobilenet_v2", notop, e); }),
             Catch::Matchers::Contains("keras.MobileNetV2"));
  KerasExport odd("MobileNetV2");
  REQUIRE(export_keras(odd, "odd", {"--size", "97", "--formats", "h5"}));
  CHECK(error_against_keras("keras.MobileNetV2", notop, odd) < 1e-4);

  // Alpha 1.4 with its top at 224 (10 classes, softmax).
  KerasExport top("MobileNetV2");
  REQUIRE(export_keras(top, "top", {"--size", "224", "--top", "--classes", "10", "--alpha", "1.4", "--formats", "h5"}));
  CHECK(error_against_keras("keras.MobileNetV2_1.4", keras_top(10), top) < 1e-4);
  CHECK(keras_counts(*tl::make_backbone("keras.MobileNetV2_1.4", keras_top(10))) == exported_counts(top));

  // Alpha 0.35 at 160: "imagenet" means Keras' 160 file.
  KerasExport small("MobileNetV2");
  REQUIRE(export_keras(small, "alpha", {"--size", "160", "--alpha", "0.35", "--formats", "h5"}));
  check_unverified_keras_file("keras.MobileNetV2_0.35",
                              tl::BackboneOptions(notop).input_shape({160, 160}).weights("imagenet"),
                              "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_160_no_top.h5", small, "160",
                              {"--alpha", "0.35"});
}

TEST_CASE("keras.MobileNet: Keras' v1 MobileNet, its bottom-right padding, every alpha, weights per input size",
          "[keras]") {
  const auto& w = tl::model_spec("keras.MobileNet").weights.at(0);
  CHECK(w.url == "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/mobilenet_1_0_224_tf.h5");
  CHECK(w.notop_url ==
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/mobilenet_1_0_224_tf_no_top.h5");
  CHECK(w.preprocessing == tl::Preprocessing::TF);
  // Keras' model.summary() with the top: 4,253,864 (alpha 1.0), 475,544 (0.25); 91 layers.
  CHECK(keras_counts(*tl::make_backbone("keras.MobileNet"))[0] == 4253864);
  CHECK(keras_counts(*tl::make_backbone("keras.MobileNet_0.25"))[0] == 475544);
  CHECK(tl::make_backbone("keras.MobileNet_0.5")->layer_table().size() == 91);

  // Alpha 1.0 without the top at 96 from every format, and at 97, where Keras' fixed
  // bottom-right padding and TensorFlow's "same" would give other sizes.
  const auto notop = tl::BackboneOptions().include_top(false);
  KerasExport e("MobileNet");
  if (!export_keras(e, "formats", {"--size", "96", "--freeze", "40"})) return;
  check_every_format("keras.MobileNet", notop, e);
  auto frozen = tl::make_backbone("keras.MobileNet", notop);
  frozen->set_trainable(tl::first(40), false);
  CHECK(keras_counts(*frozen) == exported_counts(e));
  KerasExport odd("MobileNet");
  REQUIRE(export_keras(odd, "odd", {"--size", "97", "--formats", "h5"}));
  CHECK(error_against_keras("keras.MobileNet", notop, odd) < 1e-4);

  // Alpha 0.5 with its top at Keras' default 224 (10 classes, softmax: conv_preds, reshape,
  // activation).
  KerasExport top("MobileNet");
  REQUIRE(export_keras(top, "top", {"--size", "224", "--top", "--classes", "10", "--alpha", "0.5", "--formats", "h5"}));
  CHECK(error_against_keras("keras.MobileNet_0.5", keras_top(10), top) < 1e-4);
  CHECK(keras_counts(*tl::make_backbone("keras.MobileNet_0.5", keras_top(10))) == exported_counts(top));

  // Alpha 0.25 at 128: "imagenet" is Keras' 128 file.
  KerasExport small("MobileNet");
  REQUIRE(export_keras(small, "alpha", {"--size", "128", "--alpha", "0.25", "--formats", "h5"}));
  check_unverified_keras_file("keras.MobileNet_0.25",
                              tl::BackboneOptions(notop).input_shape({128, 128}).weights("imagenet"),
                              "mobilenet_2_5_128_tf_no_top.h5", small, "128", {"--alpha", "0.25"});
}

TEST_CASE("keras.MobileNetV3Small / Large: Keras' Rescaling row and top, alpha, minimalistic, TF-Keras' names",
          "[keras]") {
  check_keras_spec("keras.MobileNetV3Large", "mobilenet_v3", "weights_mobilenet_v3_large_224_1.0_float.h5",
                   "59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389", 224, 32,
                   tl::Preprocessing::Identity);
  CHECK(tl::model_spec("keras.MobileNetV3Small_minimalistic").weights.at(0).notop_url ==
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
        "weights_mobilenet_v3_small_minimalistic_224_1.0_float_no_top_v2.h5");
  // Identity preprocessing: 0..255 pixels, which the model rescales itself.
  check_keras_model_counts({{"keras.MobileNetV3Small", 2554968, 939120, 164, 157},
                            {"keras.MobileNetV3Small_0.75", 2051552, 583160, 164, 157},
                            {"keras.MobileNetV3Small_minimalistic", 2056848, 441000, 110, 103},
                            {"keras.MobileNetV3Large", 5507432, 2996352, 194, 187},
                            {"keras.MobileNetV3Large_0.75", 4012616, 1808736, 194, 187},
                            {"keras.MobileNetV3Large_minimalistic", 3948688, 1437608, 146, 139}});

  // Small without the top at 96 from every format; .keras2.h5 has TF-Keras' names
  // ("Conv/BatchNorm", nested groups), as Keras' official files do.
  const auto notop = tl::BackboneOptions().include_top(false);
  KerasExport e("MobileNetV3Small");
  if (!export_keras(e, "formats", {"--size", "96", "--freeze", "100"})) return;
  check_every_format("keras.MobileNetV3Small", notop, e);
  CHECK_THAT(error_of([&] { error_against_keras("mobilenet_v3_small", notop, e); }),
             Catch::Matchers::Contains("keras.MobileNetV3Small"));
  auto model = tl::make_backbone("keras.MobileNetV3Small", tl::BackboneOptions(notop).weights(e.file(".h5").string()));
  CHECK(model->layers()[1].alias == "rescaling");
  check_counts_and_round_trip(*model, e, 100, "96", 34);
  KerasExport odd("MobileNetV3Small");
  REQUIRE(export_keras(odd, "odd", {"--size", "97", "--formats", "h5"}));
  CHECK(error_against_keras("keras.MobileNetV3Small", notop, odd) < 1e-4);

  // Large with its top (1x1 convs conv_2 and logits) at Keras' default 224, 10 classes; Small at alpha 0.75
  // with its top; both minimalistic models (ReLU, 3x3, no squeeze-excitation) without.
  KerasExport top("MobileNetV3Large");
  REQUIRE(export_keras(top, "top", {"--size", "224", "--top", "--classes", "10", "--formats", "h5"}));
  CHECK(error_against_keras("keras.MobileNetV3Large", keras_top(10), top) < 1e-4);
  CHECK(keras_counts(*tl::make_backbone("keras.MobileNetV3Large", keras_top(10))) == exported_counts(top));
  KerasExport narrow("MobileNetV3Small");
  REQUIRE(export_keras(narrow, "alpha", {"--size", "128", "--top", "--classes", "10", "--alpha", "0.75", "--formats", "h5"}));
  CHECK(error_against_keras("keras.MobileNetV3Small_0.75", keras_top(10), narrow) < 1e-4);
  for (const char* size : {"large", "small"}) {
    const std::string keras = size == std::string("large") ? "MobileNetV3Large" : "MobileNetV3Small";
    KerasExport minimal(keras);
    REQUIRE(export_keras(minimal, "minimalistic", {"--size", "96", "--minimalistic", "--formats", "h5"}));
    CHECK(error_against_keras("keras." + keras + "_minimalistic", notop, minimal) < 1e-4);
  }
}

TEST_CASE("keras.EfficientNetB0..B7: Keras' Rescaling and Normalization rows, padding, SE rows, 'imagenet' layer",
          "[keras]") {
  const auto& w = tl::model_spec("keras.EfficientNetB3").weights.at(0);
  CHECK(w.url == "https://storage.googleapis.com/keras-applications/efficientnetb3.h5");
  CHECK(w.notop_url == "https://storage.googleapis.com/keras-applications/efficientnetb3_notop.h5");
  CHECK(w.md5 == "ffd1fdc53d0ce67064dc6a9c7960ede0");
  CHECK(w.notop_md5 == "af6d107764bb5b1abb91932881670226");
  CHECK(w.preprocessing == tl::Preprocessing::Identity);
  CHECK(tl::model_spec("keras.EfficientNetB3").default_size == 300);
  check_keras_model_counts({{"keras.EfficientNetB0", 5330571, 4049571, 240, 237},
                            {"keras.EfficientNetB1", 7856239, 6575239, 342, 339},
                            {"keras.EfficientNetB2", 9177569, 7768569, 342, 339},
                            {"keras.EfficientNetB3", 12320535, 10783535, 387, 384},
                            {"keras.EfficientNetB4", 19466823, 17673823, 477, 474},
                            {"keras.EfficientNetB5", 30562527, 28513527, 579, 576},
                            {"keras.EfficientNetB6", 43265143, 40960143, 669, 666},
                            {"keras.EfficientNetB7", 66658687, 64097687, 816, 813}});

  const auto notop = tl::BackboneOptions().include_top(false);
  KerasExport e("EfficientNetB0");
  if (!export_keras(e, "formats", {"--size", "96", "--freeze", "100", "--imagenet"})) return;
  check_every_format("keras.EfficientNetB0", notop, e);
  // torchvision's efficientnet_b0 has Keras' names but pads and normalises otherwise.
  CHECK_THAT(error_of([&] { error_against_keras("efficientnet_b0", notop, e); }),
             Catch::Matchers::Contains("keras.EfficientNetB0"));
  auto model = tl::make_backbone("keras.EfficientNetB0", tl::BackboneOptions(notop).weights(e.file(".h5").string()));
  CHECK(model->layers()[2].alias == "normalization");
  check_counts_and_round_trip(*model, e, 100, "96", 49);

  // Keras' weights="imagenet" model has one layer more, rescaling_1, for its own file:
  // so has tlearn's, with "imagenet" (here Keras' cache holds e's file under the official
  // name, in a model registered without the MD5s it would not match).
  auto spec = tl::detail::keras_efficientnet_spec(0);
  spec.name = "keras.EfficientNetB0_test_no_md5";
  spec.weights.front().md5.clear();
  spec.weights.front().notop_md5.clear();
  tl::register_variant<tl::EfficientNetImpl>(spec, tl::detail::keras_efficientnet_config(0));
  const auto home = scratch_dir("keras_home_EfficientNetB0");
  EnvVar keras_home("KERAS_HOME", home.c_str());
  fs::create_directories(home / "models");
  fs::copy_file(e.file(".h5"), home / "models" / "efficientnetb0_notop.h5", fs::copy_options::overwrite_existing);
  auto imagenet = tl::make_backbone(spec.name, tl::BackboneOptions(notop).weights("imagenet"));
  CHECK(imagenet->layers()[3].alias == "rescaling_1");
  CHECK(imagenet->layers().size() == model->layers().size() + 1);
  {
    imagenet->eval();
    torch::NoGradGuard no_grad;
    const auto keras_imagenet = tl::io::load_checkpoint(e.file(".imagenet.safetensors"))["output"];
    CHECK(relative_error(imagenet->forward(e.io["input"]), keras_imagenet) < 1e-4);
  }

  KerasExport odd("EfficientNetB0");
  REQUIRE(export_keras(odd, "odd", {"--size", "97", "--formats", "h5"}));
  CHECK(error_against_keras("keras.EfficientNetB0", notop, odd) < 1e-4);
  KerasExport top("EfficientNetB2");  // at Keras' default size for B2
  REQUIRE(export_keras(top, "top", {"--size", "260", "--top", "--classes", "10", "--formats", "h5"}));
  CHECK(error_against_keras("keras.EfficientNetB2", keras_top(10), top) < 1e-4);
  CHECK(keras_counts(*tl::make_backbone("keras.EfficientNetB2", keras_top(10))) == exported_counts(top));
}

TEST_CASE("keras.EfficientNetV2B0..B3, S, M, L: fused blocks, 'same' padding, Keras' V2 rounding and preprocessing",
          "[keras]") {
  const auto& w = tl::model_spec("keras.EfficientNetV2S").weights.at(0);
  CHECK(w.url == "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/efficientnetv2-s.h5");
  CHECK(w.notop_md5 == "af0682fb74e8c54910f2d4393339c070");
  CHECK(w.preprocessing == tl::Preprocessing::Identity);
  CHECK(tl::model_spec("keras.EfficientNetV2B3").default_size == 300);
  // Keras' count_params() and len(model.layers), with the top and without.
  check_keras_model_counts({{"keras.EfficientNetV2B0", 7200312, 5919312, 273, 270},
                            {"keras.EfficientNetV2B1", 8212124, 6931124, 337, 334},
                            {"keras.EfficientNetV2B2", 10178374, 8769374, 352, 349},
                            {"keras.EfficientNetV2B3", 14467622, 12930622, 412, 409},
                            {"keras.EfficientNetV2S", 21612360, 20331360, 516, 513},
                            {"keras.EfficientNetV2M", 54431388, 53150388, 743, 740},
                            {"keras.EfficientNetV2L", 119027848, 117746848, 1031, 1028}});

  const auto notop = tl::BackboneOptions().include_top(false);
  KerasExport e("EfficientNetV2B0");
  if (!export_keras(e, "formats", {"--size", "96", "--freeze", "100"})) return;
  check_every_format("keras.EfficientNetV2B0", notop, e);
  auto model = tl::make_backbone("keras.EfficientNetV2B0", tl::BackboneOptions(notop).weights(e.file(".h5").string()));
  check_counts_and_round_trip(*model, e, 100, "96", 59);
  // An odd size; S (x / 128 - 1) with its top. (B3's widths, which Keras' V2 rounds otherwise
  // than torchvision, are checked by the counts above: random weights through its 40 blocks
  // grow activations to 1e5, where float32 rounding alone parts the two by more than 1e-4.)
  KerasExport odd("EfficientNetV2B0");
  REQUIRE(export_keras(odd, "odd", {"--size", "97", "--formats", "h5"}));
  CHECK(error_against_keras("keras.EfficientNetV2B0", notop, odd) < 1e-4);
  KerasExport top("EfficientNetV2S");  // at Keras' default size for V2S
  REQUIRE(export_keras(top, "top", {"--size", "384", "--top", "--classes", "10", "--formats", "h5"}));
  CHECK(error_against_keras("keras.EfficientNetV2S", keras_top(10), top) < 1e-4);
  CHECK_THAT(error_of([&] { error_against_keras("efficientnet_v2_s", keras_top(10), top); }),
             Catch::Matchers::Contains("keras.EfficientNetV2S"));
}

TEST_CASE("keras.ConvNeXtTiny..XLarge: nested Sequential rows, LayerScale, Keras' Normalization and notop LayerNorm",
          "[keras]") {
  const auto& spec = tl::model_spec("keras.ConvNeXtXLarge");
  const auto& w = spec.weights.at(0);
  CHECK(w.url == "https://storage.googleapis.com/tensorflow/keras-applications/convnext/convnext_xlarge.h5");
  CHECK(w.notop_md5 == "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05");  // Keras' SHA-256
  CHECK(w.preprocessing == tl::Preprocessing::Identity);
  CHECK(spec.default_size == 224);
  CHECK(spec.min_size == 32);
  // Keras' count_params() and len(model.layers), with the top and without.
  check_keras_model_counts({{"keras.ConvNeXtTiny", 28589128, 27820128, 135, 133},
                            {"keras.ConvNeXtSmall", 50223688, 49454688, 261, 259},
                            {"keras.ConvNeXtBase", 88591464, 87566464, 261, 259},
                            {"keras.ConvNeXtLarge", 197767336, 196230336, 261, 259},
                            {"keras.ConvNeXtXLarge", 350196968, 348147968, 261, 259}});

  const auto notop = tl::BackboneOptions().include_top(false);
  KerasExport e("ConvNeXtTiny");
  if (!export_keras(e, "formats", {"--size", "64", "--freeze", "30"})) return;
  check_every_format("keras.ConvNeXtTiny", notop, e);
  CHECK_THAT(error_of([&] { error_against_keras("convnext_tiny", notop, e); }),
             Catch::Matchers::Contains("keras.ConvNeXtTiny"));
  auto model = tl::make_backbone("keras.ConvNeXtTiny", tl::BackboneOptions(notop).weights(e.file(".h5").string()));
  const auto layers = model->layers();
  CHECK(layers[2].alias == "convnext_tiny_stem");
  CHECK(layers[2].params == 4896);  // the stem's conv and LayerNorm: one Keras layer
  CHECK(layers.back().alias == "layer_normalization");  // Keras' model without its top ends so
  // The stages end in adds that Keras keeps outside its layers: feature taps between rows.
  {
    model->eval();
    torch::NoGradGuard no_grad;
    const auto maps = model->features_only(e.io["input"]);
    REQUIRE(maps.size() == 4);
    CHECK(maps[0].sizes() == torch::IntArrayRef({2, 96, 16, 16}));
    CHECK(maps[3].sizes() == torch::IntArrayRef({2, 768, 2, 2}));
    tl::MultiScaleFeatures pyramid(model);
    CHECK(pyramid->channels() == std::vector<int64_t>({96, 192, 384, 768}));
  }
  check_counts_and_round_trip(*model, e, 30, "64", 0);

  // Pooling, then Keras' LayerNormalization, at an odd size; the top at Keras' default size.
  KerasExport pooled("ConvNeXtTiny");
  REQUIRE(export_keras(pooled, "pooled", {"--size", "67", "--pooling", "avg", "--formats", "h5"}));
  CHECK(error_against_keras("keras.ConvNeXtTiny", tl::BackboneOptions(notop).pooling(tl::Pooling::Avg), pooled) <
        1e-4);
  KerasExport top("ConvNeXtTiny");
  REQUIRE(export_keras(top, "top", {"--size", "224", "--top", "--classes", "10", "--formats", "h5"}));  // Keras' default
  CHECK(error_against_keras("keras.ConvNeXtTiny", keras_top(10), top) < 1e-4);

  // Keras checks these files by SHA-256, and so does tlearn: a cached file that is not Keras' is refused.
  const auto home = scratch_dir("keras_home_ConvNeXtTiny");
  EnvVar keras_home("KERAS_HOME", home.c_str());
  fs::create_directories(home / "models");
  fs::copy_file(pooled.file(".h5"), home / "models" / "convnext_tiny_notop.h5", fs::copy_options::overwrite_existing);
  CHECK_THAT(error_of([&] { tl::make_backbone("keras.ConvNeXtTiny", tl::BackboneOptions(notop).weights("imagenet")); }),
             Catch::Matchers::Contains("SHA-256") && Catch::Matchers::Contains("d547c096cabd0332"));
}

TEST_CASE("keras.NASNetMobile and NASNetLarge: the cell graph in Keras' order, generated names, Keras' cache names",
          "[keras]") {
  const auto& spec = tl::model_spec("keras.NASNetMobile");
  const auto& w = spec.weights.at(0);
  CHECK(w.url == "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/NASNet-mobile.h5");
  CHECK(w.notop_url == "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/NASNet-mobile-no-top.h5");
  CHECK(w.notop_keras_file == "nasnet_mobile_no_top.h5");  // get_file's fname: Keras caches it so
  CHECK(w.md5 == "020fb642bf7360b370c678b08e0adf61");
  CHECK(w.preprocessing == tl::Preprocessing::TF);
  CHECK(spec.default_size == 224);
  CHECK(tl::model_spec("keras.NASNetLarge").default_size == 331);
  // Keras' count_params() and len(model.layers), with the top and without (Large without
  // its top at input_shape=(331, 331, 3): with no input shape Keras cannot tell which cells
  // change resolution and builds another network).
  check_keras_model_counts({{"keras.NASNetMobile", 5326716, 4269716, 771, 769},
                            {"keras.NASNetLarge", 88949818, 84916818, 1041, 1039}}, tl::Preprocessing::TF);

  const auto notop = tl::BackboneOptions().include_top(false);
  KerasExport e("NASNetMobile");
  if (!export_keras(e, "formats", {"--size", "64", "--freeze", "100"})) return;
  check_every_format("keras.NASNetMobile", notop, e);
  auto model = tl::make_backbone("keras.NASNetMobile", tl::BackboneOptions(notop).weights(e.file(".h5").string()));
  {
    model->eval();
    torch::NoGradGuard no_grad;
    const auto maps = model->features_only(e.io["input"]);
    REQUIRE(maps.size() == 5);
    CHECK(maps[0].sizes() == torch::IntArrayRef({2, 32, 31, 31}));  // stem_conv1: 3x3, stride 2, "valid"
    CHECK(maps[4].sizes() == torch::IntArrayRef({2, 1056, 2, 2}));
  }
  // optimize_for_inference folds the 188 BatchNorms that read a conv's output alone, the cell
  // graph's separable convs' included (conv_batch_norm_pairs): all but the adjust blocks'
  // four, which normalize a concatenation of two paths.
  check_counts_and_round_trip(*model, e, 100, "64", 188);
  check_odd_size_and_top("NASNetMobile", "67", "224");  // the top at Keras' default size
  KerasExport large("NASNetLarge");
  REQUIRE(export_keras(large, "large", {"--size", "64", "--formats", "h5"}));
  CHECK(error_against_keras("keras.NASNetLarge", notop, large) < 1e-4);

  // Keras' cache holds them under get_file's names; a file there that is not Keras' is refused.
  const auto home = scratch_dir("keras_home_NASNetMobile");
  EnvVar keras_home("KERAS_HOME", home.c_str());
  fs::create_directories(home / "models");
  fs::copy_file(e.file(".h5"), home / "models" / "nasnet_mobile_no_top.h5", fs::copy_options::overwrite_existing);
  CHECK_THAT(error_of([&] { tl::make_backbone("keras.NASNetMobile", tl::BackboneOptions(notop).weights("imagenet")); }),
             Catch::Matchers::Contains("nasnet_mobile_no_top.h5") && Catch::Matchers::Contains("MD5") &&
                 Catch::Matchers::Contains("1ed92395b5b598bdda52abe5c0dbfd63"));
}

TEST_CASE("keras.ResNet50V2: Keras' pre-activation ResNet (stride in a stage's last block) agrees with Keras",
          "[keras]") {
  const auto& w = tl::model_spec("keras.ResNet50V2").weights.at(0);
  CHECK(w.url ==
        "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
        "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5");
  CHECK(w.md5 == "3ef43a0b657b3be2300d5770ece849e0");
  CHECK(w.notop_md5 == "fac2f116257151a9d068a22e544a4917");
  CHECK(w.preprocessing == tl::Preprocessing::TF);
  // Keras' model.summary() and len(model.layers): 25,613,800 / 192, 44,675,560 / 379,
  // 60,380,648 / 566 with the top; 23,564,800 / 190 for ResNet50V2 without it.
  CHECK(keras_counts(*tl::make_backbone("keras.ResNet50V2"))[0] == 25613800);
  CHECK(keras_counts(*tl::make_backbone("keras.ResNet101V2"))[0] == 44675560);
  CHECK(keras_counts(*tl::make_backbone("keras.ResNet152V2"))[0] == 60380648);
  CHECK(tl::make_backbone("keras.ResNet101V2")->layer_table().size() == 379);
  CHECK(tl::make_backbone("keras.ResNet152V2")->layer_table().size() == 566);
  const auto notop = tl::BackboneOptions().include_top(false);
  auto base = tl::make_backbone("keras.ResNet50V2", notop);
  CHECK(keras_counts(*base)[0] == 23564800);
  CHECK(base->layer_table().size() == 190);
  // Its stages, for multi-scale features: each ends before the block that strides.
  std::vector<std::string> stages;
  for (const auto& f : base->feature_info()) stages.push_back(base->layer_table()[base->layer_table().index_of(f.name)].alias);
  CHECK(stages == std::vector<std::string>{"conv1_conv", "conv2_block2_out", "conv3_block3_out", "conv4_block5_out",
                                           "post_relu"});

  KerasExport e("ResNet50V2");
  if (!export_keras(e, "formats", {"--size", "96", "--freeze", "100"})) return;
  check_every_format("keras.ResNet50V2", notop, e);
  auto model = tl::make_backbone("keras.ResNet50V2", tl::BackboneOptions(notop).weights(e.file(".h5").string()));
  model->set_trainable(tl::first(100), false);
  CHECK(keras_counts(*model) == exported_counts(e));
  model->set_trainable(tl::all(), true);
  {  // Back to Keras.
    const auto keras = keras_prediction(e, tune_and_save_for_keras(*model, e.dir / "tuned.weights.h5"), "96");
    torch::NoGradGuard no_grad;
    CHECK(relative_error(model->forward(e.io["input"]), keras) < 1e-4);
  }
  // An odd size: the strided shortcut's 1x1 pooling and the padded 3x3 conv still meet.
  check_odd_size_and_top("ResNet50V2", "97", "224");
}

TEST_CASE("keras.DenseNet121: torchvision's DenseNet with Keras' BatchNorm, files and preprocessing", "[keras]") {
  const auto& w = tl::model_spec("keras.DenseNet121").weights.at(0);
  CHECK(w.url ==
        "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
        "densenet121_weights_tf_dim_ordering_tf_kernels.h5");
  CHECK(w.md5 == "9d60b8095a5708f2dcce2bca79d332c7");
  CHECK(tl::model_spec("keras.DenseNet201").weights.at(0).notop_md5 == "c13680b51ded0fb44dff2d8f86ac8bb1");
  CHECK(w.preprocessing == tl::Preprocessing::Torch);  // Keras' densenet.preprocess_input: mode "torch"
  // Keras' model.summary(): 8,062,504 / 14,307,880 / 20,242,984 with the top.
  CHECK(keras_counts(*tl::make_backbone("keras.DenseNet121"))[0] == 8062504);
  CHECK(keras_counts(*tl::make_backbone("keras.DenseNet169"))[0] == 14307880);
  CHECK(keras_counts(*tl::make_backbone("keras.DenseNet201"))[0] == 20242984);

  const auto notop = tl::BackboneOptions().include_top(false);
  KerasExport e("DenseNet121");
  if (!export_keras(e, "formats", {"--size", "96", "--freeze", "313"})) return;
  for (const char* suffix : {".h5", ".weights.h5"}) {
    INFO("DenseNet121" << suffix);
    CHECK(error_against_keras("keras.DenseNet121", notop, e, suffix) < 1e-4);
  }
  auto model = tl::make_backbone("keras.DenseNet121", tl::BackboneOptions(notop).weights(e.file(".h5").string()));
  model->set_trainable(tl::first(313), false);  // Keras' "fine-tune from conv5" cut
  CHECK(keras_counts(*model) == exported_counts(e));
  model->set_trainable(tl::all(), true);
  const auto keras = keras_prediction(e, tune_and_save_for_keras(*model, e.dir / "tuned.weights.h5"), "96");
  {
    torch::NoGradGuard no_grad;
    CHECK(relative_error(model->forward(e.io["input"]), keras) < 1e-4);
  }
  KerasExport top("DenseNet121");  // at Keras' default size
  REQUIRE(export_keras(top, "top", {"--size", "224", "--top", "--classes", "10", "--formats", "h5"}));
  CHECK(error_against_keras("keras.DenseNet121", keras_top(10), top) < 1e-4);
}

TEST_CASE("keras.Xception: separable convs as one layer each, 'same' pooling, files numbered by another Keras",
          "[keras]") {
  check_keras_spec("keras.Xception", "xception", "xception_weights_tf_dim_ordering_tf_kernels.h5",
                   "0a58e3b7378bc2990ea3b43d5981f1f6", "b0042744bf5b25fce3cb969f33bebb97", 299, 71);
  // Keras' model.summary(): 22,910,480 parameters with the top, 20,861,480 without.
  CHECK(keras_counts(*tl::make_backbone("keras.Xception"))[0] == 22910480);
  const auto notop = tl::BackboneOptions().include_top(false);
  auto base = tl::make_backbone("keras.Xception", notop);
  CHECK(keras_counts(*base)[0] == 20861480);
  CHECK(base->input_shape() == std::vector<int64_t>{299, 299});
  std::vector<std::string> stages;
  for (const auto& f : base->feature_info()) stages.push_back(base->layer_table()[base->layer_table().index_of(f.name)].alias);
  CHECK(stages == std::vector<std::string>{"block1_conv2_act", "add", "add_1", "add_10", "block14_sepconv2_act"});
  std::ostringstream text;
  base->summary(text, tl::SummaryOptions().input_shape({150, 150}).keras_types(true));
  CHECK(text.str().find("SeparableConv2D") != std::string::npos);

  // 150 x 150: the size of Keras' transfer-learning guide, which fine-tunes Xception.
  KerasExport e("Xception");
  if (!export_keras(e, "formats", {"--size", "150", "--freeze", "126"})) return;
  // .keras2.h5 numbers the shortcut layers conv2d_1 ... as Keras 2.0 did: matched by
  // order, as Keras' load_weights matches them, not by those names.
  for (const char* suffix : {".h5", ".keras2.h5", ".full.h5", ".weights.h5", ".keras"}) {
    INFO("Xception" << suffix);
    CHECK(error_against_keras("keras.Xception", notop, e, suffix) < 1e-4);
  }
  auto model = tl::make_backbone("keras.Xception", tl::BackboneOptions(notop).weights(e.file(".keras2.h5").string()));
  check_counts_and_round_trip(*model, e, 126, "150", 40);  // all but block14
  // An odd size: "same" pooling then pads both sides alike, and the shortcut still meets it.
  check_odd_size_and_top("Xception", "97", "299");  // the top at Keras' default size
}

TEST_CASE("keras.InceptionV3: torchvision's network with Keras' BatchNorm, pooling, names and layer order",
          "[keras]") {
  check_keras_spec("keras.InceptionV3", "inception_v3", "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                   "9a0d58056eeedaa3f26cb7ebd46da564", "bcbd6486424b2319ff4ef7d526e38f63", 299, 75);
  // Keras' model.summary(): 23,851,784 parameters with the top, 21,802,784 without
  // (BatchNorm without scale: three weights per channel, not four).
  CHECK(keras_counts(*tl::make_backbone("keras.InceptionV3"))[0] == 23851784);
  const auto notop = tl::BackboneOptions().include_top(false);
  CHECK(keras_counts(*tl::make_backbone("keras.InceptionV3", notop))[0] == 21802784);
  CHECK_THAT(error_of([&] { tl::make_backbone("keras.InceptionV3", tl::BackboneOptions().aux_logits(true)); }),
             Catch::Matchers::Contains("no auxiliary classifier"));

  // Keras' own example fine-tunes the top two inception blocks: layers[:249] frozen.
  KerasExport e("InceptionV3");
  if (!export_keras(e, "formats", {"--size", "150", "--freeze", "249"})) return;
  check_every_format("keras.InceptionV3", notop, e);
  CHECK_THAT(error_of([&] { tl::make_backbone("inception_v3", tl::BackboneOptions(notop).weights(e.file(".h5").string())); }),
             Catch::Matchers::Contains("keras.InceptionV3"));
  auto model = tl::make_backbone("keras.InceptionV3", tl::BackboneOptions(notop).weights(e.file(".h5").string()));
  CHECK(model->layers()[249].alias == "conv2d_80");  // the first layer Keras' example trains (mixed8's first conv)
  check_counts_and_round_trip(*model, e, 249, "150", 94);
  check_odd_size_and_top("InceptionV3", "151", "299");  // the top at Keras' default size
}

TEST_CASE("keras.InceptionResNetV2: scaled residual Inception blocks, Keras' names and order", "[keras]") {
  check_keras_spec("keras.InceptionResNetV2", "inception_resnet_v2",
                   "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5", "e693bd0210a403b3192acc6073ad2e96",
                   "d19885ff4a710c122648d3b5c3b684e4", 299, 75);
  // Keras' model.summary(): 55,873,736 parameters with the top, 54,336,736 without.
  CHECK(keras_counts(*tl::make_backbone("keras.InceptionResNetV2"))[0] == 55873736);
  const auto notop = tl::BackboneOptions().include_top(false);
  auto base = tl::make_backbone("keras.InceptionResNetV2", notop);
  CHECK(keras_counts(*base)[0] == 54336736);
  std::vector<std::string> stages;
  for (const auto& f : base->feature_info()) stages.push_back(base->layer_table()[base->layer_table().index_of(f.name)].alias);
  CHECK(stages == std::vector<std::string>{"activation_2", "activation_4", "block35_10_ac", "block17_20_ac", "conv_7b_ac"});

  // 139: the smallest size mixed_7a's valid convolutions leave a 2x2 map at (an odd one).
  KerasExport e("InceptionResNetV2");
  if (!export_keras(e, "formats", {"--size", "139", "--freeze", "618"})) return;
  check_every_format("keras.InceptionResNetV2", notop, e);
  auto model =
      tl::make_backbone("keras.InceptionResNetV2", tl::BackboneOptions(notop).weights(e.file(".h5").string()));
  CHECK(model->layers()[617].alias == "mixed_7a");
  check_counts_and_round_trip(*model, e, 618, "139", 204);  // up to mixed_7a: the block8 blocks train
  KerasExport top("InceptionResNetV2");  // at Keras' default size
  REQUIRE(export_keras(top, "top", {"--size", "299", "--top", "--classes", "10", "--formats", "h5"}));
  CHECK(error_against_keras("keras.InceptionResNetV2", keras_top(10), top) < 1e-4);
}

TEST_CASE("Back to Keras: a Classifier (keras.VGG16 + Head) saves as the Sequential model of Keras' tutorials",
          "[keras]") {
  // Keras: Sequential([VGG16(include_top=False), Flatten(), Dense(256, "relu"), Dropout(0.5), Dense(1, "sigmoid")]).
  const auto dir = scratch_dir("keras_tutorial_head");
  if (!run_keras_python("keras_reference.py", {"tutorial", dir.string(), "--size", "64"})) return;
  auto input = tl::io::load_checkpoint(dir / "tutorial.io.safetensors")["input"];
  auto base = tl::make_backbone("keras.VGG16", tl::BackboneOptions().include_top(false).input_shape({64, 64}));
  tl::Classifier model(base, tl::Head(tl::HeadOptions(base->output_channels())
                                          .flatten(true)
                                          .feature_hw({2, 2})
                                          .hidden({256})
                                          .dropout(0.5)
                                          .classes(1)));
  {  // Weights that make the sigmoid's output differ from sample to sample.
    torch::NoGradGuard no_grad;
    for (auto& p : model->head->parameters()) p.normal_(0, 0.05);
  }
  model->eval();
  tl::save_keras_weights(*model, dir / "classifier.weights.h5");
  tl::io::StateDict in;
  in.insert("input", input);
  tl::io::save_safetensors(in, dir / "input.safetensors");
  REQUIRE(run_keras_python("keras_reference.py",
                           {"predict", "VGG16", (dir / "classifier.weights.h5").string(),
                            (dir / "input.safetensors").string(), (dir / "keras.safetensors").string(), "--size", "64",
                            "--tutorial"}));
  const auto keras = tl::io::load_checkpoint(dir / "keras.safetensors")["output"];
  torch::NoGradGuard no_grad;
  const auto ours = model->predict(input);  // Keras' predict: the sigmoid's probabilities
  REQUIRE(ours.sizes() == keras.sizes());
  CHECK(relative_error(ours, keras) < 1e-4);
  CHECK((ours.max() - ours.min()).item<double>() > 1e-3);  // not a constant both sides could agree on
  // A backbone without Keras names has nothing to name the layers with.
  auto torch_base = tl::make_backbone("regnet_x_400mf", tl::BackboneOptions().include_top(false));
  tl::Classifier plain(torch_base, tl::Head(tl::HeadOptions(torch_base->output_channels()).classes(2)));
  CHECK_THAT(error_of([&] { tl::save_keras_weights(*plain, dir / "plain.weights.h5"); }),
             Catch::Matchers::Contains("no Keras layer names"));
}
