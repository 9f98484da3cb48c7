// Implementation of tlearn/data/dataset.hpp.
#include "tlearn/data/dataset.hpp"

namespace tlearn::data {

torch::Tensor Dataset::image(size_t i, const io::ImageReadOptions& options) const {
  (void)options;
  DefaultGuard guard(this);
  return get(i).image;
}

Example Dataset::get(size_t i) const {
  DefaultGuard guard(this);
  return {tlearn::detail::to_chw_float(image(i)), label(i)};
}

size_t Dataset::num_classes() const {
  auto c = classes();
  if (!c.empty()) return c.size();
  int64_t m = -1;
  for (size_t i = 0; i < size(); ++i) m = std::max(m, label(i));
  return size_t(m + 1);
}

std::vector<int64_t> Dataset::labels() const {
  std::vector<int64_t> out(size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = label(i);
  return out;
}

std::vector<int64_t> Dataset::class_counts() const {
  std::vector<int64_t> counts(num_classes(), 0);
  for (size_t i = 0; i < size(); ++i) {
    const int64_t l = label(i);
    if (l >= 0 && size_t(l) < counts.size()) ++counts[size_t(l)];
  }
  return counts;
}

std::vector<double> Dataset::class_weights() const {
  auto counts = class_counts();
  std::vector<double> w(counts.size(), 0.0);
  for (size_t c = 0; c < counts.size(); ++c)
    if (counts[c] > 0) w[c] = double(size()) / (double(counts.size()) * double(counts[c]));
  return w;
}

void Dataset::check_index(size_t i) const {
  if (i >= size())
    throw Error("data set index " + std::to_string(i) + " is out of range (size " + std::to_string(size()) + ")");
}

TensorDataset::TensorDataset(torch::Tensor images, torch::Tensor labels, std::vector<std::string> classes)
    : images_(std::move(images)), labels_(labels.to(torch::kLong).contiguous()), classes_(std::move(classes)) {
  if (images_.dim() < 3 || labels_.dim() != 1 || images_.size(0) != labels_.size(0)) {
    std::ostringstream msg;
    msg << "TensorDataset: need images (N, ...) and labels (N), got " << images_.sizes() << " and " << labels_.sizes();
    throw Error(msg.str());
  }
}

torch::Tensor TensorDataset::image(size_t i, const io::ImageReadOptions&) const {
  check_index(i);
  return images_[int64_t(i)];
}

int64_t TensorDataset::label(size_t i) const {
  check_index(i);
  return labels_.data_ptr<int64_t>()[i];
}

ImageFiles::ImageFiles(std::vector<std::pair<std::filesystem::path, int64_t>> samples, std::vector<std::string> classes,
                       io::ImageReadOptions read)
    : samples_(std::move(samples)), classes_(std::move(classes)), read_(std::move(read)) {}

torch::Tensor ImageFiles::image(size_t i, const io::ImageReadOptions& options) const {
  check_index(i);
  io::ImageReadOptions o = read_;
  o.min_size(options.min_size());
  o.min_shorter_side(options.min_shorter_side());
  return io::read_image(samples_[i].first, o);
}

int64_t ImageFiles::label(size_t i) const {
  check_index(i);
  return samples_[i].second;
}

const std::filesystem::path& ImageFiles::path(size_t i) const {
  check_index(i);
  return samples_[i].first;
}

Subset::Subset(DatasetPtr parent, std::vector<size_t> indices)
    : parent_(std::move(parent)), indices_(std::move(indices)) {
  if (!parent_) throw Error("Subset: the parent data set is null");
  for (auto i : indices_)
    if (i >= parent_->size())
      throw Error("Subset: index " + std::to_string(i) + " is out of range (parent size " +
                  std::to_string(parent_->size()) + ")");
}

size_t Subset::at(size_t i) const {
  check_index(i);
  return indices_[i];
}

std::pair<Subset, Subset> split(const DatasetPtr& dataset, double val_fraction, uint64_t seed) {
  if (!dataset) throw Error("split: the data set is null");
  if (!(val_fraction >= 0.0 && val_fraction <= 1.0))
    throw Error("split: val_fraction must be in [0, 1], got " + std::to_string(val_fraction));
  std::map<int64_t, std::vector<size_t>> by_class;
  for (size_t i = 0; i < dataset->size(); ++i) by_class[dataset->label(i)].push_back(i);
  std::vector<char> is_val(dataset->size(), 0);
  for (auto& [label, idx] : by_class) {
    std::mt19937_64 rng(seed ^ (0x9E3779B97F4A7C15ull * uint64_t(label + 1)));
    for (size_t k = idx.size(); k > 1; --k) std::swap(idx[k - 1], idx[rng() % k]);  // Fisher-Yates
    const auto n_val = size_t(std::llround(double(idx.size()) * val_fraction));
    for (size_t k = 0; k < n_val; ++k) is_val[idx[k]] = 1;
  }
  std::vector<size_t> train, val;
  for (size_t i = 0; i < is_val.size(); ++i) (is_val[i] ? val : train).push_back(i);
  return {Subset(dataset, std::move(train)), Subset(dataset, std::move(val))};
}

}  // namespace tlearn::data
