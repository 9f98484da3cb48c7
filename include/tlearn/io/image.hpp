#pragma once
/// \file
/// Image files in and out: JPEG (baseline, progressive, grey, CMYK/YCCK converted to RGB as PIL does), PNG (8/16-bit, palette,
/// gray, alpha), BMP, GIF (first frame), TGA and PNM decode to HWC uint8 RGB;
/// PNG and JPEG encode (decoding and resizing in one step: tlearn/data/load_image.hpp). JPEGs go through libjpeg-turbo when tlearn was built
/// with it (TLEARN_HAVE_TURBOJPEG), with DCT-domain downscaling when the caller
/// only needs a much smaller image; everything else through stb_image.
///
///     auto hwc = tlearn::io::read_image("cat.jpg");          // (H, W, 3) uint8
///     tlearn::io::write_png(chw, "out.png");
///
/// Alpha: by default composited over a background colour (white), as a browser
/// shows the image; `Alpha::Drop` keeps the colour channels as stored.
/// 16-bit PNGs are reduced to 8 bits by keeping the high byte (as PIL does).

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tlearn/core/error.hpp"

namespace tlearn {
namespace io {

/// What to do with an alpha channel.
enum class Alpha {
  Composite,  ///< blend over ImageReadOptions::background (default white)
  Drop,       ///< ignore alpha, keep the stored colour
};

struct ImageReadOptions {
  TORCH_ARG(Alpha, alpha) = Alpha::Composite;
  /// The colour an alpha channel is composited over.
  using Rgb = std::array<uint8_t, 3>;
  TORCH_ARG(Rgb, background) = Rgb{255, 255, 255};
  /// Refuse images with more pixels than this before decoding anything (PIL's
  /// decompression-bomb limit). 0 = no limit.
  TORCH_ARG(int64_t, max_pixels) = 178956970;
  /// {H, W}: a JPEG may be decoded at a reduced scale (libjpeg-turbo's 1/8 .. 7/8)
  /// as long as the result is still at least this large. Empty = full size.
  TORCH_ARG(std::vector<int64_t>, min_size) = {};
  /// Same, for the shorter side only (what "resize the shorter side" needs).
  TORCH_ARG(int64_t, min_shorter_side) = 0;
  /// Use libjpeg-turbo for JPEGs when available (false forces stb_image).
  TORCH_ARG(bool, turbojpeg) = true;
  /// Refuse JPEGs with more scans than this: each progressive scan re-reads the whole
  /// image, so thousands of tiny scans take minutes of CPU. Progressive files from
  /// libjpeg's default script (PIL's, for one) have 10.
  TORCH_ARG(int, max_jpeg_scans) = 100;
};

struct ImageInfo {
  int64_t height = 0, width = 0, channels = 0;
  std::string format;  // "jpeg", "png", "gif", "bmp", "pnm", "tga", "other"
};

namespace detail {

std::vector<uint8_t> read_file(const std::filesystem::path& path);

std::string sniff(const uint8_t* d, size_t n);

/// Where a JPEG's start-of-image marker is (after any 0xFF fill bytes, which
/// decoders skip), or n when the data is not a JPEG.
size_t jpeg_start(const uint8_t* d, size_t n);

/// What the JPEG marker walk found.
struct JpegScan {
  size_t start = 0;  ///< offset of the start-of-image marker
  int precision = 0, components = 0, scans = 0;
  int64_t height = 0, width = 0;
  int adobe_transform = -1;  ///< the Adobe marker's colour transform (0 CMYK, 2 YCCK), -1 without
};

/// Walks the JPEG markers to the end-of-image marker. Catches what decoders
/// forgive silently (a file cut short decodes to grey), what they cannot do, and
/// what they would mishandle: inconsistent frame and scan headers, Huffman
/// tables that over-subscribe their code space, scans that use undefined tables,
/// more scans than ImageReadOptions::max_jpeg_scans.
JpegScan scan_jpeg(const uint8_t* d, size_t n, const std::string& name, const ImageReadOptions& o);

/// Checks that a PNG, GIF, BMP, PNM or TGA file holds all the data its header
/// declares (PNG: every chunk's CRC, and pixel data that inflates to exactly
/// the declared size, never beyond). Refuses with an Error naming the file.
void check_structure(const uint8_t* d, size_t n, const std::string& format, const std::string& name);

/// Width and height from PNG, GIF, BMP, PNM and TGA headers (stb refuses huge ones with a vague
/// message; reading them here lets the pixel-limit error say what is wrong). {0, 0} if unknown.
std::pair<int64_t, int64_t> header_size(const uint8_t* d, size_t n, const std::string& format);

void check_pixels(int64_t h, int64_t w, const ImageReadOptions& o, const std::string& name);

/// The largest reduction a JPEG decoder may apply given the caller's minimum size.
bool fits_min_size(int64_t h, int64_t w, const ImageReadOptions& o);

inline bool wants_scaling(const ImageReadOptions& o) { return o.min_size().size() == 2 || o.min_shorter_side() > 0; }

}  // namespace detail

/// Decodes an image held in memory; `name` is used in error messages.
/// Returns (H, W, 3) uint8 RGB.
torch::Tensor decode_image(const uint8_t* data, size_t size, const std::string& name,
                           const ImageReadOptions& options = {});

/// Reads an image file into (H, W, 3) uint8 RGB. Throws tlearn::Error naming the
/// file and the reason (empty, truncated, not an image, unsupported, too many pixels).
torch::Tensor read_image(const std::filesystem::path& path, const ImageReadOptions& options = {});

/// Width, height and stored channel count from the file header, without decoding.
ImageInfo read_image_info(const std::filesystem::path& path);

namespace detail {
/// Any of HWC/HW uint8 or CHW float 0..255 → contiguous HWC uint8 (rounded, clamped).
torch::Tensor to_hwc_u8(const torch::Tensor& image, const std::string& name);
}  // namespace detail

/// Writes HWC uint8 or CHW float (0..255) as PNG.
void write_png(const torch::Tensor& image, const std::filesystem::path& path);

/// Writes HWC uint8 or CHW float (0..255) as baseline JPEG (alpha is dropped).
void write_jpeg(const torch::Tensor& image, const std::filesystem::path& path, int quality = 95);

}  // namespace io
}  // namespace tlearn
