// timm's weights: every mapped family loads timm's checkpoints from the Hub (a
// local imitation, tests/python/fake_hub.py) and from a folder, agrees with timm,
// and goes back to timm after fine-tuning (tests/python/timm_reference.py).
#include <tlearn/tlearn.hpp>

#include <nlohmann/json.hpp>

#include "../support.hpp"

namespace tl = tlearn;
namespace fs = std::filesystem;
using tlearn::test::PythonServer;
using tlearn::test::error_of;

namespace {

/// timm's architectures in timm_reference.py, with tlearn's names.
const std::vector<std::pair<std::string, std::string>> kTimmModels = {
    {"resnet18", "resnet18"},           {"densenet121", "densenet121"},
    {"vgg11", "vgg11"},                 {"convnext_tiny", "convnext_tiny"},
    {"efficientnet_b0", "efficientnet_b0"}, {"tf_efficientnet_b0", "efficientnet_b0"},
    {"inception_v3", "inception_v3"},
    {"regnety_004", "regnet_y_400mf"},  {"regnetx_008", "regnet_x_800mf"},
    {"mobilenetv3_large_100", "mobilenet_v3_large"}, {"mobilenetv3_small_100", "mobilenet_v3_small"},
    {"vit_base_patch16_224", "vit_b_16"}, {"swin_tiny_patch4_window7_224", "swin_t"}};

/// Largest difference, relative to the reference's scale (at least 1).
double relative_error(const torch::Tensor& ours, const torch::Tensor& theirs) {
  REQUIRE(ours.sizes() == theirs.sizes());
  const double scale = std::max(1.0, theirs.abs().max().item<double>());
  return (ours - theirs).abs().max().item<double>() / scale;
}

/// timm_reference.py's models served as timm/<arch> by a local Hub, with an empty
/// Hugging Face cache.
struct TimmHub {
  explicit TimmHub(const std::string& name)
      : reference(tlearn::test::python_reference("timm_reference.py", {"write"})),
        dir(tlearn::test::scratch_dir("timm_" + name)),
        root(make_root(dir, reference)),
        hub(root, dir / "hf") {}

  static fs::path make_root(const fs::path& dir, const fs::path& reference) {
    fs::create_directories(dir / "repos");
    fs::create_directory_symlink(reference, dir / "repos" / "timm");
    return dir / "repos";
  }

  fs::path reference, dir, root;
  tlearn::test::LocalHub hub;
};

}  // namespace

