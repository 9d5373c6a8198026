/* Intel TDX DCAP quote, versions 4 and 5 (sgx_quote_4.h, sgx_quote_5.h;
 * notes/attestation-formats.md §2.1-2.3), decoded field by field through
 * bounded cursors. The layout is walked by its length fields, never by the
 * buffer size: quotes arrive in fixed buffers with zero padding (GCP) or
 * even junk (go-tdx-guest's SPR sample) after the signature data.
 *
 *   header (48) | [v5: u16 body type | u32 body size] | TD report body (584/648)
 *   | u32 signature data length | signature data:
 *       sig[64] | attestation key[64] | u16 cert type (6) | u32 cert size | cert data:
 *           QE report[384] | QE report sig[64] | u16 auth size | auth data
 *           | u16 cert type (5) | u32 size | PEM chain (PCK, PCK CA, root; maybe NUL-ended)
 */
#include <string.h>

#include "attest/tdx_internal.h"
#include "veil/cursor.h"
#include "veil/mem.h"

_Static_assert(VEIL_TDX_BODY_RTMR0 + 4 * 48 == VEIL_TDX_BODY_REPORT_DATA, "RTMRs then REPORTDATA");
_Static_assert(VEIL_TDX_BODY_REPORT_DATA + 64 == VEIL_TDX_BODY10_SIZE, "TDX 1.0 body ends");
_Static_assert(VEIL_TDX_BODY_MR_SERVICETD + 48 == VEIL_TDX_BODY15_SIZE, "TDX 1.5 body ends");
_Static_assert(VEIL_TDX_QE_REPORT_DATA + 64 == VEIL_TDX_QE_REPORT_SIZE, "QE report ends");

/* Every read names the field it wanted, so a truncated quote says where. */
static veil_result take(veil_cursor *c, void *out, size_t n, const char *msg)
{
    VEIL_ENSURE(veil_ok(veil_cursor_copy(c, out, n)), VEIL_E_PROTOCOL, msg);
    return VEIL_OK;
}

static veil_result take_u16(veil_cursor *c, uint16_t *out, const char *msg)
{
    VEIL_ENSURE(veil_ok(veil_cursor_u16le(c, out)), VEIL_E_PROTOCOL, msg);
    return VEIL_OK;
}

static veil_result take_u32(veil_cursor *c, uint32_t *out, const char *msg)
{
    VEIL_ENSURE(veil_ok(veil_cursor_u32le(c, out)), VEIL_E_PROTOCOL, msg);
    return VEIL_OK;
}

static veil_result take_sub(veil_cursor *c, size_t n, veil_cursor *sub, const char *msg)
{
    VEIL_ENSURE(veil_ok(veil_cursor_sub(c, n, sub)), VEIL_E_PROTOCOL, msg);
    return VEIL_OK;
}

/* §2.1 header */
static veil_result decode_header(veil_cursor *c, veil_tdx_header *h)
{
    const char *short_msg = "tdx quote: truncated in the 48-byte header";
    VEIL_GUARD(take_u16(c, &h->version, short_msg));
    VEIL_GUARD(take_u16(c, &h->att_key_type, short_msg));
    VEIL_GUARD(take_u32(c, &h->tee_type, short_msg));
    VEIL_GUARD(take(c, h->reserved, sizeof h->reserved, short_msg));
    VEIL_GUARD(take(c, h->qe_vendor_id, sizeof h->qe_vendor_id, short_msg));
    VEIL_GUARD(take(c, h->user_data, sizeof h->user_data, short_msg));
    VEIL_ENSURE(h->version == VEIL_TDX_VERSION_4 || h->version == VEIL_TDX_VERSION_5,
                VEIL_E_PROTOCOL, "tdx quote: header version is not 4 or 5");
    VEIL_ENSURE(h->att_key_type == VEIL_TDX_ATT_KEY_ECDSA_P256, VEIL_E_PROTOCOL,
                "tdx quote: attestation key type is not 2 (ECDSA-256-with-P-256)");
    VEIL_ENSURE(h->tee_type == VEIL_TDX_TEE_TYPE_TDX, VEIL_E_PROTOCOL,
                "tdx quote: TEE type is not 0x81 (TDX); SGX quotes are not supported");
    return VEIL_OK;
}

