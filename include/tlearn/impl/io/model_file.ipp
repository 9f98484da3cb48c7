// Implementation of tlearn/io/model_file.hpp.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "tlearn/detail/strict_json.hpp"
#include "tlearn/io/model_file.hpp"
#include "tlearn/io/safetensors.hpp"
#include "tlearn/models/registry.hpp"

namespace tlearn {

namespace detail {

constexpr const char* kModelMetadataKey = "tlearn.model";
constexpr const char* kModelFormat = "tlearn.model";
constexpr int kModelFormatVersion = 1;

// ---- enums as the words a reader of the JSON expects ----

template <>
struct EnumNames<Pooling> {
  static constexpr std::pair<Pooling, const char*> table[] = {
      {Pooling::None, "none"}, {Pooling::Avg, "avg"}, {Pooling::Max, "max"}, {Pooling::Token, "token"}};
};
template <>
struct EnumNames<Activation> {
  static constexpr std::pair<Activation, const char*> table[] = {
      {Activation::None, "none"}, {Activation::Softmax, "softmax"}, {Activation::Sigmoid, "sigmoid"}};
};
template <>
struct EnumNames<Interpolation> {
  static constexpr std::pair<Interpolation, const char*> table[] = {{Interpolation::Nearest, "nearest"},
                                                                    {Interpolation::Bilinear, "bilinear"},
                                                                    {Interpolation::Bicubic, "bicubic"},
                                                                    {Interpolation::Area, "area"}};
};

template <class E>
std::string enum_name(E value) {
  for (const auto& [v, name] : EnumNames<E>::table)
    if (v == value) return name;
  throw Error("save_model: an enum value has no name; this is a tlearn bug");
}

/// load_model's errors: a missing entry means an older file, which the weights alone can still rebuild.
StrictContext model_context() {
  return {"load_model", "the model description's",
          "(written by an older tlearn?); rebuild the model in code and load the weights "
          "with io::load_state_dict(*model, io::load_safetensors(path), LoadOptions().strict(false))"};
}

// ---- the parts of a model ----

Json backbone_json(const BackboneImpl& b) {
  const auto& o = b.options();
  Json options = {{"include_top", o.include_top()},
                  {"weights", o.weights()},
                  {"classes", o.classes()},
                  {"classifier_activation", enum_name(o.classifier_activation())},
                  {"pooling", enum_name(o.pooling())},
                  {"input_shape", o.input_shape()},
                  {"in_chans", o.in_chans()},
                  {"drop_rate", o.drop_rate()},
                  {"drop_path_rate", o.drop_path_rate()},
                  {"aux_logits", o.aux_logits()}};
  Json frozen = Json::array(), batchnorm_frozen = Json::array();
  const auto& table = b.layer_table();
  for (size_t i = 0; i < table.size(); ++i) {
    if (!table[i].trainable) frozen.push_back(table[i].name);
    bool any_frozen_bn = false;
    for (const auto& module : table[i].modules)
      for (const auto& m : module->modules(/*include_self=*/true))
        if (auto* bn = dynamic_cast<const nn::BatchNorm2dImpl*>(m.get()); bn && bn->frozen()) any_frozen_bn = true;
    if (any_frozen_bn) batchnorm_frozen.push_back(table[i].name);
  }
  return {{"architecture", b.spec().name},
          {"options", options},
          {"frozen_layers", frozen},
          {"batchnorm_frozen_layers", batchnorm_frozen}};
}

/// A selector over the rows a file names; a name the table lacks is an error.
LayerSelector rows_named(std::vector<std::string> names) {
  return {"the layers the file names", [names](const LayerTable& t) {
            std::vector<size_t> rows;
            for (const auto& n : names) rows.push_back(t.index_of(n));
            return rows;
          }};
}

AnyBackbone backbone_from_json(StrictObject json) {
  const auto arch = json.get<std::string>("architecture");
  auto o = json.object("options");
  BackboneOptions options;
  options.include_top(o.get<bool>("include_top"))
      .weights(o.get<std::string>("weights"))
      .classes(o.get<int64_t>("classes"))
      .classifier_activation(o.get_enum<Activation>("classifier_activation"))
      .pooling(o.get_enum<Pooling>("pooling"))
      .input_shape(o.get<std::vector<int64_t>>("input_shape"))
      .in_chans(o.get<int64_t>("in_chans"))
      .drop_rate(o.get<double>("drop_rate"))
      .drop_path_rate(o.get_or<double>("drop_path_rate", -1.0))
      .aux_logits(o.get<bool>("aux_logits"));
  o.finish();
  // Built without fetching the weights the options name: the file holds the
  // weights, and the name still selects the preprocessing that goes with them.
  const auto& entry = registered_model(arch);
  AnyBackbone backbone(entry.build(entry.spec, options));
  const auto frozen = json.get<std::vector<std::string>>("frozen_layers");
  const auto batchnorm_frozen = json.get<std::vector<std::string>>("batchnorm_frozen_layers");
  json.finish();
  backbone->set_trainable(rows_named(frozen), false);
  backbone->set_batchnorm_frozen(rows_named(batchnorm_frozen), true);
  return backbone;
}

Json head_json(const HeadImpl& h) {
  const auto& o = h.options();
  return {{"in_channels", o.in_channels()},
          {"pooling", enum_name(o.pooling())},
          {"feature_hw", o.feature_hw()},
          {"hidden", o.hidden()},
          {"activation", nn::keras_activation_name(o.activation())},
          {"dropout", o.dropout()},
          {"classes", o.classes()},
          {"class_names", o.class_names()},
          {"output_activation", enum_name(o.output_activation())},
          {"in_features", h.in_features()}};
}

Head head_from_json(StrictObject o) {
  HeadOptions options(o.get<int64_t>("in_channels"));
  options.pooling(o.get_enum<Pooling>("pooling"))
      .feature_hw(o.get<std::vector<int64_t>>("feature_hw"))
      .hidden(o.get<std::vector<int64_t>>("hidden"))
      .activation(nn::parse_activation(o.get<std::string>("activation")))
      .dropout(o.get<double>("dropout"))
      .classes(o.get<int64_t>("classes"))
      .class_names(o.get<std::vector<std::string>>("class_names"))
      .output_activation(o.get_enum<Activation>("output_activation"));
  (void)o.get<int64_t>("in_features");  // checked against the rebuilt head by the caller
  o.finish();
  return Head(options);
}

Json transform_json(const EvalTransformSpec& t) {
  return {{"resize_size", t.resize_size}, {"crop_size", t.crop_size}, {"interpolation", enum_name(t.interpolation)}};
}

/// Description of `backbone` plus what every kind shares.
Json model_json(const std::string& kind, const BackboneImpl& backbone, std::vector<std::string> class_names) {
  return {{"format", kModelFormat},
          {"version", kModelFormatVersion},
          {"kind", kind},
          {"backbone", backbone_json(backbone)},
          {"class_names", std::move(class_names)},
          {"preprocessing", to_string(backbone.preprocessing())},
          {"eval_transform", transform_json(backbone.eval_transform_spec())}};
}

void write_model(const torch::nn::Module& model, const Json& description, const std::filesystem::path& path) {
  io::save_safetensors(io::state_dict(model), path, {{"format", "pt"}, {kModelMetadataKey, description.dump()}});
}

/// The parsed description; a file without one is a weights file, not a model.
Json read_description(const std::filesystem::path& path) {
  const auto metadata = io::safetensors_metadata(path);
  auto it = metadata.find(kModelMetadataKey);
  if (it == metadata.end())
    throw Error("load_model: " + path.string() +
                " holds weights only, no model description (it was not written by save_model); build the model in "
                "code and load them with io::load_state_dict(*model, io::load_checkpoint(path))");
  Json description;
  try {
    description = Json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    throw Error("load_model: " + path.string() + ": the model description is not valid JSON (" + e.what() +
                "); the file is damaged");
  }
  if (!description.is_object() || description.value("format", "") != kModelFormat)
    throw Error("load_model: " + path.string() + ": the model description is not tlearn's");
  const int version = description.value("version", 0);
  if (version > kModelFormatVersion)
    throw Error("load_model: " + path.string() + " was written by a newer tlearn (model format " +
                std::to_string(version) + ", this one reads " + std::to_string(kModelFormatVersion) +
                "); update tlearn");
  return description;
}

/// The rebuilt model must take the saved weights exactly, and see images as they were.
void load_weights(torch::nn::Module& model, const BackboneImpl& backbone, StrictObject& json,
                  const std::filesystem::path& path) {
  const auto preprocessing = json.get<std::string>("preprocessing");
  if (preprocessing != to_string(backbone.preprocessing()))
    json.fail("says the weights expect '" + preprocessing + "' preprocessing, but " + backbone.spec().name +
              " with these options now uses '" + to_string(backbone.preprocessing()) +
              "'; the architecture's weights table changed since the file was written");
  (void)json.get<Json>("eval_transform");
  try {
    io::load_state_dict(model, io::load_safetensors(path));
  } catch (const Error& e) {
    throw Error("load_model: " + path.string() + ": the weights do not fit the model its description rebuilds (" +
                e.what() + ")");
  }
}

StrictObject top_level(const Json& description, const std::string& kind, const std::filesystem::path& path) {
  StrictObject json(description, "top level", path.string(), model_context());
  (void)json.get<std::string>("format");
  (void)json.get<int>("version");
  const auto saved = json.get<std::string>("kind");
  if (saved != kind) {
    const std::string type = saved == "classifier"     ? "Classifier"
                             : saved == "segmentation" ? "SegmentationModel"
                                                       : "AnyBackbone";
    throw Error("load_model: " + path.string() + " holds a " + saved + ", not a " + kind +
                "; call load_model<tl::" + type + ">(path)");
  }
  return json;
}

}  // namespace detail

void save_model(const AnyBackbone& model, const std::filesystem::path& path) {
  detail::write_model(*model, detail::model_json("backbone", *model, {}), path);
}

void save_model(const Classifier& model, const std::filesystem::path& path) {
  auto json = detail::model_json("classifier", *model->backbone, model->head->options().class_names());
  json["head"] = detail::head_json(*model->head);
  detail::write_model(*model, json, path);
}

void save_model(const SegmentationModel& model, const std::filesystem::path& path) {
  const auto& o = model->options();
  auto json = detail::model_json("segmentation", *model->encoder()->backbone(), o.class_names());
  json["segmentation"] = {{"layers", model->encoder()->layer_names()},
                          {"classes", model->decoder()->options().classes()},
                          {"widths", o.widths()},
                          {"dropout", o.dropout()}};
  detail::write_model(*model, json, path);
}

SavedModelInfo read_model_info(const std::filesystem::path& path) {
  const auto d = detail::read_description(path);
  SavedModelInfo info;
  try {
    info.kind = d.at("kind").get<std::string>();
    info.architecture = d.at("backbone").at("architecture").get<std::string>();
    info.class_names = d.at("class_names").get<std::vector<std::string>>();
    info.preprocessing = preprocessing_from_string(d.at("preprocessing").get<std::string>());
    detail::StrictObject t(d.at("eval_transform"), "eval_transform", path.string(), detail::model_context());
    info.eval_transform.resize_size = t.get<int64_t>("resize_size");
    info.eval_transform.crop_size = t.get<int64_t>("crop_size");
    info.eval_transform.interpolation = t.get_enum<Interpolation>("interpolation");
  } catch (const nlohmann::json::exception& e) {
    throw Error("read_model_info: " + path.string() + ": the model description lacks a part (" + e.what() + ")");
  }
  info.json = d.dump(2);
  return info;
}

template <>
AnyBackbone load_model<AnyBackbone>(const std::filesystem::path& path) {
  const auto d = detail::read_description(path);
  auto json = detail::top_level(d, "backbone", path);
  auto backbone = detail::backbone_from_json(json.object("backbone"));
  (void)json.get<std::vector<std::string>>("class_names");
  detail::load_weights(*backbone, *backbone, json, path);
  json.finish();
  return backbone;
}

template <>
Classifier load_model<Classifier>(const std::filesystem::path& path) {
  const auto d = detail::read_description(path);
  auto json = detail::top_level(d, "classifier", path);
  auto backbone = detail::backbone_from_json(json.object("backbone"));
  auto head_json = json.object("head");
  const auto in_features = d.at("head").at("in_features").get<int64_t>();
  Classifier model(backbone, detail::head_from_json(head_json));
  if (model->head->in_features() != in_features)
    head_json.fail("was sized for " + std::to_string(in_features) + " features, but the rebuilt backbone gives " +
                   std::to_string(model->head->in_features()) + "; check the backbone's input_shape");
  (void)json.get<std::vector<std::string>>("class_names");
  detail::load_weights(*model, *model->backbone, json, path);
  json.finish();
  return model;
}

template <>
SegmentationModel load_model<SegmentationModel>(const std::filesystem::path& path) {
  const auto d = detail::read_description(path);
  auto json = detail::top_level(d, "segmentation", path);
  auto backbone = detail::backbone_from_json(json.object("backbone"));
  auto s = json.object("segmentation");
  const auto layers = s.get<std::vector<std::string>>("layers");
  const auto classes = s.get<int64_t>("classes");
  SegmentationModelOptions options;
  options
      .freeze_encoder(false)  // the backbone's frozen layers came back with it
      .widths(s.get<std::vector<int64_t>>("widths"))
      .dropout(s.get<double>("dropout"))
      .class_names(json.get<std::vector<std::string>>("class_names"));
  s.finish();
  SegmentationModel model(backbone, layers, classes, options);
  detail::load_weights(*model, *backbone, json, path);
  json.finish();
  return model;
}

}  // namespace tlearn
