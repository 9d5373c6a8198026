/* NVIDIA H100 GPU attestation: the real 2023 nvtrust evidence verifies at its
 * stated time with its nonce and matches its signed RIMs, with every field of
 * expected_fields.json; the chain-shape cases give their stated outcomes;
 * mutations fail the right named check; the decoder, the RIM parser and the
 * policy parser reject malformed input; the simulated GPU is accepted only
 * with its root trusted; the NVML attester says plainly when there is no
 * driver. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/x509.h"
#include "sim/gpu_sim.h"
#include "testutil.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/nvgpu.h"
#include "veil/nvgpu_attester.h"

#define T_2024_06_01 1717200000 /* 2024-06-01T00:00:00Z: the PROVENANCE's RIM time */
#define T_2026_07_01 1782864000 /* after the RIM signer certificates expired */

#define H100 "attestation/nvidia-h100-nvtrust-2023/"
#define SHAPES "attestation/nvidia-cert-chain-structure/"
#define NONCE_2023 "4cff7f5380ead8fad8ec2c531c110aca4302a88f603792801a8ca29ee151af2e"
#define FWID_CASE1                                                                                 \
    "f5c384aebb579217a2c66b17ed0f28e6a9b8d639041acd7b4721cec004f7275494ba94bb5cdfdb3055ee051762b1" \
    "f75d"

/* ---- fixtures ------------------------------------------------------------------------- */

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

/* The hex report file as bytes (whitespace dropped). */
static veil_buf load_report(void)
{
    blob text = load(H100 "attestation_report.hex");
    size_t k = 0;
    for (size_t i = 0; i < text.n; i++)
        if (text.p[i] != '\n' && text.p[i] != '\r' && text.p[i] != ' ')
            text.p[k++] = text.p[i];
    text.p[k] = '\0';
    veil_buf b;
    tu_hex(&b, (const char *)text.p);
    unload(&text);
    return b;
}

static void nonce_2023(uint8_t out[32])
{
    veil_buf b;
    tu_hex(&b, NONCE_2023);
    memcpy(out, b.data, 32);
    veil_buf_free(&b);
}

static const veil_nvgpu_trust trust_2024 = {T_2024_06_01, NULL, NULL, 0};

/* The decoded struct is ~28 KB: keep it off the stack. */
static veil_nvgpu_decoded *new_decoded(void)
{
    veil_nvgpu_decoded *d = veil_calloc(1, sizeof *d);
    assert_non_null(d);
    return d;
}

static void show(const veil_verdict *v)
{
    for (size_t i = 0; i < v->n_trace; i++)
        print_message("    %-16s %s %s\n", veil_check_name(v->trace[i].check),
                      v->trace[i].passed ? "ok  " : "FAIL", v->trace[i].detail);
}

/* Verify the real report (with `chain` and `nonce`) and finish the verdict. */
static veil_check verify_real(const veil_buf *report, const blob *chain, const uint8_t nonce[32],
                              veil_nvgpu_decoded *d, veil_verdict *v)
{
    veil_verdict_init(v);
    tu_ok(
        veil_nvgpu_verify(report->data, report->len, chain->p, chain->n, nonce, &trust_2024, d, v));
    veil_verdict_finish(v);
    if (v->failed != VEIL_CHECK_NONE)
        print_message("  verdict: %s\n", v->reason);
    return v->failed;
}

static bool passed(const veil_verdict *v, veil_check c)
{
    bool seen = false;
    for (size_t i = 0; i < v->n_trace; i++) {
        if (v->trace[i].check != c)
            continue;
        if (!v->trace[i].passed)
            return false;
        seen = true;
    }
    return seen;
}

static void load_rims(veil_nvgpu_rim *drv, veil_nvgpu_rim *vb, int64_t at, veil_verdict *v)
{
    blob d = load(H100 "driver_rim.swidtag"), b = load(H100 "vbios_rim.swidtag");
    veil_nvgpu_trust t = {at, NULL, NULL, 0};
    veil_nvgpu_rim_init(drv);
    veil_nvgpu_rim_init(vb);
    tu_ok(veil_nvgpu_rim_verify(d.p, d.n, "driver RIM", &t, drv, v));
    tu_ok(veil_nvgpu_rim_verify(b.p, b.n, "VBIOS RIM", &t, vb, v));
    unload(&d);
    unload(&b);
}

static void assert_hex(const uint8_t *p, size_t n, const char *want)
{
    veil_buf w;
    tu_hex(&w, want);
    tu_assert_bytes(p, n, w.data, w.len);
    veil_buf_free(&w);
}

/* ---- the real 2023 H100 evidence ---------------------------------------------------------- */

static json_t *expected_fields(void)
{
    blob j = load(H100 "expected_fields.json");
    json_t *root = json_loadb((const char *)j.p, j.n, 0, NULL);
    unload(&j);
    assert_non_null(root);
    return root;
}

