// Checkpoints and weights: .pth (zip and legacy), safetensors, load_state_dict,
// the weights cache and downloads. Built twice: tlearn_tests_io and, under
// AddressSanitizer + UBSan, tlearn_tests_io_asan.
#include <tlearn/detail/sha256.hpp>
#include <tlearn/tlearn.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "../support.hpp"

namespace tl = tlearn;
namespace io = tlearn::io;
namespace fs = std::filesystem;
using tlearn::test::error_of;

namespace {

#if defined(__SANITIZE_ADDRESS__)
const std::string kExe = "io_asan";
#else
const std::string kExe = "io";
#endif

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// The fixtures tests/python/write_checkpoints.py writes, generated once per
/// version of the script and shared by both test executables.
fs::path fixtures() {
  static fs::path dir;
  if (!dir.empty()) return dir;
  const std::string scripts = TLEARN_TEST_SCRIPTS;
  const std::string hash = tl::detail::sha256_hex(read_file(scripts + "/write_checkpoints.py") +
                                                  read_file(scripts + "/tensorfiles.py"));
  const fs::path root = TLEARN_TEST_TMP;
  const fs::path final_dir = root / ("io_fixtures-" + hash.substr(0, 12));
  if (!fs::exists(final_dir / "done")) {
    const fs::path tmp = root / ("io_fixtures-tmp-" + std::to_string(::getpid()));
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    tl::test::run_python("write_checkpoints.py", {tmp.string()});
    write_file(tmp / "done", "ok\n");
    std::error_code ec;
    fs::rename(tmp, final_dir, ec);  // another process may have won the race
    if (ec) fs::remove_all(tmp);
  }
  REQUIRE(fs::exists(final_dir / "done"));
  dir = final_dir;
  return dir;
}

/// Same dtype, shape and bytes.
bool same_bits(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  auto ca = a.contiguous(), cb = b.contiguous();
  return ca.nbytes() == cb.nbytes() &&
         (ca.nbytes() == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) == 0);
}

std::vector<std::string> keys(const io::StateDict& sd) {
  std::vector<std::string> out;
  for (const auto& item : sd) out.push_back(item.key());
  return out;
}

void require_same_dicts(const io::StateDict& expected, const io::StateDict& actual) {
  REQUIRE(keys(expected) == keys(actual));
  for (const auto& item : expected) {
    INFO("key " << item.key());
    CHECK(same_bits(item.value(), actual[item.key()]));
  }
}

}  // namespace

// ---------------------------------------------------------------- sha256

TEST_CASE("sha256 matches the FIPS 180-4 test vectors", "[io][sha256]") {
  using tl::detail::sha256_hex;
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                   "mnopqrstnopqrstu") == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  CHECK(sha256_hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Fed in uneven pieces, the digest is the same.
  tl::detail::Sha256 h;
  const std::string text(1000, 'x');
  for (std::size_t i = 0, step = 1; i < text.size(); i += step, step = step * 3 % 97 + 1)
    h.update(text.data() + i, std::min(step, text.size() - i));
  CHECK(h.hex_digest() == sha256_hex(text));
}

// ---------------------------------------------------------------- reading .pth

TEST_CASE("load_pth reads every dtype, view and storage layout bit-exactly", "[io][pth]") {
  const auto dir = fixtures();
  const auto expected = io::load_safetensors(dir / "misc_expected.safetensors");
  REQUIRE(expected.size() == 17);
  for (const char* name : {"misc.pth", "misc_legacy.pth", "misc_proto4.pth", "misc_zip64.pth"}) {
    INFO("file " << name);
    const auto sd = io::load_checkpoint(dir / name);
    require_same_dicts(expected, sd);
    // Views keep their layout and share their storage, as in Python.
    const auto& t = sd["transposed"];
    CHECK_FALSE(t.is_contiguous());
    CHECK(t.strides().vec() == std::vector<int64_t>{1, 6});
    CHECK(sd["slice"].storage_offset() == 7);
    CHECK(sd["slice"].storage().data() == t.storage().data());
    CHECK(sd["shared_b"].storage().data() == sd["shared_a"].storage().data());
    sd["shared_a"].view(-1)[6].fill_(-1.0f);
    CHECK(sd["shared_b"][0].item<float>() == -1.0f);
    // Tensors may view the file's pages, privately: writing to them never writes the file.
    CHECK(torch::equal(io::load_checkpoint(dir / name)["shared_a"], expected["shared_a"]));
    CHECK(sd["scalar"].dim() == 0);
    CHECK(sd["empty"].sizes().vec() == std::vector<int64_t>{0, 3});
  }
}

