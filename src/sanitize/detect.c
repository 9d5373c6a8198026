/* Hand-written detectors with checksums and boundaries: e-mail addresses,
 * payment cards (Luhn + issuer prefixes), IBANs (per-country length +
 * mod-97), US SSNs (SSA's invalid ranges excluded), IPv4 and IPv6. Each
 * scans once from left to right and reports candidates; overlaps are
 * resolved by the caller. */
#include <arpa/inet.h>
#include <string.h>

#include "sanitize/sanitize_internal.h"

/* ---- e-mail ---- */

static bool local_ch(char c)
{
    return san_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c == '\'';
}

static bool label_ch(char c) { return san_alnum(c) || c == '-'; }

/* The domain after '@' at t[at]: labels joined by dots, at least two, the
 * last alphabetic (a TLD). Returns its end, or 0 when there is none. */
static size_t email_domain(const char *t, size_t n, size_t at)
{
    size_t pos = at + 1, end = 0, labels = 0, last = 0;
    while (pos < n && labels < 64) {
        size_t s = pos;
        while (pos < n && label_ch(t[pos]) && pos - s < 64)
            pos++;
        if (pos == s || t[s] == '-' || t[pos - 1] == '-')
            break;
        labels++;
        last = s;
        end = pos;
        if (pos + 1 < n && t[pos] == '.' && label_ch(t[pos + 1]))
            pos++;
        else
            break;
    }
    if (labels < 2 || end - last < 2)
        return 0;
    for (size_t i = last; i < end; i++)
        if (!san_upper(t[i]) && !san_lower(t[i]))
            return 0;
    if (end < n && (san_word(t[end]) || t[end] == '@'))
        return 0;
    return end;
}

veil_result san_email(const char *t, size_t n, san_list *out)
{
    for (size_t i = 1; i + 1 < n; i++) {
        if (t[i] != '@')
            continue;
        size_t s = i;
        while (s > 0 && i - s < 64 && local_ch(t[s - 1]))
            s--;
        while (s < i && (t[s] == '.' || t[s] == '\'' || t[s] == '-'))
            s++; /* a local part starts with a letter or digit in practice */
        if (s == i || t[i - 1] == '.' || (s > 0 && (san_word(t[s - 1]) || t[s - 1] == '@')))
            continue;
        if (s >= 2 && t[s - 1] == '/' && t[s - 2] == '/')
            continue; /* a URL's userinfo ("https://token@host"), not an address */
        size_t e = email_domain(t, n, i);
        if (e)
            VEIL_GUARD(san_add(out, s, e, VEIL_SAN_EMAIL, 0));
    }
    return VEIL_OK;
}

/* ---- payment cards ---- */

bool san_luhn_ok(const char *d, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v = (unsigned)(d[n - 1 - i] - '0');
        if (i % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return n > 0 && sum % 10 == 0;
}

static unsigned prefix_num(const char *d, size_t k)
{
    unsigned v = 0;
    for (size_t i = 0; i < k; i++)
        v = v * 10 + (unsigned)(d[i] - '0');
    return v;
}

/* Issuer identification numbers of the major networks, with their lengths. */
bool san_card_prefix_ok(const char *d, size_t n)
{
    unsigned p1 = prefix_num(d, 1), p2 = prefix_num(d, 2), p3 = prefix_num(d, 3);
    unsigned p4 = prefix_num(d, 4), p6 = prefix_num(d, 6);
    if (p1 == 4) /* Visa */
        return n == 13 || n == 16 || n == 19;
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) /* Mastercard */
        return n == 16;
    if (p2 == 34 || p2 == 37) /* American Express */
        return n == 15;
    if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649) || (p6 >= 622126 && p6 <= 622925))
        return n >= 16 && n <= 19;                                    /* Discover */
    if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) /* Diners */
        return n >= 14 && n <= 19;
    if (p4 >= 3528 && p4 <= 3589) /* JCB */
        return n >= 16 && n <= 19;
    if (p2 == 62) /* UnionPay */
        return n >= 16 && n <= 19;
    if (p2 == 50 || (p2 >= 56 && p2 <= 58) || p2 == 63 || p2 == 67) /* Maestro */
        return n >= 13 && n <= 19;
    return false;
}

#define CARD_MAX_GROUPS 8

