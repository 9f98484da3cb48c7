// The Hugging Face Hub client against a local imitation of the Hub
// (tests/python/fake_hub.py on 127.0.0.1), and the cache shared with Python's
// huggingface_hub.
#include <tlearn/detail/sha256.hpp>
#include <tlearn/tlearn.hpp>

#include <cstdio>
#include <random>

#include "../support.hpp"

namespace io = tlearn::io;
namespace fs = std::filesystem;
using tlearn::test::EnvVar;
using tlearn::test::PythonServer;
using tlearn::test::error_of;

namespace {

/// Random bytes, so a blob's SHA-256 names it alone.
std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = char(rng() & 0xFF);
  return s;
}

void write(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

/// A Hub with repositories timm/tiny (config.json, model.safetensors), timm/other
/// and the private timm/secret, and the environment that points tlearn at it
/// with an empty cache.
struct FakeHub {
  explicit FakeHub(const std::string& name, std::vector<std::string> options = {})
      : dir(tlearn::test::scratch_dir("hf_hub_" + name)),
        weights(random_bytes(300000, 1)),
        config(R"({"architecture": "resnet18", "num_classes": 10})"),
        repos(make_repos(dir, weights, config)),
        local(repos, dir / "hf", std::move(options)),
        server(local.server) {}

  static fs::path make_repos(const fs::path& dir, const std::string& weights, const std::string& config) {
    const fs::path root = dir / "repos";
    write(root / "timm/tiny/model.safetensors", weights);
    write(root / "timm/tiny/config.json", config);
    write(root / "timm/other/model.safetensors", random_bytes(5000, 2));
    write(root / "timm/secret/config.json", "{}");
    return root;
  }

  fs::path repo_cache(const std::string& name) const { return dir / "hf/hub" / ("models--timm--" + name); }
  size_t count(const std::string& what) const {
    const std::string log = server.requests();
    size_t n = 0;
    for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
    return n;
  }

  fs::path dir;
  std::string weights, config;
  fs::path repos;
  tlearn::test::LocalHub local;
  PythonServer& server;
};

/// huggingface_hub's answer (tests/python/hub_interop.py) in the current environment.
std::string python_hub(const std::string& mode, const std::string& repo, const std::string& file) {
  const std::string cmd = tlearn::test::shell_quote(TLEARN_TEST_PYTHON) + " " +
                          tlearn::test::shell_quote(std::string(TLEARN_TEST_SCRIPTS) + "/hub_interop.py") + " " +
                          mode + " " + repo + " " + file + " 2>&1";
  std::string out;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  const int status = ::pclose(pipe);
  INFO(cmd << "\n" << out);
  REQUIRE(status == 0);
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
}

}  // namespace

TEST_CASE("hf_hub: names and the cache folder", "[io][hf_hub]") {
  const auto repo = io::HubRepo::parse("hf-hub:timm/resnet50.a1_in1k@v1.0");
  CHECK(repo.id == "timm/resnet50.a1_in1k");
  CHECK(repo.revision == "v1.0");
  CHECK(repo.name() == "hf-hub:timm/resnet50.a1_in1k@v1.0");
  CHECK(io::HubRepo::parse("timm/vit_base_patch16_224.augreg_in21k").revision == "main");
  CHECK(io::is_hub_name("hf-hub:timm/x"));
  CHECK_FALSE(io::is_hub_name("resnet50"));
  for (const char* bad : {"hf-hub:", "hf-hub:../etc", "hf-hub:a/b/c", "hf-hub:a--b/c", "hf-hub:a/b@../../x",
                          "hf-hub:a/b@/abs", "hf-hub:a b/c"})
    CHECK_THAT(error_of([&] { io::HubRepo::parse(bad); }),
               Catch::Matchers::Contains("hf-hub:ORG/REPO") || Catch::Matchers::Contains("plain relative name"));
  {
    EnvVar a("HF_HUB_CACHE", "/t/hubcache"), b("HF_HOME", "/t/hfhome");
    CHECK(io::hf_hub_cache_dir() == fs::path("/t/hubcache"));
  }
  EnvVar a("HF_HUB_CACHE", nullptr), b("HF_HOME", "/t/hfhome"), c("XDG_CACHE_HOME", "/t/xdg"), d("HOME", "/t/home");
  CHECK(io::hf_hub_cache_dir() == fs::path("/t/hfhome/hub"));
  EnvVar e("HF_HOME", nullptr);
  CHECK(io::hf_hub_cache_dir() == fs::path("/t/xdg/huggingface/hub"));
  EnvVar f("XDG_CACHE_HOME", nullptr);
  CHECK(io::hf_hub_cache_dir() == fs::path("/t/home/.cache/huggingface/hub"));
}