TEST_CASE("load_pth reads a torchvision state dict, plain, legacy and wrapped", "[io][pth]") {
  const auto dir = fixtures();
  const auto expected = io::load_safetensors(dir / "resnet18_expected.safetensors");
  REQUIRE(expected.size() == 122);
  CHECK(expected.keys().front() == "conv1.weight");
  CHECK(expected.contains("layer1.0.bn1.running_mean"));
  CHECK(expected["layer1.0.bn1.num_batches_tracked"].scalar_type() == torch::kInt64);
  for (const char* name : {"resnet18.pth", "resnet18_legacy.pth", "resnet18_wrapped.pth", "resnet18_model.pth"}) {
    INFO("file " << name);
    require_same_dicts(expected, io::load_pth(dir / name));
  }
}

#if !defined(__SANITIZE_ADDRESS__)  // ASan's shadow memory and quarantine distort the peak
namespace {
/// Peak resident memory of this process so far, in bytes (Linux).
std::int64_t peak_rss() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  return -1;
}
}  // namespace

TEST_CASE("loading reads storages straight into tensors: one copy of the checkpoint in memory", "[io][memory]") {
  const auto dir = fixtures();
  for (const char* name : {"resnet18.pth", "resnet18_legacy.pth", "resnet18_expected.safetensors"}) {
    INFO("file " << name);
    const auto size = static_cast<std::int64_t>(fs::file_size(dir / name));
    const auto before = peak_rss();
    REQUIRE(before > 0);
    {
      const auto sd = io::load_checkpoint(dir / name);
      CHECK(sd.size() == 122);
    }
    // A run of earlier tests in this process may have raised the peak already;
    // then the check passes trivially. Alone (as ctest runs it) it measures.
    CHECK(peak_rss() - before < size + size / 4);
  }
}
#endif

TEST_CASE("bad checkpoint files give a tlearn::Error that names the file", "[io][bad]") {
  const auto bad = fixtures() / "bad";
  std::size_t count = 0;
  for (const auto& entry : fs::directory_iterator(bad)) {
    const auto file = entry.path();
    INFO("file " << file.filename());
    const std::string msg = error_of([&] { io::load_checkpoint(file); });
    CHECK_THAT(msg, Catch::Matchers::Contains(file.string()));
    ++count;
  }
  CHECK(count == 32);
  auto msg = [&](const char* name) { return error_of([&] { io::load_checkpoint(bad / name); }); };
  CHECK_THAT(msg("evil_zip.pth"), Catch::Matchers::Contains("refuses global posix.system") &&
                                      Catch::Matchers::Contains("may only hold tensors"));
  CHECK_THAT(msg("evil_legacy.pth"), Catch::Matchers::Contains("refuses global posix.system"));
  CHECK_THAT(msg("evil_eval.pth"), Catch::Matchers::Contains("refuses global builtins.eval"));
  CHECK_THAT(msg("empty.pth"), Catch::Matchers::Contains("empty"));
  CHECK_THAT(msg("compressed.pth"), Catch::Matchers::Contains("compressed"));
  CHECK_THAT(msg("short_record.pth"), Catch::Matchers::Contains("storage 0 declares 4 elements"));
  CHECK_THAT(msg("huge_numel.pth"), Catch::Matchers::Contains("more than the file can hold"));
  CHECK_THAT(msg("view_past_storage.pth"), Catch::Matchers::Contains("storage with 4 elements"));
  CHECK_THAT(msg("list.pth"), Catch::Matchers::Contains("no state dict"));
  CHECK_THAT(msg("st_truncated_header.safetensors"), Catch::Matchers::Contains("truncated"));
  CHECK_THAT(msg("st_offsets_past_end.safetensors"), Catch::Matchers::Contains("outside the data section"));
  CHECK_THAT(msg("st_overlap.safetensors"), Catch::Matchers::Contains("overlaps"));
  CHECK_THAT(msg("st_shape_mismatch.safetensors"), Catch::Matchers::Contains("byte length"));
  CHECK_THAT(msg("st_bad_dtype.safetensors"), Catch::Matchers::Contains("C64"));
  // Hostile structure: each refused before it costs memory, and never by another library's exception.
  CHECK_THAT(msg("zero_stride_bomb.pth"), Catch::Matchers::Contains("zero strides"));
  CHECK_THAT(msg("overflow_sizes.pth"), Catch::Matchers::Contains("tensor sizes overflow"));
  CHECK_THAT(msg("duplicate_entry.pth"), Catch::Matchers::Contains("appears twice"));
  CHECK_THAT(msg("pickle_bomb.pth"), Catch::Matchers::Contains("more than 1048576 values"));
  CHECK_THAT(msg("st_duplicate_key.safetensors"), Catch::Matchers::Contains("\"a\" appears twice"));
  CHECK_THAT(msg("st_overflow_shape.safetensors"), Catch::Matchers::Contains("overflows int64"));
  CHECK_THAT(msg("st_many_keys.safetensors"), Catch::Matchers::Contains("more than 1048576 keys"));
  CHECK(error_of([&] { io::load_checkpoint(bad / "missing.pth"); }).find("no such file") != std::string::npos);
  // The format comes from the bytes: each reader refuses the other format.
  const auto dir = fixtures();
  CHECK_THROWS_AS(io::load_safetensors(dir / "misc.pth"), tl::Error);
  CHECK_THROWS_AS(io::load_pth(dir / "misc_expected.safetensors"), tl::Error);
}

