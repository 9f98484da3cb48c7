// Implementation of tlearn/models/timm.hpp.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <regex>

#include "tlearn/core/batch_norm.hpp"
#include "tlearn/core/conv2d.hpp"
#include "tlearn/core/layer_table.hpp"
#include "tlearn/detail/file.hpp"
#include "tlearn/io/checkpoint.hpp"
#include "tlearn/io/hf_hub.hpp"
#include "tlearn/io/safetensors.hpp"
#include "tlearn/models/pretrained.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/models/timm.hpp"

namespace tlearn {

namespace detail {

namespace fs = std::filesystem;

/// One value of config.json, type-checked: a damaged file names its entry.
template <class T>
T timm_entry(const nlohmann::json& object, const char* key, T fallback, const fs::path& file) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error("read_timm_config: " + file.string() + ": '" + key + "' has the wrong type: " +
                it->dump().substr(0, 200));
  }
}

/// std::regex_replace with ${N+K} / ${N-K} (group N plus or minus K) as well as $N.
std::string replace_with_arithmetic(const std::string& key, const std::regex& re, const std::string& format) {
  std::string out;
  auto last = key.cbegin();
  for (std::sregex_iterator it(key.begin(), key.end(), re), end; it != end; ++it) {
    const std::smatch& m = *it;
    out.append(last, key.cbegin() + m.position(0));
    for (size_t i = 0; i < format.size(); ++i) {
      if (format[i] != '$' || i + 1 == format.size()) {
        out += format[i];
      } else if (std::isdigit(static_cast<unsigned char>(format[i + 1]))) {
        out += m.str(size_t(format[i + 1] - '0'));
        ++i;
      } else if (format[i + 1] == '{') {
        const size_t close = format.find('}', i);
        const std::string inner = format.substr(i + 2, close - i - 2);  // "N", "N+K" or "N-K"
        const size_t op = inner.find_first_of("+-");
        const int64_t group = std::stoll(inner.substr(0, op));
        int64_t value = std::stoll(m.str(size_t(group)));
        if (op != std::string::npos) value += (inner[op] == '+' ? 1 : -1) * std::stoll(inner.substr(op + 1));
        out += std::to_string(value);
        i = close;
      } else {
        out += format[i];
      }
    }
    last = key.cbegin() + m.position(0) + m.length(0);
    if (m.length(0) == 0) break;
  }
  out.append(last, key.cend());
  return out;
}

/// The entry of `spec.timm_shapes` for our weight `key`, if any.
const std::vector<int64_t>* timm_shape_rule(const ModelSpec& spec, const std::string& key) {
  for (const auto& [pattern, shape] : spec.timm_shapes)
    if (matches_any(key, {pattern})) return &shape;
  return nullptr;
}

/// timm's shape for our `tensor` under `spec.timm_shapes`, or its own shape.
std::vector<int64_t> timm_shape(const ModelSpec& spec, const std::string& key, const torch::Tensor& tensor) {
  const auto* rule = timm_shape_rule(spec, key);
  if (!rule) return tensor.sizes().vec();
  std::vector<int64_t> out = *rule;
  for (size_t d = 0; d < out.size(); ++d)
    if (out[d] == 0) out[d] = tensor.size(int64_t(d));
  return out;
}

bool near(const std::vector<double>& a, std::initializer_list<double> b) {
  if (a.size() != b.size()) return false;
  size_t i = 0;
  for (double v : b)
    if (std::abs(a[i++] - v) > 1e-4) return false;
  return true;
}

/// ImageNet's and Inception's mean and std by name (so Keras-style code reads them as
/// such); any other pair as it is (CLIP's, for one).
Preprocessing preprocessing_for(const TimmConfig& c) {
  if (near(c.mean, {0.485, 0.456, 0.406}) && near(c.std, {0.229, 0.224, 0.225})) return Preprocessing::Torch;
  if (near(c.mean, {0.5, 0.5, 0.5}) && near(c.std, {0.5, 0.5, 0.5})) return Preprocessing::TF;
  return Preprocessing::mean_std({float(c.mean[0]), float(c.mean[1]), float(c.mean[2])},
                                 {float(c.std[0]), float(c.std[1]), float(c.std[2])});
}

