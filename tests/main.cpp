// Catch2 v2's main; with v3, Catch2::Catch2WithMain provides it and this file is empty.
#if !__has_include(<catch2/catch_all.hpp>)
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#endif
// With TLEARN_HEADER_ONLY, every test program gets tlearn's implementation here.
#ifdef TLEARN_IMPLEMENTATION
#include <tlearn/tlearn.hpp>
#endif