/* §2.2 TD report body; the sub-cursor holds exactly body_size bytes. */
static veil_result decode_body(veil_cursor *c, uint16_t type, veil_tdx_td_report *b)
{
    const char *short_msg = "tdx quote: truncated in the TD report body";
    VEIL_GUARD(take(c, b->tee_tcb_svn, sizeof b->tee_tcb_svn, short_msg));
    VEIL_GUARD(take(c, b->mr_seam, sizeof b->mr_seam, short_msg));
    VEIL_GUARD(take(c, b->mr_signer_seam, sizeof b->mr_signer_seam, short_msg));
    VEIL_GUARD(take(c, b->seam_attributes, sizeof b->seam_attributes, short_msg));
    VEIL_GUARD(take(c, b->td_attributes, sizeof b->td_attributes, short_msg));
    VEIL_GUARD(take(c, b->xfam, sizeof b->xfam, short_msg));
    VEIL_GUARD(take(c, b->mr_td, sizeof b->mr_td, short_msg));
    VEIL_GUARD(take(c, b->mr_config_id, sizeof b->mr_config_id, short_msg));
    VEIL_GUARD(take(c, b->mr_owner, sizeof b->mr_owner, short_msg));
    VEIL_GUARD(take(c, b->mr_owner_config, sizeof b->mr_owner_config, short_msg));
    for (int i = 0; i < 4; i++)
        VEIL_GUARD(take(c, b->rtmr[i], sizeof b->rtmr[i], short_msg));
    VEIL_GUARD(take(c, b->report_data, sizeof b->report_data, short_msg));
    if (type == VEIL_TDX_BODY_TYPE_TD15) {
        VEIL_GUARD(take(c, b->tee_tcb_svn2, sizeof b->tee_tcb_svn2, short_msg));
        VEIL_GUARD(take(c, b->mr_servicetd, sizeof b->mr_servicetd, short_msg));
    }
    return veil_cursor_expect_end(c, "tdx quote: TD report body longer than its type");
}

/* v4: the body is always a TDX 1.0 report; v5: a descriptor says which. */
static veil_result decode_body_desc(veil_cursor *c, veil_tdx_quote *q)
{
    if (q->header.version == VEIL_TDX_VERSION_4) {
        q->body_type = VEIL_TDX_BODY_TYPE_TD10;
        q->body_size = VEIL_TDX_BODY10_SIZE;
        return VEIL_OK;
    }
    const char *short_msg = "tdx quote: truncated in the v5 body descriptor";
    VEIL_GUARD(take_u16(c, &q->body_type, short_msg));
    VEIL_GUARD(take_u32(c, &q->body_size, short_msg));
    VEIL_ENSURE(q->body_type == VEIL_TDX_BODY_TYPE_TD10 || q->body_type == VEIL_TDX_BODY_TYPE_TD15,
                VEIL_E_PROTOCOL,
                "tdx quote: v5 body type is not 2 or 3 (TD report); SGX bodies are not supported");
    uint32_t want =
        q->body_type == VEIL_TDX_BODY_TYPE_TD10 ? VEIL_TDX_BODY10_SIZE : VEIL_TDX_BODY15_SIZE;
    VEIL_ENSURE(q->body_size == want, VEIL_E_PROTOCOL,
                "tdx quote: v5 body size does not match its type (584 for 2, 648 for 3)");
    return VEIL_OK;
}