veil_result san_card(const char *t, size_t n, san_list *out)
{
    for (size_t i = 0; i < n; i++) {
        if (!san_digit(t[i]) || (i > 0 && (san_word(t[i - 1]) || t[i - 1] == '.' ||
                                           t[i - 1] == '-' || t[i - 1] == '+')))
            continue;
        char d[24];
        size_t nd = 0, ng = 0, gend[CARD_MAX_GROUPS], gdig[CARD_MAX_GROUPS], pos = i;
        bool too_long = false;
        while (ng < CARD_MAX_GROUPS) {
            while (pos < n && san_digit(t[pos])) {
                if (nd < 19)
                    d[nd] = t[pos];
                else
                    too_long = true;
                nd++;
                pos++;
            }
            gend[ng] = pos;
            gdig[ng++] = nd;
            if (pos + 1 < n && (t[pos] == ' ' || t[pos] == '-') && san_digit(t[pos + 1]))
                pos++;
            else
                break;
        }
        size_t run_end = gend[ng - 1];
        bool run_bounded =
            run_end == n || (!san_word(t[run_end]) &&
                             !(t[run_end] == '.' && run_end + 1 < n && san_digit(t[run_end + 1])));
        /* The whole run, else a prefix of its groups when the run goes on
         * with a space (a card number followed by an expiry or amount). */
        for (size_t k = ng; k >= 1; k--) {
            size_t dk = gdig[k - 1];
            bool bounded = k == ng ? run_bounded : t[gend[k - 1]] == ' ';
            if (dk < 13 || dk > 19 || (too_long && k == ng) || !bounded)
                continue;
            if (san_luhn_ok(d, dk) && san_card_prefix_ok(d, dk)) {
                VEIL_GUARD(san_add(out, i, gend[k - 1], VEIL_SAN_CARD, 0));
                break;
            }
        }
        i = run_end;
    }
    return VEIL_OK;
}

/* ---- IBAN ---- */

/* Lengths from the SWIFT IBAN registry. */
static const struct {
    char cc[3];
    unsigned char len;
} k_iban[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24},
    {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
    {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27},
    {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27},
    {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20}, {"MR", 27},
    {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24}, {"PL", 28},
    {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24}, {"SC", 31},
    {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23}, {"ST", 25}, {"SV", 28},
    {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
};

static size_t iban_len(char a, char b)
{
    for (size_t i = 0; i < sizeof k_iban / sizeof k_iban[0]; i++)
        if (k_iban[i].cc[0] == a && k_iban[i].cc[1] == b)
            return k_iban[i].len;
    return 0;
}

bool san_iban_ok(const char *s, size_t n)
{
    if (n < 15 || n > 34 || iban_len(s[0], s[1]) != n || !san_digit(s[2]) || !san_digit(s[3]))
        return false;
    unsigned rem = 0;
    for (size_t k = 0; k < n; k++) {
        char c = s[(k + 4) % n]; /* the first four characters move to the end */
        if (san_digit(c))
            rem = (rem * 10 + (unsigned)(c - '0')) % 97;
        else if (san_upper(c))
            rem = (rem * 100 + (unsigned)(c - 'A' + 10)) % 97;
        else
            return false;
    }
    return rem == 1;
}

static bool iban_ch(char c) { return san_digit(c) || san_upper(c); }

veil_result san_iban(const char *t, size_t n, san_list *out)
{
    for (size_t i = 0; i + 15 <= n; i++) {
        if (!san_upper(t[i]) || !san_upper(t[i + 1]) || !san_digit(t[i + 2]) ||
            !san_digit(t[i + 3]) || (i > 0 && san_word(t[i - 1])))
            continue;
        size_t want = iban_len(t[i], t[i + 1]), got = 4, pos = i + 4;
        char c[40];
        if (!want)
            continue;
        memcpy(c, t + i, 4);
        while (got < want && pos < n) {
            if (iban_ch(t[pos])) {
                c[got++] = t[pos++];
            } else if (t[pos] == ' ' && got % 4 == 0 && pos + 1 < n && iban_ch(t[pos + 1])) {
                pos++; /* printed form: groups of four */
            } else {
                break;
            }
        }
        if (got == want && (pos == n || !san_word(t[pos])) && san_iban_ok(c, got)) {
            VEIL_GUARD(san_add(out, i, pos, VEIL_SAN_IBAN, 0));
            i = pos - 1;
        }
    }
    return VEIL_OK;
}

/* ---- US social security numbers ---- */

static bool digits_at(const char *t, size_t n, size_t pos, size_t k)
{
    if (pos + k > n)
        return false;
    for (size_t i = 0; i < k; i++)
        if (!san_digit(t[pos + i]))
            return false;
    return true;
}

veil_result san_ssn(const char *t, size_t n, san_list *out)
{
    for (size_t i = 0; i + 11 <= n; i++) {
        char sep = t[i + 3];
        if ((sep != '-' && sep != ' ') || t[i + 6] != sep || !digits_at(t, n, i, 3) ||
            !digits_at(t, n, i + 4, 2) || !digits_at(t, n, i + 7, 4))
            continue;
        if (i > 0 && (san_word(t[i - 1]) || t[i - 1] == '-' || t[i - 1] == '.' || t[i - 1] == '+'))
            continue;
        size_t e = i + 11;
        if (e < n &&
            (san_word(t[e]) || ((t[e] == sep || t[e] == '.') && e + 1 < n && san_digit(t[e + 1]))))
            continue;
        unsigned area = prefix_num(t + i, 3), group = prefix_num(t + i + 4, 2);
        unsigned serial = prefix_num(t + i + 7, 4);
        if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0)
            continue;
        VEIL_GUARD(san_add(out, i, e, VEIL_SAN_SSN, 0));
    }
    return VEIL_OK;
}

