/* SEV-SNP authenticity: FORMAT, CHAIN, VCEK, SIGNATURE, in that order
 * (notes/attestation-formats.md §1.9 steps 1-4; go-sev-guest verify/verify.go
 * SnpAttestation). Appraisal (measurement, policy, TCB minimums, nonce) is
 * not done here.
 *
 * The chain step is the expensive one (three RSA-4096 signatures and the
 * certificate parsing); its result is cached per certificate bytes and trust
 * configuration (snp_cache.c), so a report signed by a known VCEK costs one
 * ECDSA verification. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "attest/snp_internal.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/timeutil.h"

#define MAX_EXTRA_ROOTS 16
#define MAX_BUNDLE 4 /* certificates in one PEM field */

static const char cache_tag[] = "veil-snp-chain-v1";

/* ---- cache key ---------------------------------------------------------------------- */

/* One part of the key: a presence byte and the SHA-256 of the bytes. */
static veil_result key_part(uint8_t *out, const uint8_t *p, size_t n)
{
    out[0] = p != NULL && n > 0;
    if (!out[0]) {
        memset(out + 1, 0, 32);
        return VEIL_OK;
    }
    return veil_digest(VEIL_DIGEST_SHA256, p, n, out + 1, 32);
}

/* SHA-256 over everything that decides the chain: the leaf, ASK, ARK and
 * CRL bytes as given, the extra roots, and the report's CPUID product (used
 * to pick the ARK when the certificate names no product). */
static veil_result cache_key(const veil_snp_evidence *ev, const veil_snp_trust *t,
                             const veil_snp_report *r, uint8_t key[SNP_CACHE_KEY_LEN])
{
    enum { PART = 33 };
    uint8_t buf[sizeof cache_tag + 1 + PART * (4 + MAX_EXTRA_ROOTS)];
    size_t n = 0;
    size_t n_extra = t ? t->n_extra_roots : 0;
    memcpy(buf, cache_tag, sizeof cache_tag);
    n += sizeof cache_tag;
    buf[n++] = (uint8_t)veil_snp_report_product(r);
    VEIL_GUARD(key_part(buf + n, ev->vcek_or_vlek, ev->cert_len));
    VEIL_GUARD(key_part(buf + n + PART, ev->ask, ev->ask_len));
    VEIL_GUARD(key_part(buf + n + 2 * PART, ev->ark, ev->ark_len));
    VEIL_GUARD(key_part(buf + n + 3 * PART, ev->crl, ev->crl_len));
    n += 4 * PART;
    for (size_t i = 0; i < n_extra; i++, n += PART)
        VEIL_GUARD(key_part(buf + n, t->extra_roots_der[i], t->extra_roots_len[i]));
    return veil_digest(VEIL_DIGEST_SHA256, buf, n, key, SNP_CACHE_KEY_LEN);
}

/* ---- the cold chain ----------------------------------------------------------------- */

/* Everything the cold path parses; released by chain_ctx_free. */
typedef struct chain_ctx {
    veil_x509 *leaf[MAX_BUNDLE]; /* [0] the VCEK/VLEK, the rest untrusted */
    size_t n_leaf;
    veil_x509 *ask[MAX_BUNDLE];
    size_t n_ask;
    veil_x509 *ark;
    veil_x509 *roots[1 + MAX_EXTRA_ROOTS]; /* references */
    size_t n_roots;
    bool pinned_first; /* roots[0] is the pinned ARK */
    veil_x509 *untrusted[2 * MAX_BUNDLE + 2];
    size_t n_untrusted;
    veil_x509_crl *crl;
    veil_x509_chain_status st;
} chain_ctx;

static void chain_ctx_free(chain_ctx *c)
{
    for (size_t i = 0; i < c->n_leaf; i++)
        veil_x509_free(c->leaf[i]);
    for (size_t i = 0; i < c->n_ask; i++)
        veil_x509_free(c->ask[i]);
    for (size_t i = 0; i < c->n_roots; i++)
        veil_x509_free(c->roots[i]);
    for (size_t i = 0; i < c->n_untrusted; i++)
        veil_x509_free(c->untrusted[i]);
    veil_x509_free(c->ark);
    veil_x509_crl_free(c->crl);
    veil_x509_chain_clear(&c->st);
}

#define CHAIN_FAIL(v, ...)                                                                         \
    do {                                                                                           \
        veil_verdict_record((v), VEIL_CHECK_CHAIN, false, __VA_ARGS__);                            \
        goto out;                                                                                  \
    } while (0)

