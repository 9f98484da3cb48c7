// The modern fine-tuning recipe: schedules, EMA, MixUp / CutMix, losses and
// metrics against torch, timm and scikit-learn; accumulation, clipping and the
// preset on Fashion-MNIST.
#include <tlearn/data/segmentation.hpp>
#include <tlearn/heads/head.hpp>
#include <tlearn/heads/segmentation.hpp>
#include <tlearn/data/load_image.hpp>
#include <tlearn/io/safetensors.hpp>
#include <tlearn/models/create.hpp>
#include <tlearn/train/recipes.hpp>
#include <tlearn/train/segmentation.hpp>
#include <tlearn/train/tensorboard.hpp>
#include <tlearn/train/trainer.hpp>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>

#include "../catch.hpp"
#include "../fashion_subset.hpp"
#include "../support.hpp"

namespace tl = tlearn;
using Json = nlohmann::json;

namespace {

/// timm's, torch's and scikit-learn's numbers, computed once per test process.
const std::filesystem::path& reference_dir() {
  static const std::filesystem::path dir = tl::test::python_reference("recipe_reference.py");
  return dir;
}

Json read_json(const std::string& name) {
  std::ifstream in(reference_dir() / name);
  return Json::parse(in);
}

tl::io::StateDict read_tensors(const std::string& name) { return tl::io::load_safetensors(reference_dir() / name); }

/// A 1x32x32 image classifier without BatchNorm: a flattening head with one hidden layer.
tl::Head image_head(int64_t classes) {
  return tl::Head(tl::HeadOptions(1).pooling(tl::Pooling::None).feature_hw({32, 32}).hidden({24}).classes(classes));
}

tl::TrainerOptions quiet(tl::optim::Spec opt) { return tl::TrainerOptions().optimizer(opt).verbose(0).device(torch::kCPU); }

tl::data::Loader fashion_loader(const tl::data::TensorDataset& data, int64_t batch, bool shuffle = false) {
  return tl::data::loader(data, {}, tl::data::LoaderOptions().batch_size(batch).shuffle(shuffle).seed(3).workers(0));
}

/// The learning rate of every optimizer update, read after each batch.
struct RecordRates : tl::Callback {
  std::vector<double> rates;
  std::function<void(tl::TrainingContext&, int64_t)> at_epoch_end;
  void on_batch_end(tl::TrainingContext& ctx, int64_t, double) override { rates.push_back(ctx.learning_rate()); }
  void on_epoch_end(tl::TrainingContext& ctx, int64_t epoch, const tl::Logs&) override {
    if (at_epoch_end) at_epoch_end(ctx, epoch);
  }
};

}  // namespace

