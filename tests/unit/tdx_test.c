/* Intel TDX: every real quote in shared/testdata/attestation gives the
 * outcome its PROVENANCE.md states at its verification time (TCB status from
 * the given collateral, RTMR replay from the given event log), with every
 * field of its expected_fields.json compared; mutations fail the right named
 * check; the collateral, event-log, PCK-extension and policy parsers reject
 * malformed input; the appraisal and the EAR claims follow the policy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/tdx_internal.h"
#include "crypto/digest.h"
#include "crypto/x509.h"
#include "testutil.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/tdx.h"
#include "veil/timeutil.h"

#define DIR "attestation/"
#define SPR DIR "tdx-v4-spr-go-tdx-guest/"
#define V5 DIR "tdx-v5-go-tdx-guest/"
#define GCP DIR "tdx-v4-gcp-cos-ccel/"

/* ---- fixtures ------------------------------------------------------------------------------ */

typedef struct blob {
    uint8_t *p;
    size_t n;
} blob;

static blob load(const char *rel)
{
    blob b;
    b.p = (uint8_t *)tu_read_testdata(rel, &b.n);
    return b;
}

static blob copy_of(const blob *b)
{
    blob c = {veil_calloc(b->n + 1, 1), b->n};
    assert_non_null(c.p);
    memcpy(c.p, b->p, b->n);
    return c;
}

static void unload(blob *b)
{
    tu_free(b->p);
    b->p = NULL;
    b->n = 0;
}

static int64_t when(const char *s)
{
    int64_t t;
    tu_ok(veil_time_parse(s, &t));
    return t;
}

/* Verify (and finish the verdict); returns the failed check, NONE = valid. */
static veil_check verify(const blob *quote, const blob *col, const char *at, veil_tdx_quote *q,
                         veil_verdict *v)
{
    veil_tdx_trust trust = {when(at)};
    veil_verdict_init(v);
    tu_ok(veil_tdx_verify(quote->p, quote->n, col ? col->p : NULL, col ? col->n : 0, &trust, q, v));
    veil_verdict_finish(v);
    if (v->failed != VEIL_CHECK_NONE)
        print_message("  verdict: %s\n", v->reason);
    return v->failed;
}

static const veil_check_record *trace_of(const veil_verdict *v, veil_check c)
{
    for (size_t i = 0; i < v->n_trace; i++)
        if (v->trace[i].check == c)
            return &v->trace[i];
    return NULL;
}

static bool passed(const veil_verdict *v, veil_check c)
{
    const veil_check_record *r = trace_of(v, c);
    return r && r->passed;
}

/* The authenticity checks, in order, all passed. */
static void assert_authentic(const veil_verdict *v, bool with_collateral)
{
    static const veil_check order[] = {VEIL_CHECK_FORMAT, VEIL_CHECK_CHAIN, VEIL_CHECK_QE,
                                       VEIL_CHECK_SIGNATURE, VEIL_CHECK_COLLATERAL};
    size_t n = with_collateral ? 5 : 4;
    assert_true(v->n_trace >= n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v->trace[i].check, order[i]);
        if (!v->trace[i].passed)
            fail_msg("%s failed: %s", veil_check_name(order[i]), v->trace[i].detail);
    }
}

/* ---- expected_fields.json ------------------------------------------------------------------ */

static void expect_hex(json_t *val, const uint8_t *p, size_t n, const char *key)
{
    veil_buf b;
    const char *s = json_string_value(val);
    if (!s)
        fail_msg("%s: not a string", key);
    tu_hex(&b, s);
    if (!veil_public_equal(b.data, b.len, p, n))
        print_error("field %s differs\n", key);
    tu_assert_bytes(p, n, b.data, b.len);
    veil_buf_free(&b);
}

static void expect_int(json_t *val, long long got, const char *key)
{
    if (!json_is_integer(val) || json_integer_value(val) != got)
        fail_msg("field %s: got %lld", key, got);
}

static void expect_header(json_t *o, const veil_tdx_header *h)
{
    const char *key;
    json_t *val;
    char tee[16];
    json_object_foreach (o, key, val) {
        if (!strcmp(key, "version"))
            expect_int(val, h->version, key);
        else if (!strcmp(key, "att_key_type"))
            expect_int(val, h->att_key_type, key);
        else if (!strcmp(key, "tee_type")) {
            snprintf(tee, sizeof tee, "0x%x", h->tee_type);
            assert_string_equal(json_string_value(val), tee);
        } else if (!strcmp(key, "reserved_or_svns"))
            expect_hex(val, h->reserved, 4, key);
        else if (!strcmp(key, "qe_vendor_id"))
            expect_hex(val, h->qe_vendor_id, 16, key);
        else if (!strcmp(key, "user_data"))
            expect_hex(val, h->user_data, 20, key);
        else
            fail_msg("unknown header field %s", key);
    }
}

static void expect_body(json_t *o, const veil_tdx_td_report *b)
{
    const struct {
        const char *key;
        const uint8_t *p;
        size_t n;
    } fields[] = {
        {"tee_tcb_svn", b->tee_tcb_svn, 16},
        {"mr_seam", b->mr_seam, 48},
        {"mr_signer_seam", b->mr_signer_seam, 48},
        {"seam_attributes", b->seam_attributes, 8},
        {"td_attributes", b->td_attributes, 8},
        {"xfam", b->xfam, 8},
        {"mr_td", b->mr_td, 48},
        {"mr_config_id", b->mr_config_id, 48},
        {"mr_owner", b->mr_owner, 48},
        {"mr_owner_config", b->mr_owner_config, 48},
        {"rtmr0", b->rtmr[0], 48},
        {"rtmr1", b->rtmr[1], 48},
        {"rtmr2", b->rtmr[2], 48},
        {"rtmr3", b->rtmr[3], 48},
        {"report_data", b->report_data, 64},
        {"tee_tcb_svn2", b->tee_tcb_svn2, 16},
        {"mr_servicetd", b->mr_servicetd, 48},
    };
    const char *key;
    json_t *val;
    json_object_foreach (o, key, val) {
        size_t i = 0;
        while (i < sizeof fields / sizeof fields[0] && strcmp(fields[i].key, key))
            i++;
        if (i == sizeof fields / sizeof fields[0])
            fail_msg("unknown body field %s", key);
        expect_hex(val, fields[i].p, fields[i].n, key);
    }
}

static void expect_qe_report(json_t *o, const veil_tdx_qe_report *r)
{
    const char *key;
    json_t *val;
    json_object_foreach (o, key, val) {
        if (!strcmp(key, "cpusvn"))
            expect_hex(val, r->cpusvn, 16, key);
        else if (!strcmp(key, "miscselect"))
            expect_hex(val, r->raw + VEIL_TDX_QE_MISCSELECT, 4, key);
        else if (!strcmp(key, "attributes"))
            expect_hex(val, r->attributes, 16, key);
        else if (!strcmp(key, "mrenclave"))
            expect_hex(val, r->mrenclave, 32, key);
        else if (!strcmp(key, "mrsigner"))
            expect_hex(val, r->mrsigner, 32, key);
        else if (!strcmp(key, "isvprodid"))
            expect_int(val, r->isvprodid, key);
        else if (!strcmp(key, "isvsvn"))
            expect_int(val, r->isvsvn, key);
        else if (!strcmp(key, "report_data"))
            expect_hex(val, r->report_data, 64, key);
        else
            fail_msg("unknown QE report field %s", key);
    }
}

static void expect_parsed(json_t *o, const veil_tdx_quote *q)
{
    const char *key;
    json_t *val;
    json_object_foreach (o, key, val) {
        if (!strcmp(key, "header"))
            expect_header(val, &q->header);
        else if (!strcmp(key, "body_type"))
            expect_int(val, q->body_type, key);
        else if (!strcmp(key, "body"))
            expect_body(val, &q->body);
        else if (!strcmp(key, "signed_len"))
            expect_int(val, (long long)q->signed_len, key);
        else if (!strcmp(key, "sig_data_len"))
            expect_int(val, q->sig_data_len, key);
        else if (!strcmp(key, "trailing_bytes"))
            expect_int(val, (long long)q->trailing_len, key);
        else if (!strcmp(key, "outer_cert_type"))
            expect_int(val, q->cert_type, key);
        else if (!strcmp(key, "inner_cert_type"))
            expect_int(val, q->pck_cert_type, key);
        else if (!strcmp(key, "qe_auth_data"))
            expect_hex(val, q->qe_auth_data, q->qe_auth_data_len, key);
        else if (!strcmp(key, "qe_report"))
            expect_qe_report(val, &q->qe_report);
        else
            fail_msg("unknown parsed field %s", key);
    }
}

