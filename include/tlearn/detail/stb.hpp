#pragma once
/// \file
/// stb_image / stb_image_write, compiled into every translation unit that
/// includes this header as `static` functions: header-only without breaking the
/// one-definition rule when several TUs of one program include tlearn.
/// Internal: include tlearn/io/image.hpp instead.

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif

#ifndef TLEARN_STB_INCLUDED
#define TLEARN_STB_INCLUDED
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_NO_PSD
#define STBI_NO_PIC
#define STBI_FAILURE_USERMSG
// tlearn checks the pixel limit itself (ImageReadOptions::max_pixels) before decoding.
#define STBI_MAX_DIMENSIONS (1 << 24)
#include <stb_image.h>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#endif

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