TEST_CASE("Schedules: each update's rate equals torch's schedulers and timm's cosine", "[train][schedule]") {
  const auto ref = read_json("schedules.json");
  const int64_t per_epoch = ref["per_epoch"], epochs = ref["epochs"];
  const double lr = ref["lr"];
  const int64_t total = per_epoch * epochs;
  const std::vector<std::pair<std::string, tl::schedule::Spec>> cases{
      {"cosine_warmup", tl::schedule::Cosine().warmup_epochs(1).warmup_start_factor(0.01).min_lr(1e-4)},
      {"timm_cosine_warmup", tl::schedule::Cosine().warmup_epochs(1).warmup_start_factor(0.01).min_lr(1e-4)},
      {"one_cycle", tl::schedule::OneCycle()},
      {"step", tl::schedule::Step(2, 0.5)},
      {"multistep", tl::schedule::MultiStep({2, 4}, 0.3)},
      {"polynomial", tl::schedule::Polynomial(2.0)}};
  for (const auto& [name, spec] : cases) {
    INFO(name);
    const auto expected = ref[name].get<std::vector<double>>();
    REQUIRE(int64_t(expected.size()) == total);
    for (int64_t t = 0; t < total; ++t) {
      INFO("update " << t);
      CHECK(lr * spec.factor(t, total, per_epoch, lr) == Approx(expected[size_t(t)]).epsilon(1e-9).margin(1e-15));
    }
  }
  CHECK_THROWS_WITH(tl::schedule::Cosine().warmup_epochs(5).factor(0, total, per_epoch, lr),
                    Catch::Matchers::Contains("warm-up") && Catch::Matchers::Contains("not shorter"));
  CHECK_THROWS_WITH(tl::schedule::MultiStep({3, 2}).factor(0, total, per_epoch, lr), Catch::Matchers::Contains("increase"));

  // In the Trainer: 7 batches an epoch, one update each; a callback halving the rate after
  // epoch 2 (as ReduceLROnPlateau does) scales the rest of the schedule.
  auto data = tl::test::fashion_subset(true, 10, {0, 1, 7, 9});  // 40 images: batches of 6 -> 7 an epoch
  const auto expected = ref["cosine_warmup"].get<std::vector<double>>();
  auto model = image_head(4);
  auto recorder = std::make_shared<RecordRates>();
  recorder->at_epoch_end = [](tl::TrainingContext& ctx, int64_t epoch) {
    if (epoch == 2) ctx.set_learning_rate(ctx.learning_rate() * 0.5);
  };
  tl::Trainer trainer(model, quiet(tl::optim::SGD(lr).momentum(0.9))
                                 .schedule(tl::schedule::Cosine().warmup_epochs(1).warmup_start_factor(0.01).min_lr(1e-4)));
  auto history = trainer.fit(fashion_loader(data, 6), tl::FitOptions().epochs(epochs).callbacks({recorder}));
  REQUIRE(recorder->rates.size() == size_t(total));
  for (int64_t t = 0; t < total; ++t) {
    INFO("update " << t);
    CHECK(recorder->rates[size_t(t)] == Approx(expected[size_t(t)] * (t >= 3 * per_epoch ? 0.5 : 1.0)).epsilon(1e-9));
  }
  // History's lr is the rate of each epoch's last update.
  for (int64_t e = 0; e < epochs; ++e) CHECK(history["lr"][size_t(e)] == Approx(recorder->rates[size_t((e + 1) * per_epoch - 1)]));

  // ReduceLROnPlateau on a loss that never improves by 100: from epoch 2 on, each epoch halves the schedule.
  auto plateau_model = image_head(4);
  auto rates = std::make_shared<RecordRates>();
  tl::Trainer plateau(plateau_model, quiet(tl::optim::SGD(lr)).schedule(tl::schedule::Cosine().warmup_epochs(1)
                                                                           .warmup_start_factor(0.01).min_lr(1e-4)));
  plateau.fit(fashion_loader(data, 6),
              tl::FitOptions().epochs(epochs).callbacks(
                  {rates, std::make_shared<tl::ReduceLROnPlateau>(
                              tl::ReduceLROnPlateauOptions().monitor("loss").factor(0.5).patience(1).min_delta(100))}));
  REQUIRE(rates->rates.size() == size_t(total));
  for (int64_t t = 0; t < total; ++t) {
    INFO("update " << t);
    CHECK(rates->rates[size_t(t)] == Approx(expected[size_t(t)] * std::pow(0.5, std::max<int64_t>(0, t / per_epoch - 1))).epsilon(1e-9));
  }
}

