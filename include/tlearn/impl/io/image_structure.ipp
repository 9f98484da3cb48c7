// Implementation of tlearn/io/image.hpp: the structure checks that run before
// any decoder. stb_image trusts headers, tables and lengths: a truncated file
// decodes "OK" with stale memory in its missing rows, a bad Huffman table
// writes out of bounds, a small PNG inflates to gigabytes. Each check here
// walks the file as its decoder will and refuses what the decoder would
// mishandle, so a decoder only ever sees a complete, consistent file.
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

#include "tlearn/detail/file.hpp"
#include "tlearn/io/image.hpp"

namespace tlearn::io::detail {

namespace {

Error truncated(const std::string& name, const char* format) {
  return Error("cannot decode image '" + name + "': truncated " + format +
               " (the file ends before all its pixel data; re-download or re-export it)");
}

Error corrupt(const std::string& name, const std::string& why) {
  return Error("cannot decode image '" + name + "': corrupt file (" + why + ")");
}

// ---- PNG: chunk lengths and CRCs, and how far the pixel data inflates ----

/// Bytes of filtered scanlines a PNG of this header inflates to (Adam7: its seven passes).
uint64_t png_raw_size(uint64_t w, uint64_t h, uint64_t bits_per_pixel, bool interlaced) {
  auto size = [&](uint64_t pw, uint64_t ph) { return pw == 0 ? 0 : ph * (1 + (pw * bits_per_pixel + 7) / 8); };
  if (!interlaced) return size(w, h);
  static constexpr int pass[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                     {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
  uint64_t total = 0;
  for (const auto& p : pass) {
    const uint64_t pw = w > uint64_t(p[0]) ? (w - p[0] + p[2] - 1) / p[2] : 0;
    const uint64_t ph = h > uint64_t(p[1]) ? (h - p[1] + p[3] - 1) / p[3] : 0;
    if (ph > 0) total += size(pw, ph);
  }
  return total;
}

void check_png(const uint8_t* d, size_t n, const std::string& name) {
  size_t i = 8;
  uint64_t raw_size = 0;
  bool header = false, apple = false;
  std::vector<std::pair<size_t, size_t>> data;  // IDAT payloads
  while (true) {
    if (i + 12 > n) throw truncated(name, "PNG");
    const uint32_t len = tlearn::detail::read_be32(d + i);
    if (len > 0x7FFFFFFFu) throw corrupt(name, "PNG chunk length over 2^31 at byte " + std::to_string(i));
    if (i + 12 + uint64_t(len) > n) throw truncated(name, "PNG");
    const std::string type(reinterpret_cast<const char*>(d + i + 4), 4);
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), d + i + 4, uInt(len + 4));
    if (crc != tlearn::detail::read_be32(d + i + 8 + len))
      throw corrupt(name, "PNG chunk '" + type + "' at byte " + std::to_string(i) + " fails its CRC check");
    const uint8_t* p = d + i + 8;
    if (type == "CgBI") apple = true;  // Apple's PNG: raw deflate, no zlib header
    if (type == "IHDR") {
      if (len < 13) throw corrupt(name, "PNG header chunk too short");
      static const std::map<int, int> channels{{0, 1}, {2, 3}, {3, 1}, {4, 2}, {6, 4}};
      const auto c = channels.find(p[9]);
      if (c == channels.end()) throw corrupt(name, "PNG colour type " + std::to_string(p[9]));
      raw_size = png_raw_size(tlearn::detail::read_be32(p), tlearn::detail::read_be32(p + 4),
                              uint64_t(c->second) * p[8], p[12] == 1);
      header = true;
    }
    if (type == "IDAT") data.emplace_back(i + 8, len);
    if (type == "IEND") break;
    i += 12 + len;
  }
  if (!header || data.empty()) throw corrupt(name, "PNG without a header or pixel data");

  // Inflate into a small window, counting: stop as soon as the data outgrows what
  // the header declares, so a bomb costs no memory and little time.
  z_stream z{};
  if (inflateInit2(&z, apple ? -15 : 15) != Z_OK) throw Error("cannot decode image '" + name + "': zlib failed");
  std::vector<uint8_t> window(1 << 16);
  uint64_t produced = 0;
  int rc = Z_OK;
  bool done = false;
  for (size_t k = 0; k < data.size() && !done; ++k) {
    z.next_in = const_cast<uint8_t*>(d + data[k].first);
    z.avail_in = uInt(data[k].second);
    while (true) {
      z.next_out = window.data();
      z.avail_out = uInt(window.size());
      rc = inflate(&z, Z_NO_FLUSH);
      produced += window.size() - z.avail_out;
      done = produced > raw_size || rc == Z_STREAM_END || (rc != Z_OK && rc != Z_BUF_ERROR);
      if (done || (z.avail_in == 0 && z.avail_out != 0)) break;  // finished, or this chunk is used up
    }
  }
  const std::string zlib_message = z.msg ? z.msg : "zlib error";
  inflateEnd(&z);
  if (produced > raw_size)
    throw Error("refusing to decode image '" + name + "': its pixel data inflates beyond the " +
                std::to_string(raw_size) + " bytes its header declares (a decompression bomb?)");
  if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
    throw corrupt(name, "PNG pixel data does not inflate: " + zlib_message);
  if (produced < raw_size) throw truncated(name, "PNG");
}

// ---- GIF: the block structure up to the end of the first image ----

void check_gif(const uint8_t* d, size_t n, const std::string& name) {
  auto skip_sub_blocks = [&](size_t i) {
    while (true) {
      if (i >= n) throw truncated(name, "GIF");
      const size_t len = d[i++];
      if (len == 0) return i;
      i += len;
    }
  };
  if (n < 13) throw truncated(name, "GIF");
  size_t i = 13;
  if (d[10] & 0x80) i += 3 * (size_t(2) << (d[10] & 7));  // global colour table
  while (true) {
    if (i >= n) throw truncated(name, "GIF");
    const uint8_t block = d[i++];
    if (block == 0x21) {  // extension: label, then sub-blocks
      i = skip_sub_blocks(i + 1);
    } else if (block == 0x2C) {  // the first image: all its data must be there
      if (i + 9 > n) throw truncated(name, "GIF");
      const uint8_t flags = d[i + 8];
      i += 9;
      if (flags & 0x80) i += 3 * (size_t(2) << (flags & 7));
      skip_sub_blocks(i + 1);  // after the LZW minimum code size
      return;
    } else if (block == 0x3B) {
      throw corrupt(name, "GIF without an image");
    } else {
      throw corrupt(name, "unknown GIF block " + std::to_string(block) + " at byte " + std::to_string(i - 1));
    }
  }
}

// ---- BMP, PNM and TGA: the pixel data the header declares must all be there ----

void check_bmp(const uint8_t* d, size_t n, const std::string& name) {
  if (n < 30) throw truncated(name, "BMP");
  const uint64_t offset = tlearn::detail::read_le<uint32_t>(d + 10), header = tlearn::detail::read_le<uint32_t>(d + 14);
  uint64_t w = 0, h = 0, bits = 0, compression = 0;
  if (header == 12) {
    w = tlearn::detail::read_le<uint16_t>(d + 18), h = tlearn::detail::read_le<uint16_t>(d + 20),
    bits = tlearn::detail::read_le<uint16_t>(d + 24);
  } else {
    if (n < 34) throw truncated(name, "BMP");
    w = uint64_t(std::abs(int64_t(int32_t(tlearn::detail::read_le<uint32_t>(d + 18))))),
    h = uint64_t(std::abs(int64_t(int32_t(tlearn::detail::read_le<uint32_t>(d + 22)))));
    bits = tlearn::detail::read_le<uint16_t>(d + 28), compression = tlearn::detail::read_le<uint32_t>(d + 30);
  }
  if (compression == 0 || compression == 3 || compression == 6) {  // uncompressed rows (bit fields)
    const uint64_t row = (bits * w + 31) / 32 * 4;
    if (offset + row * h > n) throw truncated(name, "BMP");
  }
}

/// A binary PNM header (P5 grey, P6 colour): width, height, maxval and where the pixels start.
struct PnmHeader {
  uint64_t width = 0, height = 0, maxval = 0, channels = 0;
  size_t data = 0;
};

/// stb_image's test for PNM: the magic alone ("P5" grey, "P6" colour).
bool looks_like_pnm(const uint8_t* d, size_t n) { return n >= 2 && d[0] == 'P' && (d[1] == '5' || d[1] == '6'); }

std::optional<PnmHeader> parse_pnm(const uint8_t* d, size_t n) {
  if (!looks_like_pnm(d, n)) return std::nullopt;
  PnmHeader h;
  h.channels = d[1] == '6' ? 3 : 1;
  size_t i = 2;
  uint64_t* fields[] = {&h.width, &h.height, &h.maxval};
  for (auto* field : fields) {
    while (i < n && (std::isspace(d[i]) || d[i] == '#')) {
      if (d[i] == '#')
        while (i < n && d[i] != '\n' && d[i] != '\r') ++i;
      else
        ++i;
    }
    if (i >= n || !std::isdigit(d[i])) return std::nullopt;
    int digits = 0;
    while (i < n && std::isdigit(d[i])) {
      // stb_image reads these into an int: more than 9 digits would overflow it.
      if (++digits > 9) return std::nullopt;
      *field = *field * 10 + uint64_t(d[i++] - '0');
    }
  }
  h.data = i + 1;  // one whitespace byte ends the header
  return h;
}

void check_pnm(const uint8_t* d, size_t n, const std::string& name) {
  const auto h = parse_pnm(d, n);
  if (!h || h->maxval == 0 || h->maxval > 65535) throw corrupt(name, "PNM header");
  const uint64_t bytes = h->width * h->height * h->channels * (h->maxval > 255 ? 2 : 1);
  if (h->data > n || bytes > n - h->data) throw truncated(name, "PNM");
}

/// stb_image's test for a TGA header (TGA has no magic number).
bool looks_like_tga(const uint8_t* d, size_t n) {
  if (n < 18 || d[1] > 1) return false;
  const int type = d[2];
  if (d[1] == 1) {
    if (type != 1 && type != 9) return false;
    if (d[7] != 8 && d[7] != 15 && d[7] != 16 && d[7] != 24 && d[7] != 32) return false;
  } else if (type != 2 && type != 3 && type != 10 && type != 11) {
    return false;
  }
  if (tlearn::detail::read_le<uint16_t>(d + 12) < 1 || tlearn::detail::read_le<uint16_t>(d + 14) < 1) return false;
  const int bits = d[16];
  if (d[1] == 1 && bits != 8 && bits != 16) return false;
  return bits == 8 || bits == 15 || bits == 16 || bits == 24 || bits == 32;
}

void check_tga(const uint8_t* d, size_t n, const std::string& name) {
  const uint64_t w = tlearn::detail::read_le<uint16_t>(d + 12), h = tlearn::detail::read_le<uint16_t>(d + 14),
                 bytes = (uint64_t(d[16]) + 7) / 8;
  uint64_t i = 18 + uint64_t(d[0]);
  if (d[1] == 1) i += uint64_t(tlearn::detail::read_le<uint16_t>(d + 5)) * ((uint64_t(d[7]) + 7) / 8);  // colour map
  if (d[2] < 8) {
    if (i + w * h * bytes > n) throw truncated(name, "TGA");
    return;
  }
  for (uint64_t pixels = 0; pixels < w * h;) {  // run-length packets
    if (i >= n) throw truncated(name, "TGA");
    const uint8_t packet = d[i++];
    const uint64_t count = (packet & 0x7F) + 1;
    i += (packet & 0x80) ? bytes : count * bytes;
    if (i > n) throw truncated(name, "TGA");
    pixels += count;
  }
}

}  // namespace

std::string sniff(const uint8_t* d, size_t n) {
  if (jpeg_start(d, n) < n) return "jpeg";
  if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return "png";
  if (n >= 4 && std::memcmp(d, "GIF8", 4) == 0) return "gif";
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return "bmp";
  if (looks_like_pnm(d, n)) return "pnm";
  if (looks_like_tga(d, n)) return "tga";
  return "other";
}

size_t jpeg_start(const uint8_t* d, size_t n) {
  // stb_image, like libjpeg's marker reader, skips 0xFF fill bytes before a marker.
  if (n < 3 || d[0] != 0xFF) return n;
  size_t i = 1;
  while (i < n && d[i] == 0xFF) ++i;
  return i < n && d[i] == 0xD8 ? i - 1 : n;
}

JpegScan scan_jpeg(const uint8_t* d, size_t n, const std::string& name, const ImageReadOptions& o) {
  const auto bad = [&](const std::string& why) { return corrupt(name, "JPEG: " + why); };
  JpegScan s;
  s.start = jpeg_start(d, n);
  if (s.start >= n) throw bad("no start-of-image marker");
  bool huffman_frame = false, progressive = false;
  bool dc_table[4] = {}, ac_table[4] = {};
  std::vector<int> component_ids;
  size_t i = s.start + 2;
  while (true) {
    if (i + 1 >= n) throw truncated(name, "JPEG");
    if (d[i] != 0xFF) throw bad("bad marker at byte " + std::to_string(i));
    const uint8_t m = d[i + 1];
    if (m == 0xFF) {
      ++i;
      continue;
    }
    if (m == 0xD9) break;  // EOI
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
      i += 2;
      continue;
    }
    if (i + 3 >= n) throw truncated(name, "JPEG");
    const size_t len = (size_t(d[i + 2]) << 8) | d[i + 3];
    if (len < 2) throw bad("segment length below 2 at byte " + std::to_string(i));
    if (i + 2 + len > n) throw truncated(name, "JPEG");
    const uint8_t* p = d + i + 4;  // the segment's payload, len - 2 bytes
    const size_t size = len - 2;
    const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof) {
      if (s.components != 0) throw bad("two frame headers");
      if (size < 6) throw bad("frame header too short");
      s.precision = p[0];
      s.height = (int64_t(p[1]) << 8) | p[2];
      s.width = (int64_t(p[3]) << 8) | p[4];
      s.components = p[5];
      if (size != 6 + 3 * size_t(s.components)) throw bad("frame header length does not match its components");
      for (int c = 0; c < s.components; ++c) component_ids.push_back(p[6 + 3 * c]);
      huffman_frame = m <= 0xC3 || (m >= 0xC5 && m <= 0xC7);
      progressive = m == 0xC2 || m == 0xC6;
    }
    if (m == 0xC4) {  // Huffman tables: decoders index arrays by these counts and codes
      for (size_t k = 0; k < size;) {
        if (k + 17 > size) throw bad("Huffman table cut short");
        const int table_class = p[k] >> 4, id = p[k] & 15;
        if (table_class > 1 || id > 3) throw bad("Huffman table class/id " + std::to_string(p[k]));
        uint32_t symbols = 0, code = 0;
        for (int bits = 1; bits <= 16; ++bits) {
          symbols += p[k + bits];
          code += p[k + bits];
          if (code >= (1u << bits)) throw bad("Huffman table with more codes than its lengths allow");
          code <<= 1;
        }
        if (symbols > 256 || k + 17 + symbols > size) throw bad("Huffman table with too many symbols");
        (table_class == 0 ? dc_table : ac_table)[id] = true;
        k += 17 + symbols;
      }
    }
    if (m == 0xEE && size >= 12 && std::memcmp(p, "Adobe", 5) == 0) s.adobe_transform = p[11];
    if (m == 0xDA) {  // a scan: its components and tables must exist
      if (s.components == 0) throw bad("scan before the frame header");
      if (++s.scans > o.max_jpeg_scans())
        throw Error("refusing to decode image '" + name + "': more than " + std::to_string(o.max_jpeg_scans()) +
                    " JPEG scans (a CPU bomb?); raise ImageReadOptions::max_jpeg_scans if you trust the file");
      if (size < 1) throw bad("scan header too short");
      const size_t count = p[0];
      if (count < 1 || count > 4 || size != 4 + 2 * count)
        throw bad("scan header length does not match its components");
      const int ss = p[1 + 2 * count], se = p[2 + 2 * count], ah = p[3 + 2 * count] >> 4;
      for (size_t c = 0; c < count; ++c) {
        if (std::find(component_ids.begin(), component_ids.end(), p[1 + 2 * c]) == component_ids.end())
          throw bad("scan of a component the frame does not have");
        const int dc = p[2 + 2 * c] >> 4, ac = p[2 + 2 * c] & 15;
        if (!huffman_frame) continue;  // arithmetic coding has no Huffman tables
        const bool needs_dc = progressive ? ss == 0 && ah == 0 : true;
        const bool needs_ac = progressive ? se > 0 : true;
        if ((needs_dc && (dc > 3 || !dc_table[dc])) || (needs_ac && (ac > 3 || !ac_table[ac])))
          throw bad("scan uses a Huffman table that was never defined");
      }
    }
    i += 2 + len;
    if (m == 0xDA) {  // entropy-coded data follows: skip to the next real marker
      while (true) {
        const void* ff = std::memchr(d + i, 0xFF, n - i);
        if (!ff) throw truncated(name, "JPEG");
        i = static_cast<size_t>(static_cast<const uint8_t*>(ff) - d);
        if (i + 1 >= n) throw truncated(name, "JPEG");
        const uint8_t b = d[i + 1];
        if (b == 0x00 || (b >= 0xD0 && b <= 0xD7)) {
          i += 2;
          continue;
        }
        if (b == 0xFF) {
          ++i;
          continue;
        }
        break;
      }
    }
  }
  if (s.components == 0) throw bad("no frame header");
  if (s.scans == 0) throw bad("no scan");
  if (s.precision != 8)
    throw Error("cannot decode image '" + name + "': unsupported " + std::to_string(s.precision) +
                "-bit JPEG (only 8-bit JPEGs are supported; convert it to 8-bit or PNG)");
  if (s.components != 1 && s.components != 3 && s.components != 4)
    throw Error("cannot decode image '" + name + "': unsupported JPEG with " + std::to_string(s.components) +
                " components");
  return s;
}