static const char *jstr(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static unsigned jhexint(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(json_object_get(o, a), b);
    if (json_is_integer(v))
        return (unsigned)json_integer_value(v);
    assert_true(json_is_string(v));
    return (unsigned)strtoul(json_string_value(v), NULL, 16);
}

static void check_opaque_tlv(const veil_nvgpu_report *r, uint16_t type, const char *hex)
{
    size_t len = 0;
    const uint8_t *p = veil_nvgpu_report_tlv(r, type, &len);
    assert_non_null(p);
    assert_hex(p, len, hex);
}

static void test_real_fields(void **state)
{
    (void)state;
    json_t *ex = expected_fields();
    veil_buf report = load_report();
    veil_nvgpu_report *r = veil_calloc(1, sizeof *r);
    assert_non_null(r);
    uint8_t digest[32];
    tu_ok(veil_digest(VEIL_DIGEST_SHA256, report.data, report.len, digest, 32));
    assert_hex(digest, 32, jstr(ex, "sha256", NULL));
    assert_int_equal(report.len, json_integer_value(json_object_get(ex, "length")));
    tu_ok(veil_nvgpu_report_decode(report.data, report.len, r));

    /* request */
    assert_int_equal(r->req_version, jhexint(ex, "request", "spdm_version"));
    assert_int_equal(r->req_code, jhexint(ex, "request", "code"));
    assert_int_equal(r->req_param1, jhexint(ex, "request", "param1"));
    assert_int_equal(r->req_param2, jhexint(ex, "request", "param2"));
    assert_int_equal(r->req_slot, jhexint(ex, "request", "slot"));
    assert_hex(r->nonce, 32, jstr(ex, "request", "nonce"));
    /* response */
    assert_int_equal(r->version, jhexint(ex, "response", "spdm_version"));
    assert_int_equal(r->code, jhexint(ex, "response", "code"));
    assert_int_equal(r->param1, jhexint(ex, "response", "param1"));
    assert_int_equal(r->param2, jhexint(ex, "response", "param2"));
    assert_int_equal(r->n_blocks, jhexint(ex, "response", "number_of_blocks"));
    assert_int_equal(r->record_len, jhexint(ex, "response", "measurement_record_length"));
    assert_hex(r->response_nonce, 32, jstr(ex, "response", "response_nonce"));
    assert_hex(r->signature, 96, jstr(ex, "response", "signature_hex"));
    assert_int_equal(r->signed_len, report.len - 96);

    /* every measurement block */
    json_t *blocks = json_object_get(ex, "measurements_by_block_index");
    assert_int_equal(json_object_size(blocks), 64);
    const char *key;
    json_t *val;
    json_object_foreach (blocks, key, val) {
        const veil_nvgpu_block *b = veil_nvgpu_report_block(r, (unsigned)atoi(key));
        assert_non_null(b);
        assert_int_equal(b->spec, 1);
        assert_int_equal(b->value_type, 1);
        assert_int_equal(b->value_size, 48);
        assert_hex(b->value, b->value_size, json_string_value(val));
    }

    /* every opaque field */
    json_t *op = json_object_get(ex, "opaque");
    const veil_nvgpu_opaque *o = &r->opaque;
    assert_true(o->has_vbios_version);
    assert_hex(o->vbios_raw, 8, jstr(op, "VBIOS_VERSION", NULL));
    assert_string_equal(o->vbios_version, "96.00.5e.00.01");
    check_opaque_tlv(r, VEIL_NVGPU_OPAQUE_BOARD_ID, jstr(op, "BOARD_ID", NULL));
    assert_string_equal(o->chip_sku, jstr(op, "CHIP_SKU", NULL));
    assert_string_equal(o->chip_sku_mod, jstr(op, "CHIP_SKU_MOD", NULL));
    assert_string_equal(o->project, jstr(op, "PROJECT", NULL));
    assert_string_equal(o->project_sku, jstr(op, "PROJECT_SKU", NULL));
    assert_string_equal(o->project_sku_mod, jstr(op, "PROJECT_SKU_MOD", NULL));
    assert_true(o->has_driver_version);
    assert_string_equal(o->driver_version, jstr(op, "DRIVER_VERSION", NULL));
    check_opaque_tlv(r, VEIL_NVGPU_OPAQUE_GPU_INFO, jstr(op, "GPU_INFO", NULL));
    check_opaque_tlv(r, VEIL_NVGPU_OPAQUE_CPRINFO, jstr(op, "CPRINFO", NULL));
    json_t *counts = json_object_get(op, "MSRSCNT");
    assert_int_equal(o->n_msrscnt, json_array_size(counts));
    for (size_t i = 0; i < o->n_msrscnt; i++)
        assert_int_equal(o->msrscnt[i], json_integer_value(json_array_get(counts, i)));
    assert_true(o->has_nvdec0_status);
    assert_int_equal(o->nvdec0_status, strtoul(jstr(op, "NVDEC0_STATUS", NULL), NULL, 16));
    assert_int_equal(o->nvdec0_status, VEIL_NVGPU_NVDEC_DISABLED);
    assert_false(o->has_fwid); /* "report has no FWID opaque field" */
    assert_int_equal(o->n_tlvs, 12);

    /* the certificate chain subjects, by CN */
    blob chain = load(H100 "gpu_cert_chain.pem");
    veil_x509 *certs[5];
    size_t n = 0;
    tu_ok(veil_x509_parse_all(chain.p, chain.n, certs, 5, &n));
    json_t *subjects = json_object_get(ex, "cert_chain_subjects");
    assert_int_equal(n, json_array_size(subjects));
    for (size_t i = 0; i < n; i++) {
        char cn[80], want[96];
        veil_x509_subject_cn(certs[i], cn, sizeof cn);
        snprintf(want, sizeof want, "CN=%s", cn);
        assert_non_null(strstr(json_string_value(json_array_get(subjects, i)), want));
        veil_x509_free(certs[i]);
    }
    unload(&chain);
    veil_free(r);
    veil_buf_free(&report);
    json_decref(ex);
}

/* VALID at 2024-06-01 with the nvtrust nonce: every check, the RIMs, every
 * golden measurement, and the EAR claims. */
static void test_real_valid(void **state)
{
    (void)state;
    json_t *ex = expected_fields();
    veil_buf report = load_report();
    blob chain = load(H100 "gpu_cert_chain.pem");
    uint8_t nonce[32];
    veil_verdict v;
    veil_nvgpu_decoded *d = new_decoded();
    veil_nvgpu_rim drv, vb;
    veil_nvgpu_policy p;
    veil_nvgpu_appraisal a;
    nonce_2023(nonce);

    veil_verdict_init(&v);
    tu_ok(veil_nvgpu_verify(report.data, report.len, chain.p, chain.n, nonce, &trust_2024, d, &v));
    load_rims(&drv, &vb, T_2024_06_01, &v);
    veil_nvgpu_policy_default(&p);
    veil_nvgpu_appraise(d, &drv, &vb, &p, &v, &a);
    bool ok = veil_verdict_finish(&v);
    show(&v);
    assert_true(ok);
    assert_int_equal(v.failed, VEIL_CHECK_NONE);
    assert_false(v.simulated);
    assert_false(d->simulated);
    /* expected_fields: signature_valid_with_leaf_cert, cert_chain_to_NVIDIA_Device_Identity_CA */
    assert_true(json_is_true(json_object_get(ex, "signature_valid_with_leaf_cert")));
    assert_true(passed(&v, VEIL_CHECK_SIGNATURE));
    assert_true(json_is_true(json_object_get(ex, "cert_chain_to_NVIDIA_Device_Identity_CA")));
    assert_true(passed(&v, VEIL_CHECK_CHAIN));
    assert_string_equal(d->root_cn, "NVIDIA Device Identity CA");
    assert_string_equal(d->leaf_cn, "GH100 A01 GSP FMC LF");
    assert_true(passed(&v, VEIL_CHECK_FWID));
    assert_true(d->have_cert_fwid);
    assert_hex(d->cert_fwid, 48, jstr(ex, "leaf_cert_fwid_ext_last48", NULL));
    assert_hex(d->ueid, d->ueid_len, "50948c723fc935c7bd14b7c22833dfbe1dfd1145");
    assert_true(passed(&v, VEIL_CHECK_NONCE));
    assert_true(passed(&v, VEIL_CHECK_RIM));
    assert_true(passed(&v, VEIL_CHECK_GPU_MEASUREMENT));

    /* the RIMs' identities */
    json_t *rims = json_object_get(ex, "rims");
    const veil_nvgpu_rim *both[2] = {&drv, &vb};
    const char *names[2] = {"driver", "vbios"};
    for (int i = 0; i < 2; i++) {
        json_t *r = json_object_get(rims, names[i]);
        assert_true(both[i]->verified);
        assert_false(both[i]->simulated);
        assert_string_equal(both[i]->tag_id, jstr(r, "tagId", NULL));
        assert_string_equal(both[i]->name, jstr(r, "name", NULL));
        assert_string_equal(both[i]->colloquial_version, jstr(r, "colloquialVersion", NULL));
        assert_string_equal(both[i]->version, jstr(r, "version", NULL));
        assert_string_equal(both[i]->signer_cn, "HCC RIM L4 Signer");
    }
    /* driver 7, 21..40 (21 active); VBIOS 0..6, 8..12 (12); index 35 skipped */
    assert_int_equal(a.golden, 32);
    assert_int_equal(a.matched, 32);
    assert_int_equal(a.skipped, 1);
    assert_int_equal(a.n_mismatched,
                     json_array_size(json_object_get(ex, "rim_mismatched_indexes_0based")));

    /* the attestation result */
    veil_ear ear;
    tu_ok(veil_nvgpu_result(d, &v, &a, &drv, &vb, &p, 0, &ear));
    assert_string_equal(ear.submod, "gpu0");
    assert_int_equal(ear.status, VEIL_EAR_AFFIRMING);
    assert_string_equal(ear.failed_check, "");
    assert_false(ear.simulated);
    json_t *claims = json_loads(ear.claims_json, 0, NULL);
    assert_non_null(claims);
    assert_string_equal(jstr(claims, "driver_version", NULL), "545.00");
    assert_string_equal(jstr(claims, "vbios_version", NULL), "96.00.5e.00.01");
    assert_string_equal(jstr(claims, "nonce", NULL), NONCE_2023);
    assert_string_equal(jstr(claims, "ueid", NULL), "50948c723fc935c7bd14b7c22833dfbe1dfd1145");
    assert_string_equal(jstr(claims, "fwid", NULL), jstr(ex, "leaf_cert_fwid_ext_last48", NULL));
    assert_string_equal(jstr(claims, "cc_mode", NULL), "unknown");
    assert_string_equal(jstr(claims, "rims", "driver"), drv.tag_id);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(claims, "measurements"), "matched")),
        32);
    json_decref(claims);
    veil_ear_free(&ear);

    veil_nvgpu_rim_free(&drv);
    veil_nvgpu_rim_free(&vb);
    veil_free(d);
    unload(&chain);
    veil_buf_free(&report);
    json_decref(ex);
}