TEST_CASE("EMA: the same averages as timm's ModelEmaV3, buffers copied or averaged", "[train][ema]") {
  const auto ref = read_tensors("ema.safetensors");
  torch::nn::Sequential model(torch::nn::Conv2d(2, 3, 3), torch::nn::BatchNorm2d(3), torch::nn::Flatten(), torch::nn::Linear(12, 4));
  auto section = [&](const std::string& prefix) {
    tl::io::StateDict sd;
    for (const auto& item : ref)
      if (item.key().rfind(prefix + "/", 0) == 0) sd.insert(item.key().substr(prefix.size() + 1), item.value());
    return sd;
  };
  struct Case {
    std::string name;
    tl::EmaOptions options;
  };
  for (const auto& c : {Case{"copy", tl::EmaOptions().decay(0.9).warmup(true)},
                        Case{"average", tl::EmaOptions().decay(0.9).warmup(true).average_buffers(true)},
                        Case{"plain", tl::EmaOptions().decay(0.7).warmup(false)}}) {
    INFO(c.name);
    tl::io::load_state_dict(*model, section("init"));
    tl::ModelEma ema(*model, c.options);
    for (int step = 1; step <= 6; ++step) {
      INFO("update " << step);
      tl::io::load_state_dict(*model, section("step" + std::to_string(step)));
      ema.update(*model, step);
      const auto expected = section(c.name + std::to_string(step));
      REQUIRE(expected.size() == ema.state().size());
      for (const auto& item : expected) CHECK(torch::allclose(ema.state()[item.key()], item.value(), 1e-6, 1e-7));
    }
  }
  tl::ModelEma ema(*model, tl::EmaOptions().decay(0.99));
  CHECK(ema.decay_at(1) == 0.0);  // the first update copies
  CHECK(ema.decay_at(11) == Approx(1 - std::pow(11.0, -2.0 / 3.0)));
  CHECK(ema.decay_at(1000000) == 0.99);
  CHECK_THROWS_WITH(tl::ModelEma(*model, tl::EmaOptions().decay(1.0)), Catch::Matchers::Contains("decay"));
  torch::nn::Linear other(3, 3);
  CHECK_THROWS_WITH(ema.update(*other, 2), Catch::Matchers::Contains("build the average from the model"));
}

TEST_CASE("MixUp and CutMix: timm's batches and targets, sampling matches timm's statistics", "[train][mixup]") {
  const auto tensors = read_tensors("mixup.safetensors");
  const auto info = read_json("mixup.json");
  const auto x = tensors["x"], y = tensors["y"];
  for (const std::string name : {"mixup", "cutmix"}) {
    INFO(name);
    tl::MixParams p;
    p.lam = info[name]["lam"];
    p.cutmix = info[name]["cutmix"];
    const auto box = info[name]["box"].get<std::vector<int64_t>>();
    std::copy(box.begin(), box.end(), p.box.begin());
    CHECK(torch::equal(tl::mix_images(x, p), tensors[name + "/x"]));
    CHECK(torch::allclose(tl::mix_targets(y, 5, p.lam, 0.1), tensors[name + "/target"], 1e-6, 1e-7));
  }
  // Our own draws against timm's, 20000 batches each: proportions and lam's moments.
  const auto stats = info["stats"];
  const auto options = tl::MixupOptions().mixup_alpha(0.8).cutmix_alpha(1.0).prob(0.8).switch_prob(0.5);
  const int draws = 20000;
  int unmixed = 0, cut = 0;
  std::vector<double> lam_mix, lam_cut;
  for (int i = 0; i < draws; ++i) {
    const auto p = tl::sample_mix(options, 32, 32, uint64_t(i));
    if (p.lam == 1.0) ++unmixed;
    else if (p.cutmix) ++cut, lam_cut.push_back(p.lam);
    else lam_mix.push_back(p.lam);
    if (p.cutmix) {
      CHECK(p.box[0] <= p.box[1]);
      CHECK(p.box[1] <= 32);
    }
  }
  auto moments = [](const std::vector<double>& v) {
    double m = 0, s = 0;
    for (double a : v) m += a;
    m /= double(v.size());
    for (double a : v) s += (a - m) * (a - m);
    return std::pair<double, double>{m, s / double(v.size())};
  };
  // Two samples of 20000: proportions within 0.015 (> 4 standard errors), lam's moments within 0.01.
  CHECK(double(unmixed) / draws == Approx(stats["unmixed"].get<double>()).margin(0.015));
  CHECK(double(cut) / draws == Approx(stats["cutmix"].get<double>()).margin(0.015));
  const auto [mix_mean, mix_var] = moments(lam_mix);
  const auto [cut_mean, cut_var] = moments(lam_cut);
  CHECK(mix_mean == Approx(stats["mixup_lam_mean"].get<double>()).margin(0.01));
  CHECK(mix_var == Approx(stats["mixup_lam_var"].get<double>()).margin(0.005));
  CHECK(mix_var == Approx(1.0 / (4 * (2 * 0.8 + 1))).margin(0.005));  // Beta(0.8, 0.8)'s variance
  CHECK(cut_mean == Approx(stats["cutmix_lam_mean"].get<double>()).margin(0.01));
  CHECK(cut_var == Approx(stats["cutmix_lam_var"].get<double>()).margin(0.005));
  CHECK_THROWS_WITH(tl::sample_mix(tl::MixupOptions().prob(2), 8, 8, 0), Catch::Matchers::Contains("prob"));
}

