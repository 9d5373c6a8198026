/* The AMD KDS client (src/attest/snp_kds.c) and the KMS's hardware-identity
 * step, against a loopback stand-in for AMD's KDS that serves the real
 * certificates of ../shared/testdata:
 *   - the dstack Milan v3 report (snp-milan-v3-dstack: report.bin, whose
 *     VCEK is vcek.pem, REPORTED_TCB bl=4 tee=0 snp=23 ucode=213), and
 *   - the Milan ASK/ARK bundle (amd-kds-roots/cert_chain_vcek_milan.pem).
 * The stand-in answers only the exact URL AMD's scheme gives for that chip
 * and TCB, and 404 for the CRL (no real AMD CRL is in the test data).
 * Checked: the URL scheme (go-sev-guest's documented URL for its report),
 * fetch on a miss, a cache hit with the server stopped, a wrong chain served
 * (refused by the "chain" check, nothing cached), the server down with no
 * cache (a refusal that says what to do), a required CRL that cannot be had,
 * and through the KMS release: "chain" without the KDS, "report_data" (every
 * hardware check passed) with it, "kds" when it is down. */
#define _GNU_SOURCE /* mkdtemp */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "veil/appraise.h"
#include "veil/base64.h"
#include "veil/evidence.h"
#include "veil/hex.h"
#include "veil/http.h"
#include "veil/kds.h"
#include "veil/kms.h"
#include "veil/mem.h"

#define DSTACK "attestation/snp-milan-v3-dstack/"
#define ROOTS "attestation/amd-kds-roots/"
#define DSTACK_CHIP                                                                                \
    "38d174589d2dff97a6d40cb9f9d90b9507c027491219083cef3ce73ed18f7289142d941ad61eabecd27d25f268c1" \
    "095d665f6001358e98a4769c82734a6bb877"
#define DSTACK_MEASUREMENT                                                                         \
    "7f51e17f72a04d5422cb2c00998166536019a217376f3aa45a630e59c805a599847ff250dbffcd07e1ba639771d6" \
    "f0"                                                                                           \
    "5d"

typedef struct fake_kds {
    veil_http_server *srv;
    bool wrong_chain; /* serve the Genoa bundle for Milan */
    int n_vcek, n_chain, n_crl;
    veil_buf vcek_der;
    char *chain, *wrong;
    size_t chain_len, wrong_len;
    char base[64];
} fake_kds;

static fake_kds g_kds;
static char g_tmp[256];
static int g_seq;

/* PEM -> DER: the body between the markers, base64. */
static void pem_to_der(const char *pem, veil_buf *out)
{
    const char *b = strstr(pem, "-----\n"), *e = strstr(pem, "\n-----END");
    assert_non_null(b);
    assert_non_null(e);
    b += 6;
    char *clean = veil_calloc((size_t)(e - b) + 1, 1);
    size_t n = 0;
    for (const char *p = b; p < e; p++)
        if (*p != '\n' && *p != '\r')
            clean[n++] = *p;
    veil_buf_init(out, 0);
    tu_ok(veil_base64_decode(clean, n, out));
    veil_free(clean);
}

static void kds_handler(void *ctx, veil_http_request *req, veil_http_response *resp)
{
    fake_kds *k = ctx;
    const char *path = veil_http_req_path(req);
    if (!strcmp(path, "/vcek/v1/Milan/" DSTACK_CHIP) &&
        !strcmp(veil_http_req_query(req), "blSPL=4&teeSPL=0&snpSPL=23&ucodeSPL=213")) {
        k->n_vcek++;
        veil_http_resp_set(resp, 200, "application/pkix-cert", k->vcek_der.data, k->vcek_der.len);
    } else if (!strcmp(path, "/vcek/v1/Milan/cert_chain")) {
        k->n_chain++;
        veil_http_resp_set(resp, 200, "application/x-pem-file",
                           k->wrong_chain ? k->wrong : k->chain,
                           k->wrong_chain ? k->wrong_len : k->chain_len);
    } else {
        if (!strcmp(path, "/vcek/v1/Milan/crl"))
            k->n_crl++;
        veil_http_problem(resp, 404, NULL, NULL, "not here");
    }
}

static void kds_start(void)
{
    veil_http_server_config c = {.handler = kds_handler, .ctx = &g_kds, .stop_grace_ms = 500};
    tu_ok(veil_http_server_start(&c, &g_kds.srv));
    snprintf(g_kds.base, sizeof g_kds.base, "http://127.0.0.1:%u",
             veil_http_server_port(g_kds.srv));
}

