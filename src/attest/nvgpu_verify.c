/* NVIDIA GPU evidence authenticity: FORMAT, CHAIN, FWID, SIGNATURE, NONCE, in
 * that order (notes/attestation-formats.md §3.2-3.4; nvtrust cc_admin_utils.py
 * verify_gpu_certificate_chain, verify_attestation_report). Appraisal against
 * the RIMs is in nvgpu_appraise.c.
 *
 * The device chain is short ECDSA work (five P-384 certificates), so unlike
 * the SEV-SNP verifier there is no chain cache. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "attest/nvgpu_internal.h"
#include "crypto/nvgpu_crypto.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/timeutil.h"

#define FWID_OCTET_HEADER 2 /* 04 30: OCTET STRING of 48 bytes, right before the FWID */

const char *veil_nvgpu_cc_mode_name(veil_nvgpu_cc_mode m)
{
    switch (m) {
    case VEIL_NVGPU_CC_ON: return "on";
    case VEIL_NVGPU_CC_OFF: return "off";
    case VEIL_NVGPU_CC_DEVTOOLS: return "devtools";
    default: return "unknown";
    }
}

veil_result nvgpu_trust_check(const veil_nvgpu_trust *t)
{
    if (!t)
        return VEIL_OK;
    VEIL_ENSURE(t->n_extra_roots <= NVGPU_MAX_EXTRA_ROOTS, VEIL_E_USAGE,
                "nvgpu verify: too many extra roots (at most 16)");
    VEIL_ENSURE(t->n_extra_roots == 0 || (t->extra_roots_der && t->extra_roots_len), VEIL_E_USAGE,
                "nvgpu verify: extra roots without their arrays");
    return VEIL_OK;
}

/* ---- the chain step, shared with the RIM signer chain ----------------------------------- */

static const char *root_name(nvgpu_root_kind kind)
{
    return kind == NVGPU_ROOT_RIM ? "NVIDIA CoRIM signing Root CA" : "NVIDIA Device Identity CA";
}

veil_result nvgpu_chain_verify(veil_x509 *const *certs, size_t n, nvgpu_root_kind kind,
                               const veil_nvgpu_trust *trust, int64_t at, nvgpu_chain_result *res)
{
    veil_result r = VEIL_OK;
    veil_x509 *roots[1 + NVGPU_MAX_EXTRA_ROOTS] = {0};
    size_t n_roots = 0;
    veil_x509 *pinned = NULL;
    veil_x509_chain_status st;
    memset(&st, 0, sizeof st);
    memset(res, 0, sizeof *res);
    VEIL_GUARD(nvgpu_trust_check(trust));
    VEIL_ENSURE(certs && n > 0, VEIL_E_USAGE, "nvgpu chain: no certificate");
    VEIL_TRY(r, nvgpu_pinned_root(kind, &pinned));
    roots[n_roots++] = veil_x509_ref(pinned);
    for (size_t i = 0; trust && i < trust->n_extra_roots; i++) {
        VEIL_ENSURE_GOTO(r, trust->extra_roots_der[i] && trust->extra_roots_len[i], VEIL_E_USAGE,
                         "nvgpu verify: an extra root is empty");
        if (!veil_ok(veil_x509_parse(trust->extra_roots_der[i], trust->extra_roots_len[i],
                                     &roots[n_roots]))) {
            r = VEIL_ERR(VEIL_E_USAGE, "nvgpu verify: an extra root is not a certificate");
            goto out;
        }
        n_roots++;
    }
    veil_x509_subject_cn(certs[0], res->leaf_cn, sizeof res->leaf_cn);
    veil_x509_verify_opts o = {at, roots, n_roots, certs + 1, n - 1, NULL, 0};
    VEIL_TRY(r, veil_x509_verify_chain(certs[0], &o, &st));
    if (!st.ok) {
        snprintf(res->detail, sizeof res->detail, "%.40s to the %s%s: %.100s",
                 res->leaf_cn[0] ? res->leaf_cn : "leaf", root_name(kind),
                 n_roots > 1 ? " or an extra root" : "", st.detail);
        goto out;
    }
    if (st.len < 2) {
        snprintf(res->detail, sizeof res->detail,
                 "the first certificate (\"%.60s\") is itself a trusted root: the chain must "
                 "start with the signing certificate",
                 res->leaf_cn);
        goto out;
    }
    if (st.len > VEIL_NVGPU_MAX_CHAIN) {
        snprintf(res->detail, sizeof res->detail, "the chain has %zu certificates (at most %d)",
                 st.len, VEIL_NVGPU_MAX_CHAIN);
        goto out;
    }
    res->ok = true;
    res->len = st.len;
    res->simulated = st.root_index != 0;
    veil_x509_subject_cn(st.chain[st.len - 1], res->root_cn, sizeof res->root_cn);
    VEIL_TRY(r, veil_x509_fingerprint(st.chain[st.len - 1], res->root_sha256));
out:
    veil_x509_chain_clear(&st);
    for (size_t i = 0; i < n_roots; i++)
        veil_x509_free(roots[i]);
    return r;
}