static void test_real_wrong_nonce(void **state)
{
    (void)state;
    veil_buf report = load_report();
    blob chain = load(H100 "gpu_cert_chain.pem");
    uint8_t nonce[32];
    veil_verdict v;
    veil_nvgpu_decoded *d = new_decoded();
    nonce_2023(nonce);
    nonce[31] ^= 1;
    assert_int_equal(verify_real(&report, &chain, nonce, d, &v), VEIL_CHECK_NONCE);
    assert_true(passed(&v, VEIL_CHECK_SIGNATURE));
    veil_free(d);
    unload(&chain);
    veil_buf_free(&report);
}

/* A measurement byte changed in the evidence: the signature breaks. */
static void test_real_measurement_byte(void **state)
{
    (void)state;
    veil_buf report = load_report();
    blob chain = load(H100 "gpu_cert_chain.pem");
    uint8_t nonce[32];
    veil_verdict v;
    veil_nvgpu_decoded *d = new_decoded();
    nonce_2023(nonce);
    /* block 2's value starts at 37 (request) + 8 (header) + 55 (block 1) + 7 */
    report.data[37 + 8 + 55 + 7] ^= 0x01;
    assert_int_equal(verify_real(&report, &chain, nonce, d, &v), VEIL_CHECK_SIGNATURE);
    veil_free(d);
    unload(&chain);
    veil_buf_free(&report);
}

/* A decoded (authentic) report whose measurement differs from the RIMs:
 * the appraisal names GPU_MEASUREMENT and the index. */
