// Header-only use: this translation unit compiles tlearn's implementation, the
// other includes every header too. A definition in a public header that is not
// inline (stb's included), or one missing from the implementation, breaks the link.
#define TLEARN_IMPLEMENTATION
#include <tlearn/tlearn.hpp>

int second_translation_unit();

int main() {
  auto names = tlearn::list_models();
  return (second_translation_unit() == static_cast<int>(names.size())) ? 0 : 1;
}
