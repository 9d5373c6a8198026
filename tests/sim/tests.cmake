# Shell-level tests of `veil sim` and `veil attest` (include()d from
# tests/CMakeLists.txt). Each script takes the veil binary, works in its own
# mktemp directory under /tmp (unix socket paths must stay under 108 bytes),
# binds only unix sockets there, and bounds every wait.
foreach(sim_test launch tsm)
  add_test(NAME sim/${sim_test}
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/${sim_test}.sh $<TARGET_FILE:veil>)
  set_tests_properties(sim/${sim_test} PROPERTIES TIMEOUT 240 SKIP_RETURN_CODE 77)
endforeach()
