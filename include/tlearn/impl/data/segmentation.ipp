// Implementation of tlearn/data/segmentation.hpp.
#include "tlearn/data/segmentation.hpp"

namespace tlearn::data {

SegmentationTensors::SegmentationTensors(torch::Tensor images, torch::Tensor masks)
    : images_(std::move(images)), masks_(std::move(masks)) {
  if (images_.dim() != 4 || masks_.dim() != 3 || images_.size(0) != masks_.size(0) ||
      images_.size(2) != masks_.size(1) || images_.size(3) != masks_.size(2)) {
    std::ostringstream msg;
    msg << "SegmentationTensors: expected images (N, C, H, W) and masks (N, H, W) with matching N, H, W, got "
        << images_.sizes() << " and " << masks_.sizes();
    throw Error(msg.str());
  }
  images_ = images_.to(torch::kFloat);
  masks_ = masks_.to(torch::kLong);
}

SegmentationExample SegmentationTensors::get(size_t i) const {
  if (i >= size())
    throw Error("SegmentationTensors: index " + std::to_string(i) + " is past the end (" + std::to_string(size()) +
                " samples)");
  return {images_[int64_t(i)], masks_[int64_t(i)]};
}

SegmentationFolder::SegmentationFolder(const std::filesystem::path& root, const std::string& images,
                                       const std::string& masks) {
  namespace fs = std::filesystem;
  const auto image_dir = root / images, mask_dir = root / masks;
  for (const auto& dir : {image_dir, mask_dir})
    if (!fs::is_directory(dir))
      throw Error("SegmentationFolder: '" + dir.string() + "' is not a folder; expected " + (root / images).string() +
                  "/<name>.<jpg|png> and " + (root / masks).string() + "/<name>.png");
  const std::set<std::string> extensions{".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tga", ".ppm", ".pgm", ".pnm"};
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(image_dir)) {
    auto ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (e.is_regular_file() && extensions.count(ext)) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto mask = mask_dir / (f.stem().string() + ".png");
    if (!fs::exists(mask))
      throw Error("SegmentationFolder: image '" + f.string() + "' has no mask; expected '" + mask.string() + "'");
    samples_.emplace_back(f, mask);
  }
  if (samples_.empty()) throw Error("SegmentationFolder: no images in '" + image_dir.string() + "'");
}

SegmentationExample SegmentationFolder::get(size_t i) const {
  if (i >= size())
    throw Error("SegmentationFolder: index " + std::to_string(i) + " is past the end (" + std::to_string(size()) +
                " samples)");
  auto image = io::read_image(samples_[i].first);
  auto mask = read_mask(samples_[i].second);
  if (image.size(0) != mask.size(0) || image.size(1) != mask.size(1)) {
    std::ostringstream msg;
    msg << "SegmentationFolder: '" << samples_[i].second.string() << "' is " << mask.size(1) << "x" << mask.size(0)
        << " but its image is " << image.size(1) << "x" << image.size(0) << "; a mask must have its image's size";
    throw Error(msg.str());
  }
  return {image, mask};
}

SegmentationTransform& SegmentationTransform::mask_fill(FillMode mode, int64_t value) {
  fill_ = mode;
  value_ = value;
  return *this;
}

torch::Tensor SegmentationTransform::warp_mask(const torch::Tensor& mask, const std::array<double, 9>& m, int64_t oh,
                                               int64_t ow) const {
  auto src = mask.to(torch::kCPU).to(torch::kLong).contiguous();
  const int64_t h = src.size(0), w = src.size(1);
  const int64_t* s = src.data_ptr<int64_t>();
  auto out = torch::empty({oh, ow}, torch::kLong);
  int64_t* d = out.data_ptr<int64_t>();
  for (int64_t y = 0; y < oh; ++y)
    for (int64_t x = 0; x < ow; ++x) {
      const double xi = m[0] * double(x) + m[1] * double(y) + m[2];
      const double yi = m[3] * double(x) + m[4] * double(y) + m[5];
      int64_t ix = -1, iy = -1;
      if (std::fabs(xi) < 1e9 && std::fabs(yi) < 1e9) {
        ix = tlearn::detail::fill_index(std::llround(xi), w, fill_);
        iy = tlearn::detail::fill_index(std::llround(yi), h, fill_);
      }
      d[y * ow + x] = (ix < 0 || iy < 0) ? value_ : s[iy * w + ix];
    }
  return out;
}

torch::Tensor read_mask(const std::filesystem::path& path) {
  auto hwc = io::read_image(path, io::ImageReadOptions().alpha(io::Alpha::Drop));
  auto first = hwc.select(2, 0);
  if (hwc.size(2) > 1 && !(hwc.select(2, 1).equal(first) && hwc.select(2, 2).equal(first)))
    throw Error("read_mask('" + path.string() +
                "'): the mask has colours; store class indices as a grayscale PNG "
                "(pixel value = class index)");
  return first.to(torch::kLong).contiguous();
}

void write_mask(const torch::Tensor& mask, const std::filesystem::path& path, int64_t scale) {
  if (mask.dim() != 2) {
    std::ostringstream msg;
    msg << "write_mask('" << path.string() << "'): expected an (H, W) mask, got shape " << mask.sizes();
    throw Error(msg.str());
  }
  io::write_png((mask.detach().to(torch::kCPU).to(torch::kLong) * scale).clamp(0, 255).to(torch::kUInt8), path);
}

SegmentationBatch make_batch(const SegmentationDataset& dataset, const std::vector<size_t>& indices,
                             const SegmentationTransform& transform, uint64_t seed) {
  if (indices.empty()) throw Error("make_batch: no indices; pass at least one sample index");
  std::vector<torch::Tensor> images, masks;
  for (auto i : indices) {
    auto e = transform(dataset.get(i), seed * 0x9E3779B97F4A7C15ull + i);
    if (!images.empty() && (e.image.sizes() != images[0].sizes())) {
      std::ostringstream msg;
      msg << "make_batch: sample " << i << " is " << e.image.sizes() << " but sample " << indices[0] << " is "
          << images[0].sizes() << "; give the TrainTransform a size({H, W}) so that samples stack";
      throw Error(msg.str());
    }
    images.push_back(e.image);
    masks.push_back(e.mask);
  }
  return {torch::stack(images), torch::stack(masks)};
}

Loader segmentation_loader(std::shared_ptr<const SegmentationDataset> dataset, SegmentationTransform transform,
                           LoaderOptions options) {
  if (!dataset) throw Error("segmentation_loader: the data set is null");
  const size_t n = dataset->size();
  return Loader(n, [dataset, transform](size_t i, uint64_t seed) {
    auto e = transform(dataset->get(i), seed);
    return std::make_pair(e.image, e.mask);
  }, std::move(options));
}

std::vector<std::vector<size_t>> batch_indices(size_t n, size_t batch_size, uint64_t seed, bool shuffle) {
  if (batch_size == 0) throw Error("batch_indices: batch_size must be at least 1");
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  if (shuffle) {
    std::mt19937_64 rng(seed);
    for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[size_t(rng() % i)]);
  }
  std::vector<std::vector<size_t>> out;
  for (size_t i = 0; i < n; i += batch_size)
    out.emplace_back(order.begin() + long(i), order.begin() + long(std::min(n, i + batch_size)));
  return out;
}

}  // namespace tlearn::data