TEST_CASE("Losses: soft targets, multi-label with pos_weight, focal, against timm, torch and torchvision",
          "[train][loss]") {
  const auto t = read_tensors("losses.safetensors");
  const auto ref = read_json("losses.json");
  const auto logits = t["logits"], labels = t["labels"], ml_logits = t["ml_logits"], ml_targets = t["ml_targets"];
  const auto pw = t["pos_weight"];
  std::vector<double> pos_weight(pw.data_ptr<float>(), pw.data_ptr<float>() + pw.numel());
  auto value = [](const tl::loss::Spec& s, const torch::Tensor& z, const torch::Tensor& y) { return s(z, y).item<double>(); };
  CHECK(value(tl::loss::CrossEntropy(), logits, t["soft"]) == Approx(ref["soft_ce"].get<double>()).epsilon(1e-5));
  CHECK(value(tl::loss::CrossEntropy().label_smoothing(0.1), logits, labels) == Approx(ref["smoothed_ce"].get<double>()).epsilon(1e-5));
  CHECK(value(tl::loss::CrossEntropy(), logits, tl::mix_targets(labels, 5, 0.3, 0.1)) ==
        Approx(ref["mixup_target_ce"].get<double>()).epsilon(1e-5));
  CHECK(value(tl::loss::BinaryCrossEntropy().pos_weight(pos_weight), ml_logits, ml_targets) ==
        Approx(ref["multilabel_bce"].get<double>()).epsilon(1e-5));
  CHECK(value(tl::loss::Focal(), ml_logits, ml_targets) == Approx(ref["focal_multilabel"].get<double>()).epsilon(1e-5));
  CHECK(value(tl::loss::Focal().alpha(-1).gamma(1.5), logits, labels) == Approx(ref["focal_classes"].get<double>()).epsilon(1e-5));
  CHECK_THROWS_WITH(tl::loss::BinaryCrossEntropy()(logits, labels), Catch::Matchers::Contains("CrossEntropy"));
  CHECK_THROWS_WITH(tl::loss::BinaryCrossEntropy().pos_weight({1.0})(ml_logits, ml_targets),
                    Catch::Matchers::Contains("one per label"));
  CHECK_THROWS_WITH(tl::loss::CrossEntropy()(logits, t["soft"].narrow(1, 0, 3)), Catch::Matchers::Contains("soft targets"));
}

