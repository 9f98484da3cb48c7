// Implementation of tlearn/core/selector.hpp.
#include <regex>

#include "tlearn/core/selector.hpp"

namespace tlearn {

LayerSelector regex(const std::string& pattern) {
  std::regex re;
  try {
    re = std::regex(pattern);
  } catch (const std::regex_error& e) {
    throw Error("regex(\"" + pattern + "\"): not a valid regular expression: " + e.what());
  }
  return {"regex(\"" + pattern + "\")", [re, pattern](const LayerTable& t) {
            std::vector<size_t> out;
            for (size_t i = 0; i < t.size(); ++i)
              if (std::regex_match(t[i].name, re) || (!t[i].alias.empty() && std::regex_match(t[i].alias, re)))
                out.push_back(i);
            if (out.empty()) throw Error("regex(\"" + pattern + "\") matches no layer name or alias");
            return out;
          }};
}

}  // namespace tlearn
