/* Acting on findings: redaction, consistent pseudonyms per session, and
 * restoring them in answers, whole or streamed. The session is the only
 * place that holds detected values; it wipes them when freed. */
#include <stdio.h>
#include <string.h>

#include "sanitize/sanitize_internal.h"
#include "veil/mem.h"

typedef struct pseudonym {
    veil_san_type type;
    size_t idx; /* custom pattern */
    char *value;
    size_t len;
    char ph[VEIL_SANITIZE_PLACEHOLDER_MAX];
    size_t ph_len;
} pseudonym;

struct veil_sanitize_session {
    const veil_sanitize_policy *policy;
    pseudonym *v;
    size_t n, cap;
    unsigned counter[VEIL_SAN_NTYPES + VEIL_SANITIZE_MAX_CUSTOM];
};

veil_result veil_sanitize_session_new(const veil_sanitize_policy *p, veil_sanitize_session **out)
{
    VEIL_ENSURE(p && out, VEIL_E_USAGE, "sanitize: missing policy");
    *out = veil_calloc(1, sizeof **out);
    VEIL_ENSURE(*out, VEIL_E_NOMEM, "sanitize: out of memory");
    (*out)->policy = p;
    return VEIL_OK;
}

void veil_sanitize_session_free(veil_sanitize_session *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        veil_free_wiped(s->v[i].value, s->v[i].len + 1);
    veil_free_wiped(s->v, s->cap * sizeof *s->v);
    veil_free_wiped(s, sizeof *s);
}

size_t veil_sanitize_session_count(const veil_sanitize_session *s) { return s ? s->n : 0; }

bool veil_sanitize_is_blocked(veil_result r)
{
    return r.cls == VEIL_E_PROTOCOL && r.msg && strcmp(r.msg, VEIL_SANITIZE_BLOCKED) == 0;
}

/* "EMAIL", or a custom pattern's name in capitals. */
static const char *tag(const veil_sanitize_policy *p, const veil_san_finding *f, size_t idx)
{
    static const char *const tags[VEIL_SAN_NTYPES] = {"EMAIL", "PHONE", "CARD",   "IBAN",   "SSN",
                                                      "IP",    "IPV6",  "SECRET", "CUSTOM", "TERM"};
    return f->type == VEIL_SAN_CUSTOM ? p->custom[idx].upper : tags[f->type];
}

static size_t custom_index(const veil_sanitize_policy *p, const veil_san_finding *f)
{
    for (size_t i = 0; f->type == VEIL_SAN_CUSTOM && i < p->n_custom; i++)
        if (f->label == p->custom[i].name)
            return i;
    return 0;
}

static bool contains(const char *h, size_t hn, const char *n, size_t nn)
{
    for (size_t i = 0; nn && i + nn <= hn; i++)
        if (h[i] == n[0] && strncmp(h + i, n, nn) == 0)
            return true;
    return false;
}

/* A fresh "<TAG_N>" that does not already occur in the text, so restoring
 * cannot turn the text's own "<EMAIL_1>" into someone's address. */
static veil_result fresh_placeholder(veil_sanitize_session *s, const veil_san_finding *f,
                                     size_t idx, const char *text, size_t tlen, pseudonym *q)
{
    size_t slot = f->type == VEIL_SAN_CUSTOM ? VEIL_SAN_NTYPES + idx : f->type;
    for (unsigned tries = 0; tries <= VEIL_SANITIZE_MAX_FINDINGS; tries++) {
        int k =
            snprintf(q->ph, sizeof q->ph, "<%s_%u>", tag(s->policy, f, idx), ++s->counter[slot]);
        q->ph_len = (size_t)k;
        if (!contains(text, tlen, q->ph, q->ph_len))
            return VEIL_OK;
    }
    return VEIL_ERR(VEIL_E_NOMEM, "sanitize: no free placeholder");
}

