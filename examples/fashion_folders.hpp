#pragma once
// For the tutorial examples: two Fashion-MNIST classes written as image folders
// (root/<class>/<images>), as a user's photos would be, so a run needs no download.
#include <tlearn/tlearn.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace examples {

/// `count` images of each of `classes` from `source`, from index `skip` on.
inline tlearn::data::Subset pick(const tlearn::data::FashionMNIST& source, const std::vector<int64_t>& classes,
                                 size_t count, size_t skip) {
  std::vector<size_t> indices;
  std::vector<size_t> seen(classes.size(), 0);
  for (size_t i = skip; i < source.size(); ++i)
    for (size_t c = 0; c < classes.size(); ++c)
      if (source.label(i) == classes[c] && seen[c] < count) {
        ++seen[c];
        indices.push_back(i);
      }
  return tlearn::data::Subset(tlearn::data::share(source), indices);
}

/// Sneaker vs Ankle boot, 40 + 40 images each, under `out`/data/train and
/// `out`/data/validation (replaced if present).
inline void write_fashion_folders(const std::string& out, const std::string& train_dir, const std::string& val_dir) {
  tlearn::data::FashionMNIST fm;
  std::filesystem::remove_all(out + "/data");
  tlearn::data::export_image_folder(pick(fm, {7, 9}, 40, 0), train_dir);
  tlearn::data::export_image_folder(pick(fm, {7, 9}, 40, 20000), val_dir);
}

}  // namespace examples
