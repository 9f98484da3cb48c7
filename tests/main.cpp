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

#if defined(__SANITIZE_ADDRESS__)
#define TLEARN_TEST_SANITIZED
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TLEARN_TEST_SANITIZED
#endif
#endif
#ifdef TLEARN_TEST_SANITIZED
// The sanitized io tests: LibTorch itself is not instrumented and keeps allocations
// alive until exit. (Compiled in: catch_discover_tests keeps one environment variable.)
extern "C" const char* __asan_default_options() { return "detect_leaks=0:abort_on_error=1"; }
extern "C" const char* __ubsan_default_options() { return "print_stacktrace=1"; }
#endif

// With TLEARN_HEADER_ONLY, every test program gets tlearn's implementation here.
#ifdef TLEARN_IMPLEMENTATION
#include <tlearn/tlearn.hpp>
#endif
