/* AMD SEV-SNP: every real evidence set in shared/testdata/attestation gives
 * the outcome its PROVENANCE.md states, at its stated time, with every field
 * of its expected_fields.json; mutations fail the right named check; the
 * decoder, certificate table and HCL wrapper reject malformed input; chains
 * from a test-generated root fail unless that root is passed as an extra
 * (simulated) root; the chain cache honours the validity window. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attest/snp_internal.h"
#include "crypto/x509.h"
#include "testutil.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/timeutil.h"
#include "veil/snp.h"

#define T_2025_06_01 1748736000 /* 2025-06-01T00:00:00Z */
#define T_2026_07_01 1782864000 /* 2026-07-01T00:00:00Z */

#define DIR "attestation/"

/* ---- fixtures ---------------------------------------------------------------------- */

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

static void unload(blob *b)
{
    tu_free(b->p);
    b->p = NULL;
    b->n = 0;
}

typedef struct outcome {
    veil_verdict v;
    veil_snp_report r;
    bool simulated;
} outcome;

/* Verify and finish the verdict; returns the failed check (NONE = valid). */
static veil_check verify(outcome *o, const blob *report, const blob *cert, const blob *ask,
                         const veil_snp_trust *trust)
{
    veil_snp_evidence ev = {0};
    ev.report = report->p;
    ev.report_len = report->n;
    ev.vcek_or_vlek = cert->p;
    ev.cert_len = cert->n;
    if (ask) {
        ev.ask = ask->p;
        ev.ask_len = ask->n;
    }
    veil_verdict_init(&o->v);
    tu_ok(veil_snp_verify(&ev, trust, &o->r, &o->v, &o->simulated));
    veil_verdict_finish(&o->v);
    if (o->v.failed != VEIL_CHECK_NONE)
        print_message("  verdict: %s\n", o->v.reason);
    return o->v.failed;
}

static veil_check verify_at(outcome *o, const blob *report, const blob *cert, const blob *ask,
                            int64_t at)
{
    veil_snp_trust t = {0};
    t.at = at;
    return verify(o, report, cert, ask, &t);
}

static const veil_check_record *trace_of(const veil_verdict *v, veil_check c)
{
    for (size_t i = 0; i < v->n_trace; i++)
        if (v->trace[i].check == c)
            return &v->trace[i];
    return NULL;
}

static void assert_trace_order(const veil_verdict *v)
{
    static const veil_check order[] = {VEIL_CHECK_FORMAT, VEIL_CHECK_CHAIN, VEIL_CHECK_VCEK,
                                       VEIL_CHECK_SIGNATURE};
    assert_int_equal(v->n_trace, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(v->trace[i].check, order[i]);
        assert_true(v->trace[i].passed);
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

static void expect_u64(json_t *val, uint64_t got, const char *key)
{
    uint64_t want;
    if (json_is_integer(val))
        want = (uint64_t)json_integer_value(val);
    else if (json_is_string(val))
        want = strtoull(json_string_value(val), NULL, 0);
    else
        fail_msg("%s: neither integer nor string", key);
    if (want != got)
        fail_msg("field %s: got 0x%llx want 0x%llx", key, (unsigned long long)got,
                 (unsigned long long)want);
}

static void expect_tcb(json_t *obj, uint64_t raw, veil_snp_product prod, const char *key)
{
    veil_snp_tcb t;
    char hex[17];
    tu_ok(veil_snp_tcb_decode(raw, prod, &t));
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)raw);
    assert_string_equal(json_string_value(json_object_get(obj, "raw")), hex);
    expect_u64(json_object_get(obj, "bl"), t.bootloader, key);
    expect_u64(json_object_get(obj, "tee"), t.tee, key);
    expect_u64(json_object_get(obj, "snp"), t.snp, key);
    expect_u64(json_object_get(obj, "ucode"), t.microcode, key);
    assert_int_equal(json_object_size(obj), 5);
}

static void expect_version(json_t *val, uint8_t maj, uint8_t min, uint8_t build)
{
    char s[32];
    snprintf(s, sizeof s, "%u.%u.%u", maj, min, build);
    assert_string_equal(json_string_value(val), s);
}

static void expect_cpuid(json_t *val, const veil_snp_report *r, uint8_t got)
{
    if (json_is_null(val))
        assert_true(r->version < 3 && got == 0);
    else
        expect_u64(val, got, "cpuid");
}

/* cert_amd_extensions: every extension through the internal X.509 helpers. */
static void expect_extensions(json_t *obj, const veil_x509 *c)
{
    static const struct {
        const char *key, *oid;
    } ints[] = {
        {"structVersion", "1.3.6.1.4.1.3704.1.1"}, {"blSPL", "1.3.6.1.4.1.3704.1.3.1"},
        {"teeSPL", "1.3.6.1.4.1.3704.1.3.2"},      {"snpSPL", "1.3.6.1.4.1.3704.1.3.3"},
        {"spl_4", "1.3.6.1.4.1.3704.1.3.4"},       {"spl_5", "1.3.6.1.4.1.3704.1.3.5"},
        {"spl_6", "1.3.6.1.4.1.3704.1.3.6"},       {"spl_7", "1.3.6.1.4.1.3704.1.3.7"},
        {"ucodeSPL", "1.3.6.1.4.1.3704.1.3.8"},    {"fmcSPL", "1.3.6.1.4.1.3704.1.3.9"},
    };
    const char *key;
    json_t *val;
    json_object_foreach (obj, key, val) {
        bool found = false, done = false;
        for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
            if (strcmp(key, ints[i].key) != 0)
                continue;
            int64_t x;
            tu_ok(veil_x509_ext_integer(c, ints[i].oid, &found, &x));
            assert_true(found);
            expect_u64(val, (uint64_t)x, key);
            done = true;
        }
        if (done)
            continue;
        char s[128];
        if (!strcmp(key, "productName") || !strcmp(key, "cspID")) {
            tu_ok(veil_x509_ext_ia5(c,
                                    !strcmp(key, "cspID") ? SNP_OID_CSP_ID : SNP_OID_PRODUCT_NAME,
                                    &found, s, sizeof s));
            assert_true(found);
            assert_string_equal(s, json_string_value(val));
        } else if (!strcmp(key, "hwID")) {
            snp_leaf_info info;
            tu_ok(snp_leaf_info_read(c, &info));
            assert_true(info.has_hwid);
            expect_hex(val, info.hwid, info.hwid_len, key);
        } else {
            fail_msg("unhandled extension field %s", key);
        }
    }
}

static void expect_cert_fields(const char *key, json_t *val, const veil_x509 *c)
{
    char s[64], t[64];
    int64_t nb, na;
    if (!strcmp(key, "cert_amd_extensions")) {
        expect_extensions(val, c);
    } else if (!strcmp(key, "cert_not_after")) {
        /* "2030-05-02 21:22:19+00:00" */
        tu_ok(veil_x509_validity(c, &nb, &na));
        veil_time_format(na, s);
        snprintf(t, sizeof t, "%.10sT%.8sZ", json_string_value(val), json_string_value(val) + 11);
        assert_string_equal(s, t);
    } else if (!strcmp(key, "cert_subject_cn")) {
        veil_x509_subject_cn(c, s + 3, sizeof s - 3);
        memcpy(s, "CN=", 3);
        assert_string_equal(s, json_string_value(val));
    } else {
        fail_msg("unhandled field %s", key);
    }
}

#define FIELD(name) (!strcmp(key, (name)))

/* Compare every field of expected_fields.json against the decoded report and
 * the certificate; an unknown field fails (so nothing is silently skipped). */
