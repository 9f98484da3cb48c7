// Images in: decoding, transforms, augmentation, data sets and the loader.
#include <unistd.h>
#include <zlib.h>

#include <tlearn/tlearn.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <numeric>
#include <set>
#include <sstream>
#include <thread>

#include "../support.hpp"

namespace tl = tlearn;
namespace td = tlearn::data;
namespace fs = std::filesystem;

namespace {

const fs::path kSkimage = "/usr/lib/python3/dist-packages/skimage/data";
const fs::path kOpencv = "/usr/share/doc/opencv-doc/examples/data";  // Debian's opencv-doc

/// PIL's outputs for the photos, made once per build tree (tests/python/data_reference.py).
fs::path reference(const std::string& what) { return tl::test::python_reference("data_reference.py", {what}); }

torch::Tensor as_chw(const torch::Tensor& hwc) { return hwc.permute({2, 0, 1}).to(torch::kFloat); }

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>();
}

double fraction_over(const torch::Tensor& a, const torch::Tensor& b, double t) {
  return ((a.to(torch::kFloat) - b.to(torch::kFloat)).abs() > t).to(torch::kFloat).mean().item<double>();
}

std::vector<uint8_t> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void spit(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

/// A PNG whose header claims width x height (with a correct CRC) and no pixel data.
std::vector<uint8_t> png_header(uint32_t width, uint32_t height) {
  std::vector<uint8_t> b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  for (uint32_t v : {width, height})
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
  for (uint8_t v : {8, 2, 0, 0, 0}) b.push_back(v);
  const uLong crc = crc32(0, b.data() + 12, 17);
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(crc >> s));
  return b;
}

/// Byte offset of the first SOF0/SOF2 segment of a JPEG.
size_t sof_offset(const std::vector<uint8_t>& j) {
  for (size_t i = 2; i + 1 < j.size(); ++i)
    if (j[i] == 0xFF && (j[i + 1] == 0xC0 || j[i + 1] == 0xC2)) return i;
  FAIL("no SOF marker");
  return 0;
}

/// A CHW float image whose pixel values are unique: 1000 c + 10 y + x... (small sizes only).
torch::Tensor ramp(int64_t c, int64_t h, int64_t w) {
  return torch::arange(c * h * w, torch::kFloat).view({c, h, w});
}

}  // namespace

// ---- decoding --------------------------------------------------------------------

TEST_CASE("decoding matches PIL on skimage's photos, palettes, GIF, BMP, TGA and alpha", "[data][decode]") {
  auto ref = reference("images");
  struct Case { std::string name; fs::path path; double tol; };
  std::vector<Case> cases = {
      {"chelsea", kSkimage / "chelsea.png", 0},       {"coffee", kSkimage / "coffee.png", 0},
      {"astronaut", kSkimage / "astronaut.png", 0},   {"palette_color", kSkimage / "palette_color.png", 0},
      {"green_palette", kSkimage / "green_palette.png", 0}, {"indexed", kSkimage / "foo3x5x4indexed.png", 1},
      {"gif", kSkimage / "no_time_for_that_tiny.gif", 0},   {"logo", kSkimage / "logo.png", 1},
      {"camera", kSkimage / "camera.png", 0},
      // Lossless copies of chelsea that PIL wrote as BMP, TGA and run-length TGA.
      {"chelsea", ref / "chelsea.bmp", 0},       {"chelsea", ref / "chelsea.tga", 0},
      {"chelsea", ref / "chelsea_rle.tga", 0},
      {"ocv_box", kOpencv / "box.png", 0},       {"ocv_graf1", kOpencv / "graf1.png", 0},
  };
  for (const auto& c : cases) {
    INFO(c.name << " from " << c.path.filename());
    auto ours = tl::io::read_image(c.path);
    auto pil = tl::io::read_image(ref / ("decoded_" + c.name + ".png"));
    CHECK(ours.dim() == 3);
    CHECK(ours.size(2) == 3);
    CHECK(max_diff(ours, pil) <= c.tol);
  }
}

TEST_CASE("JPEG decoding (baseline, progressive, grey) is within 2 levels of PIL", "[data][decode]") {
  auto ref = reference("images");
  std::vector<std::pair<std::string, fs::path>> jpegs = {
      {"rocket", kSkimage / "rocket.jpg"}, {"progressive", ref / "progressive.jpg"}, {"gray", ref / "gray.jpg"},
      {"ocv_baboon", kOpencv / "baboon.jpg"}, {"ocv_fruits", kOpencv / "fruits.jpg"},
      {"ocv_happyfish", kOpencv / "HappyFish.jpg"}, {"ocv_building", kOpencv / "building.jpg"}};
  for (const auto& [name, path] : jpegs) {
    auto pil = tl::io::read_image(ref / ("decoded_" + name + ".png"));
    for (bool turbo : {true, false}) {
      INFO(name << (turbo ? " (libjpeg-turbo when built with it)" : " (stb_image)"));
      tl::io::ImageReadOptions o;
      o.turbojpeg(turbo);
      auto ours = tl::io::read_image(path, o);
      // stb_image's IDCT and chroma upsampling are not libjpeg's: a few pixels differ by
      // more, up to 49 levels on the baboon's fur (sharp colour edges).
      CHECK(fraction_over(ours, pil, 2) < (turbo ? 0.001 : 0.02));
      CHECK(max_diff(ours, pil) <= (turbo ? 2 : 64));
      CHECK((ours.to(torch::kFloat) - pil.to(torch::kFloat)).abs().mean().item<double>() < 1.0);
    }
  }
}

TEST_CASE("CMYK JPEG is decoded to RGB as PIL converts it", "[data][decode]") {
  auto ref = reference("images");
  auto pil = tl::io::read_image(ref / "decoded_cmyk.png");
  for (bool turbo : {true, false}) {
    tl::io::ImageReadOptions o;
    o.turbojpeg(turbo);
    auto ours = tl::io::read_image(ref / "cmyk.jpg", o);
    REQUIRE(ours.sizes() == pil.sizes());
    // libjpeg-turbo decodes it to CMYK and tlearn converts as PIL does; stb_image's IDCT differs slightly.
    CHECK((ours.to(torch::kFloat) - pil.to(torch::kFloat)).abs().mean().item<double>() < 1.5);
    CHECK(fraction_over(ours, pil, 8) < 0.01);
  }
}

TEST_CASE("16-bit PNG keeps the high byte", "[data][decode]") {
  auto ref = reference("images");
  auto img = tl::io::read_image(ref / "gray16.png");
  REQUIRE(img.sizes() == torch::IntArrayRef({40, 50, 3}));
  std::ifstream in(ref / "gray16_high.txt");
  std::vector<int> expect((std::istream_iterator<int>(in)), std::istream_iterator<int>());
  REQUIRE(expect.size() == 2000);
  auto flat = img.select(2, 0).reshape(-1).to(torch::kInt);
  for (size_t i = 0; i < expect.size(); ++i) REQUIRE(flat[int64_t(i)].item<int>() == expect[i]);
  CHECK(img.select(2, 1).equal(img.select(2, 0)));
}

