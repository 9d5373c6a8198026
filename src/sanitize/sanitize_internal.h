/* Internals of the sanitizer (include/veil/sanitize.h): the parsed policy,
 * candidate lists and the hand-written detectors. */
#ifndef VEIL_SANITIZE_INTERNAL_H
#define VEIL_SANITIZE_INTERNAL_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "veil/sanitize.h"

#define SAN_NBUILTIN VEIL_SAN_CUSTOM
#define SAN_NAME_MAX 32

typedef struct san_custom {
    char name[SAN_NAME_MAX + 1];  /* lowercase, as written */
    char upper[SAN_NAME_MAX + 1]; /* for placeholders */
    regex_t re;
    bool compiled;
    veil_san_action action;
} san_custom;

struct veil_sanitize_policy {
    veil_san_action action[SAN_NBUILTIN];
    size_t secret_min_length;
    double secret_min_entropy;
    san_custom custom[VEIL_SANITIZE_MAX_CUSTOM];
    size_t n_custom;
    char *terms[VEIL_SANITIZE_MAX_TERMS];
    size_t term_len[VEIL_SANITIZE_MAX_TERMS];
    size_t n_terms;
    veil_san_action deny_action;
};

/* A candidate finding; `idx` is the custom pattern's index (else 0). */
typedef struct san_span {
    size_t start, end;
    veil_san_type type;
    size_t idx;
} san_span;

/* Candidates, bounded: detectors stop with an error past the limit. */
typedef struct san_list {
    san_span *v;
    size_t n, cap;
} san_list;

#define SAN_MAX_CANDIDATES (4 * VEIL_SANITIZE_MAX_FINDINGS)

VEIL_MUST_USE veil_result san_add(san_list *l, size_t start, size_t end, veil_san_type t,
                                  size_t idx);
void san_list_free(san_list *l);

/* Built-in detectors: append every candidate in t[0..n). */
VEIL_MUST_USE veil_result san_email(const char *t, size_t n, san_list *out);
VEIL_MUST_USE veil_result san_phone(const char *t, size_t n, san_list *out);
VEIL_MUST_USE veil_result san_card(const char *t, size_t n, san_list *out);
VEIL_MUST_USE veil_result san_iban(const char *t, size_t n, san_list *out);
VEIL_MUST_USE veil_result san_ssn(const char *t, size_t n, san_list *out);
VEIL_MUST_USE veil_result san_ipv4(const char *t, size_t n, san_list *out);
VEIL_MUST_USE veil_result san_ipv6(const char *t, size_t n, san_list *out);
VEIL_MUST_USE veil_result san_secret(const char *t, size_t n, size_t min_len, double min_entropy,
                                     san_list *out);

/* Checks, exposed for the tests. */
bool san_luhn_ok(const char *digits, size_t n);
bool san_card_prefix_ok(const char *digits, size_t n);
bool san_iban_ok(const char *compact, size_t n); /* no spaces, uppercase */
double san_entropy(const char *p, size_t n);

static inline bool san_digit(char c) { return c >= '0' && c <= '9'; }
static inline bool san_upper(char c) { return c >= 'A' && c <= 'Z'; }
static inline bool san_lower(char c) { return c >= 'a' && c <= 'z'; }
static inline bool san_alnum(char c) { return san_digit(c) || san_upper(c) || san_lower(c); }
/* Word characters for boundaries: ASCII alnum, '_' and any non-ASCII byte
 * (so a value glued to a UTF-8 letter is not cut out of a word). */
static inline bool san_word(char c) { return san_alnum(c) || c == '_' || (unsigned char)c >= 0x80; }

#endif