static void expect_pck(json_t *o, const veil_tdx_pck *k)
{
    const char *key;
    json_t *val, *e;
    size_t i;
    uint8_t b;
    assert_true(k->present);
    json_object_foreach (o, key, val) {
        if (!strcmp(key, "PPID"))
            expect_hex(val, k->ppid, 16, key);
        else if (!strcmp(key, "PCESVN"))
            expect_int(val, k->pcesvn, key);
        else if (!strcmp(key, "CPUSVN"))
            expect_hex(val, k->cpusvn, 16, key);
        else if (!strcmp(key, "PCE-ID"))
            expect_hex(val, k->pceid, 2, key);
        else if (!strcmp(key, "FMSPC"))
            expect_hex(val, k->fmspc, 6, key);
        else if (!strcmp(key, "SGX-Type")) {
            b = (uint8_t)k->sgx_type;
            expect_hex(val, &b, 1, key);
        } else if (!strcmp(key, "PlatformInstanceID")) {
            assert_true(k->has_platform_instance_id);
            expect_hex(val, k->platform_instance_id, 16, key);
        } else if (!strncmp(key, "1.2.840.113741.1.13.1.7.", 24)) {
            int arc = key[24] - '0';
            bool flag = arc == 1 ? k->dynamic_platform : arc == 2 ? k->cached_keys : k->smt_enabled;
            assert_true(k->has_configuration && arc >= 1 && arc <= 3 && key[25] == '\0');
            b = flag ? 0xFF : 0x00;
            expect_hex(val, &b, 1, key);
        } else if (!strcmp(key, "SGXTCBCompSVNs")) {
            assert_int_equal(json_array_size(val), 16);
            json_array_foreach (val, i, e)
                expect_int(e, k->comp_svn[i], key);
        } else
            fail_msg("unknown pck extension field %s", key);
    }
}

/* "C=US,ST=CA,L=Santa Clara,O=Intel Corporation,CN=..." in DN order, via
 * OpenSSL directly (independently of the verifier's own parsing). */
static void expect_subjects(json_t *arr, const veil_tdx_quote *q)
{
    BIO *bio = BIO_new_mem_buf(q->pck_chain, (int)q->pck_chain_len);
    size_t i;
    json_t *want;
    assert_non_null(bio);
    json_array_foreach (arr, i, want) {
        X509 *c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        char dn[512] = "";
        size_t len = 0;
        assert_non_null(c);
        const X509_NAME *name = X509_get_subject_name(c);
        /* the expected form lists the RDNs last-encoded first (C=US, ..., CN=...) */
        for (int k = X509_NAME_entry_count(name) - 1; k >= 0; k--) {
            const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, k);
            const ASN1_STRING *s = X509_NAME_ENTRY_get_data(e);
            len += (size_t)snprintf(dn + len, sizeof dn - len, "%s%s=%.*s", len ? "," : "",
                                    OBJ_nid2sn(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e))),
                                    ASN1_STRING_length(s), ASN1_STRING_get0_data(s));
        }
        assert_string_equal(dn, json_string_value(want));
        X509_free(c);
    }
    assert_null(PEM_read_bio_X509(bio, NULL, NULL, NULL));
    BIO_free(bio);
}

static void expect_not_after(json_t *val, const veil_tdx_quote *q)
{
    veil_x509 *certs[4];
    size_t n = 0;
    int64_t nb, na;
    char t[21], want[32];
    tu_ok(veil_x509_parse_all(q->pck_chain, q->pck_chain_len, certs, 4, &n));
    tu_ok(veil_x509_validity(certs[0], &nb, &na));
    veil_time_format(na, t);
    /* "2031-07-02T12:07:37Z" -> "2031-07-02 12:07:37+00:00" */
    snprintf(want, sizeof want, "%.10s %.8s+00:00", t, t + 11);
    assert_string_equal(json_string_value(val), want);
    for (size_t i = 0; i < n; i++)
        veil_x509_free(certs[i]);
}

/* [index, status, advisories, tcbDate] or null (no level matched). */
static void expect_tcb_eval(json_t *o, const veil_tdx_quote *q, const veil_verdict *v)
{
    const char *key;
    json_t *val;
    json_object_foreach (o, key, val) {
        if (!strcmp(key, "platform_level")) {
            if (json_is_null(val)) {
                assert_int_equal(q->tcb.platform, VEIL_TDX_TCB_UNKNOWN);
                assert_false(passed(v, VEIL_CHECK_TCB));
                assert_non_null(strstr(trace_of(v, VEIL_CHECK_TCB)->detail, "no matching TCB"));
                continue;
            }
            expect_int(json_array_get(val, 0), (long long)q->tcb.level_index, key);
            assert_string_equal(json_string_value(json_array_get(val, 1)),
                                veil_tdx_tcb_status_name(q->tcb.platform));
            assert_int_equal(json_array_size(json_array_get(val, 2)), q->tcb.n_advisories);
            assert_string_equal(json_string_value(json_array_get(val, 3)), q->tcb.tcb_date);
        } else if (!strcmp(key, "module_mrsigner_ok")) {
            assert_true(json_is_true(val));
            assert_int_not_equal(q->tcb.module, VEIL_TDX_TCB_UNKNOWN);
        } else if (!strcmp(key, "module_level")) {
            assert_string_equal(json_string_value(json_array_get(val, 0)), q->tcb.module_id);
            assert_string_equal(json_string_value(json_array_get(val, 1)),
                                veil_tdx_tcb_status_name(q->tcb.module));
            assert_int_equal(json_array_size(json_array_get(val, 2)), 0);
        } else if (!strcmp(key, "qe_identity")) {
            /* mrsigner_prodid_ok, miscselect_ok, attributes_ok: a level was chosen */
            assert_true(json_is_true(json_object_get(val, "mrsigner_prodid_ok")));
            assert_true(json_is_true(json_object_get(val, "miscselect_ok")));
            assert_true(json_is_true(json_object_get(val, "attributes_ok")));
            assert_int_equal(json_object_size(val), 4);
            assert_string_equal(json_string_value(json_object_get(val, "level")),
                                veil_tdx_tcb_status_name(q->tcb.qe));
        } else
            fail_msg("unknown TCB evaluation field %s", key);
    }
}

static void expect_fields(const char *rel, const char *file, const blob *quote,
                          const veil_tdx_quote *q, const veil_verdict *v,
                          const veil_tdx_eventlog *log)
{
    size_t jn;
    char *text = tu_read_testdata(rel, &jn);
    json_t *root = json_loadb(text, jn, 0, NULL), *val;
    const char *key;
    uint8_t digest[32];
    size_t i;
    json_t *e;
    assert_non_null(root);
    json_object_foreach (root, key, val) {
        if (!strcmp(key, "file"))
            assert_string_equal(json_string_value(val), file);
        else if (!strcmp(key, "sha256")) {
            tu_ok(veil_sha256(quote->p, quote->n, digest));
            expect_hex(val, digest, 32, key);
        } else if (!strcmp(key, "size"))
            expect_int(val, (long long)quote->n, key);
        else if (!strcmp(key, "parsed"))
            expect_parsed(val, q);
        else if (!strcmp(key, "quote_signature_valid"))
            assert_int_equal(json_is_true(val), passed(v, VEIL_CHECK_SIGNATURE));
        else if (!strcmp(key, "qe_report_signature_valid") ||
                 !strcmp(key, "qe_report_data_binds_attestation_key"))
            assert_int_equal(json_is_true(val), passed(v, VEIL_CHECK_QE));
        else if (!strcmp(key, "pck_chain_to_intel_root")) {
            assert_string_equal(json_string_value(val), "OK");
            assert_true(passed(v, VEIL_CHECK_CHAIN));
        } else if (!strcmp(key, "pck_chain_subjects"))
            expect_subjects(val, q);
        else if (!strcmp(key, "pck_sgx_extension"))
            expect_pck(val, &q->pck);
        else if (!strcmp(key, "pck_not_after"))
            expect_not_after(val, q);
        else if (!strcmp(key, "rtmr_replay")) {
            assert_non_null(log); /* prose; the booleans below are the claim */
            assert_non_null(strstr(json_string_value(val), "43 events"));
            assert_int_equal(log->n_events, 43);
            assert_int_equal(log->log_len, 18101);
        } else if (!strcmp(key, "rtmr_replay_matches")) {
            assert_non_null(log);
            json_array_foreach (val, i, e)
                assert_int_equal(json_is_true(e),
                                 veil_public_equal(log->rtmr[i], 48, q->body.rtmr[i], 48));
        } else if (!strcmp(key, "tcb_evaluation_with_collateral.json"))
            expect_tcb_eval(val, q, v);
        else
            fail_msg("unknown expected field %s", key);
    }
    json_decref(root);
    tu_free(text);
}

/* ---- the real evidence sets ------------------------------------------------------------------ */