TEST_CASE("alpha is composited on the background or dropped", "[data][decode]") {
  auto dir = tl::test::scratch_dir("alpha");
  auto rgba = torch::tensor({200, 100, 0, 128, 10, 20, 30, 255, 1, 2, 3, 0}, torch::kUInt8).view({1, 3, 4});
  tl::io::write_png(rgba, dir / "rgba.png");
  auto white = tl::io::read_image(dir / "rgba.png");
  CHECK(white[0][0][0].item<int>() == (200 * 128 + 255 * 127 + 127) / 255);
  CHECK(white[0][0][2].item<int>() == (0 * 128 + 255 * 127 + 127) / 255);
  CHECK(white[0][1].equal(torch::tensor({10, 20, 30}, torch::kUInt8)));
  CHECK(white[0][2].equal(torch::tensor({255, 255, 255}, torch::kUInt8)));
  auto black = tl::io::read_image(dir / "rgba.png", tl::io::ImageReadOptions().background({0, 0, 0}));
  CHECK(black[0][0][0].item<int>() == (200 * 128 + 127) / 255);
  CHECK(black[0][2].equal(torch::tensor({0, 0, 0}, torch::kUInt8)));
  auto dropped = tl::io::read_image(dir / "rgba.png", tl::io::ImageReadOptions().alpha(tl::io::Alpha::Drop));
  CHECK(dropped[0][0].equal(torch::tensor({200, 100, 0}, torch::kUInt8)));
  CHECK(dropped[0][2].equal(torch::tensor({1, 2, 3}, torch::kUInt8)));
}

TEST_CASE("bad image files raise errors naming the file and the reason", "[data][decode]") {
  auto dir = tl::test::scratch_dir("bad_images");
  auto expect_error = [](const fs::path& p, const std::string& reason, tl::io::ImageReadOptions o = {}) {
    INFO(p);
    try {
      tl::io::read_image(p, o);
      FAIL("no error for " << p);
    } catch (const tl::Error& e) {
      const std::string msg = e.what();
      CHECK_THAT(msg, Catch::Matchers::Contains(p.string()));
      CHECK_THAT(msg, Catch::Matchers::Contains(reason));
    }
  };
  spit(dir / "empty.png", {});
  expect_error(dir / "empty.png", "empty");
  expect_error(dir / "missing.jpg", "no such file");
  expect_error(kSkimage / "truncated.jpg", "truncated");
  std::ofstream(dir / "text.jpg") << "this is not an image, just text\n";
  expect_error(dir / "text.jpg", "not a supported image");
  auto png = slurp(kSkimage / "chelsea.png");
  png.resize(png.size() / 2);
  spit(dir / "half.png", png);
  expect_error(dir / "half.png", "cannot decode");
  auto jpg = slurp(kSkimage / "rocket.jpg");
  spit(dir / "cut.jpg", std::vector<uint8_t>(jpg.begin(), jpg.begin() + long(jpg.size() * 2 / 3)));
  expect_error(dir / "cut.jpg", "truncated");
  // Decompression bombs: refused from the header, before any allocation.
  spit(dir / "bomb.png", png_header(100000, 100000));
  expect_error(dir / "bomb.png", "pixels");
  auto big = jpg;
  const size_t sof = sof_offset(big);
  big[sof + 5] = big[sof + 6] = big[sof + 7] = big[sof + 8] = 0xEA;  // 60138 x 60138
  spit(dir / "bomb.jpg", big);
  expect_error(dir / "bomb.jpg", "pixels");
  expect_error(kSkimage / "rocket.jpg", "max_pixels", tl::io::ImageReadOptions().max_pixels(1000));
  auto twelve = jpg;
  twelve[sof + 4] = 12;
  spit(dir / "12bit.jpg", twelve);
  expect_error(dir / "12bit.jpg", "12-bit");
  auto cmyk = jpg;  // claims 4 components, carries 3
  cmyk[sof + 9] = 4;
  spit(dir / "cmyk.jpg", cmyk);
  expect_error(dir / "cmyk.jpg", "cannot decode");
}

namespace {
/// Offset of the first marker `m` (0xFF m) after the start-of-image marker.
size_t marker_offset(const std::vector<uint8_t>& j, uint8_t m) {
  for (size_t i = 2; i + 1 < j.size(); ++i)
    if (j[i] == 0xFF && j[i + 1] == m) return i;
  FAIL("no marker " << int(m));
  return 0;
}

/// A PNG chunk: length, type, data, CRC.
void png_chunk(std::vector<uint8_t>& out, const char* type, const std::vector<uint8_t>& data) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(data.size() >> s));
  const size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data.begin(), data.end());
  const uLong crc = crc32(0, out.data() + start, uInt(out.size() - start));
  for (int s = 24; s >= 0; s -= 8) out.push_back(uint8_t(crc >> s));
}

std::vector<uint8_t> cut(std::vector<uint8_t> bytes, double fraction) {
  bytes.resize(size_t(double(bytes.size()) * fraction));
  return bytes;
}
}  // namespace

