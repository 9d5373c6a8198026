/* Sanitize policies (include/veil/sanitize.h): a strict parser. Every
 * member is known, every value has its type and range, and custom patterns
 * are checked for what makes POSIX regex engines slow or huge (back
 * references, large repetition counts) before regcomp sees them. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sanitize/sanitize_internal.h"
#include "veil/mem.h"

#define MAX_REPEAT 128 /* the sum of all {m,n} counts: nesting multiplies them */
#define MAX_BRACES 8

static const char *const k_types[VEIL_SAN_NTYPES] = {"email", "phone", "card",   "iban",   "ssn",
                                                     "ipv4",  "ipv6",  "secret", "custom", "deny"};
static const char *const k_actions[] = {"off", "redact", "pseudonymize", "block"};

const char *veil_san_type_name(veil_san_type t)
{
    return (unsigned)t < VEIL_SAN_NTYPES ? k_types[t] : NULL;
}

const char *veil_san_action_name(veil_san_action a)
{
    return (unsigned)a <= VEIL_SAN_BLOCK ? k_actions[a] : NULL;
}

static void say(char *detail, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(char *detail, const char *fmt, ...)
{
    if (!detail)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, VEIL_SANITIZE_DETAIL, fmt, ap);
    va_end(ap);
}

#define BAD(detail, ...)                                                                           \
    (say((detail), __VA_ARGS__), VEIL_ERR(VEIL_E_PROTOCOL, "sanitize policy: invalid"))

static veil_result parse_action(const json_t *v, const char *where, veil_san_action *out,
                                char *detail)
{
    const char *s = json_string_value(v);
    for (size_t i = 1; s && i < sizeof k_actions / sizeof k_actions[0]; i++)
        if (!strcmp(s, k_actions[i])) {
            *out = (veil_san_action)i;
            return VEIL_OK;
        }
    return BAD(detail, "%s.action: must be \"redact\", \"pseudonymize\" or \"block\"", where);
}

/* Members of obj must be among allowed (NULL-terminated). */
static veil_result only_members(const json_t *obj, const char *where, const char *const *allowed,
                                const char *list, char *detail)
{
    const char *key;
    const json_t *v;
    if (!json_is_object(obj))
        return BAD(detail, "%s: must be an object", where);
    json_object_foreach ((json_t *)obj, key, v) {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = !strcmp(key, allowed[i]);
        if (!ok)
            return BAD(detail, "%s: unknown member \"%.48s\" (known: %s)", where, key, list);
    }
    return VEIL_OK;
}

static veil_result parse_secret_opts(veil_sanitize_policy *p, const json_t *d, char *detail)
{
    const json_t *ml = json_object_get(d, "min_length"), *me = json_object_get(d, "min_entropy");
    if (ml) {
        json_int_t v = json_integer_value(ml);
        if (!json_is_integer(ml) || v < 8 || v > 256)
            return BAD(detail, "detectors.secret.min_length: must be an integer 8..256");
        p->secret_min_length = (size_t)v;
    }
    if (me) {
        double v = json_number_value(me);
        if (!json_is_number(me) || !(v >= 0.0 && v <= 8.0))
            return BAD(detail, "detectors.secret.min_entropy: must be a number 0..8 (bits)");
        p->secret_min_entropy = v;
    }
    return VEIL_OK;
}

static veil_result parse_detectors(veil_sanitize_policy *p, const json_t *d, char *detail)
{
    static const char *const plain[] = {"action", NULL};
    static const char *const secret[] = {"action", "min_length", "min_entropy", NULL};
    const char *key;
    const json_t *v;
    char where[64];
    if (!json_is_object(d))
        return BAD(detail, "detectors: must be an object");
    json_object_foreach ((json_t *)d, key, v) {
        size_t t = 0;
        while (t < SAN_NBUILTIN && strcmp(key, k_types[t]) != 0)
            t++;
        if (t == SAN_NBUILTIN)
            return BAD(detail,
                       "detectors: unknown detector \"%.48s\" (known: email, phone, card, iban, "
                       "ssn, ipv4, ipv6, secret; patterns go in \"custom\", terms in \"deny\")",
                       key);
        snprintf(where, sizeof where, "detectors.%s", key);
        bool is_secret = t == VEIL_SAN_SECRET;
        VEIL_GUARD(only_members(v, where, is_secret ? secret : plain,
                                is_secret ? "action, min_length, min_entropy" : "action", detail));
        VEIL_GUARD(parse_action(json_object_get(v, "action"), where, &p->action[t], detail));
        if (is_secret)
            VEIL_GUARD(parse_secret_opts(p, v, detail));
    }
    return VEIL_OK;
}

