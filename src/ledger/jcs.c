/* RFC 8785 JSON Canonicalization Scheme (JCS) over jansson values.
 *
 *   §3.2.1  no whitespace; literals as "null", "true", "false"
 *   §3.2.2.2 strings: only '"', '\\' and U+0000..U+001F escaped, the five
 *           short forms \b \t \n \f \r, the rest \u00xx in lower case;
 *           everything else (U+007F, non-ASCII) written as raw UTF-8
 *   §3.2.2.3 numbers: ECMAScript Number.prototype.toString of the double
 *   §3.2.3  object members sorted by the UTF-16 code units of their names,
 *           recursively, compared as unsigned 16-bit integers
 *
 * Integers (jansson json_int_t) are accepted only within ±2^53, where they
 * are exact doubles and ECMAScript writes their plain decimal digits; larger
 * ones would change value on the way through a double, so they are refused
 * rather than rounded. The same goes for a double whose canonical text would
 * be an integer beyond ±2^53 (below 10^21 ECMAScript writes integral values
 * without an exponent), so every integer in the output is within ±2^53 and
 * canonical text always reads back to itself. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veil/ledger.h"
#include "veil/mem.h"

#define INT53 ((json_int_t)1 << 53)

/* One UTF-8 code point, strictly (RFC 3629: no overlongs, no surrogates, at
 * most U+10FFFF). Returns its length, or 0 when the bytes are not UTF-8. */
static size_t utf8_next(const uint8_t *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    uint8_t c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

static bool utf8_valid(const char *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_next((const uint8_t *)s + i, n - i, &cp);
        if (l == 0)
            return false;
        i += l;
    }
    return true;
}

/* Walks a valid UTF-8 string as UTF-16 code units. */
typedef struct u16_iter {
    const uint8_t *s;
    size_t n, off;
    uint16_t pending; /* low surrogate still to deliver, or 0 */
} u16_iter;

/* Next code unit, or -1 at the end. */
static int32_t u16_next(u16_iter *it)
{
    if (it->pending) {
        uint16_t lo = it->pending;
        it->pending = 0;
        return lo;
    }
    uint32_t cp;
    size_t l = utf8_next(it->s + it->off, it->n - it->off, &cp);
    if (l == 0)
        return -1; /* end (the strings were validated before sorting) */
    it->off += l;
    if (cp < 0x10000)
        return (int32_t)cp;
    cp -= 0x10000;
    it->pending = (uint16_t)(0xDC00 | (cp & 0x3FF));
    return (int32_t)(0xD800 | (cp >> 10));
}

typedef struct member {
    const char *key;
    size_t key_len;
    json_t *value;
} member;

/* §3.2.3: "sorted ... using the UTF-16 code units of the property names" */
static int member_cmp(const void *pa, const void *pb)
{
    const member *a = pa, *b = pb;
    u16_iter ia = {(const uint8_t *)a->key, a->key_len, 0, 0};
    u16_iter ib = {(const uint8_t *)b->key, b->key_len, 0, 0};
    for (;;) {
        int32_t ca = u16_next(&ia), cb = u16_next(&ib);
        if (ca != cb)
            return ca < cb ? -1 : 1; /* -1 (end) sorts a prefix first */
        if (ca < 0)
            return 0;
    }
}

static veil_result put(veil_buf *out, const char *s, size_t n)
{
    return veil_buf_append(out, s, n);
}

/* §3.2.2.2 */
static veil_result put_string(veil_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    VEIL_ENSURE(utf8_valid(s, n), VEIL_E_PROTOCOL, "jcs: string is not valid UTF-8");
    VEIL_GUARD(put(out, "\"", 1));
    size_t run = 0; /* start of the pending run of bytes written as is */
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        char esc[6];
        size_t elen = 2;
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case 0x08: esc[1] = 'b'; break;
        case 0x09: esc[1] = 't'; break;
        case 0x0A: esc[1] = 'n'; break;
        case 0x0C: esc[1] = 'f'; break;
        case 0x0D: esc[1] = 'r'; break;
        default:
            if (c >= 0x20)
                continue;
            esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
            elen = 6;
        }
        VEIL_GUARD(put(out, s + run, i - run));
        VEIL_GUARD(put(out, esc, elen));
        run = i + 1;
    }
    VEIL_GUARD(put(out, s + run, n - run));
    return put(out, "\"", 1);
}

/* Parse "%.*e" output ("d.ddde±x", no sign) into its digits and exponent. */
static void split_sci(const char *buf, char *digits, int *ndig, int *exp10)
{
    int k = 0;
    const char *p = buf;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[k++] = *p;
    *ndig = k;
    *exp10 = *p == 'e' ? atoi(p + 1) : 0;
}