TEST_CASE("a safetensors header with 200,000 metadata keys reads in linear time", "[io][bad]") {
  // The header used to be parsed into an insertion-ordered map: quadratic (issue 21 measured 17 s
  // at 100,000 keys); 200,000 would take about a minute.
  const auto dir = tl::test::scratch_dir(kExe + "_many_keys");
  std::map<std::string, std::string> metadata;
  for (int i = 0; i < 200000; ++i) {
    char key[16];  // snprintf, not std::to_string: GCC 12 warns wrongly on the inlined to_string here
    std::snprintf(key, sizeof key, "%d", i);
    metadata.emplace(key, "v");
  }
  io::StateDict one;
  one.insert("x", torch::ones({2}));
  io::save_safetensors(one, dir / "many.safetensors", metadata);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(io::safetensors_metadata(dir / "many.safetensors").size() == 200000);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
}

TEST_CASE("truncated and corrupted checkpoints never crash", "[io][bad]") {
  const auto dir = fixtures();
  const auto scratch = tl::test::scratch_dir(kExe + "_corrupt");
  const auto file = scratch / "x";
  std::mt19937 rng(42);
  std::size_t errors = 0, loads = 0;
  auto attempt = [&](const std::string& bytes) {
    write_file(file, bytes);
    try {
      io::load_checkpoint(file);
      ++loads;
    } catch (const tl::Error&) {
      ++errors;
    }
  };
  for (const char* name : {"misc.pth", "misc_legacy.pth", "misc_zip64.pth", "misc_expected.safetensors"}) {
    INFO("file " << name);
    const std::string good = read_file(dir / name);
    for (std::size_t n = 0; n < good.size(); n += 1 + n / 64) attempt(good.substr(0, n));
    for (int i = 0; i < 400; ++i) {
      std::string bytes = good;
      const std::size_t at = rng() % bytes.size();
      bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
      attempt(bytes);
    }
  }
  CHECK(errors > 100);
  CHECK(loads > 0);
}

// ---------------------------------------------------------------- Keras files (tlearn's HDF5 reader)

namespace {
const fs::path kKerasFiles = fs::path(TLEARN_TEST_FIXTURES) / ".." / "fuzz" / "corpus" / "keras";

/// The layers of a loaded file as "<layer>/<index>" -> weight, as make_keras_corpus.py names them.
/// Keras 3 files name a layer's group by its class (its own name is not stored), and the
/// official files' layout numbers "dense" as Keras 2.0 did ("dense_1").
std::map<std::string, torch::Tensor> by_layer(const std::vector<io::KerasLayer>& layers) {
  const std::map<std::string, std::string> by_class = {
      {"conv2d", "conv"}, {"batch_normalization", "bn"}, {"dense_1", "dense"}};
  std::map<std::string, torch::Tensor> out;
  for (const auto& layer : layers) {
    const auto it = by_class.find(layer.name);
    const std::string name = it == by_class.end() ? layer.name : it->second;
    for (size_t i = 0; i < layer.weights.size(); ++i) out[name + "/" + std::to_string(i)] = layer.weights[i].value;
  }
  return out;
}
}  // namespace

TEST_CASE("Keras files: tlearn's HDF5 reader reads every layout h5py and Keras write", "[io][keras]") {
  const auto expected = io::load_checkpoint(fs::path(TLEARN_TEST_FIXTURES) / "keras_expected.safetensors");
  // Superblocks 0 and 3, object headers 1 and 2, symbol tables and link messages,
  // fixed- and variable-length string attributes, a .keras archive read from memory.
  for (const char* name : {"legacy.h5", "keras2.h5", "full.h5", "latest.h5", "model.weights.h5", "model.keras"}) {
    INFO("file " << name);
    const auto layers = io::load_keras_weights(kKerasFiles / name);
    const auto weights = by_layer(layers);
    REQUIRE(weights.size() == 8);  // conv 2, bn 4, dense 2
    for (const auto& w : weights) {
      INFO("weight " << w.first);
      CHECK(same_bits(w.second, expected[w.first]));
    }
    if (std::string(name).find(".h5") != std::string::npos && std::string(name) != "model.weights.h5")
      CHECK(layers.front().weights.front().name == "kernel");
  }
  // Every number type h5py writes, big-endian ones included, and a compact dataset.
  const auto numbers = io::load_keras_weights(kKerasFiles / "numbers.h5");
  REQUIRE(numbers.size() == 1);
  REQUIRE(numbers[0].weights.size() == 8);
  for (const auto& w : numbers[0].weights) {
    INFO("weight " << w.name);
    const bool integer = w.name == "u8" || w.name == "i16" || w.name == "big_i32";  // written as values + 3
    CHECK(torch::equal(w.value, expected[integer ? "numbers_plus_3" : "numbers"]));
  }
  CHECK_THAT(error_of([&] { io::load_keras_weights(kKerasFiles / "chunked.h5"); }),
             Catch::Matchers::Contains("chunks") && Catch::Matchers::Contains("chunked.h5") &&
                 Catch::Matchers::Contains("dense/kernel:0"));
}