/* Refuse what makes a POSIX regex slow or its automaton huge. */
static veil_result pattern_ok(const char *s, size_t n, const char *where, char *detail)
{
    size_t braces = 0;
    unsigned total = 0;
    if (n == 0 || n > VEIL_SANITIZE_MAX_PATTERN || strlen(s) != n)
        return BAD(detail, "%s.pattern: must be 1..%d characters", where,
                   (int)VEIL_SANITIZE_MAX_PATTERN);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && s[i + 1] >= '1' && s[i + 1] <= '9')
            return BAD(detail, "%s.pattern: back references are not allowed", where);
        if (s[i] == '\\') {
            i++;
            continue;
        }
        if (s[i] != '{')
            continue;
        if (++braces > MAX_BRACES)
            return BAD(detail, "%s.pattern: at most %d {m,n} repetitions", where, MAX_BRACES);
        unsigned v = 0;
        for (i++; i < n && s[i] != '}'; i++) {
            if (s[i] == ',') {
                v = 0;
                continue;
            }
            if (s[i] < '0' || s[i] > '9' || (v = v * 10 + (unsigned)(s[i] - '0')) > MAX_REPEAT)
                return BAD(detail, "%s.pattern: repetition counts must add up to at most %d", where,
                           MAX_REPEAT);
        }
        total += v;
        if (total > MAX_REPEAT)
            return BAD(detail, "%s.pattern: repetition counts must add up to at most %d", where,
                       MAX_REPEAT);
    }
    return VEIL_OK;
}

static veil_result parse_name(san_custom *c, const json_t *v, const char *where, char *detail)
{
    const char *s = json_string_value(v);
    size_t n = s ? strlen(s) : 0;
    bool ok = s && n >= 1 && n <= SAN_NAME_MAX && n == json_string_length(v) && san_lower(s[0]);
    for (size_t i = 0; ok && i < n; i++)
        ok = san_lower(s[i]) || san_digit(s[i]) || s[i] == '_';
    if (!ok)
        return BAD(detail, "%s.name: must match [a-z][a-z0-9_]{0,31}", where);
    for (size_t i = 0; i <= n; i++) {
        c->name[i] = s[i];
        c->upper[i] = san_lower(s[i]) ? (char)(s[i] - 'a' + 'A') : s[i];
    }
    return VEIL_OK;
}

static veil_result parse_custom_one(veil_sanitize_policy *p, const json_t *e, size_t i,
                                    char *detail)
{
    static const char *const allowed[] = {"name", "pattern", "action", "ignore_case", NULL};
    char where[48];
    snprintf(where, sizeof where, "custom[%zu]", i);
    VEIL_GUARD(only_members(e, where, allowed, "name, pattern, action, ignore_case", detail));
    san_custom *c = &p->custom[i];
    VEIL_GUARD(parse_name(c, json_object_get(e, "name"), where, detail));
    for (size_t k = 0; k < i; k++)
        if (!strcmp(p->custom[k].name, c->name))
            return BAD(detail, "%s.name: \"%s\" is used twice", where, c->name);
    const json_t *pat = json_object_get(e, "pattern"), *ic = json_object_get(e, "ignore_case");
    if (!json_is_string(pat))
        return BAD(detail, "%s.pattern: must be a string (POSIX extended regex)", where);
    VEIL_GUARD(pattern_ok(json_string_value(pat), json_string_length(pat), where, detail));
    if (ic && !json_is_boolean(ic))
        return BAD(detail, "%s.ignore_case: must be a boolean", where);
    VEIL_GUARD(parse_action(json_object_get(e, "action"), where, &c->action, detail));
    int rc =
        regcomp(&c->re, json_string_value(pat), REG_EXTENDED | (json_is_true(ic) ? REG_ICASE : 0));
    if (rc != 0) {
        char msg[128];
        regerror(rc, &c->re, msg, sizeof msg);
        return BAD(detail, "%s.pattern: %s", where, msg);
    }
    c->compiled = true;
    return VEIL_OK;
}

static veil_result parse_custom(veil_sanitize_policy *p, const json_t *a, char *detail)
{
    size_t i;
    const json_t *e;
    if (!json_is_array(a) || json_array_size(a) > VEIL_SANITIZE_MAX_CUSTOM)
        return BAD(detail, "custom: must be an array of at most %d patterns",
                   VEIL_SANITIZE_MAX_CUSTOM);
    json_array_foreach (a, i, e) {
        p->n_custom = i; /* those before are compiled: free them on failure */
        VEIL_GUARD(parse_custom_one(p, e, i, detail));
    }
    p->n_custom = json_array_size(a);
    return VEIL_OK;
}

