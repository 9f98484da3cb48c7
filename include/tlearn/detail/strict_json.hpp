#pragma once
/// \file
/// Reading a JSON description that a file carries (a saved model's, a training
/// checkpoint's) strictly: every key the reader asks for must be there, of the
/// right type, and no other key may be. A damaged file, or one written by
/// another tlearn version, fails with the file, the entry and what to do,
/// instead of building something else. Internal: the implementation's readers
/// include it, never a public header.

#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <utility>

#include "tlearn/core/error.hpp"

namespace tlearn::detail {

using Json = nlohmann::ordered_json;

/// An enum's words in a description: specialise with a `table` of {value, word}.
template <class E>
struct EnumNames;

/// Whose description it is, for the errors: "load_model: <path>: the model
/// description's top level has no 'kind' (written by an older tlearn?) ...".
struct StrictContext {
  std::string reader;        ///< "load_model"
  std::string description;   ///< "the model description's"
  std::string missing_hint;  ///< after "has no 'key'"
};

class StrictObject {
 public:
  StrictObject(Json object, std::string what, std::string path, StrictContext context)
      : object_(std::move(object)), what_(std::move(what)), path_(std::move(path)), context_(std::move(context)) {
    if (!object_.is_object()) fail("is not a JSON object");
  }

  template <class T>
  T get(const std::string& key) {
    auto it = object_.find(key);
    if (it == object_.end()) fail("has no '" + key + "' " + context_.missing_hint);
    seen_.insert(key);
    try {
      return it->template get<T>();
    } catch (const nlohmann::json::exception&) {
      fail("has '" + key + "' of the wrong type: " + it->dump().substr(0, 200));
    }
  }

  /// `key`'s value, or `fallback` for a file written before tlearn had that entry.
  template <class T>
  T get_or(const std::string& key, T fallback) {
    return object_.contains(key) ? get<T>(key) : fallback;
  }

  template <class E>
  E get_enum(const std::string& key) {
    const auto word = get<std::string>(key);
    for (const auto& [v, name] : EnumNames<E>::table)
      if (word == name) return v;
    fail("has an unknown value '" + word + "' for '" + key + "' (written by a newer tlearn?)");
  }

  StrictObject object(const std::string& key) {
    return StrictObject(get<Json>(key), what_ + "." + key, path_, context_);
  }

  /// Every key was read; anything else is an entry this tlearn does not know.
  void finish() const {
    for (const auto& item : object_.items())
      if (!seen_.count(item.key()))
        fail("has an option this tlearn does not know: '" + item.key() +
             "' (written by a newer tlearn?); update tlearn to load it");
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(context_.reader + ": " + path_ + ": " + context_.description + " " + what_ + " " + why);
  }

  const Json& json() const { return object_; }

 private:
  Json object_;
  std::string what_, path_;
  StrictContext context_;
  std::set<std::string> seen_;
};

}  // namespace tlearn::detail
