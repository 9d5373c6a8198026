/* veil — sanitization of text before it leaves the TEE for an external
 * model provider (docs/sanitize.md).
 *
 * A policy (JSON, parsed strictly) names detectors and what to do with what
 * each finds:
 *   {"detectors": {"email": {"action": "pseudonymize"},
 *                  "card":  {"action": "block"},
 *                  "secret": {"action": "redact", "min_length": 24,
 *                             "min_entropy": 4.0}, ...},
 *    "custom": [{"name": "employee_id", "pattern": "EMP-[0-9]{6}",
 *                "action": "redact"}],
 *    "deny": {"action": "block", "terms": ["Project Falcon"]}}
 * Built-in detectors: email, phone, card, iban, ssn, ipv4, ipv6, secret.
 * Actions: "redact" replaces the value with "[TYPE]"; "pseudonymize" with a
 * placeholder "<TYPE_N>" that is the same for the same value within one
 * session and is restored in the answer; "block" refuses the whole text.
 *
 * Findings and errors never carry the values found: only the detector, the
 * byte offsets, the action and the placeholder. Sessions hold the values
 * (to restore them) and wipe them when freed. */
#ifndef VEIL_SANITIZE_H
#define VEIL_SANITIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "veil/cursor.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_SANITIZE_MAX_POLICY ((size_t)64 << 10)
#define VEIL_SANITIZE_MAX_TEXT ((size_t)4 << 20)       /* one text field */
#define VEIL_SANITIZE_MAX_REGEX_TEXT ((size_t)1 << 20) /* custom patterns scan this much */
#define VEIL_SANITIZE_MAX_CUSTOM 32
#define VEIL_SANITIZE_MAX_PATTERN 256
#define VEIL_SANITIZE_MAX_TERMS 256
#define VEIL_SANITIZE_MAX_TERM 128
#define VEIL_SANITIZE_MAX_FINDINGS 4096   /* per text; more is refused */
#define VEIL_SANITIZE_MAX_PSEUDONYMS 4096 /* per session */
#define VEIL_SANITIZE_PLACEHOLDER_MAX 48
#define VEIL_SANITIZE_DETAIL 320

typedef enum veil_san_type {
    VEIL_SAN_EMAIL = 0,
    VEIL_SAN_PHONE,
    VEIL_SAN_CARD,
    VEIL_SAN_IBAN,
    VEIL_SAN_SSN,
    VEIL_SAN_IPV4,
    VEIL_SAN_IPV6,
    VEIL_SAN_SECRET,
    VEIL_SAN_CUSTOM, /* one of the policy's custom patterns */
    VEIL_SAN_DENY,   /* a deny-listed term */
    VEIL_SAN_NTYPES
} veil_san_type;

typedef enum veil_san_action {
    VEIL_SAN_OFF = 0,
    VEIL_SAN_REDACT,
    VEIL_SAN_PSEUDONYMIZE,
    VEIL_SAN_BLOCK,
} veil_san_action;

/* "email", "phone", ... "custom", "deny"; NULL outside the enum. */
const char *veil_san_type_name(veil_san_type t);
const char *veil_san_action_name(veil_san_action a);

typedef struct veil_sanitize_policy veil_sanitize_policy;

/* Parse a policy; on error *out is NULL and `detail` (may be NULL) says
 * what and where ("detectors.emial: unknown detector (known: ...)"). */
VEIL_MUST_USE veil_result veil_sanitize_policy_parse(const char *json, size_t len,
                                                     veil_sanitize_policy **out,
                                                     char detail[VEIL_SANITIZE_DETAIL]);
void veil_sanitize_policy_free(veil_sanitize_policy *p);

/* One value found. `label` is the detector's name, or a custom pattern's. */
typedef struct veil_san_finding {
    veil_san_type type;
    const char *label; /* static or owned by the policy */
    size_t start, end; /* byte offsets in the scanned text */
    veil_san_action action;
    char placeholder[VEIL_SANITIZE_PLACEHOLDER_MAX]; /* what replaced it ("" for block) */
} veil_san_finding;

/* Detect without acting: every non-overlapping finding of the policy's
 * detectors, in text order (overlaps go to the longest, then to the
 * detector listed first in veil_san_type, custom and deny before all).
 * *out is from veil_calloc (veil_free it); placeholders are empty. */
VEIL_MUST_USE veil_result veil_sanitize_scan(const veil_sanitize_policy *p, const char *text,
                                             size_t len, veil_san_finding **out, size_t *n);

/* A session: the pseudonyms of one request (and its answer). */
typedef struct veil_sanitize_session veil_sanitize_session;

VEIL_MUST_USE veil_result veil_sanitize_session_new(const veil_sanitize_policy *p,
                                                    veil_sanitize_session **out);
/* Wipes every value held. NULL is a no-op. */
void veil_sanitize_session_free(veil_sanitize_session *s);
/* Pseudonyms issued so far. */
size_t veil_sanitize_session_count(const veil_sanitize_session *s);

/* Sanitize one text into `out` (appended). When a finding's action is
 * block, nothing is appended and the result is an error of class
 * VEIL_E_PROTOCOL with the message VEIL_SANITIZE_BLOCKED. findings/nfind
 * (both may be NULL) receive the findings either way (veil_free them). */
#define VEIL_SANITIZE_BLOCKED "sanitize: the policy blocks this text"
VEIL_MUST_USE veil_result veil_sanitize_text(veil_sanitize_session *s, const char *text, size_t len,
                                             veil_buf *out, veil_san_finding **findings,
                                             size_t *nfind);
bool veil_sanitize_is_blocked(veil_result r);

/* Streaming restoration of the session's placeholders: feed the answer in
 * any pieces; a piece's tail that could be the start of a placeholder is
 * held back until the next piece (or finish) decides it. Output is
 * appended to `out`. */
typedef struct veil_sanitize_restorer veil_sanitize_restorer;

VEIL_MUST_USE veil_result veil_sanitize_restorer_new(const veil_sanitize_session *s,
                                                     veil_sanitize_restorer **out);
VEIL_MUST_USE veil_result veil_sanitize_restorer_feed(veil_sanitize_restorer *r, const char *p,
                                                      size_t n, veil_buf *out);
/* Whatever is held back, as it is. The restorer can be fed again after. */
VEIL_MUST_USE veil_result veil_sanitize_restorer_finish(veil_sanitize_restorer *r, veil_buf *out);
void veil_sanitize_restorer_free(veil_sanitize_restorer *r);

/* Restore a whole text at once. */
VEIL_MUST_USE veil_result veil_sanitize_restore(const veil_sanitize_session *s, const char *text,
                                                size_t len, veil_buf *out);

#ifdef __cplusplus
}
#endif
#endif
