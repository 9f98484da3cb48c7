#pragma once
/// \file
/// The one exception type tlearn throws. Every message names what is wrong
/// (the file, key, layer or option) and what to do about it.

#include <stdexcept>
#include <string>

namespace tlearn {

/// Thrown for bad input: unreadable files, unknown layer names, wrong shapes.
/// Catch it as `std::runtime_error` if you do not care that it came from tlearn.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace tlearn