static void expect_fields(const char *json_rel, const veil_snp_report *r, const blob *report,
                          const veil_x509 *cert, const outcome *o)
{
    size_t n;
    char *text = tu_read_testdata(json_rel, &n);
    json_error_t err;
    json_t *root = json_loadb(text, n, 0, &err);
    if (!root)
        fail_msg("%s: %s", json_rel, err.text);
    bool turin = json_is_true(json_object_get(root, "turin_layout"));
    veil_snp_product prod = turin ? VEIL_SNP_TURIN : VEIL_SNP_MILAN;
    const char *key;
    json_t *val;
    size_t checked = 0;
    json_object_foreach (root, key, val) {
        uint8_t sha[32];
        checked++;
        if (FIELD("version"))
            expect_u64(val, r->version, key);
        else if (FIELD("guest_svn"))
            expect_u64(val, r->guest_svn, key);
        else if (FIELD("policy"))
            expect_u64(val, r->policy, key);
        else if (FIELD("family_id"))
            expect_hex(val, r->family_id, 16, key);
        else if (FIELD("image_id"))
            expect_hex(val, r->image_id, 16, key);
        else if (FIELD("vmpl"))
            expect_u64(val, r->vmpl, key);
        else if (FIELD("sig_algo"))
            expect_u64(val, r->signature_algo, key);
        else if (FIELD("current_tcb"))
            expect_tcb(val, r->current_tcb, prod, key);
        else if (FIELD("platform_info"))
            expect_u64(val, r->platform_info, key);
        else if (FIELD("signer_info"))
            expect_u64(val, r->signer_info, key);
        else if (FIELD("signing_key"))
            expect_u64(val, veil_snp_signing_key(r), key);
        else if (FIELD("mask_chip_key"))
            expect_u64(val, veil_snp_mask_chip_key(r), key);
        else if (FIELD("author_key_en"))
            expect_u64(val, veil_snp_author_key_en(r), key);
        else if (FIELD("report_data"))
            expect_hex(val, r->report_data, 64, key);
        else if (FIELD("measurement"))
            expect_hex(val, r->measurement, 48, key);
        else if (FIELD("host_data"))
            expect_hex(val, r->host_data, 32, key);
        else if (FIELD("id_key_digest"))
            expect_hex(val, r->id_key_digest, 48, key);
        else if (FIELD("author_key_digest"))
            expect_hex(val, r->author_key_digest, 48, key);
        else if (FIELD("report_id"))
            expect_hex(val, r->report_id, 32, key);
        else if (FIELD("report_id_ma"))
            expect_hex(val, r->report_id_ma, 32, key);
        else if (FIELD("reported_tcb"))
            expect_tcb(val, r->reported_tcb, prod, key);
        else if (FIELD("cpuid_fam"))
            expect_cpuid(val, r, r->cpuid_fam_id);
        else if (FIELD("cpuid_mod"))
            expect_cpuid(val, r, r->cpuid_mod_id);
        else if (FIELD("cpuid_step"))
            expect_cpuid(val, r, r->cpuid_step);
        else if (FIELD("chip_id"))
            expect_hex(val, r->chip_id, 64, key);
        else if (FIELD("committed_tcb"))
            expect_tcb(val, r->committed_tcb, prod, key);
        else if (FIELD("launch_tcb"))
            expect_tcb(val, r->launch_tcb, prod, key);
        else if (FIELD("current_version"))
            expect_version(val, r->current_major, r->current_minor, r->current_build);
        else if (FIELD("committed_version"))
            expect_version(val, r->committed_major, r->committed_minor, r->committed_build);
        else if (FIELD("turin_layout"))
            assert_int_equal(json_is_true(val), veil_snp_report_product(r) == VEIL_SNP_TURIN);
        else if (FIELD("signature_valid_with_given_cert")) {
            const veil_check_record *s = trace_of(&o->v, VEIL_CHECK_SIGNATURE);
            assert_non_null(s);
            assert_int_equal(s->passed, json_is_true(val));
        } else if (FIELD("sha256_of_report_bin")) {
            tu_ok(veil_digest(VEIL_DIGEST_SHA256, report->p, report->n, sha, 32));
            expect_hex(val, sha, 32, key);
        } else if (FIELD("note")) {
            continue;
        } else
            expect_cert_fields(key, val, cert);
    }
    assert_int_equal(checked, 36); /* every top-level field of the file */
    json_decref(root);
    tu_free(text);
}

/* ---- the real evidence sets ------------------------------------------------------------ */

/* Decode, verify at `at`, expect VALID, compare every expected field. */
static void real_set(const char *dir, const char *report_file, const char *cert_file,
                     const char *ask_file, int64_t at)
{
    char path[256];
    snprintf(path, sizeof path, DIR "%s/%s", dir, report_file);
    blob report = load(path);
    snprintf(path, sizeof path, DIR "%s/%s", dir, cert_file);
    blob cert = load(path);
    blob ask = {0};
    if (ask_file) {
        snprintf(path, sizeof path, DIR "%s/%s", dir, ask_file);
        ask = load(path);
    }
    outcome o;
    veil_snp_cache_clear();
    assert_int_equal(verify_at(&o, &report, &cert, ask_file ? &ask : NULL, at), VEIL_CHECK_NONE);
    assert_trace_order(&o.v);
    assert_false(o.simulated);
    assert_false(o.v.simulated);
    /* The report round-trips through the encoder. */
    uint8_t again[VEIL_SNP_REPORT_SIZE];
    tu_ok(veil_snp_report_encode(&o.r, again));
    tu_assert_bytes(again, sizeof again, report.p, VEIL_SNP_REPORT_SIZE);
    veil_x509 *c = NULL;
    tu_ok(veil_x509_parse(cert.p, cert.n, &c));
    snprintf(path, sizeof path, DIR "%s/expected_fields.json", dir);
    expect_fields(path, &o.r, &report, c, &o);
    veil_x509_free(c);
    unload(&report);
    unload(&cert);
    if (ask_file)
        unload(&ask);
}

static void test_go_sev_guest_milan_v2_valid(void **state)
{
    real_set("snp-milan-v2-go-sev-guest", "report.bin", "vcek.der", NULL, T_2025_06_01);
}

static void test_dstack_milan_v3_valid(void **state)
{
    /* VCEK issued 2026-06-17; it matches REPORTED_TCB (snp 23), not CURRENT_TCB (24). */
    real_set("snp-milan-v3-dstack", "report.bin", "vcek.pem", "ask.pem", T_2026_07_01);
}

static void test_azure_hcl_report_valid(void **state)
{
    /* The PEM bundle VCEK, ASK, ARK: its ARK copy is only an untrusted extra. */
    real_set("snp-milan-v2-azure-hcl", "report.bin", "vcek_ask_ark_chain.pem", NULL, T_2025_06_01);
}

static void test_vlek_valid_in_2025_expired_in_2026(void **state)
{
    real_set("snp-milan-v3-vlek-aws", "report.bin", "vlek.der", NULL, T_2025_06_01);
    blob report = load(DIR "snp-milan-v3-vlek-aws/report.bin");
    blob vlek = load(DIR "snp-milan-v3-vlek-aws/vlek.der");
    outcome o;
    /* The chain verified in 2025 is cached; in 2026 it must be re-verified. */
    assert_int_equal(verify_at(&o, &report, &vlek, NULL, T_2025_06_01), VEIL_CHECK_NONE);
    assert_non_null(strstr(trace_of(&o.v, VEIL_CHECK_CHAIN)->detail, "cached"));
    assert_int_equal(verify_at(&o, &report, &vlek, NULL, T_2026_07_01), VEIL_CHECK_CHAIN);
    assert_non_null(strstr(o.v.reason, "expired"));
    assert_non_null(strstr(o.v.reason, "2025-12-10T22:14:21Z"));
    /* ...and "now" (0) is 2026 or later too. */
    veil_snp_cache_clear();
    assert_int_equal(verify_at(&o, &report, &vlek, NULL, 0), VEIL_CHECK_CHAIN);
    /* The report itself is still authentic: VCEK and SIGNATURE pass. */
    assert_true(trace_of(&o.v, VEIL_CHECK_VCEK)->passed);
    assert_true(trace_of(&o.v, VEIL_CHECK_SIGNATURE)->passed);
    /* SIGNING_KEY says VCEK (0) but a VLEK is given. */
    report.p[0x48] = 0x00;
    assert_int_equal(verify_at(&o, &report, &vlek, NULL, T_2025_06_01), VEIL_CHECK_VCEK);
    assert_non_null(strstr(o.v.reason, "SIGNING_KEY=0 (VCEK) but the certificate is a VLEK"));
    unload(&report);
    unload(&vlek);
}

static void test_cached_chain_is_used_and_cleared(void **state)
{
    blob report = load(DIR "snp-milan-v2-go-sev-guest/report.bin");
    blob vcek = load(DIR "snp-milan-v2-go-sev-guest/vcek.der");
    outcome o;
    veil_snp_cache_clear();
    assert_int_equal(verify_at(&o, &report, &vcek, NULL, T_2025_06_01), VEIL_CHECK_NONE);
    assert_null(strstr(trace_of(&o.v, VEIL_CHECK_CHAIN)->detail, "cached"));
    assert_int_equal(verify_at(&o, &report, &vcek, NULL, T_2025_06_01 + 86400), VEIL_CHECK_NONE);
    assert_non_null(strstr(trace_of(&o.v, VEIL_CHECK_CHAIN)->detail, "cached"));
    /* Before the VCEK's notBefore (2022-09-24) the cache does not apply. */
    assert_int_equal(verify_at(&o, &report, &vcek, NULL, 1600000000), VEIL_CHECK_CHAIN);
    /* A mutated report with a cached chain still fails its signature. */
    report.p[0x90] ^= 1;
    assert_int_equal(verify_at(&o, &report, &vcek, NULL, T_2025_06_01), VEIL_CHECK_SIGNATURE);
    assert_non_null(strstr(trace_of(&o.v, VEIL_CHECK_CHAIN)->detail, "cached"));
    report.p[0x90] ^= 1;
    veil_snp_cache_clear();
    assert_int_equal(verify_at(&o, &report, &vcek, NULL, T_2025_06_01), VEIL_CHECK_NONE);
    assert_null(strstr(trace_of(&o.v, VEIL_CHECK_CHAIN)->detail, "cached"));
    unload(&report);
    unload(&vcek);
}

