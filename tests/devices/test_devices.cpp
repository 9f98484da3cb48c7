// Device and dtype follow the model: every public path on a model converted to
// float64 and to bfloat16 on the CPU (the same sweep runs on CUDA in test_cuda.cpp).
#include "../sweep.hpp"

TEST_CASE("every public path runs on a float64 model", "[train][dtype]") {
  tlearn::test::run_public_api_sweep(torch::kCPU, torch::kDouble);
}

TEST_CASE("every public path runs on a bfloat16 model", "[train][dtype]") {
  tlearn::test::run_public_api_sweep(torch::kCPU, torch::kBFloat16);
}