TEST_CASE("Metrics: accuracy, precision, recall, F1, AUC and the report equal scikit-learn's", "[train][metrics]") {
  const auto t = read_tensors("metrics.safetensors");
  const auto ref = read_json("metrics.json");
  // Through Trainer::evaluate, in batches of 37, on a model that outputs its input: the metrics
  // see the saved logits, accumulated (or, for AUC, concatenated) over batches.
  struct PassImpl : torch::nn::Module {
    torch::Tensor forward(const torch::Tensor& x) { return x; }
  };
  TORCH_MODULE(Pass);
  auto evaluate = [](const torch::Tensor& z, const torch::Tensor& y, tl::loss::Spec loss) {
    std::vector<tl::data::Batch> batches;
    for (int64_t i = 0; i < z.size(0); i += 37) {
      tl::data::Batch b;
      b.images = z.narrow(0, i, std::min<int64_t>(37, z.size(0) - i));
      b.labels = y.narrow(0, i, b.images.size(0));
      batches.push_back(b);
    }
    using tl::metrics::Average;
    tl::Trainer trainer(Pass(), tl::TrainerOptions().verbose(0).device(torch::kCPU).loss(loss).metrics(
                                    {tl::metrics::accuracy(), tl::metrics::precision(), tl::metrics::recall(),
                                     tl::metrics::f1(), tl::metrics::precision(Average::Micro), tl::metrics::f1(Average::Micro),
                                     tl::metrics::auc()}));
    return trainer.evaluate(batches);
  };
  auto check = [](const tl::Logs& logs, const Json& expected, const std::vector<std::string>& keys) {
    for (const auto& key : keys) {
      INFO(key);
      CHECK(tl::log_value(logs, key == "auc_present" ? "auc" : key) == Approx(expected[key].get<double>()).epsilon(1e-9));
    }
  };
  {
    INFO("binary");
    auto logs = evaluate(t["zb"].unsqueeze(1), t["yb"], tl::loss::BinaryCrossEntropy());
    check(logs, ref["binary"], {"accuracy", "precision", "recall", "f1", "f1_micro", "auc"});
  }
  {
    INFO("five classes, one never a label, one never predicted");
    auto logs = evaluate(t["zc"], t["yc"], tl::loss::CrossEntropy());
    check(logs, ref["classes"], {"accuracy", "precision", "recall", "f1", "precision_micro", "f1_micro", "auc_present"});
  }
  {
    INFO("multi-label");
    auto logs = evaluate(t["zm"], t["ym"], tl::loss::BinaryCrossEntropy());
    check(logs, ref["multilabel"], {"accuracy", "precision", "recall", "f1", "f1_micro", "auc"});
  }
  // The report: per-class numbers and the confusion matrix, printed and drawn.
  const auto names = std::vector<std::string>{"T-shirt", "Trouser", "Pullover", "Dress", "Coat"};
  const auto report = tl::metrics::classification_report(t["zc"], t["yc"], names);
  const auto& classes = ref["classes"];
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 5; ++j) CHECK(report.confusion[i][j].item<int64_t>() == classes["confusion"][i][j].get<int64_t>());
  for (size_t c = 0; c < 5; ++c) {
    CHECK(report.precision[c] == Approx(classes["per_class_precision"][c].get<double>()));
    CHECK(report.recall[c] == Approx(classes["per_class_recall"][c].get<double>()));
    CHECK(report.f1[c] == Approx(classes["per_class_f1"][c].get<double>()));
    CHECK(report.support[c] == classes["support"][c].get<int64_t>());
  }
  CHECK(report.accuracy == Approx(classes["accuracy"].get<double>()));
  const auto text = report.to_string();
  CHECK_THAT(text, Catch::Matchers::Contains("precision    recall  f1-score   support"));
  CHECK_THAT(text, Catch::Matchers::Contains("macro avg"));
  CHECK_THAT(text, Catch::Matchers::Contains("Pullover"));
  const auto dir = tl::test::scratch_dir("report");
  report.plot(dir / "confusion.png");
  auto picture = tl::io::read_image(dir / "confusion.png");
  CHECK(picture.size(2) == 3);
  CHECK(picture.size(0) > 5 * 48);
}

TEST_CASE("No weight decay on biases and norms: timm's split of resnet18", "[train][optim]") {
  const auto ref = read_json("weight_decay.json");
  auto model = tl::make_backbone("resnet18");
  std::vector<tl::optim::GroupInfo> groups;
  tl::optim::build(tl::optim::AdamW(1e-3).weight_decay(0.05).no_decay_on_bias_and_norm(true), *model, &groups);
  std::set<std::string> decay, no_decay;
  for (const auto& g : groups) (g.weight_decay > 0 ? decay : no_decay).insert(g.names.begin(), g.names.end());
  CHECK(decay == ref["decay"].get<std::set<std::string>>());
  CHECK(no_decay == ref["no_decay"].get<std::set<std::string>>());
}