static void test_spr_v4_no_matching_tcb_level(void **state)
{
    (void)state;
    blob quote = load(SPR "quote.bin"), col = load(SPR "collateral.json");
    veil_tdx_quote q;
    veil_verdict v;
    /* PROVENANCE.md: signatures VALID, TCB "no matching TCB level" at 2023-07-01 */
    assert_int_equal(verify(&quote, &col, "2023-07-01T00:00:00Z", &q, &v), VEIL_CHECK_TCB);
    assert_authentic(&v, true);
    assert_false(q.tcb.evaluated);
    assert_int_equal(q.tcb.status, VEIL_TDX_TCB_UNKNOWN);
    assert_int_equal(q.tcb.qe, VEIL_TDX_TCB_UP_TO_DATE); /* QE ISVSVN 4 -> UpToDate */
    assert_int_equal(q.quote_len, 4935);
    assert_int_equal(q.trailing_len, 39);
    assert_false(q.trailing_zero); /* "\nextra bytes(only for testing purpose)\n" */
    assert_string_equal(q.pck.ca, "platform");
    assert_non_null(strstr(trace_of(&v, VEIL_CHECK_CHAIN)->detail, "CRLs applied"));
    expect_fields(SPR "expected_fields.json", "quote.bin", &quote, &q, &v, NULL);
    unload(&quote);
    unload(&col);
}

static void test_v5_up_to_date(void **state)
{
    (void)state;
    blob quote = load(V5 "quote.bin"), col = load(V5 "collateral.json");
    veil_tdx_quote q;
    veil_verdict v;
    /* PROVENANCE.md: VALID, UpToDate at 2026-03-01, no advisories */
    assert_int_equal(verify(&quote, &col, "2026-03-01T00:00:00Z", &q, &v), VEIL_CHECK_NONE);
    assert_authentic(&v, true);
    assert_true(passed(&v, VEIL_CHECK_TCB));
    assert_true(q.tcb.evaluated);
    assert_int_equal(q.tcb.status, VEIL_TDX_TCB_UP_TO_DATE);
    assert_int_equal(q.tcb.platform, VEIL_TDX_TCB_UP_TO_DATE);
    assert_int_equal(q.tcb.module, VEIL_TDX_TCB_UP_TO_DATE);
    assert_int_equal(q.tcb.qe, VEIL_TDX_TCB_UP_TO_DATE);
    assert_true(q.tcb.module_identity);
    assert_string_equal(q.tcb.module_id, "TDX_01");
    assert_int_equal(q.tcb.n_advisories, 0);
    assert_int_equal(q.tcb.tcb_evaluation_data_number, 18);
    assert_int_equal(q.body_type, VEIL_TDX_BODY_TYPE_TD15);
    assert_int_equal(q.signed_len, 702);
    assert_int_equal(q.trailing_len, 0);
    assert_int_equal(q.quote_len, quote.n);
    assert_null(strstr(v.trace[0].detail, "after it"));
    assert_int_equal(q.pck_cert_size, q.pck_chain_len + 1); /* the PEM ends with one NUL */
    expect_fields(V5 "expected_fields.json", "quote.bin", &quote, &q, &v, NULL);
    unload(&quote);
    unload(&col);
}

static void test_gcp_padded_quote_and_ccel_replay(void **state)
{
    (void)state;
    blob quote = load(GCP "quote_padded.bin"), ccel = load(GCP "ccel_event_log.bin");
    blob nonce = load(GCP "nonce.bin");
    veil_tdx_quote q;
    veil_verdict v;
    veil_tdx_eventlog log;
    /* PROVENANCE.md: signatures VALID (no collateral for this FMSPC), RTMRs replay */
    assert_int_equal(verify(&quote, NULL, "2025-01-01T00:00:00Z", &q, &v), VEIL_CHECK_NONE);
    assert_authentic(&v, false);
    assert_int_equal(v.n_trace, 4);
    assert_int_equal(q.quote_len, 4935);
    assert_int_equal(q.trailing_len, 3065);
    assert_true(q.trailing_zero);
    assert_non_null(strstr(v.trace[0].detail, "3065 bytes after it ignored (zero padding)"));
    assert_false(q.tcb.evaluated);
    tu_assert_bytes(q.body.report_data, 64, nonce.p, nonce.n);
    tu_ok(veil_tdx_eventlog_parse(ccel.p, ccel.n, &log));
    assert_int_equal(log.format, VEIL_TDX_EVENTLOG_CCEL);
    for (int i = 0; i < 4; i++)
        tu_assert_bytes(log.rtmr[i], 48, q.body.rtmr[i], 48);
    /* the events name what booted: e.g. the kernel command line in RTMR2 */
    bool cmdline = false;
    for (size_t i = 0; i < log.n_events; i++)
        cmdline |= log.events[i].rtmr == 2 && log.events[i].data_len > 15 &&
                   !memcmp(log.events[i].data, "kernel_cmdline:", 15);
    assert_true(cmdline);
    expect_fields(GCP "expected_fields.json", "quote_padded.bin", &quote, &q, &v, &log);
    veil_tdx_eventlog_free(&log);
    veil_tdx_eventlog_free(&log); /* idempotent */
    unload(&quote);
    unload(&ccel);
    unload(&nonce);
}

/* ---- mutations ------------------------------------------------------------------------------ */

static veil_check verify_mutant(const blob *orig, size_t off, uint8_t x, const blob *col,
                                const char *at, veil_verdict *v)
{
    blob m = copy_of(orig);
    veil_tdx_quote q;
    m.p[off] ^= x;
    veil_check f = verify(&m, col, at, &q, v);
    unload(&m);
    return f;
}

static void test_mutations_fail_the_right_check(void **state)
{
    (void)state;
    const char *at = "2026-03-01T00:00:00Z";
    blob quote = load(V5 "quote.bin"), col = load(V5 "collateral.json");
    veil_tdx_quote q;
    veil_verdict v;
    assert_int_equal(verify(&quote, &col, at, &q, &v), VEIL_CHECK_NONE);
    size_t sig_off = q.signed_len + 4, qe_off = q.signed_len + 4 + 64 + 64 + 2 + 4;
    size_t body_off = VEIL_TDX_HEADER_SIZE + VEIL_TDX_V5_DESCRIPTOR_SIZE;

    /* a signature byte */
    assert_int_equal(verify_mutant(&quote, sig_off + 7, 0x01, &col, at, &v), VEIL_CHECK_SIGNATURE);
    assert_true(passed(&v, VEIL_CHECK_QE));
    /* MRTD changed: the QE part stays valid, the quote signature breaks */
    assert_int_equal(verify_mutant(&quote, body_off + VEIL_TDX_BODY_MR_TD + 5, 0x80, &col, at, &v),
                     VEIL_CHECK_SIGNATURE);
    assert_true(passed(&v, VEIL_CHECK_CHAIN) && passed(&v, VEIL_CHECK_QE));
    /* a QE report byte (MRENCLAVE) */
    assert_int_equal(verify_mutant(&quote, qe_off + VEIL_TDX_QE_MRENCLAVE, 0x01, &col, at, &v),
                     VEIL_CHECK_QE);
    assert_true(passed(&v, VEIL_CHECK_SIGNATURE));
    /* the QE report signature */
    assert_int_equal(
        verify_mutant(&quote, qe_off + VEIL_TDX_QE_REPORT_SIZE + 3, 0x01, &col, at, &v),
        VEIL_CHECK_QE);
    /* the attestation key: the QE binding breaks first, and it is no longer a P-256 point */
    assert_int_equal(verify_mutant(&quote, sig_off + 64 + 9, 0x01, &col, at, &v), VEIL_CHECK_QE);
    assert_non_null(strstr(trace_of(&v, VEIL_CHECK_SIGNATURE)->detail, "not a P-256 point"));
    /* the header version: FORMAT */
    assert_int_equal(verify_mutant(&quote, 0, 0x02, &col, at, &v), VEIL_CHECK_FORMAT);
    /* the user data in the header is signed */
    assert_int_equal(verify_mutant(&quote, VEIL_TDX_HDR_USER_DATA, 0x01, &col, at, &v),
                     VEIL_CHECK_SIGNATURE);
    /* the DEBUG bit in the signed quote */
    assert_int_equal(
        verify_mutant(&quote, body_off + VEIL_TDX_BODY_TD_ATTRIBUTES, 0x01, &col, at, &v),
        VEIL_CHECK_SIGNATURE);
    unload(&quote);
    unload(&col);
}