Interpolation interpolation_for(const std::string& name, const std::string& source) {
  if (name == "bicubic") return Interpolation::Bicubic;
  if (name == "bilinear") return Interpolation::Bilinear;
  if (name == "nearest") return Interpolation::Nearest;
  throw Error(source + ": its config asks for interpolation '" + name +
              "'; tlearn's eval transform has bicubic, bilinear and nearest");
}

std::string interpolation_name(Interpolation i) {
  switch (i) {
    case Interpolation::Bicubic: return "bicubic";
    case Interpolation::Nearest: return "nearest";
    default: return "bilinear";
  }
}

/// The config.json of the timm weights `source` names (downloaded from the Hub).
TimmConfig source_config(const std::string& source) {
  if (io::is_hub_name(source)) return read_timm_config(io::hf_hub_download(io::HubRepo::parse(source), "config.json"));
  const fs::path folder = source.substr(std::string("local-dir:").size());
  if (!fs::is_regular_file(folder / "config.json"))
    throw Error(source + ": " + (folder / "config.json").string() +
                " does not exist; a timm model folder holds config.json and model.safetensors (save_timm writes them)");
  return read_timm_config(folder / "config.json");
}

/// The file that holds the weights `source` names: model.safetensors, or the older
/// pytorch_model.bin where a repository or folder has only that.
fs::path source_weights(const std::string& source) {
  if (io::is_hub_name(source)) {
    const auto repo = io::HubRepo::parse(source);
    if (auto file = io::hf_hub_try_download(repo, "model.safetensors")) return *file;
    if (auto bin = io::hf_hub_try_download(repo, "pytorch_model.bin")) return *bin;
    throw Error(source + " has neither model.safetensors nor pytorch_model.bin: not a timm model repository?");
  }
  const fs::path folder = source.substr(std::string("local-dir:").size());
  for (const char* name : {"model.safetensors", "pytorch_model.bin"})
    if (fs::is_regular_file(folder / name)) return folder / name;
  throw Error(source + ": " + folder.string() + " has neither model.safetensors nor pytorch_model.bin");
}

WeightSpec timm_weight_spec(const TimmConfig& c, const std::string& source, const fs::path& file) {
  WeightSpec w;
  w.tag = source;
  w.file = file.string();
  w.timm_keys = true;
  w.timm_architecture = c.architecture;
  w.preprocessing = preprocessing_for(c);
  if (c.input_size.size() != 3 || c.input_size[1] != c.input_size[2])
    throw Error(source + ": its config's input_size is not (3, N, N); tlearn's eval transform crops squares");
  if (c.crop_mode != "center")
    throw Error(source + ": its config's crop_mode is '" + c.crop_mode +
                "'; tlearn's eval transform crops the center (timm's 'center')");
  if (!(c.crop_pct > 0 && c.crop_pct <= 1.5))
    throw Error(source + ": its config's crop_pct " + std::to_string(c.crop_pct) + " is not in (0, 1.5]");
  // timm's transforms_imagenet_eval: the shorter side to floor(size / crop_pct), then the center crop.
  w.transform.crop_size = c.input_size[1];
  w.transform.resize_size = int64_t(std::floor(double(c.input_size[1]) / c.crop_pct));
  w.transform.interpolation = interpolation_for(c.interpolation, source);
  w.num_classes = c.num_classes;
  w.class_names = c.label_descriptions.empty() ? c.label_names : c.label_descriptions;
  w.categories = c.label_names.empty() && c.num_classes == 1000 ? "imagenet" : "";
  return w;
}

std::shared_ptr<BackboneImpl> create_timm_backbone(const std::string& model_name, const std::string& source,
                                                   BackboneOptions options) {
  const TimmConfig config = source_config(source);
  const std::string name = model_for_timm(config.architecture);
  if (!model_name.empty() && model_name != name)
    throw Error(source + " holds timm's " + config.architecture + " (tlearn's " + name + "), not " + model_name +
                "; build it with make_backbone(\"" + source + "\")");
  const auto& entry = registered_model(name);
  ModelSpec spec = entry.spec;
  spec.weights.insert(spec.weights.begin(), timm_weight_spec(config, source, source_weights(source)));
  if (options.weights().empty() || options.weights() == "imagenet") options.weights(source);
  if (options.weights() != source)
    throw Error("make_backbone(\"" + source + "\"): the weights come from there; leave weights() empty, not '" +
                options.weights() + "'");
  if (options.include_top() && options.classes() == 1000) options.classes(config.num_classes);
  auto model = entry.build(spec, options);
  load_pretrained(*model);
  return model;
}