TEST_CASE("Keras files: every truncation and every flipped byte is a load or an Error, never a crash",
          "[io][keras][bad]") {
  const auto file = tl::test::scratch_dir(kExe + "_keras_damaged") / "damaged.h5";
  std::size_t errors = 0, loads = 0;
  auto attempt = [&](const std::string& bytes) {
    write_file(file, bytes);
    try {
      io::load_keras_weights(file);
      ++loads;
    } catch (const tl::Error& e) {
      CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains(file.string()));
      ++errors;
    }
  };
  // The files are small and mostly metadata: every byte of them is flipped, one bit each.
  for (const char* name : {"legacy.h5", "keras2.h5", "latest.h5", "model.keras"}) {
    INFO("file " << name);
    const std::string good = read_file(kKerasFiles / name);
    for (std::size_t n = 0; n < good.size(); n += 1 + n / 16) attempt(good.substr(0, n));
    for (std::size_t at = 0; at < good.size(); ++at) {
      std::string bytes = good;
      bytes[at] = static_cast<char>(bytes[at] ^ (1 << (at % 8)));
      attempt(bytes);
    }
  }
  CHECK(errors > 1000);
  CHECK(loads > 1000);  // most flips land in padding, free space or weight values
}

TEST_CASE("Keras files: a null dataspace that lists a huge shape is an Error, not a 4 TB allocation",
          "[io][keras][bad]") {
  // The fuzzer's find: a weight's version-2 dataspace message (version 2, rank,
  // flags, type 1 = simple, then 8-byte sizes) switched to type 2 = null, with a
  // first size of 2^40. Zero elements need no bytes in the file, so only the
  // parser can refuse the shape.
  const auto file = tl::test::scratch_dir(kExe + "_keras_null_space") / "null.h5";
  const std::string good = read_file(kKerasFiles / "latest.h5");
  int patched = 0;
  for (std::size_t at = 0; at + 12 <= good.size(); ++at) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(good[at + i]); };
    if (byte(0) != 2 || byte(1) < 1 || byte(1) > 4 || byte(2) > 1 || byte(3) != 1 || byte(4) == 0 || byte(5) != 0)
      continue;
    std::string bytes = good;
    bytes[at + 3] = 2;
    for (int i = 0; i < 8; ++i) bytes[at + 4 + i] = i == 5 ? char{1} : char{0};  // 2^40, little-endian
    write_file(file, bytes);
    ++patched;
    try {
      io::load_keras_weights(file);
    } catch (const tl::Error& e) {
      CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains(file.string()));
    }
  }
  CHECK(patched >= 10);  // latest.h5 holds a dozen weights
}

TEST_CASE("a checkpoint overwritten in place while loaded is an Error, never SIGBUS", "[io][bad][mapped]") {
  const auto dir = tl::test::scratch_dir(kExe + "_in_place");
  torch::nn::Linear model(512, 1024);  // 2 MiB of weights: many pages past any cut
  io::StateDict weights;
  weights.insert("weight", torch::randn({1024, 512}));
  weights.insert("bias", torch::randn({1024}));
  for (const std::string name : {"w.safetensors", "w.pth"}) {
    INFO("file " << name);
    const auto path = dir / name;
    name == "w.pth" ? io::save_pth(weights, path) : io::save_safetensors(weights, path);

    // Truncated in place after loading: reading past the cut gives zeros, and
    // load_state_dict names the file instead of the process dying of SIGBUS.
    auto loaded = io::load_checkpoint(path);
    fs::resize_file(path, 8192);
    const double kept = loaded["weight"].abs().sum().item<double>();  // reads every page: no signal
    CHECK(kept < weights["weight"].abs().sum().item<double>() * 0.01);
    const auto truncated = error_of([&] { io::load_state_dict(*model, loaded); });
    CHECK_THAT(truncated, Catch::Matchers::Contains(path.string()) && Catch::Matchers::Contains("was truncated") &&
                              Catch::Matchers::Contains("rename"));

    // Rewritten in place at the same size: the data may mix two files.
    name == "w.pth" ? io::save_pth(weights, path) : io::save_safetensors(weights, path);
    auto reloaded = io::load_checkpoint(path);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // a later modification time
    {
      std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
      f.seekp(-64, std::ios::end);
      f.write(std::string(64, '\x7f').data(), 64);
    }
    const auto rewritten = error_of([&] { io::load_state_dict(*model, reloaded); });
    CHECK_THAT(rewritten, Catch::Matchers::Contains(path.string()) && Catch::Matchers::Contains("changed on disk"));

    // A file left alone still loads, after all this.
    name == "w.pth" ? io::save_pth(weights, path) : io::save_safetensors(weights, path);
    io::load_state_dict(*model, io::load_checkpoint(path));
    CHECK(torch::equal(model->weight, weights["weight"]));
  }

  // A SIGBUS that is not tlearn's still ends the process, as it would without tlearn.
  const auto foreign = dir / "foreign.bin";
  write_file(foreign, std::string(1 << 16, 'x'));
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const int fd = ::open(foreign.c_str(), O_RDWR);
    auto* p = static_cast<volatile char*>(mmap(nullptr, 1 << 16, PROT_READ, MAP_SHARED, fd, 0));
    if (ftruncate(fd, 0) != 0) _exit(42);
    const char c = p[1 << 15];  // past the end of the file now
    _exit(c == 0 ? 43 : 44);    // survived: the signal was swallowed
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer's handler was there before tlearn's: it reports the fault and exits.
  CHECK((WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) < 42)));
