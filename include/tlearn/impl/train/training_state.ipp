// Implementation of tlearn/train/training_state.hpp.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>

#include "tlearn/detail/strict_json.hpp"
#include "tlearn/io/safetensors.hpp"
#include "tlearn/train/training_state.hpp"

namespace tlearn {

namespace {

using tlearn::detail::Json;

constexpr const char* kStateMetadataKey = "tlearn.training_state";
constexpr int kStateFormatVersion = 1;

// Tensor names in the file: "<section>/<name>".
constexpr const char* kModel = "model/";
constexpr const char* kOptimizer = "optimizer/";
constexpr const char* kRng = "rng/";
constexpr const char* kCallbacks = "callbacks/";
constexpr const char* kEma = "ema/";

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

using tlearn::detail::StrictObject;

/// A JSON object of numbers (a group's options, a callback's state), null and
/// "inf" / "-inf" standing for what JSON cannot write.
std::map<std::string, double> read_numbers(StrictObject object) {
  std::map<std::string, double> out;
  for (const auto& item : object.json().items()) {
    const auto& v = item.value();
    if (v.is_null())
      out[item.key()] = NAN;
    else if (v == "inf")
      out[item.key()] = INFINITY;
    else if (v == "-inf")
      out[item.key()] = -INFINITY;
    else if (v.is_number())
      out[item.key()] = v.get<double>();
    else
      object.fail("has '" + item.key() + "', which is not a number: " + v.dump().substr(0, 200));
  }
  return out;
}

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
  for (const auto& item : state.ema) tensors.insert(kEma + item.key(), item.value());
  Json json = {{"format", kStateMetadataKey},
               {"version", kStateFormatVersion},
               {"epoch", state.epoch},
               {"optimizer", state.optimizer},
               {"updates", state.updates},
               {"lr_scale", state.lr_scale}};
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
  const tlearn::detail::StrictContext context{"load_training_state", "the training state's",
                                              "(damaged, or written by another tlearn version?)"};
  Json json;
  try {
    json = Json::parse(text->second);
  } catch (const nlohmann::json::exception& e) {
    throw Error("load_training_state: " + name + ": the training state's description is not valid JSON (" + e.what() +
                ")");
  }
  StrictObject read(json, "description", name, context);
  if (read.get<std::string>("format") != kStateMetadataKey)
    read.fail("'format' is not " + std::string(kStateMetadataKey));
  const auto version = read.get<int64_t>("version");
  if (version != kStateFormatVersion)
    read.fail("has format version " + std::to_string(version) + "; this tlearn reads version " +
              std::to_string(kStateFormatVersion));

  TrainingState state;
  state.epoch = read.get<int64_t>("epoch");
  if (state.epoch < 0) read.fail("has a negative epoch");
  state.optimizer = read.get<std::string>("optimizer");
  // Absent in checkpoints written before schedules and EMA existed.
  state.updates = read.get_or<int64_t>("updates", 0);
  state.lr_scale = read.get_or<double>("lr_scale", 1.0);
  if (state.updates < 0 || !(state.lr_scale >= 0)) read.fail("has a negative 'updates' or 'lr_scale'");
  const auto groups = read.get<Json>("groups");
  if (!groups.is_array()) read.fail("has 'groups' that is not a list");
  for (size_t g = 0; g < groups.size(); ++g) {
    StrictObject group(groups[g], "group " + std::to_string(g), name, context);
    state.groups.push_back({read_numbers(group.object("options")), group.get<std::vector<std::string>>("parameters")});
    group.finish();
  }
  state.grad_scaler = read_numbers(read.object("grad_scaler"));
  auto callbacks = read.object("callbacks");
  for (const auto& item : callbacks.json().items())
    state.callbacks[item.key()].numbers = read_numbers(callbacks.object(item.key()));
  read.finish();

  for (const auto& item : io::load_safetensors(path)) {
    const std::string& key = item.key();
    if (starts_with(key, kModel)) {
      state.model.insert(key.substr(std::strlen(kModel)), item.value());
    } else if (starts_with(key, kOptimizer)) {
      state.optimizer_state.insert(key.substr(std::strlen(kOptimizer)), item.value());
    } else if (starts_with(key, kRng)) {
      state.rng.insert(key.substr(std::strlen(kRng)), item.value());
    } else if (starts_with(key, kEma)) {
      state.ema.insert(key.substr(std::strlen(kEma)), item.value());
    } else if (starts_with(key, kCallbacks)) {
      const auto rest = key.substr(std::strlen(kCallbacks));
      const auto slash = rest.find('/');
      const auto owner = rest.substr(0, slash);
      if (slash == std::string::npos || !state.callbacks.count(owner))
        read.fail("has no callback that tensor '" + key + "' belongs to");
      state.callbacks[owner].tensors.insert(rest.substr(slash + 1), item.value());
    } else {
      read.fail("cannot place tensor '" + key + "' (no section model/, optimizer/, rng/, ema/ or callbacks/)");
    }
  }
  return state;
}

}  // namespace tlearn
