// Implementation of tlearn/train/training_state.hpp.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>

#include "tlearn/io/safetensors.hpp"
#include "tlearn/train/training_state.hpp"

namespace tlearn {

namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kStateMetadataKey = "tlearn.training_state";
constexpr int kStateFormatVersion = 1;

// Tensor names in the file: "<section>/<name>".
constexpr const char* kModel = "model/";
constexpr const char* kOptimizer = "optimizer/";
constexpr const char* kRng = "rng/";
constexpr const char* kCallbacks = "callbacks/";

// JSON has no NaN or infinity; a monitor's "best" is NaN before the first epoch.
Json number_json(double v) {
  if (std::isnan(v)) return nullptr;
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

Json numbers_json(const std::map<std::string, double>& numbers) {
  Json out = Json::object();
  for (const auto& [key, value] : numbers) out[key] = number_json(value);
  return out;
}

/// Reads the JSON description, every step checked: a damaged or foreign file is
/// an Error naming the file and the entry, never a JSON library exception.
class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  const Json& at(const Json& object, const std::string& key, const std::string& where) const {
    if (!object.is_object() || !object.contains(key)) fail(where + " has no '" + key + "'");
    return object.at(key);
  }
  template <class T>
  T get(const Json& value, const std::string& where) const {
    try {
      return value.get<T>();
    } catch (const nlohmann::json::exception&) {
      fail(where + " has the wrong type: " + value.dump().substr(0, 200));
    }
  }
  double number(const Json& value, const std::string& where) const {
    if (value.is_null()) return NAN;
    if (value == "inf") return INFINITY;
    if (value == "-inf") return -INFINITY;
    if (!value.is_number()) fail(where + " is not a number: " + value.dump().substr(0, 200));
    return value.get<double>();
  }
  std::map<std::string, double> numbers(const Json& object, const std::string& where) const {
    if (!object.is_object()) fail(where + " is not a JSON object");
    std::map<std::string, double> out;
    for (const auto& item : object.items()) out[item.key()] = number(item.value(), where + "." + item.key());
    return out;
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw Error("load_training_state: " + path_ + ": the training state's " + why +
                " (damaged, or written by another tlearn version?)");
  }

 private:
  std::string path_;
};

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

/// The first bytes of the file, to tell formats apart before parsing.
std::string file_magic(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string magic(4, '\0');
  in.read(magic.data(), 4);
  magic.resize(size_t(in.gcount()));
  return magic;
}

}  // namespace

void save_training_state(const TrainingState& state, const std::filesystem::path& path) {
  io::StateDict tensors;
  for (const auto& item : state.model) tensors.insert(kModel + item.key(), item.value());
  for (const auto& item : state.optimizer_state) tensors.insert(kOptimizer + item.key(), item.value());
  for (const auto& item : state.rng) tensors.insert(kRng + item.key(), item.value());
  Json json = {{"format", kStateMetadataKey},
               {"version", kStateFormatVersion},
               {"epoch", state.epoch},
               {"optimizer", state.optimizer}};
  Json groups = Json::array();
  for (const auto& g : state.groups)
    groups.push_back({{"options", numbers_json(g.options)}, {"parameters", g.parameters}});
  json["groups"] = groups;
  json["grad_scaler"] = numbers_json(state.grad_scaler);
  Json callbacks = Json::object();
  for (const auto& [name, cb] : state.callbacks) {
    if (name.empty() || name.find('/') != std::string::npos)
      throw Error("save_training_state: a callback's state_name() '" + name + "' must be non-empty, without '/'");
    callbacks[name] = numbers_json(cb.numbers);
    for (const auto& item : cb.tensors) tensors.insert(kCallbacks + name + "/" + item.key(), item.value());
  }
  json["callbacks"] = callbacks;
  io::save_safetensors(tensors, path, {{"format", kStateMetadataKey}, {kStateMetadataKey, json.dump()}});
}