/* §2.3 the QE report: an SGX REPORT BODY. */
static veil_result decode_qe_report(veil_cursor *c, veil_tdx_qe_report *r)
{
    const char *short_msg = "tdx quote: truncated in the QE report";
    veil_cursor rc;
    VEIL_GUARD(take(c, r->raw, sizeof r->raw, short_msg));
    rc = veil_cursor_init(r->raw, sizeof r->raw);
    VEIL_GUARD(take(&rc, r->cpusvn, sizeof r->cpusvn, short_msg));
    VEIL_GUARD(take_u32(&rc, &r->miscselect, short_msg));
    VEIL_GUARD(veil_cursor_skip(&rc, VEIL_TDX_QE_ATTRIBUTES - VEIL_TDX_QE_MISCSELECT - 4));
    VEIL_GUARD(take(&rc, r->attributes, sizeof r->attributes, short_msg));
    VEIL_GUARD(take(&rc, r->mrenclave, sizeof r->mrenclave, short_msg));
    VEIL_GUARD(veil_cursor_skip(&rc, VEIL_TDX_QE_MRSIGNER - VEIL_TDX_QE_MRENCLAVE - 32));
    VEIL_GUARD(take(&rc, r->mrsigner, sizeof r->mrsigner, short_msg));
    VEIL_GUARD(veil_cursor_skip(&rc, VEIL_TDX_QE_ISVPRODID - VEIL_TDX_QE_MRSIGNER - 32));
    VEIL_GUARD(take_u16(&rc, &r->isvprodid, short_msg));
    VEIL_GUARD(take_u16(&rc, &r->isvsvn, short_msg));
    VEIL_GUARD(veil_cursor_skip(&rc, VEIL_TDX_QE_REPORT_DATA - VEIL_TDX_QE_ISVSVN - 2));
    VEIL_GUARD(take(&rc, r->report_data, sizeof r->report_data, short_msg));
    return veil_cursor_expect_end(&rc, "tdx quote: QE report layout");
}

/* Certification data type 6 (sgx_qe_report_certification_data_t), consumed
 * exactly: QE report, its signature, auth data, then the nested type 5. */
static veil_result decode_qe_cert_data(veil_cursor *c, veil_tdx_quote *q)
{
    const char *short_msg = "tdx quote: truncated in the QE report certification data";
    uint16_t auth_len;
    veil_cursor pem;
    VEIL_GUARD(decode_qe_report(c, &q->qe_report));
    VEIL_GUARD(take(c, q->qe_report_sig, sizeof q->qe_report_sig, short_msg));
    VEIL_GUARD(take_u16(c, &auth_len, short_msg));
    VEIL_ENSURE(veil_ok(veil_cursor_view(c, auth_len, &q->qe_auth_data)), VEIL_E_PROTOCOL,
                "tdx quote: QE auth data longer than the certification data");
    q->qe_auth_data_len = auth_len;
    VEIL_GUARD(take_u16(c, &q->pck_cert_type, short_msg));
    VEIL_GUARD(take_u32(c, &q->pck_cert_size, short_msg));
    VEIL_ENSURE(q->pck_cert_type == VEIL_TDX_CERT_TYPE_PCK_CHAIN, VEIL_E_PROTOCOL,
                "tdx quote: QE certification data does not hold a PCK chain (type 5)");
    VEIL_GUARD(take_sub(c, q->pck_cert_size, &pem,
                        "tdx quote: PCK chain longer than the certification data"));
    VEIL_GUARD(veil_cursor_expect_end(c, "tdx quote: bytes after the PCK chain inside the QE "
                                         "certification data"));
    /* The PEM may end with NUL bytes (C strings); PEM parsing stops at them. */
    size_t len = veil_cursor_remaining(&pem);
    const uint8_t *p = veil_cursor_peek_ptr(&pem);
    while (len > 0 && p[len - 1] == 0)
        len--;
    VEIL_ENSURE(len > 0, VEIL_E_PROTOCOL, "tdx quote: the PCK chain is empty");
    q->pck_chain = p;
    q->pck_chain_len = len;
    return VEIL_OK;
}

