// Implementation of tlearn/io/keras.hpp.
#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <mutex>
#include <optional>
#include <regex>

#include "tlearn/core/error.hpp"
#include "tlearn/detail/file.hpp"
#include "tlearn/detail/hdf5.hpp"
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

namespace {

/// Keras' two layouts, read through tlearn's own bounded HDF5 reader (detail/hdf5.hpp).
class Reader {
 public:
  using Object = detail::Hdf5Reader::Object;

  explicit Reader(detail::Hdf5Reader& file) : h5_(file) {}

  std::vector<KerasLayer> read() {
    const auto root = h5_.root();
    if (h5_.has_attribute(root, "layer_names")) return read_legacy(root, "");
    if (auto group = group_at(root, "model_weights"); group && h5_.has_attribute(*group, "layer_names"))
      return read_legacy(*group, "model_weights/");
    for (const char* layers : {"layers", "_layer_checkpoint_dependencies"})
      if (auto group = group_at(root, layers)) {
        std::vector<KerasLayer> out;
        visit_keras3(*group, layers, out);
        return out;
      }
    fail("",
         "is not a Keras weights file: it has neither a layer_names attribute (Keras 2 .h5, or model_weights "
         "in a full-model .h5) nor a layers group (Keras 3 .weights.h5)");
  }

 private:
  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw Error(h5_.file_name() + (where.empty() ? "" : ": " + where) + ": " + what);
  }

  /// The group at `name` below `parent`, if it is a group. TF-Keras' layer names hold
  /// "/" ("Conv/BatchNorm"), which h5py stores as nested groups.
  std::optional<Object> group_at(Object parent, const std::string& name) {
    auto child = object_at(parent, name);
    return child && h5_.is_group(*child) ? child : std::nullopt;
  }

  /// The object at a "/"-separated path below `parent`.
  std::optional<Object> object_at(Object parent, const std::string& path) {
    std::optional<Object> at = parent;
    for (const auto& part : split(path))
      if (!(at = h5_.child(*at, part))) return std::nullopt;
    return at;
  }

  /// A string attribute, or a list of them. Keras 2 splits long lists into "<name>0",
  /// "<name>1", ... attributes.
  std::vector<std::string> strings(Object object, const std::string& attribute) {
    if (!h5_.has_attribute(object, attribute) && h5_.has_attribute(object, attribute + "0")) {
      std::vector<std::string> all;
      for (int i = 0; h5_.has_attribute(object, attribute + std::to_string(i)); ++i) {
        auto part = h5_.strings(object, attribute + std::to_string(i));
        all.insert(all.end(), part.begin(), part.end());
      }
      return all;
    }
    return h5_.strings(object, attribute);
  }

  /// One weight as a float32 tensor; errors name the layer and the weight.
  torch::Tensor read_weight(Object group, const std::string& path, const std::string& where) {
    const auto object = object_at(group, path);
    if (!object) fail(where, "the weight '" + path + "' is missing");
    try {
      return h5_.read_float(*object);
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + " (" + where + ", weight '" + path + "')");
    }
  }

  /// Keras 2: layer groups named by layer_names, weights by each group's weight_names.
  /// A nested model's group holds its layers' weights as "<layer>/<weight>".
  std::vector<KerasLayer> read_legacy(Object root, const std::string& prefix) {
    static const std::regex suffix(R"(:\d+$)");
    std::vector<KerasLayer> out;
    for (const auto& layer : strings(root, "layer_names")) {
      const std::string where = "layer '" + layer + "'";
      const auto group = group_at(root, layer);
      if (!group) fail(where, "is listed in layer_names but the file has no group " + prefix + layer);
      for (const auto& weight : strings(*group, "weight_names")) {
        auto parts = split(weight);
        // "<layer>/<weight>:0" is the layer's own weight (TF-Keras' MobileNetV3 layers have
        // a "/" in their names: "Conv/BatchNorm/gamma:0"); otherwise a nested model's layer,
        // its path with or without the model's name ("stem/stem_conv/kernel", "block1_conv1/kernel").
        const bool own = weight.compare(0, layer.size() + 1, layer + "/") == 0 &&
                         weight.find('/', layer.size() + 1) == std::string::npos;
        const std::string owner = own || parts.size() < 2 ? layer : parts[parts.size() - 2];
        const std::string name = std::regex_replace(parts.empty() ? weight : parts.back(), suffix, "");
        if (out.empty() || out.back().name != owner) out.push_back({owner, {}, {}});
        out.back().weights.push_back({name, read_weight(*group, weight, where)});
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
  void visit_keras3(Object group, const std::string& path, std::vector<KerasLayer>& out, int depth = 0) {
    if (depth > 64) fail(path, "nests groups too deeply for a Keras model");
    for (const auto& child : h5_.links(group)) {
      if (child == "vars") continue;
      const auto sub = group_at(group, child);
      if (!sub) continue;
      const std::string sub_path = path + "/" + child;
      if (const auto vars = group_at(*sub, "vars")) {
        const auto names = h5_.links(*vars);
        if (!names.empty()) {
          KerasLayer layer;
          layer.path = sub_path;
          layer.name = h5_.has_attribute(*vars, "name") ? first_string(*vars, sub_path) : child;
          for (size_t i = 0; i < names.size(); ++i) {
            const std::string index = std::to_string(i);
            if (!h5_.child(*vars, index))
              fail(sub_path + "/vars", "holds " + std::to_string(names.size()) + " entries but no '" + index + "'");
            layer.weights.push_back({index, read_weight(*vars, index, "layer '" + layer.name + "'")});
          }
          out.push_back(std::move(layer));
        }
      }
      visit_keras3(*sub, sub_path, out, depth + 1);
    }
  }

  std::string first_string(Object vars, const std::string& where) {
    const auto names = h5_.strings(vars, "name");
    if (names.empty()) fail(where + "/vars", "has an empty name attribute");
    return names.front();
  }

  detail::Hdf5Reader& h5_;
};

}  // namespace

std::vector<KerasLayer> load_keras_weights(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(path.string() + ": no such file (expected a Keras .h5, .weights.h5 or .keras file)");
  if (first_bytes(path, 8) == std::string(kHdf5Signature, 8)) {
    detail::BinaryFile file(path);
    detail::Hdf5Reader h5(path.string(), file.size(), [&](std::uint64_t offset, void* dst, std::uint64_t n) {
      file.read_at(offset, dst, n, "HDF5 data");
    });
    return Reader(h5).read();
  }
  // A .keras archive: its model.weights.h5, read from memory.
  auto entry = keras_archive_entry(path);
  if (!entry)
    throw Error(path.string() + ": not a Keras weights file (neither HDF5 nor a .keras archive with " +
                kKerasArchiveWeights + ")");
  detail::BinaryFile file(path);
  std::vector<char> image(static_cast<size_t>(entry->size));
  file.read_at(entry->data_offset, image.data(), entry->size, kKerasArchiveWeights);
  detail::Hdf5Reader h5(path.string() + "/" + kKerasArchiveWeights, image.size(),
                        [&](std::uint64_t offset, void* dst, std::uint64_t n) {
                          std::memcpy(dst, image.data() + offset, static_cast<size_t>(n));
                        });
  return Reader(h5).read();
}

#if !defined(TLEARN_HAVE_HDF5)

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

/// Silences libhdf5's printing of its error stack while we write (we report errors
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

}  // namespace

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