TEST_CASE("timm: each mapped family loads timm's weights from the Hub and agrees with timm", "[timm][parity]") {
  TimmHub hub("parity");
  torch::NoGradGuard no_grad;
  for (const auto& [timm_name, name] : kTimmModels) {
    INFO(timm_name);
    CHECK(tl::model_for_timm(timm_name) == name);
    const fs::path folder = hub.reference / timm_name;
    auto ref = tl::io::load_checkpoint(folder / "reference.safetensors");

    // The architecture, the weights and the top all come from the repository.
    auto model = tl::make_backbone("hf-hub:timm/" + timm_name);
    model->eval();
    CHECK(model->spec().name == name);
    CHECK(relative_error(model->forward(ref["input"]), ref["logits"]) < 1e-4);

    // Without the top: the last feature map is timm's forward_features (channels
    // last in timm's Swin; a ViT's class token is timm's pre_logits).
    const bool vit = model->spec().family == "vit", swin = model->spec().family == "swin";
    auto base = tl::make_backbone(name, tl::BackboneOptions()
                                            .include_top(false)
                                            .pooling(vit ? tl::Pooling::Token : tl::Pooling::None)
                                            .weights("hf-hub:timm/" + timm_name));
    base->eval();
    auto features = base->forward(ref["input"]);
    if (swin) features = features.permute({0, 2, 3, 1});
    CHECK(relative_error(features, vit ? ref["pre_logits"] : ref["features"]) < 1e-4);

    // Back to timm's names and shapes: exactly the file timm wrote.
    auto theirs = tl::io::load_checkpoint(folder / (timm_name == "resnet18" ? "pytorch_model.bin" : "model.safetensors"));
    auto ours = tl::to_timm_state_dict(*model);
    CHECK(ours.size() == theirs.size());
    for (const auto& item : theirs) {
      INFO(item.key());
      REQUIRE(ours.contains(item.key()));
      CHECK(ours[item.key()].sizes() == item.value().sizes());
      CHECK(ours[item.key()].equal(item.value().to(ours[item.key()].dtype())));
    }
  }
  // A timm folder (save_for_hf's layout) loads the same way.
  auto local = tl::make_backbone("local-dir:" + (hub.reference / "convnext_tiny").string());
  local->eval();
  auto ref = tl::io::load_checkpoint(hub.reference / "convnext_tiny" / "reference.safetensors");
  CHECK(relative_error(local->forward(ref["input"]), ref["logits"]) < 1e-4);
  // A published file without BatchNorm's step counters (PyTorch fills them in) loads too.
  const fs::path stripped = hub.dir / "stripped";
  fs::create_directories(stripped);
  fs::copy_file(hub.reference / "efficientnet_b0" / "config.json", stripped / "config.json");
  tl::io::StateDict counters_removed;
  for (const auto& item : tl::io::load_checkpoint(hub.reference / "efficientnet_b0" / "model.safetensors"))
    if (item.key().find("num_batches_tracked") == std::string::npos) counters_removed.insert(item.key(), item.value());
  tl::io::save_safetensors(counters_removed, stripped / "model.safetensors");
  auto effnet = tl::make_backbone("local-dir:" + stripped.string());
  effnet->eval();
  auto effnet_ref = tl::io::load_checkpoint(hub.reference / "efficientnet_b0" / "reference.safetensors");
  CHECK(relative_error(effnet->forward(effnet_ref["input"]), effnet_ref["logits"]) < 1e-4);
  // So does timm's file by its path: its names are recognised.
  auto by_path = tl::make_backbone(
      "convnext_tiny", tl::BackboneOptions().weights((hub.reference / "convnext_tiny" / "model.safetensors").string()));
  by_path->eval();
  CHECK(relative_error(by_path->forward(ref["input"]), ref["logits"]) < 1e-4);
}

TEST_CASE("timm: the config drives the eval transform, checked against timm's on a real photo", "[timm][photo]") {
  TimmHub hub("transform");
  const fs::path dir = hub.reference / "transform";
  const std::string photo = PythonServer::read(dir / "photo.txt");
  auto ref = tl::io::load_checkpoint(dir / "photos.safetensors");
  for (const char* timm_name : {"resnet18", "vit_base_patch16_224"}) {
    INFO(timm_name);
    auto model = tl::make_backbone(std::string("hf-hub:timm/") + timm_name);
    const auto spec = model->eval_transform_spec();
    if (std::string(timm_name) == "resnet18") {  // a1_in1k: crop_pct 0.95, bicubic, ImageNet's mean
      CHECK(spec.resize_size == 235);
      CHECK(spec.interpolation == tl::Interpolation::Bicubic);
      CHECK(model->preprocessing() == tl::Preprocessing::Torch);
    } else {  // augreg: crop_pct 0.9, mean and std 0.5
      CHECK(spec.resize_size == 248);
      CHECK(model->preprocessing() == tl::Preprocessing::TF);
    }
    CHECK(spec.crop_size == 224);
    auto transform = tl::data::eval_transform(model);
    auto x = transform(tl::io::read_image(photo, transform.read_options()));
    // PIL's and tlearn's resampling agree within rounding of 8-bit levels.
    const double bound = 3.0 / 255 / (std::string(timm_name) == "resnet18" ? 0.225 : 0.5);
    CHECK((x - ref[timm_name]).abs().max().item<double>() < bound);
    CHECK((x - ref[timm_name]).abs().mean().item<double>() < 0.1 * bound);
  }
  // A CLIP model's config: a mean and std of its own, and bilinear.
  const fs::path clip = hub.dir / "clip";
  fs::create_directories(clip);
  fs::copy_file(dir / "clip_config.json", clip / "config.json");
  fs::create_symlink(hub.reference / "resnet18" / "pytorch_model.bin", clip / "pytorch_model.bin");
  auto model = tl::make_backbone("local-dir:" + clip.string());
  CHECK(model->preprocessing() ==
        tl::Preprocessing::mean_std({0.48145466f, 0.4578275f, 0.40821073f}, {0.26862954f, 0.26130258f, 0.27577711f}));
  CHECK(model->eval_transform_spec().interpolation == tl::Interpolation::Bilinear);
  auto transform = tl::data::eval_transform(model);
  auto x = transform(tl::io::read_image(photo, transform.read_options()));
  CHECK((x - ref["clip"]).abs().max().item<double>() < 3.0 / 255 / 0.26);
  // save_timm writes that mean and std back.
  tl::save_timm(*model, hub.dir / "clip_saved");
  auto saved = nlohmann::json::parse(PythonServer::read(hub.dir / "clip_saved" / "config.json"));
  CHECK(std::abs(saved["pretrained_cfg"]["mean"][0].get<double>() - 0.48145466) < 1e-6);
  CHECK(std::abs(saved["pretrained_cfg"]["std"][2].get<double>() - 0.27577711) < 1e-6);
}