TEST_CASE("hostile images: fill bytes, bad Huffman tables, truncation, CRCs, bombs never reach a decoder",
          "[data][decode][bad]") {
  auto ref = reference("images");
  auto dir = tl::test::scratch_dir("hostile_images");
  auto expect_error = [](const fs::path& p, const std::string& reason, tl::io::ImageReadOptions o = {}) {
    INFO(p << " (libjpeg-turbo: " << o.turbojpeg() << ")");
    try {
      tl::io::read_image(p, o);
      FAIL("no error for " << p);
    } catch (const tl::Error& e) {
      CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains(p.string()) && Catch::Matchers::Contains(reason));
    }
  };
  tl::io::ImageReadOptions stb;
  stb.turbojpeg(false);
  const auto jpg = slurp(kSkimage / "rocket.jpg");

  // A leading fill byte: stb_image skips it, so tlearn does too, and decodes the JPEG as JPEG.
  auto filled = jpg;
  filled.insert(filled.begin(), 0xFF);
  spit(dir / "fill.jpg", filled);
  CHECK(tl::io::read_image(dir / "fill.jpg").equal(tl::io::read_image(kSkimage / "rocket.jpg")));
  CHECK(tl::io::read_image(dir / "fill.jpg", stb).equal(tl::io::read_image(kSkimage / "rocket.jpg", stb)));
  CHECK(tl::io::read_image_info(dir / "fill.jpg").format == "jpeg");

  // A Huffman table with more codes than its lengths allow (stb_image 2.27 writes out of bounds).
  auto huffman = filled;
  const size_t dht = marker_offset(huffman, 0xC4);
  huffman[dht + 5] = 3;  // three 1-bit codes
  spit(dir / "huffman.jpg", huffman);
  // A scan that uses a table never defined (stb_image reads uninitialised tables).
  auto undefined = jpg;
  const size_t sos = marker_offset(undefined, 0xDA);
  undefined[sos + 6] = 0x33;  // the first component's DC and AC tables: 3 and 3
  spit(dir / "undefined.jpg", undefined);
  for (const auto& o : {tl::io::ImageReadOptions(), stb}) {
    expect_error(dir / "huffman.jpg", "Huffman table with more codes", o);
    expect_error(dir / "undefined.jpg", "never defined", o);
    expect_error(ref / "progressive.jpg", "more than 3 JPEG scans", tl::io::ImageReadOptions(o).max_jpeg_scans(3));
  }
  CHECK(tl::io::read_image(ref / "progressive.jpg").size(2) == 3);

  // Truncated files whose decoders would leave rows unwritten.
  spit(dir / "cut.bmp", cut(slurp(ref / "chelsea.bmp"), 0.6));
  expect_error(dir / "cut.bmp", "truncated BMP");
  spit(dir / "cut.tga", cut(slurp(ref / "chelsea.tga"), 0.6));
  expect_error(dir / "cut.tga", "truncated TGA");
  spit(dir / "cut_rle.tga", cut(slurp(ref / "chelsea_rle.tga"), 0.6));
  expect_error(dir / "cut_rle.tga", "truncated TGA");
  spit(dir / "cut.gif", cut(slurp(kSkimage / "no_time_for_that_tiny.gif"), 0.2));  // in the first frame
  expect_error(dir / "cut.gif", "truncated GIF");
  // PNM, written here from chelsea's pixels: whole, it decodes to them; cut, it is refused.
  const auto chelsea = tl::io::read_image(kSkimage / "chelsea.png");
  const std::string header = "P6\n# chelsea\n" + std::to_string(chelsea.size(1)) + " " +
                             std::to_string(chelsea.size(0)) + "\n255\n";
  std::vector<uint8_t> ppm(header.begin(), header.end());
  ppm.insert(ppm.end(), chelsea.data_ptr<uint8_t>(), chelsea.data_ptr<uint8_t>() + chelsea.numel());
  spit(dir / "chelsea.ppm", ppm);
  CHECK(tl::io::read_image(dir / "chelsea.ppm").equal(chelsea));
  CHECK(tl::io::read_image_info(dir / "chelsea.ppm").format == "pnm");
  spit(dir / "cut.ppm", cut(ppm, 0.6));
  expect_error(dir / "cut.ppm", "truncated PNM");
  const std::string tiny = "P6 10000 10000 255\n" + std::string(100, '\x80');  // 100 megapixels in 119 bytes
  spit(dir / "tiny.ppm", std::vector<uint8_t>(tiny.begin(), tiny.end()));
  expect_error(dir / "tiny.ppm", "truncated PNM");
  // A width of ten digits overflows stb_image's int (found by the fuzzer): refused, never parsed by stb.
  const std::string wide = "P6 5555555555 1 255\n" + std::string(64, '\x80');
  spit(dir / "wide.ppm", std::vector<uint8_t>(wide.begin(), wide.end()));
  expect_error(dir / "wide.ppm", "corrupt file (PNM header)");

  // PNG: a flipped bit fails the chunk's CRC, which stb_image never checks.
  std::vector<uint8_t> flipped = slurp(kSkimage / "chelsea.png");
  const std::string idat_tag = "IDAT";
  const size_t idat = std::search(flipped.begin(), flipped.end(), idat_tag.begin(), idat_tag.end()) - flipped.begin();
  flipped[idat + 100] ^= 0x10;
  spit(dir / "flipped.png", flipped);
  expect_error(dir / "flipped.png", "fails its CRC check");
  // A decompression bomb: 100x100 declared, 64 MiB of zeros deflated into 64 KB.
  std::vector<uint8_t> zeros(64 << 20), packed(compressBound(uLong(zeros.size())));
  uLongf packed_size = uLongf(packed.size());
  REQUIRE(compress2(packed.data(), &packed_size, zeros.data(), uLong(zeros.size()), 9) == Z_OK);
  packed.resize(packed_size);
  std::vector<uint8_t> bomb = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  png_chunk(bomb, "IHDR", {0, 0, 0, 100, 0, 0, 0, 100, 8, 2, 0, 0, 0});
  png_chunk(bomb, "IDAT", packed);
  png_chunk(bomb, "IEND", {});
  spit(dir / "bomb.png", bomb);
  expect_error(dir / "bomb.png", "inflates beyond the 30100 bytes");

  // A 3 GiB file (sparse) is refused from its size, before it is read.
  { std::ofstream(dir / "huge.png") << "x"; }
  fs::resize_file(dir / "huge.png", uintmax_t(3) << 30);
  const auto t0 = std::chrono::steady_clock::now();
  expect_error(dir / "huge.png", "over 2 GiB");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
  fs::remove(dir / "huge.png");
}

TEST_CASE("PNG and JPEG writing round-trips", "[data][decode]") {
  auto dir = tl::test::scratch_dir("write");
  auto img = tl::io::read_image(kSkimage / "chelsea.png");
  tl::io::write_png(img, dir / "a.png");
  CHECK(tl::io::read_image(dir / "a.png").equal(img));
  tl::io::write_png(as_chw(img), dir / "chw.png");  // CHW float is accepted too
  CHECK(tl::io::read_image(dir / "chw.png").equal(img));
  tl::io::write_jpeg(img, dir / "a.jpg", 95);
  auto back = tl::io::read_image(dir / "a.jpg");
  CHECK((back.to(torch::kFloat) - img.to(torch::kFloat)).abs().mean().item<double>() < 3);
  CHECK_THROWS_AS(tl::io::write_png(img, dir / "no" / "such" / "dir.png"), tl::Error);
  CHECK_THROWS_AS(tl::io::write_jpeg(img, dir / "q.jpg", 0), tl::Error);
  auto info = tl::io::read_image_info(kSkimage / "rocket.jpg");
  CHECK(info.width == 640);
  CHECK(info.height == 427);
  CHECK(info.format == "jpeg");
}

// ---- transforms --------------------------------------------------------------------

TEST_CASE("resize matches PIL (bilinear, bicubic, box, antialiased) exactly", "[data][transform]") {
  auto ref = reference("images");
  // tlearn reproduces Pillow 9.x (Debian's) exactly. Pillow 10 and later compute an
  // upscaled axis differently (13.0 against 9.4 on astronaut at 480x640: 13% of the
  // pixels, by up to 1 level bilinear, 8 bicubic): there upscaling is held to that.
  std::ifstream version_file(ref / "pillow_version.txt");
  std::string pillow;
  version_file >> pillow;
  const bool pillow9 = pillow.rfind("9.", 0) == 0;
  const std::vector<std::pair<std::string, tl::Interpolation>> filters = {
      {"bilinear", tl::Interpolation::Bilinear}, {"bicubic", tl::Interpolation::Bicubic}, {"area", tl::Interpolation::Area}};
  for (std::string photo : {"chelsea", "coffee", "astronaut", "rocket"}) {
    auto src = tl::io::read_image(ref / ("decoded_" + photo + ".png"));
    for (const auto& [fname, f] : filters)
      for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{224, 224}, {100, 150}, {37, 53}, {480, 640}}) {
        INFO(photo << " " << fname << " " << h << "x" << w);
        auto pil = as_chw(tl::io::read_image(ref / (photo + "_" + fname + "_" + std::to_string(h) + "x" + std::to_string(w) + ".png")));
        auto ours = td::resize({h, w}, f)(src);
        const bool upscaled = h > src.size(0) || w > src.size(1);
        CAPTURE(pillow);
        if (pillow9 || !upscaled) CHECK(max_diff(ours, pil) == 0);  // PIL's fixed-point arithmetic, reproduced exactly
        else CHECK(max_diff(ours, pil) <= (f == tl::Interpolation::Bicubic ? 8 : 1));
      }
  }
}

