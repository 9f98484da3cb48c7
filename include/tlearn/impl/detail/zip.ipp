// Implementation of tlearn/detail/zip.hpp.
#include "tlearn/detail/zip.hpp"

namespace tlearn::detail {

const ZipEntry* ZipReader::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

void ZipReader::fail(const std::string& what) const {
  throw Error(file_.name() + ": not a valid zip checkpoint: " + what +
              " (the file is truncated or corrupt; save it again with torch.save)");
}

void ZipReader::read_central_directory() {
  const std::uint64_t size = file_.size();
  if (size < 22) fail("too short for an end-of-central-directory record");
  // The EOCD record is 22 bytes plus a comment of up to 65535 bytes at the end.
  const std::uint64_t tail_len = std::min<std::uint64_t>(size, 22 + 65535);
  const std::string tail = file_.read_string(size - tail_len, tail_len, "zip end-of-central-directory");
  const auto* t = reinterpret_cast<const unsigned char*>(tail.data());
  std::int64_t pos = -1;
  for (std::int64_t i = static_cast<std::int64_t>(tail_len) - 22; i >= 0; --i)
    if (read_le<std::uint32_t>(t + i) == 0x06054b50u) {
      pos = i;
      break;
    }
  if (pos < 0) fail("no end-of-central-directory record");
  const std::uint64_t eocd = size - tail_len + static_cast<std::uint64_t>(pos);
  std::uint64_t count = read_le<std::uint16_t>(t + pos + 10);
  std::uint64_t cd_size = read_le<std::uint32_t>(t + pos + 12);
  std::uint64_t cd_offset = read_le<std::uint32_t>(t + pos + 16);

  if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_offset == 0xFFFFFFFFu) {
    // zip64: a locator (20 bytes) right before the EOCD points at the zip64 EOCD record.
    if (eocd < 20) fail("zip64 locator missing");
    unsigned char loc[20];
    file_.read_at(eocd - 20, loc, 20, "zip64 end-of-central-directory locator");
    if (read_le<std::uint32_t>(loc) != 0x07064b50u) fail("zip64 locator missing");
    const std::uint64_t rec = read_le<std::uint64_t>(loc + 8);
    unsigned char z[56];
    file_.read_at(rec, z, 56, "zip64 end-of-central-directory record");
    if (read_le<std::uint32_t>(z) != 0x06064b50u) fail("bad zip64 end-of-central-directory signature");
    count = read_le<std::uint64_t>(z + 32);
    cd_size = read_le<std::uint64_t>(z + 40);
    cd_offset = read_le<std::uint64_t>(z + 48);
  }
  file_.check_range(cd_offset, cd_size, "zip central directory");
  if (count > cd_size / 46) fail("central directory claims more entries than it can hold");