static void test_debug_attribute_fails_appraisal(void **state)
{
    (void)state;
    blob quote = load(V5 "quote.bin");
    veil_tdx_quote q;
    veil_tdx_policy p;
    veil_verdict v;
    assert_int_equal(verify(&quote, NULL, "2026-03-01T00:00:00Z", &q, &v), VEIL_CHECK_NONE);
    veil_tdx_policy_default(&p);
    /* a decoded quote with DEBUG set: the appraisal refuses it */
    q.body.td_attributes[0] |= 0x01;
    veil_verdict_init(&v);
    veil_tdx_appraise(&q, NULL, &p, &v);
    veil_verdict_finish(&v);
    assert_int_equal(v.failed, VEIL_CHECK_DEBUG);
    /* ... unless the policy allows debuggable TDs */
    p.allow_debug = true;
    veil_verdict_init(&v);
    veil_tdx_appraise(&q, NULL, &p, &v);
    assert_true(veil_verdict_finish(&v));
    /* a reserved attribute bit */
    q.body.td_attributes[0] &= 0xFE;
    q.body.td_attributes[3] |= 0x20; /* bit 29 */
    veil_verdict_init(&v);
    veil_tdx_appraise(&q, NULL, &p, &v);
    veil_verdict_finish(&v);
    assert_int_equal(v.failed, VEIL_CHECK_TD_ATTRIBUTES);
    unload(&quote);
}

static void test_truncated_quotes_fail_format(void **state)
{
    (void)state;
    blob quote = load(V5 "quote.bin");
    veil_tdx_quote q;
    veil_verdict v;
    const size_t lens[] = {0, 1, 47, 48, 53, 100, 701, 702, 705, 800, 1000, 4000, 5005};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        blob t = {quote.p, lens[i]};
        assert_int_equal(verify(&t, NULL, "2026-03-01T00:00:00Z", &q, &v), VEIL_CHECK_FORMAT);
        assert_int_equal(v.n_trace, 1);
        assert_null(q.raw);
        assert_int_equal(q.tcb.status, VEIL_TDX_TCB_UNKNOWN);
    }
    /* the decoder names where it stopped */
    veil_result r = veil_tdx_quote_decode(quote.p, 700, &q);
    assert_int_equal(r.cls, VEIL_E_PROTOCOL);
    assert_non_null(strstr(r.msg, "TD report body"));
    r = veil_tdx_quote_decode(quote.p, 5005, &q);
    assert_non_null(strstr(r.msg, "signature data length exceeds"));
    unload(&quote);
}

/* Lengths that do not consume their sections exactly are FORMAT errors. */
static void test_length_fields_are_exact(void **state)
{
    (void)state;
    blob quote = load(V5 "quote.bin");
    veil_tdx_quote q;
    tu_ok(veil_tdx_quote_decode(quote.p, quote.n, &q));
    size_t s = q.signed_len;
    const struct {
        size_t off;
        uint8_t x;
        const char *msg;
    } cases[] = {
        {VEIL_TDX_HEADER_SIZE, 0x01, "does not match its type"}, /* 3 -> 2 (size 648) */
        {VEIL_TDX_HEADER_SIZE + 2, 0x01, "body size"},           /* 648 -> 649 */
        {VEIL_TDX_HDR_ATT_KEY_TYPE, 0x01, "attestation key"},
        {VEIL_TDX_HDR_TEE_TYPE, 0x81, "TEE type"},
        {s, 0x01, "signature data"},                    /* sig_data_len + 1 */
        {s + 4 + 128, 0x01, "certification data type"}, /* 6 -> 7 */
        {s + 4 + 130, 0x01, "certification data"},      /* cert size + 1 */
        {s + 4 + 134 + 384 + 64, 0x01, "type 5"},       /* auth size 32 -> 33: misaligns the rest */
        {s + 4 + 134 + 384 + 64 + 2 + 32, 0x01, "PCK chain (type 5)"},
        {s + 4 + 134 + 384 + 64 + 2 + 32 + 2, 0x01, "PCK chain"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        blob m = copy_of(&quote);
        m.p[cases[i].off] ^= cases[i].x;
        veil_result r = veil_tdx_quote_decode(m.p, m.n, &q);
        if (veil_ok(r) || !strstr(r.msg, cases[i].msg))
            fail_msg("case %zu: %s", i, r.msg ? r.msg : "accepted");
        assert_int_equal(r.cls, VEIL_E_PROTOCOL);
        unload(&m);
    }
    unload(&quote);
}

/* Rebuild the quote with another PEM chain, fixing the three length fields. */
static blob with_chain(const blob *orig, const uint8_t *pem, size_t pem_len)
{
    veil_tdx_quote q;
    tu_ok(veil_tdx_quote_decode(orig->p, orig->n, &q));
    size_t pem_off = (size_t)(q.pck_chain - q.raw);
    uint32_t delta = (uint32_t)pem_len - q.pck_cert_size;
    blob m = {veil_calloc(pem_off + pem_len, 1), pem_off + pem_len};
    assert_non_null(m.p);
    memcpy(m.p, orig->p, pem_off);
    memcpy(m.p + pem_off, pem, pem_len);
    const size_t fields[3] = {q.signed_len, q.signed_len + 4 + 130, pem_off - 4};
    const uint32_t values[3] = {q.sig_data_len + delta, q.cert_size + delta, (uint32_t)pem_len};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 4; k++)
            m.p[fields[i] + k] = (uint8_t)(values[i] >> (8 * k));
    return m;
}

/* The real PCK and a PCK CA re-signed by a test-generated "Intel SGX Root CA". */
static blob foreign_chain(const blob *orig, bool include_root)
{
    veil_tdx_quote q;
    tu_ok(veil_tdx_quote_decode(orig->p, orig->n, &q));
    BIO *in = BIO_new_mem_buf(q.pck_chain, (int)q.pck_chain_len), *out = BIO_new(BIO_s_mem());
    X509 *leaf = PEM_read_bio_X509(in, NULL, NULL, NULL),
         *ca = PEM_read_bio_X509(in, NULL, NULL, NULL);
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *root = X509_new();
    assert_true(leaf && ca && k && root && out);
    X509_set_version(root, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(root), 7);
    X509_set_subject_name(root, X509_get_issuer_name(ca));
    X509_set_issuer_name(root, X509_get_issuer_name(ca));
    X509_gmtime_adj(X509_getm_notBefore(root), -86400L * 365 * 20);
    X509_gmtime_adj(X509_getm_notAfter(root), 86400L * 365 * 20);
    X509_set_pubkey(root, k);
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(root, bc, -1);
    X509_EXTENSION_free(bc);
    assert_true(X509_sign(root, k, EVP_sha256()) > 0);
    assert_true(X509_sign(ca, k, EVP_sha256()) > 0); /* same names, foreign signature */
    PEM_write_bio_X509(out, leaf);
    PEM_write_bio_X509(out, ca);
    if (include_root)
        PEM_write_bio_X509(out, root);
    char *pem;
    long n = BIO_get_mem_data(out, &pem);
    blob m = with_chain(orig, (const uint8_t *)pem, (size_t)n);
    X509_free(leaf);
    X509_free(ca);
    X509_free(root);
    EVP_PKEY_free(k);
    BIO_free(in);
    BIO_free(out);
    return m;
}

static void test_foreign_pck_root_fails_chain(void **state)
{
    (void)state;
    const char *at = "2026-03-01T00:00:00Z";
    blob quote = load(V5 "quote.bin");
    veil_tdx_quote q;
    veil_verdict v;
    /* the rebuild itself keeps a valid quote valid */
    tu_ok(veil_tdx_quote_decode(quote.p, quote.n, &q));
    blob same = with_chain(&quote, q.pck_chain, q.pck_chain_len);
    assert_int_equal(verify(&same, NULL, at, &q, &v), VEIL_CHECK_NONE);
    unload(&same);

    blob with_root = foreign_chain(&quote, true), without = foreign_chain(&quote, false);
    assert_int_equal(verify(&with_root, NULL, at, &q, &v), VEIL_CHECK_CHAIN);
    assert_non_null(strstr(v.reason, "not the pinned Intel SGX Root CA"));
    /* the QE report is still signed by the (real) PCK key: QE still runs */
    assert_true(passed(&v, VEIL_CHECK_QE) && passed(&v, VEIL_CHECK_SIGNATURE));
    assert_int_equal(verify(&without, NULL, at, &q, &v), VEIL_CHECK_CHAIN);
    unload(&with_root);
    unload(&without);
    unload(&quote);
}

/* ---- collateral ---------------------------------------------------------------------------- */

static veil_check verify_col_text(const blob *quote, const char *text, const char *at,
                                  veil_verdict *v)
{
    blob c = {(uint8_t *)text, strlen(text)};
    veil_tdx_quote q;
    return verify(quote, &c, at, &q, v);
}

/* Replace the first `from` in the collateral text by `to` (same length). */
static char *col_replace(const blob *col, const char *from, const char *to)
{
    char *t = veil_calloc(col->n + 1, 1);
    assert_non_null(t);
    memcpy(t, col->p, col->n);
    char *at = strstr(t, from);
    assert_non_null(at);
    assert_int_equal(strlen(from), strlen(to));
    memcpy(at, to, strlen(to));
    return t;
}

