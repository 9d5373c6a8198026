# Encrypted RAG end to end (tests/e2e/rag.sh): KMS-verified ingest, a gateway
# given the collection key by the KMS serving search and chat over OHTTP, a
# gateway refused the key not starting, no plaintext in any file or log.
add_test(NAME e2e/rag COMMAND ${CMAKE_CURRENT_LIST_DIR}/rag.sh $<TARGET_FILE:veil>)
set_tests_properties(e2e/rag PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE 77)
# `veil rag` with a local key: ingest, search, verify, tampering, wrong key.
add_test(NAME e2e/rag-cli COMMAND ${CMAKE_CURRENT_LIST_DIR}/rag_cli.sh $<TARGET_FILE:veil>)
set_tests_properties(e2e/rag-cli PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
