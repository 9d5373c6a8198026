/* veil — known-answer tests, built in and file-driven.
 *
 * Each runner takes the text of a test-vector file in the format of
 * ../shared/testdata (RFC 9180 JSON, RFC 9292 examples JSON, RFC 9458
 * Appendix A JSON, chunked-OHTTP draft example JSON), checks every case and
 * counts passes and failures. A file that is not in the expected format is
 * an error (not a count of failures). */
#ifndef VEIL_SELFTEST_H
#define VEIL_SELFTEST_H

#include <stddef.h>

#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct veil_selftest_report {
    size_t passed;
    size_t failed;
    /* Called once per failed case (may be NULL): `name` identifies the case,
     * `why` says which check failed. */
    void (*on_failure)(void *arg, const char *name, const char *why);
    void *arg;
} veil_selftest_report;

/* Record one case's outcome; `why` is NULL for a pass. */
void veil_selftest_record(veil_selftest_report *rep, const char *name, const char *why);

/* RFC 9180 test-vector JSON: for each case, key derivation, setup (enc,
 * shared_secret, key schedule), every encryption (seal and open) and every
 * export. One case = one pass or one failure. */
VEIL_MUST_USE veil_result veil_selftest_hpke_json(const char *json, size_t len,
                                                  veil_selftest_report *rep);
/* RFC 9292 examples JSON: decode every example, check it against its
 * annotation, re-encode and compare byte for byte. */
VEIL_MUST_USE veil_result veil_selftest_bhttp_json(const char *json, size_t len,
                                                   veil_selftest_report *rep);
/* RFC 9458 Appendix A JSON or the chunked-OHTTP draft example JSON (told
 * apart by their fields): reproduce every value byte for byte. */
VEIL_MUST_USE veil_result veil_selftest_ohttp_json(const char *json, size_t len,
                                                   veil_selftest_report *rep);
/* The built-in known-answer tests (embedded copies of RFC 9180 A.1, RFC 9292
 * §5, RFC 9458 Appendix A and the chunked-OHTTP example). */
VEIL_MUST_USE veil_result veil_selftest_builtin(veil_selftest_report *rep);

#ifdef __cplusplus
}
#endif
#endif
