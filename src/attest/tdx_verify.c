/* TDX quote authenticity and TCB: FORMAT, CHAIN, QE, SIGNATURE, then with
 * collateral COLLATERAL and TCB (notes §2.3-2.5; dcap-qvl src/verify.rs;
 * go-tdx-guest verify/verify.go). Appraisal (MRTD, RTMRs, attributes,
 * minimum TCB status, REPORTDATA) is not done here.
 *
 * The trust path: the pinned Intel SGX Root CA certifies the PCK CA, which
 * certifies the PCK key; the PCK key signs the QE report; the QE report's
 * REPORTDATA commits to the attestation key; the attestation key signs the
 * header and TD report. Each link is one named check. The collateral is
 * authenticated before the chain check because the chain uses its CRLs; its
 * verdict is recorded after SIGNATURE, with the FMSPC match that needs the
 * PCK certificate. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "attest/tdx_internal.h"
#include "crypto/digest.h"
#include "crypto/tdx_crypto.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/timeutil.h"

#define MAX_BUNDLE 8 /* certificates in the quote's PEM chain */

typedef struct pck_chain {
    veil_x509 *certs[MAX_BUNDLE]; /* [0] the PCK certificate */
    size_t n;
    veil_x509_chain_status st;
} pck_chain;

static void pck_chain_free(pck_chain *c)
{
    for (size_t i = 0; i < c->n; i++)
        veil_x509_free(c->certs[i]);
    c->n = 0;
    veil_x509_chain_clear(&c->st);
}

#define CHAIN_FAIL(v, ...)                                                                         \
    do {                                                                                           \
        veil_verdict_record((v), VEIL_CHECK_CHAIN, false, __VA_ARGS__);                            \
        goto out;                                                                                  \
    } while (0)

/* CHAIN: PCK -> PCK Platform/Processor CA -> pinned Intel SGX Root CA at `at`,
 * CRLs from authentic collateral applied, and the PCK's SGX extension.
 * *pub receives the PCK key once the certificate parses (even if the chain
 * then fails, so QE still shows what it sees). */
static veil_result check_chain(veil_tdx_quote *q, const tdx_collateral *col, int64_t at,
                               veil_pubkey **pub, veil_verdict *v)
{
    veil_result res = VEIL_OK, pr;
    pck_chain c;
    veil_x509 *pinned = NULL;
    char cn[64], ca[64] = "", when[21], bad_root[64];
    memset(&c, 0, sizeof c);
    veil_time_format(at, when);
    VEIL_TRY(res, tdx_pinned_root(&pinned));
    pr = veil_x509_parse_all(q->pck_chain, q->pck_chain_len, c.certs, MAX_BUNDLE, &c.n);
    if (!veil_ok(pr))
        CHAIN_FAIL(v, "PCK certificate chain in the quote: %s", pr.msg);
    pr = veil_x509_pubkey(c.certs[0], pub);
    if (!veil_ok(pr))
        CHAIN_FAIL(v, "PCK certificate: %s", pr.msg);
    if (!tdx_bundle_roots_pinned(c.certs, c.n, pinned, bad_root, sizeof bad_root))
        CHAIN_FAIL(v,
                   "the root CN=%.60s in the quote's PCK chain is not the pinned Intel SGX Root "
                   "CA (roots are never taken from the evidence)",
                   bad_root);
    const veil_x509_crl *crls[2] = {col ? col->root_crl : NULL, col ? col->pck_crl : NULL};
    veil_x509_verify_opts o = {at, &pinned, 1, c.certs + 1, c.n - 1, crls, col ? 2u : 0u};
    VEIL_TRY(res, veil_x509_verify_chain(c.certs[0], &o, &c.st));
    veil_x509_subject_cn(c.certs[0], cn, sizeof cn);
    if (!c.st.ok)
        CHAIN_FAIL(v, "%.60s to the Intel SGX Root CA: %s", cn[0] ? cn : "PCK", c.st.detail);
    if (c.st.len != 3)
        CHAIN_FAIL(v, "PCK chain has %zu certificates (expected PCK -> PCK CA -> root)", c.st.len);
    if (!tdx_bundle_all_used(c.certs, c.n, &c.st, bad_root, sizeof bad_root))
        CHAIN_FAIL(v,
                   "the quote's PCK chain carries CN=%.60s, which is not part of the verified "
                   "chain",
                   bad_root);
    veil_x509_subject_cn(c.st.chain[1], ca, sizeof ca);
    if (strcmp(cn, "Intel SGX PCK Certificate") ||
        (strcmp(ca, "Intel SGX PCK Platform CA") && strcmp(ca, "Intel SGX PCK Processor CA")))
        CHAIN_FAIL(v,
                   "unexpected subjects CN=%.60s <- CN=%.60s (want an Intel SGX PCK "
                   "Certificate issued by a PCK Platform or Processor CA)",
                   cn, ca);
    pr = tdx_pck_read(c.certs[0], &q->pck);
    if (!veil_ok(pr))
        CHAIN_FAIL(v, "%s", pr.msg);
    veil_verdict_record(v, VEIL_CHECK_CHAIN, true,
                        "%s <- %s <- Intel SGX Root CA (pinned), valid "
                        "at %s; %s",
                        cn, ca, when,
                        col ? "root and PCK CRLs applied: not revoked"
                            : "no CRL (no authentic collateral)");
out:
    pck_chain_free(&c);
    return res;
}

