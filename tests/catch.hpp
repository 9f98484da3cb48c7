#pragma once
// Catch2 v2 (Debian) and v3 alike.
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#else
#define CATCH_CONFIG_EXTERNAL_INTERFACES  // main.cpp's listener needs the reporter bases
#include <catch2/catch.hpp>
#endif
