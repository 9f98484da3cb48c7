// Implementation of tlearn/core/distributed.hpp: c10d's TCPStore and
// ProcessGroupGloo. CMake defines TLEARN_HAVE_C10D_GLOO (and USE_C10D_GLOO, which
// c10d's header needs) where gloo's headers were found (cmake/Findtlearn_gloo.cmake).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <memory>
#include <thread>

#include "tlearn/core/distributed.hpp"
#include "tlearn/core/error.hpp"

#if defined(TLEARN_HAVE_C10D_GLOO)
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace tlearn::distributed {

namespace {

int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  if (errno || *end || x < lo || x > hi)
    throw Error(std::string("distributed: the environment variable ") + name + "='" + v + "' is not a whole number in [" +
                std::to_string(lo) + ", " + std::to_string(hi) + "]; start the job with torchrun or tlearn-run, which set it");
  return int(x);
}

}  // namespace

Environment Environment::from_env() {
  Environment e;
  e.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 20);
  if (e.world_size == 1 && !std::getenv("RANK")) return e;
  e.rank = env_int("RANK", 0, 0, e.world_size - 1);
  e.local_rank = env_int("LOCAL_RANK", 0, 0, e.world_size - 1);
  e.local_world_size = env_int("LOCAL_WORLD_SIZE", e.world_size, 1, e.world_size);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) e.master_addr = a;
  else if (e.world_size > 1) throw Error("distributed: WORLD_SIZE is " + std::to_string(e.world_size) +
                                         " but MASTER_ADDR is not set; set it to rank 0's host (torchrun and tlearn-run do)");
  e.master_port = env_int("MASTER_PORT", 29500, 1, 65535);
  if (const char* s = std::getenv("TORCHELASTIC_USE_AGENT_STORE")) e.agent_store = std::string(s) == "True" || std::string(s) == "1";
  e.restart_count = env_int("TORCHELASTIC_RESTART_COUNT", 0, 0, 1 << 20);
  return e;
}

#if defined(TLEARN_HAVE_C10D_GLOO)

