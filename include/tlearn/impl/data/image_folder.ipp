// Implementation of tlearn/data/image_folder.hpp.
#include <sys/stat.h>

#include <iostream>
#include <set>

#include "tlearn/data/image_folder.hpp"

namespace tlearn::data {

ImageFolder::ImageFolder(const std::filesystem::path& root, const ImageFolderOptions& options) : root_(root) {
  namespace fs = std::filesystem;
  read_ = options.read_options();
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw Error("ImageFolder: '" + root.string() + "' is not a folder; expected root/<class name>/<images>");
  std::set<std::string> ext;
  for (auto e : options.extensions()) ext.insert(lower(e));
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory()) classes_.push_back(entry.path().filename().string());
  std::sort(classes_.begin(), classes_.end());
  if (classes_.empty())
    throw Error("ImageFolder: '" + root.string() +
                "' has no subfolders; put each class's images in root/<class name>/");
  // Symlinked folders are followed, each real folder once: a link back to a parent
  // (a loop) or a second link to one folder is skipped, and reported.
  std::set<std::pair<dev_t, ino_t>> visited;
  auto first_visit = [&](const fs::path& dir) {
    struct stat st {};
    return ::stat(dir.c_str(), &st) != 0 || visited.emplace(st.st_dev, st.st_ino).second;
  };
  std::vector<fs::path> skipped;
  for (size_t c = 0; c < classes_.size(); ++c) {
    const fs::path dir = root / classes_[c];
    auto fail = [&](const std::error_code& e) {
      return Error("ImageFolder: cannot list '" + dir.string() + "': " + e.message());
    };
    std::vector<fs::path> files;
    first_visit(dir);
    fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec);
    if (ec) throw fail(ec);
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) throw fail(ec);
      std::error_code type_ec;
      if (it->is_directory(type_ec)) {
        if (!first_visit(it->path())) {
          it.disable_recursion_pending();
          skipped.push_back(it->path());
        }
      } else if (it->is_regular_file(type_ec) && ext.count(lower(it->path().extension().string()))) {
        files.push_back(it->path());
      }
    }
    if (ec) throw fail(ec);
    std::sort(files.begin(), files.end());
    for (auto& f : files) samples_.emplace_back(std::move(f), int64_t(c));
  }
  if (!skipped.empty())
    std::cerr << "ImageFolder: skipped " << skipped.size() << " linked folder(s) already listed (a symlink loop?), "
              << "first '" << skipped.front().string() << "'\n";
  if (samples_.empty())
    throw Error("ImageFolder: no image files under '" + root.string() + "' (looked for " + join(options.extensions()) +
                " in its class subfolders)");
  if (options.verbose())
    std::cout << "Found " << samples_.size() << " images belonging to " << classes_.size() << " classes.\n";
}

std::string ImageFolder::lower(std::string s) {
  for (auto& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string ImageFolder::join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

size_t export_image_folder(const Dataset& dataset, const std::filesystem::path& root, const std::string& format) {
  namespace fs = std::filesystem;
  if (format != "png" && format != "jpg" && format != "jpeg")
    throw Error("export_image_folder: format must be \"png\" or \"jpg\", got \"" + format + "\"");
  auto names = dataset.classes();
  auto folder = [&](int64_t label) {
    std::string n = label >= 0 && size_t(label) < names.size() ? names[size_t(label)] : std::to_string(label);
    for (auto& ch : n)
      if (ch == '/' || ch == '\\' || ch == ':' || ch == '\0') ch = '_';
    return root / n;
  };
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw Error("export_image_folder: cannot create '" + root.string() + "': " + ec.message());
  for (size_t i = 0; i < dataset.size(); ++i) {
    const int64_t l = dataset.label(i);
    fs::path dir = folder(l);
    fs::create_directories(dir, ec);
    auto img = dataset.image(i);
    fs::path file = dir / (std::to_string(i) + (format == "png" ? ".png" : ".jpg"));
    if (format == "png")
      io::write_png(img, file);
    else
      io::write_jpeg(img, file);
  }
  return dataset.size();
}

}  // namespace tlearn::data
