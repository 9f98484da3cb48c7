// Two translation units include every tlearn header: any non-inline definition
// in a header (stb implementations included) breaks the link.
#include <tlearn/tlearn.hpp>

int second_translation_unit();

int main() {
  auto names = tlearn::list_models();
  return (second_translation_unit() == static_cast<int>(names.size())) ? 0 : 1;
}