TEST_CASE("Gradient accumulation over 4 batches of 8 equals batches of 32, clipping bounds the gradients",
          "[train][accumulation]") {
  auto data = tl::test::fashion_subset(true, 25, {0, 1, 7, 9});  // 100 real images: groups of 32, 32, 32, 4
  for (auto opt : {tl::optim::SGD(0.05).momentum(0.9), tl::optim::AdamW(3e-3)}) {
    INFO(opt.name());
    torch::manual_seed(5);
    auto a = image_head(4);
    auto b = image_head(4);
    tl::io::load_state_dict(*b, tl::io::state_dict(*a));
    tl::Trainer big(a, quiet(opt));
    big.fit(fashion_loader(data, 32), tl::FitOptions().epochs(2));
    tl::Trainer accumulated(b, quiet(opt).gradient_accumulation_steps(4));
    accumulated.fit(fashion_loader(data, 8), tl::FitOptions().epochs(2));
    CHECK(big.updates() == 8);
    CHECK(accumulated.updates() == 8);
    for (const auto& item : tl::io::state_dict(*a)) {
      INFO(item.key());
      CHECK(torch::allclose(item.value(), tl::io::state_dict(*b)[item.key()], 1e-4, 1e-5));
    }
  }
  auto grad_norm = [](torch::nn::Module& m) {
    double s = 0, largest = 0;
    for (const auto& p : m.parameters())
      if (p.grad().defined()) s += p.grad().pow(2).sum().item<double>(), largest = std::max(largest, p.grad().abs().max().item<double>());
    return std::pair<double, double>{std::sqrt(s), largest};
  };
  torch::manual_seed(6);
  auto free_model = image_head(4);
  tl::Trainer unclipped(free_model, quiet(tl::optim::SGD(0.5)));
  unclipped.fit(fashion_loader(data, 50), tl::FitOptions().epochs(1));
  const auto [free_norm, free_max] = grad_norm(*free_model);
  CAPTURE(free_norm, free_max);
  REQUIRE(free_norm > 0.2);
  auto clipped_model = image_head(4);
  tl::Trainer by_norm(clipped_model, quiet(tl::optim::SGD(0.5)).clip_grad_norm(0.1));
  by_norm.fit(fashion_loader(data, 50), tl::FitOptions().epochs(1));
  CHECK(grad_norm(*clipped_model).first <= 0.1 * (1 + 1e-5));
  auto value_model = image_head(4);
  tl::Trainer by_value(value_model, quiet(tl::optim::SGD(0.5)).clip_grad_value(free_max / 10));
  by_value.fit(fashion_loader(data, 50), tl::FitOptions().epochs(1));
  CHECK(grad_norm(*value_model).second <= free_max / 10 * (1 + 1e-6));
  CHECK_THROWS_WITH(tl::Trainer(image_head(2), quiet(tl::optim::SGD()).gradient_accumulation_steps(0)),
                    Catch::Matchers::Contains("gradient_accumulation_steps"));
}

