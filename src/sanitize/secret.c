/* API keys and secrets: tokens with a known issuer prefix (OpenAI, GitHub,
 * Slack, AWS, Google, Stripe, GitLab, Hugging Face, npm, JWTs), PEM private
 * key blocks, and other long tokens whose character distribution looks
 * random (Shannon entropy per character above a threshold, mixed case and
 * digits, not plain hex: hashes and UUIDs are identifiers, not secrets). */
#include <math.h>
#include <string.h>

#include "sanitize/sanitize_internal.h"

typedef enum tok_set { SET_B64URL, SET_UPPER_DIGIT, SET_SLACK, SET_JWT } tok_set;

static const struct {
    const char *prefix;
    tok_set set;
    size_t min, max; /* body length after the prefix */
} k_prefixes[] = {
    {"sk-", SET_B64URL, 20, 200},      {"github_pat_", SET_B64URL, 22, 255},
    {"ghp_", SET_B64URL, 36, 255},     {"gho_", SET_B64URL, 36, 255},
    {"ghu_", SET_B64URL, 36, 255},     {"ghs_", SET_B64URL, 36, 255},
    {"ghr_", SET_B64URL, 36, 255},     {"xoxb-", SET_SLACK, 10, 255},
    {"xoxp-", SET_SLACK, 10, 255},     {"xoxa-", SET_SLACK, 10, 255},
    {"xoxr-", SET_SLACK, 10, 255},     {"xoxs-", SET_SLACK, 10, 255},
    {"AKIA", SET_UPPER_DIGIT, 16, 16}, {"ASIA", SET_UPPER_DIGIT, 16, 16},
    {"AIza", SET_B64URL, 35, 35},      {"sk_live_", SET_B64URL, 16, 255},
    {"sk_test_", SET_B64URL, 16, 255}, {"rk_live_", SET_B64URL, 16, 255},
    {"pk_live_", SET_B64URL, 16, 255}, {"glpat-", SET_B64URL, 20, 255},
    {"hf_", SET_B64URL, 30, 255},      {"npm_", SET_B64URL, 36, 255},
    {"eyJ", SET_JWT, 20, 8192},
};

static bool in_set(char c, tok_set s)
{
    switch (s) {
    case SET_UPPER_DIGIT: return san_upper(c) || san_digit(c);
    case SET_SLACK: return san_alnum(c) || c == '-';
    case SET_JWT: return san_alnum(c) || c == '-' || c == '_' || c == '.';
    default: return san_alnum(c) || c == '-' || c == '_';
    }
}

static bool starts(const char *t, size_t n, size_t i, const char *p)
{
    size_t k = strlen(p);
    return i + k <= n && strncmp(t + i, p, k) == 0;
}

/* A prefixed token at t[i]; its end, or 0. */
static size_t prefixed(const char *t, size_t n, size_t i)
{
    for (size_t k = 0; k < sizeof k_prefixes / sizeof k_prefixes[0]; k++) {
        if (!starts(t, n, i, k_prefixes[k].prefix))
            continue;
        size_t s = i + strlen(k_prefixes[k].prefix), e = s, dots = 0;
        while (e < n && e - s < k_prefixes[k].max + 1 && in_set(t[e], k_prefixes[k].set) &&
               dots <= 2) /* a JWT has three parts: stop early on "eyJ.eyJ.eyJ..." */
            dots += t[e++] == '.';
        if (k_prefixes[k].set == SET_JWT)
            while (e > s && t[e - 1] == '.')
                e--, dots--;
        if (e - s < k_prefixes[k].min || e - s > k_prefixes[k].max ||
            (k_prefixes[k].set == SET_JWT && dots != 2) || (e < n && san_word(t[e])))
            continue;
        return e;
    }
    return 0;
}

/* "-----BEGIN ... PRIVATE KEY-----" to its END line; a block cut short is
 * still a key, so without an END it runs to the end of the text. */
