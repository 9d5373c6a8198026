/* Sanitize policies (include/veil/sanitize.h) and the detectors. The input
 * is a policy, optionally followed by a NUL byte and a text. A refused
 * policy must say why. The text then goes through the parsed policy (if it
 * parsed) and through a fixed policy that pseudonymizes with every built-in
 * detector, whose round trip must give the text back exactly, whole and
 * restored in two streamed pieces. */
#include <stdlib.h>
#include <string.h>

#include "veil/mem.h"
#include "veil/sanitize.h"

static const char k_fixed[] =
    "{\"detectors\":{\"email\":{\"action\":\"pseudonymize\"},\"phone\":{\"action\":"
    "\"pseudonymize\"},\"card\":{\"action\":\"pseudonymize\"},\"iban\":{\"action\":"
    "\"pseudonymize\"},\"ssn\":{\"action\":\"pseudonymize\"},\"ipv4\":{\"action\":"
    "\"pseudonymize\"},\"ipv6\":{\"action\":\"pseudonymize\"},\"secret\":{\"action\":"
    "\"pseudonymize\"}}}";

static veil_sanitize_policy *g_fixed;

static void apply(const veil_sanitize_policy *p, const char *text, size_t len)
{
    veil_sanitize_session *s = NULL;
    veil_buf out;
    veil_buf_init(&out, 0);
    if (!veil_ok(veil_sanitize_session_new(p, &s)))
        abort();
    veil_san_finding *f = NULL;
    size_t n = 0;
    veil_result r = veil_sanitize_text(s, text, len, &out, &f, &n);
    for (size_t i = 0; i < n; i++)
        if (f[i].start >= f[i].end || f[i].end > len || (i && f[i].start < f[i - 1].end))
            abort(); /* findings are ordered, non-empty and disjoint */
    if (veil_ok(r)) {
        veil_buf back;
        veil_buf_init(&back, 0);
        if (!veil_ok(
                veil_sanitize_restore(s, out.len ? (const char *)out.data : "", out.len, &back)))
            abort();
        veil_buf_free(&back);
    }
    veil_free(f);
    veil_buf_free(&out);
    veil_sanitize_session_free(s);
}

/* Pseudonymize everything, then restore: the original, byte for byte. */
static void round_trip(const char *text, size_t len)
{
    veil_sanitize_session *s = NULL;
    veil_sanitize_restorer *rs = NULL;
    veil_buf out, back, streamed;
    veil_buf_init(&out, 0);
    veil_buf_init(&back, 0);
    veil_buf_init(&streamed, 0);
    if (!veil_ok(veil_sanitize_session_new(g_fixed, &s)))
        abort();
    veil_result r = veil_sanitize_text(s, text, len, &out, NULL, NULL);
    if (veil_ok(r)) {
        size_t half = out.len / 2;
        const char *o = out.len ? (const char *)out.data : "";
        if (!veil_ok(veil_sanitize_restore(s, o, out.len, &back)) ||
            !veil_public_equal(back.data, back.len, text, len))
            abort();
        if (!veil_ok(veil_sanitize_restorer_new(s, &rs)) ||
            !veil_ok(veil_sanitize_restorer_feed(rs, o, half, &streamed)) ||
            !veil_ok(veil_sanitize_restorer_feed(rs, o + half, out.len - half, &streamed)) ||
            !veil_ok(veil_sanitize_restorer_finish(rs, &streamed)) ||
            !veil_public_equal(streamed.data, streamed.len, back.data, back.len))
            abort();
    } else if (r.cls != VEIL_E_NOMEM) {
        abort(); /* nothing blocks here: only limits may refuse */
    }
    veil_sanitize_restorer_free(rs);
    veil_buf_free(&out);
    veil_buf_free(&back);
    veil_buf_free(&streamed);
    veil_sanitize_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_fixed) {
        char d[VEIL_SANITIZE_DETAIL];
        if (!veil_ok(veil_sanitize_policy_parse(k_fixed, strlen(k_fixed), &g_fixed, d)))
            abort();
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    const char *text = nul ? (const char *)nul + 1 : (const char *)data;
    size_t tlen = nul ? size - plen - 1 : size;
    char detail[VEIL_SANITIZE_DETAIL];
    veil_sanitize_policy *p = NULL;
    if (!veil_ok(veil_sanitize_policy_parse((const char *)data, plen, &p, detail))) {
        if (p || !detail[0])
            abort();
    } else {
        apply(p, text, tlen);
        veil_sanitize_policy_free(p);
    }
    round_trip(text, tlen);
    return 0;
}