static void test_appraise_measurement_changed(void **state)
{
    (void)state;
    veil_buf report = load_report();
    blob chain = load(H100 "gpu_cert_chain.pem");
    uint8_t nonce[32];
    veil_verdict v;
    veil_nvgpu_decoded *d = new_decoded();
    veil_nvgpu_rim drv, vb;
    veil_nvgpu_policy p;
    veil_nvgpu_appraisal a;
    nonce_2023(nonce);
    veil_verdict_init(&v);
    tu_ok(veil_nvgpu_verify(report.data, report.len, chain.p, chain.n, nonce, &trust_2024, d, &v));
    load_rims(&drv, &vb, T_2024_06_01, &v);
    /* block 8 = RIM index 7 (driver) */
    veil_nvgpu_block *b = (veil_nvgpu_block *)veil_nvgpu_report_block(&d->report, 8);
    assert_non_null(b);
    b->value[0] ^= 0x80;
    veil_nvgpu_policy_default(&p);
    veil_nvgpu_appraise(d, &drv, &vb, &p, &v, &a);
    assert_false(veil_verdict_finish(&v));
    assert_int_equal(v.failed, VEIL_CHECK_GPU_MEASUREMENT);
    assert_int_equal(a.n_mismatched, 1);
    assert_int_equal(a.mismatched[0], 7);
    assert_int_equal(a.matched, 31);

    /* the same with index 35 changed is not seen (NVDEC0 disabled) */
    b->value[0] ^= 0x80;
    b = (veil_nvgpu_block *)veil_nvgpu_report_block(&d->report, 36);
    b->value[5] ^= 1;
    veil_verdict_init(&v);
    veil_nvgpu_appraise(d, &drv, &vb, &p, &v, &a);
    assert_true(veil_verdict_finish(&v));
    assert_int_equal(a.skipped, 1);

    /* the EAR of a failed appraisal is contraindicated and names the check */
    b->value[5] ^= 1;
    veil_nvgpu_block *b8 = (veil_nvgpu_block *)veil_nvgpu_report_block(&d->report, 8);
    b8->value[1] ^= 1;
    veil_verdict_init(&v);
    veil_nvgpu_appraise(d, &drv, &vb, &p, &v, &a);
    veil_verdict_finish(&v);
    veil_ear ear;
    tu_ok(veil_nvgpu_result(d, &v, &a, &drv, &vb, &p, 3, &ear));
    assert_string_equal(ear.submod, "gpu3");
    assert_int_equal(ear.status, VEIL_EAR_CONTRAINDICATED);
    assert_string_equal(ear.failed_check, "gpu_measurement");
    assert_int_equal(ear.tv.executables, 96);
    veil_ear_free(&ear);

    veil_nvgpu_rim_free(&drv);
    veil_nvgpu_rim_free(&vb);
    veil_free(d);
    unload(&chain);
    veil_buf_free(&report);
}

/* Policy values and versions: a pinned index and the versions. */
static void test_appraise_policy_values(void **state)
{
    (void)state;
    veil_buf report = load_report();
    blob chain = load(H100 "gpu_cert_chain.pem");
    uint8_t nonce[32];
    veil_verdict v;
    veil_nvgpu_decoded *d = new_decoded();
    veil_nvgpu_policy p;
    veil_nvgpu_appraisal a;
    nonce_2023(nonce);
    veil_verdict_init(&v);
    tu_ok(veil_nvgpu_verify(report.data, report.len, chain.p, chain.n, nonce, &trust_2024, d, &v));
    static const char good[] =
        "{\"require_rims\":false,\"driver_version\":\"545.00\",\"vbios_version\":\"96.00.5E.00."
        "01\","
        "\"measurements\":{\"1\":\"0b42836f56a7162e63cb7a9f3ee56b038325a9121442fa2ef34182f462816801"
        "448fa8f6798d13144a1b38be97181058\",\"7\":["
        "\"00000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000\",\"0e0ee161b59bf124ce6b6dca6efa7616d280"
        "77862c0e57dca7d5efd63d00eeed4851922941e846a38c464cbedbc168d9\"]}}";
    tu_ok(veil_nvgpu_policy_parse(good, sizeof good - 1, &p));
    veil_nvgpu_appraise(d, NULL, NULL, &p, &v, &a);
    bool ok = veil_verdict_finish(&v);
    show(&v);
    assert_true(ok);
    assert_int_equal(a.golden, 2);
    assert_int_equal(a.matched, 2);
    assert_true(passed(&v, VEIL_CHECK_GPU_VERSION));

    /* another driver version pinned */
    static const char other[] = "{\"require_rims\":false,\"driver_version\":\"550.54.15\"}";
    tu_ok(veil_nvgpu_policy_parse(other, sizeof other - 1, &p));
    veil_verdict_init(&v);
    veil_nvgpu_appraise(d, NULL, NULL, &p, &v, &a);
    veil_verdict_finish(&v);
    assert_int_equal(v.failed, VEIL_CHECK_GPU_VERSION);

    /* RIMs required by default but not given */
    veil_nvgpu_policy_default(&p);
    veil_verdict_init(&v);
    veil_nvgpu_appraise(d, NULL, NULL, &p, &v, &a);
    veil_verdict_finish(&v);
    assert_int_equal(v.failed, VEIL_CHECK_RIM);

    /* CC state: off fails; devtools only when allowed; unknown only when required */
    static const char cc[] = "{\"require_rims\":false,\"require_cc_mode\":true}";
    tu_ok(veil_nvgpu_policy_parse(cc, sizeof cc - 1, &p));
    veil_nvgpu_cc_mode modes[] = {VEIL_NVGPU_CC_UNKNOWN, VEIL_NVGPU_CC_OFF, VEIL_NVGPU_CC_DEVTOOLS,
                                  VEIL_NVGPU_CC_ON};
    veil_check want[] = {VEIL_CHECK_GPU_CC_MODE, VEIL_CHECK_GPU_CC_MODE, VEIL_CHECK_GPU_CC_MODE,
                         VEIL_CHECK_NONE};
    for (size_t i = 0; i < 4; i++) {
        d->cc_mode = modes[i];
        veil_verdict_init(&v);
        veil_nvgpu_appraise(d, NULL, NULL, &p, &v, &a);
        veil_verdict_finish(&v);
        assert_int_equal(v.failed, want[i]);
    }
    veil_free(d);
    unload(&chain);
    veil_buf_free(&report);
}

/* ---- RIMs ------------------------------------------------------------------------------------ */

