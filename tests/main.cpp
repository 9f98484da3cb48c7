// Catch2 v2's main; with v3, Catch2::Catch2WithMain provides it.
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
using SeedListenerBase = Catch::EventListenerBase;
#else
#define CATCH_CONFIG_MAIN
#define CATCH_CONFIG_EXTERNAL_INTERFACES  // for the listener below (catch.hpp, the precompiled header, too)
#include <catch2/catch.hpp>
using SeedListenerBase = Catch::TestEventListenerBase;
#endif
#include <torch/torch.h>

// LibTorch seeds its default generator from the operating system, so a test that draws without
// seeding would see new numbers on every run. Each test case starts from seed 0 instead: a failure
// repeats, whatever order or subset of cases runs.
struct SeedEachTestCase : SeedListenerBase {
  using SeedListenerBase::SeedListenerBase;
  void testCaseStarting(Catch::TestCaseInfo const&) override { torch::manual_seed(0); }
};
CATCH_REGISTER_LISTENER(SeedEachTestCase)

// With TLEARN_HEADER_ONLY, every test program gets tlearn's implementation here.
#ifdef TLEARN_IMPLEMENTATION
#include <tlearn/tlearn.hpp>
#endif