/* The product whose ARK anchors the chain: productName, else the issuer CN,
 * else (v3+) CPUID. A productName that contradicts the issuer is refused. */
static bool pick_product(const snp_leaf_info *info, const veil_snp_report *r, veil_snp_product *out,
                         veil_verdict *v)
{
    veil_snp_product by_name = veil_snp_product_from_name(info->product_name);
    veil_snp_product by_issuer = snp_product_from_issuer_cn(info->issuer_cn);
    if (by_name && by_issuer && by_name != by_issuer) {
        veil_verdict_record(v, VEIL_CHECK_CHAIN, false,
                            "productName \"%s\" contradicts issuer CN \"%s\"", info->product_name,
                            info->issuer_cn);
        return false;
    }
    *out = info->product ? info->product : veil_snp_report_product(r);
    return true;
}

static veil_result add_roots(chain_ctx *c, const snp_pinned *pin, const veil_snp_trust *t)
{
    if (pin) {
        c->roots[c->n_roots++] = veil_x509_ref(pin->ark);
        c->pinned_first = true;
    }
    for (size_t i = 0; t && i < t->n_extra_roots; i++) {
        veil_x509 *x = NULL;
        VEIL_ENSURE(t->extra_roots_der[i] && t->extra_roots_len[i], VEIL_E_USAGE,
                    "snp verify: an extra root is empty");
        if (!veil_ok(veil_x509_parse(t->extra_roots_der[i], t->extra_roots_len[i], &x)))
            return VEIL_ERR(VEIL_E_USAGE, "snp verify: an extra root is not a certificate");
        c->roots[c->n_roots++] = x;
    }
    return VEIL_OK;
}

/* Intermediates: the leaf bundle's extras, then the given ASK (bundle) or
 * else the pinned ASK and ASVK of the product. */
static void add_untrusted(chain_ctx *c, const snp_pinned *pin)
{
    for (size_t i = 1; i < c->n_leaf; i++)
        c->untrusted[c->n_untrusted++] = veil_x509_ref(c->leaf[i]);
    for (size_t i = 0; i < c->n_ask; i++)
        c->untrusted[c->n_untrusted++] = veil_x509_ref(c->ask[i]);
    if (c->n_ask == 0 && pin) {
        c->untrusted[c->n_untrusted++] = veil_x509_ref(pin->ask);
        c->untrusted[c->n_untrusted++] = veil_x509_ref(pin->asvk);
    }
}

static bool ark_is_trusted(const chain_ctx *c)
{
    for (size_t i = 0; i < c->n_roots; i++)
        if (veil_x509_equal(c->ark, c->roots[i]))
            return true;
    return false;
}

static void chain_detail(const snp_leaf_info *i, bool cached, char *buf, size_t cap)
{
    /* CNs are at most 63 characters each, so this fits VEIL_VERDICT_DETAIL;
     * a longer result would be cut, never overrun. */
    int n = snprintf(buf, cap, "%.63s%s%.63s <- %.63s (%s)%s", i->subject_cn,
                     i->intermediate_cn[0] ? " <- " : "", i->intermediate_cn, i->root_cn,
                     i->simulated ? "extra root: SIMULATED" : "pinned AMD root",
                     cached ? ", cached" : "");
    if (n < 0 && cap > 0)
        buf[0] = '\0';
}

/* Verify the chain of a certificate seen for the first time (or outside the
 * cached window). Once the leaf parses (*leaf_ok), info and *pub describe it
 * even when the chain then fails, so the later checks still show what they
 * see; only a verified chain is cached. */