/* ---- the leaf ------------------------------------------------------------------------------ */

/* Serial (UEID) and the FWID extension of the leaf. A malformed or missing
 * extension is not an error: it goes to fwid_err for the FWID check. */
static veil_result read_leaf(const veil_x509 *leaf, veil_nvgpu_decoded *d, char *fwid_err,
                             size_t cap)
{
    veil_result res = VEIL_OK;
    uint8_t *der = NULL;
    size_t der_len = 0, len = 0;
    const uint8_t *val = NULL;
    bool found = false;
    veil_x509_subject_cn(leaf, d->leaf_cn, sizeof d->leaf_cn);
    VEIL_TRY(res, veil_x509_der(leaf, &der, &der_len));
    if (!veil_ok(veil_nvgpu_cert_serial(der, der_len, d->ueid, sizeof d->ueid, &d->ueid_len)))
        d->ueid_len = 0;
    veil_result er = veil_x509_ext(leaf, NVGPU_OID_FWID, &found, &val, &len);
    if (veil_ok(er) && !found)
        er = veil_x509_ext(leaf, NVGPU_OID_FWID_ALT, &found, &val, &len);
    if (!veil_ok(er)) {
        snprintf(fwid_err, cap, "the leaf's FWID extension: %s", er.msg);
    } else if (!found) {
        snprintf(fwid_err, cap,
                 "the leaf (\"%.60s\") has no TCG DICE FWID extension (2.23.133.5.4.1): not a "
                 "GPU attestation (GSP FMC) certificate",
                 d->leaf_cn);
    } else if (len < VEIL_NVGPU_FWID_LEN + FWID_OCTET_HEADER ||
               val[len - VEIL_NVGPU_FWID_LEN - 2] != 0x04 ||
               val[len - VEIL_NVGPU_FWID_LEN - 1] != VEIL_NVGPU_FWID_LEN) {
        snprintf(fwid_err, cap, "the leaf's FWID extension does not end in a 48-byte OCTET STRING");
    } else {
        memcpy(d->cert_fwid, val + len - VEIL_NVGPU_FWID_LEN, VEIL_NVGPU_FWID_LEN);
        d->have_cert_fwid = true;
    }
out:
    veil_x509_der_free(der);
    return res;
}

static void hex_prefix(const uint8_t *p, size_t n, char out[2 * 16 + 4])
{
    char full[2 * 64 + 1];
    size_t k = n > 64 ? 64 : n;
    veil_hex_encode(p, k, full);
    snprintf(out, 2 * 16 + 4, "%.32s%s", full, n > 16 ? "..." : "");
}

/* CHAIN (and the leaf's facts). *leaf_ok says whether a leaf certificate
 * parsed, so the later checks can run; *pub receives its key. */
