/* Detection: every enabled detector reports candidates, custom patterns
 * run through POSIX regexec over a bounded copy, deny-listed terms match
 * case-insensitively on word boundaries, and overlaps are resolved the same
 * way every time: the longest span wins, then the detector's priority
 * (custom patterns, deny-listed terms, then veil_san_type order), then the
 * earlier start. */
#include <stdlib.h>
#include <string.h>

#include "sanitize/sanitize_internal.h"
#include "veil/mem.h"

veil_result san_add(san_list *l, size_t start, size_t end, veil_san_type t, size_t idx)
{
    if (l->n == l->cap) {
        VEIL_ENSURE(l->cap < SAN_MAX_CANDIDATES, VEIL_E_NOMEM,
                    "sanitize: too many findings in one text");
        size_t cap = l->cap ? l->cap * 2 : 16;
        san_span *v = veil_calloc(cap, sizeof *v);
        VEIL_ENSURE(v, VEIL_E_NOMEM, "sanitize: out of memory");
        if (l->n)
            memcpy(v, l->v, l->n * sizeof *v);
        veil_free(l->v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (san_span){start, end, t, idx};
    return VEIL_OK;
}

void san_list_free(san_list *l)
{
    veil_free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static veil_result scan_custom(const veil_sanitize_policy *p, const char *t, size_t n,
                               san_list *out)
{
    veil_result r = VEIL_OK;
    VEIL_ENSURE(n <= VEIL_SANITIZE_MAX_REGEX_TEXT, VEIL_E_NOMEM,
                "sanitize: the text is too long for custom patterns");
    char *buf = veil_calloc(n + 1, 1);
    VEIL_ENSURE(buf, VEIL_E_NOMEM, "sanitize: out of memory");
    for (size_t i = 0; i < n; i++)
        buf[i] = t[i] ? t[i] : ' '; /* regexec reads C strings */
    for (size_t k = 0; k < p->n_custom && veil_ok(r); k++) {
        if (p->custom[k].action == VEIL_SAN_OFF)
            continue;
        size_t off = 0;
        regmatch_t m;
        while (off < n && veil_ok(r) &&
               regexec(&p->custom[k].re, buf + off, 1, &m,
                       off > 0 && buf[off - 1] != '\n' ? REG_NOTBOL : 0) == 0) {
            size_t s = off + (size_t)m.rm_so, e = off + (size_t)m.rm_eo;
            if (e > s)
                r = san_add(out, s, e, VEIL_SAN_CUSTOM, k);
            off = e > s ? e : s + 1;
        }
    }
    veil_free_wiped(buf, n + 1);
    return r;
}

static char lower(char c) { return san_upper(c) ? (char)(c - 'A' + 'a') : c; }

static veil_result scan_deny(const veil_sanitize_policy *p, const char *t, size_t n, san_list *out)
{
    for (size_t k = 0; k < p->n_terms; k++) {
        const char *w = p->terms[k];
        size_t wl = p->term_len[k];
        bool wb_start = san_word(w[0]), wb_end = san_word(w[wl - 1]);
        for (size_t i = 0; i + wl <= n; i++) {
            if (lower(t[i]) != w[0] || (wb_start && i > 0 && san_word(t[i - 1])))
                continue;
            size_t j = 1;
            while (j < wl && lower(t[i + j]) == w[j])
                j++;
            if (j < wl || (wb_end && i + wl < n && san_word(t[i + wl])))
                continue;
            VEIL_GUARD(san_add(out, i, i + wl, VEIL_SAN_DENY, k));
            i += wl - 1;
        }
    }
    return VEIL_OK;
}

static veil_result collect(const veil_sanitize_policy *p, const char *t, size_t n, san_list *c)
{
    const veil_san_action *a = p->action;
    if (a[VEIL_SAN_EMAIL])
        VEIL_GUARD(san_email(t, n, c));
    if (a[VEIL_SAN_PHONE])
        VEIL_GUARD(san_phone(t, n, c));
    if (a[VEIL_SAN_CARD])
        VEIL_GUARD(san_card(t, n, c));
    if (a[VEIL_SAN_IBAN])
        VEIL_GUARD(san_iban(t, n, c));
    if (a[VEIL_SAN_SSN])
        VEIL_GUARD(san_ssn(t, n, c));
    if (a[VEIL_SAN_IPV4])
        VEIL_GUARD(san_ipv4(t, n, c));
    if (a[VEIL_SAN_IPV6])
        VEIL_GUARD(san_ipv6(t, n, c));
    if (a[VEIL_SAN_SECRET])
        VEIL_GUARD(san_secret(t, n, p->secret_min_length, p->secret_min_entropy, c));
    if (p->n_custom)
        VEIL_GUARD(scan_custom(p, t, n, c));
    if (p->n_terms && p->deny_action)
        VEIL_GUARD(scan_deny(p, t, n, c));
    return VEIL_OK;
}

static unsigned prio(const san_span *s)
{
    if (s->type == VEIL_SAN_CUSTOM)
        return (unsigned)s->idx;
    if (s->type == VEIL_SAN_DENY)
        return VEIL_SANITIZE_MAX_CUSTOM;
    return VEIL_SANITIZE_MAX_CUSTOM + 1 + (unsigned)s->type;
}

static int by_rank(const void *a, const void *b)
{
    const san_span *x = a, *y = b;
    size_t lx = x->end - x->start, ly = y->end - y->start;
    if (lx != ly)
        return lx > ly ? -1 : 1;
    if (prio(x) != prio(y))
        return prio(x) < prio(y) ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int by_start(const void *a, const void *b)
{
    const veil_san_finding *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static veil_san_action action_of(const veil_sanitize_policy *p, const san_span *s)
{
    if (s->type == VEIL_SAN_CUSTOM)
        return p->custom[s->idx].action;
    if (s->type == VEIL_SAN_DENY)
        return p->deny_action;
    return p->action[s->type];
}

/* Keep the best of every overlapping set (see the top of this file). */
static veil_result resolve(const veil_sanitize_policy *p, san_list *c, size_t n,
                           veil_san_finding **out, size_t *nout)
{
    veil_result r = VEIL_OK;
    unsigned char *taken = veil_calloc(n ? n : 1, 1);
    veil_san_finding *f = veil_calloc(c->n ? c->n : 1, sizeof *f);
    size_t k = 0;
    VEIL_ENSURE_GOTO(r, taken && f, VEIL_E_NOMEM, "sanitize: out of memory");
    if (c->n)
        qsort(c->v, c->n, sizeof *c->v, by_rank);
    for (size_t i = 0; i < c->n; i++) {
        const san_span *s = &c->v[i];
        bool free_span = true;
        for (size_t b = s->start; b < s->end && free_span; b++)
            free_span = !taken[b];
        if (!free_span)
            continue;
        memset(taken + s->start, 1, s->end - s->start);
        VEIL_ENSURE_GOTO(r, k < VEIL_SANITIZE_MAX_FINDINGS, VEIL_E_NOMEM,
                         "sanitize: too many findings in one text");
        f[k] = (veil_san_finding){.type = s->type,
                                  .label = s->type == VEIL_SAN_CUSTOM ? p->custom[s->idx].name
                                                                      : veil_san_type_name(s->type),
                                  .start = s->start,
                                  .end = s->end,
                                  .action = action_of(p, s)};
        k++;
    }
    if (k)
        qsort(f, k, sizeof *f, by_start);
    *out = f;
    *nout = k;
    f = NULL;
out:
    veil_free(taken);
    veil_free(f);
    return r;
}

veil_result veil_sanitize_scan(const veil_sanitize_policy *p, const char *text, size_t len,
                               veil_san_finding **out, size_t *n)
{
    VEIL_ENSURE(p && (text || !len) && out && n, VEIL_E_USAGE, "sanitize: missing argument");
    *out = NULL;
    *n = 0;
    VEIL_ENSURE(len <= VEIL_SANITIZE_MAX_TEXT, VEIL_E_NOMEM, "sanitize: the text is too long");
    san_list c = {0};
    veil_result r = collect(p, text ? text : "", len, &c);
    if (veil_ok(r))
        r = resolve(p, &c, len, out, n);
    san_list_free(&c);
    return r;
}
