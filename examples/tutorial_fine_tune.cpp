// Keras' "Transfer learning and fine-tuning" tutorial (MobileNetV2, cats vs dogs),
// step by step in C++:
//
//   1. read an image folder (root/<class>/<images>) for training and validation;
//   2. Keras' own MobileNetV2 ("keras.MobileNetV2") without its top, frozen; with
//      --weights imagenet, Keras' file for the input size (160: the tutorial's
//      mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5, found in
//      Keras' cache, ~/.keras/models); a new head: global average pooling,
//      Dropout(0.2), Dense(1) (a binary classifier);
//   3. train the head (Adam 1e-4) with random flips and rotations;
//   4. fine-tune: unfreeze the base, freeze its first 100 layers again (Keras'
//      `fine_tune_at = 100`: the same 100 layers, ZeroPadding2D included), keep
//      BatchNorm in inference mode (Keras' `training=False`), RMSprop at lr / 10;
//   5. save the model with save_model, load it back with load_model, and predict.
//
//     tutorial_fine_tune TRAIN_DIR VAL_DIR [--weights imagenet|PATH] [--size 160] [--lr 1e-4]
//                        [--epochs 10] [--fine-tune-epochs 10] [--out OUT_DIR]
//     tutorial_fine_tune --fashion-mnist [--out OUT_DIR] ...
//
// --fashion-mnist writes Sneaker vs Ankle boot (40 + 40 images each for training
// and validation) as image folders first and trains on them: a run that needs no
// download. Without --weights the base starts from random weights, and only a
// higher --lr (1e-2) lets the head learn from its features.
#include <tlearn/tlearn.hpp>

#include <iomanip>
#include <iostream>
#include <string>

#include "fashion_folders.hpp"

namespace tl = tlearn;

