#pragma once
// Helpers shared by the test executables: scratch folders and the Python reference.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

#include <functional>

#include <tlearn/core/error.hpp>

#include "catch.hpp"

extern char** environ;

namespace tlearn::test {

/// A fresh, empty scratch folder for one test (under the build tree).
inline std::filesystem::path scratch_dir(const std::string& name) {
  auto dir = std::filesystem::path(TLEARN_TEST_TMP) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

/// Quotes one argument for /bin/sh.
inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// Runs tests/python/<script> with the test Python (the one whose torch matches the
/// LibTorch under test) and fails the test unless it exits 0.
inline void run_python(const std::string& script, const std::vector<std::string>& args = {}) {
  std::string cmd = shell_quote(TLEARN_TEST_PYTHON) + " " +
                    shell_quote(std::string(TLEARN_TEST_SCRIPTS) + "/" + script);
  for (const auto& a : args) {
    cmd += ' ';  // appended apart: GCC 12 warns wrongly on " " + std::string&&
    cmd += shell_quote(a);
  }
  INFO("running: " << cmd);
  REQUIRE(std::system(cmd.c_str()) == 0);
}

/// The folder tests/python/<script> fills when run with `args` and the folder last:
/// made once per build tree and script version, and safe under ctest --parallel (one
/// process builds it, in a private folder renamed into place, while the others wait
/// on a lock file instead of building it again).
inline std::filesystem::path python_reference(const std::string& script, const std::vector<std::string>& args = {}) {
  namespace fs = std::filesystem;
  const fs::path path = fs::path(TLEARN_TEST_SCRIPTS) / script;
  std::string key = fs::path(script).stem().string();
  for (const auto& a : args) {
    key += '_';  // appended apart: GCC 12 warns wrongly on "_" + std::string&&
    key += a;
  }
  key += '_';
  key += std::to_string(fs::last_write_time(path).time_since_epoch().count());
  const fs::path dir = fs::path(TLEARN_TEST_TMP) / key;
  if (fs::exists(dir / "done")) return dir;
  fs::create_directories(TLEARN_TEST_TMP);
  struct Lock {  // released when the process ends, however it ends
    int fd;
    explicit Lock(const fs::path& p) : fd(::open(p.c_str(), O_RDWR | O_CREAT, 0644)) {
      if (fd >= 0) ::flock(fd, LOCK_EX);
    }
    ~Lock() {
      if (fd >= 0) ::close(fd);
    }
  } lock(fs::path(TLEARN_TEST_TMP) / (key + ".lock"));
  if (fs::exists(dir / "done")) return dir;  // built while this process waited
  const fs::path tmp = fs::path(TLEARN_TEST_TMP) / (key + "_tmp_" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  auto full = args;
  full.push_back(tmp.string());
  run_python(script, full);
  std::ofstream(tmp / "done") << "ok\n";
  std::error_code ec;
  fs::rename(tmp, dir, ec);  // another process may have finished first: then its folder is used
  if (ec) fs::remove_all(tmp);
  return dir;
}

/// tests/python/<script> run as a local server on 127.0.0.1, as
/// `script <root> <port file> <log file> <options...>`, stopped at scope end. The
/// script writes the port file (whole, once it listens); `ports` is its text.
struct PythonServer {
  PythonServer(const std::string& script, const std::filesystem::path& root, std::vector<std::string> options = {})
      : log(root.parent_path() / "requests.log") {
    namespace fs = std::filesystem;
    const fs::path port_file = root.parent_path() / "port";
    fs::remove(port_file);
    const std::string python = TLEARN_TEST_PYTHON;
    std::vector<std::string> args = {python, std::string(TLEARN_TEST_SCRIPTS) + "/" + script, root.string(),
                                     port_file.string(), log.string()};
    args.insert(args.end(), options.begin(), options.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    REQUIRE(::posix_spawn(&pid, python.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
    for (int i = 0; i < 400 && !fs::exists(port_file); ++i)  // at most 20 s
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE(fs::exists(port_file));
    ports = read(port_file);
  }
  ~PythonServer() { stop(); }
  PythonServer(const PythonServer&) = delete;
  PythonServer& operator=(const PythonServer&) = delete;

  void stop() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    pid = 0;
  }
  /// The log the script appends one line per request to.
  std::string requests() const { return read(log); }

  static std::string read(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  pid_t pid = 0;
  std::string ports;
  std::filesystem::path log;
};

/// The message of the tlearn::Error `f` throws; the test fails when it throws none
/// (any other exception escapes and fails it too).
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tlearn::Error& e) {
    return e.what();
  }
  FAIL("expected a tlearn::Error");
  return "";
}

/// Sets (or unsets, for nullptr) an environment variable for one scope.
struct EnvVar;

/// tests/python/fake_hub.py serving the repositories under `repos` (ORG/REPO
/// folders), with the environment pointing tlearn (and Python's huggingface_hub)
/// at it and at an empty cache in `hf_home`, for one scope.
struct LocalHub;

/// Sets (or unsets, for nullptr) an environment variable for one scope.
struct EnvVar {
  EnvVar(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    value ? ::setenv(name, value, 1) : ::unsetenv(name);
  }
  ~EnvVar() { had_ ? ::setenv(name_.c_str(), old_.c_str(), 1) : ::unsetenv(name_.c_str()); }
  std::string name_, old_;
  bool had_ = false;
};

struct LocalHub {
  LocalHub(const std::filesystem::path& repos, const std::filesystem::path& hf_home,
           std::vector<std::string> options = {})
      : server("fake_hub.py", repos, std::move(options)),
        endpoint("http://127.0.0.1:" + port_of(server.ports)),
        env_endpoint("HF_ENDPOINT", endpoint.c_str()),
        env_home("HF_HOME", hf_home.string().c_str()),
        env_cache("HF_HUB_CACHE", nullptr),
        env_token("HF_TOKEN", nullptr),
        env_offline("HF_HUB_OFFLINE", nullptr) {}

  /// The Hub's port in the port file's {"hub": N, "storage": M}.
  static std::string port_of(const std::string& ports) {
    const auto at = ports.find("\"hub\":");
    REQUIRE(at != std::string::npos);
    return std::to_string(std::stoi(ports.substr(at + 6)));
  }

  PythonServer server;
  std::string endpoint;
  EnvVar env_endpoint, env_home, env_cache, env_token, env_offline;
};

/// Runs tests/python/<script> with the Keras environment's Python (keras, jax, h5py;
/// cmake/bootstrap.sh makes it). Returns false, after printing "SKIPPED: why" (ctest
/// then reports the test skipped), when the build was configured without one.
inline bool run_keras_python(const std::string& script, const std::vector<std::string>& args = {}) {
  const std::string python = TLEARN_TEST_KERAS_PYTHON;
  if (python.empty() || !std::filesystem::exists(python)) {
    std::cout << "SKIPPED: no Keras reference environment (configure with -DTLEARN_TEST_KERAS_PYTHON=...; "
                 "tests/run.sh makes one)\n";
    return false;
  }
  std::string cmd = shell_quote(python) + " " + shell_quote(std::string(TLEARN_TEST_SCRIPTS) + "/" + script);
  for (const auto& a : args) {
    cmd += ' ';  // appended apart: GCC 12 warns wrongly on " " + std::string&&
    cmd += shell_quote(a);
  }
  INFO("running: " << cmd);
  REQUIRE(std::system(cmd.c_str()) == 0);
  return true;
}

}  // namespace tlearn::test