/* QE: the PCK key signs the QE report, whose REPORTDATA commits to the
 * attestation key: REPORTDATA[0:32] = SHA-256(attest_key || auth_data),
 * REPORTDATA[32:64] = 0 (dcap-qvl verify_qe_report_data). */
static veil_result check_qe(const veil_tdx_quote *q, const veil_pubkey *pck, veil_verdict *v)
{
    veil_result res = VEIL_OK;
    const veil_tdx_qe_report *r = &q->qe_report;
    uint8_t *buf = NULL, hash[32], zero[32] = {0};
    size_t len = VEIL_TDX_ATT_KEY_SIZE + q->qe_auth_data_len;
    char mre[2 * 32 + 1];
    veil_hex_encode(r->mrenclave, 32, mre);
    if (!pck || !veil_pubkey_is_ec(pck, "P-256")) {
        veil_verdict_record(v, VEIL_CHECK_QE, false, "the PCK key is not ECDSA P-256");
        return VEIL_OK;
    }
    res = veil_ecdsa_verify_raw(pck, VEIL_DIGEST_SHA256, r->raw, sizeof r->raw, q->qe_report_sig,
                                32, q->qe_report_sig + 32, 32);
    if (res.cls == VEIL_E_CRYPTO) {
        veil_verdict_record(v, VEIL_CHECK_QE, false,
                            "the QE report signature does not verify with the PCK key (QE report "
                            "altered or signed by another platform)");
        return VEIL_OK;
    }
    VEIL_GUARD(res);
    buf = veil_calloc(1, len);
    VEIL_ENSURE(buf != NULL, VEIL_E_NOMEM, "tdx verify: out of memory");
    memcpy(buf, q->attest_key, VEIL_TDX_ATT_KEY_SIZE);
    if (q->qe_auth_data_len)
        memcpy(buf + VEIL_TDX_ATT_KEY_SIZE, q->qe_auth_data, q->qe_auth_data_len);
    VEIL_TRY(res, veil_sha256(buf, len, hash));
    bool bound =
        veil_ct_equal(hash, r->report_data, 32) && veil_ct_equal(zero, r->report_data + 32, 32);
    veil_verdict_record(
        v, VEIL_CHECK_QE, bound,
        bound ? "QE report (MRENCLAVE %.16s..., ISVSVN %u) signed by the PCK key; its "
                "REPORTDATA binds the attestation key"
              : "QE report (MRENCLAVE %.16s..., ISVSVN %u) is signed, but its "
                "REPORTDATA is not SHA-256(attestation key || QE auth data) || "
                "zeros",
        mre, r->isvsvn);
out:
    veil_free(buf);
    return res;
}

/* SIGNATURE: ECDSA P-256/SHA-256 over header (+ v5 descriptor) + body. */
static veil_result check_signature(const veil_tdx_quote *q, veil_verdict *v)
{
    veil_pubkey *ak = NULL;
    veil_result res = veil_p256_pubkey_from_raw(q->attest_key, &ak);
    if (res.cls == VEIL_E_PROTOCOL) {
        veil_verdict_record(v, VEIL_CHECK_SIGNATURE, false,
                            "the attestation key in the quote is not a P-256 point");
        return VEIL_OK;
    }
    VEIL_GUARD(res);
    res = veil_ecdsa_verify_raw(ak, VEIL_DIGEST_SHA256, q->raw, q->signed_len, q->signature, 32,
                                q->signature + 32, 32);
    veil_pubkey_free(ak);
    if (res.cls == VEIL_E_CRYPTO) {
        veil_verdict_record(v, VEIL_CHECK_SIGNATURE, false,
                            "ECDSA P-256/SHA-256 over quote[0..%zu) does not verify with the "
                            "attestation key (header or TD report altered)",
                            q->signed_len);
        return VEIL_OK;
    }
    VEIL_GUARD(res);
    veil_verdict_record(v, VEIL_CHECK_SIGNATURE, true,
                        "ECDSA P-256/SHA-256 over quote[0..%zu) (header + TD report) verifies with "
                        "the attestation key",
                        q->signed_len);
    return VEIL_OK;
}