#else
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGBUS);
#endif
}

// ---------------------------------------------------------------- writing

TEST_CASE("saves clean up after writers that were killed, never after live ones", "[io][save]") {
  const auto dir = tl::test::scratch_dir(kExe + "_stale");
  const auto target = dir / "w.safetensors";
  const std::string live = "w.safetensors.tmp-" + std::to_string(::getpid()) + "-7";
  for (const std::string& name : {std::string("w.safetensors.tmp-999999999-1"), std::string("w.safetensors.tmp-999999998-2"),
                                 live, std::string("other.safetensors.tmp-999999999-1")})
    write_file(dir / name, "partial");
  io::StateDict one;
  one.insert("x", torch::ones({3}));
  io::save_safetensors(one, target);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) left.push_back(e.path().filename().string());
  std::sort(left.begin(), left.end());
  CHECK(left == std::vector<std::string>{"other.safetensors.tmp-999999999-1", "w.safetensors", live});
  CHECK(torch::equal(io::load_safetensors(target)["x"], torch::ones({3})));
}

TEST_CASE("save_pth and save_safetensors round-trip through C++ and Python torch", "[io][save]") {
  const auto dir = fixtures();
  const auto out = tl::test::scratch_dir(kExe + "_save");
  const auto misc = io::load_pth(dir / "misc.pth");
  io::save_pth(misc, out / "misc.pth");
  io::save_safetensors(misc, out / "misc.safetensors", {{"format", "pt"}, {"source", "tlearn"}});
  io::save_pth(io::load_pth(dir / "resnet18.pth"), out / "resnet18.pth");

  require_same_dicts(misc, io::load_pth(out / "misc.pth"));
  require_same_dicts(misc, io::load_checkpoint(out / "misc.safetensors"));
  CHECK(io::safetensors_metadata(out / "misc.safetensors") ==
        std::map<std::string, std::string>{{"format", "pt"}, {"source", "tlearn"}});
  tl::test::run_python("check_roundtrip.py", {dir.string(), (out / "misc.pth").string(),
                                              (out / "misc.safetensors").string(),
                                              (out / "resnet18.pth").string()});
}

TEST_CASE("a failed save leaves the existing file untouched", "[io][save]") {
  const auto out = tl::test::scratch_dir(kExe + "_atomic");
  io::StateDict good;
  good.insert("a", torch::arange(4));
  io::save_pth(good, out / "w.pth");
  io::save_safetensors(good, out / "w.safetensors");
  const std::string before_pth = read_file(out / "w.pth"), before_st = read_file(out / "w.safetensors");
  io::StateDict bad;
  bad.insert("a", torch::ones(2));
  bad.insert("b", torch::Tensor());
  CHECK_THROWS_AS(io::save_pth(bad, out / "w.pth"), tl::Error);
  CHECK_THROWS_AS(io::save_safetensors(bad, out / "w.safetensors"), tl::Error);
  io::StateDict complex;
  complex.insert("c", torch::ones(2, torch::kComplexFloat));
  CHECK_THROWS_AS(io::save_safetensors(complex, out / "w.safetensors"), tl::Error);
  CHECK(read_file(out / "w.pth") == before_pth);
  CHECK(read_file(out / "w.safetensors") == before_st);
  CHECK(std::distance(fs::directory_iterator(out), fs::directory_iterator()) == 2);  // no temporary files
  CHECK_THROWS_AS(io::save_pth(good, out / "w.pth" / "inside_a_file.pth"), tl::Error);
}

// ---------------------------------------------------------------- load_state_dict