static void test_collateral_changes_fail_collateral(void **state)
{
    (void)state;
    const char *at = "2026-03-01T00:00:00Z";
    blob quote = load(V5 "quote.bin"), col = load(V5 "collateral.json");
    veil_verdict v;
    const struct {
        const char *from, *to;
    } edits[] = {
        {"\"tcbStatus\":\"UpToDate\"", "\"tcbStatus\":\"OutOfDate\""}, /* length differs below */
        {"\\\"isvsvn\\\":6", "\\\"isvsvn\\\":5"},       /* inside tcb_info (escaped) */
        {"\\\"isvprodid\\\":2", "\\\"isvprodid\\\":3"}, /* inside qe_identity */
        {"\"tcb_info_signature\":\"bd", "\"tcb_info_signature\":\"be"},
        {"\"qe_identity_signature\":\"85", "\"qe_identity_signature\":\"86"},
        {"\"pck_crl\":\"30820d17", "\"pck_crl\":\"30820d18"},
        {"\"root_ca_crl\":\"30820120", "\"root_ca_crl\":\"30820121"},
        {"\\\"fmspc\\\":\\\"90C06F000000", "\\\"fmspc\\\":\\\"90C06F000001"},
        {"\"tcb_info\"", "\"tcb_infx\""},
    };
    for (size_t i = 1; i < sizeof edits / sizeof edits[0]; i++) {
        char *t = col_replace(&col, edits[i].from, edits[i].to);
        if (verify_col_text(&quote, t, at, &v) != VEIL_CHECK_COLLATERAL)
            fail_msg("edit %zu (%s) was not refused as collateral", i, edits[i].to);
        /* the quote itself is still authentic */
        assert_true(passed(&v, VEIL_CHECK_CHAIN) && passed(&v, VEIL_CHECK_SIGNATURE));
        veil_free(t);
    }
    /* a changed byte anywhere: refused as collateral, or (where the change
     * means nothing, e.g. unused base64 bits) still valid, never anything else */
    size_t tried = 0, neutral = 0;
    for (size_t off = 0; off < col.n; off += 41) {
        blob m = copy_of(&col);
        veil_tdx_quote q;
        m.p[off] ^= 0x01;
        veil_check f = verify(&quote, &m, at, &q, &v);
        if (f != VEIL_CHECK_COLLATERAL && f != VEIL_CHECK_NONE)
            fail_msg("byte %zu: failed %s", off, veil_check_name(f));
        if (f == VEIL_CHECK_NONE) {
            neutral++;
            print_message("  flip at %zu ('%c' in \"...%.12s...\") had no effect\n", off,
                          (char)col.p[off], (const char *)col.p + (off > 6 ? off - 6 : 0));
        }
        tried++;
        unload(&m);
    }
    print_message("  collateral byte flips: %zu tried, %zu without effect\n", tried, neutral);
    assert_true(neutral * 50 <= tried);
    unload(&quote);
    unload(&col);
}

static void test_collateral_time_and_platform(void **state)
{
    (void)state;
    blob v5 = load(V5 "quote.bin"), v5col = load(V5 "collateral.json");
    blob spr = load(SPR "quote.bin"), sprcol = load(SPR "collateral.json");
    veil_verdict v;
    veil_tdx_quote q;
    /* after nextUpdate (TCB info, QE identity and PCK CRL: 2026-03-20) */
    assert_int_equal(verify(&v5, &v5col, "2026-04-01T00:00:00Z", &q, &v), VEIL_CHECK_COLLATERAL);
    assert_non_null(strstr(v.reason, "expired"));
    assert_non_null(strstr(trace_of(&v, VEIL_CHECK_CHAIN)->detail, "no CRL"));
    /* before issueDate */
    assert_int_equal(verify(&v5, &v5col, "2026-02-10T00:00:00Z", &q, &v), VEIL_CHECK_COLLATERAL);
    /* the 2023 collateral today: the 2018 TCB Signing certificate expired 2025-05-21 */
    assert_int_equal(verify(&spr, &sprcol, "2025-06-01T00:00:00Z", &q, &v), VEIL_CHECK_COLLATERAL);
    /* collateral of another platform (FMSPC 90c06f000000 for a 50806f000000 PCK) */
    assert_int_equal(verify(&spr, &v5col, "2026-03-01T00:00:00Z", &q, &v), VEIL_CHECK_COLLATERAL);
    assert_non_null(strstr(v.reason, "FMSPC"));
    /* not JSON, not an object, a member missing */
    assert_int_equal(verify_col_text(&v5, "{", "2026-03-01T00:00:00Z", &v), VEIL_CHECK_COLLATERAL);
    assert_int_equal(verify_col_text(&v5, "[]", "2026-03-01T00:00:00Z", &v), VEIL_CHECK_COLLATERAL);
    assert_int_equal(verify_col_text(&v5, "{\"tcb_info\":\"{}\"}", "2026-03-01T00:00:00Z", &v),
                     VEIL_CHECK_COLLATERAL);
    unload(&v5);
    unload(&v5col);
    unload(&spr);
    unload(&sprcol);
}

/* The TCB evaluation on the real 2026 collateral with altered SVNs: levels
 * are walked best first, module identities by major version, QE by ISVSVN. */
static void test_tcb_levels_are_walked_in_order(void **state)
{
    (void)state;
    blob v5 = load(V5 "quote.bin");
    veil_tdx_quote q;
    veil_verdict v;
    tdx_collateral *col = veil_calloc(1, sizeof *col);
    blob c = load(V5 "collateral.json");
    assert_non_null(col);
    assert_int_equal(verify(&v5, NULL, "2026-03-01T00:00:00Z", &q, &v), VEIL_CHECK_NONE);
    tu_ok(tdx_collateral_load(c.p, c.n, when("2026-03-01T00:00:00Z"), col));
    assert_true(col->ok);
    assert_int_equal(col->tcb.n_levels, 3);
    assert_int_equal(col->tcb.n_modules, 2);
    /* a module ISVSVN of 4 grades the TDX_01 module OutOfDate with its advisories */
    q.body.tee_tcb_svn[0] = 4;
    veil_verdict_init(&v);
    tdx_tcb_evaluate(col, &q, &v);
    assert_true(passed(&v, VEIL_CHECK_TCB));
    assert_int_equal(q.tcb.module, VEIL_TDX_TCB_OUT_OF_DATE);
    assert_int_equal(q.tcb.status, VEIL_TDX_TCB_OUT_OF_DATE);
    assert_int_equal(q.tcb.n_advisories, 2);
    assert_string_equal(q.tcb.advisories[0], "INTEL-SA-01036");
    /* module ISVSVN 1 is below every TDX_01 level */
    q.body.tee_tcb_svn[0] = 1;
    veil_verdict_init(&v);
    tdx_tcb_evaluate(col, &q, &v);
    assert_false(passed(&v, VEIL_CHECK_TCB));
    /* an unknown module major version */
    q.body.tee_tcb_svn[0] = 11;
    q.body.tee_tcb_svn[1] = 2;
    veil_verdict_init(&v);
    tdx_tcb_evaluate(col, &q, &v);
    assert_non_null(strstr(v.reason, "TDX_02"));
    /* PCK comp SVN 4 (index 4) -> 3: the second level (OutOfDate) matches */
    q.body.tee_tcb_svn[1] = 1;
    q.pck.comp_svn[4] = 3;
    veil_verdict_init(&v);
    tdx_tcb_evaluate(col, &q, &v);
    assert_int_equal(q.tcb.level_index, 1);
    assert_int_equal(q.tcb.platform, VEIL_TDX_TCB_OUT_OF_DATE);
    assert_int_equal(q.tcb.n_advisories, 5);
    /* PCESVN 4 is below every level */
    q.pck.pcesvn = 4;
    veil_verdict_init(&v);
    tdx_tcb_evaluate(col, &q, &v);
    assert_non_null(strstr(v.reason, "no matching TCB level"));
    /* with module major 1, TEE_TCB_SVN[0..1] are the module's: not compared per level */
    q.pck.pcesvn = 13;
    q.pck.comp_svn[4] = 4;
    q.body.tee_tcb_svn[0] = 6;
    veil_verdict_init(&v);
    tdx_tcb_evaluate(col, &q, &v);
    assert_int_equal(q.tcb.level_index, 0); /* tdxtcbcomponents[0] = 5 <= 6 anyway */
    q.body.tee_tcb_svn[2] = 2;              /* TDX late microcode 3 -> 2: level 1 */
    veil_verdict_init(&v);
    tdx_tcb_evaluate(col, &q, &v);
    assert_int_equal(q.tcb.level_index, 1);
    /* QE ISVSVN below the only QE level */
    q.qe_report.isvsvn = 3;
    veil_verdict_init(&v);
    tdx_tcb_evaluate(col, &q, &v);
    assert_non_null(strstr(v.reason, "QE ISVSVN 3"));
    tdx_collateral_free(col);
    veil_free(col);
    unload(&c);
    unload(&v5);
}

