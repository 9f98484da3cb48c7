// Implementation of tlearn/train/recipes.hpp.
#include "tlearn/train/recipes.hpp"

namespace tlearn::detail {

data::Loader feature_loader(const data::TensorDataset& features, const data::Loader& like) {
  data::LoaderOptions o = like.options();
  o.workers(0);  // a memcpy per sample; threads would only add overhead
  o.pin_memory(false);
  return data::loader(features, data::Transform(), o);
}

}  // namespace tlearn::detail

namespace tlearn {

History feature_extraction(Classifier model, data::Loader train, const FeatureExtractionOptions& options) {
  model->backbone->set_trainable(all(), false);
  const int64_t next = train.next_epoch();
  auto features = extract_features(model->backbone, train, ExtractOptions().cache(options.cache()));
  train.set_epoch(next);
  FitOptions fit = options.fit();
  fit.epochs(options.epochs());
  if (options.validation()) {
    std::filesystem::path val_cache;
    if (!options.cache().empty())
      val_cache = options.cache().parent_path() / (options.cache().stem().string() + ".val.safetensors");
    auto val = extract_features(model->backbone, *options.validation(), ExtractOptions().cache(val_cache));
    fit.validation(detail::feature_loader(val, *options.validation()));
  }
  Trainer trainer(model->head, options.trainer());
  return trainer.fit(detail::feature_loader(features, train), fit);
}

}  // namespace tlearn
