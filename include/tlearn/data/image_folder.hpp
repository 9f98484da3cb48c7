#pragma once
/// \file
/// `ImageFolder`: root/<class>/**/<image>, classes = sorted subfolder names
/// (torchvision's ImageFolder, Keras' image_dataset_from_directory), and
/// `export_image_folder` to write any data set in that layout.
///
///     tlearn::data::ImageFolder data("cats_vs_dogs/train");
///     data.classes();        // {"cat", "dog"}
///     data.class_weights();  // Keras 'balanced'

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
  std::vector<std::string> extensions{".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tga", ".ppm", ".pgm", ".pnm"};
  /// How the images are decoded (alpha, pixel limit).
  io::ImageReadOptions read;

  ImageFolderOptions& with_extensions(std::vector<std::string> e) { extensions = std::move(e); return *this; }
  ImageFolderOptions& read_options(io::ImageReadOptions r) { read = std::move(r); return *this; }
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