namespace {
/// Mirrors Net in write_checkpoints.py.
struct NetImpl : torch::nn::Module {
  NetImpl() {
    scale = register_parameter("scale", torch::zeros(1));
    step = register_buffer("step", torch::zeros(1));
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3).bias(false)));
    bn = register_module("bn", torch::nn::BatchNorm2d(4));
    fc = register_module("fc", torch::nn::Linear(4, 2));
  }
  torch::Tensor scale, step;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(Net);

std::vector<torch::Tensor> snapshot(const torch::nn::Module& m) {
  std::vector<torch::Tensor> out;
  for (const auto& item : io::state_dict(m)) out.push_back(item.value().clone());
  return out;
}

bool unchanged(const torch::nn::Module& m, const std::vector<torch::Tensor>& before) {
  const auto now = io::state_dict(m);
  if (now.size() != before.size()) return false;
  for (std::size_t i = 0; i < before.size(); ++i)
    if (!same_bits(now[i].value(), before[i])) return false;
  return true;
}
}  // namespace

TEST_CASE("state_dict names and orders like PyTorch", "[io][state_dict]") {
  Net net;
  const std::vector<std::string> expected = {
      "scale", "step", "conv.weight", "bn.weight", "bn.bias", "bn.running_mean",
      "bn.running_var", "bn.num_batches_tracked", "fc.weight", "fc.bias"};
  CHECK(keys(io::state_dict(*net)) == expected);
  CHECK(keys(io::load_pth(fixtures() / "net.pth")) == expected);
}

TEST_CASE("load_state_dict copies parameters and buffers", "[io][state_dict]") {
  Net net;
  const auto ckpt = io::load_pth(fixtures() / "net.pth");
  const auto report = io::load_state_dict(*net, ckpt);
  CHECK(report.ok());
  require_same_dicts(ckpt, io::state_dict(*net));
  CHECK(net->bn->num_batches_tracked.item<int64_t>() == 7);
  CHECK(net->step.item<float>() == 5.0f);
  // The module keeps its own tensors (and dtype): values are copied in.
  io::StateDict doubles;
  for (const auto& item : ckpt) doubles.insert(item.key(), item.value().to(torch::kFloat64) * 2);
  Net other;
  const auto* before = other->fc->weight.data_ptr();
  io::load_state_dict(*other, doubles);
  CHECK(other->fc->weight.data_ptr() == before);
  CHECK(other->fc->weight.scalar_type() == torch::kFloat32);
  CHECK(torch::allclose(other->fc->weight, ckpt["fc.weight"] * 2));
}

TEST_CASE("load_state_dict reports missing, unexpected and mismatched keys and changes nothing when it throws",
          "[io][state_dict]") {
  Net net;
  const auto ckpt = io::load_pth(fixtures() / "net.pth");
  io::StateDict broken;
  for (const auto& item : ckpt)
    if (item.key() != "bn.running_var") broken.insert(item.key(), item.value());
  broken.insert("head.weight", torch::ones(3));
  broken["fc.weight"] = torch::ones({5, 4});
  const auto before = snapshot(*net);

  const std::string msg = error_of([&] { io::load_state_dict(*net, broken); });
  CHECK_THAT(msg, Catch::Matchers::Contains("bn.running_var") && Catch::Matchers::Contains("head.weight") &&
                      Catch::Matchers::Contains("fc.weight: checkpoint [5, 4] vs module [2, 4]") &&
                      Catch::Matchers::Contains("nothing was copied"));
  CHECK(unchanged(*net, before));

  const auto report = io::load_state_dict(*net, broken, io::LoadOptions().strict(false));
  CHECK(report.missing == std::vector<std::string>{"bn.running_var"});
  CHECK(report.unexpected == std::vector<std::string>{"head.weight"});
  REQUIRE(report.mismatched.size() == 1);
  CHECK(same_bits(net->fc->weight, before[8]));       // mismatched: not copied
  CHECK(same_bits(net->conv->weight, ckpt["conv.weight"]));  // matching: copied
  CHECK(net->bn->num_batches_tracked.item<int64_t>() == 7);
}