/* ---- PCK extension ----------------------------------------------------------------------------
 */

static void test_pck_extension_decoder(void **state)
{
    (void)state;
    blob quote = load(V5 "quote.bin");
    veil_tdx_quote q;
    veil_x509 *certs[4];
    size_t n = 0, len = 0;
    bool found = false;
    const uint8_t *ext = NULL;
    veil_tdx_pck pck;
    tu_ok(veil_tdx_quote_decode(quote.p, quote.n, &q));
    tu_ok(veil_x509_parse_all(q.pck_chain, q.pck_chain_len, certs, 4, &n));
    tu_ok(veil_x509_ext(certs[0], TDX_OID_SGX_EXTENSION, &found, &ext, &len));
    assert_true(found);
    tu_ok(tdx_pck_ext_decode(ext, len, &pck));
    assert_int_equal(pck.pcesvn, 13);
    /* every truncation fails cleanly */
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(tdx_pck_ext_decode(ext, cut, &pck).cls, VEIL_E_PROTOCOL);
    /* every single-bit flip either fails cleanly or decodes to something */
    uint8_t *m = veil_calloc(len, 1);
    size_t refused = 0;
    for (size_t i = 0; i < len; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(m, ext, len);
            m[i] ^= (uint8_t)(1u << bit);
            veil_result r = tdx_pck_ext_decode(m, len, &pck);
            if (!veil_ok(r)) {
                assert_int_equal(r.cls, VEIL_E_PROTOCOL);
                assert_false(pck.present);
                refused++;
            }
        }
    assert_true(refused > len * 4);
    /* a trailing byte after the SEQUENCE */
    uint8_t *longer = veil_calloc(len + 1, 1);
    memcpy(longer, ext, len);
    assert_int_equal(tdx_pck_ext_decode(longer, len + 1, &pck).cls, VEIL_E_PROTOCOL);
    veil_free(longer);
    veil_free(m);
    for (size_t i = 0; i < n; i++)
        veil_x509_free(certs[i]);
    unload(&quote);
}

/* ---- event logs
 * ---------------------------------------------------------------------------------- */

