// Implementation of tlearn/io/keras.hpp.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>
#include <regex>

#include "tlearn/core/error.hpp"
#include "tlearn/detail/file.hpp"
#include "tlearn/detail/zip.hpp"
#include "tlearn/io/keras.hpp"

#if defined(TLEARN_HAVE_HDF5)
#include <hdf5.h>
#endif

namespace tlearn::io {

namespace {

constexpr char kHdf5Signature[] = "\x89HDF\r\n\x1a\n";
const char* const kKerasArchiveWeights = "model.weights.h5";

std::string first_bytes(const std::filesystem::path& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes(n, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(n));
  bytes.resize(static_cast<size_t>(in.gcount()));
  return bytes;
}

/// The STORED model.weights.h5 entry of a .keras archive, or nullptr when the file
/// is no such archive.
std::unique_ptr<detail::ZipEntry> keras_archive_entry(const std::filesystem::path& path) {
  if (first_bytes(path, 4) != "PK\x03\x04") return nullptr;
  detail::BinaryFile file(path);
  detail::ZipReader zip(file);
  const auto* entry = zip.find(kKerasArchiveWeights);
  return entry ? std::make_unique<detail::ZipEntry>(*entry) : nullptr;
}

}  // namespace

bool is_keras_file(const std::filesystem::path& path) {
  if (first_bytes(path, 8) == std::string(kHdf5Signature, 8)) return true;
  try {
    return keras_archive_entry(path) != nullptr;
  } catch (const Error&) {
    return false;  // a zip we cannot read is not a .keras archive we could load
  }
}

#if !defined(TLEARN_HAVE_HDF5)

std::vector<KerasLayer> load_keras_weights(const std::filesystem::path& path) {
  throw Error(path.string() +
              ": reading Keras weight files needs HDF5, and this tlearn was built without it; install libhdf5-dev "
              "(Debian) or hdf5 (vcpkg) and rebuild");
}

void save_keras_weights(const std::vector<KerasLayer>&, const std::filesystem::path& path) {
  throw Error(path.string() +
              ": writing Keras weight files needs HDF5, and this tlearn was built without it; install libhdf5-dev "
              "(Debian) or hdf5 (vcpkg) and rebuild");
}

#else

namespace {

/// libhdf5 is not thread-safe in its serial build (Debian's): one caller at a time.
std::mutex& hdf5_mutex() {
  static std::mutex m;
  return m;
}

/// Closes an HDF5 identifier when it goes out of scope.
class Handle {
 public:
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (id_ >= 0) close_(id_);
  }
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

/// Silences libhdf5's printing of its error stack while we read (we report errors
/// ourselves) and restores the caller's setting afterwards.
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

/// The innermost message on libhdf5's error stack ("truncated file", ...).
std::string hdf5_message() {
  std::string message;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
        auto& m = *static_cast<std::string*>(out);
        if (m.empty() && e && e->desc) m = e->desc;
        return 0;
      },
      &message);
  H5Eclear2(H5E_DEFAULT);
  return message.empty() ? "HDF5 reported an error" : "HDF5: " + message;
}

class Reader {
 public:
  Reader(std::string file_name, hid_t file) : name_(std::move(file_name)), file_(file) {}

  std::vector<KerasLayer> read() {
    if (has_attribute(file_, "layer_names")) return read_legacy(file_, "");
    if (has_link(file_, "model_weights")) {
      Handle group(open_group(file_, "model_weights"), H5Gclose);
      if (has_attribute(group.get(), "layer_names")) return read_legacy(group.get(), "model_weights/");
    }
    for (const char* layers : {"layers", "_layer_checkpoint_dependencies"})
      if (has_link(file_, layers)) {
        std::vector<KerasLayer> out;
        Handle group(open_group(file_, layers), H5Gclose);
        visit_keras3(group.get(), layers, out);
        return out;
      }
    fail("",
         "is not a Keras weights file: it has neither a layer_names attribute (Keras 2 .h5, or model_weights "
         "in a full-model .h5) nor a layers group (Keras 3 .weights.h5)");
  }