/// Every tlearn BatchNorm in `model`.
std::vector<nn::BatchNorm2dImpl*> batch_norms(const BackboneImpl& model) {
  std::vector<nn::BatchNorm2dImpl*> out;
  for (const auto& m : model.modules(/*include_self=*/false))
    if (auto* bn = dynamic_cast<nn::BatchNorm2dImpl*>(m.get())) out.push_back(bn);
  return out;
}

const TimmArchitecture* find_timm_architecture(const ModelSpec& spec, const std::string& name) {
  static const std::regex sized("^(vit_[a-z]+_patch\\d+)_\\d+$");
  std::smatch m;
  const std::string at_224 = std::regex_match(name, m, sized) ? m[1].str() + "_224" : "";
  for (const auto& a : spec.timm_architectures)
    if (a.name == name || a.name == at_224) return &a;
  return nullptr;
}

void use_timm_architecture(BackboneImpl& model, const std::string& name) {
  const TimmArchitecture* a = find_timm_architecture(model.spec(), name);
  if (!a) throw Error(model.spec().name + " is not timm's " + name);
  if (a->batch_norm_eps > 0)
    for (auto* bn : batch_norms(model)) bn->options.eps(a->batch_norm_eps);
  if (a->tf_same_padding)
    for (const auto& m : model.modules(/*include_self=*/false))
      if (auto* conv = dynamic_cast<nn::Conv2dImpl*>(m.get()))
        if ((*conv->options.stride())[0] > 1 || (*conv->options.stride())[1] > 1) conv->set_tf_same_padding(true);
  model.set_timm_architecture(name);
}

}  // namespace detail

TimmConfig read_timm_config(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw Error("read_timm_config: cannot open " + file.string());
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error("read_timm_config: " + file.string() + " is not JSON: " + e.what());
  }
  if (!root.is_object()) throw Error("read_timm_config: " + file.string() + " is not a JSON object");
  // save_for_hf's layout: architecture, num_classes, label_names at the top, the rest in
  // pretrained_cfg; older files are one flat pretrained_cfg.
  const nlohmann::json cfg = root.contains("pretrained_cfg") ? root["pretrained_cfg"] : root;
  if (!cfg.is_object()) throw Error("read_timm_config: " + file.string() + ": 'pretrained_cfg' is not an object");
  TimmConfig c;
  c.architecture = detail::timm_entry<std::string>(root, "architecture", "", file);
  if (c.architecture.empty()) c.architecture = detail::timm_entry<std::string>(cfg, "architecture", "", file);
  if (c.architecture.empty())
    throw Error("read_timm_config: " + file.string() + " names no 'architecture': not a timm model config");
  c.tag = detail::timm_entry<std::string>(cfg, "tag", "", file);
  c.num_classes = detail::timm_entry<int64_t>(cfg, "num_classes", c.num_classes, file);
  c.num_classes = detail::timm_entry<int64_t>(root, "num_classes", c.num_classes, file);
  c.label_names = detail::timm_entry<std::vector<std::string>>(cfg, "label_names", {}, file);
  c.label_names = detail::timm_entry<std::vector<std::string>>(root, "label_names", c.label_names, file);
  c.input_size = detail::timm_entry<std::vector<int64_t>>(cfg, "input_size", c.input_size, file);
  c.interpolation = detail::timm_entry<std::string>(cfg, "interpolation", c.interpolation, file);
  c.crop_pct = detail::timm_entry<double>(cfg, "crop_pct", c.crop_pct, file);
  c.crop_mode = detail::timm_entry<std::string>(cfg, "crop_mode", c.crop_mode, file);
  c.mean = detail::timm_entry<std::vector<double>>(cfg, "mean", c.mean, file);
  c.std = detail::timm_entry<std::vector<double>>(cfg, "std", c.std, file);
  // label_descriptions: {label: description}, read in label_names' order.
  const nlohmann::json& top = root;
  for (const nlohmann::json* where : {&cfg, &top}) {
    auto it = where->find("label_descriptions");
    if (it == where->end() || it->is_null()) continue;
    if (!it->is_object())
      throw Error("read_timm_config: " + file.string() + ": 'label_descriptions' is not an object");
    c.label_descriptions.clear();
    for (const auto& label : c.label_names) {
      auto d = it->find(label);
      c.label_descriptions.push_back(d != it->end() && d->is_string() ? d->get<std::string>() : label);
    }
  }
  // A config from the Hub is input like any file: what it makes tlearn allocate is bounded.
  constexpr int64_t kMaxClasses = 1000000, kMaxInputSize = 4096;
  if (c.num_classes > kMaxClasses)
    throw Error("read_timm_config: " + file.string() + " asks for " + std::to_string(c.num_classes) +
                " classes; at most " + std::to_string(kMaxClasses) + " are accepted (a damaged file?)");
  for (const int64_t d : c.input_size)
    if (d < 1 || d > kMaxInputSize)
      throw Error("read_timm_config: " + file.string() + ": input_size holds " + std::to_string(d) +
                  "; each size must be in 1.." + std::to_string(kMaxInputSize));
  if (c.num_classes < 0 || (!c.label_names.empty() && int64_t(c.label_names.size()) != c.num_classes))
    throw Error("read_timm_config: " + file.string() + " has " + std::to_string(c.num_classes) + " classes and " +
                std::to_string(c.label_names.size()) + " label names");
  if (c.mean.size() != 3 || c.std.size() != 3)
    throw Error("read_timm_config: " + file.string() + ": mean and std need 3 values each");
  return c;
}