static size_t pem_block(const char *t, size_t n, size_t i)
{
    static const char begin[] = "-----BEGIN ", tail[] = "PRIVATE KEY-----", end[] = "-----END ";
    if (!starts(t, n, i, begin))
        return 0;
    size_t p = i + sizeof begin - 1, lim = p + 40 < n ? p + 40 : n;
    while (p < lim && !starts(t, n, p, tail) && (san_upper(t[p]) || t[p] == ' '))
        p++;
    if (!starts(t, n, p, tail))
        return 0;
    for (size_t q = p + sizeof tail - 1; q < n; q++) {
        if (!starts(t, n, q, end))
            continue;
        size_t r = q + sizeof end - 1, rl = r + 40 < n ? r + 40 : n;
        while (r < rl && !starts(t, n, r, tail))
            r++;
        if (starts(t, n, r, tail))
            return r + sizeof tail - 1;
    }
    return n;
}

double san_entropy(const char *p, size_t n)
{
    unsigned count[256] = {0};
    double h = 0;
    for (size_t i = 0; i < n; i++)
        count[(unsigned char)p[i]]++;
    for (size_t c = 0; c < 256; c++)
        if (count[c]) {
            double f = (double)count[c] / (double)n;
            h -= f * log2(f);
        }
    return h;
}

static bool ent_ch(char c) { return san_alnum(c) || c == '+' || c == '/' || c == '_' || c == '-'; }

/* A path ("/srv/app/Build2024/...") has plain lowercase words between its
 * slashes; base64 does not. */
static bool path_like(const char *p, size_t n)
{
    size_t s = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != '/')
            continue;
        bool word = i - s >= 3;
        for (size_t k = s; k < i && word; k++)
            word = san_lower(p[k]);
        if (word && memchr(p, '/', n))
            return true;
        s = i + 1;
    }
    return false;
}

static bool random_token(const char *p, size_t n, size_t min_len, double min_entropy)
{
    size_t up = 0, lo = 0, dig = 0, hex = 0;
    if (n < min_len)
        return false;
    for (size_t i = 0; i < n; i++) {
        up += san_upper(p[i]);
        lo += san_lower(p[i]);
        dig += san_digit(p[i]);
        hex += san_digit(p[i]) || (p[i] >= 'a' && p[i] <= 'f') || (p[i] >= 'A' && p[i] <= 'F') ||
               p[i] == '-';
    }
    if (hex == n || !up || !lo || !dig || path_like(p, n))
        return false;
    /* One digit only: long CamelCase names look like this, so ask for more
     * randomness (AWS secret keys clear it easily). */
    return san_entropy(p, n) >= min_entropy + (dig < 2 ? 0.5 : 0.0);
}

/* A run of token characters at t[i..): report it when it looks random. */
static veil_result entropy_run(const char *t, size_t n, size_t i, size_t min_len,
                               double min_entropy, san_list *out, size_t *run_end)
{
    size_t s = i, e = i;
    while (e < n && ent_ch(t[e]) && e - s < 4096)
        e++;
    size_t run = e;
    *run_end = run;
    while (e < n && e < run + 2 && t[e] == '=')
        e++; /* base64 padding */
    while (s < run && (t[s] == '/' || t[s] == '+' || t[s] == '-' || t[s] == '_'))
        s++;
    size_t core = run;
    while (core > s && (t[core - 1] == '/' || t[core - 1] == '-' || t[core - 1] == '_'))
        core--;
    if (core < run)
        e = core;
    if ((e == n || !san_word(t[e])) && s < core &&
        random_token(t + s, core - s, min_len, min_entropy))
        VEIL_GUARD(san_add(out, s, e, VEIL_SAN_SECRET, 0));
    return VEIL_OK;
}

veil_result san_secret(const char *t, size_t n, size_t min_len, double min_entropy, san_list *out)
{
    size_t ent_next = 0; /* entropy runs already judged end here */
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (san_word(t[i - 1]) || (t[i - 1] == '-' && t[i] != '-')))
            continue;
        size_t e = pem_block(t, n, i);
        if (!e)
            e = prefixed(t, n, i);
        if (e) {
            VEIL_GUARD(san_add(out, i, e, VEIL_SAN_SECRET, 0));
            i = e - 1;
            ent_next = e;
            continue;
        }
        if (i < ent_next || !ent_ch(t[i]) || (i > 0 && ent_ch(t[i - 1])))
            continue;
        VEIL_GUARD(entropy_run(t, n, i, min_len, min_entropy, out, &ent_next));
    }
    return VEIL_OK;
}
