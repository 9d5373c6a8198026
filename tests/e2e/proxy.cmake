# `veil proxy` end to end (include()d from tests/CMakeLists.txt, after
# tests/e2e/tests.cmake): the stack via `veil up`, a test model upstream, the
# proxy in front; OpenAI transcription and streamed chat through it, and a
# refused policy. Skips (77) when pocketsphinx's model or test data is missing.
add_test(NAME e2e/proxy COMMAND ${CMAKE_CURRENT_LIST_DIR}/proxy.sh $<TARGET_FILE:veil>)
set_tests_properties(e2e/proxy PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