TEST_CASE("eval_transform matches torchvision Resize(256) + CenterCrop(224)", "[data][transform]") {
  auto ref = reference("images");
  for (std::string photo : {"chelsea", "rocket"})
    for (auto [fname, f] : std::vector<std::pair<std::string, tl::Interpolation>>{
             {"bilinear", tl::Interpolation::Bilinear}, {"bicubic", tl::Interpolation::Bicubic}}) {
      INFO(photo << " " << fname);
      auto src = tl::io::read_image(ref / ("decoded_" + photo + ".png"));
      auto t = td::eval_transform({256, 224, f});
      auto out = t(src);
      REQUIRE(out.sizes() == torch::IntArrayRef({3, 224, 224}));
      CHECK(max_diff(out, as_chw(tl::io::read_image(ref / (photo + "_eval_" + fname + ".png")))) == 0);
      // The same, composed from the single steps and with preprocessing.
      auto steps = td::compose({td::resize({256}, f), td::center_crop({224})});
      CHECK(max_diff(steps(src), out) <= 1e-3);
      auto torch_pre = td::eval_transform({256, 224, f}, tl::Preprocessing::Torch)(src);
      CHECK(torch::allclose(torch_pre, tl::preprocess_input(out, tl::Preprocessing::Torch), 1e-4, 1e-4));
    }
}

TEST_CASE("load_image returns CHW float, resized on request", "[data][transform]") {
  auto x = tl::load_image(kSkimage / "chelsea.png");
  CHECK(x.sizes() == torch::IntArrayRef({3, 300, 451}));
  CHECK(x.scalar_type() == torch::kFloat);
  CHECK(x.max().item<float>() <= 255.f);
  auto y = tl::load_image(kSkimage / "rocket.jpg", {224, 224});
  CHECK(y.sizes() == torch::IntArrayRef({3, 224, 224}));
  CHECK_THROWS_AS(tl::load_image(kSkimage / "rocket.jpg", {224}), tl::Error);
}

// ---- augmentation --------------------------------------------------------------------

TEST_CASE("augmentation is deterministic under a seed", "[data][augment]") {
  auto img = tl::io::read_image(kSkimage / "coffee.png");
  auto t = td::TrainTransform().size({128, 160}).flip(true, true).rotate(30).zoom(0.2).shift(0.1, 0.1).shear(10)
               .brightness(0.3).contrast(0.3).fill_mode(tl::FillMode::Reflect);
  auto a = t(img, 7), b = t(img, 7), c = t(img, 8);
  CHECK(a.sizes() == torch::IntArrayRef({3, 128, 160}));
  CHECK(a.equal(b));
  CHECK(!a.equal(c));
  CHECK(a.min().item<float>() >= 0.f);
  CHECK(a.max().item<float>() <= 255.f);
  auto rrc = td::TrainTransform().random_resized_crop({96, 96});
  CHECK(rrc(img, 1).equal(rrc(img, 1)));
  CHECK(!rrc(img, 1).equal(rrc(img, 2)));
  CHECK(rrc(img, 3).sizes() == torch::IntArrayRef({3, 96, 96}));
  // Through the type-erased Transform as the loader uses it.
  td::Transform erased = t;
  CHECK(erased(img, 7).equal(a));
}

TEST_CASE("ImageDataGenerator's colour steps, rescale and featurewise statistics", "[data][augment]") {
  auto photo = tl::io::read_image(kSkimage / "chelsea.png");
  // saturation 0 leaves grey; a half turn of hue takes red to cyan; brightness_range scales.
  auto grey = td::TrainTransform().saturation(1.0).apply(photo, [] { td::AugmentParams p; p.saturation = 0; return p; }());
  CHECK((grey[0] - grey[1]).abs().max().item<float>() < 1e-3f);
  CHECK((grey[1] - grey[2]).abs().max().item<float>() < 1e-3f);
  auto red = torch::zeros({2, 2, 3}, torch::kUInt8);
  red.select(2, 0).fill_(255);
  auto cyan = td::TrainTransform().hue(0.5).apply(red, [] { td::AugmentParams p; p.hue = 0.5; return p; }());
  CHECK(cyan[0].abs().max().item<float>() < 1e-3f);
  CHECK((cyan[1] - 255).abs().max().item<float>() < 1e-3f);
  CHECK((cyan[2] - 255).abs().max().item<float>() < 1e-3f);
  auto half = td::TrainTransform().brightness_range(0.5, 0.5)(photo, 3);
  CHECK(torch::allclose(half, td::to_tensor()(photo) * 0.5, 1e-4, 1e-3));
  // channel_shift: one shift for every channel, clipped to the image's own range.
  td::AugmentParams shifted;
  shifted.channel_shift = 40;
  auto up = td::TrainTransform().channel_shift(50).apply(photo, shifted);
  auto base = td::to_tensor()(photo);
  CHECK(up.max().item<float>() == base.max().item<float>());
  CHECK(torch::allclose(up, (base + 40).clamp(base.min().item<float>(), base.max().item<float>())));
  auto sampled = td::TrainTransform().channel_shift(50).saturation(0.5).hue(0.1).sample(10, 10, 7);
  CHECK(std::fabs(sampled.channel_shift) <= 50);
  CHECK((sampled.saturation >= 0.5 && sampled.saturation <= 1.5));
  CHECK(std::fabs(sampled.hue) <= 0.1);
  CHECK(td::TrainTransform().rescale(1.0 / 255)(photo).max().item<float>() <= 1.f);
  CHECK_THROWS_WITH(td::TrainTransform().hue(0.7), Catch::Matchers::Contains("0.5"));

  // featurewise_center / featurewise_std_normalization after fit(), as Keras' datagen.fit(x).
  td::FashionMNIST fashion(td::FashionMNISTOptions().train(false).rgb(false));
  auto x = fashion.images().narrow(0, 0, 300);  // (N, H, W) uint8
  td::TensorDataset sample(x, torch::zeros({300}, torch::kLong));
  auto gen = td::TrainTransform().rescale(1.0 / 255).featurewise_center().featurewise_std_normalization();
  CHECK_THROWS_WITH(gen(x[0]), Catch::Matchers::Contains("fit(dataset)"));
  gen.fit(sample);
  const auto xf = x.to(torch::kDouble) / 255;
  CHECK(gen.mean().at(0) == Approx(xf.mean().item<double>()).epsilon(1e-6));
  CHECK(gen.std().at(0) == Approx(xf.std(/*unbiased=*/false).item<double>()).epsilon(1e-6));
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < 300; ++i) out.push_back(gen.standardize()(x[i]));
  auto all = torch::stack(out);
  CHECK(std::fabs(all.mean().item<double>()) < 1e-4);
  CHECK(all.std(false).item<double>() == Approx(1.0).epsilon(1e-3));

  // A transform that ignores randomness needs no seed argument.
  td::Transform invert([](const torch::Tensor& img) { return 255 - tlearn::detail::to_chw_float(img); });
  CHECK(invert(photo).equal(255 - base));
}