/* Turin: no public report exists, so a v3 report is built to match the VCEK
 * (CPUID family 0x1A, CHIP_ID = the 8-byte hwID, REPORTED_TCB in the Turin
 * layout); CHAIN and VCEK pass, the signature cannot. */
static void turin_report(blob *out, uint8_t family, uint64_t tcb)
{
    veil_snp_report r;
    memset(&r, 0, sizeof r);
    r.version = 3;
    r.policy = VEIL_SNP_POLICY_RESERVED17 | VEIL_SNP_POLICY_SMT;
    r.signature_algo = 1;
    r.reported_tcb = r.current_tcb = r.committed_tcb = r.launch_tcb = tcb;
    r.cpuid_fam_id = family;
    r.cpuid_mod_id = 0x02;
    static const uint8_t hwid[8] = {0x1e, 0x55, 0x0a, 0x8e, 0xe5, 0xcf, 0x9f, 0x4d};
    memcpy(r.chip_id, hwid, sizeof hwid);
    r.sig_r[0] = r.sig_s[0] = 1;
    out->n = VEIL_SNP_REPORT_SIZE;
    out->p = veil_calloc(1, VEIL_SNP_REPORT_SIZE);
    tu_ok(veil_snp_report_encode(&r, out->p));
}

static void test_turin_vcek_chain_and_extensions(void **state)
{
    blob vcek = load(DIR "snp-turin-vcek-certonly/vcek_turin.der");
    blob chain = load(DIR "snp-turin-vcek-certonly/cert_chain_turin.pem");
    blob milan_ask = load(DIR "amd-kds-roots/ask_milan.pem");
    blob report;
    outcome o;
    veil_snp_cache_clear();

    /* Extensions: structVersion 1, productName "Turin", fmcSPL, 8-byte raw hwID. */
    veil_x509 *c = NULL;
    snp_leaf_info info;
    tu_ok(veil_x509_parse(vcek.p, vcek.n, &c));
    tu_ok(snp_leaf_info_read(c, &info));
    assert_string_equal(info.ext_error, "");
    assert_int_equal(info.kind, SNP_LEAF_VCEK);
    assert_int_equal(info.product, VEIL_SNP_TURIN);
    assert_string_equal(info.product_name, "Turin");
    assert_int_equal(info.struct_version.value, 1);
    assert_true(info.fmc.present);
    assert_int_equal(info.fmc.value, 0);
    assert_int_equal(info.ucode.value, 9);
    assert_int_equal(info.hwid_len, 8);
    veil_buf hw;
    tu_hex(&hw, "1e550a8ee5cf9f4d");
    tu_assert_bytes(info.hwid, info.hwid_len, hw.data, hw.len);
    veil_buf_free(&hw);
    veil_x509_free(c);

    /* Pinned Turin roots (ASK found among the pinned ones), VCEK binds. */
    turin_report(&report, 0x1A, 0x0900000000000000ull);
    assert_int_equal(verify_at(&o, &report, &vcek, NULL, T_2025_06_01), VEIL_CHECK_SIGNATURE);
    assert_true(trace_of(&o.v, VEIL_CHECK_CHAIN)->passed);
    assert_non_null(strstr(trace_of(&o.v, VEIL_CHECK_CHAIN)->detail, "ARK-Turin"));
    assert_true(trace_of(&o.v, VEIL_CHECK_VCEK)->passed);
    assert_non_null(strstr(trace_of(&o.v, VEIL_CHECK_VCEK)->detail, "fmc=0"));
    /* The KDS bundle (ASK, ARK) as the ASK field works too. */
    veil_snp_cache_clear();
    assert_int_equal(verify_at(&o, &report, &vcek, &chain, T_2025_06_01), VEIL_CHECK_SIGNATURE);
    assert_true(trace_of(&o.v, VEIL_CHECK_CHAIN)->passed);
    /* The Milan ASK cannot have issued it. */
    assert_int_equal(verify_at(&o, &report, &vcek, &milan_ask, T_2025_06_01), VEIL_CHECK_CHAIN);
    tu_free(report.p);

    /* A Turin fmc mismatch (Turin layout byte 0) is a VCEK failure. */
    turin_report(&report, 0x1A, 0x0900000000000001ull);
    assert_int_equal(verify_at(&o, &report, &vcek, NULL, T_2025_06_01), VEIL_CHECK_VCEK);
    assert_non_null(strstr(o.v.reason, "REPORTED_TCB fmc=1 but VCEK fmcSPL=0"));
    tu_free(report.p);
    /* CPUID says Milan (family 0x19): inconsistent with productName Turin. */
    turin_report(&report, 0x19, 0x0900000000000000ull);
    assert_int_equal(verify_at(&o, &report, &vcek, NULL, T_2025_06_01), VEIL_CHECK_VCEK);
    assert_non_null(strstr(o.v.reason, "productName"));
    tu_free(report.p);
    unload(&vcek);
    unload(&chain);
    unload(&milan_ask);
}

/* ---- mutations of a valid report --------------------------------------------------------- */

static void test_mutations_fail_the_right_check(void **state)
{
    blob report = load(DIR "snp-milan-v2-go-sev-guest/report.bin");
    blob vcek = load(DIR "snp-milan-v2-go-sev-guest/vcek.der");
    blob other = load(DIR "snp-milan-v3-dstack/vcek.pem");
    blob turin_ask = load(DIR "amd-kds-roots/ask_turin.pem");
    outcome o;
    veil_snp_cache_clear();

    report.p[0x2A0] ^= 0x01; /* signature R */
    assert_int_equal(verify_at(&o, &report, &vcek, NULL, T_2025_06_01), VEIL_CHECK_SIGNATURE);
    report.p[0x2A0] ^= 0x01;
    report.p[0x2E8 + 5] ^= 0x80; /* signature S */
    assert_int_equal(verify_at(&o, &report, &vcek, NULL, T_2025_06_01), VEIL_CHECK_SIGNATURE);
    report.p[0x2E8 + 5] ^= 0x80;
    report.p[0x90 + 47] ^= 0xFF; /* MEASUREMENT: authenticity, not appraisal */
    assert_int_equal(verify_at(&o, &report, &vcek, NULL, T_2025_06_01), VEIL_CHECK_SIGNATURE);
    report.p[0x90 + 47] ^= 0xFF;

    /* The VCEK of another chip (dstack's, valid in 2026). */
    assert_int_equal(verify_at(&o, &report, &other, NULL, T_2026_07_01), VEIL_CHECK_VCEK);
    assert_non_null(strstr(o.v.reason, "hwID 38d174589d2dff97... != CHIP_ID 3ac3fe21e13fb099"));

    /* SIGNING_KEY says VLEK (bits 4:2 = 1) but a VCEK is given. */
    report.p[0x48] = 0x04;
    assert_int_equal(verify_at(&o, &report, &vcek, NULL, T_2025_06_01), VEIL_CHECK_VCEK);
    assert_non_null(strstr(o.v.reason, "SIGNING_KEY=1 (VLEK) but the certificate is a VCEK"));
    report.p[0x48] = 0x1C; /* SIGNING_KEY 7: unsigned */
    assert_int_equal(verify_at(&o, &report, &vcek, NULL, T_2025_06_01), VEIL_CHECK_VCEK);
    report.p[0x48] = 0x00;

    /* REPORTED_TCB snp 5 -> 6: the VCEK names another TCB. */
    report.p[0x180 + 6] = 6;
    assert_int_equal(verify_at(&o, &report, &vcek, NULL, T_2025_06_01), VEIL_CHECK_VCEK);
    assert_non_null(strstr(o.v.reason, "REPORTED_TCB snp=6 but VCEK snpSPL=5"));
    report.p[0x180 + 6] = 5;

    /* The Turin ASK cannot chain a Milan VCEK. */
    assert_int_equal(verify_at(&o, &report, &vcek, &turin_ask, T_2025_06_01), VEIL_CHECK_CHAIN);

    /* Truncated report. */
    blob cut = {report.p, VEIL_SNP_REPORT_SIZE - 1};
    assert_int_equal(verify_at(&o, &cut, &vcek, NULL, T_2025_06_01), VEIL_CHECK_FORMAT);
    assert_non_null(strstr(o.v.reason, "truncated"));
    assert_int_equal(o.v.n_trace, 1);

    /* Trailing bytes after the report are ignored (zero-padded buffers). */
    blob padded = {veil_calloc(1, 4096), 4096};
    memcpy(padded.p, report.p, report.n);
    assert_int_equal(verify_at(&o, &padded, &vcek, NULL, T_2025_06_01), VEIL_CHECK_NONE);
    tu_free(padded.p);

    /* Certificate garbage and a missing certificate. */
    blob junk = {(uint8_t *)"not a certificate", 17};
    assert_int_equal(verify_at(&o, &report, &junk, NULL, T_2025_06_01), VEIL_CHECK_CHAIN);
    blob none = {NULL, 0};
    assert_int_equal(verify_at(&o, &report, &none, NULL, T_2025_06_01), VEIL_CHECK_CHAIN);

    unload(&report);
    unload(&vcek);
    unload(&other);
    unload(&turin_ask);
}