TEST_CASE("load_state_dict renames and ignores keys", "[io][state_dict]") {
  const auto ckpt = io::load_pth(fixtures() / "net.pth");
  io::StateDict wrapped;  // as saved from DataParallel
  for (const auto& item : ckpt) wrapped.insert("module." + item.key(), item.value());

  Net net;
  CHECK_THROWS_AS(io::load_state_dict(*net, wrapped), tl::Error);
  io::load_state_dict(*net, wrapped, io::LoadOptions().key_rename({{"^module\\.", ""}}));
  require_same_dicts(ckpt, io::state_dict(*net));

  // A new head: skip fc on both sides.
  io::StateDict no_head;
  for (const auto& item : ckpt)
    if (item.key().rfind("fc.", 0) != 0) no_head.insert(item.key(), item.value());
  no_head.insert("fc.weight", torch::ones({1000, 4}));
  Net fresh;
  const auto fc_before = fresh->fc->weight.clone();
  CHECK(io::load_state_dict(*fresh, no_head, io::LoadOptions().ignore({"^fc\\."})).ok());
  CHECK(same_bits(fresh->fc->weight, fc_before));
  CHECK(same_bits(fresh->bn->running_mean, ckpt["bn.running_mean"]));

  CHECK_THAT(error_of([&] { io::load_state_dict(*fresh, ckpt, io::LoadOptions().key_rename({{"\\..*", ""}})); }),
             Catch::Matchers::Contains("both become"));
  CHECK_THROWS_AS(io::load_state_dict(*fresh, ckpt, io::LoadOptions().ignore({"(["})), tl::Error);
}

// ---------------------------------------------------------------- hub

namespace {
using tlearn::test::EnvVar;

/// tests/python/http_server.py on a free port of 127.0.0.1, stopped at scope end.
struct HttpServer : tlearn::test::PythonServer {
  explicit HttpServer(const fs::path& root) : PythonServer("http_server.py", root), port(std::stoi(ports)) {}
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port) + path; }
  std::size_t count_requests() const {
    const std::string s = requests();
    return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
  }
  int port = 0;
};

// Files in the cache (by-url/ included), less the "<file>.verified" stamps of hashed files.
std::size_t files_in(const fs::path& dir) {
  if (!fs::exists(dir)) return 0;
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    n += e.is_regular_file() && e.path().extension() != ".verified";
  return n;
}
}  // namespace

TEST_CASE("cache_dir follows TLEARN_HOME, TORCH_HOME, XDG_CACHE_HOME, HOME", "[io][hub]") {
  EnvVar a("TLEARN_HOME", "/t/tlearn"), b("TORCH_HOME", "/t/torch"), c("XDG_CACHE_HOME", "/t/xdg"),
      d("HOME", "/t/home");
  CHECK(io::cache_dir() == fs::path("/t/tlearn"));
  {
    EnvVar e("TLEARN_HOME", "");
    CHECK(io::cache_dir() == fs::path("/t/torch/hub/checkpoints"));
    EnvVar f("TORCH_HOME", nullptr);
    CHECK(io::cache_dir() == fs::path("/t/xdg/torch/hub/checkpoints"));
    EnvVar g("XDG_CACHE_HOME", nullptr);
    CHECK(io::cache_dir() == fs::path("/t/home/.cache/torch/hub/checkpoints"));
    EnvVar h("HOME", nullptr);
    CHECK_THROWS_AS(io::cache_dir(), tl::Error);
  }
  CHECK(io::cache_dir() == fs::path("/t/tlearn"));
}

