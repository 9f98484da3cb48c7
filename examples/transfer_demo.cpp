// Transfer learning on Fashion-MNIST, offline, in a few minutes on two cores.
//
// 1. Pretrain a small VGG (BatchNorm, torchvision's VGG code and key names with
//    narrow blocks; 1 input channel, 32x32) on five classes (T-shirt, Trouser,
//    Pullover, Sandal, Bag). Saved as a torchvision-format .pth and reused on
//    later runs (delete it to pretrain again).
// 2. Transfer to the other five (Dress, Coat, Shirt, Sneaker, Ankle boot) with
//    100 labelled images per class, three ways: training from scratch, feature
//    extraction (frozen base, head on stored features), and warm-up + fine-tune.
// 3. Print a table (accuracy after the first epoch, best, epochs to 80%, accuracy
//    on the full test set of those classes, time) and write learning curves.
//
//     transfer_demo [output folder (default: transfer_demo_out)] [images per class (100)]
//                   [epochs (15)] [first layer to fine-tune (block1_conv1)] [keep BN frozen (0)]
//                   [warm-up epochs (1)]
#include <tlearn/tlearn.hpp>

#include <chrono>
#include <numeric>
#include <cstdio>
#include <iomanip>
#include <iostream>

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
    tl::VGGConfig{{1, 1, 1, 1, 1}, true, {16, 32, 64, 64, 128}});

/// Images of `classes` (relabelled 0..k-1), at most `per_class` each, as (N, 1, 32, 32) floats in 0..1.
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

tl::AnyBackbone base(const std::string& weights) {
  (void)registered;
  return tl::make_backbone("vgg_fmnist",
                           tl::BackboneOptions().include_top(false).in_chans(1).input_shape({32, 32}).weights(weights));
}

tl::Head head(int64_t classes) {
  return tl::Head(tl::HeadOptions(128).hidden({64}).dropout(0.3).classes(classes));
}

std::string arg(int argc, char** argv, int i, const char* fallback) { return argc > i ? argv[i] : fallback; }

double seconds_since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

struct Row {
  std::string method;
  tl::History history;
  double test_accuracy = 0, seconds = 0;
};

}  // namespace