TEST_CASE("hf_hub: downloads into huggingface_hub's cache layout, once", "[io][hf_hub]") {
  FakeHub hub("layout");
  const auto repo = io::HubRepo::parse("hf-hub:timm/tiny");
  const fs::path file = io::hf_hub_download(repo, "model.safetensors");
  const fs::path cache = hub.repo_cache("tiny");
  const std::string commit = PythonServer::read(cache / "refs/main");
  CHECK(commit.size() == 40);
  CHECK(file == cache / "snapshots" / commit / "model.safetensors");
  const std::string sha = tlearn::detail::sha256_hex(hub.weights);
  CHECK(fs::is_symlink(file));
  CHECK(fs::read_symlink(file) == fs::path("../../blobs") / sha);  // relative, as huggingface_hub links
  CHECK(PythonServer::read(file) == hub.weights);
  CHECK_FALSE(fs::exists(cache / "blobs" / (sha + ".incomplete")));
  CHECK(fs::exists(hub.dir / "hf/hub/.locks/models--timm--tiny" / (sha + ".lock")));

  // Small files are served by the Hub itself, named by their git blob hash.
  const fs::path config = io::hf_hub_download(repo, "config.json");
  CHECK(PythonServer::read(config) == hub.config);
  CHECK(fs::read_symlink(config).parent_path() == fs::path("../../blobs"));

  // Asked again: one question to the Hub, no second download.
  CHECK(io::hf_hub_download(repo, "model.safetensors") == file);
  CHECK(hub.count("storage GET") == 1);
  CHECK(hub.count("hub HEAD /timm/tiny/resolve/main/model.safetensors") == 2);

  // A commit never changes: asking for it needs no request at all.
  const size_t before = hub.count("\n");
  CHECK(io::hf_hub_download(io::HubRepo::parse("hf-hub:timm/tiny@" + commit), "model.safetensors") == file);
  CHECK(hub.count("\n") == before);

  // A renamed repository: the Hub's relative redirect is followed.
  FakeHub renamed("renamed", {"--alias", "old/tiny=timm/tiny"});
  const fs::path moved = io::hf_hub_download(io::HubRepo::parse("hf-hub:old/tiny"), "config.json");
  CHECK(PythonServer::read(moved) == renamed.config);
  CHECK(moved.string().find("models--old--tiny") != std::string::npos);
}

TEST_CASE("hf_hub: missing files, repositories, revisions and access", "[io][hf_hub]") {
  FakeHub hub("errors", {"--token", "sekrit-token", "--private", "timm/secret"});
  const auto tiny = io::HubRepo::parse("hf-hub:timm/tiny");
  CHECK_FALSE(io::hf_hub_try_download(tiny, "pytorch_model.bin").has_value());
  const std::string commit = PythonServer::read(hub.repo_cache("tiny") / "refs/main");
  CHECK(fs::exists(hub.repo_cache("tiny") / ".no_exist" / commit / "pytorch_model.bin"));
  CHECK_THAT(error_of([&] { io::hf_hub_download(tiny, "pytorch_model.bin"); }),
             Catch::Matchers::Contains("has no file 'pytorch_model.bin'"));
  CHECK_THAT(error_of([&] { io::hf_hub_download(io::HubRepo::parse("hf-hub:timm/nothing"), "config.json"); }),
             Catch::Matchers::Contains("has no repository timm/nothing"));
  CHECK_THAT(error_of([&] { io::hf_hub_download(io::HubRepo::parse("hf-hub:timm/tiny@v9"), "config.json"); }),
             Catch::Matchers::Contains("no revision 'v9'"));
  CHECK_THAT(error_of([&] { io::hf_hub_download(tiny, "../config.json"); }),
             Catch::Matchers::Contains("plain relative name"));

  const auto secret = io::HubRepo::parse("hf-hub:timm/secret");
  CHECK_THAT(error_of([&] { io::hf_hub_download(secret, "config.json"); }),
             Catch::Matchers::Contains("private or gated") && Catch::Matchers::Contains("HF_TOKEN"));
  {
    EnvVar wrong("HF_TOKEN", "not-the-token");
    const std::string message = error_of([&] { io::hf_hub_download(secret, "config.json"); });
    CHECK_THAT(message, Catch::Matchers::Contains("HTTP 401"));
    CHECK(message.find("not-the-token") == std::string::npos);  // a token is never shown
  }
  {
    EnvVar right("HF_TOKEN", "sekrit-token");
    CHECK(PythonServer::read(io::hf_hub_download(secret, "config.json")) == "{}");
    // The token goes to the Hub, never to the storage a download is redirected to.
    io::hf_hub_download(tiny, "model.safetensors");
    CHECK(hub.count("hub HEAD /timm/tiny/resolve/main/model.safetensors auth=yes") == 1);
    CHECK(hub.count("storage GET") == 1);
    const std::string log = hub.server.requests();
    const std::string storage_line = log.substr(log.find("storage GET"), log.find('\n', log.find("storage GET")) - log.find("storage GET"));
    CHECK_THAT(storage_line, Catch::Matchers::Contains("auth=no"));
  }
  {  // The token file huggingface-cli login writes, when HF_TOKEN is unset.
    write(hub.dir / "hf/token", "sekrit-token\n");
    CHECK(PythonServer::read(io::hf_hub_download(secret, "config.json")) == "{}");
  }
}