TEST_CASE("flips and rotations move pixels where they should", "[data][augment]") {
  auto img = ramp(2, 5, 5);
  td::TrainTransform t;
  td::AugmentParams p;
  p.hflip = true;
  CHECK(t.apply(img, p).equal(img.flip({2})));
  p = {};
  p.vflip = true;
  CHECK(t.apply(img, p).equal(img.flip({1})));
  p = {};
  p.rotation = 90;  // counter-clockwise, as Keras and torchvision
  CHECK(torch::allclose(t.apply(img, p), torch::rot90(img, 1, {1, 2}), 1e-4, 1e-3));
  p.rotation = -90;
  CHECK(torch::allclose(t.apply(img, p), torch::rot90(img, -1, {1, 2}), 1e-4, 1e-3));
  p = {};
  CHECK(t.apply(img, p).equal(img));
  // Random flips happen about half the time.
  int flips = 0;
  for (uint64_t s = 0; s < 200; ++s) flips += td::TrainTransform().flip().sample(5, 5, s).hflip;
  CHECK(flips > 70);
  CHECK(flips < 130);
  // Uint8 HWC input gives the same as CHW float input.
  auto u8 = tl::io::read_image(kSkimage / "chelsea.png");
  auto rot = td::TrainTransform().rotate(25).zoom(0.1);
  CHECK(max_diff(rot(u8, 3), rot(as_chw(u8), 3)) <= 1);  // uint8 input rounds its antialiasing resize as PIL
}

TEST_CASE("fill modes follow Keras: nearest, constant, reflect, wrap", "[data][augment]") {
  auto img = torch::tensor({0.f, 10.f, 20.f, 30.f}).view({1, 1, 4}).expand({1, 3, 4}).contiguous();
  td::AugmentParams p;
  p.shift_x = 2;  // output x reads input x + 2
  auto row = [&](tl::FillMode m) {
    auto out = td::TrainTransform().fill_mode(m, 99.f).apply(img, p);
    return std::vector<float>(out.data_ptr<float>(), out.data_ptr<float>() + 4);
  };
  CHECK(row(tl::FillMode::Nearest) == std::vector<float>{20, 30, 30, 30});
  CHECK(row(tl::FillMode::Constant) == std::vector<float>{20, 30, 99, 99});
  CHECK(row(tl::FillMode::Reflect) == std::vector<float>{20, 30, 30, 20});
  CHECK(row(tl::FillMode::Wrap) == std::vector<float>{20, 30, 0, 10});
}

namespace {
/// torchvision's outputs of the augmentation operations on two photos (tests/python/augment_reference.py).
const fs::path& augment_reference() {
  static const fs::path dir = tl::test::python_reference("augment_reference.py");
  return dir;
}

td::AugmentOp op_named(const std::string& name) {
  for (int i = 0; i <= int(td::AugmentOp::Invert); ++i)
    if (td::op_name(td::AugmentOp(i)) == name) return td::AugmentOp(i);
  FAIL("no operation " << name);
  return td::AugmentOp::Identity;
}
}  // namespace

TEST_CASE("augmentation operations equal torchvision's on real photos, bit for bit", "[data][augment][policy]") {
  const auto tensors = tl::io::load_safetensors(augment_reference() / "ops.safetensors");
  std::ifstream in(augment_reference() / "ops.json");
  const auto ref = nlohmann::json::parse(in);
  for (const std::string photo : {"chelsea", "coffee"}) {
    const auto img = tensors["input/" + photo];
    const auto& cases = ref["cases"];
    for (size_t i = 0; i < cases.size(); ++i) {
      const std::string name = cases[i][0];
      const double magnitude = cases[i][1];
      const auto fill = cases[i][2].is_null() ? std::vector<double>{} : cases[i][2].get<std::vector<double>>();
      INFO(photo << ": " << name << " " << magnitude << (fill.empty() ? "" : " with fill"));
      const auto out = td::apply_step(img, {op_named(name), magnitude}, fill);
      const auto& expected = tensors[photo + "/" + std::to_string(i)];
      REQUIRE(out.sizes() == expected.sizes());
      CAPTURE((out != expected).sum().item<int64_t>());
      CHECK(torch::equal(out, expected));
    }
    // AugMix's blend of a given draw.
    td::PolicySample sample;
    const auto& augmix = ref["augmix"];
    sample.original_weight = augmix["original_weight"];
    sample.chain_weights = augmix["chain_weights"].get<std::vector<double>>();
    for (const auto& chain : augmix["chains"]) {
      auto& steps = sample.chains.emplace_back();
      for (const auto& step : chain) steps.push_back({op_named(step[0]), step[1].get<double>()});
    }
    const auto mixed = td::apply_policy(img, td::AugMix(), sample);
    CAPTURE(photo, (mixed != tensors[photo + "/augmix"]).sum().item<int64_t>());
    CHECK(torch::equal(mixed, tensors[photo + "/augmix"]));
  }
  // ColorJitter's steps (TrainTransform's brightness, contrast, saturation, hue) against torchvision's functional ones.
  for (const std::string photo : {"chelsea", "coffee"}) {
    const auto img = tensors["input/" + photo].to(torch::kFloat);
    for (const auto& step : ref["jitter"]) {
      const std::string name = step[0];
      const double factor = step[1];
      INFO(photo << ": " << name << " " << factor);
      td::AugmentParams p;
      if (name == "brightness") p.brightness = factor;
      if (name == "contrast") p.contrast = factor;
      if (name == "saturation") p.saturation = factor;
      if (name == "hue") p.hue = factor;
      std::ostringstream key;
      key << photo << "/" << name << "_" << factor;
      const auto& expected = tensors[key.str()];
      CHECK((td::TrainTransform().apply(img, p) - expected).abs().max().item<double>() < 0.01);
    }
  }
  CHECK_THROWS_WITH(td::ops::rotate(torch::zeros({3, 4, 4}), 10), Catch::Matchers::Contains("uint8"));
  CHECK_THROWS_WITH(td::ops::posterize(torch::zeros({3, 4, 4}, torch::kUInt8), 9), Catch::Matchers::Contains("bits"));
}