TEST_CASE("timm: a fine-tuned model goes back to timm (save_timm)", "[timm][parity]") {
  TimmHub hub("save");
  torch::NoGradGuard no_grad;
  for (const char* timm_name : {"tf_efficientnet_b0", "convnext_tiny", "mobilenetv3_small_100"}) {
    INFO(timm_name);
    // ImageNet weights with a new 10-class top, as a fine-tune starts.
    auto model = tl::make_backbone(std::string("hf-hub:timm/") + timm_name, tl::BackboneOptions().classes(10));
    model->eval();
    std::vector<std::string> names;
    for (int i = 0; i < 10; ++i) names.push_back("class " + std::to_string(i));
    const fs::path folder = hub.dir / timm_name;
    tl::save_timm(*model, folder, names);
    auto x = torch::randn({2, 3, 224, 224}, torch::TensorOptions().dtype(torch::kFloat));
    tl::io::StateDict input;
    input.insert("input", x);
    tl::io::save_safetensors(input, folder / "input.safetensors");
    tlearn::test::run_python("timm_reference.py", {"check", folder.string()});
    auto timm_out = tl::io::load_checkpoint(folder / "timm_output.safetensors");
    auto ours = model->forward(x);
    CHECK(relative_error(ours, timm_out["local_dir"]) < 1e-4);
    CHECK(relative_error(ours, timm_out["overlay"]) < 1e-4);
    // timm reads back the preprocessing and eval transform the weights came with.
    auto data_config = nlohmann::json::parse(PythonServer::read(folder / "timm_data_config.json"));
    CHECK(data_config["interpolation"] == "bicubic");
    CHECK(data_config["input_size"] == nlohmann::json({3, 224, 224}));
    CHECK(std::floor(224 / data_config["crop_pct"].get<double>()) == model->eval_transform_spec().resize_size);
    // And tlearn reads its own folder back, class names included.
    auto again = tl::make_backbone("local-dir:" + folder.string());
    again->eval();
    CHECK(again->options().classes() == 10);
    CHECK(again->timm_architecture() == timm_name);
    CHECK(again->weight_spec()->class_names == names);
    CHECK(relative_error(again->forward(x), ours) < 1e-6);
    const auto decoded = tl::imagenet::decode_predictions(ours, names, 3);
    CHECK(decoded[1][0].index == ours[1].argmax().item<int64_t>());
    CHECK(decoded[1][0].name == names[size_t(decoded[1][0].index)]);
  }
}