int main(int argc, char** argv) try {
  std::string train_dir, val_dir, weights, out = "tutorial_fine_tune_out";
  int64_t size = 160, epochs = 10, fine_tune_epochs = 10;
  double lr = 1e-4;  // the tutorial's base_learning_rate, for pretrained weights
  bool fashion = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] {
      if (i + 1 >= argc) throw tl::Error(a + " needs a value");
      return std::string(argv[++i]);
    };
    if (a == "--weights")
      weights = value();
    else if (a == "--size")
      size = std::stoll(value());
    else if (a == "--epochs")
      epochs = std::stoll(value());
    else if (a == "--fine-tune-epochs")
      fine_tune_epochs = std::stoll(value());
    else if (a == "--out")
      out = value();
    else if (a == "--lr")
      lr = std::stod(value());
    else if (a == "--fashion-mnist")
      fashion = true;
    else if (train_dir.empty())
      train_dir = a;
    else if (val_dir.empty())
      val_dir = a;
    else
      throw tl::Error("unexpected argument '" + a + "'");
  }
  if (fashion) {
    train_dir = out + "/data/train";
    val_dir = out + "/data/validation";
    examples::write_fashion_folders(out, train_dir, val_dir);
  }
  if (train_dir.empty() || val_dir.empty()) {
    std::cerr
        << "usage: tutorial_fine_tune TRAIN_DIR VAL_DIR [--weights imagenet|PATH] [--size 160] [--lr 1e-4]\n"
           "                          [--epochs 10] [--fine-tune-epochs 10] [--out OUT_DIR]   (or --fashion-mnist)\n";
    return 2;
  }
  std::filesystem::create_directories(out);

  // 1. The data: "Found N images belonging to 2 classes."
  tl::data::ImageFolder train_set(train_dir), val_set(val_dir);
  if (train_set.classes().size() != 2) throw tl::Error("this tutorial is a binary classifier: give two class folders");

  // 2. The base, frozen, and a new head.
  auto base = tl::make_backbone("keras.MobileNetV2",
                                tl::BackboneOptions().include_top(false).weights(weights).input_shape({size, size}));
  base->set_trainable(tl::all(), false);
  tl::Classifier model(
      base,
      tl::Head(tl::HeadOptions(base->output_channels()).dropout(0.2).classes(1).class_names(train_set.classes())));
  model->summary(std::cout, tl::SummaryOptions().show_trainable(true).keras_types(true));

  // Random flips and rotations (Keras' RandomFlip, RandomRotation(0.2) = 72 degrees),
  // then the preprocessing the weights expect; validation: resize and preprocess only.
  auto augment = tl::data::train_transform(base).flip().rotate(72);
  auto opts = tl::data::LoaderOptions().batch_size(32).seed(1).workers(2);
  auto train = tl::data::loader(train_set, augment, opts);
  auto val = tl::data::loader(val_set, augment.standardize(), tl::data::LoaderOptions(opts).shuffle(false));

  // 3. Train the head.
  auto binary = tl::TrainerOptions().loss(tl::loss::BinaryCrossEntropy());
  tl::Trainer head_stage(model, tl::TrainerOptions(binary).optimizer(tl::optim::Adam(lr)));
  auto history = head_stage.fit(train, tl::FitOptions().epochs(epochs).validation(val));

  // 4. Fine-tune from layer 100 on, BatchNorm kept in inference mode.
  base->set_trainable(tl::all(), true);
  std::cout << "Number of layers in the base model: " << base->layers().size() << "\n";
  base->set_trainable(tl::first(100), false);   // Keras: for layer in base_model.layers[:100]: trainable = False
  base->set_batchnorm_frozen(tl::all(), true);  // Keras: base_model(x, training=False)
  std::cout << "Fine-tuning from layer 100, " << base->layers()[100].alias << " (" << base->layers()[100].name << ")\n";
  tl::Trainer fine_stage(model, tl::TrainerOptions(binary).optimizer(tl::optim::RMSprop(lr / 10)));
  history.extend(
      fine_stage.fit(train, tl::FitOptions().initial_epoch(epochs).epochs(epochs + fine_tune_epochs).validation(val)));
  history.mark(epochs, "fine-tuning starts")
      .title("MobileNetV2: " + train_set.classes()[0] + " vs " + train_set.classes()[1] +
             (weights.empty() ? " (random weights)" : ""));
  history.plot(std::filesystem::path(out) / "history.png");

  // 5. The whole model in one file, loaded back and used.
  const auto path = std::filesystem::path(out) / "mobilenet_v2_fine_tuned.safetensors";
  const auto before = model->predict(val);
  tl::save_model(model, path);
  auto loaded = tl::load_model<tl::Classifier>(path);
  auto probs = loaded->predict(val);  // P(class 1), in the folder's order
  if (!torch::allclose(probs, before, 1e-5, 1e-6))
    throw tl::Error("the loaded model predicts otherwise than the one saved: a tlearn bug, please report it");
  const auto& names = loaded->head->options().class_names();
  int64_t right = 0;
  for (size_t i = 0; i < val_set.size(); ++i)
    right += int64_t(probs[int64_t(i)].item<float>() > 0.5f) == val_set.label(i);
  std::cout << "saved " << path.string() << "; loaded back (same predictions), validation accuracy " << std::fixed
            << std::setprecision(4) << double(right) / double(val_set.size()) << "\n";
  for (size_t i = 0; i < std::min<size_t>(4, val_set.size()); ++i) {
    const float p = probs[int64_t(i)].item<float>();
    std::cout << "  " << val_set.path(i).filename().string() << ": " << names[p > 0.5f ? 1 : 0] << " ("
              << (p > 0.5f ? p : 1 - p) << "), truth " << names[size_t(val_set.label(i))] << "\n";
  }
  std::cout << "learning curves: " << (std::filesystem::path(out) / "history.png").string() << "\n";
  return 0;
} catch (const std::exception& e) {
  std::cerr << "tutorial_fine_tune: " << e.what() << "\n";
  return 1;
}