namespace {

struct World {
  Environment env;
  InitOptions options;
  c10::intrusive_ptr<c10d::Store> store;  // the job's keys, under a per-attempt prefix
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  std::vector<std::string> who;  // "pid P on HOST" of each rank, for error messages
};

std::unique_ptr<World>& the_world() {
  static std::unique_ptr<World> w;
  return w;
}

std::string host_name() {
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  return host;
}

std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

/// The ranks that did not report the failure within two seconds: each
/// survivor of a broken collective writes a key and looks for the others'.
std::string lost_ranks(World& w) {
  const auto me = std::to_string(w.env.rank);
  std::vector<bool> seen(size_t(w.env.world_size), false);
  seen[size_t(w.env.rank)] = true;
  try {
    w.store->set("fault/" + me, bytes_of("1"));
    const auto deadline = std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(w.options.timeout(), std::chrono::seconds(2));
    while (std::chrono::steady_clock::now() < deadline) {
      bool all = true;
      for (int r = 0; r < w.env.world_size; ++r)
        if (!seen[size_t(r)]) seen[size_t(r)] = w.store->check({"fault/" + std::to_string(r)}), all = all && seen[size_t(r)];
      if (all) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } catch (const std::exception&) {
    return w.env.agent_store ? "the job's store at " + w.env.master_addr + ":" + std::to_string(w.env.master_port) +
                                   " (torchrun's agent) no longer answers, so which peer left is unknown"
                             : "rank 0 (" + w.who[0] + ") is gone: the job's store it hosts no longer answers";
  }
  std::string lost;
  int n = 0;
  for (int r = 0; r < w.env.world_size; ++r)
    if (!seen[size_t(r)]) lost += std::string(n++ ? ", " : "") + "rank " + std::to_string(r) + " (" + w.who[size_t(r)] + ")";
  if (!n) return "every rank reported the failure, so none left; a collective was called in a different order on different ranks";
  return lost + (n == 1 ? " is" : " are") + " gone or stopped answering";
}

template <class F>
void guarded(const char* op, F&& f) {
  auto& w = the_world();
  try {
    f();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (what.size() > 600) what = what.substr(0, 600) + "...";
    throw Error("distributed " + std::string(op) + " on rank " + std::to_string(w->env.rank) + " of " +
                std::to_string(w->env.world_size) + " failed: " + lost_ranks(*w) + ". (c10d: " + what +
                ") Stop the job; resume it from the last checkpoint (Trainer::load_checkpoint) with any number of processes");
  }
}

World& world(const char* op) {
  auto& w = the_world();
  if (!w) throw Error(std::string("distributed ") + op + ": not initialised; call tlearn::distributed::init() first");
  return *w;
}

/// Collectives move one contiguous buffer per dtype: c10d's tensor lists are one tensor per device.
template <class F>
void flattened(std::vector<torch::Tensor>& tensors, F&& body) {
  torch::NoGradGuard no_grad;  // parameters are written in place, outside autograd
  std::map<c10::ScalarType, std::vector<torch::Tensor*>> by_dtype;
  for (auto& t : tensors) by_dtype[t.scalar_type()].push_back(&t);
  for (auto& [dtype, group] : by_dtype) {
    std::vector<torch::Tensor> flat;
    for (auto* t : group) flat.push_back(t->reshape(-1));
    std::vector<torch::Tensor> buffer{group.size() == 1 && group[0]->is_contiguous() ? flat[0] : torch::cat(flat)};
    body(buffer);
    if (buffer[0].data_ptr() == group[0]->data_ptr()) continue;  // reduced in place
    int64_t at = 0;
    for (auto* t : group) {
      t->copy_(buffer[0].narrow(0, at, t->numel()).view(t->sizes()));
      at += t->numel();
    }
  }
}

}  // namespace

void init(const Environment& env, const InitOptions& options) {
  if (env.world_size <= 1) return;
  if (the_world())
    throw Error("distributed::init: already initialised (rank " + std::to_string(rank()) + " of " +
                std::to_string(world_size()) + "); call shutdown() first");
  if (options.backend() != "auto" && options.backend() != "gloo")
    throw Error("distributed::init: backend '" + options.backend() +
                "' is not available in this tlearn; use \"gloo\" (or \"auto\"), which also reduces CUDA tensors through the host");
  if (options.timeout().count() <= 0) throw Error("distributed::init: the timeout must be positive");
  auto w = std::make_unique<World>();
  w->env = env;
  w->options = options;
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  try {
    c10d::TCPStoreOptions so;
    so.port = uint16_t(env.master_port);
    so.isServer = env.rank == 0 && !env.agent_store;
    so.numWorkers = size_t(env.world_size);
    so.timeout = options.timeout();
    auto store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    w->store = c10::make_intrusive<c10d::PrefixStore>("tlearn/" + std::to_string(env.restart_count), store);
  } catch (const std::exception& e) {
    throw Error("distributed::init: rank " + std::to_string(env.rank) + " could not " +
                (env.rank == 0 && !env.agent_store ? "serve the job's store on port " + std::to_string(env.master_port) +
                                                         " (in use? pick another MASTER_PORT)"
                                                   : "reach the job's store at " + where + " (is rank 0 started and MASTER_ADDR right?)") +
                " within " + std::to_string(options.timeout().count()) + " ms: " + e.what());
  }
  const auto me = "pid " + std::to_string(getpid()) + " on " + host_name();
  try {
    w->store->set("who/" + std::to_string(env.rank), bytes_of(me));
    auto go = c10d::ProcessGroupGloo::Options::create();
    go->timeout = options.timeout();
    const bool loopback = env.master_addr.rfind("127.", 0) == 0 || env.master_addr == "localhost";
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
      go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(std::string(ifname).substr(0, std::string(ifname).find(','))));
    else if (loopback)
      go->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      go->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    w->group = c10::make_intrusive<c10d::ProcessGroupGloo>(w->store, env.rank, env.world_size, go);
    for (int r = 0; r < env.world_size; ++r) {
      const auto v = w->store->get("who/" + std::to_string(r));
      w->who.emplace_back(v.begin(), v.end());
    }
  } catch (const std::exception& e) {
    std::string arrived;
    try {
      for (int r = 0; r < env.world_size; ++r)
        if (!w->store->check({"who/" + std::to_string(r)})) arrived += (arrived.empty() ? "" : ", ") + std::to_string(r);
    } catch (const std::exception&) {
    }
    throw Error("distributed::init: rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) +
                " could not form the process group within " + std::to_string(options.timeout().count()) + " ms" +
                (arrived.empty() ? "" : "; ranks that never arrived: " + arrived) +
                ". Start all WORLD_SIZE processes with the same MASTER_ADDR and MASTER_PORT (c10d: " + e.what() + ")");
  }
  the_world() = std::move(w);
}

void shutdown() { the_world().reset(); }

bool is_initialized() { return the_world() != nullptr; }
bool available() { return true; }
int rank() { return the_world() ? the_world()->env.rank : 0; }
int world_size() { return the_world() ? the_world()->env.world_size : 1; }
int local_rank() { return the_world() ? the_world()->env.local_rank : 0; }
std::string backend() { return the_world() ? "gloo" : ""; }

void barrier() {
  if (!is_initialized()) return;
  auto& w = world("barrier");
  guarded("barrier", [&] { w.group->barrier()->wait(); });
}

void all_reduce_sum(std::vector<torch::Tensor>& tensors) { all_reduce_sum_async(tensors).wait(); }