  const std::string cd = file_.read_string(cd_offset, cd_size, "zip central directory");
  const auto* c = reinterpret_cast<const unsigned char*>(cd.data());
  std::uint64_t p = 0;
  entries_.reserve(static_cast<std::size_t>(count));
  for (std::uint64_t i = 0; i < count; ++i) {
    if (p + 46 > cd_size || read_le<std::uint32_t>(c + p) != 0x02014b50u) fail("bad central directory entry");
    const std::uint16_t method = read_le<std::uint16_t>(c + p + 10);
    std::uint64_t csize = read_le<std::uint32_t>(c + p + 20);
    std::uint64_t usize = read_le<std::uint32_t>(c + p + 24);
    const std::uint16_t name_len = read_le<std::uint16_t>(c + p + 28);
    const std::uint16_t extra_len = read_le<std::uint16_t>(c + p + 30);
    const std::uint16_t comment_len = read_le<std::uint16_t>(c + p + 32);
    std::uint64_t local = read_le<std::uint32_t>(c + p + 42);
    const std::uint64_t end = p + 46 + name_len + extra_len + comment_len;
    if (end > cd_size) fail("central directory entry runs past the directory");
    ZipEntry e;
    e.name.assign(cd.data() + p + 46, name_len);
    // zip64 extended information: only the fields that are saturated, in this order.
    std::uint64_t x = p + 46 + name_len;
    const std::uint64_t xend = x + extra_len;
    while (x + 4 <= xend) {
      const std::uint16_t id = read_le<std::uint16_t>(c + x);
      const std::uint16_t len = read_le<std::uint16_t>(c + x + 2);
      if (x + 4 + len > xend) fail("bad extra field in entry " + e.name);
      if (id == 0x0001) {
        std::uint64_t q = x + 4;
        auto take = [&](std::uint64_t& field) {
          if (field != 0xFFFFFFFFu) return;
          if (q + 8 > x + 4 + len) fail("short zip64 field in entry " + e.name);
          field = read_le<std::uint64_t>(c + q);
          q += 8;
        };
        take(usize);
        take(csize);
        take(local);
      }
      x += 4 + len;
    }
    if (method != 0)
      throw Error(file_.name() + ": entry " + e.name +
                  " is compressed; torch.save checkpoints store entries uncompressed "
                  "(was the file re-zipped? extract and save it again with torch.save)");
    if (csize != usize) fail("stored entry " + e.name + " has different compressed and real sizes");
    unsigned char lh[30];
    file_.read_at(local, lh, 30, "local header of " + e.name);
    if (read_le<std::uint32_t>(lh) != 0x04034b50u) fail("bad local header for entry " + e.name);
    e.data_offset = local + 30 + read_le<std::uint16_t>(lh + 26) + read_le<std::uint16_t>(lh + 28);
    e.size = usize;
    file_.check_range(e.data_offset, e.size, "zip entry " + e.name);
    // torch.load takes the first of two entries with one name, other zip readers the
    // last: a file that means different things to different readers is refused.
    if (!index_.emplace(e.name, entries_.size()).second)
      fail("entry " + e.name + " appears twice (a tampered file?)");
    entries_.push_back(std::move(e));
    p = end;
  }
}

void ZipWriter::add(const std::string& name, const void* data, std::uint64_t n) {
  Central c{name, crc32_update(0, data, static_cast<std::size_t>(n)), n, pos_};
  const bool big = n >= 0xFFFFFFFFu || pos_ >= 0xFFFFFFFFu;
  std::string h;
  append_le<std::uint32_t>(h, 0x04034b50u);
  append_le<std::uint16_t>(h, big ? 45 : 20);  // version needed
  append_le<std::uint16_t>(h, 0);              // flags
  append_le<std::uint16_t>(h, 0);              // STORED
  append_le<std::uint16_t>(h, 0);              // time
  append_le<std::uint16_t>(h, 0x21);           // date 1980-01-01
  append_le<std::uint32_t>(h, c.crc);
  append_le<std::uint32_t>(h, big ? 0xFFFFFFFFu : static_cast<std::uint32_t>(n));
  append_le<std::uint32_t>(h, big ? 0xFFFFFFFFu : static_cast<std::uint32_t>(n));
  append_le<std::uint16_t>(h, static_cast<std::uint16_t>(name.size()));
  std::string extra;
  if (big) {
    append_le<std::uint16_t>(extra, 0x0001);
    append_le<std::uint16_t>(extra, 16);
    append_le<std::uint64_t>(extra, n);
    append_le<std::uint64_t>(extra, n);
  }
  // Padding extra field ("FB", as PyTorch writes) so the data starts 64-byte aligned.
  const std::uint64_t before = pos_ + 30 + name.size() + extra.size() + 4;
  const std::uint64_t pad = (64 - before % 64) % 64;
  append_le<std::uint16_t>(extra, 0x4246);
  append_le<std::uint16_t>(extra, static_cast<std::uint16_t>(pad));
  extra.append(static_cast<std::size_t>(pad), 'Z');
  append_le<std::uint16_t>(h, static_cast<std::uint16_t>(extra.size()));
  h += name;
  h += extra;
  write(h.data(), h.size());
  write(data, n);
  entries_.push_back(std::move(c));
}