static veil_check rim_outcome(const uint8_t *xml, size_t n, int64_t at, veil_nvgpu_rim *out)
{
    veil_verdict v;
    veil_nvgpu_trust t = {at, NULL, NULL, 0};
    veil_verdict_init(&v);
    tu_ok(veil_nvgpu_rim_verify(xml, n, "driver RIM", &t, out, &v));
    veil_verdict_finish(&v);
    if (v.failed != VEIL_CHECK_NONE)
        print_message("  verdict: %s\n", v.reason);
    return v.failed;
}

static void replace_once(blob *b, const char *from, const char *to)
{
    size_t fl = strlen(from);
    assert_int_equal(fl, strlen(to));
    char *at = strstr((char *)b->p, from);
    assert_non_null(at);
    memcpy(at, to, fl);
}

static void test_rim_mutations(void **state)
{
    (void)state;
    veil_nvgpu_rim rim;
    veil_nvgpu_rim_init(&rim);
    blob d = load(H100 "driver_rim.swidtag");
    assert_int_equal(rim_outcome(d.p, d.n, T_2024_06_01, &rim), VEIL_CHECK_NONE);
    assert_int_equal(rim.n_entries, 64);
    /* at the current date the L4 signer certificate has expired */
    assert_int_equal(rim_outcome(d.p, d.n, T_2026_07_01, &rim), VEIL_CHECK_RIM);
    assert_false(rim.verified);
    unload(&d);

    /* one hex digit of a golden measurement */
    d = load(H100 "driver_rim.swidtag");
    replace_once(&d, "Hash0=\"0e0ee161", "Hash0=\"0e0ee162");
    assert_int_equal(rim_outcome(d.p, d.n, T_2024_06_01, &rim), VEIL_CHECK_RIM);
    assert_false(rim.verified);
    assert_int_equal(rim.n_entries, 64); /* parsed, but not verified */
    unload(&d);

    /* the version it claims */
    d = load(H100 "driver_rim.swidtag");
    replace_once(&d, "colloquialVersion=\"545.00\"", "colloquialVersion=\"545.01\"");
    assert_int_equal(rim_outcome(d.p, d.n, T_2024_06_01, &rim), VEIL_CHECK_RIM);
    unload(&d);

    /* a byte of the signature value */
    d = load(H100 "driver_rim.swidtag");
    char *sv = strstr((char *)d.p, "<ds:SignatureValue>");
    assert_non_null(sv);
    sv += strlen("<ds:SignatureValue>") + 10;
    *sv = *sv == 'A' ? 'B' : 'A';
    assert_int_equal(rim_outcome(d.p, d.n, T_2024_06_01, &rim), VEIL_CHECK_RIM);
    unload(&d);

    /* an active flag turned off (nothing else changed) */
    d = load(H100 "driver_rim.swidtag");
    replace_once(&d, "index=\"7\" active=\"True\"", "index=\"7\" active=\"Fals\"");
    assert_int_equal(rim_outcome(d.p, d.n, T_2024_06_01, &rim), VEIL_CHECK_RIM);
    unload(&d);

    /* the appraisal refuses an unverified RIM */
    veil_nvgpu_rim vb;
    veil_verdict v;
    veil_verdict_init(&v);
    load_rims(&rim, &vb, T_2026_07_01, &v);
    assert_false(rim.verified);
    veil_nvgpu_rim_free(&rim);
    veil_nvgpu_rim_free(&vb);
}

static void test_rim_parser_rejects(void **state)
{
    (void)state;
    veil_nvgpu_rim rim;
    veil_nvgpu_rim_init(&rim);
    static const char *const bad[] = {
        "",
        "<SoftwareIdentity",
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]>"
        "<SoftwareIdentity xmlns=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\" "
        "tagId=\"&b;\"/>",
        "<!DOCTYPE x SYSTEM \"http://example.com/x.dtd\"><x/>",
        "<SoftwareIdentity tagId=\"t\"/>",
        "<SoftwareIdentity xmlns=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\" "
        "tagId=\"t\"><Payload/></SoftwareIdentity>",
        "<SoftwareIdentity xmlns=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\" "
        "tagId=\"t\"><Meta colloquialVersion=\"1\"/><Payload><Resource type=\"Measurement\" "
        "index=\"1\" active=\"True\" alternatives=\"1\" size=\"48\"/></Payload>"
        "</SoftwareIdentity>",
        "<SoftwareIdentity xmlns=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\" "
        "xmlns:h=\"http://www.w3.org/2001/04/xmlenc#sha384\" tagId=\"t\"><Meta "
        "colloquialVersion=\"1\"/><Payload><Resource type=\"Measurement\" index=\"99999\" "
        "active=\"True\" alternatives=\"1\" size=\"48\" h:Hash0=\"00\"/></Payload>"
        "</SoftwareIdentity>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        veil_result r = veil_nvgpu_rim_parse((const uint8_t *)bad[i], strlen(bad[i]), &rim);
        if (veil_ok(r))
            fail_msg("RIM %zu parsed", i);
        assert_int_equal(r.cls, VEIL_E_PROTOCOL);
        assert_int_equal(rim.n_entries, 0);
        /* a DOCTYPE is refused as such, before any declaration in it is read */
        if (strstr(bad[i], "<!DOCTYPE"))
            assert_non_null(strstr(r.msg, "DOCTYPE"));
    }
    static const char good[] =
        "<SoftwareIdentity xmlns=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\" "
        "xmlns:h=\"http://www.w3.org/2001/04/xmlenc#sha384\" tagId=\"t\" name=\"GH100\"><Meta "
        "colloquialVersion=\"1.2\"/><Payload><Resource type=\"Measurement\" index=\"3\" "
        "active=\"True\" alternatives=\"2\" size=\"48\" h:Hash0=\""
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000\" h:Hash1=\""
        "010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101"
        "010101\"/></Payload></SoftwareIdentity>";
    tu_ok(veil_nvgpu_rim_parse((const uint8_t *)good, sizeof good - 1, &rim));
    assert_int_equal(rim.n_entries, 1);
    assert_int_equal(rim.entries[0].index, 3);
    assert_int_equal(rim.entries[0].n_alts, 2);
    assert_int_equal(rim.entries[0].alts[1][47], 1);
    assert_false(rim.verified);
    /* an unsigned RIM fails verification */
    assert_int_equal(rim_outcome((const uint8_t *)good, sizeof good - 1, T_2024_06_01, &rim),
                     VEIL_CHECK_RIM);
    veil_nvgpu_rim_free(&rim);
}

