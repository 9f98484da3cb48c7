# What the headers need, found the same way here and in tlearnConfig.cmake.
include(GNUInstallDirs)

find_package(Torch REQUIRED)          # Debian libtorch-dev, an official LibTorch, or a PyTorch wheel (Torch_DIR)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(nlohmann_json 3.2 REQUIRED)
find_package(stb REQUIRED)            # cmake/Findstb.cmake
find_package(ZLIB REQUIRED)           # gzipped IDX files (Fashion-MNIST)
find_package(CURL QUIET)              # optional: downloads of pretrained weights
find_package(libjpeg-turbo QUIET)     # optional: fast JPEG decoding
find_package(tlearn_hdf5 QUIET)       # optional: Keras weight files (.h5, .weights.h5, .keras); cmake/Findtlearn_hdf5.cmake
find_package(tlearn_gloo QUIET)       # optional: distributed training on c10d's Gloo; cmake/Findtlearn_gloo.cmake
if(tlearn_gloo_FOUND)
  message(STATUS "tlearn: distributed training with c10d Gloo (gloo headers in ${tlearn_gloo_INCLUDE_DIR})")
else()
  message(STATUS "tlearn: no gloo headers (Debian: libgloo-dev): distributed::init() of many processes will say so")
endif()

# Imported targets are visible only in the directory that found them. When tlearn
# is added with add_subdirectory or FetchContent, the parent project links
# tlearn::tlearn and so must see torch, Eigen3::Eigen, ... too.
if(NOT CMAKE_SOURCE_DIR STREQUAL PROJECT_SOURCE_DIR)
  get_property(tlearn_imported DIRECTORY PROPERTY IMPORTED_TARGETS)
  foreach(t IN LISTS tlearn_imported)
    get_target_property(is_global ${t} IMPORTED_GLOBAL)
    if(NOT is_global)
      set_target_properties(${t} PROPERTIES IMPORTED_GLOBAL TRUE)
    endif()
  endforeach()
endif()

# A headers-only target carries every dependency to the file that compiles the
# implementation; the compiled library keeps the third-party ones PRIVATE, so
# its users compile against LibTorch alone (a static library still links them).
# TLEARN_HAVE_* say what the implementation was built with.
function(tlearn_setup_target target)
  get_target_property(type ${target} TYPE)
  set(header_libs Eigen3::Eigen nlohmann_json::nlohmann_json stb::stb)
  if(type STREQUAL "INTERFACE_LIBRARY")
    set(public INTERFACE)
    set(private INTERFACE)
  else()
    set(public PUBLIC)
    set(private PRIVATE)
    # Header-only libraries are needed only to compile the implementation.
    list(TRANSFORM header_libs REPLACE "(.+)" "$<BUILD_INTERFACE:\\1>")
  endif()
  target_compile_features(${target} ${public} cxx_std_17)
  target_include_directories(${target} ${public}
    "$<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>"
    "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
  target_link_libraries(${target} ${public} torch)
  target_link_libraries(${target} ${private} ${header_libs} ZLIB::ZLIB)
  if(CURL_FOUND)
    target_link_libraries(${target} ${private} CURL::libcurl)
    target_compile_definitions(${target} ${public} TLEARN_HAVE_CURL=1)
  endif()
  if(TARGET libjpeg-turbo::turbojpeg)
    target_link_libraries(${target} ${private} libjpeg-turbo::turbojpeg)
    target_compile_definitions(${target} ${public} TLEARN_HAVE_TURBOJPEG=1)
  endif()
  if(TARGET tlearn::hdf5)
    target_link_libraries(${target} ${private} tlearn::hdf5)
    target_compile_definitions(${target} ${public} TLEARN_HAVE_HDF5=1)
  endif()
  if(TARGET tlearn::gloo)
    target_link_libraries(${target} ${private} tlearn::gloo)  # headers and defines only: gloo's code is in LibTorch
  endif()
endfunction()
