#include <tlearn/tlearn.hpp>

int second_translation_unit() { return static_cast<int>(tlearn::list_models().size()); }