TrainingState load_training_state(const std::filesystem::path& path) {
  const std::string name = path.string();
  if (!std::filesystem::exists(path))
    throw Error("load_training_state: '" + name +
                "' does not exist (written by Trainer::save_checkpoint or ModelCheckpoint with full_state(true))");
  if (file_magic(path) == std::string("PK\x03\x04", 4))
    throw Error("load_training_state: '" + name +
                "' is a zip archive: a TorchScript archive (the training-checkpoint format of earlier tlearn "
                "versions) or a torch.save file. tlearn does not read training state from it, because loading "
                "a TorchScript archive compiles and runs the code stored inside the file. Start the run again "
                "and save checkpoints with this version; model weights in a torch.save file load with "
                "io::load_checkpoint");
  const auto metadata = io::safetensors_metadata(path);  // a file that is not safetensors fails here, by name
  const auto text = metadata.find(kStateMetadataKey);
  if (text == metadata.end())
    throw Error("load_training_state: '" + name +
                "' is a safetensors file without a training state (no \"tlearn.training_state\" metadata): "
                "a weights file? Load weights with io::load_state_dict(model, io::load_safetensors(path))");
  Reader read(name);
  Json json;
  try {
    json = Json::parse(text->second);
  } catch (const nlohmann::json::exception& e) {
    read.fail(std::string("description is not valid JSON (") + e.what() + ")");
  }
  const auto version = read.get<int64_t>(read.at(json, "version", "description"), "version");
  if (version != kStateFormatVersion)
    read.fail("format version is " + std::to_string(version) + "; this tlearn reads version " +
              std::to_string(kStateFormatVersion));

  TrainingState state;
  state.epoch = read.get<int64_t>(read.at(json, "epoch", "description"), "epoch");
  if (state.epoch < 0) read.fail("epoch is negative");
  state.optimizer = read.get<std::string>(read.at(json, "optimizer", "description"), "optimizer");
  const auto& groups = read.at(json, "groups", "description");
  if (!groups.is_array()) read.fail("'groups' is not a list");
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::string where = "group " + std::to_string(g);
    OptimizerGroupState group;
    group.options = read.numbers(read.at(groups[g], "options", where), where + " options");
    group.parameters =
        read.get<std::vector<std::string>>(read.at(groups[g], "parameters", where), where + " parameters");
    state.groups.push_back(std::move(group));
  }
  state.grad_scaler = read.numbers(read.at(json, "grad_scaler", "description"), "grad_scaler");
  const auto& callbacks = read.at(json, "callbacks", "description");
  if (!callbacks.is_object()) read.fail("'callbacks' is not a JSON object");
  for (const auto& item : callbacks.items())
    state.callbacks[item.key()].numbers = read.numbers(item.value(), "callback " + item.key());

  for (const auto& item : io::load_safetensors(path)) {
    const std::string& key = item.key();
    if (starts_with(key, kModel)) {
      state.model.insert(key.substr(std::strlen(kModel)), item.value());
    } else if (starts_with(key, kOptimizer)) {
      state.optimizer_state.insert(key.substr(std::strlen(kOptimizer)), item.value());
    } else if (starts_with(key, kRng)) {
      state.rng.insert(key.substr(std::strlen(kRng)), item.value());
    } else if (starts_with(key, kCallbacks)) {
      const auto rest = key.substr(std::strlen(kCallbacks));
      const auto slash = rest.find('/');
      const auto owner = rest.substr(0, slash);
      if (slash == std::string::npos || !state.callbacks.count(owner))
        read.fail("tensor '" + key + "' belongs to no saved callback");
      state.callbacks[owner].tensors.insert(rest.substr(slash + 1), item.value());
    } else {
      read.fail("tensor '" + key + "' is in no section (model/, optimizer/, rng/, callbacks/)");
    }
  }
  return state;
}

}  // namespace tlearn