static veil_result check_chain(const uint8_t *pem, size_t n, const veil_nvgpu_trust *t, int64_t at,
                               veil_nvgpu_decoded *d, veil_verdict *v, veil_pubkey **pub,
                               char *fwid_err, size_t cap, bool *leaf_ok)
{
    veil_result res = VEIL_OK, pr;
    veil_x509 *certs[VEIL_NVGPU_MAX_CHAIN] = {0};
    size_t count = 0;
    nvgpu_chain_result cr;
    char at_s[21];
    veil_time_format(at, at_s);
    *leaf_ok = false;
    if (!pem || n == 0) {
        veil_verdict_record(v, VEIL_CHECK_CHAIN, false, "no device certificate chain");
        return VEIL_OK;
    }
    pr = veil_x509_parse_all(pem, n, certs, VEIL_NVGPU_MAX_CHAIN, &count);
    if (!veil_ok(pr)) {
        veil_verdict_record(v, VEIL_CHECK_CHAIN, false,
                            "device certificate chain (PEM, leaf first, at most 5): %s", pr.msg);
        return VEIL_OK;
    }
    VEIL_TRY(res, read_leaf(certs[0], d, fwid_err, cap));
    d->have_leaf = true;
    *leaf_ok = true;
    if (veil_ok(veil_x509_pubkey(certs[0], pub)) && !veil_pubkey_is_ec(*pub, "P-384")) {
        veil_pubkey_free(*pub);
        *pub = NULL;
    }
    VEIL_TRY(res, nvgpu_chain_verify(certs, count, NVGPU_ROOT_DEVICE, t, at, &cr));
    if (!cr.ok) {
        veil_verdict_record(v, VEIL_CHECK_CHAIN, false, "%s", cr.detail);
        goto out;
    }
    memcpy(d->root_cn, cr.root_cn, sizeof d->root_cn);
    memcpy(d->root_sha256, cr.root_sha256, sizeof d->root_sha256);
    d->simulated = cr.simulated;
    if (cr.simulated)
        v->simulated = true;
    veil_verdict_record(v, VEIL_CHECK_CHAIN, true,
                        "%.60s <- ... <- %.60s (%zu certificates, %s), "
                        "valid at %s",
                        d->leaf_cn, d->root_cn, cr.len,
                        cr.simulated ? "extra root: SIMULATED" : "pinned NVIDIA root", at_s);
out:
    for (size_t i = 0; i < count; i++)
        veil_x509_free(certs[i]);
    return res;
}

/* FWID: the leaf is an attestation certificate, and binds the report's FWID. */
static void check_fwid(const veil_nvgpu_decoded *d, const veil_nvgpu_report *r,
                       const char *fwid_err, veil_verdict *v)
{
    char have[36], want[36];
    if (!d->have_cert_fwid) {
        veil_verdict_record(v, VEIL_CHECK_FWID, false, "%s", fwid_err);
        return;
    }
    hex_prefix(d->cert_fwid, VEIL_NVGPU_FWID_LEN, have);
    if (!r || !r->opaque.has_fwid) {
        veil_verdict_record(v, VEIL_CHECK_FWID, true, "leaf FWID %s%s", have,
                            r ? " (the report has no FWID field: older firmware, not compared)"
                              : "");
        return;
    }
    hex_prefix(r->opaque.fwid, VEIL_NVGPU_FWID_LEN, want);
    bool ok =
        veil_public_equal(d->cert_fwid, VEIL_NVGPU_FWID_LEN, r->opaque.fwid, VEIL_NVGPU_FWID_LEN);
    veil_verdict_record(v, VEIL_CHECK_FWID, ok, "leaf FWID %s %s the report's FWID%s%s", have,
                        ok ? "equals" : "differs from", ok ? "" : " ", ok ? "" : want);
}

static veil_result check_signature(const veil_pubkey *pub, const veil_nvgpu_report *r,
                                   veil_verdict *v)
{
    if (!pub) {
        veil_verdict_record(v, VEIL_CHECK_SIGNATURE, false,
                            "the leaf certificate's key is not ECDSA P-384");
        return VEIL_OK;
    }
    veil_result res = veil_ecdsa_verify_raw(
        pub, VEIL_DIGEST_SHA384, r->raw, r->signed_len, r->signature, VEIL_NVGPU_SIG_LEN / 2,
        r->signature + VEIL_NVGPU_SIG_LEN / 2, VEIL_NVGPU_SIG_LEN / 2);
    if (res.cls == VEIL_E_CRYPTO) {
        veil_verdict_record(v, VEIL_CHECK_SIGNATURE, false,
                            "ECDSA P-384/SHA-384 over request||response[0..%zu) does not verify "
                            "with the leaf key (report altered or signed by another GPU)",
                            r->signed_len);
        return VEIL_OK;
    }
    VEIL_GUARD(res);
    veil_verdict_record(v, VEIL_CHECK_SIGNATURE, true,
                        "ECDSA P-384/SHA-384 over request||response[0..%zu) verifies with the "
                        "leaf key",
                        r->signed_len);
    return VEIL_OK;
}

static void check_nonce(const veil_nvgpu_report *r, const uint8_t *expected, veil_verdict *v)
{
    char have[2 * VEIL_NVGPU_NONCE_LEN + 1], want[2 * VEIL_NVGPU_NONCE_LEN + 1];
    veil_hex_encode(r->nonce, VEIL_NVGPU_NONCE_LEN, have);
    veil_hex_encode(expected, VEIL_NVGPU_NONCE_LEN, want);
    bool ok = veil_public_equal(r->nonce, VEIL_NVGPU_NONCE_LEN, expected, VEIL_NVGPU_NONCE_LEN);
    if (ok)
        veil_verdict_record(v, VEIL_CHECK_NONCE, true, "request nonce %s is the expected nonce",
                            have);
    else
        veil_verdict_record(v, VEIL_CHECK_NONCE, false, "request nonce %s, expected %s", have,
                            want);
}