PendingReduction all_reduce_sum_async(std::vector<torch::Tensor> tensors) {
  if (!is_initialized() || tensors.empty()) return {};
  auto& w = world("all_reduce");
  for (const auto& t : tensors)
    if (!t.is_contiguous() || t.is_sparse())
      throw Error("distributed all_reduce: tensors must be dense and contiguous (got one of shape " + std::to_string(t.dim()) + "-D, strided)");
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (auto& t : tensors) {
    std::vector<torch::Tensor> one{t};
    guarded("all_reduce", [&] { works.push_back(w.group->allreduce(one)); });
  }
  return PendingReduction([works = std::move(works)] {
    for (const auto& work : works) guarded("all_reduce", [&] { work->wait(); });
  });
}

void broadcast(std::vector<torch::Tensor>& tensors, int root) {
  if (!is_initialized() || tensors.empty()) return;
  auto& w = world("broadcast");
  if (root < 0 || root >= w.env.world_size)
    throw Error("distributed broadcast: root " + std::to_string(root) + " is not a rank of this job of " + std::to_string(w.env.world_size));
  flattened(tensors, [&](std::vector<torch::Tensor>& buffer) {
    c10d::BroadcastOptions o;
    o.rootRank = root;
    guarded("broadcast", [&] { w.group->broadcast(buffer, o)->wait(); });
  });
}

torch::Tensor all_gather_cat(const torch::Tensor& t) {
  if (!is_initialized()) return t;
  auto& w = world("all_gather");
  const int n = w.env.world_size;
  // The first dimensions first, then every piece padded to the longest.
  std::vector<torch::Tensor> size_in{torch::tensor({t.dim() ? t.size(0) : int64_t(1)}, torch::kLong)};
  std::vector<std::vector<torch::Tensor>> size_out(1);
  for (int r = 0; r < n; ++r) size_out[0].push_back(torch::zeros({1}, torch::kLong));
  guarded("all_gather", [&] { w.group->allgather(size_out, size_in)->wait(); });
  int64_t longest = 0;
  for (const auto& s : size_out[0]) longest = std::max(longest, s.item<int64_t>());
  auto x = (t.dim() ? t : t.reshape({1})).contiguous();
  auto shape = x.sizes().vec();
  shape[0] = longest;
  auto padded = torch::zeros(shape, x.options());
  padded.narrow(0, 0, x.size(0)).copy_(x);
  std::vector<torch::Tensor> in{padded};
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int r = 0; r < n; ++r) out[0].push_back(torch::empty_like(padded));
  guarded("all_gather", [&] { w.group->allgather(out, in)->wait(); });
  std::vector<torch::Tensor> pieces;
  for (int r = 0; r < n; ++r) pieces.push_back(out[0][size_t(r)].narrow(0, 0, size_out[0][size_t(r)].item<int64_t>()));
  return torch::cat(pieces);
}

#else  // built without c10d's Gloo

void init(const Environment& env, const InitOptions&) {
  if (env.world_size <= 1) return;
  throw Error("distributed::init: WORLD_SIZE is " + std::to_string(env.world_size) +
              " but this tlearn was built without c10d's Gloo backend; install gloo's headers (Debian: libgloo-dev) "
              "and rebuild tlearn (CMake then prints 'tlearn: distributed training with c10d Gloo')");
}
void shutdown() {}
bool is_initialized() { return false; }
bool available() { return false; }
int rank() { return 0; }
int world_size() { return 1; }
int local_rank() { return 0; }
std::string backend() { return ""; }
void barrier() {}
void all_reduce_sum(std::vector<torch::Tensor>&) {}
PendingReduction all_reduce_sum_async(std::vector<torch::Tensor>) { return {}; }
void broadcast(std::vector<torch::Tensor>&, int) {}
torch::Tensor all_gather_cat(const torch::Tensor& t) { return t; }

#endif

void init(const InitOptions& options) { init(Environment::from_env(), options); }

std::vector<torch::Tensor> gather_in_index_order(std::vector<torch::Tensor> rows, const std::vector<int64_t>& indices) {
  auto where = all_gather_cat(torch::tensor(indices, torch::kLong)).argsort();
  for (auto& r : rows) r = all_gather_cat(r).index_select(0, where);
  return rows;
}

torch::Device device() {
  if (!torch::cuda::is_available()) return torch::kCPU;
  const int n = int(torch::cuda::device_count());
  const int i = local_rank();
  if (i >= n)
    throw Error("distributed: LOCAL_RANK " + std::to_string(i) + " has no GPU of its own (this machine has " + std::to_string(n) +
                "); start at most one process per GPU (--nproc_per_node=" + std::to_string(n) + ")");
  return torch::Device(torch::kCUDA, c10::DeviceIndex(i));
}

}  // namespace tlearn::distributed