void ZipWriter::finish() {
  const std::uint64_t cd_start = pos_;
  for (const auto& e : entries_) {
    const bool big = e.size >= 0xFFFFFFFFu || e.offset >= 0xFFFFFFFFu;
    std::string h;
    append_le<std::uint32_t>(h, 0x02014b50u);
    append_le<std::uint16_t>(h, big ? 45 : 20);  // version made by
    append_le<std::uint16_t>(h, big ? 45 : 20);  // version needed
    append_le<std::uint16_t>(h, 0);
    append_le<std::uint16_t>(h, 0);
    append_le<std::uint16_t>(h, 0);
    append_le<std::uint16_t>(h, 0x21);
    append_le<std::uint32_t>(h, e.crc);
    append_le<std::uint32_t>(h, big ? 0xFFFFFFFFu : static_cast<std::uint32_t>(e.size));
    append_le<std::uint32_t>(h, big ? 0xFFFFFFFFu : static_cast<std::uint32_t>(e.size));
    append_le<std::uint16_t>(h, static_cast<std::uint16_t>(e.name.size()));
    append_le<std::uint16_t>(h, big ? 28 : 0);
    append_le<std::uint16_t>(h, 0);  // comment
    append_le<std::uint16_t>(h, 0);  // disk
    append_le<std::uint16_t>(h, 0);  // internal attributes
    append_le<std::uint32_t>(h, 0);  // external attributes
    append_le<std::uint32_t>(h, big ? 0xFFFFFFFFu : static_cast<std::uint32_t>(e.offset));
    h += e.name;
    if (big) {
      append_le<std::uint16_t>(h, 0x0001);
      append_le<std::uint16_t>(h, 24);
      append_le<std::uint64_t>(h, e.size);
      append_le<std::uint64_t>(h, e.size);
      append_le<std::uint64_t>(h, e.offset);
    }
    write(h.data(), h.size());
  }
  const std::uint64_t cd_size = pos_ - cd_start;
  const std::uint64_t count = entries_.size();
  const bool zip64 = count >= 0xFFFF || cd_start >= 0xFFFFFFFFu || cd_size >= 0xFFFFFFFFu;
  std::string t;
  if (zip64) {
    const std::uint64_t rec = pos_;
    append_le<std::uint32_t>(t, 0x06064b50u);
    append_le<std::uint64_t>(t, 44);
    append_le<std::uint16_t>(t, 45);
    append_le<std::uint16_t>(t, 45);
    append_le<std::uint32_t>(t, 0);
    append_le<std::uint32_t>(t, 0);
    append_le<std::uint64_t>(t, count);
    append_le<std::uint64_t>(t, count);
    append_le<std::uint64_t>(t, cd_size);
    append_le<std::uint64_t>(t, cd_start);
    append_le<std::uint32_t>(t, 0x07064b50u);
    append_le<std::uint32_t>(t, 0);
    append_le<std::uint64_t>(t, rec);
    append_le<std::uint32_t>(t, 1);
  }
  append_le<std::uint32_t>(t, 0x06054b50u);
  append_le<std::uint16_t>(t, 0);
  append_le<std::uint16_t>(t, 0);
  append_le<std::uint16_t>(t, static_cast<std::uint16_t>(zip64 ? 0xFFFF : count));
  append_le<std::uint16_t>(t, static_cast<std::uint16_t>(zip64 ? 0xFFFF : count));
  append_le<std::uint32_t>(t, zip64 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(cd_size));
  append_le<std::uint32_t>(t, zip64 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(cd_start));
  append_le<std::uint16_t>(t, 0);
  write(t.data(), t.size());
}

void ZipWriter::write(const void* data, std::uint64_t n) {
  out_.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  pos_ += n;
}

std::uint32_t crc32_update(std::uint32_t crc, const void* data, std::size_t n) {
  static const auto table = [] {
    std::vector<std::uint32_t> t(256);
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

}  // namespace tlearn::detail