TEST_CASE("augmentation policies draw as torchvision's do: uniform operations, signs, bins, sub-policies",
          "[data][augment][policy]") {
  const int images = 14000;
  auto draw = [&](const td::AugmentPolicy& policy) {
    std::map<std::string, int> count;
    std::map<double, int> shear_magnitudes;
    tl::detail::Rng rng(5);
    std::vector<td::PolicySample> samples;
    for (int i = 0; i < images; ++i) {
      samples.push_back(td::sample_policy(policy, 224, 224, rng));
      for (const auto& chain : samples.back().chains)
        for (const auto& s : chain) {
          ++count[td::op_name(s.op)];
          if (s.op == td::AugmentOp::ShearX) ++shear_magnitudes[s.magnitude];
        }
    }
    return std::make_tuple(count, shear_magnitudes, samples);
  };
  // A count's expected value and 5 standard deviations of a binomial.
  auto near = [](int count, double n, double p) { return std::abs(count - n * p) < 5 * std::sqrt(n * p * (1 - p)) + 1; };
  {
    INFO("RandAugment(2, 9): 14 operations, uniform, the magnitude of bin 9 with either sign");
    auto [count, shear, samples] = draw(td::RandAugment(2, 9));
    CHECK(count.size() == 14);
    for (const auto& [op, n] : count) CHECK((op + ": " + std::to_string(n), near(n, 2.0 * images, 1.0 / 14)));
    REQUIRE(shear.size() == 2);  // +-linspace(0, 0.3, 31)[9]
    CHECK(shear.begin()->first == Approx(-0.3 * 9 / 30).epsilon(1e-6));
    CHECK(near(shear.begin()->second, count["ShearX"], 0.5));
  }
  {
    INFO("TrivialAugmentWide: one operation, its bin uniform among 31");
    auto [count, shear, samples] = draw(td::TrivialAugmentWide());
    CHECK(count.size() == 14);
    for (const auto& [op, n] : count) CHECK(near(n, images, 1.0 / 14));
    CHECK(shear.size() > 50);  // 31 bins, two signs (bin 0 is +-0)
    CHECK(shear.rbegin()->first == Approx(0.99).epsilon(1e-6));
  }
  {
    INFO("AutoAugment (ImageNet): sub-policies' probabilities");
    auto [count, shear, samples] = draw(td::AutoAugment());
    CHECK(near(count["Invert"], images, 3 * 0.6 / 25));             // three sub-policies hold Invert at 0.6
    CHECK(near(count["Posterize"], images, (0.4 + 1.2 + 0.8 + 0.4) / 25));
    CHECK(near(count["ShearX"], images, 0.6 / 25));
    CHECK(count.count("Identity") == 0);
  }
  {
    INFO("AugMix: weights sum to one, chains of 1 to 3 operations");
    auto [count, shear, samples] = draw(td::AugMix());
    double original = 0;
    std::map<size_t, int> depths;
    for (const auto& s : samples) {
      double total = s.original_weight;
      for (double w : s.chain_weights) total += w;
      CHECK(total == Approx(1.0));
      original += s.original_weight;
      for (const auto& chain : s.chains) ++depths[chain.size()];
    }
    CHECK(original / images == Approx(0.5).margin(0.01));  // Beta(1, 1)
    CHECK(depths.size() == 3);
    CHECK(near(depths[2], 3.0 * images, 1.0 / 3));
    CHECK(count.count("Invert") == 0);
  }
  {
    INFO("RandomErasing: rate and sizes as torchvision's get_params");
    std::ifstream in(augment_reference() / "stats.json");
    const auto stats = nlohmann::json::parse(in);
    tl::detail::Rng rng(9);
    const int draws = 20000;
    int erased = 0;
    double area = 0, height = 0;
    for (int i = 0; i < draws; ++i) {
      const auto box = td::sample_erase(td::RandomErasingOptions(), 224, 224, rng);
      if (box.height == 0) continue;
      ++erased;
      area += double(box.height * box.width) / (224.0 * 224.0);
      height += double(box.height);
    }
    CHECK(double(erased) / draws == Approx(stats["erased"].get<double>()).margin(0.02));
    CHECK(area / erased == Approx(stats["area_mean"].get<double>()).margin(0.005));
    CHECK(height / erased == Approx(stats["height_mean"].get<double>()).margin(2.0));
    auto img = torch::ones({3, 20, 30});
    td::EraseBox box{2, 3, 5, 7, 1};
    auto out = td::apply_erase(img, td::RandomErasingOptions().value({0.5}), box);
    CHECK(out.sum().item<double>() == Approx(3 * (600 - 35) + 3 * 35 * 0.5));
    auto noisy = td::apply_erase(img, td::RandomErasingOptions().random_value(true), box);
    CHECK(noisy.narrow(1, 2, 5).narrow(2, 3, 7).std().item<double>() == Approx(1.0).margin(0.3));
    CHECK(torch::equal(noisy, td::apply_erase(img, td::RandomErasingOptions().random_value(true), box)));
  }
}

TEST_CASE("TrainTransform with RandAugment and random erasing: photos a person can look at", "[data][augment][policy]") {
  auto img = tl::io::read_image(kSkimage / "astronaut.png");
  auto t = td::TrainTransform().random_resized_crop({96, 96}, {0.35, 1.0}).flip()
               .auto_augment(td::RandAugment(2, 9)).random_erasing(td::RandomErasingOptions().p(0.5).value({0.0}));
  std::vector<torch::Tensor> out;
  for (uint64_t seed = 0; seed < 16; ++seed) out.push_back(t(img, seed));
  CHECK(torch::equal(out[3], t(img, 3)));  // seeded
  const double mean = torch::stack(out).mean().item<double>();
  CHECK((mean > 40 && mean < 200));  // photos, not blank tiles
  const auto params = t.sample(512, 512, 3);
  CHECK(params.policy.chains.size() == 1);
  CHECK(params.policy.chains[0].size() == 2);
  const auto dir = tl::test::scratch_dir("rand_augment");
  td::save_grid(torch::stack(out), dir / "rand_augment.png", 4);
  CHECK(fs::file_size(dir / "rand_augment.png") > 10000);
}

TEST_CASE("save_grid writes a PNG grid", "[data][grid]") {
  auto dir = tl::test::scratch_dir("grid");
  auto batch = torch::rand({5, 3, 10, 12}) * 255;
  td::save_grid(batch, dir / "grid.png", 3);
  auto g = tl::io::read_image(dir / "grid.png");
  CHECK(g.sizes() == torch::IntArrayRef({2 * 12 + 2, 3 * 14 + 2, 3}));
  CHECK(max_diff(as_chw(g).narrow(1, 2, 10).narrow(2, 2, 12), batch[0].round()) <= 0.5);
  CHECK_THROWS_AS(td::save_grid(torch::rand({3, 10, 10}), dir / "x.png"), tl::Error);
}

// ---- data sets --------------------------------------------------------------------

namespace {
/// root/<class>/<i>.png with `counts[c]` tiny images each; pixel values encode (class, i).
fs::path make_folder(const std::string& name, const std::vector<std::pair<std::string, int>>& counts) {
  auto root = tl::test::scratch_dir(name);
  for (const auto& [cls, n] : counts) {
    fs::create_directories(root / cls);
    for (int i = 0; i < n; ++i)
      tl::io::write_png(torch::full({8, 8, 3}, i % 256, torch::kUInt8), root / cls / (std::to_string(i) + ".png"));
  }
  return root;
}
}  // namespace

TEST_CASE("ImageFolder: sorted class folders, extension filter, counts and weights", "[data][dataset]") {
  auto root = make_folder("image_folder", {{"dog", 3}, {"cat", 6}, {"bird", 1}});
  std::ofstream(root / "cat" / "notes.txt") << "not an image";
  fs::create_directories(root / "cat" / "more");
  tl::io::write_png(torch::zeros({4, 4, 3}, torch::kUInt8), root / "cat" / "more" / "X.PNG");
  td::ImageFolder data(root);
  CHECK(data.classes() == std::vector<std::string>{"bird", "cat", "dog"});
  CHECK(data.size() == 11);
  CHECK(data.class_counts() == std::vector<int64_t>{1, 7, 3});
  auto w = data.class_weights();
  CHECK(w[0] == Approx(11.0 / 3.0));
  CHECK(w[1] == Approx(11.0 / 21.0));
  CHECK(data.label(0) == 0);
  CHECK(data.label(10) == 2);
  CHECK(data.path(0).filename() == "0.png");
  auto ex = data.get(1);
  CHECK(ex.image.sizes() == torch::IntArrayRef({3, 8, 8}));
  CHECK(ex.label == 1);
  CHECK_THROWS_WITH(td::ImageFolder(root, td::ImageFolderOptions().extensions({".jpg"})),
                    Catch::Matchers::Contains("no image files"));
  CHECK(td::ImageFolder(root, td::ImageFolderOptions().extensions({".png"})).size() == 11);
  {  // Keras' line when a folder is read; verbose(false) keeps quiet
    std::ostringstream said;
    auto* previous = std::cout.rdbuf(said.rdbuf());
    td::ImageFolder again(root);
    td::ImageFolder quiet(root, td::ImageFolderOptions().verbose(false));
    std::cout.rdbuf(previous);
    CHECK(said.str() == "Found 11 images belonging to 3 classes.\n");
  }
  CHECK_THROWS_WITH(td::ImageFolder(root / "nope"), Catch::Matchers::Contains("not a folder"));
  {  // A symlink loop (a link to the class folder inside it) is skipped and reported, not followed forever.
    fs::remove(root / "cat" / "more" / "loop");
    fs::create_directory_symlink(root / "cat", root / "cat" / "more" / "loop");
    std::ostringstream said;
    auto* previous = std::cerr.rdbuf(said.rdbuf());
    td::ImageFolder looped(root, td::ImageFolderOptions().verbose(false));
    std::cerr.rdbuf(previous);
    fs::remove(root / "cat" / "more" / "loop");
    CHECK(looped.size() == 11);
    CHECK_THAT(said.str(), Catch::Matchers::Contains("skipped 1 linked folder") && Catch::Matchers::Contains("loop"));
  }
}