static void test_ccel_malformed(void **state)
{
    (void)state;
    blob ccel = load(GCP "ccel_event_log.bin");
    veil_tdx_eventlog log;
    const struct {
        size_t off;
        uint8_t x;
        const char *msg;
    } cases[] = {
        {32, 0x01, "Spec ID Event03"},  /* header signature */
        {4, 0x01, "Spec ID header"},    /* header type 3 -> 2 */
        {65, 0x04, "MR index"},         /* first event index 1 -> 5 */
        {77, 0x01, "digest algorithm"}, /* SHA-384 id 0x0C -> 0x0D */
        {73, 0x01, "digest count"},     /* 1 -> 0 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        blob m = copy_of(&ccel);
        m.p[cases[i].off] ^= cases[i].x;
        veil_result r = veil_tdx_eventlog_parse(m.p, m.n, &log);
        if (veil_ok(r) || !strstr(r.msg, cases[i].msg))
            fail_msg("case %zu: %s", i, r.msg ? r.msg : "accepted");
        assert_null(log.events);
        unload(&m);
    }
    /* cut inside an event */
    assert_int_equal(veil_tdx_eventlog_parse(ccel.p, 5000, &log).cls, VEIL_E_PROTOCOL);
    /* the log up to its end, and with zeros instead of the 0xFF fill, replay the same */
    tu_ok(veil_tdx_eventlog_parse(ccel.p, 18101, &log));
    uint8_t rtmr0[48];
    memcpy(rtmr0, log.rtmr[0], 48);
    veil_tdx_eventlog_free(&log);
    blob z = copy_of(&ccel);
    memset(z.p + 18101, 0, z.n - 18101);
    tu_ok(veil_tdx_eventlog_parse(z.p, z.n, &log));
    tu_assert_bytes(log.rtmr[0], 48, rtmr0, 48);
    assert_int_equal(log.n_events, 43);
    veil_tdx_eventlog_free(&log);
    unload(&z);
    unload(&ccel);
}

/* The CCEL log rewritten in dstack's JSON form: imr = MR index - 1. */
static char *ccel_as_json(const veil_tdx_eventlog *ccel, const char *extra)
{
    json_t *arr = json_array();
    char hex[2 * 48 + 1];
    for (size_t i = 0; i < ccel->n_events; i++) {
        const veil_tdx_event *e = &ccel->events[i];
        if (e->rtmr == VEIL_TDX_NO_RTMR)
            continue;
        char *payload = veil_calloc(2 * e->data_len + 1, 1);
        veil_hex_encode(e->data, e->data_len, payload);
        veil_hex_encode(e->digest, 48, hex);
        json_array_append_new(arr, json_pack("{s:i,s:I,s:s,s:s,s:s}", "imr", e->rtmr, "event_type",
                                             (json_int_t)e->type, "digest", hex, "event", "",
                                             "event_payload", payload));
        veil_free(payload);
    }
    if (extra)
        json_array_append_new(arr, json_loads(extra, 0, NULL));
    json_t *root = json_pack("{s:o}", "event_log", arr);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

static void test_json_event_log(void **state)
{
    (void)state;
    const char *at = "2025-01-01T00:00:00Z";
    blob quote = load(GCP "quote_padded.bin"), ccel = load(GCP "ccel_event_log.bin");
    veil_tdx_eventlog log, j;
    veil_verdict v;
    tu_ok(veil_tdx_eventlog_parse(ccel.p, ccel.n, &log));
    /* the same events as JSON replay to the same RTMRs and pass a replay policy */
    char *text = ccel_as_json(&log, NULL);
    tu_ok(veil_tdx_eventlog_parse((const uint8_t *)text, strlen(text), &j));
    assert_int_equal(j.format, VEIL_TDX_EVENTLOG_JSON);
    for (int i = 0; i < 4; i++)
        tu_assert_bytes(j.rtmr[i], 48, log.rtmr[i], 48);
    veil_tdx_eventlog_free(&j);
    const char *policy = "{\"replay\": true}";
    tu_ok(veil_tdx_verify_files(quote.p, quote.n, NULL, 0, (const uint8_t *)text, strlen(text),
                                policy, strlen(policy), when(at), &v, NULL));
    assert_true(veil_verdict_accepted(&v));
    free(text);

    /* a dstack runtime event without a digest: SHA-384(type_le || ":" || event || ":" || payload)
     */
    const char *rt = "[{\"imr\":3,\"event_type\":134217729,\"event\":\"app-id\","
                     "\"event_payload\":\"c0ffee\"}]";
    tu_ok(veil_tdx_eventlog_parse((const uint8_t *)rt, strlen(rt), &j));
    uint8_t pre[4 + 1 + 6 + 1 + 3] = {0x01, 0x00, 0x00, 0x08, ':',  'a',  'p', 'p',
                                      '-',  'i',  'd',  ':',  0xc0, 0xff, 0xee};
    uint8_t digest[48], zero_then[96] = {0}, rtmr3[48];
    tu_ok(veil_sha384(pre, sizeof pre, digest));
    tu_assert_bytes(j.events[0].digest, 48, digest, 48);
    assert_string_equal(j.events[0].name, "app-id");
    assert_int_equal(j.events[0].data_len, 3);
    memcpy(zero_then + 48, digest, 48);
    tu_ok(veil_sha384(zero_then, sizeof zero_then, rtmr3));
    tu_assert_bytes(j.rtmr[3], 48, rtmr3, 48);
    veil_tdx_eventlog_free(&j);
    /* ... and a stated digest that is not that is refused */
    char bad[512];
    snprintf(bad, sizeof bad,
             "[{\"imr\":3,\"event_type\":134217729,\"event\":\"app-id\",\"event_payload\":"
             "\"c0ffef\",\"digest\":\"%096d\"}]",
             0);
    assert_int_equal(veil_tdx_eventlog_parse((const uint8_t *)bad, strlen(bad), &j).cls,
                     VEIL_E_PROTOCOL);
    /* an extra RTMR3 event no longer reproduces the quote's RTMR3 */
    char extra[256];
    snprintf(extra, sizeof extra, "%.*s", (int)strlen(rt) - 2, rt + 1);
    text = ccel_as_json(&log, extra);
    tu_ok(veil_tdx_verify_files(quote.p, quote.n, NULL, 0, (const uint8_t *)text, strlen(text),
                                NULL, 0, when(at), &v, NULL));
    assert_int_equal(v.failed, VEIL_CHECK_RTMR);
    assert_non_null(strstr(v.reason, "RTMR3"));
    free(text);
    /* malformed entries */
    const char *bad_logs[] = {
        "[{\"imr\":4,\"event_type\":1,\"digest\":\"\"}]",
        "[{\"imr\":0,\"event_type\":-1}]",
        "[{\"imr\":0,\"event_type\":1}]",
        "[{\"imr\":0,\"event_type\":1,\"digest\":\"zz\"}]",
        "[{\"imr\":0,\"event_type\":1,\"digest\":\"00\"}]",
        "[1]",
        "{\"events\":[]}",
        "{\"event_log\":\"not json\"}",
        "[{\"imr\":0,\"imr\":1,\"event_type\":1}]",
    };
    for (size_t i = 0; i < sizeof bad_logs / sizeof bad_logs[0]; i++) {
        veil_result r =
            veil_tdx_eventlog_parse((const uint8_t *)bad_logs[i], strlen(bad_logs[i]), &j);
        if (r.cls != VEIL_E_PROTOCOL)
            fail_msg("log %zu accepted", i);
    }
    /* an empty log replays to zeros */
    tu_ok(veil_tdx_eventlog_parse((const uint8_t *)" []", 3, &j));
    assert_int_equal(j.n_events, 0);
    veil_tdx_eventlog_free(&j);
    veil_tdx_eventlog_free(&log);
    unload(&quote);
    unload(&ccel);
}

/* ---- policy, appraisal, EAR
 * ---------------------------------------------------------------------- */

static void test_policy_parse(void **state)
{
    (void)state;
    veil_tdx_policy p;
    const char *good =
        "{\"mrtd\":[\"" /* 96 hex */
        "7348651a34b2d2d3462822e3a750ec6110125f36757c78480bbfc69cc0d21fb001a1ced3ee19"
        "747dda8f750c3bc8f876\"],\"replay\":true,\"min_tcb_status\":"
        "\"SWHardeningNeeded\",\"allow_debug\":false,\"require_sept_ve_disable\":"
        "true,\"verification_time\":\"2026-03-01T00:00:00Z\",\"comment\":\"x\"}";
    tu_ok(veil_tdx_policy_parse(good, strlen(good), &p));
    assert_int_equal(p.n_mrtd, 1);
    assert_true(p.replay && p.require_sept_ve_disable && p.have_min_tcb_status);
    assert_int_equal(p.min_tcb_status, VEIL_TDX_TCB_SW_HARDENING_NEEDED);
    assert_int_equal(p.verification_time, when("2026-03-01T00:00:00Z"));
    assert_non_null(strstr(p.id, "sha256:"));
    const char *bad[] = {
        "{\"mrtds\":[]}",                     /* a typo */
        "{\"mrtd\":[\"00\"]}",                /* short */
        "{\"rtmr0\":7}",                      /* type */
        "{\"min_tcb_status\":\"Revoked\"}",   /* never acceptable */
        "{\"min_tcb_status\":\"uptodate\"}",  /* spelling */
        "{\"allow_debug\":1}",                /* type */
        "{\"report_data\":\"00\"}",           /* short */
        "{\"replay\":true,\"replay\":false}", /* duplicate */
        "[]",
        "{",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        veil_result r = veil_tdx_policy_parse(bad[i], strlen(bad[i]), &p);
        if (r.cls != VEIL_E_PROTOCOL)
            fail_msg("policy %zu accepted", i);
        assert_string_equal(p.id, "default");
    }
}

static void test_verify_files_and_ear(void **state)
{
    (void)state;
    blob quote = load(V5 "quote.bin"), col = load(V5 "collateral.json");
    veil_verdict v;
    veil_ear ear;
    int64_t at = when("2026-03-01T00:00:00Z");
    char policy[1024];
    snprintf(policy, sizeof policy,
             "{\"mrtd\":[\"7348651a34b2d2d3462822e3a750ec6110125f36757c78480bbfc69cc0d21fb001a1ced"
             "3ee19747dda8f750c3bc8f876\"],\"min_tcb_status\":\"UpToDate\","
             "\"require_sept_ve_disable\":true,\"report_data\":\"945eaacf5abc1f719d8666a942fda03d1"
             "edcb4490277396093dc5a5289ab9f1e094aed63060cd4a4933a4dd537ed1255c9c79ecb3ed82cd1b486"
             "233e31c25c3a\",\"rtmr3\":\"%096d\"}",
             0);
    tu_ok(veil_tdx_verify_files(quote.p, quote.n, col.p, col.n, NULL, 0, policy, strlen(policy), at,
                                &v, &ear));
    assert_true(veil_verdict_accepted(&v));
    assert_int_equal(ear.status, VEIL_EAR_AFFIRMING);
    assert_string_equal(ear.submod, "tdx");
    assert_string_equal(ear.failed_check, "");
    assert_int_equal(ear.tv.hardware, 2);
    assert_int_equal(ear.tv.executables, 2);
    json_t *c = json_loads(ear.claims_json, 0, NULL);
    assert_non_null(c);
    assert_string_equal(
        json_string_value(json_object_get(c, "mrtd")),
        "7348651a34b2d2d3462822e3a750ec6110125f36757c78480bbfc69cc0d21fb001a1ced3ee1"
        "9747dda8f750c3bc8f876");
    assert_string_equal(json_string_value(json_object_get(c, "tcb_status")), "UpToDate");
    assert_string_equal(json_string_value(json_object_get(c, "td_attributes")), "0000001000000000");
    assert_true(json_is_false(json_object_get(c, "debug")));
    assert_true(json_is_true(json_object_get(c, "sept_ve_disable")));
    assert_int_equal(json_array_size(json_object_get(c, "rtmrs")), 4);
    assert_int_equal(json_array_size(json_object_get(c, "advisories")), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "pck"), "fmspc")),
                        "90c06f000000");
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "tcb"), "module_id")),
                        "TDX_01");
    assert_non_null(json_object_get(c, "mr_servicetd"));
    json_decref(c);
    veil_ear_free(&ear);

    /* the default policy: authentic and UpToDate, but no MRTD allow-list -> warning */
    tu_ok(veil_tdx_verify_files(quote.p, quote.n, col.p, col.n, NULL, 0, NULL, 0, at, &v, &ear));
    assert_true(veil_verdict_accepted(&v));
    assert_int_equal(ear.status, VEIL_EAR_WARNING);
    assert_int_equal(ear.tv.executables, 33);
    veil_ear_free(&ear);

    /* another MRTD -> contraindicated, failed check "mrtd" */
    const char *other = "{\"mrtd\":[\"000000000000000000000000000000000000000000000000000000000000"
                        "000000000000000000000000000000000000\"]}";
    tu_ok(veil_tdx_verify_files(quote.p, quote.n, col.p, col.n, NULL, 0, other, strlen(other), at,
                                &v, &ear));
    assert_int_equal(v.failed, VEIL_CHECK_MRTD);
    assert_int_equal(ear.status, VEIL_EAR_CONTRAINDICATED);
    assert_string_equal(ear.failed_check, "mrtd");
    assert_int_equal(ear.tv.executables, 96);
    veil_ear_free(&ear);

    /* min_tcb_status without collateral: the TCB status is unknown */
    const char *min = "{\"min_tcb_status\":\"OutOfDate\"}";
    tu_ok(
        veil_tdx_verify_files(quote.p, quote.n, NULL, 0, NULL, 0, min, strlen(min), at, &v, &ear));
    assert_int_equal(v.failed, VEIL_CHECK_TCB);
    veil_ear_free(&ear);

    /* the policy's verification time is used when `at` is 0 */
    const char *late = "{\"verification_time\":\"2026-04-01T00:00:00Z\"}";
    tu_ok(veil_tdx_verify_files(quote.p, quote.n, col.p, col.n, NULL, 0, late, strlen(late), 0, &v,
                                NULL));
    assert_int_equal(v.failed, VEIL_CHECK_COLLATERAL);

    /* an unusable policy is an error, not a verdict */
    assert_int_equal(
        veil_tdx_verify_files(quote.p, quote.n, NULL, 0, NULL, 0, "{\"x\":1}", 7, at, &v, &ear).cls,
        VEIL_E_PROTOCOL);
    veil_ear_free(&ear);

    /* a quote that does not decode: FORMAT, contraindicated, no claims */
    tu_ok(veil_tdx_verify_files(quote.p, 100, NULL, 0, NULL, 0, NULL, 0, at, &v, &ear));
    assert_int_equal(v.failed, VEIL_CHECK_FORMAT);
    assert_int_equal(ear.status, VEIL_EAR_CONTRAINDICATED);
    assert_null(ear.claims_json);
    veil_ear_free(&ear);
    unload(&quote);
    unload(&col);
}

