# One executable per area of the library; the folders mirror include/tlearn (devices/:
# the same public-path sweep on CPU dtypes and on CUDA). Add a source here, not a new executable.
tlearn_add_tests(tlearn_tests_core SOURCES core/test_core.cpp LABELS core)
tlearn_add_tests(tlearn_tests_models LABELS models SOURCES
  models/test_models.cpp
  models/test_resnet_densenet.cpp
  models/test_mobile.cpp
  models/test_efficientnet_convnext.cpp
  models/test_inception_regnet.cpp
  models/test_transformers.cpp
  models/test_keras.cpp
  models/test_timm.cpp)
tlearn_add_tests(tlearn_tests_io SOURCES io/test_io.cpp io/test_hf_hub.cpp LABELS io)
# The same checkpoint and bad-input tests under AddressSanitizer + UBSan.
tlearn_add_tests(tlearn_tests_io_asan SOURCES io/test_io.cpp LABELS asan SANITIZE)
tlearn_add_tests(tlearn_tests_data SOURCES data/test_data.cpp LABELS data)
tlearn_add_tests(tlearn_tests_explain SOURCES explain/test_explain.cpp LABELS explain)
tlearn_add_tests(tlearn_tests_train SOURCES train/test_train.cpp devices/test_devices.cpp train/test_recipe.cpp
  train/test_distributed.cpp LABELS train)
# The program the distributed tests start as several processes (tlearn-run, torchrun).
add_executable(tlearn_distributed_worker train/distributed_worker.cpp)
target_link_libraries(tlearn_distributed_worker PRIVATE tlearn::tlearn)
if(TLEARN_HEADER_ONLY)
  target_compile_definitions(tlearn_distributed_worker PRIVATE TLEARN_IMPLEMENTATION)
endif()
target_compile_definitions(tlearn_tests_train PRIVATE
  TLEARN_TEST_WORKER="$<TARGET_FILE:tlearn_distributed_worker>"
  TLEARN_RUN="$<TARGET_FILE:tlearn-run>")
add_dependencies(tlearn_tests_train tlearn_distributed_worker tlearn-run)
# The same public-path sweep on a CUDA device; skipped where there is none.
tlearn_add_tests(tlearn_tests_cuda SOURCES devices/test_cuda.cpp LABELS cuda)
