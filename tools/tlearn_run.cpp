// tlearn-run: starts the processes of a distributed tlearn job on one machine,
// as torchrun does, for machines without Python.
//
//     tlearn-run -n 2 ./my_trainer --epochs 5
//     tlearn-run --nnodes 2 --node-rank 0 --master-addr 10.0.0.1 -n 8 ./my_trainer   (on each machine)
//
// Each process gets torchrun's variables: RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT (and OMP_NUM_THREADS=1
// unless set, as torchrun does). When one process fails, the others have a few
// seconds to notice and say so themselves (their next collective fails, naming
// the lost rank), then get SIGTERM, then SIGKILL after the grace period.
// tlearn-run exits with the first failure's status and says which rank it was.
// It needs no LibTorch.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "free_port.hpp"

namespace {

const char* kUsage =
    "usage: tlearn-run [-n N | --nproc-per-node N] [--nnodes M --node-rank K --master-addr HOST]\n"
    "                  [--master-port P] [--settle-seconds S] [--grace-seconds S] program [args...]\n"
    "Starts N processes of `program` with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK,\n"
    "LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT). On one machine the port defaults to a free one;\n"
    "on many, to 29500 and --master-addr must name the host of node 0. After a process fails the\n"
    "others get --settle-seconds (5) to exit, then SIGTERM, then SIGKILL after --grace-seconds (30).\n";

volatile sig_atomic_t g_signal = 0;
void on_signal(int s) { g_signal = s; }

int parse_int(const std::string& flag, const char* v, int lo, int hi) {
  char* end = nullptr;
  errno = 0;
  const long x = v ? std::strtol(v, &end, 10) : 0;
  if (!v || errno || *end || x < lo || x > hi) {
    std::fprintf(stderr, "tlearn-run: %s needs a whole number in [%d, %d], got '%s'\n%s", flag.c_str(), lo, hi,
                 v ? v : "", kUsage);
    std::exit(2);
  }
  return int(x);
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

int main(int argc, char** argv) {
  int nproc = 1, nnodes = 1, node_rank = 0, port = 0, settle = 5, grace = 30;
  std::string master_addr;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "-n" || a == "--nproc-per-node" || a == "--nproc_per_node") {
      nproc = parse_int(a, v, 1, 4096), ++i;
    } else if (a == "--nnodes") {
      nnodes = parse_int(a, v, 1, 65536), ++i;
    } else if (a == "--node-rank" || a == "--node_rank") {
      node_rank = parse_int(a, v, 0, 65535), ++i;
    } else if (a == "--master-port" || a == "--master_port") {
      port = parse_int(a, v, 1, 65535), ++i;
    } else if (a == "--settle-seconds") {
      settle = parse_int(a, v, 0, 3600), ++i;
    } else if (a == "--grace-seconds") {
      grace = parse_int(a, v, 0, 3600), ++i;
    } else if (a == "--master-addr" || a == "--master_addr") {
      if (!v) break;
      master_addr = v, ++i;
    } else if (a == "--") {
      ++i;
      break;
    } else {
      std::fprintf(stderr, "tlearn-run: unknown option '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (i >= argc) {
    std::fprintf(stderr, "tlearn-run: no program to run\n%s", kUsage);
    return 2;
  }
  if (node_rank >= nnodes) {
    std::fprintf(stderr, "tlearn-run: --node-rank %d is not below --nnodes %d\n", node_rank, nnodes);
    return 2;
  }
  if (nnodes > 1 && master_addr.empty()) {
    std::fprintf(stderr, "tlearn-run: a job on %d machines needs --master-addr, the host of node 0\n", nnodes);
    return 2;
  }
  if (master_addr.empty()) master_addr = "127.0.0.1";
  if (port == 0) port = nnodes > 1 ? 29500 : tlearn::tools::free_port();
  if (port == 0) {
    std::fprintf(stderr, "tlearn-run: cannot find a free port on 127.0.0.1; pass --master-port\n");
    return 1;
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  const int world = nproc * nnodes;
  std::vector<pid_t> pids(size_t(nproc), -1);
  for (int local = 0; local < nproc; ++local) {
    const pid_t pid = fork();
    if (pid < 0) {
      std::perror("tlearn-run: fork");
      for (pid_t p : pids)
        if (p > 0) kill(p, SIGKILL);
      return 1;
    }
    if (pid == 0) {
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      setenv("RANK", std::to_string(node_rank * nproc + local).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(local).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("GROUP_RANK", std::to_string(node_rank).c_str(), 1);
      setenv("MASTER_ADDR", master_addr.c_str(), 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      if (nproc > 1) setenv("OMP_NUM_THREADS", "1", 0);
      execvp(argv[i], argv + i);
      std::fprintf(stderr, "tlearn-run: cannot start '%s': %s\n", argv[i], std::strerror(errno));
      _exit(127);
    }
    pids[size_t(local)] = pid;
  }

  // Wait for all; at the first failure (or a signal to us) stop the rest.
  using clock = std::chrono::steady_clock;
  int result = 0, running = nproc;
  bool stopping = false;
  auto term_at = clock::time_point::max(), kill_at = clock::time_point::max();
  auto stop_all = [&](int sig) {
    for (pid_t p : pids)
      if (p > 0) kill(p, sig);
  };
  while (running > 0) {
    if (g_signal && !stopping) {
      std::fprintf(stderr, "tlearn-run: got signal %d, stopping the %d running processes\n", int(g_signal), running);
      stopping = true, result = 128 + g_signal;
      term_at = clock::now();
    }
    if (clock::now() >= term_at) {
      stop_all(SIGTERM);
      term_at = clock::time_point::max();
      kill_at = clock::now() + std::chrono::seconds(grace);
    }
    if (clock::now() >= kill_at) {
      std::fprintf(stderr, "tlearn-run: %d processes still running %d s after SIGTERM; killing them\n", running, grace);
      stop_all(SIGKILL);
      kill_at = clock::time_point::max();
    }
    int status = 0;
    const pid_t done = waitpid(-1, &status, WNOHANG);
    if (done == 0 || (done < 0 && errno == EINTR)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (done < 0) break;
    int local = 0;
    while (local < nproc && pids[size_t(local)] != done) ++local;
    if (local == nproc) continue;
    pids[size_t(local)] = -1;
    --running;
    const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (failed && !stopping) {
      std::fprintf(stderr, "tlearn-run: rank %d (local rank %d, pid %d) %s; stopping the other %d processes\n",
                   node_rank * nproc + local, local, int(done), describe(status).c_str(), running);
      result = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
      stopping = true;
      term_at = clock::now() + std::chrono::seconds(settle);
    }
  }
  return result;
}