static veil_result parse_deny(veil_sanitize_policy *p, const json_t *d, char *detail)
{
    static const char *const allowed[] = {"action", "terms", NULL};
    size_t i;
    const json_t *e, *terms = json_object_get(d, "terms");
    VEIL_GUARD(only_members(d, "deny", allowed, "action, terms", detail));
    VEIL_GUARD(parse_action(json_object_get(d, "action"), "deny", &p->deny_action, detail));
    if (!json_is_array(terms) || json_array_size(terms) > VEIL_SANITIZE_MAX_TERMS)
        return BAD(detail, "deny.terms: must be an array of at most %d strings",
                   VEIL_SANITIZE_MAX_TERMS);
    json_array_foreach (terms, i, e) {
        const char *s = json_string_value(e);
        size_t n = s ? json_string_length(e) : 0;
        bool ok = s && n >= 1 && n <= VEIL_SANITIZE_MAX_TERM && strlen(s) == n &&
                  (san_alnum(s[0]) || (unsigned char)s[0] >= 0x80);
        if (!ok)
            return BAD(detail,
                       "deny.terms[%zu]: must be 1..%d characters starting with a letter or digit",
                       i, VEIL_SANITIZE_MAX_TERM);
        p->terms[i] = veil_calloc(n + 1, 1);
        if (!p->terms[i])
            return VEIL_ERR(VEIL_E_NOMEM, "sanitize policy: out of memory");
        p->n_terms = i + 1;
        for (size_t k = 0; k < n; k++)
            p->terms[i][k] = san_upper(s[k]) ? (char)(s[k] - 'A' + 'a') : s[k];
        p->term_len[i] = n;
    }
    return VEIL_OK;
}

static veil_result parse_root(veil_sanitize_policy *p, const json_t *j, char *detail)
{
    static const char *const allowed[] = {"version", "detectors", "custom", "deny", NULL};
    VEIL_GUARD(only_members(j, "policy", allowed, "version, detectors, custom, deny", detail));
    const json_t *ver = json_object_get(j, "version"), *d = json_object_get(j, "detectors");
    const json_t *c = json_object_get(j, "custom"), *deny = json_object_get(j, "deny");
    if (ver && !(json_is_integer(ver) && json_integer_value(ver) == 1))
        return BAD(detail, "version: only version 1 exists");
    if (!d && !c && !deny)
        return BAD(detail, "policy: names no detector (\"detectors\", \"custom\" or \"deny\")");
    if (d)
        VEIL_GUARD(parse_detectors(p, d, detail));
    if (c)
        VEIL_GUARD(parse_custom(p, c, detail));
    if (deny)
        VEIL_GUARD(parse_deny(p, deny, detail));
    return VEIL_OK;
}

veil_result veil_sanitize_policy_parse(const char *json, size_t len, veil_sanitize_policy **out,
                                       char detail[VEIL_SANITIZE_DETAIL])
{
    veil_result r = VEIL_OK;
    json_error_t err;
    json_t *j = NULL;
    veil_sanitize_policy *p = NULL;
    say(detail, "%s", "");
    VEIL_ENSURE(out, VEIL_E_USAGE, "sanitize policy: no output");
    *out = NULL;
    VEIL_ENSURE(json || !len, VEIL_E_USAGE, "sanitize policy: missing input");
    if (len > VEIL_SANITIZE_MAX_POLICY) {
        say(detail, "the policy is longer than %zu bytes", VEIL_SANITIZE_MAX_POLICY);
        return VEIL_ERR(VEIL_E_PROTOCOL, "sanitize policy: too long");
    }
    j = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        say(detail, "not JSON: %s (line %d, column %d)", err.text, err.line, err.column);
        return VEIL_ERR(VEIL_E_PROTOCOL, "sanitize policy: not valid JSON");
    }
    p = veil_calloc(1, sizeof *p);
    VEIL_ENSURE_GOTO(r, p != NULL, VEIL_E_NOMEM, "sanitize policy: out of memory");
    p->secret_min_length = 24;
    p->secret_min_entropy = 4.0;
    VEIL_TRY(r, parse_root(p, j, detail));
    *out = p;
    p = NULL;
out:
    veil_sanitize_policy_free(p);
    json_decref(j);
    return r;
}

void veil_sanitize_policy_free(veil_sanitize_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < VEIL_SANITIZE_MAX_CUSTOM; i++)
        if (p->custom[i].compiled)
            regfree(&p->custom[i].re);
    for (size_t i = 0; i < p->n_terms; i++)
        veil_free_wiped(p->terms[i], p->term_len[i] + 1);
    veil_free_wiped(p, sizeof *p);
}