TEST_CASE("timm: clear errors for what does not fit", "[timm]") {
  TimmHub hub("errors");
  CHECK_THAT(error_of([] { tl::model_for_timm("resnet50d"); }),
             Catch::Matchers::Contains("not one tlearn builds") && Catch::Matchers::Contains("resnet50"));
  CHECK(tl::model_for_timm("vit_base_patch16_384") == "vit_b_16");
  CHECK_THAT(error_of([] { tl::make_backbone("resnet50", tl::BackboneOptions().weights("hf-hub:timm/resnet18")); }),
             Catch::Matchers::Contains("holds timm's resnet18") && Catch::Matchers::Contains("not resnet50"));
  CHECK_THAT(error_of([] { tl::make_backbone("hf-hub:timm/nothing"); }),
             Catch::Matchers::Contains("no repository timm/nothing"));
  CHECK_THAT(error_of([&] { tl::make_backbone("local-dir:" + hub.dir.string()); }),
             Catch::Matchers::Contains("config.json does not exist"));
  // A config for an architecture tlearn does not build, and a damaged one.
  const fs::path odd = hub.dir / "odd";
  fs::create_directories(odd);
  std::ofstream(odd / "config.json") << R"({"architecture": "mobilevit_s", "pretrained_cfg": {}})";
  CHECK_THAT(error_of([&] { tl::make_backbone("local-dir:" + odd.string()); }),
             Catch::Matchers::Contains("'mobilevit_s' is not one tlearn builds"));
  std::ofstream(odd / "config.json") << R"({"architecture": "resnet18", "pretrained_cfg": {"crop_pct": "wide"}})";
  CHECK_THAT(error_of([&] { tl::read_timm_config(odd / "config.json"); }),
             Catch::Matchers::Contains("'crop_pct' has the wrong type"));
  // What a config makes tlearn allocate is bounded.
  std::ofstream(odd / "config.json") << R"({"architecture": "vit_base_patch16_224", "num_classes": 1000000000000})";
  CHECK_THAT(error_of([&] { tl::read_timm_config(odd / "config.json"); }), Catch::Matchers::Contains("at most 1000000"));
  std::ofstream(odd / "config.json")
      << R"({"architecture": "vit_base_patch16_224", "pretrained_cfg": {"input_size": [3, 100000, 100000]}})";
  CHECK_THAT(error_of([&] { tl::read_timm_config(odd / "config.json"); }), Catch::Matchers::Contains("1..4096"));
  std::ofstream(odd / "config.json") << "{\"architecture\": ";  // cut short
  CHECK_THAT(error_of([&] { tl::read_timm_config(odd / "config.json"); }), Catch::Matchers::Contains("is not JSON"));
  // Class names: WordNet ids read through label_descriptions (timm's ImageNet-21k configs).
  const fs::path labelled = hub.dir / "labelled";
  fs::create_directories(labelled);
  std::ofstream(labelled / "config.json")
      << R"({"architecture": "resnet18", "num_classes": 2, "label_names": ["n00004475", "n00005787"],)"
      << R"( "label_descriptions": {"n00004475": "organism, being", "n00005787": "benthos"}, "pretrained_cfg": {}})";
  fs::create_symlink(hub.reference / "resnet18" / "pytorch_model.bin", labelled / "pytorch_model.bin");
  auto two = tl::make_backbone("local-dir:" + labelled.string());
  CHECK(two->options().classes() == 2);
  CHECK(two->weight_spec()->class_names == std::vector<std::string>{"organism, being", "benthos"});
  CHECK_THAT(error_of([] { tl::imagenet::decode_predictions(torch::zeros({1, 3}), {"a", "b"}); }),
             Catch::Matchers::Contains("(N, 2)"));
  // Models tlearn cannot hand to timm say why.
  auto mnas = tl::make_backbone("mnasnet0_5");
  CHECK_THAT(error_of([&] { tl::save_timm(*mnas, hub.dir / "mnas"); }),
             Catch::Matchers::Contains("timm has no architecture that is tlearn's mnasnet0_5"));
  auto torchvision_eps = tl::make_backbone("mobilenet_v3_small");  // BatchNorm eps 1e-3, timm's is 1e-5
  CHECK_THAT(error_of([&] { tl::save_timm(*torchvision_eps, hub.dir / "mobilenet"); }),
             Catch::Matchers::Contains("BatchNorm epsilon") && Catch::Matchers::Contains("timm would compute other numbers"));
  auto headless = tl::make_backbone("resnet18", tl::BackboneOptions().include_top(false));
  CHECK_THAT(error_of([&] { tl::save_timm(*headless, hub.dir / "headless"); }),
             Catch::Matchers::Contains("without its top"));
}