static veil_result pseudonym_for(veil_sanitize_session *s, const veil_san_finding *f,
                                 const char *text, size_t tlen, size_t idx, const char **ph)
{
    const char *value = text + f->start;
    size_t len = f->end - f->start;
    for (size_t i = 0; i < s->n; i++) {
        pseudonym *q = &s->v[i];
        if (q->type == f->type && q->idx == idx && q->len == len &&
            veil_ct_equal(q->value, value, len)) {
            *ph = q->ph;
            return VEIL_OK;
        }
    }
    VEIL_ENSURE(s->n < VEIL_SANITIZE_MAX_PSEUDONYMS, VEIL_E_NOMEM,
                "sanitize: too many pseudonyms in one session");
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        pseudonym *v = veil_calloc(cap, sizeof *v);
        VEIL_ENSURE(v, VEIL_E_NOMEM, "sanitize: out of memory");
        if (s->n)
            memcpy(v, s->v, s->n * sizeof *v);
        veil_free_wiped(s->v, s->cap * sizeof *s->v);
        s->v = v;
        s->cap = cap;
    }
    pseudonym *q = &s->v[s->n];
    VEIL_GUARD(fresh_placeholder(s, f, idx, text, tlen, q));
    q->value = veil_calloc(len + 1, 1);
    VEIL_ENSURE(q->value, VEIL_E_NOMEM, "sanitize: out of memory");
    memcpy(q->value, value, len);
    q->len = len;
    q->type = f->type;
    q->idx = idx;
    s->n++;
    *ph = q->ph;
    return VEIL_OK;
}

static veil_result act(veil_sanitize_session *s, veil_san_finding *f, const char *text, size_t len)
{
    size_t idx = custom_index(s->policy, f);
    if (f->action == VEIL_SAN_REDACT) {
        snprintf(f->placeholder, sizeof f->placeholder, "[%s]", tag(s->policy, f, idx));
    } else if (f->action == VEIL_SAN_PSEUDONYMIZE) {
        const char *ph = NULL;
        VEIL_GUARD(pseudonym_for(s, f, text, len, idx, &ph));
        snprintf(f->placeholder, sizeof f->placeholder, "%s", ph);
    }
    return VEIL_OK;
}

veil_result veil_sanitize_text(veil_sanitize_session *s, const char *text, size_t len,
                               veil_buf *out, veil_san_finding **findings, size_t *nfind)
{
    veil_result r = VEIL_OK;
    veil_san_finding *f = NULL;
    size_t n = 0, at = 0;
    bool blocked = false;
    if (findings)
        *findings = NULL;
    if (nfind)
        *nfind = 0;
    VEIL_ENSURE(s && out && (text || !len), VEIL_E_USAGE, "sanitize: missing session or output");
    if (!text)
        text = "";
    VEIL_GUARD(veil_sanitize_scan(s->policy, text, len, &f, &n));
    for (size_t i = 0; i < n; i++)
        blocked = blocked || f[i].action == VEIL_SAN_BLOCK;
    VEIL_ENSURE_GOTO(r, !blocked, VEIL_E_PROTOCOL, VEIL_SANITIZE_BLOCKED);
    for (size_t i = 0; i < n; i++) {
        VEIL_TRY(r, act(s, &f[i], text, len));
        VEIL_TRY(r, veil_buf_append(out, text + at, f[i].start - at));
        VEIL_TRY(r, veil_buf_append(out, f[i].placeholder, strlen(f[i].placeholder)));
        at = f[i].end;
    }
    VEIL_TRY(r, veil_buf_append(out, text + at, len - at));
out:
    if (findings) {
        *findings = f;
        *nfind = n;
        f = NULL;
    }
    veil_free(f);
    return r;
}

/* ---- restoring ---- */

struct veil_sanitize_restorer {
    const veil_sanitize_session *s;
    veil_buf held; /* a tail that may be the start of a placeholder */
};