TEST_CASE("The timm_finetune preset trains on Fashion-MNIST with MixUp, CutMix, EMA and a cosine schedule, "
          "a resumed run repeats it exactly",
          "[train][recipes][mixup][ema]") {
  auto train = tl::test::fashion_subset(true, 60, {0, 1, 7, 9});  // 240 real images
  auto val = tl::test::fashion_subset(false, 25, {0, 1, 7, 9});
  const auto dir = tl::test::scratch_dir("preset");
  auto options = tl::recipes::timm_finetune(2e-3).verbose(0).device(torch::kCPU).gradient_accumulation_steps(2);
  options.ema(tl::EmaOptions().decay(0.98));  // a short run needs a short average
  torch::manual_seed(11);
  auto a = image_head(4);
  const auto init = tl::detail::clone_state(*a);
  torch::manual_seed(12);
  tl::Trainer full(a, options);
  auto history = full.fit(fashion_loader(train, 16, true), tl::FitOptions().epochs(6).validation(fashion_loader(val, 50)));
  CAPTURE(history["loss"], history["val_accuracy"], history["val_ema_accuracy"], history["lr"]);
  CHECK(history["loss"].back() < history["loss"].front());
  CHECK(history["val_accuracy"].back() > 0.6);       // four classes: chance is 0.25
  CHECK(history["val_ema_accuracy"].back() > 0.6);
  CHECK(history["lr"][0] > history["lr"][5]);        // the cosine came down
  CHECK(history["lr"][5] < 2e-3 * 0.1);
  CHECK(full.updates() == 6 * 8);                    // 15 batches an epoch, 8 updates
  // The EMA differs from the weights and is a model of its own.
  tl::ModelEma* ema = full.ema();
  REQUIRE(ema != nullptr);
  CHECK_FALSE(torch::equal(ema->state()["fc.weight"], tl::io::state_dict(*a)["fc.weight"]));

  // The same run interrupted after 3 of its 6 epochs and resumed in a fresh Trainer.
  auto b = image_head(4);
  tl::io::load_state_dict(*b, init);
  torch::manual_seed(12);
  {
    auto interrupt = std::make_shared<RecordRates>();
    interrupt->at_epoch_end = [&](tl::TrainingContext& ctx, int64_t epoch) {
      if (epoch == 2) ctx.save_checkpoint(dir / "state.ckpt"), ctx.stop_training();
    };
    tl::Trainer first(b, options);
    auto start = first.fit(fashion_loader(train, 16, true),
                           tl::FitOptions().epochs(6).validation(fashion_loader(val, 50)).callbacks({interrupt}));
    REQUIRE(start.size() == 3);
    for (size_t e = 0; e < 3; ++e) REQUIRE(start["loss"][e] == history["loss"][e]);
  }
  const auto saved = tl::load_training_state(dir / "state.ckpt");
  CHECK(saved.updates == 24);
  CHECK(saved.ema.contains("fc.weight"));
  torch::manual_seed(77);
  auto c = image_head(4);
  tl::Trainer resumed(c, options);
  const auto epoch = resumed.load_checkpoint(dir / "state.ckpt");
  auto rest = resumed.fit(fashion_loader(train, 16, true),
                          tl::FitOptions().epochs(6).initial_epoch(epoch).validation(fashion_loader(val, 50)));
  for (size_t e = 0; e < 3; ++e) {
    CHECK(rest["loss"][e] == history["loss"][e + 3]);
    CHECK(rest["lr"][e] == history["lr"][e + 3]);
    CHECK(rest["val_ema_loss"][e] == history["val_ema_loss"][e + 3]);
  }
  for (const auto& item : tl::io::state_dict(*a)) CHECK(torch::equal(item.value(), tl::io::state_dict(*c)[item.key()]));
  for (const auto& item : ema->state()) CHECK(torch::equal(item.value(), resumed.ema()->state()[item.key()]));
  // A checkpoint with an EMA needs a Trainer that keeps one.
  tl::Trainer without(image_head(4), quiet(options.optimizer()).schedule(options.schedule()));
  CHECK_THROWS_WITH(without.load_checkpoint(dir / "state.ckpt"), Catch::Matchers::Contains("TrainerOptions::ema"));
  // MixUp needs cross-entropy.
  tl::Trainer wrong(image_head(1), quiet(tl::optim::SGD()).loss(tl::loss::BinaryCrossEntropy()).mixup(tl::MixupOptions()));
  CHECK_THROWS_WITH(wrong.fit(fashion_loader(train, 16)), Catch::Matchers::Contains("CrossEntropy"));
}

