/* Passage splitting and the FTS5-compatible tokenizer (include/veil/rag.h). */
#include <stdbool.h>
#include <string.h>

#include "veil/rag.h"

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* ---- splitting ---------------------------------------------------------------- */

typedef struct splitter {
    const uint8_t *t;
    size_t max;
    veil_rag_span_fn fn;
    void *arg;
} splitter;

/* Emit [s, e) trimmed, if anything is left. */
static veil_result emit(const splitter *sp, size_t s, size_t e)
{
    while (s < e && is_space(sp->t[s]))
        s++;
    while (e > s && is_space(sp->t[e - 1]))
        e--;
    if (s == e)
        return VEIL_OK;
    return sp->fn(sp->arg, (veil_rag_span){s, e - s});
}

/* Where a piece starting at s must end to stay within max bytes: after the
 * last sentence end, else at the last space, else at a character boundary. */
static size_t cut_point(const splitter *sp, size_t s, size_t e)
{
    size_t lim = s + sp->max;
    if (e <= lim)
        return e;
    for (size_t i = lim; i > s + 1; i--) {
        uint8_t p = sp->t[i - 2];
        if ((p == '.' || p == '!' || p == '?') && is_space(sp->t[i - 1]))
            return i;
    }
    for (size_t i = lim; i > s; i--)
        if (is_space(sp->t[i - 1]))
            return i;
    size_t i = lim;
    while (i > s + 1 && (sp->t[i] & 0xC0) == 0x80) /* not inside a UTF-8 sequence */
        i--;
    return i;
}

static veil_result paragraph(const splitter *sp, size_t s, size_t e)
{
    while (s < e && is_space(sp->t[s]))
        s++;
    while (s < e) {
        size_t c = cut_point(sp, s, e);
        VEIL_GUARD(emit(sp, s, c));
        s = c;
        while (s < e && is_space(sp->t[s]))
            s++;
    }
    return VEIL_OK;
}

/* Does a blank line (only spaces/tabs/CR) start at i, right after a '\n'? */
static bool blank_line_at(const uint8_t *t, size_t n, size_t i, size_t *next)
{
    size_t j = i;
    while (j < n && (t[j] == ' ' || t[j] == '\t' || t[j] == '\r' || t[j] == '\f' || t[j] == '\v'))
        j++;
    if (j < n && t[j] != '\n')
        return false;
    *next = j < n ? j + 1 : n;
    return true;
}

veil_result veil_rag_split(const uint8_t *text, size_t n, size_t max_len, veil_rag_span_fn fn,
                           void *arg)
{
    VEIL_ENSURE(fn != NULL && (text != NULL || n == 0), VEIL_E_USAGE, "rag split: bad arguments");
    if (max_len == 0)
        max_len = VEIL_RAG_PASSAGE_MAX;
    VEIL_ENSURE(max_len >= 16 && max_len <= VEIL_RAG_PASSAGE_LIMIT, VEIL_E_USAGE,
                "rag split: passage limit out of range");
    splitter sp = {text, max_len, fn, arg};
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        size_t next;
        if (text[i] != '\n' || !blank_line_at(text, n, i + 1, &next))
            continue;
        VEIL_GUARD(paragraph(&sp, start, i));
        start = next;
        i = next - 1;
    }
    return paragraph(&sp, start, n);
}

/* ---- tokens ------------------------------------------------------------------- */

/* Length of the UTF-8 sequence at p[0..n) and its code point; malformed
 * bytes count as one-byte characters (kept in tokens, like other letters). */
static size_t utf8_char(const uint8_t *p, size_t n, uint32_t *cp)
{
    uint8_t c = p[0];
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (len == 1 || len > n) {
        *cp = 0xFFFD;
        return 1;
    }
    uint32_t v = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (p[i] & 0x3F);
    }
    *cp = v;
    return len;
}

static bool nonascii_separator(uint32_t cp)
{
    return (cp >= 0x2000 && cp <= 0x206F) || cp == 0x00A0 || cp == 0x00AB || cp == 0x00BB ||
           cp == 0x00A7 || cp == 0x00B6 || cp == 0x00B7 || (cp >= 0x3000 && cp <= 0x3003);
}

/* Bytes of the token character at p (0 for a separator). */
static size_t token_char(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) ? 1 : 0;
    uint32_t cp;
    size_t len = utf8_char(p, n, &cp);
    return nonascii_separator(cp) ? 0 : len;
}

veil_result veil_rag_tokenize(const uint8_t *p, size_t n, veil_rag_token_fn fn, void *arg)
{
    VEIL_ENSURE(fn != NULL && (p != NULL || n == 0), VEIL_E_USAGE, "rag tokenize: bad arguments");
    char tok[VEIL_RAG_PASSAGE_LIMIT];
    size_t tl = 0;
    size_t i = 0;
    while (i <= n) {
        size_t w = i < n ? token_char(p + i, n - i) : 0;
        if (w == 0) {
            if (tl > 0)
                VEIL_GUARD(fn(arg, tok, tl));
            tl = 0;
            if (i < n) {
                uint32_t cp;
                i += p[i] < 0x80 ? 1 : utf8_char(p + i, n - i, &cp);
            } else {
                i++;
            }
            continue;
        }
        VEIL_ENSURE(tl + w <= sizeof tok, VEIL_E_NOMEM, "rag tokenize: token too long");
        for (size_t k = 0; k < w; k++) {
            uint8_t c = p[i + k];
            tok[tl++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        }
        i += w;
    }
    return VEIL_OK;
}
