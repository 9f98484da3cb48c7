// Feature extraction vs end-to-end training with a frozen base: seconds per epoch.
//
//     feature_extraction [model=vgg11] [images=256] [size=32] [epochs=9]
//
// Both train the same head on the same Fashion-MNIST images (grey replicated to
// RGB, resized), same batches; the frozen base runs every epoch end to end, but
// only once (the extraction pass) on the feature path. Prints the time of the
// extraction pass, the median epoch of each path over the epochs after the first
// (8 by default) and the ratio. That median is the one way tlearn quotes this ratio.
#include <tlearn/tlearn.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>

namespace tl = tlearn;
using clock_type = std::chrono::steady_clock;

namespace {
/// Records the wall time of each epoch.
class EpochTimer : public tl::Callback {
 public:
  void on_epoch_begin(tl::TrainingContext&, int64_t) override { t0_ = clock_type::now(); }
  void on_epoch_end(tl::TrainingContext&, int64_t, const tl::Logs&) override {
    seconds.push_back(std::chrono::duration<double>(clock_type::now() - t0_).count());
  }
  /// Median of the epochs after the first (which pays for warm-up).
  double steady() const {
    std::vector<double> s(seconds.begin() + (seconds.size() > 1 ? 1 : 0), seconds.end());
    std::sort(s.begin(), s.end());
    return s[s.size() / 2];
  }
  std::vector<double> seconds;

 private:
  clock_type::time_point t0_;
};
}  // namespace

int main(int argc, char** argv) try {
  const std::string name = argc > 1 ? argv[1] : "vgg11";
  const int64_t n = argc > 2 ? std::stoll(argv[2]) : 256, size = argc > 3 ? std::stoll(argv[3]) : 32;
  // Enough epochs that the median skips the slow first few (lazy thread-pool and
  // allocator warm-up make up to three of the 4 ms head epochs take 60 ms).
  const int64_t epochs = argc > 4 ? std::stoll(argv[4]) : 9;
  torch::manual_seed(0);
  tl::data::FashionMNIST fm(tl::data::FashionMNISTOptions().train(true));
  std::vector<size_t> idx(static_cast<size_t>(n));
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  tl::data::Subset data(tl::data::share(std::move(fm)), idx);
  auto transform = tl::data::resize({size, size}).then(tl::data::preprocess(tl::Preprocessing::Torch));
  auto lo = tl::data::LoaderOptions().batch_size(32).shuffle(true).seed(1).workers(2);
  auto make_model = [&] {
    auto base = tl::make_backbone(name, tl::BackboneOptions().include_top(false).input_shape({size, size}));
    return tl::Classifier(base, tl::Head(tl::HeadOptions(base->output_channels()).hidden({128}).classes(10)));
  };
  auto opts = tl::TrainerOptions().optimizer(tl::optim::Adam(1e-3)).verbose(0);

  auto e2e = make_model();
  e2e->backbone->set_trainable(tl::all(), false);
  auto t_e2e = std::make_shared<EpochTimer>();
  tl::Trainer(e2e, opts).fit(tl::data::loader(data, transform, lo), tl::FitOptions().epochs(epochs).callbacks({t_e2e}));

  auto fx = make_model();
  fx->backbone->set_trainable(tl::all(), false);
  const auto t0 = clock_type::now();
  auto features = tl::extract_features(fx->backbone, tl::data::loader(data, transform, lo));
  const double extraction = std::chrono::duration<double>(clock_type::now() - t0).count();
  auto t_fx = std::make_shared<EpochTimer>();
  tl::Trainer(fx->head, opts).fit(tl::data::loader(features, {}, tl::data::LoaderOptions().batch_size(32).shuffle(true).seed(1).workers(0)),
                                  tl::FitOptions().epochs(epochs).callbacks({t_fx}));

  std::cout << "model " << name << ", " << n << " images at " << size << "x" << size << ", batch 32, "
            << torch::get_num_threads() << " threads\n"
            << "end to end, frozen base: " << t_e2e->steady() << " s/epoch\n"
            << "feature extraction pass: " << extraction << " s (once)\n"
            << "head on stored features: " << t_fx->steady() << " s/epoch\n"
            << "ratio (median of the " << epochs - 1 << " epochs after the first): " << t_e2e->steady() / t_fx->steady() << "x\n"
            << "head epochs (s):";
  for (double seconds : t_fx->seconds) std::cout << " " << seconds;
  std::cout << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "feature_extraction: " << e.what() << "\n";
  return 1;
}