/* ---- IP addresses ---- */

/* One dotted-quad octet at t[*pos]: 0..255 without leading zeros. */
static bool octet(const char *t, size_t n, size_t *pos)
{
    size_t s = *pos;
    unsigned v = 0;
    while (*pos < n && san_digit(t[*pos]) && *pos - s < 3)
        v = v * 10 + (unsigned)(t[(*pos)++] - '0');
    size_t k = *pos - s;
    if (k == 0 || v > 255 || (k > 1 && t[s] == '0'))
        return false;
    return *pos >= n || !san_digit(t[*pos]);
}

veil_result san_ipv4(const char *t, size_t n, san_list *out)
{
    for (size_t i = 0; i < n; i++) {
        if (!san_digit(t[i]) || (i > 0 && (san_word(t[i - 1]) || t[i - 1] == '.' ||
                                           t[i - 1] == '-' || t[i - 1] == ':')))
            continue;
        size_t pos = i;
        bool ok = true;
        for (int k = 0; k < 4 && ok; k++) {
            if (k > 0) {
                ok = pos < n && t[pos] == '.';
                pos++;
            }
            ok = ok && octet(t, n, &pos);
        }
        if (!ok)
            continue;
        if (pos < n && (san_word(t[pos]) ||
                        ((t[pos] == '.' || t[pos] == '-') && pos + 1 < n && san_alnum(t[pos + 1]))))
            continue;
        VEIL_GUARD(san_add(out, i, pos, VEIL_SAN_IPV4, 0));
        i = pos - 1;
    }
    return VEIL_OK;
}

static bool hex_ch(char c)
{
    return san_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

#define IPV6_MAX 45

/* Whether t[s..e) is an IPv6 address worth reporting: valid by inet_pton,
 * two colons or more and a digit somewhere (so "A::B" in code is not). */
static bool ipv6_ok(const char *t, size_t s, size_t e)
{
    char buf[IPV6_MAX + 1];
    unsigned char addr[16];
    size_t colons = 0;
    bool digit = false;
    if (e - s < 3 || e - s > IPV6_MAX)
        return false;
    for (size_t i = s; i < e; i++) {
        colons += t[i] == ':';
        digit = digit || san_digit(t[i]);
    }
    if (colons < 2 || !digit)
        return false;
    memcpy(buf, t + s, e - s);
    buf[e - s] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1;
}

veil_result san_ipv6(const char *t, size_t n, san_list *out)
{
    for (size_t i = 0; i < n; i++) {
        if (!(hex_ch(t[i]) || t[i] == ':') ||
            (i > 0 && (san_word(t[i - 1]) || t[i - 1] == ':' || t[i - 1] == '.')))
            continue;
        size_t e = i;
        while (e < n && e - i <= IPV6_MAX && (hex_ch(t[e]) || t[e] == ':' || t[e] == '.'))
            e++;
        size_t run = e;
        /* Sentence punctuation after the address: "... at fe80::1." */
        while (e > i && (t[e - 1] == '.' || (t[e - 1] == ':' && !(e - i >= 2 && t[e - 2] == ':'))))
            e--;
        bool bounded = run == n || !san_word(t[run]);
        if (bounded && ipv6_ok(t, i, e))
            VEIL_GUARD(san_add(out, i, e, VEIL_SAN_IPV6, 0));
        i = run > i ? run - 1 : i;
    }
    return VEIL_OK;
}