/* Does digits × 10^(exp10 - ndig + 1) read back as exactly a? Built without a
 * decimal point so the C locale's radix character cannot interfere. */
static bool round_trips(const char *digits, int ndig, int exp10, double a)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%.*se%d", ndig, digits, exp10 - ndig + 1);
    return strtod(buf, NULL) == a;
}

/* The neighbour one unit in the last place up (dir 1) or down (dir -1) of a
 * p-digit decimal, kept at p digits. */
static void neighbour(const char *digits, int p, int exp10, int dir, char *nd, int *nexp)
{
    memcpy(nd, digits, (size_t)p);
    *nexp = exp10;
    int i = p - 1;
    if (dir > 0) {
        while (i >= 0 && nd[i] == '9')
            nd[i--] = '0';
        if (i >= 0) {
            nd[i]++;
        } else { /* 99..9 + 1 = 100..0, one decade up */
            nd[0] = '1';
            (*nexp)++;
        }
    } else {
        while (i >= 0 && nd[i] == '0')
            nd[i--] = '9';
        nd[i]--;            /* digits[0] is never '0' */
        if (nd[0] == '0') { /* 100..0 - 1 = 99..9, one decade down */
            memset(nd, '9', (size_t)p);
            (*nexp)--;
        }
    }
}

/* Shortest decimal digits s (no trailing zeros) and exponent so that
 * s[0].s[1..] × 10^exp10 reads back as a, closest to a among the shortest
 * (ECMA-262 Number::toString step 5). a is finite and > 0. */
static void shortest(double a, char digits[20], int *ndig, int *exp10)
{
    char buf[48], nd[20];
    int k = 0, e = 0, ne;
    for (int p = 1; p <= 17; p++) {
        /* the correctly rounded p-digit decimal is the closest one to a */
        snprintf(buf, sizeof buf, "%.*e", p - 1, a);
        split_sci(buf, digits, &k, &e);
        if (round_trips(digits, k, e, a))
            break;
        /* at a power of two the round-trip interval is lopsided, so a
         * p-digit neighbour on the far side may read back when it fails */
        neighbour(digits, k, e, 1, nd, &ne);
        if (round_trips(nd, k, ne, a)) {
            memcpy(digits, nd, (size_t)k);
            e = ne;
            break;
        }
        neighbour(digits, k, e, -1, nd, &ne);
        if (round_trips(nd, k, ne, a)) {
            memcpy(digits, nd, (size_t)k);
            e = ne;
            break;
        }
    }
    while (k > 1 && digits[k - 1] == '0')
        k--;
    *ndig = k;
    *exp10 = e;
}

veil_result veil_jcs_number(double v, char out[VEIL_JCS_NUMBER_MAX])
{
    out[0] = '\0';
    VEIL_ENSURE(isfinite(v), VEIL_E_PROTOCOL,
                "jcs: NaN and infinity have no JSON form (RFC 8785 §3.2.2.3)");
    if (v == 0) { /* +0 and -0 are both "0" */
        out[0] = '0', out[1] = '\0';
        return VEIL_OK;
    }
    char d[20], *o = out;
    int k, e;
    if (v < 0)
        *o++ = '-';
    shortest(v < 0 ? -v : v, d, &k, &e);
    int n = e + 1; /* value = 0.d1..dk × 10^n */
    if (k <= n && n <= 21) {
        /* digits then n - k zeros */
        memcpy(o, d, (size_t)k), o += k;
        memset(o, '0', (size_t)(n - k)), o += n - k;
    } else if (0 < n && n <= 21) {
        memcpy(o, d, (size_t)n), o += n;
        *o++ = '.';
        memcpy(o, d + n, (size_t)(k - n)), o += k - n;
    } else if (-6 < n && n <= 0) {
        *o++ = '0', *o++ = '.';
        memset(o, '0', (size_t)-n), o += -n;
        memcpy(o, d, (size_t)k), o += k;
    } else {
        *o++ = d[0];
        if (k > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)(k - 1)), o += k - 1;
        }
        o += snprintf(o, 8, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
    }
    *o = '\0';
    return VEIL_OK;
}

static veil_result put_value(veil_buf *out, const json_t *v, unsigned depth);