/* Several threads verify RIMs at once (xmlsec initialised once). */
static void *rim_thread(void *arg)
{
    blob *d = arg;
    for (int i = 0; i < 3; i++) {
        veil_nvgpu_rim rim;
        veil_verdict v;
        veil_nvgpu_trust t = {T_2024_06_01, NULL, NULL, 0};
        veil_nvgpu_rim_init(&rim);
        veil_verdict_init(&v);
        if (!veil_ok(veil_nvgpu_rim_verify(d->p, d->n, "driver RIM", &t, &rim, &v)) ||
            !veil_verdict_finish(&v))
            return (void *)1;
        veil_nvgpu_rim_free(&rim);
    }
    return NULL;
}

static void test_rim_threads(void **state)
{
    (void)state;
    blob d = load(H100 "driver_rim.swidtag");
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, rim_thread, &d), 0);
    for (int i = 0; i < 4; i++) {
        void *rv = (void *)1;
        pthread_join(th[i], &rv);
        assert_null(rv);
    }
    unload(&d);
}

/* ---- certificate chains ------------------------------------------------------------------- */

static veil_check chain_outcome(const char *rel, veil_nvgpu_decoded *d)
{
    blob c = load(rel);
    veil_verdict v;
    veil_verdict_init(&v);
    tu_ok(veil_nvgpu_verify_chain(c.p, c.n, &trust_2024, d, &v));
    veil_verdict_finish(&v);
    if (v.failed != VEIL_CHECK_NONE)
        print_message("  %s: %s\n", rel, v.reason);
    unload(&c);
    return v.failed;
}

static void test_chain_shapes(void **state)
{
    (void)state;
    veil_nvgpu_decoded *d = new_decoded();
    assert_int_equal(chain_outcome(SHAPES "chain_case1.pem", d), VEIL_CHECK_NONE);
    assert_true(d->have_cert_fwid);
    assert_hex(d->cert_fwid, 48, FWID_CASE1);
    /* only the root CA */
    assert_int_equal(chain_outcome(SHAPES "chain_case2.pem", d), VEIL_CHECK_CHAIN);
    /* Provisioner ICA 1 missing */
    assert_int_equal(chain_outcome(SHAPES "chain_case3.pem", d), VEIL_CHECK_CHAIN);
    /* the leaf missing: BROM first chains, but it is no attestation certificate */
    assert_int_equal(chain_outcome(SHAPES "chain_case4.pem", d), VEIL_CHECK_FWID);
    assert_false(d->have_cert_fwid);
    /* the leaf alone: no intermediates, but its FWID reads */
    assert_int_equal(chain_outcome(SHAPES "signing_cert.pem", d), VEIL_CHECK_CHAIN);
    assert_true(d->have_cert_fwid);
    assert_hex(d->cert_fwid, 48, FWID_CASE1);
    /* the 2023 chain */
    assert_int_equal(chain_outcome(H100 "gpu_cert_chain.pem", d), VEIL_CHECK_NONE);
    veil_free(d);
}

/* Another GPU's chain with the 2023 report: the chain is fine, the signature is not. */
static void test_foreign_device_cert(void **state)
{
    (void)state;
    veil_buf report = load_report();
    blob chain = load(SHAPES "chain_case1.pem");
    uint8_t nonce[32];
    veil_verdict v;
    veil_nvgpu_decoded *d = new_decoded();
    nonce_2023(nonce);
    assert_int_equal(verify_real(&report, &chain, nonce, d, &v), VEIL_CHECK_SIGNATURE);
    assert_true(passed(&v, VEIL_CHECK_CHAIN));
    unload(&chain);
    /* a chain that does not reach the root at all */
    chain = load(SHAPES "chain_case3.pem");
    assert_int_equal(verify_real(&report, &chain, nonce, d, &v), VEIL_CHECK_CHAIN);
    unload(&chain);
    /* no chain */
    blob none = {NULL, 0};
    assert_int_equal(verify_real(&report, &none, nonce, d, &v), VEIL_CHECK_CHAIN);
    veil_free(d);
    veil_buf_free(&report);
}

/* ---- the decoder ---------------------------------------------------------------------------- */

static veil_result decode_mutant(const veil_buf *report, size_t off, uint8_t val, size_t len)
{
    static veil_nvgpu_report r;
    uint8_t *copy = veil_calloc(report->len + 1, 1);
    assert_non_null(copy);
    memcpy(copy, report->data, report->len);
    if (off < report->len)
        copy[off] = val;
    veil_result res = veil_nvgpu_report_decode(copy, len, &r);
    veil_free(copy);
    return res;
}

