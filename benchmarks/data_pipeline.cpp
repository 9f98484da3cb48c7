// Data pipeline throughput: decode + resize + augment + batch, tlearn against
// both pipelines Python users have, through a torch DataLoader with the same worker
// count on the same folder: PIL + torchvision transforms ("pil"), and
// torchvision.io.decode_jpeg + transforms v2 on tensors ("tensor", torchvision 0.16+).
//
//   build/benchmarks/data_pipeline --folder /tmp/tlearn_bench_photos --workers 2 [--images 1200]
//       [--batch 32] [--epochs 2] [--rounds 2] [--pipeline train|eval|both|profile] [--python /usr/bin/python3]
//       [--decoders pil,tensor]
//
// The folder is filled once with JPEG photos cut from scikit-image's sample
// images (random crops, scales and flips, 4 class folders); later runs reuse it.
#include <tlearn/tlearn.hpp>

#include <sys/resource.h>

#include <chrono>
#include <ctime>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>

namespace fs = std::filesystem;
namespace td = tlearn::data;

namespace {

size_t count_jpegs(const fs::path& dir) {
  size_t n = 0;
  if (!fs::exists(dir)) return 0;
  for (auto& e : fs::recursive_directory_iterator(dir)) n += e.path().extension() == ".jpg";
  return n;
}

void make_photos(const fs::path& dir, size_t n) {
  const fs::path sk = "/usr/lib/python3/dist-packages/skimage/data";
  std::vector<torch::Tensor> sources;
  for (auto name : {"chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png", "retina.jpg",
                    "hubble_deep_field.jpg", "color.png", "motorcycle_right.png"})
    if (fs::exists(sk / name)) sources.push_back(tlearn::io::read_image(sk / name));
  if (sources.empty()) throw tlearn::Error("no scikit-image sample photos in " + sk.string() + " (apt install python3-skimage)");
  std::mt19937_64 rng(1234);
  auto uni = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  for (size_t i = 0; i < n; ++i) {
    const auto& src = sources[i % sources.size()];
    const int64_t h = src.size(0), w = src.size(1);
    const double f = uni(0.5, 1.0);
    const int64_t ch = std::max<int64_t>(16, int64_t(h * f)), cw = std::max<int64_t>(16, int64_t(w * uni(0.5, 1.0)));
    const int64_t top = int64_t(uni(0, double(h - ch))), left = int64_t(uni(0, double(w - cw)));
    const double long_side = uni(320, 640);
    const double s = long_side / double(std::max(ch, cw));
    auto crop = src.narrow(0, top, ch).narrow(1, left, cw);
    auto out = td::resize({std::max<int64_t>(1, int64_t(ch * s)), std::max<int64_t>(1, int64_t(cw * s))})(crop);
    if (rng() % 2) out = out.flip({2});
    const fs::path cls = dir / ("class" + std::to_string(i % 4));
    fs::create_directories(cls);
    tlearn::io::write_jpeg(out, cls / (std::to_string(i) + ".jpg"), 90);
  }
}

struct Result {
  double images_per_second = 0;  // wall clock, timed epochs
  double cpu_ms_per_image = 0;   // all threads / worker processes, warm-up included
};

double process_cpu_ms() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return (double(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e3 + double(r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1e-3);
}

Result run_cpp(const fs::path& dir, const std::string& pipeline, int workers, int batch, int epochs) {
  td::Transform t = pipeline == "train"
                        ? td::Transform(td::TrainTransform().size({224, 224}).flip().rotate(15).zoom(0.1).brightness(0.2).contrast(0.2))
                        : td::eval_transform({256, 224});
  td::LoaderOptions o;
  o.batch_size(batch);
  o.workers(workers);
  o.prefetch(2);
  const double cpu0 = process_cpu_ms();
  Result r;
  size_t total = 0, n = 0;
  {
    auto l = td::loader(td::ImageFolder(dir), t, o);
    for (auto& b : l) total += b.size();  // warm-up epoch
    const auto t0 = std::chrono::steady_clock::now();
    for (int e = 0; e < epochs; ++e)
      for (auto& b : l) n += b.size();
    r.images_per_second = double(n) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  r.cpu_ms_per_image = (process_cpu_ms() - cpu0) / double(total + n);
  return r;
}

Result run_python(const std::string& python, const fs::path& script, const fs::path& dir, const std::string& pipeline,
                  const std::string& decoder, int workers, int batch, int epochs) {
  const std::string cmd = python + " " + script.string() + " " + dir.string() + " --workers " + std::to_string(workers) +
                          " --batch " + std::to_string(batch) + " --epochs " + std::to_string(epochs) + " --pipeline " + pipeline +
                          " --decoder " + decoder;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw tlearn::Error("cannot run " + cmd);
  char line[512];
  Result r{-1, -1};
  while (fgets(line, sizeof line, p)) {
    std::sscanf(line, "images_per_second %lf", &r.images_per_second);
    std::sscanf(line, "cpu_ms_per_image %lf", &r.cpu_ms_per_image);
  }
  if (pclose(p) != 0 || r.images_per_second < 0) throw tlearn::Error("the Python benchmark failed: " + cmd);
  return r;
}

/// Single-threaded time per image of each stage, for finding hot spots.
void profile(const fs::path& dir) {
  td::ImageFolder data(dir);
  const size_t n = std::min<size_t>(200, data.size());
  // CPU time of this thread: other processes on a shared machine do not count.
  auto cpu_ms = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
  };
  auto time = [&](const char* what, auto&& f) {
    const double t0 = cpu_ms();
    for (size_t i = 0; i < n; ++i) f(i);
    std::printf("  %-44s %7.3f ms/image (CPU)\n", what, (cpu_ms() - t0) / double(n));
  };
  std::vector<torch::Tensor> decoded(n);
  tlearn::io::ImageReadOptions stb;
  stb.turbojpeg(false);
  time("decode (stb_image)", [&](size_t i) { tlearn::io::read_image(data.path(i), stb); });
  time("decode (default)", [&](size_t i) { decoded[i] = tlearn::io::read_image(data.path(i)); });
  tlearn::io::ImageReadOptions scaled;
  scaled.min_size({249, 249});
  time("decode, scaled to >= 249x249", [&](size_t i) { tlearn::io::read_image(data.path(i), scaled); });
  time("resize to 224x224 (bilinear, antialiased)", [&](size_t i) { td::resize({224, 224})(decoded[i]); });
  time("eval transform (resize 256, crop 224)", [&](size_t i) { td::eval_transform({256, 224})(decoded[i]); });
  auto aug = td::TrainTransform().size({224, 224}).flip().rotate(15).zoom(0.1);
  time("size 224 + flip + rotate + zoom", [&](size_t i) { aug(decoded[i], i); });
  auto col = td::TrainTransform().size({224, 224}).flip().rotate(15).zoom(0.1).brightness(0.2).contrast(0.2);
  time("... + brightness + contrast", [&](size_t i) { col(decoded[i], i); });
}

}  // namespace

int main(int argc, char** argv) try {
  fs::path folder = "/tmp/tlearn_bench_photos";
  int workers = 2, batch = 32, epochs = 2, rounds = 2;
  size_t images = 1200;
  std::string pipeline = "both", python = "/usr/bin/python3", decoder_list = "pil";
  fs::path script = fs::path(TLEARN_BENCHMARK_DIR) / "data_pipeline.py";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--folder") folder = v;
    else if (k == "--workers") workers = std::stoi(v);
    else if (k == "--batch") batch = std::stoi(v);
    else if (k == "--epochs") epochs = std::stoi(v);
    else if (k == "--images") images = std::stoul(v);
    else if (k == "--rounds") rounds = std::max(1, std::stoi(v));
    else if (k == "--pipeline") pipeline = v;
    else if (k == "--python") python = v;
    else if (k == "--script") script = v;
    else if (k == "--decoders") decoder_list = v;
    else throw tlearn::Error("unknown option " + k);
  }
  if (count_jpegs(folder) < images) {
    std::cout << "writing " << images << " JPEG photos to " << folder << " ...\n";
    fs::remove_all(folder);
    make_photos(folder, images);
  }
  std::cout << "folder " << folder << ": " << count_jpegs(folder) << " JPEGs; workers " << workers << ", batch " << batch
            << ", " << epochs << " timed epochs after one warm-up, best of " << rounds << " alternating rounds\n";
#ifdef TLEARN_HAVE_TURBOJPEG
  std::cout << "JPEG decoder: libjpeg-turbo\n";
#else
  std::cout << "JPEG decoder: stb_image\n";
#endif
  if (pipeline == "profile") {
    profile(folder);
    return 0;
  }
  std::vector<std::string> pipelines = pipeline == "both" ? std::vector<std::string>{"train", "eval"}
                                                          : std::vector<std::string>{pipeline};
  std::vector<std::string> decoders;
  for (size_t at = 0; at <= decoder_list.size();) {
    const size_t comma = std::min(decoder_list.find(',', at), decoder_list.size());
    decoders.push_back(decoder_list.substr(at, comma - at));
    at = comma + 1;
  }
  // Alternate the sides and keep each one's best round: the machine may be shared.
  // Ratios are tlearn / Python for images/s, Python / tlearn for CPU time per image.
  std::printf("%-8s %12s", "pipeline", "tlearn img/s");
  for (const auto& d : decoders) std::printf(" | %9s img/s  ratio", d.c_str());
  std::printf(" | %12s", "tlearn CPU ms/i");
  for (const auto& d : decoders) std::printf(" | %9s CPU ms/i  ratio", d.c_str());
  std::printf("\n");
  auto keep_best = [](Result& best, const Result& r, int round) {
    if (round == 0 || r.images_per_second > best.images_per_second) best.images_per_second = r.images_per_second;
    if (round == 0 || r.cpu_ms_per_image < best.cpu_ms_per_image) best.cpu_ms_per_image = r.cpu_ms_per_image;
  };
  for (const auto& p : pipelines) {
    Result c;
    std::vector<Result> py(decoders.size());
    for (int r = 0; r < rounds; ++r) {
      keep_best(c, run_cpp(folder, p, workers, batch, epochs), r);
      for (size_t d = 0; d < decoders.size(); ++d)
        keep_best(py[d], run_python(python, script, folder, p, decoders[d], workers, batch, epochs), r);
    }
    std::printf("%-8s %12.1f", p.c_str(), c.images_per_second);
    for (const auto& r : py) std::printf(" | %15.1f %5.2fx", r.images_per_second, c.images_per_second / r.images_per_second);
    std::printf(" | %15.3f", c.cpu_ms_per_image);
    for (const auto& r : py) std::printf(" | %18.3f %5.2fx", r.cpu_ms_per_image, r.cpu_ms_per_image / c.cpu_ms_per_image);
    std::printf("\n");
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "data_pipeline: " << e.what() << '\n';
  return 1;
}