TEST_CASE("hf_hub: a cut download resumes, a corrupt one is refused", "[io][hf_hub]") {
  {
    FakeHub hub("resume", {"--cut-once", "model.safetensors"});
    const auto tiny = io::HubRepo::parse("hf-hub:timm/tiny");
    const std::string sha = tlearn::detail::sha256_hex(hub.weights);
    const fs::path partial = hub.repo_cache("tiny") / "blobs" / (sha + ".incomplete");
    CHECK_THAT(error_of([&] { io::hf_hub_download(tiny, "model.safetensors"); }),
               Catch::Matchers::Contains("loading again resumes"));
    REQUIRE(fs::exists(partial));
    CHECK(fs::file_size(partial) == hub.weights.size() / 2);
    CHECK_FALSE(fs::exists(hub.repo_cache("tiny") / "blobs" / sha));
    const fs::path file = io::hf_hub_download(tiny, "model.safetensors");
    CHECK(PythonServer::read(file) == hub.weights);
    CHECK(hub.count("range=bytes=" + std::to_string(hub.weights.size() / 2) + "-") == 1);
    CHECK_FALSE(fs::exists(partial));
  }
  {
    FakeHub hub("corrupt", {"--corrupt", "model.safetensors"});
    const auto tiny = io::HubRepo::parse("hf-hub:timm/tiny");
    CHECK_THAT(error_of([&] { io::hf_hub_download(tiny, "model.safetensors"); }),
               Catch::Matchers::Contains("SHA-256") && Catch::Matchers::Contains("deleted"));
    CHECK_FALSE(fs::exists(hub.repo_cache("tiny") / "snapshots"));
    for (const auto& e : fs::recursive_directory_iterator(hub.repo_cache("tiny")))
      CHECK(e.path().parent_path().filename() != "blobs");  // nothing left behind
  }
  {
    FakeHub hub("limits");
    const auto saved = io::download_limits();
    auto small = saved;
    small.max_bytes = 1000;
    io::set_download_limits(small);
    const std::string message = error_of([&] { io::hf_hub_download(io::HubRepo::parse("timm/tiny"), "model.safetensors"); });
    io::set_download_limits(saved);
    CHECK_THAT(message, Catch::Matchers::Contains("over the limit"));
  }
}

TEST_CASE("hf_hub: offline, and when the Hub cannot be reached", "[io][hf_hub]") {
  FakeHub hub("offline");
  const auto tiny = io::HubRepo::parse("hf-hub:timm/tiny");
  const fs::path file = io::hf_hub_download(tiny, "model.safetensors");
  CHECK_FALSE(io::hf_hub_try_download(tiny, "pytorch_model.bin").has_value());
  {
    EnvVar offline("HF_HUB_OFFLINE", "1");
    const size_t before = hub.count("\n");
    CHECK(io::hf_hub_download(tiny, "model.safetensors") == file);
    CHECK_FALSE(io::hf_hub_try_download(tiny, "pytorch_model.bin").has_value());  // remembered as missing
    CHECK(hub.count("\n") == before);
    CHECK_THAT(error_of([&] { io::hf_hub_download(tiny, "config.json"); }),
               Catch::Matchers::Contains("HF_HUB_OFFLINE is set") && Catch::Matchers::Contains("hf_hub_download(\"timm/tiny\""));
  }
  hub.server.stop();
  CHECK(io::hf_hub_download(tiny, "model.safetensors") == file);  // the cached copy
  CHECK_THAT(error_of([&] { io::hf_hub_download(tiny, "config.json"); }),
             Catch::Matchers::Contains("failed") && Catch::Matchers::Contains("the cache has no copy"));
}

TEST_CASE("hf_hub: one cache with Python's huggingface_hub", "[io][hf_hub]") {
  const std::string probe = tlearn::test::shell_quote(TLEARN_TEST_PYTHON) + " -c 'import huggingface_hub' 2>/dev/null";
  if (std::system(probe.c_str()) != 0) {  // the clang lane's Debian Python; tests/run.sh's build/venv has it
    std::cout << "SKIPPED: no huggingface_hub in " << TLEARN_TEST_PYTHON << " (tests/run.sh installs it)\n";
    return;
  }
  FakeHub hub("python");
  // Python finds what tlearn fetched, at the same path, without asking the Hub.
  const fs::path ours = io::hf_hub_download(io::HubRepo::parse("timm/tiny"), "model.safetensors");
  io::hf_hub_download(io::HubRepo::parse("timm/tiny"), "config.json");
  const size_t before = hub.count("/resolve/");
  CHECK(fs::path(python_hub("cached", "timm/tiny", "model.safetensors")) == ours);
  CHECK(hub.count("/resolve/") == before);  // (huggingface_hub asks /api/ for other things)
  // Python fetches through the same server with its own client (so the imitation
  // is one huggingface_hub accepts); tlearn then finds it offline.
  const fs::path theirs = python_hub("download", "timm/other", "model.safetensors");
  EnvVar offline("HF_HUB_OFFLINE", "1");
  CHECK(io::hf_hub_download(io::HubRepo::parse("timm/other"), "model.safetensors") == theirs);
  CHECK(PythonServer::read(theirs) == PythonServer::read(hub.repos / "timm/other/model.safetensors"));
}
