// Transfer learning on Fashion-MNIST, offline, in a few minutes on two cores.
//
// 1. Pretrain a small VGG (BatchNorm, torchvision's VGG code and key names with
//    narrow blocks; 1 input channel, 32x32) on eight classes (Trouser, Pullover,
//    Dress, Coat, Sandal, Sneaker, Bag, Ankle boot), each shown at four
//    rotations: 32 labels, which teach the base more general features than
//    eight would. Saved as a torchvision-format .pth and reused on later runs
//    (delete it to pretrain again).
// 2. Transfer to the two classes left out, T-shirt/top and Shirt, the pair
//    Fashion-MNIST confuses most (as Keras' tutorial transfers an ImageNet base
//    to cats vs dogs), with few labelled images per class (10 by default, in
//    batches of 4; few images are where transfer matters).
//    Each method runs with its recipe's defaults: training from scratch (Adam
//    1e-3), feature extraction (frozen base, head on stored features, Adam
//    1e-3), and warm-up + fine-tune (Keras' recipe: the head for 5 epochs at
//    Adam 1e-3, then the whole base with BatchNorm kept in inference mode for 5
//    more at 1e-4). Repeated over several seeds, each with other training
//    images and initial weights.
// 3. Print a table (mean and standard deviation over the seeds of the validation
//    accuracy after the first epoch, its mean over epochs 1-5, and the accuracy on
//    the full test set of those classes), write learning curves, save the
//    fine-tuned model with save_model and check that load_model gives it back.
//
//     transfer_demo [output folder (default: transfer_demo_out)] [images per class (10)] [seeds (3)] [--recipe timm]
//                   [--rate R] [--check]
//
// --rate R replaces the defaults' rate: every method trains with Adam at R, and
// fine-tuning at R / 10 (Keras' ratio).
//
// --check makes the exit status 3 unless fine_tune beats scratch on all three
// counts (the test suite runs it so).
//
// --recipe timm adds a method: the same warm-up + fine-tune with
// recipes::timm_finetune()'s training options (AdamW without decay on biases and
// norms, cosine schedule after a warm-up, MixUp / CutMix with label smoothing,
// gradient clipping, EMA of the weights) in both stages.
#include <tlearn/tlearn.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <numeric>
#include <optional>
#include <sstream>

namespace tl = tlearn;
using clock_type = std::chrono::steady_clock;

