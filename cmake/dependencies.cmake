# What the headers need, found the same way here and in tlearnConfig.cmake.
include(GNUInstallDirs)

find_package(Torch REQUIRED)          # Debian libtorch-dev, an official LibTorch, or a PyTorch wheel (Torch_DIR)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(nlohmann_json 3.2 REQUIRED)
find_package(stb REQUIRED)            # cmake/Findstb.cmake
find_package(ZLIB REQUIRED)           # gzipped IDX files (Fashion-MNIST)
find_package(CURL QUIET)              # optional: downloads of pretrained weights
find_package(libjpeg-turbo QUIET)     # optional: fast JPEG decoding

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

function(tlearn_link_dependencies target)
  target_link_libraries(${target} INTERFACE torch Eigen3::Eigen nlohmann_json::nlohmann_json stb::stb ZLIB::ZLIB)
  if(CURL_FOUND)
    target_link_libraries(${target} INTERFACE CURL::libcurl)
    target_compile_definitions(${target} INTERFACE TLEARN_HAVE_CURL=1)
  endif()
  if(TARGET libjpeg-turbo::turbojpeg)
    target_link_libraries(${target} INTERFACE libjpeg-turbo::turbojpeg)
    target_compile_definitions(${target} INTERFACE TLEARN_HAVE_TURBOJPEG=1)
  endif()
endfunction()
