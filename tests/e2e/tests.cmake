# End-to-end tests of the whole system (include()d from tests/CMakeLists.txt).
# Each script takes the veil binary, works in its own mktemp directory under
# /tmp, binds only 127.0.0.1 with OS-chosen ports, stops everything it
# started, and bounds every wait. They skip (77) when pocketsphinx's model or
# test data is missing. The relay-sees-no-plaintext check runs in
# tests/unit/gateway_test.c (it records every byte between relay and gateway).
add_test(NAME e2e/demo COMMAND ${CMAKE_CURRENT_LIST_DIR}/demo.sh $<TARGET_FILE:veil>)
set_tests_properties(e2e/demo PROPERTIES TIMEOUT 1800 SKIP_RETURN_CODE 77)