/* ---- entry points ---------------------------------------------------------------------------- */

static int64_t verify_time(const veil_nvgpu_trust *t)
{
    return t && t->at ? t->at : (int64_t)time(NULL);
}

veil_result veil_nvgpu_verify(const uint8_t *evidence, size_t evidence_len,
                              const uint8_t *chain_pem, size_t chain_len,
                              const uint8_t expected_nonce[VEIL_NVGPU_NONCE_LEN],
                              const veil_nvgpu_trust *trust, veil_nvgpu_decoded *out,
                              veil_verdict *v)
{
    veil_result res = VEIL_OK;
    veil_nvgpu_decoded *d = out;
    veil_pubkey *pub = NULL;
    char fwid_err[VEIL_VERDICT_DETAIL] = {0};
    bool leaf_ok = false;
    VEIL_ENSURE(v != NULL && expected_nonce != NULL, VEIL_E_USAGE, "nvgpu verify: NULL argument");
    VEIL_ENSURE((evidence || !evidence_len) && (chain_pem || !chain_len), VEIL_E_USAGE,
                "nvgpu verify: NULL input with a length");
    VEIL_GUARD(nvgpu_trust_check(trust));
    if (!d) {
        d = veil_calloc(1, sizeof *d);
        VEIL_ENSURE(d != NULL, VEIL_E_NOMEM, "nvgpu verify: out of memory");
    }
    memset(d, 0, sizeof *d);

    /* §3.1: FORMAT */
    veil_result dr = veil_nvgpu_report_decode(evidence, evidence_len, &d->report);
    if (!veil_ok(dr)) {
        veil_verdict_record(v, VEIL_CHECK_FORMAT, false, "%s", dr.msg);
        goto out;
    }
    d->have_report = true;
    const veil_nvgpu_opaque *o = &d->report.opaque;
    veil_verdict_record(v, VEIL_CHECK_FORMAT, true,
                        "SPDM 1.1 MEASUREMENTS, %u blocks, driver %s, VBIOS %s, %zu opaque fields",
                        d->report.n_blocks, o->has_driver_version ? o->driver_version : "?",
                        o->has_vbios_version ? o->vbios_version : "?", o->n_tlvs);

    /* §3.4: CHAIN; §3.3: FWID */
    VEIL_TRY(res, check_chain(chain_pem, chain_len, trust, verify_time(trust), d, v, &pub, fwid_err,
                              sizeof fwid_err, &leaf_ok));
    if (!leaf_ok)
        goto out;
    check_fwid(d, &d->report, fwid_err, v);

    /* §3.2: SIGNATURE; §3.3: NONCE */
    VEIL_TRY(res, check_signature(pub, &d->report, v));
    check_nonce(&d->report, expected_nonce, v);
out:
    veil_pubkey_free(pub);
    if (d != out)
        veil_free(d);
    return res;
}

veil_result veil_nvgpu_verify_chain(const uint8_t *chain_pem, size_t chain_len,
                                    const veil_nvgpu_trust *trust, veil_nvgpu_decoded *out,
                                    veil_verdict *v)
{
    veil_result res = VEIL_OK;
    veil_nvgpu_decoded *d = out;
    veil_pubkey *pub = NULL;
    char fwid_err[VEIL_VERDICT_DETAIL] = {0};
    bool leaf_ok = false;
    VEIL_ENSURE(v != NULL, VEIL_E_USAGE, "nvgpu verify: NULL argument");
    VEIL_ENSURE(chain_pem || !chain_len, VEIL_E_USAGE, "nvgpu verify: NULL input with a length");
    VEIL_GUARD(nvgpu_trust_check(trust));
    if (!d) {
        d = veil_calloc(1, sizeof *d);
        VEIL_ENSURE(d != NULL, VEIL_E_NOMEM, "nvgpu verify: out of memory");
    }
    memset(d, 0, sizeof *d);
    VEIL_TRY(res, check_chain(chain_pem, chain_len, trust, verify_time(trust), d, v, &pub, fwid_err,
                              sizeof fwid_err, &leaf_ok));
    if (leaf_ok)
        check_fwid(d, NULL, fwid_err, v);
out:
    veil_pubkey_free(pub);
    if (d != out)
        veil_free(d);
    return res;
}