static void kds_stop(void)
{
    veil_http_server_stop(g_kds.srv);
    g_kds.srv = NULL;
}

static void new_cache(char *out, size_t cap) { snprintf(out, cap, "%s/cache-%d", g_tmp, ++g_seq); }

/* The dstack report as a bundle without any certificate. */
static void bare_evidence(veil_evidence *ev)
{
    size_t n = 0;
    char *rep = tu_read_testdata(DSTACK "report.bin", &n);
    veil_evidence_init(ev);
    snprintf(ev->tee, sizeof ev->tee, "sev-snp");
    tu_ok(veil_buf_append(&ev->report, rep, n));
    tu_free(rep);
}

static bool check_passed(const veil_verdict *v, veil_check c)
{
    for (size_t i = 0; i < v->n_trace; i++)
        if (v->trace[i].check == c)
            return v->trace[i].passed;
    return false;
}

static void verify(const veil_evidence *ev, veil_verification *ver)
{
    veil_snp_policy p;
    veil_snp_policy_default(&p);
    memset(ver, 0, sizeof *ver);
    tu_ok(veil_verify_evidence(ev, &p, 0, ver));
}

static bool file_exists(const char *dir, const char *name)
{
    char path[600];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* ---- tests ------------------------------------------------------------------------------- */

/* go-sev-guest maps its real report to exactly this URL (PROVENANCE.md). */
static void test_url_scheme(void **state)
{
    (void)state;
    veil_buf chip;
    char url[VEIL_KDS_URL_MAX];
    tu_hex(&chip, "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2"
                  "b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d");
    tu_ok(veil_kds_vcek_url("https://kdsintf.amd.com/", VEIL_SNP_MILAN, chip.data,
                            0x4405000000000002ull, url, sizeof url));
    assert_string_equal(url,
                        "https://kdsintf.amd.com/vcek/v1/Milan/"
                        "3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e"
                        "359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d"
                        "?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68");
    /* Turin: 8-byte hwID, fmcSPL first; layout fmc|bl|tee|snp|-|-|-|ucode */
    veil_snp_tcb t = {.fmc = 1, .bootloader = 2, .tee = 3, .snp = 4, .microcode = 5, .has_fmc = 1};
    tu_ok(veil_kds_vcek_url("http://m", VEIL_SNP_TURIN, chip.data,
                            veil_snp_tcb_encode(&t, VEIL_SNP_TURIN), url, sizeof url));
    assert_string_equal(url, "http://m/vcek/v1/Turin/3ac3fe21e13fb099"
                             "?fmcSPL=1&blSPL=2&teeSPL=3&snpSPL=4&ucodeSPL=5");
    assert_int_equal(
        veil_kds_vcek_url("http://m", VEIL_SNP_PRODUCT_UNKNOWN, chip.data, 0, url, sizeof url).cls,
        VEIL_E_USAGE);
    veil_buf_free(&chip);
}

static void test_fetch_then_cache(void **state)
{
    (void)state;
    char cache[300];
    veil_evidence ev;
    veil_kds_outcome o;
    veil_verification ver;
    new_cache(cache, sizeof cache);
    veil_kds_config cfg = {.base_url = g_kds.base, .cache_dir = cache, .crl_optional = true};
    g_kds.n_vcek = g_kds.n_chain = g_kds.n_crl = 0;

    /* without a VCEK the chain check fails */
    bare_evidence(&ev);
    verify(&ev, &ver);
    assert_int_equal(ver.verdict.failed, VEIL_CHECK_CHAIN);
    veil_verification_free(&ver);

    /* a miss: fetched, verified, cached */
    tu_ok(veil_kds_complete(&cfg, &ev, time(NULL), &o));
    assert_true(o.needed);
    assert_false(o.vcek_cached);
    assert_false(o.have_crl);
    assert_true(o.cached_now);
    assert_int_equal(o.product, VEIL_SNP_MILAN);
    assert_int_equal(g_kds.n_vcek, 1);
    assert_int_equal(g_kds.n_chain, 1);
    assert_int_equal(g_kds.n_crl, 1);
    verify(&ev, &ver);
    assert_true(check_passed(&ver.verdict, VEIL_CHECK_CHAIN));
    assert_true(check_passed(&ver.verdict, VEIL_CHECK_VCEK));
    assert_true(check_passed(&ver.verdict, VEIL_CHECK_SIGNATURE));
    veil_verification_free(&ver);
    veil_evidence_free(&ev);

    /* evidence that has its VCEK is left alone */
    bare_evidence(&ev);
    char *pem = tu_read_testdata(DSTACK "vcek.pem", NULL);
    veil_buf_free(&ev.vcek);
    pem_to_der(pem, &ev.vcek);
    tu_free(pem);
    tu_ok(veil_kds_complete(&cfg, &ev, time(NULL), &o));
    assert_false(o.needed);
    veil_evidence_free(&ev);

    /* a hit with the server stopped */
    kds_stop();
    bare_evidence(&ev);
    tu_ok(veil_kds_complete(&cfg, &ev, time(NULL), &o));
    assert_true(o.vcek_cached);
    assert_true(o.chain_cached);
    verify(&ev, &ver);
    assert_true(check_passed(&ver.verdict, VEIL_CHECK_CHAIN));
    assert_true(check_passed(&ver.verdict, VEIL_CHECK_SIGNATURE));
    veil_verification_free(&ver);
    veil_evidence_free(&ev);

    /* down, and another cache that holds nothing: a refusal saying what to do */
    new_cache(cache, sizeof cache);
    bare_evidence(&ev);
    veil_result r = veil_kds_complete(&cfg, &ev, time(NULL), &o);
    assert_false(veil_ok(r));
    assert_non_null(strstr(o.detail, "cannot get the VCEK"));
    assert_non_null(strstr(o.detail, "--kds-url"));
    assert_non_null(strstr(o.detail, "send its VCEK"));
    assert_int_equal(ev.vcek.len, 0);
    veil_evidence_free(&ev);
    kds_start();
}

static void test_wrong_chain_not_cached(void **state)
{
    (void)state;
    char cache[300], name[300];
    veil_evidence ev;
    veil_kds_outcome o;
    veil_verification ver;
    new_cache(cache, sizeof cache);
    veil_kds_config cfg = {.base_url = g_kds.base, .cache_dir = cache, .crl_optional = true};
    g_kds.wrong_chain = true;
    bare_evidence(&ev);
    tu_ok(veil_kds_complete(&cfg, &ev, time(NULL), &o));
    assert_false(o.cached_now);
    verify(&ev, &ver);
    assert_int_equal(ver.verdict.failed, VEIL_CHECK_CHAIN);
    veil_verification_free(&ver);
    veil_evidence_free(&ev);
    snprintf(name, sizeof name, "Milan/vcek-%s-d517000000000004.der", DSTACK_CHIP);
    assert_false(file_exists(cache, name));
    assert_false(file_exists(cache, "Milan/cert_chain.pem"));

    /* once the KDS serves the right chain, the same cache fills */
    g_kds.wrong_chain = false;
    bare_evidence(&ev);
    tu_ok(veil_kds_complete(&cfg, &ev, time(NULL), &o));
    assert_true(o.cached_now);
    assert_true(file_exists(cache, name));
    assert_true(file_exists(cache, "Milan/cert_chain.pem"));
    veil_evidence_free(&ev);
}

static void test_crl_required(void **state)
{
    (void)state;
    char cache[300];
    veil_evidence ev;
    veil_kds_outcome o;
    new_cache(cache, sizeof cache);
    veil_kds_config cfg = {.base_url = g_kds.base, .cache_dir = cache};
    bare_evidence(&ev);
    assert_false(veil_ok(veil_kds_complete(&cfg, &ev, time(NULL), &o)));
    assert_non_null(strstr(o.detail, "no current CRL for Milan"));
    assert_non_null(strstr(o.detail, "--kds-crl-optional"));
    veil_evidence_free(&ev);
}

/* ---- through the KMS release ---------------------------------------------------------------- */

static const char *k_policy = "{\"claim\":\"sev-snp.veil.claims.debug\",\"equals\":false}";

static veil_kms *kms_for_dstack(void)
{
    char dir[300], token[VEIL_KMS_ADMIN_TOKEN_LEN + 1], ref[256];
    veil_kms_root_config root;
    veil_kms_problem pb;
    veil_kms *k = NULL;
    snprintf(dir, sizeof dir, "%s/kms", g_tmp);
    veil_kms_root_config_default(&root);
    root.kind = VEIL_KMS_ROOT_FILE;
    snprintf(root.key_file, sizeof root.key_file, "%s/root.key", g_tmp);
    tu_ok(veil_kms_init(dir, &root, token));
    tu_ok(veil_kms_open(dir, NULL, &k));
    const char *spec = "{\"type\":\"ohttp\"}";
    tu_ok(veil_kms_key_create(k, "gw", spec, strlen(spec), &pb));
    snprintf(ref, sizeof ref, "{\"measurements\":[\"%s\"],\"allow_smt\":true}", DSTACK_MEASUREMENT);
    tu_ok(veil_kms_set_refvalues(k, ref, strlen(ref), &pb));
    tu_ok(veil_kms_set_policy(k, "gw", k_policy, strlen(k_policy), &pb));
    return k;
}

static void release_dstack(veil_kms *k, veil_kms_release_response *resp)
{
    uint8_t nonce[VEIL_KMS_NONCE_LEN], pk[32];
    size_t n = 0;
    int64_t exp = 0;
    veil_hpke_key *eph = NULL;
    veil_evidence ev;
    veil_buf json;
    veil_buf_init(&json, 0);
    tu_ok(veil_hpke_key_generate(VEIL_HPKE_KEM_X25519, &eph));
    tu_ok(veil_hpke_key_public(eph, pk, sizeof pk, &n));
    tu_ok(veil_kms_nonce(k, nonce, &exp));
    bare_evidence(&ev);
    tu_ok(veil_evidence_write(&ev, &json));
    veil_kms_release_request q = {"gw", json.data, json.len, nonce, sizeof nonce, pk, sizeof pk};
    tu_ok(veil_kms_release(k, &q, resp));
    assert_false(resp->released);
    assert_true(resp->recorded);
    veil_evidence_free(&ev);
    veil_buf_free(&json);
    veil_hpke_key_free(eph);
}

static void test_kms_release_uses_kds(void **state)
{
    (void)state;
    char cache[300];
    veil_kms_release_response resp;
    veil_kms *k = kms_for_dstack();
    new_cache(cache, sizeof cache);

    /* no KDS: the certificate is missing */
    release_dstack(k, &resp);
    assert_string_equal(resp.problem.check, "chain");
    veil_kms_release_response_free(&resp);

    /* KDS down, nothing cached: "kds", saying what to do */
    kds_stop();
    veil_kds_config cfg = {.base_url = g_kds.base, .cache_dir = cache, .crl_optional = true};
    tu_ok(veil_kms_set_kds(k, &cfg));
    release_dstack(k, &resp);
    assert_string_equal(resp.problem.check, "kds");
    assert_non_null(strstr(resp.problem.detail, "--kds-url"));
    veil_kms_release_response_free(&resp);
    kds_start();

    /* with the KDS every hardware check and the measurement pass; the real
     * report's REPORT_DATA cannot bind this release, so that is the refusal */
    cfg.base_url = g_kds.base;
    tu_ok(veil_kms_set_kds(k, &cfg));
    release_dstack(k, &resp);
    if (strcmp(resp.problem.check, "report_data") != 0)
        fail_msg("expected report_data, got %s: %s", resp.problem.check, resp.problem.detail);
    veil_kms_release_response_free(&resp);
    veil_kms_close(k);
}

static int setup(void **state)
{
    (void)state;
    size_t n = 0;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/veil-kds-test.XXXXXX");
    if (!mkdtemp(g_tmp))
        return -1;
    char *vcek = tu_read_testdata(DSTACK "vcek.pem", &n);
    pem_to_der(vcek, &g_kds.vcek_der);
    tu_free(vcek);
    g_kds.chain = tu_read_testdata(ROOTS "cert_chain_vcek_milan.pem", &g_kds.chain_len);
    g_kds.wrong = tu_read_testdata(ROOTS "cert_chain_vcek_genoa.pem", &g_kds.wrong_len);
    kds_start();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    kds_stop();
    veil_buf_free(&g_kds.vcek_der);
    tu_free(g_kds.chain);
    tu_free(g_kds.wrong);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_scheme),
        cmocka_unit_test(test_fetch_then_cache),
        cmocka_unit_test(test_wrong_chain_not_cached),
        cmocka_unit_test(test_crl_required),
        cmocka_unit_test(test_kms_release_uses_kds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