static void test_evidence_ark_must_be_the_pinned_one(void **state)
{
    blob report = load(DIR "snp-milan-v2-go-sev-guest/report.bin");
    blob vcek = load(DIR "snp-milan-v2-go-sev-guest/vcek.der");
    blob ark_milan = load(DIR "amd-kds-roots/ark_milan.pem");
    blob ark_genoa = load(DIR "amd-kds-roots/ark_genoa.pem");
    veil_snp_evidence ev = {report.p, report.n,    vcek.p,      vcek.n, NULL,
                            0,        ark_milan.p, ark_milan.n, NULL,   0};
    veil_snp_trust t = {T_2025_06_01, NULL, NULL, 0};
    veil_verdict v;
    veil_snp_cache_clear();
    veil_verdict_init(&v);
    tu_ok(veil_snp_verify(&ev, &t, NULL, &v, NULL));
    assert_true(veil_verdict_finish(&v));
    ev.ark = ark_genoa.p;
    ev.ark_len = ark_genoa.n;
    veil_verdict_init(&v);
    tu_ok(veil_snp_verify(&ev, &t, NULL, &v, NULL));
    assert_false(veil_verdict_finish(&v));
    assert_int_equal(v.failed, VEIL_CHECK_CHAIN);
    assert_non_null(strstr(v.reason, "not the pinned ARK-Milan"));
    /* Bad arguments are errors, not verdicts. */
    assert_int_equal(veil_snp_verify(NULL, &t, NULL, &v, NULL).cls, VEIL_E_USAGE);
    unload(&report);
    unload(&vcek);
    unload(&ark_milan);
    unload(&ark_genoa);
}

/* ---- a test-generated PKI: non-AMD roots, extra (simulated) roots, CRLs --------------------- */

typedef struct pki {
    EVP_PKEY *root_key, *int_key, *leaf_key;
    X509 *root, *inter, *leaf;
    uint8_t *root_der, *int_der, *leaf_der;
    size_t root_len, int_len, leaf_len;
} pki;

static void add_raw_ext(X509 *c, const char *oid, const uint8_t *val, size_t n)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    assert_true(obj && os && ASN1_OCTET_STRING_set(os, val, (int)n));
    X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(c, ext, -1), 1);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
}

static void add_int_ext(X509 *c, const char *oid, long v)
{
    ASN1_INTEGER *ai = ASN1_INTEGER_new();
    unsigned char *der = NULL;
    assert_true(ai && ASN1_INTEGER_set(ai, v));
    int n = i2d_ASN1_INTEGER(ai, &der);
    add_raw_ext(c, oid, der, (size_t)n);
    OPENSSL_free(der);
    ASN1_INTEGER_free(ai);
}

static void add_ia5_ext(X509 *c, const char *oid, const char *s)
{
    ASN1_IA5STRING *a = ASN1_IA5STRING_new();
    unsigned char *der = NULL;
    assert_true(a && ASN1_STRING_set(a, s, (int)strlen(s)));
    int n = i2d_ASN1_IA5STRING(a, &der);
    add_raw_ext(c, oid, der, (size_t)n);
    OPENSSL_free(der);
    ASN1_IA5STRING_free(a);
}

static X509 *mk_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca)
{
    X509 *c = X509_new();
    assert_non_null(c);
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), ca ? (issuer ? 7 : 1) : 0); /* AMD VCEKs: 0 */
    X509_NAME *name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"veil test", -1, -1,
                               0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
    ASN1_TIME_set(X509_getm_notBefore(c), 1600000000); /* 2020-09-13 */
    ASN1_TIME_set(X509_getm_notAfter(c), 1900000000);  /* 2030-03-17 */
    X509_set_pubkey(c, key);
    if (ca) {
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, issuer ? issuer : c, c, NULL, NULL, 0);
        X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "CA:TRUE");
        X509_EXTENSION *ku = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "keyCertSign,cRLSign");
        X509_add_ext(c, bc, -1);
        X509_add_ext(c, ku, -1);
        X509_EXTENSION_free(bc);
        X509_EXTENSION_free(ku);
    }
    return c;
}

static void sign_cert(X509 *c, EVP_PKEY *issuer_key)
{
    assert_true(X509_sign(c, issuer_key, EVP_sha384()) > 0);
}

static uint8_t *der_of(X509 *c, size_t *n)
{
    unsigned char *der = NULL;
    int len = i2d_X509(c, &der);
    assert_true(len > 0);
    *n = (size_t)len;
    return der;
}

/* "fake AMD" names: root ARK-Milan, intermediate SEV-Milan, leaf SEV-VCEK with
 * the AMD extensions of a Milan VCEK for chip_id and tcb (bl 3 tee 0 snp 8 ucode 115). */
static void pki_make(pki *k, const uint8_t chip_id[64])
{
    memset(k, 0, sizeof *k);
    k->root_key = EVP_RSA_gen(2048);
    k->int_key = EVP_RSA_gen(2048);
    k->leaf_key = EVP_EC_gen("P-384");
    assert_true(k->root_key && k->int_key && k->leaf_key);
    k->root = mk_cert("ARK-Milan", k->root_key, NULL, NULL, true);
    sign_cert(k->root, k->root_key);
    k->inter = mk_cert("SEV-Milan", k->int_key, k->root, k->root_key, true);
    sign_cert(k->inter, k->root_key);
    k->leaf = mk_cert("SEV-VCEK", k->leaf_key, k->inter, k->int_key, false);
    add_int_ext(k->leaf, SNP_OID_STRUCT_VERSION, 0);
    add_ia5_ext(k->leaf, SNP_OID_PRODUCT_NAME, "Milan-B0");
    add_int_ext(k->leaf, SNP_OID_BL_SPL, 3);
    add_int_ext(k->leaf, SNP_OID_TEE_SPL, 0);
    add_int_ext(k->leaf, SNP_OID_SNP_SPL, 8);
    add_int_ext(k->leaf, SNP_OID_UCODE_SPL, 115); /* < 128: one content byte */
    /* the DER OCTET STRING form of hwID: 04 40 ... */
    uint8_t wrapped[66] = {0x04, 0x40};
    memcpy(wrapped + 2, chip_id, 64);
    add_raw_ext(k->leaf, SNP_OID_HWID, wrapped, sizeof wrapped);
    sign_cert(k->leaf, k->int_key);
    k->root_der = der_of(k->root, &k->root_len);
    k->int_der = der_of(k->inter, &k->int_len);
    k->leaf_der = der_of(k->leaf, &k->leaf_len);
}

static void pki_free(pki *k)
{
    OPENSSL_free(k->root_der);
    OPENSSL_free(k->int_der);
    OPENSSL_free(k->leaf_der);
    X509_free(k->root);
    X509_free(k->inter);
    X509_free(k->leaf);
    EVP_PKEY_free(k->root_key);
    EVP_PKEY_free(k->int_key);
    EVP_PKEY_free(k->leaf_key);
}

