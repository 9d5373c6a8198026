/* Composite attestation (veil/composite.h): the binding derivations, the
 * bundle's "gpus" and "tdx" members, and veil_verify_composite over a
 * simulated SEV-SNP guest with two simulated GPUs (accepted; a dropped,
 * replayed, swapped or reordered GPU entry rejected), CPU-only SNP and TDX
 * bundles through the same entry point, the composite policy and the
 * multi-submodule EAR. */
#define _GNU_SOURCE /* mkdtemp */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/digest.h"
#include "sim/gpu_sim.h"
#include "sim/sim.h"
#include "veil/composite.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/tdx.h"

#define AT_TDX 1772323200 /* 2026-03-01T00:00:00Z */

static char g_tmp[128];
static veil_sim_state g_snp;
static veil_sim_guest g_guest;
static veil_gpu_sim g_gpu;
static char g_policy[4096];
static size_t g_policy_len;

static void rm_tree(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

static int group_setup(void **st)
{
    (void)st;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/veil-composite-test-XXXXXX");
    if (!mkdtemp(g_tmp))
        return -1;
    char dir[256];
    bool created = false;
    snprintf(dir, sizeof dir, "%s/state", g_tmp);
    veil_sim_state_init(&g_snp);
    veil_gpu_sim_init(&g_gpu);
    if (!veil_ok(veil_sim_state_create(dir, &created, &g_snp)) ||
        !veil_ok(veil_sim_guest_init(&g_guest)) ||
        !veil_ok(veil_gpu_sim_open(dir, &created, &g_gpu)))
        return -1;
    char ark[65], gpu_root[65], m[97];
    uint8_t m3[48];
    veil_hex_encode(g_snp.ark_sha256, 32, ark);
    veil_hex_encode(g_gpu.root_sha256, 32, gpu_root);
    if (!veil_ok(veil_gpu_sim_measurement(3, m3)))
        return -1;
    veil_hex_encode(m3, 48, m);
    int n = snprintf(g_policy, sizeof g_policy,
                     "{\"cpu\":{\"trusted_simulated_roots\":[\"%s\"]},"
                     "\"gpu\":{\"require_rims\":false,\"require_cc_mode\":true,"
                     "\"trusted_simulated_roots\":[\"%s\"],\"measurements\":{\"2\":\"%s\"}},"
                     "\"comment\":\"CPU affirming and every GPU in CC mode\"}",
                     ark, gpu_root, m);
    g_policy_len = (size_t)n;
    return 0;
}

static int group_teardown(void **st)
{
    (void)st;
    veil_sim_state_free(&g_snp);
    veil_gpu_sim_free(&g_gpu);
    rm_tree(g_tmp);
    return 0;
}

static void base_for(uint8_t tag, uint8_t base[64])
{
    uint8_t n[32];
    memset(n, tag, sizeof n);
    tu_ok(veil_composite_base_from_nonce(n, sizeof n, base));
}

/* GPU i's evidence for base B, appended as entry `slot`. */
static void add_gpu(veil_evidence *ev, const uint8_t base[64], unsigned i)
{
    uint8_t nonce[32];
    tu_ok(veil_composite_gpu_nonce(base, i, nonce));
    veil_evidence_gpu *g = &ev->gpus[ev->n_gpus++];
    veil_buf_clear(&g->report);
    veil_buf_clear(&g->certs);
    tu_ok(veil_gpu_sim_evidence(&g_gpu, nonce, &g->report));
    tu_ok(veil_buf_append(&g->certs, g_gpu.chain_pem.data, g_gpu.chain_pem.len));
    snprintf(g->cc_mode, sizeof g->cc_mode, "on");
}

/* (Re)sign the CPU report over the bundle's current GPU entries. */
static void sign_cpu(veil_evidence *ev, const uint8_t base[64])
{
    uint8_t rd[64], report[VEIL_SNP_REPORT_SIZE];
    tu_ok(veil_composite_report_data_ev(base, ev, rd));
    tu_ok(veil_sim_report(&g_snp, &g_guest, rd, 0, report));
    veil_buf_clear(&ev->report);
    tu_ok(veil_buf_append(&ev->report, report, sizeof report));
    if (ev->cert_table.len == 0)
        tu_ok(veil_sim_cert_table(&g_snp, &ev->cert_table));
}

static void bundle(veil_evidence *ev, const uint8_t base[64], size_t n_gpus)
{
    veil_evidence_init(ev);
    snprintf(ev->tee, sizeof ev->tee, "sev-snp");
    snprintf(ev->attester, sizeof ev->attester, "sim");
    for (unsigned i = 0; i < n_gpus; i++)
        add_gpu(ev, base, i);
    sign_cpu(ev, base);
}

static veil_composite_result *verify(const veil_evidence *ev, const char *policy, size_t n,
                                     const uint8_t *base)
{
    veil_composite_result *r = veil_calloc(1, sizeof *r);
    assert_non_null(r);
    tu_ok(veil_verify_composite(ev, policy, n, base, 0, r));
    if (!veil_verdict_accepted(&r->verdict))
        print_message("  rejected: %s\n", r->verdict.reason);
    return r;
}

static void done(veil_composite_result *r)
{
    veil_composite_result_free(r);
    veil_free(r);
}

static void swap_gpus(veil_evidence *ev, size_t a, size_t b)
{
    veil_evidence_gpu t = ev->gpus[a];
    ev->gpus[a] = ev->gpus[b];
    ev->gpus[b] = t;
}

/* ---- binding -------------------------------------------------------------------------------- */

static void test_binding_layout(void **st)
{
    (void)st;
    uint8_t n[32], base[64], want[64], msg[200];
    memset(n, 0x11, sizeof n);
    tu_ok(veil_composite_base_from_nonce(n, sizeof n, base));
    memcpy(msg, "veil-verify-v1", 14);
    memcpy(msg + 14, n, 32);
    tu_ok(veil_sha512(msg, 46, want));
    tu_assert_bytes(base, 64, want, 64);

    uint8_t nonce[32], full[32];
    tu_ok(veil_composite_gpu_nonce(base, 5, nonce));
    memcpy(msg, "veil-gpu-nonce-v1", 17);
    memcpy(msg + 17, base, 64);
    msg[81] = 5;
    tu_ok(veil_sha256(msg, 82, full));
    tu_assert_bytes(nonce, 32, full, 32);

    const uint8_t r0[] = {1, 2, 3}, r1[] = {4, 5};
    const uint8_t *reps[2] = {r0, r1};
    size_t lens[2] = {3, 2};
    uint8_t rd[64];
    tu_ok(veil_composite_report_data(base, reps, lens, 2, rd));
    memcpy(msg, "veil-composite-v1", 17);
    memcpy(msg + 17, base, 64);
    msg[81] = 2;
    tu_ok(veil_sha256(r0, 3, msg + 82));
    tu_ok(veil_sha256(r1, 2, msg + 114));
    tu_ok(veil_sha512(msg, 146, want));
    tu_assert_bytes(rd, 64, want, 64);
    tu_ok(veil_composite_report_data(base, reps, lens, 0, rd));
    tu_assert_bytes(rd, 64, base, 64);

    assert_int_equal(veil_composite_gpu_nonce(base, 16, nonce).cls, VEIL_E_USAGE);
    assert_int_equal(veil_composite_base_from_nonce(n, 8, base).cls, VEIL_E_USAGE);
}

/* ---- bundles -------------------------------------------------------------------------------- */

static void test_bundle_round_trip(void **st)
{
    (void)st;
    uint8_t base[64];
    base_for(1, base);
    veil_evidence ev, back;
    bundle(&ev, base, 2);
    veil_buf json;
    veil_buf_init(&json, VEIL_EVIDENCE_MAX_JSON);
    tu_ok(veil_evidence_write(&ev, &json));
    tu_ok(veil_evidence_parse(json.data, json.len, &back));
    assert_int_equal(back.n_gpus, 2);
    for (size_t i = 0; i < 2; i++) {
        tu_assert_bytes(back.gpus[i].report.data, back.gpus[i].report.len, ev.gpus[i].report.data,
                        ev.gpus[i].report.len);
        tu_assert_bytes(back.gpus[i].certs.data, back.gpus[i].certs.len, ev.gpus[i].certs.data,
                        ev.gpus[i].certs.len);
        assert_string_equal(back.gpus[i].cc_mode, "on");
    }
    veil_evidence_free(&back);
    veil_buf_free(&json);
    veil_evidence_free(&ev);

    static const char *const bad[] = {
        "{\"version\":1,\"tee\":\"sev-snp\",\"report\":\"AAAA\",\"gpus\":[]}",
        "{\"version\":1,\"tee\":\"sev-snp\",\"report\":\"AAAA\",\"gpus\":[{\"report\":\"AAAA\"}]}",
        "{\"version\":1,\"tee\":\"sev-snp\",\"report\":\"AAAA\",\"gpus\":[{\"report\":\"AAAA\","
        "\"certs\":\"AAAA\",\"cc_mode\":\"maybe\"}]}",
        "{\"version\":1,\"tee\":\"tdx\"}",
        "{\"version\":1,\"tee\":\"tdx\",\"quote\":\"AAAA\",\"report\":\"AAAA\"}",
        "{\"version\":1,\"tee\":\"sev-snp\",\"report\":\"AAAA\",\"quote\":\"AAAA\"}",
        "{\"version\":1,\"tee\":\"sgx\",\"quote\":\"AAAA\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        veil_result r = veil_evidence_parse((const uint8_t *)bad[i], strlen(bad[i]), &back);
        assert_false(veil_ok(r));
        veil_evidence_free(&back);
    }
    /* 17 GPU entries are refused */
    char big[4096];
    size_t off = (size_t)snprintf(
        big, sizeof big, "{\"version\":1,\"tee\":\"sev-snp\",\"report\":\"AAAA\",\"gpus\":[");
    for (int i = 0; i < 17; i++)
        off += (size_t)snprintf(big + off, sizeof big - off,
                                "%s{\"report\":\"AA==\",\"certs\":\"AA==\"}", i ? "," : "");
    off += (size_t)snprintf(big + off, sizeof big - off, "]}");
    assert_false(veil_ok(veil_evidence_parse((const uint8_t *)big, off, &back)));
    veil_evidence_free(&back);
}

/* ---- composite verification ------------------------------------------------------------------ */

static void test_composite_accepted(void **st)
{
    (void)st;
    uint8_t base[64];
    base_for(1, base);
    veil_evidence ev;
    bundle(&ev, base, 2);
    veil_composite_result *r = verify(&ev, g_policy, g_policy_len, base);
    assert_true(veil_verdict_accepted(&r->verdict));
    assert_int_equal(r->n_devices, 3);
    assert_string_equal(r->devices[0].name, "sev-snp");
    assert_string_equal(r->devices[1].name, "gpu0");
    assert_string_equal(r->devices[2].name, "gpu1");
    assert_true(r->simulated);
    assert_int_equal(r->status, VEIL_EAR_WARNING); /* simulated hardware */
    bool prefixed = false;
    for (size_t i = 0; i < r->verdict.n_trace; i++)
        prefixed = prefixed || !strncmp(r->verdict.trace[i].detail, "gpu1: ", 6);
    assert_true(prefixed);

    /* one EAR, a submodule per device */
    veil_sign_key *key = NULL;
    tu_ok(veil_sign_key_generate(&key));
    veil_buf token;
    veil_buf_init(&token, 0);
    tu_ok(veil_composite_sign(r, key, &token));
    veil_ear back;
    memset(&back, 0, sizeof back);
    tu_ok(veil_ear_verify((const char *)token.data, token.len, key, 0, 0, &back));
    veil_ear_free(&back);
    char *payload = strchr((char *)token.data, '.');
    assert_non_null(payload);
    veil_buf_free(&token);
    veil_sign_key_free(key);
    done(r);

    /* the GPU count the policy requires */
    char pol[4200];
    int n = snprintf(pol, sizeof pol, "%.*s,\"gpus\":3}", (int)g_policy_len - 1, g_policy);
    r = verify(&ev, pol, (size_t)n, base);
    assert_int_equal(r->verdict.failed, VEIL_CHECK_FORMAT);
    done(r);
    n = snprintf(pol, sizeof pol, "%.*s,\"gpus\":2}", (int)g_policy_len - 1, g_policy);
    r = verify(&ev, pol, (size_t)n, base);
    assert_true(veil_verdict_accepted(&r->verdict));
    done(r);

    /* no base: the GPUs cannot be fresh */
    r = verify(&ev, g_policy, g_policy_len, NULL);
    assert_int_equal(r->verdict.failed, VEIL_CHECK_NONCE);
    done(r);
    veil_evidence_free(&ev);
}

static void test_composite_dropped(void **st)
{
    (void)st;
    uint8_t base[64];
    base_for(1, base);
    veil_evidence ev;
    bundle(&ev, base, 2);
    ev.n_gpus = 1; /* the second GPU's entry dropped */
    veil_composite_result *r = verify(&ev, g_policy, g_policy_len, base);
    assert_int_equal(r->verdict.failed, VEIL_CHECK_REPORT_DATA);
    done(r);
    ev.n_gpus = 2;
    veil_evidence_free(&ev);
}

static void test_composite_replayed(void **st)
{
    (void)st;
    uint8_t base[64], other[64];
    base_for(1, base);
    base_for(2, other);
    veil_evidence ev;
    bundle(&ev, base, 2);
    /* GPU 1's report made for another verifier nonce; the CPU report even binds it */
    ev.n_gpus = 1;
    add_gpu(&ev, other, 1);
    sign_cpu(&ev, base);
    veil_composite_result *r = verify(&ev, g_policy, g_policy_len, base);
    assert_int_equal(r->verdict.failed, VEIL_CHECK_NONCE);
    assert_non_null(strstr(r->verdict.reason, "gpu1: "));
    done(r);
    veil_evidence_free(&ev);
}

static void test_composite_swapped(void **st)
{
    (void)st;
    uint8_t base[64], other[64];
    base_for(1, base);
    base_for(2, other);
    veil_evidence ev, ev2;
    bundle(&ev, base, 2);
    bundle(&ev2, other, 2);
    /* GPU 0's entry taken from the other bundle */
    veil_buf_clear(&ev.gpus[0].report);
    tu_ok(veil_buf_append(&ev.gpus[0].report, ev2.gpus[0].report.data, ev2.gpus[0].report.len));
    veil_composite_result *r = verify(&ev, g_policy, g_policy_len, base);
    assert_true(r->verdict.failed == VEIL_CHECK_NONCE ||
                r->verdict.failed == VEIL_CHECK_REPORT_DATA);
    assert_false(veil_verdict_accepted(&r->verdict));
    done(r);
    /* the other bundle, whole, against our base */
    r = verify(&ev2, g_policy, g_policy_len, base);
    assert_int_equal(r->verdict.failed, VEIL_CHECK_REPORT_DATA);
    done(r);
    veil_evidence_free(&ev2);
    veil_evidence_free(&ev);
}

static void test_composite_reordered(void **st)
{
    (void)st;
    uint8_t base[64];
    base_for(1, base);
    veil_evidence ev;
    bundle(&ev, base, 2);
    swap_gpus(&ev, 0, 1);
    veil_composite_result *r = verify(&ev, g_policy, g_policy_len, base);
    assert_int_equal(r->verdict.failed, VEIL_CHECK_REPORT_DATA);
    assert_false(veil_verdict_accepted(&r->devices[1].verdict)); /* and each GPU's nonce */
    assert_int_equal(r->devices[1].verdict.failed, VEIL_CHECK_NONCE);
    done(r);
    /* ... even with the CPU report re-made over the new order */
    sign_cpu(&ev, base);
    r = verify(&ev, g_policy, g_policy_len, base);
    assert_int_equal(r->verdict.failed, VEIL_CHECK_NONCE);
    done(r);
    veil_evidence_free(&ev);
}

static void test_cc_mode_off(void **st)
{
    (void)st;
    uint8_t base[64];
    base_for(3, base);
    veil_evidence ev;
    bundle(&ev, base, 2);
    snprintf(ev.gpus[1].cc_mode, sizeof ev.gpus[1].cc_mode, "off");
    veil_composite_result *r = verify(&ev, g_policy, g_policy_len, base);
    assert_int_equal(r->verdict.failed, VEIL_CHECK_GPU_CC_MODE);
    done(r);
    veil_evidence_free(&ev);
}

static void test_snp_only(void **st)
{
    (void)st;
    uint8_t base[64];
    base_for(4, base);
    veil_evidence ev;
    bundle(&ev, base, 0);
    /* the composite policy and a plain SEV-SNP policy */
    veil_composite_result *r = verify(&ev, g_policy, g_policy_len, base);
    assert_true(veil_verdict_accepted(&r->verdict));
    assert_int_equal(r->n_devices, 1);
    done(r);
    char plain[200], ark[65], rd[129];
    veil_hex_encode(g_snp.ark_sha256, 32, ark);
    veil_hex_encode(base, 64, rd);
    int n = snprintf(plain, sizeof plain, "{\"trusted_simulated_roots\":[\"%s\"]}", ark);
    r = verify(&ev, plain, (size_t)n, base);
    assert_true(veil_verdict_accepted(&r->verdict));
    assert_string_equal(r->devices[0].name, "sev-snp");
    done(r);
    /* B from the policy's report_data */
    char withrd[400];
    n = snprintf(withrd, sizeof withrd,
                 "{\"trusted_simulated_roots\":[\"%s\"],\"report_data\":\"%s\"}", ark, rd);
    r = verify(&ev, withrd, (size_t)n, NULL);
    assert_true(veil_verdict_accepted(&r->verdict));
    done(r);
    /* another base */
    uint8_t other[64];
    base_for(5, other);
    r = verify(&ev, plain, strlen(plain), other);
    assert_int_equal(r->verdict.failed, VEIL_CHECK_REPORT_DATA);
    done(r);
    /* bad policies are errors */
    static const char unknown[] = "{\"cpu\":{},\"gpuz\":{}}";
    veil_composite_result *e = veil_calloc(1, sizeof *e);
    assert_non_null(e);
    assert_int_equal(veil_verify_composite(&ev, unknown, sizeof unknown - 1, base, 0, e).cls,
                     VEIL_E_PROTOCOL);
    veil_composite_result_free(e);
    static const char badcount[] = "{\"gpus\":17}";
    assert_int_equal(veil_verify_composite(&ev, badcount, sizeof badcount - 1, base, 0, e).cls,
                     VEIL_E_PROTOCOL);
    veil_composite_result_free(e);
    veil_free(e);
    veil_evidence_free(&ev);
}

static void test_tdx_only(void **st)
{
    (void)st;
    size_t qn, cn;
    char *quote = tu_read_testdata("attestation/tdx-v5-go-tdx-guest/quote.bin", &qn);
    char *coll = tu_read_testdata("attestation/tdx-v5-go-tdx-guest/collateral.json", &cn);
    veil_evidence ev;
    veil_evidence_init(&ev);
    snprintf(ev.tee, sizeof ev.tee, "tdx");
    tu_ok(veil_buf_append(&ev.quote, quote, qn));
    tu_ok(veil_buf_append(&ev.collateral, coll, cn));
    /* the bundle carries it */
    veil_buf json;
    veil_buf_init(&json, VEIL_EVIDENCE_MAX_JSON);
    tu_ok(veil_evidence_write(&ev, &json));
    veil_evidence back;
    tu_ok(veil_evidence_parse(json.data, json.len, &back));
    assert_string_equal(back.tee, "tdx");
    tu_assert_bytes(back.quote.data, back.quote.len, (const uint8_t *)quote, qn);
    tu_assert_bytes(back.collateral.data, back.collateral.len, (const uint8_t *)coll, cn);

    veil_composite_result *r = veil_calloc(1, sizeof *r);
    assert_non_null(r);
    tu_ok(veil_verify_composite(&back, NULL, 0, NULL, AT_TDX, r));
    assert_int_equal(r->n_devices, 1);
    assert_string_equal(r->devices[0].name, "tdx");
    /* the same outcome as the TDX one-call verifier */
    veil_verdict v;
    veil_ear ear;
    tu_ok(veil_tdx_verify_files((const uint8_t *)quote, qn, (const uint8_t *)coll, cn, NULL, 0,
                                NULL, 0, AT_TDX, &v, &ear));
    assert_int_equal(r->verdict.failed, v.failed);
    assert_int_equal(r->verdict.n_trace, v.n_trace);
    assert_int_equal(r->status, ear.status);
    assert_true(veil_verdict_accepted(&r->verdict));
    veil_ear_free(&ear);
    done(r);

    /* a wrong REPORTDATA binding through a base */
    uint8_t base[64];
    base_for(6, base);
    r = veil_calloc(1, sizeof *r);
    assert_non_null(r);
    tu_ok(veil_verify_composite(&back, NULL, 0, base, AT_TDX, r));
    assert_int_equal(r->verdict.failed, VEIL_CHECK_REPORT_DATA);
    done(r);
    veil_evidence_free(&back);
    veil_buf_free(&json);
    veil_evidence_free(&ev);
    tu_free(quote);
    tu_free(coll);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binding_layout),
        cmocka_unit_test(test_bundle_round_trip),
        cmocka_unit_test(test_composite_accepted),
        cmocka_unit_test(test_composite_dropped),
        cmocka_unit_test(test_composite_replayed),
        cmocka_unit_test(test_composite_swapped),
        cmocka_unit_test(test_composite_reordered),
        cmocka_unit_test(test_cc_mode_off),
        cmocka_unit_test(test_snp_only),
        cmocka_unit_test(test_tdx_only),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
