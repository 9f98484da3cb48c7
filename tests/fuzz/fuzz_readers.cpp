// libFuzzer targets for every reader of untrusted bytes, one binary:
// TLEARN_FUZZ_TARGET picks the reader (pth, safetensors, image, idx,
// training_state, keras). A reader may refuse an input only with tlearn::Error; any
// other exception, a crash or a sanitizer report is a finding.
//
//     TLEARN_FUZZ_TARGET=image build-clang/tests/fuzz/tlearn_fuzz -max_total_time=3600 \
//         /tmp/image-work tests/fuzz/corpus/image
#define TLEARN_IMPLEMENTATION
#include <tlearn/tlearn.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>

namespace {

namespace fs = std::filesystem;

/// The readers that take a path get the input through this file, one per process.
const fs::path& input_file() {
  static const fs::path path = fs::temp_directory_path() / ("tlearn_fuzz_" + std::to_string(::getpid()));
  return path;
}

void write_input(const uint8_t* data, size_t size) {
  std::ofstream out(input_file(), std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
}

using Reader = std::function<void(const uint8_t*, size_t)>;

const std::map<std::string, Reader>& readers() {
  static const std::map<std::string, Reader> table = {
      {"pth", [](const uint8_t* d, size_t n) { write_input(d, n), tlearn::io::load_pth(input_file()); }},
      {"safetensors", [](const uint8_t* d, size_t n) { write_input(d, n), tlearn::io::load_safetensors(input_file()); }},
      {"image",
       [](const uint8_t* d, size_t n) {
         tlearn::io::ImageReadOptions o;
         o.max_pixels(1 << 22);  // keeps each run fast; the limit itself is tested elsewhere
         tlearn::io::decode_image(d, n, "fuzz", o);
         o.turbojpeg(false);  // stb_image's JPEG path too
         tlearn::io::decode_image(d, n, "fuzz", o);
       }},
      {"idx", [](const uint8_t* d, size_t n) { write_input(d, n), tlearn::data::detail::read_idx_gzip(input_file()); }},
      {"training_state",
       [](const uint8_t* d, size_t n) { write_input(d, n), tlearn::load_training_state(input_file()); }},
      // Keras weight files: HDF5 through tlearn's own reader, and .keras archives.
      {"keras", [](const uint8_t* d, size_t n) { write_input(d, n), tlearn::io::load_keras_weights(input_file()); }},
  };
  return table;
}

const Reader& reader() {
  static const Reader* chosen = [] {
    const char* name = std::getenv("TLEARN_FUZZ_TARGET");
    const auto it = name ? readers().find(name) : readers().end();
    if (it == readers().end()) {
      std::cerr << "set TLEARN_FUZZ_TARGET to one of:";
      for (const auto& r : readers()) std::cerr << ' ' << r.first;
      std::cerr << '\n';
      std::exit(2);
    }
    std::atexit([] { std::remove(input_file().c_str()); });
    return &it->second;
  }();
  return *chosen;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& read = reader();
  try {
    read(data, size);
  } catch (const tlearn::Error&) {
    // A refusal with tlearn's own error: what every bad input should get.
  }
  return 0;
}