int main(int argc, char** argv) try {
  const std::filesystem::path out = argc > 1 ? argv[1] : "transfer_demo_out";
  std::filesystem::create_directories(out);
  torch::manual_seed(0);
  const auto t_start = clock_type::now();
  tl::data::FashionMNIST train_set(tl::data::FashionMNISTOptions().train(true).rgb(false));
  tl::data::FashionMNIST test_set(tl::data::FashionMNISTOptions().train(false).rgb(false));
  const std::vector<int64_t> source_classes{0, 1, 2, 5, 8}, target_classes{3, 4, 6, 7, 9};
  auto opts = [](int64_t batch, bool shuffle) { return tl::data::LoaderOptions().batch_size(batch).shuffle(shuffle).seed(42).workers(0); };

  // ---- 1. pretraining on the source classes -------------------------------
  const auto pretrained = out / "vgg_fmnist_source5.pth";
  if (!std::filesystem::exists(pretrained)) {
    std::cout << "== Pretraining vgg_fmnist on T-shirt, Trouser, Pullover, Sandal, Bag (10000 images, 4 epochs) ==\n";
    auto source = subset(train_set, source_classes, 2000);
    tl::Classifier model(base(""), head(5));
    tl::Trainer trainer(model, tl::TrainerOptions().optimizer(tl::optim::Adam(2e-3)));
    trainer.fit(tl::data::loader(source, {}, opts(64, true)), tl::FitOptions().epochs(4).validation(
        tl::data::loader(subset(test_set, source_classes, 200), {}, opts(256, false))));
    tl::io::save_pth(tl::io::state_dict(*model->backbone), pretrained);  // torchvision names: features.0.weight, ...
    std::cout << "saved " << pretrained.string() << "\n";
  } else {
    std::cout << "== Reusing pretrained weights " << pretrained.string() << " (delete it to pretrain again) ==\n";
  }

  // ---- 2. the target task: 100 labelled images per class -------------------
  const int64_t per_class = std::stoll(arg(argc, argv, 2, "100")), epochs = std::stoll(arg(argc, argv, 3, "15"));
  const std::string unfreeze = arg(argc, argv, 4, "block1_conv1");
  // Keras keeps a pretrained base's BatchNorm in inference mode when fine-tuning (the
  // recipe's default). Here the source task's statistics (5 other classes) fit the
  // new classes less well than the target's own: unfreezing them scores higher.
  const bool keep_bn_frozen = arg(argc, argv, 5, "0") != "0";
  const int64_t warmup = std::stoll(arg(argc, argv, 6, "1"));
  auto train = subset(train_set, target_classes, per_class);
  auto val = subset(test_set, target_classes, 200);  // learning curves: 1000 test images per epoch
  auto test = subset(test_set, target_classes, 0);   // final numbers: the full 5000
  auto train_loader = [&] { return tl::data::loader(train, {}, opts(32, true)); };
  auto val_loader = [&] { return tl::data::loader(val, {}, opts(256, false)); };
  std::vector<Row> rows;

  auto finish = [&](const std::string& method, tl::Classifier& model, tl::History h, clock_type::time_point t0) {
    Row r{method, std::move(h), 0, seconds_since(t0)};
    tl::Trainer eval(model, tl::TrainerOptions().verbose(0));
    r.test_accuracy = tl::log_value(eval.evaluate(tl::data::loader(test, {}, opts(500, false))), "accuracy");
    r.history.plot(out / (method + ".png"));
    r.history.write_csv(out / (method + ".csv"));
    rows.push_back(std::move(r));
  };

  {
    std::cout << "\n== From scratch: random weights, everything trained (" << epochs << " epochs) ==\n";
    torch::manual_seed(1);
    const auto t0 = clock_type::now();
    tl::Classifier model(base(""), head(5));
    tl::Trainer trainer(model, tl::TrainerOptions().optimizer(tl::optim::Adam(1e-3)));
    auto h = trainer.fit(train_loader(), tl::FitOptions().epochs(epochs).validation(val_loader()));
    finish("scratch", model, h, t0);
  }
  {
    std::cout << "\n== Feature extraction: frozen pretrained base run once, head trained on stored features ==\n";
    torch::manual_seed(1);
    const auto t0 = clock_type::now();
    tl::Classifier model(base(pretrained.string()), head(5));
    auto h = tl::feature_extraction(model, train_loader(), tl::FeatureExtractionOptions().epochs(epochs)
                                        .trainer(tl::TrainerOptions().optimizer(tl::optim::Adam(1e-2)))
                                        .validation(val_loader()));
    finish("feature_extraction", model, h, t0);
  }
  {
    std::cout << "\n== Warm-up (" << warmup << " epochs, base frozen) then fine-tune from " << unfreeze << " ("
              << epochs - warmup << " epochs, lr / 10, BatchNorm " << (keep_bn_frozen ? "kept frozen" : "unfrozen") << ") ==\n";
    torch::manual_seed(1);
    const auto t0 = clock_type::now();
    tl::Classifier model(base(pretrained.string()), head(5));
    auto h = tl::fine_tune(model, train_loader(), tl::FineTuneOptions().warmup_epochs(warmup).finetune_epochs(epochs - warmup)
                               .unfreeze_from(unfreeze).keep_batchnorm_frozen(keep_bn_frozen)
                               .warmup_optimizer(tl::optim::Adam(1e-2)).finetune_optimizer(tl::optim::Adam(1e-3))
                               .fit(tl::FitOptions().validation(val_loader())));
    finish("fine_tune", model, h, t0);
  }

  // ---- 3. the table and the comparison plot ---------------------------------
  tl::History compare;
  for (int64_t e = 0; e < epochs; ++e) {
    tl::Logs logs;
    for (const auto& r : rows) logs.emplace_back(r.method + "_val_accuracy", r.history["val_accuracy"][size_t(e)]);
    compare.add(e, logs);
  }
  compare.plot(out / "comparison.png");
  compare.write_csv(out / "comparison.csv");

  std::cout << "\nTransfer to Dress, Coat, Shirt, Sneaker, Ankle boot: " << per_class << " training images per class\n"
            << "val = 1000 test images per epoch; test = all 5000 test images of those classes\n\n";
  std::cout << std::left << std::setw(20) << "method" << std::right << std::setw(14) << "val acc ep 1" << std::setw(14)
            << "best val acc" << std::setw(16) << "epochs to 80%" << std::setw(16) << "mean val 1-5" << std::setw(12) << "test acc" << std::setw(10)
            << "time s" << "\n";
  for (const auto& r : rows) {
    const auto acc = r.history["val_accuracy"];
    int64_t to80 = -1;
    for (size_t e = 0; e < acc.size() && to80 < 0; ++e)
      if (acc[e] >= 0.8) to80 = int64_t(e + 1);
    std::cout << std::left << std::setw(20) << r.method << std::right << std::fixed << std::setprecision(4)
              << std::setw(14) << acc.front() << std::setw(14) << *std::max_element(acc.begin(), acc.end())
              << std::setw(16) << (to80 > 0 ? std::to_string(to80) : std::string("never")) << std::setw(16)
              << std::accumulate(acc.begin(), acc.begin() + std::min<long>(5, long(acc.size())), 0.0) /
                     double(std::min<size_t>(5, acc.size()))
              << std::setw(12)
              << r.test_accuracy << std::setw(10) << std::setprecision(1) << r.seconds << "\n";
  }
  std::cout << "\nLearning curves: " << (out / "comparison.png").string() << " and one PNG + CSV per method in "
            << out.string() << "\nTotal " << std::setprecision(0) << seconds_since(t_start) << " s\n";
  // Verdict: the warm-up + fine-tune recipe against training from scratch, on the three counts.
  auto mean5 = [](const std::vector<double>& v) {
    return std::accumulate(v.begin(), v.begin() + std::min<long>(5, long(v.size())), 0.0) / double(std::min<size_t>(5, v.size()));
  };
  const auto& scratch = rows[0];
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto& t = rows[i];
    const auto a = t.history["val_accuracy"], b = scratch.history["val_accuracy"];
    std::cout << t.method << " vs scratch: starts " << (a.front() > b.front() ? "higher" : "NOT higher") << ", learns "
              << (mean5(a) > mean5(b) ? "faster" : "NOT faster") << " (mean val accuracy of epochs 1-5), ends "
              << (t.test_accuracy > scratch.test_accuracy ? "higher" : "NOT higher") << " (test accuracy)\n";
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "transfer_demo: " << e.what() << "\n";
  return 1;
}
