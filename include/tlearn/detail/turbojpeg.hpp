#pragma once
/// \file
/// A thread-local libjpeg-turbo decompressor handle (only with TLEARN_HAVE_TURBOJPEG).
/// Internal: include tlearn/io/image.hpp instead.

#ifdef TLEARN_HAVE_TURBOJPEG
#include <turbojpeg.h>

#include <string>

namespace tlearn::detail {

/// One tjhandle per thread, created on first use and destroyed with the thread.
inline tjhandle turbojpeg_decompressor() {
  struct Handle {
    tjhandle h = tjInitDecompress();
    ~Handle() {
      if (h) tjDestroy(h);
    }
  };
  thread_local Handle handle;
  return handle.h;
}

inline std::string turbojpeg_error(tjhandle h) { return tjGetErrorStr2(h); }

}  // namespace tlearn::detail
#endif