veil_result veil_sanitize_restorer_new(const veil_sanitize_session *s, veil_sanitize_restorer **out)
{
    VEIL_ENSURE(s && out, VEIL_E_USAGE, "sanitize: missing session");
    *out = veil_calloc(1, sizeof **out);
    VEIL_ENSURE(*out, VEIL_E_NOMEM, "sanitize: out of memory");
    (*out)->s = s;
    veil_buf_init(&(*out)->held, VEIL_SANITIZE_PLACEHOLDER_MAX + (size_t)VEIL_SANITIZE_MAX_TEXT);
    return VEIL_OK;
}

void veil_sanitize_restorer_free(veil_sanitize_restorer *r)
{
    if (!r)
        return;
    veil_buf_free(&r->held);
    veil_free_wiped(r, sizeof *r);
}

typedef enum ph_match { PH_NONE, PH_FULL, PH_PARTIAL } ph_match;

/* Does p[0..n) (starting with '<') begin with an issued placeholder, or is
 * it the beginning of one that the next piece may complete? */
static ph_match match_at(const veil_sanitize_session *s, const char *p, size_t n, size_t *which)
{
    ph_match best = PH_NONE;
    for (size_t i = 0; i < s->n; i++) {
        const pseudonym *q = &s->v[i];
        size_t k = n < q->ph_len ? n : q->ph_len;
        if (strncmp(p, q->ph, k) != 0)
            continue;
        if (n >= q->ph_len) {
            *which = i;
            return PH_FULL;
        }
        best = PH_PARTIAL;
    }
    return best;
}

/* Restore held[0..), keeping back a possible partial placeholder at the
 * end unless `final`. */
static veil_result drain(veil_sanitize_restorer *r, veil_buf *out, bool final)
{
    const char *p = (const char *)r->held.data;
    size_t n = r->held.len, i = 0;
    while (i < n) {
        const char *lt = memchr(p + i, '<', n - i);
        size_t stop = lt ? (size_t)(lt - p) : n;
        VEIL_GUARD(veil_buf_append(out, p + i, stop - i));
        i = stop;
        if (i == n)
            break;
        size_t which = 0;
        ph_match m = match_at(r->s, p + i, n - i, &which);
        if (m == PH_FULL) {
            const pseudonym *q = &r->s->v[which];
            VEIL_GUARD(veil_buf_append(out, q->value, q->len));
            i += q->ph_len;
        } else if (m == PH_PARTIAL && !final) {
            break;
        } else {
            VEIL_GUARD(veil_buf_append(out, "<", 1));
            i++;
        }
    }
    if (i > 0) {
        memmove(r->held.data, r->held.data + i, n - i);
        veil_wipe(r->held.data + (n - i), i);
        r->held.len = n - i;
    }
    return VEIL_OK;
}

veil_result veil_sanitize_restorer_feed(veil_sanitize_restorer *r, const char *p, size_t n,
                                        veil_buf *out)
{
    VEIL_ENSURE(r && out && (p || !n), VEIL_E_USAGE, "sanitize: missing restorer or output");
    if (n)
        VEIL_GUARD(veil_buf_append(&r->held, p, n));
    return drain(r, out, false);
}

veil_result veil_sanitize_restorer_finish(veil_sanitize_restorer *r, veil_buf *out)
{
    VEIL_ENSURE(r && out, VEIL_E_USAGE, "sanitize: missing restorer or output");
    return drain(r, out, true);
}

veil_result veil_sanitize_restore(const veil_sanitize_session *s, const char *text, size_t len,
                                  veil_buf *out)
{
    veil_sanitize_restorer *r = NULL;
    VEIL_GUARD(veil_sanitize_restorer_new(s, &r));
    veil_result res = veil_sanitize_restorer_feed(r, text, len, out);
    if (veil_ok(res))
        res = veil_sanitize_restorer_finish(r, out);
    veil_sanitize_restorer_free(r);
    return res;
}