static void test_decoder_rejects(void **state)
{
    (void)state;
    veil_buf report = load_report();
    size_t n = report.len;
    const size_t opaque_len_at = 37 + 8 + 3520 + 32;
    struct {
        size_t off;
        uint8_t val;
        size_t len;
    } cases[] = {
        {n, 0, n - 1},                  /* truncated signature */
        {n, 0, n + 1},                  /* a trailing byte */
        {n, 0, 100},                    /* far too short */
        {0, 0x12, n},                   /* request version */
        {1, 0xE1, n},                   /* request code */
        {2, 0x00, n},                   /* no signature requested */
        {3, 0x01, n},                   /* not all measurements */
        {37, 0x10, n},                  /* response version */
        {38, 0x61, n},                  /* response code */
        {41, 0x00, n},                  /* zero blocks */
        {41, 0x41, n},                  /* one block more than recorded */
        {42, 0xC1, n},                  /* record length */
        {45, 0x00, n},                  /* block index 0 */
        {45 + 55, 0x01, n},             /* block index repeated */
        {46, 0x02, n},                  /* not DMTF */
        {47, 0x34, n},                  /* MeasurementSize != 3 + ValueSize */
        {opaque_len_at, 0x63, n},       /* OpaqueLength one too long */
        {opaque_len_at + 2 + 2, 9, n},  /* VBIOS_VERSION of 9 bytes */
        {opaque_len_at + 2 + 12, 6, n}, /* BOARD_ID retyped as a second VBIOS_VERSION */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        veil_result r = decode_mutant(&report, cases[i].off, cases[i].val, cases[i].len);
        if (veil_ok(r))
            fail_msg("mutant %zu decoded", i);
        assert_int_equal(r.cls, VEIL_E_PROTOCOL);
        assert_non_null(strstr(r.msg, "nvgpu report"));
    }
    /* the untouched report decodes */
    tu_ok(decode_mutant(&report, n, 0, n));
    /* FORMAT is what the verifier reports */
    blob chain = load(H100 "gpu_cert_chain.pem");
    uint8_t nonce[32];
    veil_verdict v;
    veil_nvgpu_decoded *d = new_decoded();
    nonce_2023(nonce);
    report.data[0] = 0x12;
    assert_int_equal(verify_real(&report, &chain, nonce, d, &v), VEIL_CHECK_FORMAT);
    assert_false(d->have_report);
    veil_free(d);
    unload(&chain);
    veil_buf_free(&report);
}

/* ---- the simulated GPU ---------------------------------------------------------------------- */

typedef struct sim_fixture {
    char dir[64];
    veil_gpu_sim g;
} sim_fixture;

static void rm_tree(const char *dir)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Verify simulated evidence, with or without its root; the verdict is left
 * open (for an appraisal) unless `finish`. */
static veil_check verify_sim_x(const veil_gpu_sim *g, const veil_buf *ev, const uint8_t nonce[32],
                               bool trust_root, veil_nvgpu_decoded *d, veil_verdict *v, bool finish)
{
    const uint8_t *roots[1] = {g->root_der.data};
    size_t lens[1] = {g->root_der.len};
    veil_nvgpu_trust t = {0, roots, lens, trust_root ? 1u : 0u};
    veil_verdict_init(v);
    tu_ok(
        veil_nvgpu_verify(ev->data, ev->len, g->chain_pem.data, g->chain_pem.len, nonce, &t, d, v));
    if (!finish)
        return VEIL_CHECK_UNCHECKED;
    veil_verdict_finish(v);
    if (v->failed != VEIL_CHECK_NONE)
        print_message("  verdict: %s\n", v->reason);
    return v->failed;
}

static veil_check verify_sim(const veil_gpu_sim *g, const veil_buf *ev, const uint8_t nonce[32],
                             bool trust_root, veil_nvgpu_decoded *d, veil_verdict *v)
{
    return verify_sim_x(g, ev, nonce, trust_root, d, v, true);
}

static void test_sim_gpu(void **state)
{
    (void)state;
    sim_fixture f;
    bool created = false;
    snprintf(f.dir, sizeof f.dir, "/tmp/veil-gpu-sim-XXXXXX");
    assert_non_null(mkdtemp(f.dir));
    veil_gpu_sim_init(&f.g);
    tu_ok(veil_gpu_sim_open(f.dir, &created, &f.g));
    assert_true(created);
    uint8_t first_root[32];
    memcpy(first_root, f.g.root_sha256, 32);
    /* a second open loads the same device */
    tu_ok(veil_gpu_sim_open(f.dir, &created, &f.g));
    assert_false(created);
    tu_assert_bytes(f.g.root_sha256, 32, first_root, 32);

    uint8_t nonce[32];
    for (int i = 0; i < 32; i++)
        nonce[i] = (uint8_t)(0xA0 + i);
    veil_buf ev;
    veil_buf_init(&ev, 0);
    tu_ok(veil_gpu_sim_evidence(&f.g, nonce, &ev));
    veil_nvgpu_decoded *d = new_decoded();
    veil_verdict v;

    /* the exact H100 layout */
    assert_int_equal(d->have_report, false);
    veil_nvgpu_report *r = veil_calloc(1, sizeof *r);
    assert_non_null(r);
    tu_ok(veil_nvgpu_report_decode(ev.data, ev.len, r));
    assert_int_equal(r->n_blocks, 64);
    assert_int_equal(r->record_len, 3520);
    assert_string_equal(r->opaque.driver_version, VEIL_GPU_SIM_DRIVER_VERSION);
    assert_string_equal(r->opaque.vbios_version, VEIL_GPU_SIM_VBIOS_VERSION);
    assert_true(r->opaque.has_fwid);
    tu_assert_bytes(r->opaque.fwid, 48, f.g.fwid, 48);
    veil_free(r);

    /* refused without its root, accepted (and marked simulated) with it */
    assert_int_equal(verify_sim(&f.g, &ev, nonce, false, d, &v), VEIL_CHECK_CHAIN);
    assert_false(v.simulated);
    assert_int_equal(verify_sim(&f.g, &ev, nonce, true, d, &v), VEIL_CHECK_NONE);
    show(&v);
    assert_true(v.simulated);
    assert_true(d->simulated);
    assert_true(passed(&v, VEIL_CHECK_FWID));
    assert_non_null(strstr(d->root_cn, "SIMULATED NVIDIA Device Identity CA"));
    assert_int_equal(d->ueid_len, 20);

    /* appraisal: the simulated measurements as policy values, the root trusted */
    char fp[65], m_hex[97], policy[1024];
    uint8_t m[48];
    veil_hex_encode(f.g.root_sha256, 32, fp);
    tu_ok(veil_gpu_sim_measurement(3, m)); /* block 3 = RIM index 2 */
    veil_hex_encode(m, 48, m_hex);
    int pn = snprintf(policy, sizeof policy,
                      "{\"require_rims\":false,\"trusted_simulated_roots\":[\"%s\"],"
                      "\"measurements\":{\"2\":\"%s\"},\"driver_version\":\"%s\"}",
                      fp, m_hex, VEIL_GPU_SIM_DRIVER_VERSION);
    veil_nvgpu_policy p;
    veil_nvgpu_appraisal a;
    tu_ok(veil_nvgpu_policy_parse(policy, (size_t)pn, &p));
    verify_sim_x(&f.g, &ev, nonce, true, d, &v, false);
    veil_nvgpu_appraise(d, NULL, NULL, &p, &v, &a);
    assert_true(veil_verdict_finish(&v));
    assert_int_equal(a.matched, 1);
    veil_ear ear;
    tu_ok(veil_nvgpu_result(d, &v, &a, NULL, NULL, &p, 0, &ear));
    assert_true(ear.simulated);
    assert_int_equal(ear.status, VEIL_EAR_WARNING); /* simulated hardware */
    veil_ear_free(&ear);

    /* ... and SIMULATED fails when the policy does not name the root */
    static const char plain[] = "{\"require_rims\":false}";
    tu_ok(veil_nvgpu_policy_parse(plain, sizeof plain - 1, &p));
    verify_sim_x(&f.g, &ev, nonce, true, d, &v, false);
    veil_nvgpu_appraise(d, NULL, NULL, &p, &v, &a);
    veil_verdict_finish(&v);
    assert_int_equal(v.failed, VEIL_CHECK_SIMULATED);

    /* the wrong nonce; the FWID field changed (caught before the signature) */
    nonce[0] ^= 1;
    assert_int_equal(verify_sim(&f.g, &ev, nonce, true, d, &v), VEIL_CHECK_NONCE);
    nonce[0] ^= 1;
    size_t fwid_len = 0;
    veil_nvgpu_report *r2 = veil_calloc(1, sizeof *r2);
    assert_non_null(r2);
    tu_ok(veil_nvgpu_report_decode(ev.data, ev.len, r2));
    const uint8_t *fw = veil_nvgpu_report_tlv(r2, VEIL_NVGPU_OPAQUE_FWID, &fwid_len);
    assert_int_equal(fwid_len, 48);
    ev.data[fw - r2->raw] ^= 0x01;
    veil_free(r2);
    assert_int_equal(verify_sim(&f.g, &ev, nonce, true, d, &v), VEIL_CHECK_FWID);

    veil_free(d);
    veil_buf_free(&ev);
    veil_gpu_sim_free(&f.g);
    rm_tree(f.dir);
}

