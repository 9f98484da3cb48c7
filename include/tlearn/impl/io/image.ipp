// Implementation of tlearn/io/image.hpp: the decoders and encoders.
#include "tlearn/detail/stb.hpp"
#include "tlearn/detail/turbojpeg.hpp"
#include "tlearn/io/image.hpp"

namespace tlearn::io::detail {

#ifdef TLEARN_HAVE_TURBOJPEG
torch::Tensor decode_turbojpeg(const uint8_t* d, size_t n, const std::string& name, const ImageReadOptions& o) {
  tjhandle h = tlearn::detail::turbojpeg_decompressor();
  if (!h) throw Error("cannot decode image '" + name + "': libjpeg-turbo failed to initialise");
  int w = 0, hgt = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(h, d, static_cast<unsigned long>(n), &w, &hgt, &subsamp, &colorspace) != 0)
    throw Error("cannot decode image '" + name + "': " + tlearn::detail::turbojpeg_error(h));
  check_pixels(hgt, w, o, name);
  int sw = w, sh = hgt;
  if (wants_scaling(o)) {
    int count = 0;
    tjscalingfactor* f = tjGetScalingFactors(&count);
    for (int k = 0; k < count; ++k) {  // pick the smallest reduction that still fits
      if (f[k].num >= f[k].denom) continue;
      const int cw = TJSCALED(w, f[k]), ch = TJSCALED(hgt, f[k]);
      if (cw < sw && fits_min_size(ch, cw, o)) {
        sw = cw;
        sh = ch;
      }
    }
  }
  auto out = torch::empty({sh, sw, 3}, torch::kUInt8);
  if (tjDecompress2(h, d, static_cast<unsigned long>(n), out.data_ptr<uint8_t>(), sw, 0, sh, TJPF_RGB, 0) != 0)
    throw Error("cannot decode image '" + name + "': " + tlearn::detail::turbojpeg_error(h));
  return out;
}
#endif

torch::Tensor decode_stb(const uint8_t* d, size_t n, const std::string& name, const ImageReadOptions& o) {
  auto [hh, hw] = header_size(d, n, sniff(d, n));
  if (hh > 0 && hw > 0) check_pixels(hh, hw, o, name);
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(d, static_cast<int>(n), &w, &h, &comp))
    throw Error("cannot decode image '" + name + "': not a supported image (" + stbi_failure_reason() +
                "); tlearn reads JPEG, PNG, BMP, GIF, TGA and PNM");
  check_pixels(h, w, o, name);
  uint8_t* px = stbi_load_from_memory(d, static_cast<int>(n), &w, &h, &comp, 0);
  if (!px)
    throw Error("cannot decode image '" + name + "': " + stbi_failure_reason() + " (corrupt or truncated file?)");
  if (comp == 3)
    return torch::from_blob(
        px, {h, w, 3}, [](void* p) { stbi_image_free(p); }, torch::kUInt8);
  std::unique_ptr<uint8_t, void (*)(void*)> guard(px, stbi_image_free);
  auto out = torch::empty({h, w, 3}, torch::kUInt8);
  uint8_t* q = out.data_ptr<uint8_t>();
  const int64_t npx = int64_t(h) * w;
  const bool blend = o.alpha == Alpha::Composite;
  const auto& bg = o.background;
  auto mix = [](int c, int a, int b) { return static_cast<uint8_t>((c * a + b * (255 - a) + 127) / 255); };
  for (int64_t i = 0; i < npx; ++i, q += 3) {
    const uint8_t* s = px + i * comp;
    if (comp == 1 || comp == 2) {
      const int a = comp == 2 && blend ? s[1] : 255;
      for (int c = 0; c < 3; ++c) q[c] = a == 255 ? s[0] : mix(s[0], a, bg[c]);
    } else {
      const int a = blend ? s[3] : 255;
      for (int c = 0; c < 3; ++c) q[c] = a == 255 ? s[c] : mix(s[c], a, bg[c]);
    }
  }
  return out;
}

}  // namespace tlearn::io::detail