static veil_result put_object(veil_buf *out, const json_t *v, unsigned depth)
{
    size_t n = json_object_size(v), i = 0;
    member *m = NULL;
    veil_result res = VEIL_OK;
    const char *key;
    size_t key_len;
    json_t *val;

    if (n) {
        m = veil_calloc(n, sizeof *m);
        VEIL_ENSURE_GOTO(res, m != NULL, VEIL_E_NOMEM, "jcs: out of memory sorting an object");
    }
    json_object_keylen_foreach((json_t *)v, key, key_len, val)
    {
        VEIL_ENSURE_GOTO(res, i < n, VEIL_E_INTERNAL, "jcs: object changed while serialised");
        VEIL_ENSURE_GOTO(res, utf8_valid(key, key_len), VEIL_E_PROTOCOL,
                         "jcs: member name is not valid UTF-8");
        m[i++] = (member){key, key_len, val};
    }
    VEIL_ENSURE_GOTO(res, i == n, VEIL_E_INTERNAL, "jcs: object changed while serialised");
    if (n > 1)
        qsort(m, n, sizeof *m, member_cmp);
    VEIL_TRY(res, put(out, "{", 1));
    for (i = 0; i < n; i++) {
        if (i)
            VEIL_TRY(res, put(out, ",", 1));
        VEIL_TRY(res, put_string(out, m[i].key, m[i].key_len));
        VEIL_TRY(res, put(out, ":", 1));
        VEIL_TRY(res, put_value(out, m[i].value, depth + 1));
    }
    VEIL_TRY(res, put(out, "}", 1));
out:
    veil_free(m);
    return res;
}

static veil_result put_value(veil_buf *out, const json_t *v, unsigned depth)
{
    char num[VEIL_JCS_NUMBER_MAX];
    VEIL_ENSURE(v != NULL, VEIL_E_USAGE, "jcs: value is NULL");
    VEIL_ENSURE(depth < VEIL_JCS_MAX_DEPTH || !(json_is_array(v) || json_is_object(v)),
                VEIL_E_PROTOCOL, "jcs: JSON nested more than 128 levels deep");
    switch (json_typeof(v)) {
    case JSON_NULL: return put(out, "null", 4);
    case JSON_TRUE: return put(out, "true", 4);
    case JSON_FALSE: return put(out, "false", 5);
    case JSON_STRING: return put_string(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        VEIL_ENSURE(i >= -INT53 && i <= INT53, VEIL_E_PROTOCOL,
                    "jcs: integer outside ±2^53 is not exact in JSON (RFC 8785 §3.2.2.3)");
        int len = snprintf(num, sizeof num, "%lld", (long long)i);
        return put(out, num, (size_t)len);
    }
    case JSON_REAL: {
        /* An integral double in (2^53, 10^21) is written as a bare integer
         * (e.g. 1e20 -> "100000000000000000000"), which reads back as an
         * integer out of range: the same rule as for integers applies. */
        double d = json_real_value(v), mag = d < 0 ? -d : d;
        /* (every double above 2^53 is integral) */
        VEIL_ENSURE(!(mag > 0x1p53 && mag < 1e21), VEIL_E_PROTOCOL,
                    "jcs: integer outside ±2^53 is not exact in JSON (RFC 8785 §3.2.2.3)");
        VEIL_GUARD(veil_jcs_number(d, num));
        return put(out, num, strlen(num));
    }
    case JSON_ARRAY: {
        VEIL_GUARD(put(out, "[", 1));
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                VEIL_GUARD(put(out, ",", 1));
            VEIL_GUARD(put_value(out, json_array_get(v, i), depth + 1));
        }
        return put(out, "]", 1);
    }
    case JSON_OBJECT: return put_object(out, v, depth);
    }
    return VEIL_ERR(VEIL_E_INTERNAL, "jcs: unknown jansson type");
}

veil_result veil_jcs_serialize(const json_t *v, veil_buf *out)
{
    size_t mark = out->len;
    veil_result r = put_value(out, v, 0);
    if (!veil_ok(r) && out->len > mark) { /* leave out as it was */
        veil_wipe(out->data + mark, out->len - mark);
        out->len = mark;
    }
    return r;
}

veil_result veil_jcs_canonicalize(const uint8_t *json, size_t len, veil_buf *out)
{
    VEIL_ENSURE(json != NULL || len == 0, VEIL_E_USAGE, "jcs: input is NULL");
    json_t *v = json_loadb((const char *)json, len,
                           JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    VEIL_ENSURE(v != NULL, VEIL_E_PROTOCOL,
                "jcs: input is not valid JSON (or repeats a member name)");
    veil_result r = veil_jcs_serialize(v, out);
    json_decref(v);
    return r;
}
