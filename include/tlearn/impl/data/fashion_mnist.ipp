// Implementation of tlearn/data/fashion_mnist.hpp.
#include <zlib.h>

#include "tlearn/data/fashion_mnist.hpp"
#include "tlearn/detail/file.hpp"

namespace tlearn::data::detail {

namespace {
/// Reads exactly `n` bytes; false at the end of the data.
bool read_exactly(gzFile f, uint8_t* out, uint64_t n, const std::string& name) {
  while (n > 0) {
    const unsigned chunk = unsigned(std::min<uint64_t>(n, 1u << 30));
    const int got = gzread(f, out, chunk);
    if (got < 0) {
      int err = 0;
      throw Error("cannot read '" + name + "': " + gzerror(f, &err) + " (corrupt gzip file?)");
    }
    if (got == 0) return false;
    out += got, n -= uint64_t(got);
  }
  return true;
}
}  // namespace

Idx read_idx_gzip(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::unique_ptr<gzFile_s, int (*)(gzFile)> f(gzopen(name.c_str(), "rb"), gzclose);
  if (!f) throw Error("cannot open '" + name + "': no such file (Debian: apt install dataset-fashion-mnist)");
  uint8_t magic[4];
  if (!read_exactly(f.get(), magic, 4, name) || magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08)
    throw Error("'" + name + "' is not an IDX file of unsigned bytes (bad magic number)");
  const int nd = magic[3];
  std::vector<uint8_t> header(4 * size_t(nd));
  if (nd < 1 || !read_exactly(f.get(), header.data(), header.size(), name))
    throw Error("'" + name + "': truncated IDX header");
  Idx idx;
  uint64_t total = 1;
  for (int d = 0; d < nd; ++d) {
    idx.dims.push_back(int64_t(tlearn::detail::read_be32(header.data() + 4 * d)));
    total *= uint64_t(idx.dims.back());  // each factor is below 2^32, the product checked at every step
    if (total > kMaxIdxBytes)
      throw Error("'" + name + "': its header declares more than " + std::to_string(kMaxIdxBytes >> 30) +
                  " GiB of values; refusing to read it");
  }
  idx.values = torch::empty({int64_t(total)}, torch::kUInt8);
  if (!read_exactly(f.get(), idx.values.data_ptr<uint8_t>(), total, name))
    throw Error("'" + name + "': truncated IDX file (fewer than the " + std::to_string(total) +
                " values its header declares)");
  uint8_t extra = 0;
  if (read_exactly(f.get(), &extra, 1, name))
    throw Error("'" + name + "': more data than the " + std::to_string(total) +
                " values its header declares (a corrupt or foreign file?)");
  return idx;
}

}  // namespace tlearn::data::detail