 private:
  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw Error(name_ + (where.empty() ? "" : ": " + where) + ": " + what);
  }

  static bool has_link(hid_t loc, const std::string& name) { return H5Lexists(loc, name.c_str(), H5P_DEFAULT) > 0; }

  static bool has_attribute(hid_t loc, const std::string& name) { return H5Aexists(loc, name.c_str()) > 0; }

  hid_t open_group(hid_t loc, const std::string& name) const {
    hid_t g = H5Gopen2(loc, name.c_str(), H5P_DEFAULT);
    if (g < 0) fail(name, "cannot open the group (" + hdf5_message() + ")");
    return g;
  }

  /// Whether `name` in `loc` is a group (and not a dataset or something else).
  static bool is_group(hid_t loc, const std::string& name) {
    Handle object(H5Oopen(loc, name.c_str(), H5P_DEFAULT), H5Oclose);
    return object.ok() && H5Iget_type(object.get()) == H5I_GROUP;
  }

  /// Names of the links in a group, in name order.
  std::vector<std::string> children(hid_t group, const std::string& where) const {
    H5G_info_t info;
    if (H5Gget_info(group, &info) < 0) fail(where, "cannot list the group (" + hdf5_message() + ")");
    std::vector<std::string> names;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      ssize_t n = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (n < 0) fail(where, "cannot read a link name (" + hdf5_message() + ")");
      std::string name(static_cast<size_t>(n) + 1, '\0');
      H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
      name.resize(static_cast<size_t>(n));
      names.push_back(std::move(name));
    }
    return names;
  }

  /// A string attribute, or a list of them, fixed-length or variable-length. Keras 2
  /// splits long lists into "<name>0", "<name>1", ... attributes.
  std::vector<std::string> strings(hid_t loc, const std::string& attribute, const std::string& where) const {
    if (!has_attribute(loc, attribute) && has_attribute(loc, attribute + "0")) {
      std::vector<std::string> all;
      for (int i = 0; has_attribute(loc, attribute + std::to_string(i)); ++i) {
        auto part = strings(loc, attribute + std::to_string(i), where);
        all.insert(all.end(), part.begin(), part.end());
      }
      return all;
    }
    Handle attr(H5Aopen(loc, attribute.c_str(), H5P_DEFAULT), H5Aclose);
    if (!attr.ok()) fail(where, "has no attribute '" + attribute + "'");
    Handle type(H5Aget_type(attr.get()), H5Tclose);
    Handle space(H5Aget_space(attr.get()), H5Sclose);
    const hssize_t count = H5Sget_simple_extent_npoints(space.get());
    if (!type.ok() || !space.ok() || count < 0) fail(where, "cannot read attribute '" + attribute + "'");
    if (count == 0) return {};  // h5py writes an empty list as an empty float (or string) array
    if (H5Tget_class(type.get()) != H5T_STRING) fail(where, "attribute '" + attribute + "' is not a list of strings");
    std::vector<std::string> out;
    if (H5Tis_variable_str(type.get()) > 0) {
      Handle memory(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(memory.get(), H5T_VARIABLE);
      std::vector<char*> values(static_cast<size_t>(count), nullptr);
      if (H5Aread(attr.get(), memory.get(), values.data()) < 0)
        fail(where, "cannot read attribute '" + attribute + "' (" + hdf5_message() + ")");
      for (char* v : values) out.emplace_back(v ? v : "");
      H5Dvlen_reclaim(memory.get(), space.get(), H5P_DEFAULT, values.data());
    } else {
      const size_t width = H5Tget_size(type.get());
      if (width == 0 || width > (1u << 20)) fail(where, "attribute '" + attribute + "' has an invalid string size");
      Handle memory(H5Tcopy(type.get()), H5Tclose);  // the file's padding: h5py's "S" strings fill every byte
      std::vector<char> buffer(width * static_cast<size_t>(count));
      if (H5Aread(attr.get(), memory.get(), buffer.data()) < 0)
        fail(where, "cannot read attribute '" + attribute + "' (" + hdf5_message() + ")");
      for (hssize_t i = 0; i < count; ++i) {
        const char* s = buffer.data() + static_cast<size_t>(i) * width;
        out.emplace_back(s, strnlen(s, width));
      }
    }
    return out;
  }

  /// One dataset as a float32 tensor of its shape.
  torch::Tensor dataset(hid_t loc, const std::string& path, const std::string& where) const {
    Handle set(H5Dopen2(loc, path.c_str(), H5P_DEFAULT), H5Dclose);
    if (!set.ok()) fail(where, "the weight '" + path + "' is missing (" + hdf5_message() + ")");
    Handle type(H5Dget_type(set.get()), H5Tclose);
    const auto type_class = type.ok() ? H5Tget_class(type.get()) : H5T_NO_CLASS;
    if (type_class != H5T_FLOAT && type_class != H5T_INTEGER)
      fail(where, "the weight '" + path + "' is not a numeric array");
    Handle space(H5Dget_space(set.get()), H5Sclose);
    const int rank = space.ok() ? H5Sget_simple_extent_ndims(space.get()) : -1;
    if (rank < 0 || rank > 8) fail(where, "the weight '" + path + "' has an unreadable shape");
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    std::vector<int64_t> shape;
    int64_t numel = 1;
    for (auto d : dims) {
      if (d > (hsize_t(1) << 40) || (d > 0 && numel > (int64_t(1) << 40) / int64_t(d)))
        fail(where, "the weight '" + path + "' claims an impossible size");
      shape.push_back(static_cast<int64_t>(d));
      numel *= static_cast<int64_t>(d);
    }
    auto tensor = torch::empty(shape, torch::kFloat);
    if (numel > 0 && H5Dread(set.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, tensor.data_ptr()) < 0)
      fail(where, "cannot read the weight '" + path + "' (" + hdf5_message() + "); the file may be truncated");
    return tensor;
  }

  /// Keras 2: layer groups named by layer_names, weights by each group's weight_names.
  /// A nested model's group holds its layers' weights as "<layer>/<weight>".
  std::vector<KerasLayer> read_legacy(hid_t root, const std::string& prefix) {
    static const std::regex suffix(R"(:\d+$)");
    std::vector<KerasLayer> out;
    for (const auto& layer : strings(root, "layer_names", prefix.empty() ? "/" : prefix)) {
      const std::string where = "layer '" + layer + "'";
      if (!has_link(root, layer) || !is_group(root, layer))
        fail(where, "is listed in layer_names but the file has no group " + prefix + layer);
      Handle group(open_group(root, layer), H5Gclose);
      for (const auto& weight : strings(group.get(), "weight_names", where)) {
        auto parts = split(weight);
        // "<layer>/<weight>:0" is the layer's own weight (TF-Keras' MobileNetV3 layers have
        // a "/" in their names: "Conv/BatchNorm/gamma:0"); otherwise a nested model's layer,
        // its path with or without the model's name ("stem/stem_conv/kernel", "block1_conv1/kernel").
        const bool own = weight.compare(0, layer.size() + 1, layer + "/") == 0 &&
                         weight.find('/', layer.size() + 1) == std::string::npos;
        const std::string owner = own || parts.size() < 2 ? layer : parts[parts.size() - 2];
        const std::string name = std::regex_replace(parts.empty() ? weight : parts.back(), suffix, "");
        if (out.empty() || out.back().name != owner) out.push_back({owner, {}});
        out.back().weights.push_back({name, dataset(group.get(), weight, where)});
      }
    }
    return out;
  }

  static std::vector<std::string> split(const std::string& path) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= path.size()) {
      const auto slash = path.find('/', start);
      const auto end = slash == std::string::npos ? path.size() : slash;
      if (end > start) parts.push_back(path.substr(start, end - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    return parts;
  }

  /// Keras 3: every group with a non-empty "vars" group is a layer; nested layers and
  /// models are subgroups.
  void visit_keras3(hid_t group, const std::string& path, std::vector<KerasLayer>& out, int depth = 0) {
    if (depth > 64) fail(path, "nests groups too deeply for a Keras model");
    for (const auto& child : children(group, path)) {
      if (child == "vars" || !is_group(group, child)) continue;
      Handle sub(open_group(group, child), H5Gclose);
      const std::string sub_path = path + "/" + child;
      if (has_link(sub.get(), "vars") && is_group(sub.get(), "vars")) {
        Handle vars(open_group(sub.get(), "vars"), H5Gclose);
        auto names = children(vars.get(), sub_path + "/vars");
        if (!names.empty()) {
          KerasLayer layer;
          layer.path = sub_path;
          layer.name = has_attribute(vars.get(), "name") ? strings(vars.get(), "name", sub_path).at(0) : child;
          for (size_t i = 0; i < names.size(); ++i) {
            const std::string index = std::to_string(i);
            if (!has_link(vars.get(), index))
              fail(sub_path + "/vars", "holds " + std::to_string(names.size()) + " entries but no '" + index + "'");
            layer.weights.push_back({index, dataset(vars.get(), index, "layer '" + layer.name + "'")});
          }
          out.push_back(std::move(layer));
        }
      }
      visit_keras3(sub.get(), sub_path, out, depth + 1);
    }
  }

  std::string name_;
  hid_t file_;
};

}  // namespace