/* A v2 report for the pki's chip, signed by its leaf key. */
static void signed_report(const pki *k, const uint8_t chip_id[64],
                          uint8_t out[VEIL_SNP_REPORT_SIZE])
{
    veil_snp_report r;
    memset(&r, 0, sizeof r);
    r.version = 2;
    r.policy = 0x3001f;
    r.signature_algo = 1;
    r.reported_tcb = r.current_tcb = r.committed_tcb = r.launch_tcb = 0x7308000000000003ull;
    memcpy(r.chip_id, chip_id, 64);
    memset(r.report_id_ma, 0xFF, sizeof r.report_id_ma);
    tu_ok(veil_snp_report_encode(&r, out));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[200];
    size_t sl = sizeof sig;
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha384(), NULL, k->leaf_key), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &sl, out, VEIL_SNP_SIGNED_SIZE), 1);
    const unsigned char *q = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)sl);
    assert_non_null(es);
    assert_int_equal(BN_bn2lebinpad(ECDSA_SIG_get0_r(es), r.sig_r, 72), 72);
    assert_int_equal(BN_bn2lebinpad(ECDSA_SIG_get0_s(es), r.sig_s, 72), 72);
    tu_ok(veil_snp_report_encode(&r, out));
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(ctx);
}

static X509_CRL *mk_crl(const pki *k, X509 *revoke, long this_up, long next_up)
{
    X509_CRL *crl = X509_CRL_new();
    assert_non_null(crl);
    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(k->root));
    ASN1_TIME *t = ASN1_TIME_new();
    ASN1_TIME_set(t, this_up);
    X509_CRL_set1_lastUpdate(crl, t);
    ASN1_TIME_set(t, next_up);
    X509_CRL_set1_nextUpdate(crl, t);
    if (revoke) {
        X509_REVOKED *rev = X509_REVOKED_new();
        X509_REVOKED_set_serialNumber(rev, X509_get_serialNumber(revoke));
        ASN1_TIME_set(t, this_up);
        X509_REVOKED_set_revocationDate(rev, t);
        X509_CRL_add0_revoked(crl, rev);
    }
    ASN1_TIME_free(t);
    X509_CRL_sort(crl);
    assert_true(X509_CRL_sign(crl, k->root_key, EVP_sha384()) > 0);
    return crl;
}

static veil_check verify_pki(const pki *k, const uint8_t *report, const uint8_t *ark,
                             size_t ark_len, const uint8_t *crl, size_t crl_len, bool extra,
                             veil_verdict *v, bool *sim)
{
    const uint8_t *roots[1] = {k->root_der};
    size_t lens[1] = {k->root_len};
    veil_snp_evidence ev = {report,      VEIL_SNP_REPORT_SIZE,
                            k->leaf_der, k->leaf_len,
                            k->int_der,  k->int_len,
                            ark,         ark_len,
                            crl,         crl_len};
    veil_snp_trust t = {T_2025_06_01, roots, lens, extra ? 1u : 0u};
    veil_verdict_init(v);
    tu_ok(veil_snp_verify(&ev, &t, NULL, v, sim));
    veil_verdict_finish(v);
    if (v->failed != VEIL_CHECK_NONE)
        print_message("  verdict: %s\n", v->reason);
    return v->failed;
}

static void test_non_amd_root_and_extra_roots(void **state)
{
    uint8_t chip[64], report[VEIL_SNP_REPORT_SIZE];
    for (int i = 0; i < 64; i++)
        chip[i] = (uint8_t)(0xA0 + i);
    pki k;
    veil_verdict v;
    bool sim = true;
    pki_make(&k, chip);
    signed_report(&k, chip, report);
    veil_snp_cache_clear();

    /* Named like AMD's, but the root is not the pinned ARK-Milan. */
    assert_int_equal(verify_pki(&k, report, NULL, 0, NULL, 0, false, &v, &sim), VEIL_CHECK_CHAIN);
    assert_false(sim);
    /* Offering the fake root as "the ARK" in the evidence changes nothing. */
    assert_int_equal(verify_pki(&k, report, k.root_der, k.root_len, NULL, 0, false, &v, &sim),
                     VEIL_CHECK_CHAIN);
    assert_non_null(strstr(v.reason, "not the pinned ARK-Milan"));

    /* Passed as an extra root by the caller: accepted, marked simulated. */
    assert_int_equal(verify_pki(&k, report, NULL, 0, NULL, 0, true, &v, &sim), VEIL_CHECK_NONE);
    assert_true(sim);
    assert_true(v.simulated);
    assert_non_null(strstr(trace_of(&v, VEIL_CHECK_CHAIN)->detail, "SIMULATED"));
    /* cached, still simulated; and without the extra root the cache does not apply */
    assert_int_equal(verify_pki(&k, report, NULL, 0, NULL, 0, true, &v, &sim), VEIL_CHECK_NONE);
    assert_true(sim);
    assert_non_null(strstr(trace_of(&v, VEIL_CHECK_CHAIN)->detail, "cached"));
    assert_int_equal(verify_pki(&k, report, NULL, 0, NULL, 0, false, &v, &sim), VEIL_CHECK_CHAIN);
    assert_false(sim);

    /* CRLs from the root: current and empty -> fine; revoking the intermediate,
     * expired or from an unrelated issuer -> CHAIN. */
    X509_CRL *ok = mk_crl(&k, NULL, 1700000000, 1800000000);
    X509_CRL *revoked = mk_crl(&k, k.inter, 1700000000, 1800000000);
    X509_CRL *stale = mk_crl(&k, NULL, 1600000000, 1700000000);
    unsigned char *d1 = NULL, *d2 = NULL, *d3 = NULL;
    int n1 = i2d_X509_CRL(ok, &d1), n2 = i2d_X509_CRL(revoked, &d2), n3 = i2d_X509_CRL(stale, &d3);
    assert_int_equal(verify_pki(&k, report, NULL, 0, d1, (size_t)n1, true, &v, &sim),
                     VEIL_CHECK_NONE);
    assert_int_equal(verify_pki(&k, report, NULL, 0, d2, (size_t)n2, true, &v, &sim),
                     VEIL_CHECK_CHAIN);
    assert_non_null(strstr(v.reason, "revoked"));
    assert_int_equal(verify_pki(&k, report, NULL, 0, d3, (size_t)n3, true, &v, &sim),
                     VEIL_CHECK_CHAIN);
    assert_non_null(strstr(v.reason, "expired"));
    pki other;
    pki_make(&other, chip);
    X509_CRL *foreign = mk_crl(&other, NULL, 1700000000, 1800000000);
    unsigned char *d4 = NULL;
    int n4 = i2d_X509_CRL(foreign, &d4);
    assert_int_equal(verify_pki(&k, report, NULL, 0, d4, (size_t)n4, true, &v, &sim),
                     VEIL_CHECK_CHAIN);
    /* same names, other key: the signature check catches it */
    assert_non_null(strstr(v.reason, "CRL signature"));

    /* A report signed by another leaf key: SIGNATURE. */
    uint8_t forged[VEIL_SNP_REPORT_SIZE];
    signed_report(&other, chip, forged);
    assert_int_equal(verify_pki(&k, forged, NULL, 0, NULL, 0, true, &v, &sim),
                     VEIL_CHECK_SIGNATURE);

    OPENSSL_free(d1);
    OPENSSL_free(d2);
    OPENSSL_free(d3);
    OPENSSL_free(d4);
    X509_CRL_free(ok);
    X509_CRL_free(revoked);
    X509_CRL_free(stale);
    X509_CRL_free(foreign);
    pki_free(&other);
    pki_free(&k);
    veil_snp_cache_clear();
}

/* Many threads verifying the same and different evidence share the cache. */
typedef struct thread_arg {
    blob *report, *cert;
    int64_t at;
    int ok;
} thread_arg;

static void *verify_thread(void *p)
{
    thread_arg *a = p;
    for (int i = 0; i < 20; i++) {
        veil_snp_evidence ev = {
            a->report->p, a->report->n, a->cert->p, a->cert->n, NULL, 0, NULL, 0, NULL, 0};
        veil_snp_trust t = {a->at, NULL, NULL, 0};
        veil_verdict v;
        veil_verdict_init(&v);
        if (veil_ok(veil_snp_verify(&ev, &t, NULL, &v, NULL)) && veil_verdict_finish(&v))
            a->ok++;
        if (i == 10 && a->at == T_2025_06_01)
            veil_snp_cache_clear();
    }
    return NULL;
}

static void test_threads_share_the_cache(void **state)
{
    blob r1 = load(DIR "snp-milan-v2-go-sev-guest/report.bin");
    blob c1 = load(DIR "snp-milan-v2-go-sev-guest/vcek.der");
    blob r2 = load(DIR "snp-milan-v3-dstack/report.bin");
    blob c2 = load(DIR "snp-milan-v3-dstack/vcek.pem");
    pthread_t th[4];
    thread_arg args[4] = {{&r1, &c1, T_2025_06_01, 0},
                          {&r2, &c2, T_2026_07_01, 0},
                          {&r1, &c1, T_2026_07_01, 0},
                          {&r2, &c2, T_2026_07_01, 0}};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, verify_thread, &args[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].ok, 20);
    }
    unload(&r1);
    unload(&c1);
    unload(&r2);
    unload(&c2);
}

