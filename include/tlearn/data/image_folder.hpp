#pragma once
/// \file
/// `ImageFolder`: root/<class>/**/<image>, classes = sorted subfolder names
/// (torchvision's ImageFolder, Keras' image_dataset_from_directory), and
/// `export_image_folder` to write any data set in that layout.
///
///     tlearn::data::ImageFolder data("cats_vs_dogs/train");  // Found 2000 images belonging to 2 classes.
///     data.classes();        // {"cat", "dog"}
///     data.class_weights();  // Keras 'balanced'

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "tlearn/data/dataset.hpp"

namespace tlearn::data {

struct ImageFolderOptions {
  /// File extensions to keep (case-insensitive, with the dot).
  TORCH_ARG(std::vector<std::string>, extensions) = {".jpg", ".jpeg", ".png", ".bmp", ".gif",
                                                     ".tga", ".ppm", ".pgm", ".pnm"};
  /// How the images are decoded (alpha, pixel limit).
  TORCH_ARG(io::ImageReadOptions, read_options) = {};
  /// Print Keras' "Found N images belonging to K classes." when the folder is read.
  TORCH_ARG(bool, verbose) = true;
};

class ImageFolder : public ImageFiles {
 public:
  explicit ImageFolder(const std::filesystem::path& root, const ImageFolderOptions& options = {});

  const std::filesystem::path& root() const { return root_; }

 private:
  static std::string lower(std::string s);
  static std::string join(const std::vector<std::string>& v);
  std::filesystem::path root_;
};

/// Writes every sample of `dataset` as root/<class name>/<index>.<png|jpg>
/// (class folders are named after the label when the data set has no class
/// names; characters that cannot be in a file name become '_'). Returns the count.
size_t export_image_folder(const Dataset& dataset, const std::filesystem::path& root,
                           const std::string& format = "png");

}  // namespace tlearn::data