std::vector<KerasLayer> load_keras_weights(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(path.string() + ": no such file (expected a Keras .h5, .weights.h5 or .keras file)");
  std::lock_guard<std::mutex> lock(hdf5_mutex());
  QuietErrors quiet;
  std::vector<char> image;  // a .keras archive's weights, opened from memory
  if (first_bytes(path, 8) != std::string(kHdf5Signature, 8)) {
    auto entry = keras_archive_entry(path);
    if (!entry)
      throw Error(path.string() + ": not a Keras weights file (neither HDF5 nor a .keras archive with " +
                  kKerasArchiveWeights + ")");
    detail::BinaryFile file(path);
    image.resize(static_cast<size_t>(entry->size));
    file.read_at(entry->data_offset, image.data(), entry->size, kKerasArchiveWeights);
  }
  Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!image.empty()) {
    H5Pset_fapl_core(access.get(), 1 << 20, /*backing_store=*/0);
    if (H5Pset_file_image(access.get(), image.data(), image.size()) < 0)
      throw Error(path.string() + ": cannot open " + kKerasArchiveWeights + " from the archive (" + hdf5_message() +
                  ")");
  }
  const std::string name = image.empty() ? path.string() : path.string() + "/" + kKerasArchiveWeights;
  Handle file(H5Fopen(image.empty() ? path.c_str() : kKerasArchiveWeights, H5F_ACC_RDONLY, access.get()), H5Fclose);
  if (!file.ok()) throw Error(name + ": cannot open the HDF5 file (" + hdf5_message() + "); is it complete?");
  return Reader(name, file.get()).read();
}