/* The compiled-in roots are the files of amd-kds-roots (same SHA-256), each
 * ASK/ASVK chains to its own ARK only. */
static void test_pinned_roots(void **state)
{
    static const char *const names[] = {"milan", "genoa", "turin"};
    for (int p = VEIL_SNP_MILAN; p <= VEIL_SNP_TURIN; p++) {
        const snp_pinned *pin = NULL, *other = NULL;
        tu_ok(snp_pinned_roots((veil_snp_product)p, &pin));
        tu_ok(snp_pinned_roots(p == VEIL_SNP_MILAN ? VEIL_SNP_GENOA : VEIL_SNP_MILAN, &other));
        veil_x509 *const mine[3] = {pin->ark, pin->ask, pin->asvk};
        static const char *const kinds[3] = {"ark", "ask", "asvk"};
        for (int k = 0; k < 3; k++) {
            char rel[128];
            snprintf(rel, sizeof rel, DIR "amd-kds-roots/%s_%s.pem", kinds[k], names[p - 1]);
            blob pem = load(rel);
            veil_x509 *file = NULL;
            uint8_t f1[32], f2[32];
            tu_ok(veil_x509_parse(pem.p, pem.n, &file));
            tu_ok(veil_x509_fingerprint(file, f1));
            tu_ok(veil_x509_fingerprint(mine[k], f2));
            tu_assert_bytes(f2, 32, f1, 32);
            veil_x509_free(file);
            unload(&pem);
            veil_x509_verify_opts o = {T_2025_06_01, &pin->ark, 1, NULL, 0, NULL, 0};
            veil_x509_chain_status st;
            tu_ok(veil_x509_verify_chain(mine[k], &o, &st));
            assert_true(st.ok);
            assert_int_equal(st.len, k == 0 ? 1 : 2);
            veil_x509_chain_clear(&st);
            if (k == 0)
                continue;
            o.roots = &other->ark; /* wrong product */
            tu_ok(veil_x509_verify_chain(mine[k], &o, &st));
            assert_false(st.ok);
            veil_x509_chain_clear(&st);
        }
    }
    const snp_pinned *pin;
    assert_int_equal(snp_pinned_roots(VEIL_SNP_PRODUCT_UNKNOWN, &pin).cls, VEIL_E_USAGE);
}

/* ---- decoder ------------------------------------------------------------------------------- */

static void put32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void expect_decode_error(const uint8_t *base, size_t off, uint8_t val, const char *msg_part)
{
    uint8_t buf[VEIL_SNP_REPORT_SIZE];
    veil_snp_report r;
    memcpy(buf, base, sizeof buf);
    buf[off] = val;
    veil_result res = veil_snp_report_decode(buf, sizeof buf, &r);
    assert_int_equal(res.cls, VEIL_E_PROTOCOL);
    if (!strstr(res.msg, msg_part))
        fail_msg("offset 0x%zx: message \"%s\" lacks \"%s\"", off, res.msg, msg_part);
    assert_int_equal(r.version, 0); /* output emptied */
}

static void test_decoder_rejects(void **state)
{
    blob v2 = load(DIR "snp-milan-v2-go-sev-guest/report.bin");
    blob v3 = load(DIR "snp-milan-v3-dstack/report.bin");
    veil_snp_report r;
    expect_decode_error(v2.p, 0x000, 1, "unsupported VERSION");
    expect_decode_error(v2.p, 0x000, 6, "unsupported VERSION");
    expect_decode_error(v2.p, 0x034, 2, "SIGNATURE_ALGO");
    expect_decode_error(v2.p, 0x00A, 0x09, "bit 17"); /* 0x0b -> 0x09 */
    expect_decode_error(v2.p, 0x00B, 0x04, "bits 63:26");
    expect_decode_error(v2.p, 0x048, 0x08, "SIGNING_KEY is a reserved");
    expect_decode_error(v2.p, 0x048, 0x20, "SIGNER_INFO reserved");
    expect_decode_error(v2.p, 0x04D, 1, "0x04C");
    expect_decode_error(v2.p, 0x188, 0x19, "v2 has no CPUID"); /* CPUID byte in a v2 report */
    expect_decode_error(v3.p, 0x18B, 1, "0x18B");
    expect_decode_error(v2.p, 0x1EB, 1, "0x1EB");
    expect_decode_error(v2.p, 0x1EF, 1, "0x1EF");
    expect_decode_error(v3.p, 0x1F8, 1, "need VERSION 5"); /* mitigation vector before v5 */
    expect_decode_error(v2.p, 0x29F, 1, "0x1F8..0x2A0");
    expect_decode_error(v2.p, 0x330, 1, "0x330..0x4A0");
    expect_decode_error(v2.p, 0x49F, 1, "0x330..0x4A0");
    assert_int_equal(veil_snp_report_decode(v2.p, 0x49F, &r).cls, VEIL_E_PROTOCOL);
    assert_int_equal(veil_snp_report_decode(v2.p, 0, &r).cls, VEIL_E_PROTOCOL);
    assert_int_equal(veil_snp_report_decode(NULL, 5, &r).cls, VEIL_E_USAGE);

    /* Version 5 carries mitigation vectors; 4 decodes like 3. */
    uint8_t buf[VEIL_SNP_REPORT_SIZE];
    memcpy(buf, v3.p, sizeof buf);
    put32le(buf, 5);
    buf[0x1F8] = 0x11;
    buf[0x200] = 0x22;
    tu_ok(veil_snp_report_decode(buf, sizeof buf, &r));
    assert_int_equal(r.launch_mit_vector, 0x11);
    assert_int_equal(r.current_mit_vector, 0x22);
    uint8_t again[VEIL_SNP_REPORT_SIZE];
    tu_ok(veil_snp_report_encode(&r, again));
    tu_assert_bytes(again, sizeof again, buf, sizeof buf);
    expect_decode_error(buf, 0x208, 1, "0x208..0x2A0");
    put32le(buf, 4);
    buf[0x1F8] = buf[0x200] = 0;
    tu_ok(veil_snp_report_decode(buf, sizeof buf, &r));
    assert_int_equal(veil_snp_report_product(&r), VEIL_SNP_MILAN);

    /* The encoder refuses what the decoder would reject. */
    r.version = 2;
    assert_int_equal(veil_snp_report_encode(&r, again).cls, VEIL_E_USAGE); /* CPUID set in v2 */
    r.version = 3;
    r.launch_mit_vector = 1;
    assert_int_equal(veil_snp_report_encode(&r, again).cls, VEIL_E_USAGE);
    r.launch_mit_vector = 0;
    r.policy &= ~VEIL_SNP_POLICY_RESERVED17;
    veil_result res = veil_snp_report_encode(&r, again);
    assert_int_equal(res.cls, VEIL_E_USAGE);
    assert_non_null(strstr(res.msg, "bit 17"));
    unload(&v2);
    unload(&v3);
}

