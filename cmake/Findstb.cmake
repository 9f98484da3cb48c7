# Findstb: the stb single-file headers (stb_image.h, stb_image_write.h).
# Debian installs them in /usr/include/stb (package libstb-dev); vcpkg in <prefix>/include.
# Defines the INTERFACE target stb::stb and stb_INCLUDE_DIR.
find_path(stb_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(stb REQUIRED_VARS stb_INCLUDE_DIR)
if(stb_FOUND AND NOT TARGET stb::stb)
  add_library(stb::stb INTERFACE IMPORTED)
  set_target_properties(stb::stb PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${stb_INCLUDE_DIR}")
endif()
mark_as_advanced(stb_INCLUDE_DIR)