namespace tlearn::io {

torch::Tensor decode_image(const uint8_t* data, size_t size, const std::string& name, const ImageReadOptions& options) {
  if (size == 0) throw Error("cannot decode image '" + name + "': the file is empty");
  if (size > size_t(INT32_MAX)) throw Error("cannot decode image '" + name + "': files over 2 GiB are not supported");
  if (detail::sniff(data, size) == "jpeg") {
    detail::JpegScan s = detail::scan_jpeg(data, size, name);
    detail::check_pixels(s.height, s.width, options, name);
#ifdef TLEARN_HAVE_TURBOJPEG
    // CMYK / YCCK (print workflows, Photoshop): stb_image converts them to RGB as PIL does.
    if (options.turbojpeg && s.components != 4) return detail::decode_turbojpeg(data, size, name, options);
#endif
  }
  return detail::decode_stb(data, size, name, options);
}

ImageInfo read_image_info(const std::filesystem::path& path) {
  auto bytes = detail::read_file(path);
  const std::string name = path.string();
  if (bytes.empty()) throw Error("cannot read image '" + name + "': the file is empty");
  ImageInfo info;
  info.format = detail::sniff(bytes.data(), bytes.size());
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c))
    throw Error("cannot read image '" + name + "': not a supported image (" + stbi_failure_reason() + ")");
  info.height = h;
  info.width = w;
  info.channels = c;
  return info;
}

}  // namespace tlearn::io

namespace tlearn::io::detail {

void check_written(int ok, const std::filesystem::path& path) {
  if (!ok) throw Error("cannot write image '" + path.string() + "': check that the folder exists and is writable");
}

}  // namespace tlearn::io::detail

namespace tlearn::io {

void write_png(const torch::Tensor& image, const std::filesystem::path& path) {
  auto t = detail::to_hwc_u8(image, path.string());
  const int h = int(t.size(0)), w = int(t.size(1)), c = int(t.size(2));
  detail::check_written(stbi_write_png(path.string().c_str(), w, h, c, t.data_ptr<uint8_t>(), w * c), path);
}

void write_jpeg(const torch::Tensor& image, const std::filesystem::path& path, int quality) {
  if (quality < 1 || quality > 100)
    throw Error("write_jpeg('" + path.string() + "'): quality must be in 1..100, got " + std::to_string(quality));
  auto t = detail::to_hwc_u8(image, path.string());
  if (t.size(2) == 4) t = t.narrow(2, 0, 3).contiguous();
  const int h = int(t.size(0)), w = int(t.size(1)), c = int(t.size(2));
  detail::check_written(stbi_write_jpg(path.string().c_str(), w, h, c, t.data_ptr<uint8_t>(), quality), path);
}

}  // namespace tlearn::io

namespace tlearn::io::detail {

std::vector<uint8_t> read_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error("cannot read image '" + path.string() + "': no such file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open image '" + path.string() + "': check its permissions");
  std::vector<uint8_t> bytes(std::filesystem::file_size(path, ec));
  if (!bytes.empty() && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())))
    throw Error("cannot read image '" + path.string() + "': read error");
  return bytes;
}

std::string sniff(const uint8_t* d, size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return "jpeg";
  if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return "png";
  if (n >= 4 && std::memcmp(d, "GIF8", 4) == 0) return "gif";
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return "bmp";
  return "other";
}