static veil_result cold_chain(const veil_snp_evidence *ev, const veil_snp_trust *t,
                              const veil_snp_report *r, int64_t at,
                              const uint8_t key[SNP_CACHE_KEY_LEN], snp_leaf_info *info,
                              veil_pubkey **pub, bool *leaf_ok, veil_verdict *v)
{
    veil_result res = VEIL_OK, pr;
    chain_ctx c;
    const snp_pinned *pin = NULL;
    veil_snp_product product = VEIL_SNP_PRODUCT_UNKNOWN;
    char when[32], detail[VEIL_VERDICT_DETAIL];
    memset(&c, 0, sizeof c);
    veil_time_format(at, when);
    pr = veil_x509_parse_all(ev->vcek_or_vlek, ev->cert_len, c.leaf, MAX_BUNDLE, &c.n_leaf);
    if (!veil_ok(pr))
        CHAIN_FAIL(v, "VCEK/VLEK certificate: %s", pr.msg);
    VEIL_TRY(res, snp_leaf_info_read(c.leaf[0], info));
    if (veil_ok(veil_x509_pubkey(c.leaf[0], pub)))
        info->key_p384 = veil_pubkey_is_ec(*pub, "P-384");
    *leaf_ok = true;
    if (!pick_product(info, r, &product, v))
        goto out;
    if (product)
        VEIL_TRY(res, snp_pinned_roots(product, &pin));
    VEIL_TRY(res, add_roots(&c, pin, t));
    if (c.n_roots == 0)
        CHAIN_FAIL(v,
                   "no AMD product named by the certificate (productName \"%s\", issuer \"%s\") "
                   "and no extra root trusted",
                   info->product_name, info->issuer_cn);
    if (ev->ark && ev->ark_len) {
        pr = veil_x509_parse(ev->ark, ev->ark_len, &c.ark);
        if (!veil_ok(pr))
            CHAIN_FAIL(v, "ARK from the evidence: %s", pr.msg);
        if (!ark_is_trusted(&c))
            CHAIN_FAIL(v,
                       "the ARK in the evidence is not the pinned ARK-%s (roots are never "
                       "taken from the evidence)",
                       veil_snp_product_name(product));
    }
    if (ev->ask && ev->ask_len) {
        pr = veil_x509_parse_all(ev->ask, ev->ask_len, c.ask, MAX_BUNDLE, &c.n_ask);
        if (!veil_ok(pr))
            CHAIN_FAIL(v, "ASK from the evidence: %s", pr.msg);
    }
    add_untrusted(&c, pin);
    if (ev->crl && ev->crl_len) {
        pr = veil_x509_crl_parse(ev->crl, ev->crl_len, &c.crl);
        if (!veil_ok(pr))
            CHAIN_FAIL(v, "CRL: %s", pr.msg);
    }
    const veil_x509_crl *crls[1] = {c.crl};
    veil_x509_verify_opts o = {at,   c.roots,        c.n_roots, c.untrusted, c.n_untrusted,
                               crls, c.crl ? 1u : 0u};
    VEIL_TRY(res, veil_x509_verify_chain(c.leaf[0], &o, &c.st));
    if (!c.st.ok)
        CHAIN_FAIL(v, "%s to %s%s%s: %s", info->subject_cn[0] ? info->subject_cn : "leaf",
                   pin ? "ARK-" : "", pin ? veil_snp_product_name(product) : "an extra root",
                   pin && c.n_roots > 1 ? " or an extra root" : "", c.st.detail);
    info->amd_rooted = c.pinned_first && c.st.root_index == 0;
    info->simulated = !info->amd_rooted;
    if (info->amd_rooted && c.st.len != 3)
        CHAIN_FAIL(v, "AMD chain has %zu certificates (expected ARK -> ASK/ASVK -> VCEK/VLEK)",
                   c.st.len);
    if (c.st.len >= 3)
        veil_x509_subject_cn(c.st.chain[1], info->intermediate_cn, sizeof info->intermediate_cn);
    veil_x509_subject_cn(c.st.chain[c.st.len - 1], info->root_cn, sizeof info->root_cn);
    chain_detail(info, false, detail, sizeof detail);
    veil_verdict_record(v, VEIL_CHECK_CHAIN, true, "%s, valid at %s", detail, when);
    if (*pub)
        snp_cache_put(key, c.st.not_before, c.st.not_after, info, *pub);
out:
    chain_ctx_free(&c);
    return res;
}

/* ---- signature ---------------------------------------------------------------------- */

static veil_result check_signature(const snp_leaf_info *info, const veil_pubkey *pub,
                                   const veil_snp_report *r, veil_verdict *v)
{
    uint8_t rb[VEIL_SNP_SIG_COMPONENT_SIZE], sb[VEIL_SNP_SIG_COMPONENT_SIZE];
    const char *kind = info->kind == SNP_LEAF_VLEK ? "VLEK" : "VCEK";
    if (!pub || !info->key_p384) {
        veil_verdict_record(v, VEIL_CHECK_SIGNATURE, false, "the %s key is not ECDSA P-384", kind);
        return VEIL_OK;
    }
    /* R and S are little-endian in the report (go-sev-guest AmdBigInt). */
    for (size_t i = 0; i < VEIL_SNP_SIG_COMPONENT_SIZE; i++) {
        rb[i] = r->sig_r[VEIL_SNP_SIG_COMPONENT_SIZE - 1 - i];
        sb[i] = r->sig_s[VEIL_SNP_SIG_COMPONENT_SIZE - 1 - i];
    }
    veil_result res = veil_ecdsa_verify_raw(pub, VEIL_DIGEST_SHA384, r->raw, VEIL_SNP_SIGNED_SIZE,
                                            rb, sizeof rb, sb, sizeof sb);
    if (res.cls == VEIL_E_CRYPTO) {
        veil_verdict_record(v, VEIL_CHECK_SIGNATURE, false,
                            "ECDSA P-384/SHA-384 signature over report[0..0x2A0) does not verify "
                            "with the %s key (report altered or signed by another key)",
                            kind);
        return VEIL_OK;
    }
    VEIL_GUARD(res);
    veil_verdict_record(v, VEIL_CHECK_SIGNATURE, true,
                        "ECDSA P-384/SHA-384 over report[0..0x2A0) verifies with the %s key", kind);
    return VEIL_OK;
}

