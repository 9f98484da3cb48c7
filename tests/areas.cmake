# One executable per area of the library. Add a source here, not a new executable.
tlearn_add_tests(tlearn_tests_core SOURCES test_core.cpp LABELS core)
tlearn_add_tests(tlearn_tests_io SOURCES test_io.cpp LABELS io)
# The same checkpoint and bad-input tests under AddressSanitizer + UBSan.
tlearn_add_tests(tlearn_tests_io_asan SOURCES test_io.cpp LABELS asan SANITIZE)
