# CLI shell tests (include()d from tests/CMakeLists.txt).
# verify_kinds: `veil verify` over TDX (--quote), a `veil sim` composite
# bundle (SEV-SNP + 2 GPUs) and a GPU alone, human and --json, with the
# dropped / swapped / reordered / replayed GPU rejections.
add_test(NAME cli/verify-kinds
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cli/verify_kinds.sh
                 $<TARGET_FILE:veil> ${VEIL_TESTDATA_DIR})
set_tests_properties(cli/verify-kinds PROPERTIES TIMEOUT 300)
# sanitize: `veil sanitize` output, --json without values, block and policy errors.
add_test(NAME cli/sanitize
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cli/sanitize.sh $<TARGET_FILE:veil>)
set_tests_properties(cli/sanitize PROPERTIES TIMEOUT 60)
