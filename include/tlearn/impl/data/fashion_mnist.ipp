// Implementation of tlearn/data/fashion_mnist.hpp.
#include <zlib.h>

#include "tlearn/data/fashion_mnist.hpp"

namespace tlearn::data::detail {

std::vector<uint8_t> read_gzip(const std::filesystem::path& path) {
  gzFile f = gzopen(path.string().c_str(), "rb");
  if (!f) throw Error("cannot open '" + path.string() + "': no such file (Debian: apt install dataset-fashion-mnist)");
  std::vector<uint8_t> out;
  std::vector<uint8_t> buf(1 << 20);
  while (true) {
    const int n = gzread(f, buf.data(), unsigned(buf.size()));
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      throw Error("cannot read '" + path.string() + "': " + msg + " (corrupt gzip file?)");
    }
    if (n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
  gzclose(f);
  return out;
}

}  // namespace tlearn::data::detail