/* ---- the whole verification ---------------------------------------------------------- */

static veil_result check_args(const veil_snp_evidence *ev, const veil_snp_trust *t,
                              const veil_verdict *v)
{
    VEIL_ENSURE(ev != NULL && v != NULL, VEIL_E_USAGE, "snp verify: NULL argument");
    VEIL_ENSURE(ev->report != NULL || ev->report_len == 0, VEIL_E_USAGE,
                "snp verify: NULL report with a length");
    VEIL_ENSURE((ev->vcek_or_vlek || !ev->cert_len) && (ev->ask || !ev->ask_len) &&
                    (ev->ark || !ev->ark_len) && (ev->crl || !ev->crl_len),
                VEIL_E_USAGE, "snp verify: NULL certificate with a length");
    if (t) {
        VEIL_ENSURE(t->n_extra_roots <= MAX_EXTRA_ROOTS, VEIL_E_USAGE,
                    "snp verify: too many extra roots (at most 16)");
        VEIL_ENSURE(t->n_extra_roots == 0 || (t->extra_roots_der && t->extra_roots_len),
                    VEIL_E_USAGE, "snp verify: extra roots without their arrays");
    }
    return VEIL_OK;
}

veil_result veil_snp_verify(const veil_snp_evidence *ev, const veil_snp_trust *trust,
                            veil_snp_report *report_out, veil_verdict *v, bool *simulated_out)
{
    veil_result res = VEIL_OK;
    veil_snp_report *r = NULL;
    veil_pubkey *pub = NULL;
    snp_leaf_info info;
    uint8_t key[SNP_CACHE_KEY_LEN];
    memset(&info, 0, sizeof info);
    char detail[VEIL_VERDICT_DETAIL];
    if (simulated_out)
        *simulated_out = false;
    VEIL_GUARD(check_args(ev, trust, v));
    int64_t at = trust && trust->at ? trust->at : (int64_t)time(NULL);
    r = veil_calloc(1, sizeof *r);
    VEIL_ENSURE(r != NULL, VEIL_E_NOMEM, "snp verify: out of memory");

    /* §1.9 step 1: FORMAT */
    veil_result dr = veil_snp_report_decode(ev->report, ev->report_len, r);
    if (!veil_ok(dr)) {
        veil_verdict_record(v, VEIL_CHECK_FORMAT, false, "%s", dr.msg);
        goto out;
    }
    veil_verdict_record(v, VEIL_CHECK_FORMAT, true, "SNP report v%u, SIGNING_KEY=%u, VMPL %u",
                        r->version, veil_snp_signing_key(r), r->vmpl);
    if (report_out)
        *report_out = *r;

    /* Step 2: CHAIN (cached per certificate bytes and trust set) */
    if (!ev->vcek_or_vlek || !ev->cert_len) {
        veil_verdict_record(v, VEIL_CHECK_CHAIN, false, "no VCEK/VLEK certificate in the evidence");
        goto out;
    }
    VEIL_TRY(res, cache_key(ev, trust, r, key));
    if (snp_cache_get(key, at, &info, &pub)) {
        chain_detail(&info, true, detail, sizeof detail);
        veil_verdict_record(v, VEIL_CHECK_CHAIN, true, "%s", detail);
    } else {
        bool leaf_ok = false;
        VEIL_TRY(res, cold_chain(ev, trust, r, at, key, &info, &pub, &leaf_ok, v));
        if (!leaf_ok)
            goto out; /* no usable certificate: nothing more to check */
    }
    if (info.simulated) {
        v->simulated = true;
        if (simulated_out)
            *simulated_out = true;
    }

    /* Steps 3 and 4: the certificate binds the report; the signature. */
    snp_check_vcek(&info, r, v);
    VEIL_TRY(res, check_signature(&info, pub, r, v));
out:
    veil_pubkey_free(pub);
    veil_free(r);
    return res;
}