namespace {

/// Creates every missing group along `path` ("layers/conv2d/vars") under `root`.
hid_t create_groups(hid_t root, const std::string& path, const std::string& file) {
  Handle props(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(props.get(), 1);
  if (H5Lexists(root, path.c_str(), H5P_DEFAULT) > 0) return H5Gopen2(root, path.c_str(), H5P_DEFAULT);
  hid_t g = H5Gcreate2(root, path.c_str(), props.get(), H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) throw Error(file + ": cannot create the group " + path + " (" + hdf5_message() + ")");
  return g;
}

void write_name(hid_t group, const std::string& value, const std::string& file) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<size_t>(1, value.size()));
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(group, "name", type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  if (!attr.ok() || H5Awrite(attr.get(), type.get(), padded.data()) < 0)
    throw Error(file + ": cannot write the name of layer " + value + " (" + hdf5_message() + ")");
}

}  // namespace

void save_keras_weights(const std::vector<KerasLayer>& layers, const std::filesystem::path& path) {
  std::vector<char> image;
  {
    std::lock_guard<std::mutex> lock(hdf5_mutex());
    QuietErrors quiet;
    const std::string file_name = path.string();
    Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    H5Pset_fapl_core(access.get(), 1 << 20, /*backing_store=*/0);  // in memory until it is complete
    Handle file(H5Fcreate(path.filename().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get()), H5Fclose);
    if (!file.ok()) throw Error(file_name + ": cannot create an HDF5 image (" + hdf5_message() + ")");
    Handle root_vars(create_groups(file.get(), "vars", file_name), H5Gclose);
    for (const auto& layer : layers) {
      if (layer.path.empty())
        throw Error(file_name + ": layer " + layer.name + " has no Keras 3 path (such as layers/conv2d)");
      Handle vars(create_groups(file.get(), layer.path + "/vars", file_name), H5Gclose);
      write_name(vars.get(), layer.name, file_name);
      for (size_t i = 0; i < layer.weights.size(); ++i) {
        const auto value = layer.weights[i].value.detach().to(torch::kCPU, torch::kFloat).contiguous();
        std::vector<hsize_t> dims(value.sizes().begin(), value.sizes().end());
        Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
        const std::string index = std::to_string(i);
        Handle set(H5Dcreate2(vars.get(), index.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                              H5P_DEFAULT),
                   H5Dclose);
        if (!set.ok() || H5Dwrite(set.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, value.data_ptr()) < 0)
          throw Error(file_name + ": cannot write weight " + index + " of layer " + layer.name + " (" +
                      hdf5_message() + ")");
      }
    }
    H5Fflush(file.get(), H5F_SCOPE_GLOBAL);
    const ssize_t size = H5Fget_file_image(file.get(), nullptr, 0);
    if (size <= 0) throw Error(file_name + ": cannot serialise the HDF5 image (" + hdf5_message() + ")");
    image.resize(static_cast<size_t>(size));
    H5Fget_file_image(file.get(), image.data(), image.size());
  }
  detail::write_atomically(path, [&](std::ofstream& out) { out.write(image.data(), std::streamsize(image.size())); });
}

#endif

}  // namespace tlearn::io