namespace {
/// A data set written the short way: only get().
struct Squares : td::Dataset {
  size_t size() const override { return 10; }
  int64_t label(size_t i) const override { return int64_t(i % 2); }
  td::Example get(size_t i) const override { return {torch::full({3, 4, 4}, float(i)), label(i)}; }
};
struct Nothing : td::Dataset {
  size_t size() const override { return 1; }
  int64_t label(size_t) const override { return 0; }
};
}  // namespace

TEST_CASE("a Dataset subclass may implement get() instead of image()", "[data][dataset]") {
  auto sq = std::make_shared<Squares>();
  CHECK(sq->image(3).equal(torch::full({3, 4, 4}, 3.f)));
  td::LoaderOptions o;
  o.batch_size(4);
  size_t n = 0;
  for (auto& b : td::loader(sq, {}, o)) n += b.size();
  CHECK(n == 10);
  CHECK_THROWS_WITH(Nothing().get(0), Catch::Matchers::Contains("override image() or get()"));
}

TEST_CASE("split is stratified, disjoint and seeded", "[data][dataset]") {
  std::vector<int64_t> labels;
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < (c == 0 ? 100 : c == 1 ? 50 : 10); ++i) labels.push_back(c);
  auto n = int64_t(labels.size());
  auto data = std::make_shared<td::TensorDataset>(torch::zeros({n, 2, 2, 3}, torch::kUInt8), torch::tensor(labels));
  auto [train, val] = td::split(data, 0.2, 42);
  CHECK(val.class_counts() == std::vector<int64_t>{20, 10, 2});
  CHECK(train.class_counts() == std::vector<int64_t>{80, 40, 8});
  std::set<size_t> all(train.indices().begin(), train.indices().end());
  all.insert(val.indices().begin(), val.indices().end());
  CHECK(all.size() == labels.size());
  auto again = td::split(data, 0.2, 42);
  CHECK(again.second.indices() == val.indices());
  CHECK(td::split(data, 0.2, 43).second.indices() != val.indices());
  CHECK_THROWS_AS(td::split(data, 1.5, 0), tl::Error);
  // By value too, as in the design sketch.
  td::TensorDataset by_value(torch::zeros({4, 2, 2, 3}, torch::kUInt8), torch::tensor({0, 0, 1, 1}));
  CHECK(td::split(by_value, 0.5, 1).second.size() == 2);
}

TEST_CASE("IDX files: never more memory than the header declares, overflowing and foreign headers refused",
          "[data][dataset][bad]") {
  auto dir = tl::test::scratch_dir("idx_hostile");
  // Writes train-images (header dims, then `values` bytes of `fill`) and 10 matching labels.
  auto write = [&](const std::string& case_name, std::vector<uint32_t> dims, uint64_t values, uint8_t fill = 0) {
    const auto root = dir / case_name;
    fs::create_directories(root);
    auto gz = [](const fs::path& p, std::vector<uint32_t> d, uint64_t n, uint8_t v) {
      gzFile f = gzopen(p.string().c_str(), "wb");
      std::vector<uint8_t> head = {0, 0, 8, uint8_t(d.size())};
      for (uint32_t x : d)
        for (int s = 24; s >= 0; s -= 8) head.push_back(uint8_t(x >> s));
      gzwrite(f, head.data(), unsigned(head.size()));
      std::vector<uint8_t> block(1 << 20, v);
      for (uint64_t done = 0; done < n; done += block.size())
        gzwrite(f, block.data(), unsigned(std::min<uint64_t>(block.size(), n - done)));
      gzclose(f);
    };
    gz(root / "train-images-idx3-ubyte.gz", dims, values, fill);
    gz(root / "train-labels-idx1-ubyte.gz", {10}, 10, 1);
    return td::FashionMNISTOptions().root(root);
  };
  const auto sound = write("sound", {10, 28, 28}, 7840, 7);
  CHECK(td::FashionMNIST(sound).image(3).max().item<int>() == 7);
  // 64 MiB of zeros behind a header that declares 7840 values: refused without holding them.
  CHECK_THROWS_WITH(td::FashionMNIST(write("bomb", {10, 28, 28}, 64 << 20)),
                    Catch::Matchers::Contains("more data than the 7840 values"));
  CHECK_THROWS_WITH(td::FashionMNIST(write("overflow", {0x80000000u, 0x80000000u, 0x80000000u}, 16)),
                    Catch::Matchers::Contains("more than 4 GiB"));
  CHECK_THROWS_WITH(td::FashionMNIST(write("short", {10, 28, 28}, 1000)),
                    Catch::Matchers::Contains("truncated IDX file"));
}

TEST_CASE("Fashion-MNIST reads 60000 + 10000 images like Python's gzip", "[data][dataset]") {
  auto ref = reference("fmnist");
  td::FashionMNIST train;
  td::FashionMNIST test(td::FashionMNISTOptions().train(false));
  REQUIRE(train.size() == 60000);
  REQUIRE(test.size() == 10000);
  CHECK(train.class_counts() == std::vector<int64_t>(10, 6000));
  CHECK(test.class_counts() == std::vector<int64_t>(10, 1000));
  CHECK(train.label(0) == 9);
  CHECK(test.label(0) == 9);
  CHECK(train.classes()[9] == "Ankle boot");
  auto first = tl::io::read_image(ref / "train_first.png");
  CHECK(train.image(0).equal(first));
  CHECK(test.image(0).equal(tl::io::read_image(ref / "t10k_first.png")));
  CHECK(train.get(0).image.sizes() == torch::IntArrayRef({3, 28, 28}));
  CHECK(td::FashionMNIST(td::FashionMNISTOptions().train(false).rgb(false)).image(0).sizes() ==
        torch::IntArrayRef({28, 28, 1}));
  CHECK_THROWS_WITH(td::FashionMNIST(td::FashionMNISTOptions().root("/nonexistent")),
                    Catch::Matchers::Contains("/nonexistent"));

  // Export some of it as an image folder and read it back.
  auto dir = tl::test::scratch_dir("fmnist_export");
  std::vector<size_t> some(30);
  std::iota(some.begin(), some.end(), 0);
  td::Subset sub(std::make_shared<td::FashionMNIST>(test), some);
  CHECK(td::export_image_folder(sub, dir) == 30);
  td::ImageFolder back(dir);
  CHECK(back.size() == 30);
  const auto names = back.classes();
  CHECK(std::find(names.begin(), names.end(), "T-shirt_top") != names.end());
  const auto ankle = std::find(names.begin(), names.end(), "Ankle boot") - names.begin();
  CHECK(tl::io::read_image(dir / "Ankle boot" / "0.png").equal(test.image(0)));
  CHECK(back.class_counts()[size_t(ankle)] == sub.class_counts()[9]);
}