static void test_appraisal_checks(void **state)
{
    (void)state;
    const char *at = "2025-01-01T00:00:00Z";
    blob gcp = load(GCP "quote_padded.bin"), ccel = load(GCP "ccel_event_log.bin");
    blob spr = load(SPR "quote.bin");
    veil_verdict v;
    veil_ear ear;
    char p[1024];
    /* GCP + CCEL: replay required and reproduced; the log's events are claims */
    const char *replay = "{\"replay\":true,\"require_sept_ve_disable\":true}";
    tu_ok(veil_tdx_verify_files(gcp.p, gcp.n, NULL, 0, ccel.p, ccel.n, replay, strlen(replay),
                                when(at), &v, &ear));
    assert_true(veil_verdict_accepted(&v));
    assert_true(passed(&v, VEIL_CHECK_RTMR));
    assert_int_equal(ear.status, VEIL_EAR_WARNING); /* no MRTD list, TCB unknown */
    json_t *c = json_loads(ear.claims_json, 0, NULL);
    json_t *el = json_object_get(c, "event_log");
    assert_string_equal(json_string_value(json_object_get(el, "format")), "ccel");
    assert_int_equal(json_integer_value(json_object_get(el, "events")), 43);
    assert_int_equal(json_array_size(json_object_get(el, "entries")), 43);
    json_decref(c);
    veil_ear_free(&ear);
    /* replay required, no log */
    tu_ok(veil_tdx_verify_files(gcp.p, gcp.n, NULL, 0, NULL, 0, replay, strlen(replay), when(at),
                                &v, NULL));
    assert_int_equal(v.failed, VEIL_CHECK_RTMR);
    /* a log that is not the quote's */
    blob m = copy_of(&ccel);
    m.p[200] ^= 0x01; /* inside the second event's digest */
    tu_ok(veil_tdx_verify_files(gcp.p, gcp.n, NULL, 0, m.p, m.n, NULL, 0, when(at), &v, NULL));
    assert_int_equal(v.failed, VEIL_CHECK_RTMR);
    unload(&m);
    /* a log that does not parse */
    tu_ok(veil_tdx_verify_files(gcp.p, gcp.n, NULL, 0, ccel.p, 10, NULL, 0, when(at), &v, NULL));
    assert_int_equal(v.failed, VEIL_CHECK_RTMR);
    /* pinned RTMR values: right and wrong */
    snprintf(p, sizeof p,
             "{\"rtmr1\":\"f62dbc072bd5d3f3438b7b35c39a727f5aea2ffc2473f43723953f530daf62504f0a79"
             "44aa62c41a86e8a878c2b122c1\",\"rtmr3\":\"%096d\"}",
             0);
    tu_ok(veil_tdx_verify_files(gcp.p, gcp.n, NULL, 0, NULL, 0, p, strlen(p), when(at), &v, NULL));
    assert_true(veil_verdict_accepted(&v));
    p[12] = p[12] == '0' ? '1' : '0';
    tu_ok(veil_tdx_verify_files(gcp.p, gcp.n, NULL, 0, NULL, 0, p, strlen(p), when(at), &v, NULL));
    assert_int_equal(v.failed, VEIL_CHECK_RTMR);
    /* an event the policy names: present (the first event's digest) and absent */
    veil_tdx_eventlog log;
    char hex[97];
    tu_ok(veil_tdx_eventlog_parse(ccel.p, ccel.n, &log));
    veil_hex_encode(log.events[0].digest, 48, hex);
    snprintf(p, sizeof p, "{\"event_digests\":[\"%s\"]}", hex);
    tu_ok(veil_tdx_verify_files(gcp.p, gcp.n, NULL, 0, ccel.p, ccel.n, p, strlen(p), when(at), &v,
                                NULL));
    assert_true(veil_verdict_accepted(&v));
    snprintf(p, sizeof p, "{\"event_digests\":[\"%096d\"]}", 0);
    tu_ok(veil_tdx_verify_files(gcp.p, gcp.n, NULL, 0, ccel.p, ccel.n, p, strlen(p), when(at), &v,
                                NULL));
    assert_int_equal(v.failed, VEIL_CHECK_RTMR);
    veil_tdx_eventlog_free(&log);
    /* MRCONFIGID / MROWNER allow-lists */
    snprintf(p, sizeof p, "{\"mrconfigid\":[\"%096d\"],\"mrowner\":[\"%096d\"]}", 0, 0);
    tu_ok(veil_tdx_verify_files(gcp.p, gcp.n, NULL, 0, NULL, 0, p, strlen(p), when(at), &v, NULL));
    assert_true(veil_verdict_accepted(&v));
    snprintf(p, sizeof p, "{\"mrowner\":[\"%095d1\"]}", 0);
    tu_ok(veil_tdx_verify_files(gcp.p, gcp.n, NULL, 0, NULL, 0, p, strlen(p), when(at), &v, NULL));
    assert_int_equal(v.failed, VEIL_CHECK_MROWNER);
    snprintf(p, sizeof p, "{\"mrconfigid\":[\"%095d1\"]}", 0);
    tu_ok(veil_tdx_verify_files(gcp.p, gcp.n, NULL, 0, NULL, 0, p, strlen(p), when(at), &v, NULL));
    assert_int_equal(v.failed, VEIL_CHECK_MRCONFIGID);
    /* REPORTDATA: GCP's is 64 zero bytes */
    snprintf(p, sizeof p, "{\"report_data\":\"%0128d\"}", 0);
    tu_ok(veil_tdx_verify_files(gcp.p, gcp.n, NULL, 0, NULL, 0, p, strlen(p), when(at), &v, NULL));
    assert_true(veil_verdict_accepted(&v));
    p[20] = '1';
    tu_ok(veil_tdx_verify_files(gcp.p, gcp.n, NULL, 0, NULL, 0, p, strlen(p), when(at), &v, &ear));
    assert_int_equal(v.failed, VEIL_CHECK_REPORT_DATA);
    assert_int_equal(ear.tv.instance_identity, 96);
    veil_ear_free(&ear);
    /* the SPR sample lacks SEPT_VE_DISABLE (TDATTRIBUTES 0x40000000, PKS): fine by
     * default, refused when the policy requires it */
    tu_ok(veil_tdx_verify_files(spr.p, spr.n, NULL, 0, NULL, 0, NULL, 0,
                                when("2023-07-01T00:00:00Z"), &v, NULL));
    assert_true(veil_verdict_accepted(&v));
    const char *sept = "{\"require_sept_ve_disable\":true}";
    tu_ok(veil_tdx_verify_files(spr.p, spr.n, NULL, 0, NULL, 0, sept, strlen(sept),
                                when("2023-07-01T00:00:00Z"), &v, NULL));
    assert_int_equal(v.failed, VEIL_CHECK_TD_ATTRIBUTES);
    unload(&gcp);
    unload(&ccel);
    unload(&spr);
}

static void test_status_names(void **state)
{
    (void)state;
    for (int s = VEIL_TDX_TCB_UP_TO_DATE; s <= VEIL_TDX_TCB_REVOKED; s++)
        assert_int_equal(veil_tdx_tcb_status_from_name(veil_tdx_tcb_status_name(s)), s);
    assert_int_equal(veil_tdx_tcb_status_from_name("TDRelaunchAdvised"), VEIL_TDX_TCB_UNKNOWN);
    assert_string_equal(veil_check_name(VEIL_CHECK_QE), "qe");
    assert_string_equal(veil_check_name(VEIL_CHECK_COLLATERAL), "collateral");
    assert_string_equal(veil_check_name(VEIL_CHECK_TD_ATTRIBUTES), "td_attributes");
    assert_int_equal(veil_check_from_name("rtmr"), VEIL_CHECK_RTMR);
    assert_int_equal(veil_check_from_name("mrtd"), VEIL_CHECK_MRTD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spr_v4_no_matching_tcb_level),
        cmocka_unit_test(test_v5_up_to_date),
        cmocka_unit_test(test_gcp_padded_quote_and_ccel_replay),
        cmocka_unit_test(test_mutations_fail_the_right_check),
        cmocka_unit_test(test_debug_attribute_fails_appraisal),
        cmocka_unit_test(test_truncated_quotes_fail_format),
        cmocka_unit_test(test_length_fields_are_exact),
        cmocka_unit_test(test_foreign_pck_root_fails_chain),
        cmocka_unit_test(test_collateral_changes_fail_collateral),
        cmocka_unit_test(test_collateral_time_and_platform),
        cmocka_unit_test(test_tcb_levels_are_walked_in_order),
        cmocka_unit_test(test_pck_extension_decoder),
        cmocka_unit_test(test_ccel_malformed),
        cmocka_unit_test(test_json_event_log),
        cmocka_unit_test(test_policy_parse),
        cmocka_unit_test(test_verify_files_and_ear),
        cmocka_unit_test(test_appraisal_checks),
        cmocka_unit_test(test_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