TEST_CASE("Segmentation through fit(): CE + Dice on a real photo's mask, mean IoU, callbacks, TensorBoard, workers",
          "[train][segmentation]") {
  namespace td = tl::data;
  torch::manual_seed(5);
  // skimage's coins: bright coins on a dark background; a threshold gives the mask.
  auto photo = tl::load_image("/usr/lib/python3/dist-packages/skimage/data/coins.png", {64, 80});
  auto mask = (photo[0] > 110).to(torch::kLong);
  REQUIRE(mask.sum().item<int64_t>() > 500);
  td::SegmentationTensors data(photo.unsqueeze(0).expand({8, -1, -1, -1}).contiguous(),
                               mask.unsqueeze(0).expand({8, -1, -1}).contiguous());
  auto vgg = tl::make_backbone("vgg11", tl::BackboneOptions().include_top(false));
  tl::SegmentationModel model(vgg, {"block1_conv1", "block2_conv1", "block3_conv2"}, 2,
                              tl::SegmentationModelOptions().widths({32, 16}));
  const auto augment =
      td::SegmentationTransform(td::TrainTransform().flip().rotate(10).preprocessing(vgg->preprocessing()));
  auto loader = [&](int workers) {
    return td::segmentation_loader(data, augment, td::LoaderOptions().batch_size(4).seed(1).workers(workers));
  };
  {
    INFO("batches of (image, mask) do not depend on the worker count");
    auto a = loader(0), b = loader(2);
    auto ia = a.begin(), ib = b.begin();
    for (; ia != a.end() && ib != b.end(); ++ia, ++ib) {
      CHECK(torch::equal(ia->images, ib->images));
      CHECK(torch::equal(ia->labels, ib->labels));
      CHECK(ia->labels.sizes() == torch::IntArrayRef{4, 64, 80});
    }
    CHECK((ia == a.end() && ib == b.end()));
  }
  td::SegmentationTensors val_data(photo.unsqueeze(0), mask.unsqueeze(0));
  auto val = td::segmentation_loader(val_data, td::SegmentationTransform(td::TrainTransform().preprocessing(vgg->preprocessing())),
                                     td::LoaderOptions().batch_size(1).shuffle(false).workers(0));
  const auto dir = tl::test::scratch_dir("segmentation_fit");
  tl::Trainer trainer(model, quiet(tl::optim::Adam(1e-2))
                                 .loss(tl::loss::CrossEntropy().dice_weight(1.0))
                                 .metrics({tl::metrics::accuracy(), tl::metrics::mean_iou()}));
  auto history = trainer.fit(loader(2), tl::FitOptions().epochs(12).validation(val).callbacks(
                                            {std::make_shared<tl::CSVLogger>(dir / "log.csv"),
                                             std::make_shared<tl::TensorBoard>(dir / "tensorboard")}));
  CAPTURE(history["loss"], history["val_mean_iou"], history["val_accuracy"]);
  CHECK(history["loss"].back() < 0.6 * history["loss"].front());
  CHECK(history["val_mean_iou"].back() > 0.6);
  CHECK(history["val_accuracy"].back() > 0.8);
  // The metric is seg::mean_iou of the model's prediction.
  {
    torch::NoGradGuard no_grad;
    model->eval();
    auto logits = model->forward(vgg->preprocess(photo.unsqueeze(0)));
    CHECK(history["val_mean_iou"].back() == Approx(tl::seg::mean_iou(logits, mask.unsqueeze(0), 2)).epsilon(1e-6));
    CHECK(history["val_loss"].back() ==
          Approx((tl::seg::cross_entropy(logits, mask.unsqueeze(0)) + tl::seg::dice_loss(logits, mask.unsqueeze(0))).item<double>())
              .epsilon(1e-4));
  }
  std::ifstream csv(dir / "log.csv");
  std::string header;
  std::getline(csv, header);
  CHECK_THAT(header, Catch::Matchers::Contains("val_mean_iou"));
  bool events = false;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir / "tensorboard"))
    events |= f.path().filename().string().rfind("events.out.tfevents", 0) == 0 && f.file_size() > 100;
  CHECK(events);
  // An ignored pixel counts nowhere; classification losses refuse masks.
  auto masks = mask.unsqueeze(0).clone();
  masks[0][0][0] = -100;
  auto logits = torch::randn({1, 2, 64, 80});
  CHECK(tl::loss::CrossEntropy()(logits, masks).item<double>() == Approx(tl::seg::cross_entropy(logits, masks).item<double>()));
  CHECK_THROWS_WITH(tl::loss::BinaryCrossEntropy()(logits, masks), Catch::Matchers::Contains("segmentation masks"));
}