namespace {

const bool registered = tl::register_variant<tl::VGGImpl>(
    [] {
      auto s = tl::detail::vgg_spec("vgg_fmnist", "none.pth");
      s.weights.clear();  // no download: the demo makes its own weights
      s.min_size = 32;
      s.default_size = 32;
      return s;
    }(),
    tl::VGGConfig().stages({1, 1, 1, 1, 1}).batch_norm(true).widths({16, 32, 64, 64, 128}));

const char* kTargetNames[] = {"T-shirt/top", "Shirt"};

/// Images of `classes` (relabelled 0..k-1), at most `per_class` each, from index
/// `skip` on, as (N, 1, 32, 32) floats in 0..1.
tl::data::TensorDataset subset(const tl::data::FashionMNIST& f, const std::vector<int64_t>& classes, int64_t per_class,
                               size_t skip = 0) {
  std::vector<torch::Tensor> images;
  std::vector<int64_t> labels, seen(classes.size(), 0);
  for (size_t i = skip; i < f.size(); ++i) {
    auto it = std::find(classes.begin(), classes.end(), f.label(i));
    if (it == classes.end()) continue;
    const auto c = size_t(it - classes.begin());
    if (per_class > 0 && seen[c] >= per_class) continue;
    ++seen[c];
    images.push_back(f.images()[int64_t(i)]);
    labels.push_back(int64_t(c));
  }
  auto x = torch::constant_pad_nd(torch::stack(images).to(torch::kFloat).div(255).unsqueeze(1), {2, 2, 2, 2});
  return tl::data::TensorDataset(x, torch::tensor(labels));
}

/// Each image at 0, 90, 180 and 270 degrees; label = class * 4 + quarter turns.
tl::data::TensorDataset rotations(const tl::data::TensorDataset& d) {
  std::vector<torch::Tensor> images, labels;
  for (int64_t turns = 0; turns < 4; ++turns) {
    images.push_back(torch::rot90(d.images(), turns, {2, 3}));
    labels.push_back(d.labels() * 4 + turns);
  }
  return tl::data::TensorDataset(torch::cat(images), torch::cat(labels));
}

tl::AnyBackbone base(const std::string& weights) {
  (void)registered;
  return tl::make_backbone("vgg_fmnist",
                           tl::BackboneOptions().include_top(false).in_chans(1).input_shape({32, 32}).weights(weights));
}

/// The new head. On a pretrained base its output layer starts at zero, as Big
/// Transfer and ViT initialise a transferred head: the first steps then follow
/// the features' difference between the classes, not a random direction that a
/// few steps cannot undo. A network trained from scratch keeps the usual random
/// initialisation.
tl::Head head(bool zero_output) {
  tl::Head h(tl::HeadOptions(128).dropout(0.2).classes(2).class_names({kTargetNames[0], kTargetNames[1]}));
  if (zero_output) {
    torch::NoGradGuard no_grad;
    for (const char* name : {"fc.weight", "fc.bias"}) h->named_parameters()[name].zero_();
  }
  return h;
}

std::string arg(const std::vector<std::string>& args, size_t i, const char* fallback) {
  return args.size() > i ? args[i] : fallback;
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double mean_of(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }

double std_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return v.size() > 1 ? std::sqrt(s / double(v.size() - 1)) : 0.0;
}

/// One method on one seed.
struct Run {
  tl::History history;
  double test_accuracy = 0, seconds = 0;
  double first() const { return history["val_accuracy"].front(); }
  double early() const {  // mean validation accuracy over epochs 1-5: how fast it learns
    const auto acc = history["val_accuracy"];
    return std::accumulate(acc.begin(), acc.begin() + std::min<long>(5, long(acc.size())), 0.0) /
           double(std::min<size_t>(5, acc.size()));
  }
};

}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::string> args{argv[0]};  // the positional ones
  bool timm_recipe = false, check = false;
  std::optional<double> rate;  // --rate: every method's Adam rate instead of its recipe's default
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--check") {
      check = true;
    } else if (a == "--recipe") {
      if (i + 1 >= argc || std::string(argv[i + 1]) != "timm") throw tl::Error("--recipe takes 'timm'");
      timm_recipe = true, ++i;
    } else if (a == "--rate") {
      if (i + 1 >= argc) throw tl::Error("--rate takes a learning rate, e.g. --rate 1e-3");
      const std::string value = argv[++i];
      char* end = nullptr;
      rate = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0' || !(*rate > 0))
        throw tl::Error("--rate takes a positive learning rate, e.g. --rate 1e-3; got '" + value + "'");
    } else {
      args.push_back(a);
    }
  }
  const std::filesystem::path out = arg(args, 1, "transfer_demo_out");
  std::filesystem::create_directories(out);
  const int64_t per_class = std::stoll(arg(args, 2, "10")), seeds = std::stoll(arg(args, 3, "3"));
  torch::manual_seed(0);
  const auto t_start = clock_type::now();
  tl::data::FashionMNIST train_set(tl::data::FashionMNISTOptions().train(true).rgb(false));
  tl::data::FashionMNIST test_set(tl::data::FashionMNISTOptions().train(false).rgb(false));
  const std::vector<int64_t> source_classes{1, 2, 3, 4, 5, 7, 8, 9}, target_classes{0, 6};
  auto opts = [](int64_t batch, bool shuffle, uint64_t seed = 42) {
    return tl::data::LoaderOptions().batch_size(batch).shuffle(shuffle).seed(seed).workers(0);
  };

  // ---- 1. pretraining on the source classes -------------------------------
  const auto pretrained = out / "vgg_fmnist_source8_rot4_v4.pth";  // v4: eight classes at four rotations
  if (!std::filesystem::exists(pretrained)) {
    std::cout << "== Pretraining vgg_fmnist on Trouser, Pullover, Dress, Coat, Sandal, Sneaker, Bag, Ankle boot at 0, "
                 "90, 180 and 270 degrees (32 labels, 60000 images, 4 epochs) ==\n";
    auto source = rotations(subset(train_set, source_classes, 1875));
    auto source_val = rotations(subset(test_set, source_classes, 50));
    tl::Classifier model(base(""), tl::Head(tl::HeadOptions(128).hidden({64}).dropout(0.3).classes(32)));
    tl::Trainer trainer(model, tl::TrainerOptions().optimizer(tl::optim::Adam(2e-3)));
    trainer.fit(tl::data::loader(source, {}, opts(64, true)),
                tl::FitOptions().epochs(4).validation(tl::data::loader(source_val, {}, opts(250, false))));
    tl::io::save_pth(tl::io::state_dict(*model->backbone), pretrained);  // torchvision names: features.0.weight, ...
    std::cout << "saved " << pretrained.string() << "\n";
  } else {
    std::cout << "== Reusing pretrained weights " << pretrained.string() << " (delete it to pretrain again) ==\n";
  }

  // ---- 2. the target task: few labelled images per class, several seeds -----
  auto val = subset(test_set, target_classes, 500);  // learning curves: 1000 test images per epoch
  auto test = subset(test_set, target_classes, 0);   // final numbers: the full 2000
  auto val_loader = [&] { return tl::data::loader(val, {}, opts(500, false)); };
  auto quiet = tl::TrainerOptions().verbose(0);  // the Trainer's default optimizer: Adam 1e-3
  if (rate) quiet.optimizer(tl::optim::Adam(*rate));
  const int64_t epochs = 10;  // every recipe's default length (fine_tune: 5 warm-up + 5 fine-tuning)
  std::map<std::string, std::vector<Run>> runs;
  std::vector<std::string> methods{"scratch", "feature_extraction", "fine_tune"};
  if (timm_recipe) methods.push_back("fine_tune_timm");
  std::optional<tl::Classifier> kept;  // seed 0's fine-tuned model, saved below

  std::cout << "\n== Transfer to " << per_class << " images per class of T-shirt/top and Shirt; " << seeds
            << " seeds, each with other images and initial weights; Adam at " << rate.value_or(1e-3)
            << ", fine-tuning at " << rate.value_or(1e-3) / 10 << " ==\n";
  for (int64_t seed = 0; seed < seeds; ++seed) {
    auto train = subset(train_set, target_classes, per_class, size_t(seed) * 5000);
    auto train_loader = [&] { return tl::data::loader(train, {}, opts(4, true, uint64_t(seed))); };
    auto finish = [&](const std::string& method, tl::Classifier& model, tl::History h, clock_type::time_point t0) {
      Run r{std::move(h), 0, seconds_since(t0)};
      tl::Trainer eval(model, quiet);
      r.test_accuracy = tl::log_value(eval.evaluate(tl::data::loader(test, {}, opts(500, false))), "accuracy");
      std::cout << "seed " << seed << "  " << std::left << std::setw(22) << method << std::right << std::fixed
                << std::setprecision(4) << "val acc ep 1 " << r.first() << "   mean ep 1-5 " << r.early()
                << "   test acc " << r.test_accuracy << std::setprecision(1) << "   " << r.seconds << " s\n";
      runs[method].push_back(std::move(r));
    };
    {  // from scratch: random weights, everything trained
      torch::manual_seed(seed + 1);
      const auto t0 = clock_type::now();
      tl::Classifier model(base(""), head(false));
      tl::Trainer trainer(model, quiet);
      auto h = trainer.fit(train_loader(), tl::FitOptions().epochs(epochs).validation(val_loader()));
      finish("scratch", model, h, t0);
    }
    {  // feature extraction: the frozen pretrained base runs once, the head trains on stored features
      torch::manual_seed(seed + 1);
      const auto t0 = clock_type::now();
      tl::Classifier model(base(pretrained.string()), head(true));
      auto h = tl::feature_extraction(
          model, train_loader(), tl::FeatureExtractionOptions().epochs(epochs).trainer(quiet).validation(val_loader()));
      finish("feature_extraction", model, h, t0);
    }
    {  // warm-up + fine-tune with the recipe's defaults, the whole base unfrozen
      torch::manual_seed(seed + 1);
      const auto t0 = clock_type::now();
      tl::Classifier model(base(pretrained.string()), head(true));
      auto recipe = tl::FineTuneOptions()
                        .unfreeze_from("block1_conv1")
                        .trainer(quiet)
                        .fit(tl::FitOptions().validation(val_loader()));
      if (rate) recipe.warmup_optimizer(tl::optim::Adam(*rate)).finetune_optimizer(tl::optim::Adam(*rate / 10));
      auto h = tl::fine_tune(model, train_loader(), recipe);
      finish("fine_tune", model, h, t0);
      if (seed == 0) kept = model;
    }
    if (timm_recipe) {  // the same two stages with timm's training options; AdamW at fine_tune's rates
      torch::manual_seed(seed + 1);
      const auto t0 = clock_type::now();
      tl::Classifier model(base(pretrained.string()), head(true));
      auto adamw = [](double lr) { return tl::optim::AdamW(lr).weight_decay(0.05).no_decay_on_bias_and_norm(true); };
      auto h = tl::fine_tune(model, train_loader(),
                             tl::FineTuneOptions()
                                 .unfreeze_from("block1_conv1")
                                 .warmup_optimizer(adamw(rate.value_or(1e-3)))
                                 .finetune_optimizer(adamw(rate.value_or(1e-3) / 10))
                                 .trainer(tl::recipes::timm_finetune().verbose(0))
                                 .fit(tl::FitOptions().validation(val_loader())));
      finish("fine_tune_timm", model, h, t0);
    }
  }

  // ---- 3. the table, the curves, the saved model -----------------------------
  tl::History compare;
  compare.title("validation accuracy, mean of " + std::to_string(seeds) + " seeds, " + std::to_string(per_class) +
                " images per class");
  for (int64_t e = 0; e < epochs; ++e) {
    tl::Logs logs;
    for (const auto& m : methods) {
      std::vector<double> at;
      for (const auto& r : runs[m]) at.push_back(r.history["val_accuracy"][size_t(e)]);
      logs.emplace_back(m, mean_of(at));
    }
    compare.add(e, logs);
  }
  compare.mark(runs["fine_tune"].front().history.marks().front().first, "fine_tune: fine-tuning starts");
  compare.plot(out / "comparison.png");
  compare.write_csv(out / "comparison.csv");
  for (const auto& m : methods) {
    auto h = runs[m].front().history;
    h.title(m + " (seed 0)");
    h.plot(out / (m + ".png"));
    h.write_csv(out / (m + ".csv"));
  }

  std::cout << "\nval = 1000 test images per epoch; test = all 2000 test images of those classes; mean +- standard "
               "deviation over "
            << seeds << " seeds\n\n";
  std::cout << std::left << std::setw(22) << "method" << std::right << std::setw(20) << "val acc ep 1" << std::setw(20)
            << "mean val ep 1-5" << std::setw(20) << "test acc" << std::setw(10) << "time s\n";
  std::map<std::string, std::array<double, 3>> means;
  for (const auto& m : methods) {
    std::vector<double> first, early, final_acc, secs;
    for (const auto& r : runs[m]) {
      first.push_back(r.first());
      early.push_back(r.early());
      final_acc.push_back(r.test_accuracy);
      secs.push_back(r.seconds);
    }
    means[m] = {mean_of(first), mean_of(early), mean_of(final_acc)};
    auto cell = [](const std::vector<double>& v) {
      std::ostringstream s;
      s << std::fixed << std::setprecision(4) << mean_of(v) << " +- " << std_of(v);
      return s.str();
    };
    std::cout << std::left << std::setw(22) << m << std::right << std::setw(20) << cell(first) << std::setw(20)
              << cell(early) << std::setw(20) << cell(final_acc) << std::setw(9) << std::fixed << std::setprecision(1)
              << mean_of(secs) << "\n";
  }
  bool fine_tune_wins = false;
  for (const std::string m : {"feature_extraction", "fine_tune"}) {
    const auto& a = means[m];
    const auto& b = means["scratch"];
    std::cout << m << " vs scratch: starts " << (a[0] > b[0] ? "higher" : "NOT higher") << ", learns "
              << (a[1] > b[1] ? "faster" : "NOT faster") << ", ends " << (a[2] > b[2] ? "higher" : "NOT higher")
              << " (means over the seeds)\n";
    if (m == "fine_tune") fine_tune_wins = a[0] > b[0] && a[1] > b[1] && a[2] > b[2];
  }

  // The whole fine-tuned model in one file, rebuilt without this program's code.
  const auto saved = out / "fine_tuned.safetensors";
  tl::save_model(*kept, saved);
  auto loaded = tl::load_model<tl::Classifier>(saved);
  auto probs = loaded->predict(test.images());
  const double reloaded = probs.argmax(1).eq(test.labels()).to(torch::kDouble).mean().item<double>();
  std::cout << "\nsave_model -> " << saved.string() << "; load_model + predict: test accuracy " << std::setprecision(4)
            << reloaded << " (seed 0 before saving: " << runs["fine_tune"].front().test_accuracy << "); first test "
            << "image: " << loaded->head->options().class_names()[size_t(probs[0].argmax().item<int64_t>())] << " ("
            << probs[0].max().item<double>() << ")\n";
  std::cout << "Learning curves: " << (out / "comparison.png").string() << " and one PNG + CSV per method in "
            << out.string() << "\nTotal " << std::setprecision(0) << seconds_since(t_start) << " s\n";
  if (check && !fine_tune_wins) {
    std::cerr << "transfer_demo --check: fine_tune does not beat scratch on all three counts (table above)\n";
    return 3;
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "transfer_demo: " << e.what() << "\n";
  return 1;
}