std::string model_for_timm(const std::string& architecture) {
  std::vector<std::string> timm_names;
  for (const auto& name : list_models()) {
    const auto& spec = model_spec(name);
    if (detail::find_timm_architecture(spec, architecture)) return name;
    for (const auto& a : spec.timm_architectures) timm_names.push_back(a.name);
  }
  std::sort(timm_names.begin(), timm_names.end(), [&](const std::string& a, const std::string& b) {
    return detail::edit_distance(architecture, a) < detail::edit_distance(architecture, b);
  });
  std::string closest;
  for (size_t i = 0; i < std::min<size_t>(5, timm_names.size()); ++i) closest += (i ? ", " : "") + timm_names[i];
  throw Error("timm's architecture '" + architecture +
              "' is not one tlearn builds; the closest timm architectures tlearn has: " + closest +
              " (each registered model's spec().timm_architectures lists them all)");
}

bool is_timm_source(const std::string& name) {
  return io::is_hub_name(name) || name.rfind("local-dir:", 0) == 0;
}

std::string timm_key(const ModelSpec& spec, const std::string& key) {
  std::string out = key;
  for (const auto& [pattern, replacement] : spec.timm_keys)
    out = detail::replace_with_arithmetic(out, std::regex(pattern), replacement);
  return out;
}

io::StateDict from_timm_state_dict(const BackboneImpl& model, const io::StateDict& timm_state) {
  const ModelSpec& spec = model.spec();
  std::map<std::string, std::pair<std::string, std::vector<int64_t>>> ours;  // timm key -> our key, shape
  for (const auto& item : io::state_dict(model))
    ours[timm_key(spec, item.key())] = {item.key(), item.value().sizes().vec()};
  io::StateDict out;
  for (const auto& item : timm_state) {
    auto it = ours.find(item.key());
    if (it == ours.end()) {
      out.insert(item.key(), item.value());
      continue;
    }
    torch::Tensor value = item.value();
    const auto& shape = it->second.second;
    // timm's other layout of the same numbers (checked: the element counts agree).
    if (value.sizes().vec() != shape && value.numel() == c10::multiply_integers(shape) &&
        detail::timm_shape_rule(spec, it->second.first))
      value = value.reshape(shape);
    out.insert(it->second.first, value);
  }
  // What timm does not save (spec.timm_unsaved), and BatchNorm's step counters that
  // some published files leave out (PyTorch fills them in too): the model's own.
  for (const auto& item : io::state_dict(model)) {
    const std::string& key = item.key();
    const bool counter = key.size() > 20 && key.compare(key.size() - 20, 20, ".num_batches_tracked") == 0;
    if (!out.contains(key) && (counter || detail::matches_any(key, spec.timm_unsaved)))
      out.insert(key, item.value());
  }
  return out;
}