JpegScan scan_jpeg(const uint8_t* d, size_t n, const std::string& name) {
  auto truncated = [&]() {
    return Error("cannot decode image '" + name +
                 "': truncated JPEG (the file ends before the end-of-image marker; "
                 "re-download or re-export it)");
  };
  JpegScan s;
  size_t i = 2;
  while (true) {
    if (i + 1 >= n) throw truncated();
    if (d[i] != 0xFF)
      throw Error("cannot decode image '" + name + "': corrupt JPEG (bad marker at byte " + std::to_string(i) + ")");
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
    if (i + 3 >= n) throw truncated();
    const size_t len = (size_t(d[i + 2]) << 8) | d[i + 3];
    if (i + 2 + len > n) throw truncated();
    const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof && len >= 8 && s.components == 0) {
      s.precision = d[i + 4];
      s.height = (int64_t(d[i + 5]) << 8) | d[i + 6];
      s.width = (int64_t(d[i + 7]) << 8) | d[i + 8];
      s.components = d[i + 9];
    }
    i += 2 + len;
    if (m == 0xDA) {  // entropy-coded data follows: skip to the next real marker
      while (true) {
        const void* ff = std::memchr(d + i, 0xFF, n - i);
        if (!ff) throw truncated();
        i = static_cast<size_t>(static_cast<const uint8_t*>(ff) - d);
        if (i + 1 >= n) throw truncated();
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
  if (s.components == 0) throw Error("cannot decode image '" + name + "': JPEG without a frame header (corrupt file)");
  if (s.precision != 8)
    throw Error("cannot decode image '" + name + "': unsupported " + std::to_string(s.precision) +
                "-bit JPEG (only 8-bit JPEGs are supported; convert it to 8-bit or PNG)");
  if (s.components != 1 && s.components != 3 && s.components != 4)
    throw Error("cannot decode image '" + name + "': unsupported JPEG with " + std::to_string(s.components) +
                " components");
  return s;
}

std::pair<int64_t, int64_t> header_size(const uint8_t* d, size_t n, const std::string& format) {
  auto be = [&](size_t i) {
    return (int64_t(d[i]) << 24) | (int64_t(d[i + 1]) << 16) | (int64_t(d[i + 2]) << 8) | d[i + 3];
  };
  auto le16 = [&](size_t i) { return int64_t(d[i]) | (int64_t(d[i + 1]) << 8); };
  auto le32 = [&](size_t i) { return int64_t(int32_t(uint32_t(le16(i)) | (uint32_t(le16(i + 2)) << 16))); };
  if (format == "png" && n >= 24 && std::memcmp(d + 12, "IHDR", 4) == 0) return {be(20), be(16)};
  if (format == "gif" && n >= 10) return {le16(8), le16(6)};
  if (format == "bmp" && n >= 26) return {std::abs(le32(22)), std::abs(le32(18))};
  return {0, 0};
}

void check_pixels(int64_t h, int64_t w, const ImageReadOptions& o, const std::string& name) {
  if (h <= 0 || w <= 0) throw Error("cannot decode image '" + name + "': it claims zero width or height");
  if (o.max_pixels > 0 && h > o.max_pixels / w) {
    std::ostringstream msg;
    msg << "refusing to decode image '" << name << "': " << w << "x" << h << " = " << (double(w) * double(h))
        << " pixels is more than the limit of " << o.max_pixels
        << " (a decompression bomb?); raise ImageReadOptions::max_pixels if you trust the file";
    throw Error(msg.str());
  }
}

bool fits_min_size(int64_t h, int64_t w, const ImageReadOptions& o) {
  if (o.min_size.size() == 2 && (h < o.min_size[0] || w < o.min_size[1])) return false;
  if (o.min_shorter_side > 0 && std::min(h, w) < o.min_shorter_side) return false;
  return true;
}

}  // namespace tlearn::io::detail

namespace tlearn::io {

torch::Tensor read_image(const std::filesystem::path& path, const ImageReadOptions& options) {
  auto bytes = detail::read_file(path);
  return decode_image(bytes.data(), bytes.size(), path.string(), options);
}

}  // namespace tlearn::io

namespace tlearn::io::detail {

torch::Tensor to_hwc_u8(const torch::Tensor& image, const std::string& name) {
  torch::Tensor t = image.detach().to(torch::kCPU);
  if (t.dim() == 2) t = t.unsqueeze(2);
  if (t.dim() != 3) {
    std::ostringstream msg;
    msg << "cannot write image '" << name << "': expected HWC or CHW, got shape " << image.sizes();
    throw Error(msg.str());
  }
  auto is_c = [](int64_t c) { return c == 1 || c == 3 || c == 4; };
  const bool hwc = t.scalar_type() == torch::kUInt8 ? is_c(t.size(2)) : !is_c(t.size(0)) && is_c(t.size(2));
  if (!hwc) {
    if (!is_c(t.size(0))) {
      std::ostringstream msg;
      msg << "cannot write image '" << name << "': needs 1, 3 or 4 channels, got shape " << image.sizes();
      throw Error(msg.str());
    }
    t = t.permute({1, 2, 0});
  }
  if (t.scalar_type() != torch::kUInt8) t = t.to(torch::kFloat).round().clamp(0, 255).to(torch::kUInt8);
  return t.contiguous();
}

}  // namespace tlearn::io::detail

namespace tlearn {

torch::Tensor load_image(const std::filesystem::path& path, std::vector<int64_t> size, io::ImageReadOptions options) {
  if (!size.empty() && (size.size() != 2 || size[0] <= 0 || size[1] <= 0))
    throw Error("load_image('" + path.string() + "'): size must be {height, width} with positive values");
  if (!size.empty() && options.min_size.empty() && options.min_shorter_side == 0)
    options.min_size = {2 * size[0], 2 * size[1]};
  auto hwc = io::read_image(path, options);
  if (size.empty()) return detail::to_chw_float(hwc);
  detail::ResizePlan p;
  p.x1 = double(hwc.size(1));
  p.y1 = double(hwc.size(0));
  p.out_h = p.h = size[0];
  p.out_w = p.w = size[1];
  return detail::resize(hwc, p, Interpolation::Bilinear);
}

}  // namespace tlearn
