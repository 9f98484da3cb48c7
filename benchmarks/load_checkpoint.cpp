// Time and peak memory to load a checkpoint into a backbone (vgg16: ~550 MB).
//   load_checkpoint <name> <file.pth>
// Peak resident memory is reported above the resident memory after the model
// was built, so it measures what loading costs beyond the model itself.
#include <tlearn/tlearn.hpp>

#include <chrono>
#include <fstream>
#include <iostream>
#include <string>

namespace {
/// VmHWM (peak) and VmRSS (current) of this process in bytes, from /proc/self/status.
long long proc_status_kb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1));
  return -1;
}
void reset_peak() { std::ofstream("/proc/self/clear_refs") << "5"; }
}  // namespace

int main(int argc, char** argv) try {
  if (argc != 3) {
    std::cerr << "usage: load_checkpoint <name> <file.pth>\n";
    return 2;
  }
  namespace tl = tlearn;
  torch::set_num_threads(2);
  auto model = tl::make_backbone(argv[1]);
  const long long base_kb = proc_status_kb("VmRSS");
  reset_peak();
  auto t0 = std::chrono::steady_clock::now();
  auto state = tl::io::load_checkpoint(argv[2]);
  tl::io::load_state_dict(*model, state);
  state = tl::io::StateDict();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const long long peak_kb = proc_status_kb("VmHWM");
  std::cout << "{\"impl\": \"tlearn\", \"mode\": \"load\", \"model\": \"" << argv[1] << "\", \"seconds\": " << seconds
            << ", \"peak_above_model_mb\": " << (peak_kb - base_kb) / 1024.0 << "}" << std::endl;
  return 0;
} catch (const std::exception& e) {
  std::cerr << "load_checkpoint: " << e.what() << "\n";
  return 1;
}