static void test_tcb_and_products(void **state)
{
    veil_snp_tcb t, min;
    tu_ok(veil_snp_tcb_decode(0x4405000000000002ull, VEIL_SNP_MILAN, &t));
    assert_int_equal(t.bootloader, 2);
    assert_int_equal(t.tee, 0);
    assert_int_equal(t.snp, 5);
    assert_int_equal(t.microcode, 68);
    assert_false(t.has_fmc);
    assert_int_equal(veil_snp_tcb_encode(&t, VEIL_SNP_MILAN), 0x4405000000000002ull);
    tu_ok(veil_snp_tcb_decode(0x0900000000000000ull, VEIL_SNP_TURIN, &t));
    assert_true(t.has_fmc);
    assert_int_equal(t.fmc, 0);
    assert_int_equal(t.microcode, 9);
    tu_ok(veil_snp_tcb_decode(0x0B00000004030201ull, VEIL_SNP_TURIN, &t));
    assert_int_equal(t.fmc, 1);
    assert_int_equal(t.bootloader, 2);
    assert_int_equal(t.tee, 3);
    assert_int_equal(t.snp, 4);
    assert_int_equal(t.microcode, 11);
    assert_int_equal(veil_snp_tcb_encode(&t, VEIL_SNP_TURIN), 0x0B00000004030201ull);
    assert_int_equal(veil_snp_tcb_decode(1, VEIL_SNP_PRODUCT_UNKNOWN, &t).cls, VEIL_E_USAGE);

    /* Per component, never as an integer: bl 3 snp 5 is not >= bl 2 snp 8 although the
     * u64 is larger. */
    tu_ok(veil_snp_tcb_decode(0x4405000000000003ull, VEIL_SNP_MILAN, &t));
    tu_ok(veil_snp_tcb_decode(0x4408000000000002ull, VEIL_SNP_MILAN, &min));
    assert_false(veil_snp_tcb_at_least(&t, &min));
    assert_true(veil_snp_tcb_at_least(&t, &t));
    min.snp = 5;
    assert_true(veil_snp_tcb_at_least(&t, &min));
    min.microcode = 69;
    assert_false(veil_snp_tcb_at_least(&t, &min));

    assert_int_equal(veil_snp_product_from_name("Milan-B0"), VEIL_SNP_MILAN);
    assert_int_equal(veil_snp_product_from_name("Milan"), VEIL_SNP_MILAN);
    assert_int_equal(veil_snp_product_from_name("Genoa-B1"), VEIL_SNP_GENOA);
    assert_int_equal(veil_snp_product_from_name("Turin"), VEIL_SNP_TURIN);
    assert_int_equal(veil_snp_product_from_name("Milanx"), VEIL_SNP_PRODUCT_UNKNOWN);
    assert_int_equal(veil_snp_product_from_name(""), VEIL_SNP_PRODUCT_UNKNOWN);
    assert_int_equal(veil_snp_product_from_cpuid(0x19, 0x01), VEIL_SNP_MILAN);
    assert_int_equal(veil_snp_product_from_cpuid(0x19, 0x11), VEIL_SNP_GENOA);
    assert_int_equal(veil_snp_product_from_cpuid(0x19, 0xA0), VEIL_SNP_GENOA);
    assert_int_equal(veil_snp_product_from_cpuid(0x1A, 0x02), VEIL_SNP_TURIN);
    assert_int_equal(veil_snp_product_from_cpuid(0x1A, 0x12), VEIL_SNP_PRODUCT_UNKNOWN);
    assert_int_equal(veil_snp_product_from_cpuid(0x17, 0x01), VEIL_SNP_PRODUCT_UNKNOWN);
    assert_string_equal(veil_snp_product_name(VEIL_SNP_GENOA), "Genoa");
    assert_int_equal(snp_product_from_issuer_cn("SEV-VLEK-Milan"), VEIL_SNP_MILAN);
    assert_int_equal(snp_product_from_issuer_cn("SEV-Turin"), VEIL_SNP_TURIN);
    assert_int_equal(snp_product_from_issuer_cn("SEV-Milan-B0"), VEIL_SNP_PRODUCT_UNKNOWN);
    assert_int_equal(snp_product_from_issuer_cn("ARK-Milan"), VEIL_SNP_PRODUCT_UNKNOWN);
}

/* ---- certificate table ------------------------------------------------------------------------
 */

static void test_cert_table(void **state)
{
    blob vcek = load(DIR "snp-milan-v2-go-sev-guest/vcek.der");
    const uint8_t ask[] = {0x30, 0x01, 0xAA}, ark[] = {0x30, 0x02, 0xBB, 0xCC};
    veil_snp_cert_table t = {0}, back;
    veil_buf b;
    t.vcek = vcek.p;
    t.vcek_len = vcek.n;
    t.ask = ask;
    t.ask_len = sizeof ask;
    t.ark = ark;
    t.ark_len = sizeof ark;
    veil_buf_init(&b, 0);
    tu_ok(veil_snp_cert_table_encode(&t, &b));
    assert_int_equal(b.len, 4 * 24 + vcek.n + sizeof ask + sizeof ark);
    assert_int_equal(b.data[0], 0x63); /* VCEK GUID 63da758d-... in RFC 4122 order */
    assert_int_equal(b.data[1], 0xda);
    tu_ok(veil_snp_cert_table_decode(b.data, b.len, &back));
    tu_assert_bytes(back.vcek, back.vcek_len, vcek.p, vcek.n);
    tu_assert_bytes(back.ask, back.ask_len, ask, sizeof ask);
    tu_assert_bytes(back.ark, back.ark_len, ark, sizeof ark);
    assert_null(back.vlek);
    /* Trailing data past the blobs is fine (the guest's pages are larger). */
    tu_ok(veil_buf_zeros(&b, 100));
    tu_ok(veil_snp_cert_table_decode(b.data, b.len, &back));
    b.len -= 100;

    uint8_t *p = b.data;
    veil_snp_cert_table x;
    /* Offset past the end; length past the end. */
    put32le(p + 16, (uint32_t)b.len);
    assert_int_equal(veil_snp_cert_table_decode(p, b.len, &x).cls, VEIL_E_PROTOCOL);
    put32le(p + 16, 4 * 24);
    put32le(p + 20, (uint32_t)vcek.n + 100);
    assert_int_equal(veil_snp_cert_table_decode(p, b.len, &x).cls, VEIL_E_PROTOCOL);
    put32le(p + 20, 0xFFFFFFFF); /* offset + length overflows 32 bits */
    assert_int_equal(veil_snp_cert_table_decode(p, b.len, &x).cls, VEIL_E_PROTOCOL);
    put32le(p + 20, (uint32_t)vcek.n);
    /* Offset inside the header. */
    put32le(p + 16, 24);
    veil_result res = veil_snp_cert_table_decode(p, b.len, &x);
    assert_non_null(strstr(res.msg, "header"));
    put32le(p + 16, 4 * 24);
    tu_ok(veil_snp_cert_table_decode(p, b.len, &x));
    /* Zero length. */
    put32le(p + 24 + 20, 0);
    assert_int_equal(veil_snp_cert_table_decode(p, b.len, &x).cls, VEIL_E_PROTOCOL);
    put32le(p + 24 + 20, sizeof ask);
    /* Duplicate GUID: make the ASK entry claim to be the VCEK. */
    uint8_t guid[16];
    memcpy(guid, p + 24, 16);
    memcpy(p + 24, p, 16);
    assert_non_null(strstr(veil_snp_cert_table_decode(p, b.len, &x).msg, "twice"));
    /* An unknown GUID is skipped. */
    p[24] ^= 0xFF;
    tu_ok(veil_snp_cert_table_decode(p, b.len, &x));
    assert_null(x.ask);
    assert_non_null(x.vcek);
    memcpy(p + 24, guid, 16);
    /* Missing terminator: the terminator's GUID made non-zero... */
    p[3 * 24] = 1;
    res = veil_snp_cert_table_decode(p, 4 * 24, &x);
    assert_non_null(strstr(res.msg, "terminating"));
    p[3 * 24] = 0;
    /* ...or the data ends inside the header. */
    res = veil_snp_cert_table_decode(p, 3 * 24 + 10, &x);
    assert_non_null(strstr(res.msg, "terminating"));
    /* A terminator with a non-zero offset. */
    p[3 * 24 + 16] = 1;
    res = veil_snp_cert_table_decode(p, b.len, &x);
    assert_non_null(strstr(res.msg, "non-zero"));
    p[3 * 24 + 16] = 0;
    tu_ok(veil_snp_cert_table_decode(p, b.len, &x));
    /* An empty table is just a terminator. */
    uint8_t empty[24] = {0};
    tu_ok(veil_snp_cert_table_decode(empty, sizeof empty, &x));
    assert_null(x.vcek);
    assert_int_equal(veil_snp_cert_table_decode(empty, 0, &x).cls, VEIL_E_PROTOCOL);
    /* More than 64 entries without a terminator. */
    size_t big = 70 * 24;
    uint8_t *many = veil_calloc(1, big);
    for (size_t i = 0; i < 70; i++)
        many[i * 24] = (uint8_t)(i + 1);
    res = veil_snp_cert_table_decode(many, big, &x);
    assert_non_null(strstr(res.msg, "too many"));
    tu_free(many);
    /* Encoder: pointer/length mismatch. */
    t.vlek_len = 5;
    assert_int_equal(veil_snp_cert_table_encode(&t, &b).cls, VEIL_E_USAGE);
    veil_buf_free(&b);
    unload(&vcek);
}

