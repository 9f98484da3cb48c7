# Findtlearn_hdf5: libhdf5's C library, for writing Keras weight files (reading is tlearn's own).
# CMake's FindHDF5 needs the C language enabled, which C++-only projects (and so
# tlearn's users, through tlearnConfig.cmake) do not have. This looks for an HDF5
# CMake package first (vcpkg, upstream builds), then for the header and library
# (Debian's libhdf5-dev keeps them in hdf5/serial). Defines tlearn::hdf5.
find_package(hdf5 CONFIG QUIET)
if(TARGET hdf5::hdf5-shared)
  set(tlearn_hdf5_target hdf5::hdf5-shared)
elseif(TARGET hdf5::hdf5-static)
  set(tlearn_hdf5_target hdf5::hdf5-static)
else()
  find_path(tlearn_hdf5_INCLUDE_DIR hdf5.h PATH_SUFFIXES hdf5/serial hdf5)
  find_library(tlearn_hdf5_LIBRARY NAMES hdf5_serial hdf5 PATH_SUFFIXES hdf5/serial)
  mark_as_advanced(tlearn_hdf5_INCLUDE_DIR tlearn_hdf5_LIBRARY)
endif()
include(FindPackageHandleStandardArgs)
if(tlearn_hdf5_target)
  find_package_handle_standard_args(tlearn_hdf5 REQUIRED_VARS tlearn_hdf5_target)
else()
  find_package_handle_standard_args(tlearn_hdf5 REQUIRED_VARS tlearn_hdf5_LIBRARY tlearn_hdf5_INCLUDE_DIR)
endif()
if(tlearn_hdf5_FOUND AND NOT TARGET tlearn::hdf5)
  add_library(tlearn::hdf5 INTERFACE IMPORTED)
  if(tlearn_hdf5_target)
    set_target_properties(tlearn::hdf5 PROPERTIES INTERFACE_LINK_LIBRARIES ${tlearn_hdf5_target})
  else()
    set_target_properties(tlearn::hdf5 PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${tlearn_hdf5_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES "${tlearn_hdf5_LIBRARY}")
  endif()
endif()