// ---- loader --------------------------------------------------------------------

namespace {
/// n samples; image i is a 3x6x6 float image filled with i, label i % 3.
std::shared_ptr<td::TensorDataset> numbered(int64_t n) {
  auto images = torch::arange(n, torch::kFloat).view({n, 1, 1, 1}).expand({n, 3, 6, 6}).contiguous();
  return std::make_shared<td::TensorDataset>(images, torch::arange(n) % 3);
}
}  // namespace

TEST_CASE("loader yields every sample exactly once per epoch, reshuffled each epoch", "[data][loader]") {
  auto data = numbered(103);
  td::LoaderOptions o;
  o.batch_size(10);
  o.seed(5);
  o.workers(3);
  auto l = td::loader(data, {}, o);
  CHECK(l.size() == 11);
  std::vector<std::vector<size_t>> orders;
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<size_t> seen;
    size_t batches = 0;
    for (auto& b : l) {
      ++batches;
      CHECK(b.images.sizes()[0] == int64_t(b.size()));
      CHECK(b.images.is_contiguous());
      CHECK(b.labels.scalar_type() == torch::kLong);
      for (size_t k = 0; k < b.size(); ++k) {
        CHECK(b.images[int64_t(k)][0][0][0].item<float>() == float(b.indices[k]));
        CHECK(b.labels[int64_t(k)].item<int64_t>() == int64_t(b.indices[k] % 3));
      }
      seen.insert(seen.end(), b.indices.begin(), b.indices.end());
    }
    CHECK(batches == 11);
    orders.push_back(seen);
    std::sort(seen.begin(), seen.end());
    std::vector<size_t> all(103);
    std::iota(all.begin(), all.end(), 0);
    CHECK(seen == all);
  }
  CHECK(orders[0] != orders[1]);
  o.drop_last(true);
  auto dropping = td::loader(data, {}, o);
  CHECK(dropping.size() == 10);
  size_t n = 0;
  for (auto& b : dropping) n += b.size();
  CHECK(n == 100);
  o.shuffle(false);
  auto ordered = td::loader(data, {}, o);
  CHECK(ordered.begin()->indices == std::vector<size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("loader batches do not depend on the number of workers", "[data][loader]") {
  auto img = tl::io::read_image(kSkimage / "astronaut.png");
  auto photos = std::make_shared<td::TensorDataset>(img.unsqueeze(0).expand({24, -1, -1, -1}).contiguous(),
                                                    torch::arange(24) % 2);
  td::Transform keras = td::TrainTransform().size({64, 64}).flip().rotate(20).zoom(0.1).brightness(0.2);
  // torchvision's recipe: crop, flip, RandAugment, normalize, random erasing.
  td::Transform policies = td::TrainTransform().random_resized_crop({48, 48}).flip().auto_augment(td::RandAugment())
                               .preprocessing(tl::Preprocessing::Torch).random_erasing();
  for (const auto& t : {keras, policies}) {
    auto run = [&](int workers) {
      td::LoaderOptions o;
      o.batch_size(5);
      o.seed(11);
      o.workers(workers);
      auto l = td::loader(photos, t, o);
      std::vector<torch::Tensor> out;
      for (int e = 0; e < 2; ++e)
        for (auto& b : l) out.push_back(b.images);
      return out;
    };
    auto one = run(1), four = run(4), zero = run(0);
    REQUIRE(one.size() == 10);
    REQUIRE(four.size() == one.size());
    for (size_t i = 0; i < one.size(); ++i) {
      CHECK(one[i].equal(four[i]));
      CHECK(one[i].equal(zero[i]));
    }
  }
}

TEST_CASE("loader skips and reports a corrupt file, or throws on request", "[data][loader]") {
  auto root = make_folder("loader_corrupt", {{"a", 5}, {"b", 5}});
  std::ofstream(root / "b" / "2.png", std::ios::trunc) << "garbage";
  auto data = std::make_shared<td::ImageFolder>(root);
  td::LoaderOptions o;
  o.batch_size(4);
  o.workers(2);
  std::vector<td::SkippedSample> reported;
  o.on_skip([&](const td::SkippedSample& s) { reported.push_back(s); });
  auto l = td::loader(data, td::to_tensor(), o);
  size_t n = 0;
  for (auto& b : l) n += b.size();
  CHECK(n == 9);
  REQUIRE(l.skipped().size() == 1);
  CHECK_THAT(l.skipped()[0].source, Catch::Matchers::Contains("2.png"));
  CHECK(reported.size() == 1);
  o.on_error(td::OnError::Throw);
  auto strict = td::loader(data, td::to_tensor(), o);
  try {
    for (auto& b : strict) (void)b;
    FAIL("no exception");
  } catch (const tl::Error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("2.png"));
  }
}

TEST_CASE("an exception in a worker reaches the caller and the loader can go on", "[data][loader]") {
  auto data = numbered(40);
  td::Transform bad([](const torch::Tensor& x, uint64_t) {
    if (x[0][0][0].item<float>() == 17.f) throw std::runtime_error("boom at 17");
    return x;
  });
  td::LoaderOptions o;
  o.batch_size(4);
  o.workers(3);
  auto l = td::loader(data, bad, o);
  CHECK_THROWS_WITH([&] { for (auto& b : l) (void)b; }(), Catch::Matchers::Contains("boom at 17"));
  CHECK_THROWS_WITH([&] { for (auto& b : l) (void)b; }(), Catch::Matchers::Contains("boom at 17"));
  // Shapes that differ inside a batch are an error, not a crash.
  auto mixed = std::make_shared<td::ImageFiles>(std::vector<std::pair<fs::path, int64_t>>{
      {kSkimage / "chelsea.png", 0}, {kSkimage / "coffee.png", 1}});
  CHECK_THROWS_WITH([&] { for (auto& b : td::loader(mixed, {}, o)) (void)b; }(), Catch::Matchers::Contains("resize"));
}

TEST_CASE("destroying a loader mid-epoch stops its workers", "[data][loader]") {
  auto data = numbered(400);
  std::atomic<int> calls{0};
  td::Transform slow([&](const torch::Tensor& x, uint64_t) {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return x;
  });
  const auto t0 = std::chrono::steady_clock::now();
  {
    td::LoaderOptions o;
    o.batch_size(8);
    o.workers(4);
    auto l = td::loader(data, slow, o);
    for (auto& b : l) {
      CHECK(b.size() == 8);
      break;
    }
    auto it = l.begin();  // a new epoch abandons the old one
    CHECK(it->size() == 8);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(s < 2.0);
  CHECK(calls.load() < 400);
}