/* The certificate table carries a verifiable VCEK end to end. */
static void test_cert_table_feeds_the_verifier(void **state)
{
    blob report = load(DIR "snp-milan-v2-go-sev-guest/report.bin");
    blob vcek = load(DIR "snp-milan-v2-go-sev-guest/vcek.der");
    blob ask_pem = load(DIR "amd-kds-roots/ask_milan.pem");
    veil_x509 *ask = NULL;
    uint8_t *ask_der = NULL;
    size_t ask_len = 0;
    tu_ok(veil_x509_parse(ask_pem.p, ask_pem.n, &ask));
    tu_ok(veil_x509_der(ask, &ask_der, &ask_len));
    veil_snp_cert_table t = {vcek.p, vcek.n, NULL, 0, ask_der, ask_len, NULL, 0}, back;
    veil_buf b;
    veil_buf_init(&b, 0);
    tu_ok(veil_snp_cert_table_encode(&t, &b));
    tu_ok(veil_snp_cert_table_decode(b.data, b.len, &back));
    veil_snp_evidence ev = {report.p,     report.n, back.vcek, back.vcek_len, back.ask,
                            back.ask_len, NULL,     0,         NULL,          0};
    veil_snp_trust tr = {T_2025_06_01, NULL, NULL, 0};
    veil_verdict v;
    veil_snp_cache_clear();
    veil_verdict_init(&v);
    tu_ok(veil_snp_verify(&ev, &tr, NULL, &v, NULL));
    assert_true(veil_verdict_finish(&v));
    veil_buf_free(&b);
    veil_x509_der_free(ask_der);
    veil_x509_free(ask);
    unload(&report);
    unload(&vcek);
    unload(&ask_pem);
}

/* ---- Azure HCL --------------------------------------------------------------------------------
 */

static void test_hcl_sample_binds_and_breaks(void **state)
{
    blob hcl_bin = load(DIR "snp-milan-v2-azure-hcl/hcl-report.bin");
    blob report_bin = load(DIR "snp-milan-v2-azure-hcl/report.bin");
    blob chain = load(DIR "snp-milan-v2-azure-hcl/vcek_ask_ark_chain.pem");
    veil_snp_hcl h;
    tu_ok(veil_snp_hcl_decode(hcl_bin.p, hcl_bin.n, &h));
    assert_int_equal(h.version, 1);
    assert_int_equal(h.report_size, 2346);
    assert_int_equal(h.request_type, 2);
    assert_int_equal(h.status, 0);
    assert_int_equal(h.igvm_data_size, 1130);
    assert_int_equal(h.report_type, 2);
    assert_int_equal(h.hash_type, VEIL_SNP_HCL_HASH_SHA256);
    assert_int_equal(h.claims_len, 1110);
    assert_int_equal(h.claims[0], '{');
    tu_assert_bytes(h.report, VEIL_SNP_REPORT_SIZE, report_bin.p, report_bin.n);

    /* Authentic, then bound. */
    blob rep = {(uint8_t *)h.report, VEIL_SNP_REPORT_SIZE};
    outcome o;
    veil_snp_cache_clear();
    assert_int_equal(verify_at(&o, &rep, &chain, NULL, T_2025_06_01), VEIL_CHECK_NONE);
    veil_verdict v;
    veil_verdict_init(&v);
    tu_ok(veil_snp_hcl_check_binding(&h, &o.r, &v));
    assert_true(veil_verdict_finish(&v));
    assert_non_null(strstr(v.trace[0].detail, "SHA-256(runtime claims, 1110 bytes) b3fbad65"));

    /* One flipped claims byte breaks the binding. */
    hcl_bin.p[VEIL_SNP_HCL_CLAIMS_OFFSET + 100] ^= 0x01;
    tu_ok(veil_snp_hcl_decode(hcl_bin.p, hcl_bin.n, &h));
    veil_verdict_init(&v);
    tu_ok(veil_snp_hcl_check_binding(&h, &o.r, &v));
    assert_false(veil_verdict_finish(&v));
    assert_int_equal(v.failed, VEIL_CHECK_RUNTIME_DATA);
    hcl_bin.p[VEIL_SNP_HCL_CLAIMS_OFFSET + 100] ^= 0x01;

    /* A report other than the one carried is refused. */
    blob other = load(DIR "snp-milan-v2-go-sev-guest/report.bin");
    veil_snp_report r2;
    tu_ok(veil_snp_report_decode(other.p, other.n, &r2));
    tu_ok(veil_snp_hcl_decode(hcl_bin.p, hcl_bin.n, &h));
    veil_verdict_init(&v);
    tu_ok(veil_snp_hcl_check_binding(&h, &r2, &v));
    assert_int_equal(v.failed, VEIL_CHECK_RUNTIME_DATA);
    assert_non_null(strstr(v.reason, "not the one"));
    unload(&other);
    unload(&hcl_bin);
    unload(&report_bin);
    unload(&chain);
}

static void test_hcl_malformed_and_other_hashes(void **state)
{
    blob bin = load(DIR "snp-milan-v2-azure-hcl/hcl-report.bin");
    veil_snp_hcl h;
    uint8_t *p = bin.p;
    p[0] = 'X';
    assert_non_null(strstr(veil_snp_hcl_decode(p, bin.n, &h).msg, "magic"));
    p[0] = 'H';
    assert_int_equal(veil_snp_hcl_decode(p, 0x4D3, &h).cls, VEIL_E_PROTOCOL);
    assert_int_equal(veil_snp_hcl_decode(p, 2345, &h).cls, VEIL_E_PROTOCOL); /* < report_size */
    tu_ok(veil_snp_hcl_decode(p, 2346, &h));                                 /* no padding */
    p[0x4C0 + 12] = 4;                                                       /* hash_type */
    assert_non_null(strstr(veil_snp_hcl_decode(p, bin.n, &h).msg, "hash_type"));
    p[0x4C0 + 12] = 1;
    p[0x4C0 + 8] = 3; /* report_type */
    assert_int_equal(veil_snp_hcl_decode(p, bin.n, &h).cls, VEIL_E_PROTOCOL);
    p[0x4C0 + 8] = 2;
    p[0x4C0 + 16] ^= 1; /* variable_data_size disagrees with data_size */
    assert_non_null(strstr(veil_snp_hcl_decode(p, bin.n, &h).msg, "data_size"));
    p[0x4C0 + 16] ^= 1;
    p[8] ^= 1; /* report_size */
    assert_non_null(strstr(veil_snp_hcl_decode(p, bin.n, &h).msg, "report_size"));
    p[8] ^= 1;

    /* SHA-384 / SHA-512 bindings: a report whose REPORT_DATA holds them. */
    static const struct {
        uint32_t type;
        veil_digest_alg alg;
    } hashes[] = {{VEIL_SNP_HCL_HASH_SHA384, VEIL_DIGEST_SHA384},
                  {VEIL_SNP_HCL_HASH_SHA512, VEIL_DIGEST_SHA512}};
    for (size_t i = 0; i < 2; i++) {
        veil_snp_report r;
        veil_verdict v;
        put32le(p + 0x4C0 + 12, hashes[i].type);
        tu_ok(veil_snp_hcl_decode(p, bin.n, &h));
        tu_ok(veil_snp_report_decode(h.report, VEIL_SNP_REPORT_SIZE, &r));
        size_t dl = veil_digest_len(hashes[i].alg);
        memset(r.report_data, 0, sizeof r.report_data);
        tu_ok(veil_digest(hashes[i].alg, h.claims, h.claims_len, r.report_data, dl));
        memcpy(r.raw, h.report, VEIL_SNP_REPORT_SIZE);
        veil_verdict_init(&v);
        tu_ok(veil_snp_hcl_check_binding(&h, &r, &v));
        assert_true(veil_verdict_finish(&v));
        if (dl < 64) { /* the rest must be zero */
            r.report_data[63] = 1;
            veil_verdict_init(&v);
            tu_ok(veil_snp_hcl_check_binding(&h, &r, &v));
            assert_false(veil_verdict_finish(&v));
            assert_non_null(strstr(v.reason, "not zero"));
        }
    }
    unload(&bin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_go_sev_guest_milan_v2_valid),
        cmocka_unit_test(test_dstack_milan_v3_valid),
        cmocka_unit_test(test_azure_hcl_report_valid),
        cmocka_unit_test(test_vlek_valid_in_2025_expired_in_2026),
        cmocka_unit_test(test_cached_chain_is_used_and_cleared),
        cmocka_unit_test(test_turin_vcek_chain_and_extensions),
        cmocka_unit_test(test_mutations_fail_the_right_check),
        cmocka_unit_test(test_evidence_ark_must_be_the_pinned_one),
        cmocka_unit_test(test_non_amd_root_and_extra_roots),
        cmocka_unit_test(test_threads_share_the_cache),
        cmocka_unit_test(test_pinned_roots),
        cmocka_unit_test(test_decoder_rejects),
        cmocka_unit_test(test_tcb_and_products),
        cmocka_unit_test(test_cert_table),
        cmocka_unit_test(test_cert_table_feeds_the_verifier),
        cmocka_unit_test(test_hcl_sample_binds_and_breaks),
        cmocka_unit_test(test_hcl_malformed_and_other_hashes),
    };
    int rc = cmocka_run_group_tests_name("snp", tests, NULL, NULL);
    veil_snp_cache_clear();
    return rc;
}
