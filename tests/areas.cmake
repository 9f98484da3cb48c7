# One executable per area of the library. Add a source here, not a new executable.
tlearn_add_tests(tlearn_tests_core SOURCES test_core.cpp LABELS core)
tlearn_add_tests(tlearn_tests_data SOURCES test_data.cpp LABELS data)