/* §2.3 signature data (sgx_ecdsa_sig_data_v4_t), consumed exactly. */
static veil_result decode_sig_data(veil_cursor *c, veil_tdx_quote *q)
{
    const char *short_msg = "tdx quote: truncated in the signature data";
    veil_cursor cert;
    VEIL_GUARD(take(c, q->signature, sizeof q->signature, short_msg));
    VEIL_GUARD(take(c, q->attest_key, sizeof q->attest_key, short_msg));
    VEIL_GUARD(take_u16(c, &q->cert_type, short_msg));
    VEIL_GUARD(take_u32(c, &q->cert_size, short_msg));
    VEIL_ENSURE(q->cert_type == VEIL_TDX_CERT_TYPE_QE_REPORT, VEIL_E_PROTOCOL,
                "tdx quote: certification data type is not 6 (QE report + PCK chain)");
    VEIL_GUARD(take_sub(c, q->cert_size, &cert,
                        "tdx quote: certification data longer than the signature data"));
    VEIL_GUARD(decode_qe_cert_data(&cert, q));
    return veil_cursor_expect_end(c, "tdx quote: bytes after the certification data inside the "
                                     "signature data");
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* Empty, with the TCB marked "not evaluated" (0 would read as UpToDate). */
static void quote_reset(veil_tdx_quote *q)
{
    memset(q, 0, sizeof *q);
    q->tcb.status = q->tcb.platform = q->tcb.module = q->tcb.qe = VEIL_TDX_TCB_UNKNOWN;
}

veil_result veil_tdx_quote_decode(const uint8_t *p, size_t n, veil_tdx_quote *out)
{
    veil_result res = VEIL_OK;
    veil_cursor c, body, sig;
    uint32_t sig_len;
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "tdx quote: NULL output");
    quote_reset(out);
    VEIL_ENSURE(p != NULL || n == 0, VEIL_E_USAGE, "tdx quote: NULL input with a length");
    VEIL_ENSURE_GOTO(res, n <= VEIL_TDX_MAX_QUOTE, VEIL_E_PROTOCOL, "tdx quote: larger than 1 MiB");
    c = veil_cursor_init(p, n);
    VEIL_TRY(res, decode_header(&c, &out->header));
    VEIL_TRY(res, decode_body_desc(&c, out));
    VEIL_TRY(res,
             take_sub(&c, out->body_size, &body, "tdx quote: truncated in the TD report body"));
    VEIL_TRY(res, decode_body(&body, out->body_type, &out->body));
    out->signed_len = c.off; /* header (+ v5 descriptor) + body */
    VEIL_TRY(res, take_u32(&c, &sig_len, "tdx quote: truncated before the signature data length"));
    out->sig_data_len = sig_len;
    VEIL_TRY(res,
             take_sub(&c, sig_len, &sig, "tdx quote: signature data length exceeds the input"));
    VEIL_TRY(res, decode_sig_data(&sig, out));
    out->raw = p;
    out->quote_len = c.off;
    out->trailing_len = veil_cursor_remaining(&c);
    out->trailing_zero = all_zero(veil_cursor_peek_ptr(&c), out->trailing_len);
out:
    if (!veil_ok(res))
        quote_reset(out);
    return res;
}

/* ---- TCB status names (Intel PCS tcbStatus values) -------------------------------------- */

static const char *const status_names[] = {
    [VEIL_TDX_TCB_UP_TO_DATE] = "UpToDate",
    [VEIL_TDX_TCB_SW_HARDENING_NEEDED] = "SWHardeningNeeded",
    [VEIL_TDX_TCB_CONFIGURATION_NEEDED] = "ConfigurationNeeded",
    [VEIL_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED] = "ConfigurationAndSWHardeningNeeded",
    [VEIL_TDX_TCB_OUT_OF_DATE] = "OutOfDate",
    [VEIL_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED] = "OutOfDateConfigurationNeeded",
    [VEIL_TDX_TCB_REVOKED] = "Revoked",
    [VEIL_TDX_TCB_UNKNOWN] = "Unknown",
};

const char *veil_tdx_tcb_status_name(veil_tdx_tcb_status s)
{
    return (unsigned)s <= VEIL_TDX_TCB_UNKNOWN ? status_names[s] : "Unknown";
}

veil_tdx_tcb_status veil_tdx_tcb_status_from_name(const char *name)
{
    for (int i = VEIL_TDX_TCB_UP_TO_DATE; i < VEIL_TDX_TCB_UNKNOWN; i++)
        if (!strcmp(status_names[i], name))
            return (veil_tdx_tcb_status)i;
    return VEIL_TDX_TCB_UNKNOWN;
}
