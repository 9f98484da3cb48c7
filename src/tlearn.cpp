// The tlearn library of CMake's compiled mode (TLEARN_HEADER_ONLY=OFF): the
// whole implementation, compiled once.
#define TLEARN_IMPLEMENTATION
#include "tlearn/tlearn.hpp"
