# The client's KMS path (flow 2a) end to end: receipts, refusals naming the
# check (wrong ledger key, looser KMS reference values, a forked log), and a
# one-byte-different gateway binary refused by the KMS. ~1-2 min under ASan.
add_test(NAME e2e/client-kms COMMAND ${CMAKE_CURRENT_LIST_DIR}/client_kms.sh $<TARGET_FILE:veil>)
set_tests_properties(e2e/client-kms PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE 77)