/* COLLATERAL: authentic and current (loaded earlier), and for this platform. */
static bool check_collateral(const tdx_collateral *col, const veil_tdx_quote *q, veil_verdict *v)
{
    char have[13], want[13], next[21];
    if (!col->ok) {
        veil_verdict_record(v, VEIL_CHECK_COLLATERAL, false, "%s", col->error);
        return false;
    }
    if (!q->pck.present) {
        veil_verdict_record(v, VEIL_CHECK_COLLATERAL, false,
                            "cannot match the collateral: the PCK certificate's SGX extension was "
                            "not read");
        return false;
    }
    veil_hex_encode(q->pck.fmspc, 6, have);
    veil_hex_encode(col->tcb.fmspc, 6, want);
    if (!veil_public_equal(q->pck.fmspc, 6, col->tcb.fmspc, 6) ||
        !veil_public_equal(q->pck.pceid, 2, col->tcb.pceid, 2)) {
        veil_verdict_record(v, VEIL_CHECK_COLLATERAL, false,
                            "the TCB info is for FMSPC %s / PCE-ID %02x%02x, the PCK's is %s / "
                            "%02x%02x (collateral of another platform)",
                            want, col->tcb.pceid[0], col->tcb.pceid[1], have, q->pck.pceid[0],
                            q->pck.pceid[1]);
        return false;
    }
    veil_time_format(col->tcb.next_update, next);
    veil_verdict_record(v, VEIL_CHECK_COLLATERAL, true,
                        "TCB info (FMSPC %s, evaluation data %u, next update %s) and TD_QE "
                        "identity signed by %s; root and PCK CRLs current",
                        have, col->tcb.tcb_evaluation_data_number, next, col->signer_cn);
    return true;
}

veil_result veil_tdx_verify(const uint8_t *quote, size_t n, const uint8_t *collateral_json,
                            size_t cn, const veil_tdx_trust *trust, veil_tdx_quote *out,
                            veil_verdict *v)
{
    veil_result res = VEIL_OK;
    tdx_collateral *col = NULL;
    veil_pubkey *pck = NULL;
    VEIL_ENSURE(out != NULL && v != NULL, VEIL_E_USAGE, "tdx verify: NULL argument");
    VEIL_ENSURE(quote != NULL || n == 0, VEIL_E_USAGE, "tdx verify: NULL quote with a length");
    VEIL_ENSURE(collateral_json != NULL || cn == 0, VEIL_E_USAGE,
                "tdx verify: NULL collateral with a length");
    int64_t at = trust && trust->at ? trust->at : (int64_t)time(NULL);

    /* FORMAT */
    veil_result dr = veil_tdx_quote_decode(quote, n, out);
    if (!veil_ok(dr)) {
        VEIL_GUARD(dr.cls == VEIL_E_PROTOCOL ? VEIL_OK : dr);
        veil_verdict_record(v, VEIL_CHECK_FORMAT, false, "%s", dr.msg);
        return VEIL_OK;
    }
    char tail[64] = "";
    if (out->trailing_len)
        snprintf(tail, sizeof tail, "; %zu bytes after it ignored (%s)", out->trailing_len,
                 out->trailing_zero ? "zero padding" : "not zero");
    veil_verdict_record(v, VEIL_CHECK_FORMAT, true,
                        "TDX quote v%u, TD report body type %u (%u bytes), %zu-byte quote%s",
                        out->header.version, out->body_type, out->body_size, out->quote_len, tail);

    /* the collateral first: CHAIN applies its CRLs once it is authentic */
    if (cn > 0) {
        col = veil_calloc(1, sizeof *col);
        VEIL_ENSURE(col != NULL, VEIL_E_NOMEM, "tdx verify: out of memory");
        VEIL_TRY(res, tdx_collateral_load(collateral_json, cn, at, col));
    }

    /* CHAIN, QE, SIGNATURE */
    VEIL_TRY(res, check_chain(out, col && col->ok ? col : NULL, at, &pck, v));
    if (!pck)
        goto out; /* no usable PCK certificate: the QE report cannot be checked */
    VEIL_TRY(res, check_qe(out, pck, v));
    VEIL_TRY(res, check_signature(out, v));

    /* COLLATERAL, TCB */
    if (col && check_collateral(col, out, v))
        tdx_tcb_evaluate(col, out, v);
out:
    veil_pubkey_free(pck);
    tdx_collateral_free(col);
    veil_free(col);
    return res;
}
