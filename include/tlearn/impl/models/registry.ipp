// Implementation of tlearn/models/registry.hpp and tlearn/models/create.hpp.
#include <algorithm>
#include <map>
#include <mutex>

#include "tlearn/models/alexnet.hpp"
#include "tlearn/models/convnext.hpp"
#include "tlearn/models/create.hpp"
#include "tlearn/models/densenet.hpp"
#include "tlearn/models/efficientnet.hpp"
#include "tlearn/models/googlenet.hpp"
#include "tlearn/models/inception.hpp"
#include "tlearn/models/keras_inception_resnet_v2.hpp"
#include "tlearn/models/keras_mobilenet.hpp"
#include "tlearn/models/keras_resnet_v2.hpp"
#include "tlearn/models/keras_nasnet.hpp"
#include "tlearn/models/keras_xception.hpp"
#include "tlearn/models/maxvit.hpp"
#include "tlearn/models/mnasnet.hpp"
#include "tlearn/models/mobilenet_v2.hpp"
#include "tlearn/models/mobilenet_v3.hpp"
#include "tlearn/models/pretrained.hpp"
#include "tlearn/models/registry.hpp"
#include "tlearn/models/regnet.hpp"
#include "tlearn/models/resnet.hpp"
#include "tlearn/models/shufflenet.hpp"
#include "tlearn/models/squeezenet.hpp"
#include "tlearn/models/swin.hpp"
#include "tlearn/models/timm.hpp"
#include "tlearn/models/vgg.hpp"
#include "tlearn/models/vit.hpp"

namespace tlearn {

namespace {
/// Every family's table of variants, in the order of the umbrella header.
std::vector<std::vector<RegisteredModel>> builtin_variant_tables() {
  return {detail::alexnet_variants(),
          detail::convnext_variants(),
          detail::keras_convnext_variants(),
          detail::densenet_variants(),
          detail::efficientnet_variants(),
          detail::keras_efficientnet_variants(),
          detail::googlenet_variants(),
          detail::inception_variants(),
          detail::keras_inception_resnet_v2_variants(),
          detail::keras_mobilenet_variants(),
          detail::keras_resnet_v2_variants(),
          detail::keras_nasnet_variants(),
          detail::keras_xception_variants(),
          detail::mnasnet_variants(),
          detail::mobilenet_v2_variants(),
          detail::mobilenet_v3_variants(),
          detail::keras_mobilenet_v3_variants(),
          detail::regnet_variants(),
          detail::resnet_variants(),
          detail::shufflenet_variants(),
          detail::squeezenet_variants(),
          detail::vgg_variants(),
          detail::swin_variants(),
          detail::vit_variants(),
          detail::maxvit_variants()};
}

struct Registry {
  std::mutex mutex;
  std::map<std::string, RegisteredModel> models;
};

/// The registry, filled with the built-in models on first use.
Registry& registry() {
  static Registry* instance = [] {
    auto* r = new Registry;  // never destroyed: models may be built during static destruction
    for (auto& table : builtin_variant_tables())
      for (auto& model : table) {
        auto name = model.spec.name;
        r->models.emplace(std::move(name), std::move(model));
      }
    return r;
  }();
  return *instance;
}
}  // namespace

bool register_model(RegisteredModel model) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto name = model.spec.name;
  r.models[name] = std::move(model);
  return true;
}

std::vector<std::string> list_models() {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& entry : r.models) names.push_back(entry.first);
  return names;
}

const ModelSpec& model_spec(const std::string& name) { return detail::registered_model(name).spec; }

namespace detail {
const RegisteredModel& registered_model(const std::string& name) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.models.find(name);
  if (it != r.models.end()) return it->second;
  std::vector<std::pair<size_t, std::string>> scored;
  for (const auto& entry : r.models) scored.emplace_back(edit_distance(name, entry.first), entry.first);
  std::sort(scored.begin(), scored.end());
  std::string hint;
  for (size_t i = 0; i < std::min<size_t>(5, scored.size()); ++i) hint += (i ? ", " : "") + scored[i].second;
  throw Error("unknown model '" + name + "'; did you mean: " + hint + " (list_models() has them all)");
}
}  // namespace detail

std::shared_ptr<BackboneImpl> create_backbone(const std::string& name, const BackboneOptions& options) {
  if (is_timm_source(name)) return detail::create_timm_backbone("", name, options);
  if (is_timm_source(options.weights())) return detail::create_timm_backbone(name, options.weights(), options);
  const auto& entry = detail::registered_model(name);
  auto model = entry.build(entry.spec, options);
  if (!options.weights().empty()) load_pretrained(*model);
  return model;
}

}  // namespace tlearn