#ifdef TLEARN_HAVE_CURL
TEST_CASE("fetch_weights downloads once, checks the hash and never leaves a bad file", "[io][hub]") {
  const auto scratch = tl::test::scratch_dir(kExe + "_hub");
  const auto served = scratch / "served";
  const auto cache = scratch / "cache";
  fs::create_directories(served);
  std::string payload(200000, '\0');
  std::mt19937 rng(7);
  for (auto& ch : payload) ch = static_cast<char>(rng());
  const std::string hash = tl::detail::sha256_hex(payload);
  const std::string good_name = "weights-" + hash.substr(0, 8) + ".pth";
  write_file(served / good_name, payload);
  write_file(served / "plain.bin", payload);
  write_file(served / "wrong-deadbeef.pth", payload);
  EnvVar home("TLEARN_HOME", cache.string().c_str());
  HttpServer server(served);

  // Good file: downloaded, verified by the hash in its name, cached.
  const auto path = io::fetch_weights(server.url("/" + good_name));
  CHECK(path == cache / good_name);
  CHECK(read_file(path) == payload);
  CHECK(server.count_requests() == 1);
  fs::remove(served / good_name);
  CHECK(io::fetch_weights(server.url("/" + good_name)) == path);  // from the cache: no request
  CHECK(server.count_requests() == 1);
  CHECK(files_in(cache) == 1);
  CHECK(fs::exists(cache / (good_name + ".verified")));  // hashed once, not at every load

  // A cached file that does not match the hash in its name is refused, not loaded.
  const std::string bad_name = "damaged-" + hash.substr(0, 8) + ".pth";
  write_file(cache / bad_name, payload.substr(0, 1000));
  auto damaged = error_of([&] { io::fetch_weights(server.url("/" + bad_name)); });
  CHECK_THAT(damaged, Catch::Matchers::Contains((cache / bad_name).string()) &&
                          Catch::Matchers::Contains("Delete it") && Catch::Matchers::Contains(hash.substr(0, 8)));
  CHECK(server.count_requests() == 1);
  fs::remove(cache / bad_name);

  // A name without a hash: an explicit prefix, right and wrong, or an explicit opt-out. Such
  // files are cached by URL, so two URLs ending in one name never share a file.
  const auto plain = io::fetch_weights(server.url("/plain.bin?x=1"), hash.substr(0, 10));
  CHECK(read_file(plain) == payload);
  CHECK(plain.parent_path().parent_path() == cache / "by-url");
  CHECK_THAT(error_of([&] { io::fetch_weights(server.url("/plain.bin")); }),
             Catch::Matchers::Contains("no hash in its file name") && Catch::Matchers::Contains("allow_unverified"));
  const auto unverified = io::fetch_weights(server.url("/plain.bin"), "", /*allow_unverified=*/true);
  CHECK(unverified != plain);
  CHECK(read_file(unverified) == payload);
  fs::remove_all(cache / "by-url");
  auto msg = error_of([&] { io::fetch_weights(server.url("/plain.bin"), "0123abcd"); });
  CHECK_THAT(msg, Catch::Matchers::Contains(server.url("/plain.bin")) && Catch::Matchers::Contains("0123abcd") &&
                      Catch::Matchers::Contains(hash));
  msg = error_of([&] { io::fetch_weights(server.url("/wrong-deadbeef.pth")); });
  CHECK_THAT(msg, Catch::Matchers::Contains("expected deadbeef") && Catch::Matchers::Contains(hash));
  CHECK(files_in(cache) == 1);

  // HTTP errors and a connection dropped mid-file leave nothing behind.
  msg = error_of([&] { io::fetch_weights(server.url("/missing-00000000.pth")); });
  CHECK_THAT(msg, Catch::Matchers::Contains(server.url("/missing-00000000.pth")) && Catch::Matchers::Contains("404"));
  // Every download error says where to put the file by hand, and how to move the cache.
  CHECK_THAT(msg, Catch::Matchers::Contains((cache / "missing-00000000.pth").string()) &&
                      Catch::Matchers::Contains("TLEARN_HOME"));
  msg = error_of([&] { io::fetch_weights(server.url("/drop/cut-00000000.pth")); });
  CHECK_THAT(msg, Catch::Matchers::Contains(server.url("/drop/cut-00000000.pth")));
  CHECK(files_in(cache) == 1);

  // Limits: a redirect loop, a server that trickles, a body without end. Each is cut off
  // with an error that names the limit, and leaves nothing behind.
  const auto defaults = io::download_limits();
  auto tight = defaults;
  tight.max_bytes = 100000;
  tight.stall_seconds = 2;
  tight.timeout_seconds = 10;
  io::set_download_limits(tight);
  CHECK_THAT(error_of([&] { io::fetch_weights(server.url("/loop/a-00000000.pth")); }),
             Catch::Matchers::Contains("redirects more than 10 times"));
  auto t0 = std::chrono::steady_clock::now();
  CHECK_THAT(error_of([&] { io::fetch_weights(server.url("/trickle/b-00000000.pth")); }),
             Catch::Matchers::Contains("timed out") && Catch::Matchers::Contains("1024 bytes/s"));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(8));
  CHECK_THAT(error_of([&] { io::fetch_weights(server.url("/endless/c-00000000.pth")); }),
             Catch::Matchers::Contains("more than 100000 bytes"));
  io::set_download_limits(defaults);
  CHECK(files_in(cache) == 1);
  // A partial download of a killed process is removed by the next download; a live one's is not.
  const std::string mine = good_name + ".partial-" + std::to_string(::getpid()) + "-1";
  const std::string dead = good_name + ".partial-999999999-1";
  write_file(cache / mine, "x");
  write_file(cache / dead, "x");
  fs::remove(cache / good_name);
  write_file(served / good_name, payload);
  CHECK(read_file(io::fetch_weights(server.url("/" + good_name))) == payload);
  CHECK(fs::exists(cache / mine));
  CHECK(!fs::exists(cache / dead));
  fs::remove(cache / mine);

  // Nothing listens: a clear error naming the URL.
  CHECK_THAT(error_of([&] { io::fetch_weights("http://127.0.0.1:1/x-00000000.pth"); }),
             Catch::Matchers::Contains("http://127.0.0.1:1/x-00000000.pth"));
  CHECK_THROWS_AS(io::fetch_weights("http://127.0.0.1:1/"), tl::Error);
}
#else
TEST_CASE("without libcurl fetch_weights says where to put the file", "[io][hub]") {
  const auto scratch = tl::test::scratch_dir(kExe + "_hub");
  EnvVar home("TLEARN_HOME", scratch.string().c_str());
  const auto msg = error_of([] { io::fetch_weights("https://example.com/w-12345678.pth"); });
  CHECK_THAT(msg, Catch::Matchers::Contains("https://example.com/w-12345678.pth") &&
                      Catch::Matchers::Contains((scratch / "w-12345678.pth").string()));
}
#endif