void check_structure(const uint8_t* d, size_t n, const std::string& format, const std::string& name) {
  if (format == "png") check_png(d, n, name);
  if (format == "gif") check_gif(d, n, name);
  if (format == "bmp") check_bmp(d, n, name);
  if (format == "pnm") check_pnm(d, n, name);
  if (format == "tga") check_tga(d, n, name);
}

std::pair<int64_t, int64_t> header_size(const uint8_t* d, size_t n, const std::string& format) {
  if (format == "png" && n >= 24 && std::memcmp(d + 12, "IHDR", 4) == 0)
    return {tlearn::detail::read_be32(d + 20), tlearn::detail::read_be32(d + 16)};
  if (format == "gif" && n >= 10)
    return {tlearn::detail::read_le<uint16_t>(d + 8), tlearn::detail::read_le<uint16_t>(d + 6)};
  if (format == "bmp" && n >= 26)
    return {std::abs(int64_t(int32_t(tlearn::detail::read_le<uint32_t>(d + 22)))),
            std::abs(int64_t(int32_t(tlearn::detail::read_le<uint32_t>(d + 18))))};
  if (format == "pnm")
    if (const auto h = parse_pnm(d, n)) return {int64_t(h->height), int64_t(h->width)};
  if (format == "tga" && n >= 18)
    return {tlearn::detail::read_le<uint16_t>(d + 14), tlearn::detail::read_le<uint16_t>(d + 12)};
  return {0, 0};
}

}  // namespace tlearn::io::detail