/* ---- policy and attester ----------------------------------------------------------------------
 */

static void test_policy_parse(void **state)
{
    (void)state;
    veil_nvgpu_policy p;
    static const char *const bad[] = {
        "",
        "[]",
        "{\"unknown\":1}",
        "{\"require_rims\":1}",
        "{\"measurements\":{\"x\":\"00\"}}",
        "{\"measurements\":{\"1\":\"00\"}}",
        "{\"measurements\":{\"70000\":[]}}",
        "{\"measurements\":{\"1\":[]}}",
        "{\"driver_version\":\"\"}",
        "{\"trusted_simulated_roots\":[\"abcd\"]}",
        "{\"verification_time\":\"yesterday\"}",
        "{\"require_rims\":true,\"require_rims\":false}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        veil_result r = veil_nvgpu_policy_parse(bad[i], strlen(bad[i]), &p);
        if (veil_ok(r))
            fail_msg("policy %zu parsed", i);
        assert_int_equal(r.cls, VEIL_E_PROTOCOL);
        assert_string_equal(p.id, "default");
    }
    static const char good[] = "{\"verification_time\":\"2024-06-01T00:00:00Z\",\"require_rims\":"
                               "false,\"allow_devtools\":true,\"comment\":\"x\"}";
    tu_ok(veil_nvgpu_policy_parse(good, sizeof good - 1, &p));
    assert_int_equal(p.verification_time, T_2024_06_01);
    assert_false(p.require_rims);
    assert_true(p.allow_devtools);
    assert_memory_equal(p.id, "sha256:", 7);
}

static void test_attester_without_driver(void **state)
{
    (void)state;
    uint8_t nonce[32] = {1};
    veil_nvgpu_evidence *ev = veil_calloc(2, sizeof *ev);
    size_t n = 99;
    assert_non_null(ev);
    veil_result r = veil_nvgpu_attester_collect(nonce, ev, 2, &n);
    if (veil_ok(r)) {
        /* a machine with a GPU: whatever it returned must decode */
        print_message("  NVML present: %zu GPU(s)\n", n);
        veil_nvgpu_report *rep = veil_calloc(1, sizeof *rep);
        assert_non_null(rep);
        tu_ok(veil_nvgpu_report_decode(ev[0].report, ev[0].report_len, rep));
        veil_free(rep);
    } else {
        print_message("  %s\n", r.msg);
        assert_int_equal(n, 0);
        assert_true(r.cls == VEIL_E_UNSUPPORTED || r.cls == VEIL_E_INTERNAL);
        if (r.cls == VEIL_E_UNSUPPORTED && strstr(r.msg, "not found"))
            assert_string_equal(r.msg,
                                "libnvidia-ml.so.1 not found: no NVIDIA driver on this machine");
    }
    veil_free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_fields),
        cmocka_unit_test(test_real_valid),
        cmocka_unit_test(test_real_wrong_nonce),
        cmocka_unit_test(test_real_measurement_byte),
        cmocka_unit_test(test_appraise_measurement_changed),
        cmocka_unit_test(test_appraise_policy_values),
        cmocka_unit_test(test_rim_mutations),
        cmocka_unit_test(test_rim_parser_rejects),
        cmocka_unit_test(test_rim_threads),
        cmocka_unit_test(test_chain_shapes),
        cmocka_unit_test(test_foreign_device_cert),
        cmocka_unit_test(test_decoder_rejects),
        cmocka_unit_test(test_sim_gpu),
        cmocka_unit_test(test_policy_parse),
        cmocka_unit_test(test_attester_without_driver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
