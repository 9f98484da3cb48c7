// Implementation of tlearn/io/image.hpp: the decoders and encoders.
#include "tlearn/detail/stb.hpp"
#include "tlearn/detail/turbojpeg.hpp"
#include "tlearn/io/image.hpp"

namespace tlearn::io::detail {

#ifdef TLEARN_HAVE_TURBOJPEG
torch::Tensor decode_turbojpeg(const uint8_t* d, size_t n, const std::string& name, const ImageReadOptions& o,
                               const JpegScan& scan) {
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
  // CMYK and YCCK (print workflows, Photoshop) come out as CMYK, converted below.
  const bool cmyk = scan.components == 4;
  auto out = torch::empty({sh, sw, cmyk ? 4 : 3}, torch::kUInt8);
  if (tjDecompress2(h, d, static_cast<unsigned long>(n), out.data_ptr<uint8_t>(), sw, 0, sh, cmyk ? TJPF_CMYK : TJPF_RGB,
                    0) != 0)
    throw Error("cannot decode image '" + name + "': " + tlearn::detail::turbojpeg_error(h));
  if (!cmyk) return out;
  // Adobe's CMYK is stored inverted: R = C * K / 255 (as PIL's and stb_image's conversions).
  auto rgb = torch::empty({sh, sw, 3}, torch::kUInt8);
  const uint8_t* src = out.data_ptr<uint8_t>();
  uint8_t* dst = rgb.data_ptr<uint8_t>();
  for (int64_t i = 0, pixels = int64_t(sh) * sw; i < pixels; ++i, src += 4, dst += 3)
    for (int ch = 0; ch < 3; ++ch) {
      const unsigned t = unsigned(src[ch]) * src[3] + 128;
      dst[ch] = uint8_t((t + (t >> 8)) >> 8);
    }
  return rgb;
}
#endif

torch::Tensor decode_stb(const uint8_t* d, size_t n, const std::string& name, const ImageReadOptions& o) {
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
  const bool blend = o.alpha() == Alpha::Composite;
  const auto& bg = o.background();
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
  const std::string format = detail::sniff(data, size);
  if (format == "jpeg") {
    const detail::JpegScan scan = detail::scan_jpeg(data, size, name, options);
    detail::check_pixels(scan.height, scan.width, options, name);
    const uint8_t* jpeg = data + scan.start;  // decoders get the file from its start-of-image marker
#ifdef TLEARN_HAVE_TURBOJPEG
    if (options.turbojpeg()) return detail::decode_turbojpeg(jpeg, size - scan.start, name, options, scan);
#endif
    return detail::decode_stb(jpeg, size - scan.start, name, options);
  }
  const auto [height, width] = detail::header_size(data, size, format);
  if (height > 0 && width > 0) detail::check_pixels(height, width, options, name);
  detail::check_structure(data, size, format, name);
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
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw Error("cannot read image '" + path.string() + "': " + ec.message());
  // Checked before anything is read: a huge file in an image folder costs nothing.
  if (size > uintmax_t(INT32_MAX))
    throw Error("cannot read image '" + path.string() + "': " + std::to_string(size >> 20) +
                " MiB; image files over 2 GiB are not supported");
  std::vector<uint8_t> bytes(size);
  if (!bytes.empty() && !in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())))
    throw Error("cannot read image '" + path.string() + "': read error");
  return bytes;
}

void check_pixels(int64_t h, int64_t w, const ImageReadOptions& o, const std::string& name) {
  if (h <= 0 || w <= 0) throw Error("cannot decode image '" + name + "': it claims zero width or height");
  if (o.max_pixels() > 0 && h > o.max_pixels() / w) {
    std::ostringstream msg;
    msg << "refusing to decode image '" << name << "': " << w << "x" << h << " = " << (double(w) * double(h))
        << " pixels is more than the limit of " << o.max_pixels()
        << " (a decompression bomb?); raise ImageReadOptions::max_pixels if you trust the file";
    throw Error(msg.str());
  }
}

bool fits_min_size(int64_t h, int64_t w, const ImageReadOptions& o) {
  if (o.min_size().size() == 2 && (h < o.min_size()[0] || w < o.min_size()[1])) return false;
  if (o.min_shorter_side() > 0 && std::min(h, w) < o.min_shorter_side()) return false;
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
