/* Phone numbers: international (E.164 written with '+' or "00", with or
 * without spaces), North American ((555) 123-4567, 555-123-4567, with an
 * optional leading 1) and national numbers with a trunk '0' and separators
 * (UK 020 7946 0958, DE 030 12345678, FR 01 23 45 67 89). A number is a run
 * of digit groups joined by single separators; plain digit strings without
 * a '+' or separators are left alone (order numbers, amounts), as are runs
 * glued to words, dots or dashes (versions, references, dates). */
#include <string.h>

#include "sanitize/sanitize_internal.h"

#define PH_MAX_GROUPS 8

typedef struct ph_run {
    size_t start;
    bool plus;
    size_t ng;
    size_t gs[PH_MAX_GROUPS], ge[PH_MAX_GROUPS]; /* digits of group k */
    size_t end[PH_MAX_GROUPS];                   /* after group k (a ')' included) */
    bool paren[PH_MAX_GROUPS];
    char sep_after[PH_MAX_GROUPS]; /* the separator that follows group k, or 0 */
} ph_run;

static bool ph_sep(char c) { return c == ' ' || c == '-' || c == '.' || c == '/'; }

/* Read the groups starting at t[i]. */
static void ph_scan(const char *t, size_t n, size_t i, ph_run *r)
{
    size_t pos = i;
    memset(r, 0, sizeof *r);
    r->start = i;
    if (t[pos] == '+') {
        r->plus = true;
        pos++;
    }
    while (r->ng < PH_MAX_GROUPS && pos < n) {
        size_t k = r->ng;
        bool paren = t[pos] == '(';
        if (paren)
            pos++;
        r->gs[k] = pos;
        while (pos < n && san_digit(t[pos]) && pos - r->gs[k] < 12)
            pos++;
        r->ge[k] = pos;
        if (pos == r->gs[k] || (paren && (pos >= n || t[pos] != ')')))
            return;
        if (paren)
            pos++;
        r->paren[k] = paren;
        r->end[k] = pos;
        r->ng++;
        if (pos < n && paren && (san_digit(t[pos]) || t[pos] == '('))
            continue; /* "(555)123-4567", "(0)20" */
        if (pos + 1 < n && ph_sep(t[pos]) && (san_digit(t[pos + 1]) || t[pos + 1] == '(')) {
            r->sep_after[k] = t[pos];
            pos++;
            continue;
        }
        if (pos + 2 < n && t[pos] == ' ' && t[pos + 1] == '(' && san_digit(t[pos + 2])) {
            r->sep_after[k] = ' ';
            pos++;
            continue;
        }
        return;
    }
}

static size_t glen(const ph_run *r, size_t k) { return r->ge[k] - r->gs[k]; }

static size_t digits_in(const ph_run *r, size_t k)
{
    size_t d = 0;
    for (size_t i = 0; i < k; i++)
        d += glen(r, i);
    return d;
}

static bool nanp(const char *t, const ph_run *r, size_t k)
{
    size_t f = 0;
    if (k == 4 && glen(r, 0) == 1 && t[r->gs[0]] == '1')
        f = 1;
    if (k - f != 3 || glen(r, f) != 3 || glen(r, f + 1) != 3 || glen(r, f + 2) != 4)
        return false;
    /* Exchanges starting with 0 or 1 are unassigned but common in examples
     * ("(555) 123-4567"): only the area code is checked. */
    return t[r->gs[f]] >= '2' && !r->paren[f + 1] && !r->paren[f + 2];
}

static bool national(const char *t, const ph_run *r, size_t k)
{
    size_t d = digits_in(r, k);
    const char *g0 = t + r->gs[0];
    if (k < 2 || d < 10 || d > 12 || g0[0] != '0' || glen(r, 0) < 2 || glen(r, 0) > 5 ||
        g0[1] == '0')
        return false;
    for (size_t i = 1; i < k; i++)
        if (glen(r, i) < 2 || r->paren[i])
            return false;
    return true;
}

static bool international(const char *t, const ph_run *r, size_t k)
{
    size_t d = digits_in(r, k);
    const char *g0 = t + r->gs[0];
    if (r->plus)
        return d >= 8 && d <= 15 && g0[0] != '0' && !r->paren[0];
    /* "00" as the international call prefix: 0049 30 12345678 */
    return k >= 2 && glen(r, 0) >= 4 && g0[0] == '0' && g0[1] == '0' && g0[2] != '0' && d >= 11 &&
           d <= 17;
}

/* The token before a single space holds a digit ("GR16 0110 1250 ..."):
 * these digits continue some longer code, not a phone number. */
static bool continues_code(const char *t, size_t i)
{
    if (i < 2 || t[i - 1] != ' ')
        return false;
    for (size_t k = i - 1; k > 0 && san_alnum(t[k - 1]); k--)
        if (san_digit(t[k - 1]))
            return true;
    return false;
}

veil_result san_phone(const char *t, size_t n, san_list *out)
{
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!(san_digit(c) || ((c == '+' || c == '(') && i + 1 < n && san_digit(t[i + 1]))))
            continue;
        if (i > 0 && (san_word(t[i - 1]) || t[i - 1] == '.' || t[i - 1] == '-' || t[i - 1] == '/' ||
                      t[i - 1] == '+' || t[i - 1] == '$' ||
                      (t[i - 1] == ',' && i > 1 && san_digit(t[i - 2])) || continues_code(t, i)))
            continue;
        ph_run r;
        ph_scan(t, n, i, &r);
        if (r.ng == 0)
            continue;
        size_t run_end = r.end[r.ng - 1];
        bool run_bounded =
            run_end == n || !(san_word(t[run_end]) ||
                              ((t[run_end] == '.' || t[run_end] == ',' || t[run_end] == ':') &&
                               run_end + 1 < n && san_digit(t[run_end + 1])));
        /* A shorter prefix only where the rest follows after a space. */
        for (size_t k = r.ng; k >= 1; k--) {
            if (k < r.ng ? r.sep_after[k - 1] != ' ' : !run_bounded)
                continue;
            if (international(t, &r, k) || (!r.plus && (nanp(t, &r, k) || national(t, &r, k)))) {
                VEIL_GUARD(san_add(out, i, r.end[k - 1], VEIL_SAN_PHONE, 0));
                break;
            }
        }
        i = run_end > i ? run_end - 1 : i;
    }
    return VEIL_OK;
}
