# Findtlearn_gloo: gloo's headers, which c10d's ProcessGroupGloo.hpp includes.
# LibTorch carries gloo's code (in libtorch_cpu) and c10d's headers but not
# gloo's (Debian: libgloo-dev; a PyTorch wheel ships none, and Debian's serve
# it: the classes tlearn uses are reached through LibTorch's own functions).
# Defines tlearn::gloo, whose users compile tlearn's distributed training.
find_path(tlearn_gloo_INCLUDE_DIR gloo/algorithm.h)
set(tlearn_gloo_C10D_HEADER "")
foreach(dir IN LISTS TORCH_INCLUDE_DIRS)
  if(EXISTS "${dir}/torch/csrc/distributed/c10d/ProcessGroupGloo.hpp")
    set(tlearn_gloo_C10D_HEADER "${dir}/torch/csrc/distributed/c10d/ProcessGroupGloo.hpp")
  endif()
endforeach()
mark_as_advanced(tlearn_gloo_INCLUDE_DIR)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(tlearn_gloo REQUIRED_VARS tlearn_gloo_INCLUDE_DIR tlearn_gloo_C10D_HEADER)
if(tlearn_gloo_FOUND AND NOT TARGET tlearn::gloo)
  add_library(tlearn::gloo INTERFACE IMPORTED)
  set_target_properties(tlearn::gloo PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${tlearn_gloo_INCLUDE_DIR}"
    INTERFACE_COMPILE_DEFINITIONS "USE_C10D_GLOO;TLEARN_HAVE_C10D_GLOO=1")
endif()
