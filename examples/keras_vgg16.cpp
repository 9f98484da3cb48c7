// The VGG16 walk-through of the Keras tutorials, in C++ with Keras' own weight files:
//
//   1. VGG16(weights="imagenet") classifies photos: Keras' "caffe" preprocessing,
//      predict, decode_predictions (top 3);
//   2. transfer: VGG16(weights="imagenet", include_top=False, input_shape=(150, 150, 3)),
//      then Flatten, Dense(256, relu), Dropout(0.5), Dense(1, sigmoid); layers[:15]
//      frozen; SGD(1e-4, momentum 0.9) on binary cross-entropy; fit on an image folder;
//   3. save the fine-tuned base for Keras: keras.applications.VGG16(weights=None,
//      include_top=False, input_shape=(150, 150, 3)).load_weights("vgg16_base.weights.h5").
//
//     keras_vgg16 [--photos A.jpg B.jpg ...] (TRAIN_DIR VAL_DIR | --fashion-mnist)
//                 [--weights imagenet|none] [--size 150] [--epochs 5] [--lr 1e-4] [--out DIR]
//
// The weights are Keras Applications' files, found where Keras caches them
// ($KERAS_HOME/models or ~/.keras/models) or downloaded there once. Offline and
// without them, the program says exactly where to put them and goes on from random
// weights, so step 2 still runs (its accuracy then means nothing). --fashion-mnist
// writes Sneaker vs Ankle boot as image folders first: a run that needs no download.
#include <tlearn/tlearn.hpp>

#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

#include "fashion_folders.hpp"

namespace tl = tlearn;

namespace {


/// keras.VGG16 with `options`, or from random weights (and a note why) when Keras'
/// file is neither cached nor downloadable.
tl::AnyBackbone vgg16_or_random(tl::BackboneOptions options) {
  try {
    return tl::make_backbone("keras.VGG16", options);
  } catch (const tl::Error& e) {
    if (options.weights().empty()) throw;
    std::cout << "No Keras weights: " << e.what() << "\nGoing on from random weights.\n";
    return tl::make_backbone("keras.VGG16", options.weights(""));
  }
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<std::string> photos;
  std::string train_dir, val_dir, weights = "imagenet", out = "keras_vgg16_out";
  int64_t size = 150, epochs = 5;
  double lr = 1e-4;
  bool fashion = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) throw tl::Error(a + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--photos") {
      while (i + 1 < argc && argv[i + 1][0] != '-') photos.push_back(argv[++i]);
    } else if (a == "--weights") {
      weights = value();
      if (weights == "none") weights = "";
    } else if (a == "--size") {
      size = std::stoll(value());
    } else if (a == "--epochs") {
      epochs = std::stoll(value());
    } else if (a == "--lr") {
      lr = std::stod(value());
    } else if (a == "--out") {
      out = value();
    } else if (a == "--fashion-mnist") {
      fashion = true;
    } else if (!a.empty() && a[0] == '-') {
      throw tl::Error("unknown option '" + a + "'");
    } else if (train_dir.empty()) {
      train_dir = a;
    } else if (val_dir.empty()) {
      val_dir = a;
    } else {
      throw tl::Error("unexpected argument '" + a + "'");
    }
  }
  // The new layers' initial weights and dropout masks: one seed, so a run can be repeated.
  torch::manual_seed(1);
  if (fashion) {
    train_dir = out + "/data/train";
    val_dir = out + "/data/validation";
    examples::write_fashion_folders(out, train_dir, val_dir);
  }
  if (train_dir.empty() || val_dir.empty()) {
    std::cerr << "usage: keras_vgg16 [--photos A.jpg ...] (TRAIN_DIR VAL_DIR | --fashion-mnist) [--weights "
                 "imagenet|none]\n                   [--size 150] [--epochs 5] [--lr 1e-4] [--out DIR]\n";
    return 2;
  }
  std::filesystem::create_directories(out);

  // 1. model = VGG16(weights="imagenet"); preds = model.predict(preprocess_input(x)); decode_predictions(preds, top=3)
  if (!photos.empty()) {
    auto model = vgg16_or_random(tl::BackboneOptions().weights(weights));
    if (model->options().weights().empty()) {
      std::cout << "Step 1 skipped: ImageNet predictions need Keras' weights.\n";
    } else {
      auto transform = tl::data::eval_transform(model);  // 224 x 224, Keras' "caffe" preprocessing
      for (const auto& photo : photos) {
        auto x = transform(tl::io::read_image(photo, transform.read_options())).unsqueeze(0);
        std::cout << photo << "\n";
        const auto top3 = tl::imagenet::decode_predictions(model->predict(x), 3);
        for (const auto& p : top3[0])
          std::cout << "  " << p.wnid << "  " << std::left << std::setw(24) << p.name << std::right << std::fixed
                    << std::setprecision(4) << p.score << "\n";
      }
    }
  }

  // 2. conv_base = VGG16(weights="imagenet", include_top=False, input_shape=(150, 150, 3))
  tl::data::ImageFolder train_set(train_dir), val_set(val_dir);
  if (train_set.classes().size() != 2) throw tl::Error("this walk-through is a binary classifier: give two classes");
  auto base = vgg16_or_random(tl::BackboneOptions().include_top(false).weights(weights).input_shape({size, size}));
  base->set_trainable(tl::first(15), false);  // for layer in conv_base.layers[:15]: layer.trainable = False
  tl::Classifier model(base, tl::Head(tl::HeadOptions(base->output_channels())
                                          .flatten(true)
                                          .hidden({256})
                                          .dropout(0.5)
                                          .classes(1)
                                          .class_names(train_set.classes())));
  model->summary(std::cout, tl::SummaryOptions().show_trainable(true).keras_types(true));

  auto augment = tl::data::train_transform(base).flip();  // resize, flip, Keras' preprocessing for these weights
  auto opts = tl::data::LoaderOptions().batch_size(20).seed(1).workers(2);
  auto train = tl::data::loader(train_set, augment, opts);
  auto val = tl::data::loader(val_set, augment.standardize(), tl::data::LoaderOptions(opts).shuffle(false));
  // model.compile(loss="binary_crossentropy", optimizer=SGD(learning_rate=1e-4, momentum=0.9), metrics=["acc"])
  tl::Trainer trainer(
      model, tl::TrainerOptions().loss(tl::loss::BinaryCrossEntropy()).optimizer(tl::optim::SGD(lr).momentum(0.9)));
  auto history = trainer.fit(train, tl::FitOptions().epochs(epochs).validation(val));
  history.title(std::string("VGG16 (") + (base->options().weights().empty() ? "random" : "Keras") +
                " weights): " + train_set.classes()[0] + " vs " + train_set.classes()[1]);
  history.plot(std::filesystem::path(out) / "history.png");

  // 3. The fine-tuned base, for Keras' load_weights.
  const auto keras_file = std::filesystem::path(out) / "vgg16_base.weights.h5";
  tl::save_keras_weights(*base, keras_file);
  std::cout << "saved " << keras_file.string() << " for keras.applications.VGG16(weights=None, include_top=False, "
            << "input_shape=(" << size << ", " << size << ", 3)).load_weights(...)\n"
            << "learning curves: " << (std::filesystem::path(out) / "history.png").string() << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "keras_vgg16: " << e.what() << "\n";
  return 1;
}
