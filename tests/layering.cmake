# Checks that tlearn's headers point one way (README, Layout): each folder of
# include/tlearn includes tlearn headers only from the folders below it.
#   cmake -DROOT=<source dir> -P tests/layering.cmake
# The exceptions are the weights readers of models/ (they read checkpoint files)
# and io/model_file.hpp (the whole-model file rebuilds models and heads).
cmake_policy(SET CMP0057 NEW)
set(allowed_core core detail)
set(allowed_detail core detail)
set(allowed_nn core detail nn)
set(allowed_io core detail io)
set(allowed_data core detail io data)
set(allowed_models core detail nn models)
set(allowed_heads core detail nn models heads)
set(exceptions
  "models/keras_weights.hpp -> io"
  "models/timm.hpp -> io"
  "io/model_file.hpp -> heads"
  "io/model_file.hpp -> models")

set(violations "")
foreach(layer core detail nn io data models heads)
  file(GLOB headers RELATIVE "${ROOT}/include/tlearn" "${ROOT}/include/tlearn/${layer}/*.hpp")
  foreach(header IN LISTS headers)
    file(STRINGS "${ROOT}/include/tlearn/${header}" includes REGEX "^#include \"tlearn/")
    foreach(line IN LISTS includes)
      string(REGEX REPLACE "^#include \"tlearn/([a-z_]+)/.*" "\\1" target "${line}")
      if(NOT target IN_LIST allowed_${layer} AND NOT "${header} -> ${target}" IN_LIST exceptions)
        string(APPEND violations "\n  ${header}: ${line}")
      endif()
    endforeach()
  endforeach()
endforeach()
if(violations)
  message(FATAL_ERROR "tlearn headers that include a layer above their own (move the shared part down, "
                      "or the definition into include/tlearn/impl/):${violations}")
endif()
message(STATUS "every header of core, detail, nn, io, data, models and heads includes only layers below it")