io::StateDict to_timm_state_dict(const BackboneImpl& model) {
  io::StateDict out;
  for (const auto& item : io::state_dict(model)) {
    if (detail::matches_any(item.key(), model.spec().timm_unsaved)) continue;
    const std::string key = timm_key(model.spec(), item.key());
    out.insert(key, item.value().reshape(detail::timm_shape(model.spec(), item.key(), item.value())));
  }
  return out;
}

void save_timm(const BackboneImpl& model, const std::filesystem::path& folder,
               const std::vector<std::string>& class_names) {
  const ModelSpec& spec = model.spec();
  if (spec.timm_architectures.empty())
    throw Error("save_timm: timm has no architecture that is tlearn's " + spec.name +
                "; save_model (io/model_file.hpp) keeps it for tlearn");
  if (!model.options().include_top())
    throw Error("save_timm: " + spec.name +
                " was built without its top; timm's models have one: build it with include_top(true) and classes(N)");
  // The timm architecture whose numbers the model computes: the one whose weights it
  // loaded, else one that computes what torchvision's modules do.
  std::string architecture = model.timm_architecture();
  for (const auto& a : spec.timm_architectures)
    if (architecture.empty() && a.batch_norm_eps == 0 && !a.tf_same_padding) architecture = a.name;
  if (architecture.empty()) {
    const auto& a = spec.timm_architectures.front();
    throw Error("save_timm: this " + spec.name + " has torchvision's numbers, but timm's " + a.name + " uses " +
                (a.batch_norm_eps > 0 ? "BatchNorm epsilon " + std::to_string(a.batch_norm_eps)
                                      : std::string("TensorFlow's padding")) +
                ", so timm would compute other numbers. Start from timm's weights (hf-hub:... or local-dir:...) "
                "to fine-tune a model for timm");
  }
  const int64_t classes = model.options().classes();
  if (!class_names.empty() && int64_t(class_names.size()) != classes)
    throw Error("save_timm: " + std::to_string(class_names.size()) + " class names for a top of " +
                std::to_string(classes) + " classes");
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) throw Error("save_timm: cannot create " + folder.string() + ": " + ec.message());

  io::StateDict state;
  for (const auto& item : to_timm_state_dict(model))
    state.insert(item.key(), item.value().detach().to(torch::kCPU).contiguous());
  io::save_safetensors(state, folder / "model.safetensors", {{"format", "pt"}});

  const EvalTransformSpec t = model.eval_transform_spec();
  const auto hw = model.input_shape();
  const Preprocessing p = model.preprocessing();
  nlohmann::ordered_json cfg;
  cfg["architecture"] = architecture;
  cfg["num_classes"] = classes;
  if (!class_names.empty()) cfg["label_names"] = class_names;
  nlohmann::ordered_json pre;
  pre["tag"] = "tlearn";
  pre["input_size"] = {int64_t(3), hw[0], hw[1]};
  pre["interpolation"] = detail::interpolation_name(t.interpolation);
  // timm resizes to floor(crop / crop_pct): keep that exactly our resize size.
  double crop_pct = double(t.crop_size) / double(t.resize_size);
  while (std::floor(double(t.crop_size) / crop_pct) < double(t.resize_size)) crop_pct = std::nextafter(crop_pct, 0.0);
  pre["crop_pct"] = crop_pct;
  pre["crop_mode"] = "center";
  if (p.mode() == Preprocessing::Identity || p.mode() == Preprocessing::Caffe)
    throw Error("save_timm: " + spec.name + "'s weights use " + to_string(p) +
                " preprocessing, which timm's config cannot say (it holds a mean and std on 0..1 inputs)");
  const auto mean = p.mean(), stddev = p.stddev();
  pre["mean"] = {double(mean[0]), double(mean[1]), double(mean[2])};
  pre["std"] = {double(stddev[0]), double(stddev[1]), double(stddev[2])};
  pre["num_classes"] = classes;
  cfg["pretrained_cfg"] = pre;
  tlearn::detail::write_atomically(folder / "config.json", [&](std::ofstream& out) { out << cfg.dump(2) << "\n"; });
}

}  // namespace tlearn
