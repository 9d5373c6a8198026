/* The KMS core (src/kms): root-key providers (SoftHSM2 through PKCS#11, key
 * file), release policies, the release protocol against evidence from the
 * simulated secure processor (src/sim, in-process), every refusal the bar
 * names (each recorded in the ledger), rotation with a 2-second interval,
 * key-id exhaustion and crash recovery of staged admin changes.
 *
 * SoftHSM2: a private token is set up in the test's temp directory with
 * scripts/softhsm-setup.sh. Where softhsm2 is not installed the PKCS#11
 * tests are skipped (saying so) and the release tests use the key-file root
 * instead; scripts/install-deps.sh installs it, so CI runs them all. */
#define _GNU_SOURCE /* mkdtemp, setenv */
#include "testutil.h"

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/json_util.h"
#include "kms/hsm.h"
#include "kms/kms_internal.h"
#include "sim/gpu_sim.h"
#include "sim/sim.h"
#include "veil/composite.h"
#include "veil/appraise.h"
#include "veil/evidence.h"
#include "veil/hex.h"
#include "veil/http.h"
#include "veil/base64.h"
#include "veil/kms.h"
#include "veil/ledger.h"
#include "veil/mem.h"
#include "veil/release_policy.h"

static char g_tmp[256];
static bool g_have_hsm;
static veil_sim_state g_sim, g_other_sim; /* the trusted chip, and an untrusted one */
static int g_state_seq;

/* ---- helpers -------------------------------------------------------------------- */

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            rm_rf(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void write_file(const char *path, const void *p, size_t n, mode_t mode)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void hsm_config(veil_kms_root_config *c)
{
    veil_kms_root_config_default(c);
    c->kind = VEIL_KMS_ROOT_PKCS11;
    snprintf(c->pin_file, sizeof c->pin_file, "%s/hsm/pin", g_tmp);
}

/* The root the release tests use: the HSM when present, else a key file. */
static void test_root(veil_kms_root_config *c)
{
    if (g_have_hsm) {
        hsm_config(c);
        return;
    }
    veil_kms_root_config_default(c);
    c->kind = VEIL_KMS_ROOT_FILE;
    snprintf(c->key_file, sizeof c->key_file, "%s/root-%d.key", g_tmp, g_state_seq);
}

static void new_state_dir(char *out, size_t cap)
{
    snprintf(out, cap, "%s/state-%d", g_tmp, ++g_state_seq);
}

static void guest_for(const char *image, bool debug, veil_sim_guest *g)
{
    tu_ok(veil_sim_guest_init(g));
    veil_sim_image img = {"guest", (const uint8_t *)image, strlen(image)};
    tu_ok(veil_sim_measure(&img, 1, g->measurement));
    if (debug)
        g->policy |= VEIL_SNP_POLICY_DEBUG;
}

/* An evidence bundle as `veil attest` under `veil sim launch` would give. */
static void make_evidence(const veil_sim_state *st, const veil_sim_guest *g, const uint8_t rd[64],
                          veil_buf *json)
{
    uint8_t report[VEIL_SNP_REPORT_SIZE];
    veil_evidence ev;
    veil_evidence_init(&ev);
    snprintf(ev.tee, sizeof ev.tee, "sev-snp");
    snprintf(ev.attester, sizeof ev.attester, "sim");
    ev.claims_simulated = true;
    tu_ok(veil_sim_report(st, g, rd, 0, report));
    tu_ok(veil_buf_append(&ev.report, report, sizeof report));
    tu_ok(veil_sim_cert_table(st, &ev.cert_table));
    veil_buf_init(json, 0);
    tu_ok(veil_evidence_write(&ev, json));
    veil_evidence_free(&ev);
}

static const char *k_policy =
    "{\"allOf\":["
    "{\"claim\":\"sev-snp.ear.status\",\"in\":[\"affirming\",\"warning\"]},"
    "{\"claim\":\"sev-snp.veil.claims.debug\",\"equals\":false},"
    "{\"claim\":\"sev-snp.veil.claims.tcb.snp\",\"gte\":8}]}";

/* A KMS with one ohttp key, reference values admitting the "good" guest
 * (simulated root trusted) and the standard release policy. */
static veil_kms *kms_ready(const char *dir, const veil_sim_guest *good, const char *key_spec)
{
    veil_kms_root_config root;
    char token[VEIL_KMS_ADMIN_TOKEN_LEN + 1];
    veil_kms *k = NULL;
    veil_kms_problem pb;
    char mhex[97], ark[65], ref[512];
    test_root(&root);
    tu_ok(veil_kms_init(dir, &root, token));
    assert_int_equal(strlen(token), VEIL_KMS_ADMIN_TOKEN_LEN);
    tu_ok(veil_kms_open(dir, NULL, &k));
    assert_true(veil_kms_admin_ok(k, token, strlen(token)));
    token[20] ^= 1;
    assert_false(veil_kms_admin_ok(k, token, strlen(token)));
    assert_false(veil_kms_admin_ok(k, token, 10));
    tu_ok(veil_kms_key_create(k, "gw", key_spec, strlen(key_spec), &pb));
    veil_hex_encode(good->measurement, 48, mhex);
    veil_hex_encode(g_sim.ark_sha256, 32, ark);
    snprintf(ref, sizeof ref,
             "{\"measurements\":[\"%s\"],\"trusted_simulated_roots\":[\"%s\"],"
             "\"min_tcb\":{\"bootloader\":3,\"tee\":0,\"snp\":8,\"microcode\":115}}",
             mhex, ark);
    tu_ok(veil_kms_set_refvalues(k, ref, strlen(ref), &pb));
    tu_ok(veil_kms_set_policy(k, "gw", k_policy, strlen(k_policy), &pb));
    return k;
}

typedef struct tee {
    veil_hpke_key *eph;
    uint8_t pk[32];
    uint8_t nonce[32];
    uint8_t rd[64];
    veil_buf evidence;
} tee;

/* The TEE side of one release attempt, up to the evidence. */
static void tee_prepare(veil_kms *k, const veil_sim_state *st, const veil_sim_guest *g, tee *t)
{
    size_t n = 0;
    int64_t exp = 0;
    memset(t, 0, sizeof *t);
    tu_ok(veil_hpke_key_generate(VEIL_HPKE_KEM_X25519, &t->eph));
    tu_ok(veil_hpke_key_public(t->eph, t->pk, sizeof t->pk, &n));
    assert_int_equal(n, 32);
    tu_ok(veil_kms_nonce(k, t->nonce, &exp));
    assert_true(exp >= veil_kms_now(k) + 59);
    tu_ok(veil_release_report_data(t->nonce, t->pk, 32, t->rd));
    make_evidence(st, g, t->rd, &t->evidence);
}

static void tee_free(tee *t)
{
    veil_hpke_key_free(t->eph);
    veil_buf_free(&t->evidence);
}

static void release(veil_kms *k, const char *name, const tee *t, const uint8_t *pk,
                    veil_kms_release_response *resp)
{
    veil_kms_release_request req = {
        name, t->evidence.data, t->evidence.len, t->nonce, 32, pk ? pk : t->pk, 32};
    tu_ok(veil_kms_release(k, &req, resp));
}

/* The ledger entry of a release as a JSON object (caller decrefs). */
static json_t *ledger_entry(veil_kms *k, uint64_t index)
{
    veil_buf b;
    veil_buf_init(&b, 0);
    tu_ok(veil_ledger_entry(veil_kms_ledger(k), index, &b));
    json_t *j = json_loadb((const char *)b.data, b.len, 0, NULL);
    assert_non_null(j);
    veil_buf_free(&b);
    return j;
}

static void assert_refused(veil_kms *k, const veil_kms_release_response *resp, const char *check)
{
    if (resp->released || strcmp(resp->problem.check, check) != 0)
        fail_msg("expected a refusal naming \"%s\", got released=%d check=\"%s\" (%s)", check,
                 resp->released, resp->problem.check, resp->problem.detail);
    assert_int_equal(resp->sealed.len, 0);
    assert_true(resp->recorded);
    json_t *e = ledger_entry(k, resp->ledger_index);
    assert_string_equal(json_string_value(json_object_get(e, "type")), "release");
    assert_string_equal(json_string_value(json_object_get(e, "outcome")), "refused");
    assert_string_equal(json_string_value(json_object_get(e, "check")), check);
    assert_string_equal(json_string_value(json_object_get(e, "name")), "gw");
    json_decref(e);
}

/* ---- setup ------------------------------------------------------------------------ */

static int group_setup(void **st)
{
    (void)st;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/veil-kms-test-XXXXXX");
    if (!mkdtemp(g_tmp))
        return -1;
    char dir[512], cmd[1536], conf[600];
    bool created = false;
    veil_sim_state_init(&g_sim);
    veil_sim_state_init(&g_other_sim);
    snprintf(dir, sizeof dir, "%s/sim", g_tmp);
    if (!veil_ok(veil_sim_state_create(dir, &created, &g_sim)))
        return -1;
    snprintf(dir, sizeof dir, "%s/othersim", g_tmp);
    if (!veil_ok(veil_sim_state_create(dir, &created, &g_other_sim)))
        return -1;

    g_have_hsm = access(VEIL_KMS_DEFAULT_PKCS11_MODULE, R_OK) == 0 &&
                 system("command -v softhsm2-util >/dev/null 2>&1") == 0;
    if (!g_have_hsm) {
        fprintf(stderr, "kms_test: SoftHSM2 is not installed (apt-get install softhsm2, or "
                        "scripts/install-deps.sh): PKCS#11 tests are SKIPPED and the release "
                        "tests use a key-file root\n");
        return 0;
    }
    snprintf(cmd, sizeof cmd, "%s/scripts/softhsm-setup.sh %s/hsm >/dev/null 2>&1", VEIL_SOURCE_DIR,
             g_tmp);
    if (system(cmd) != 0) {
        fprintf(stderr, "kms_test: scripts/softhsm-setup.sh failed\n");
        return -1;
    }
    snprintf(conf, sizeof conf, "%s/hsm/softhsm2.conf", g_tmp);
    setenv("SOFTHSM2_CONF", conf, 1);
    return 0;
}

static int group_teardown(void **st)
{
    (void)st;
    veil_sim_state_free(&g_sim);
    veil_sim_state_free(&g_other_sim);
    rm_rf(g_tmp);
    return 0;
}

/* ---- root-key providers -------------------------------------------------------------- */

static void test_hsm_wrap_and_non_extractable(void **state)
{
    (void)state;
    if (!g_have_hsm) {
        fprintf(stderr, "kms_test: SKIP: SoftHSM2 not installed\n");
        skip();
    }
    veil_kms_root_config c;
    veil_kms_root *r = NULL, *r2 = NULL;
    veil_buf w, p;
    const uint8_t secret[] = "a stored private key, 32 bytes!";
    const uint8_t aad[] = "key gw id 7";
    bool readable = true, sensitive = false, extractable = true;
    char desc[256];
    veil_buf_init(&w, 0);
    veil_buf_init(&p, 0);
    hsm_config(&c);
    snprintf(c.key_label, sizeof c.key_label, "unit-test-root");

    /* the key must exist unless we ask to create it */
    assert_false(veil_ok(veil_kms_root_open(&c, false, &r)));
    tu_ok(veil_kms_root_open(&c, true, &r));
    veil_kms_root_describe(r, desc, sizeof desc);
    assert_non_null(strstr(desc, "pkcs11 token 'veil-kms'"));

    tu_ok(veil_kms_root_wrap(r, aad, sizeof aad, secret, sizeof secret, &w));
    assert_int_equal(w.len, sizeof secret + VEIL_KMS_WRAP_OVERHEAD);
    tu_ok(veil_kms_root_unwrap(r, aad, sizeof aad, w.data, w.len, &p));
    tu_assert_bytes(p.data, p.len, secret, sizeof secret);

    /* another AAD (key name / id) or a flipped bit: not authentic */
    p.len = 0;
    assert_int_equal(veil_kms_root_unwrap(r, aad, sizeof aad - 2, w.data, w.len, &p).cls,
                     VEIL_E_CRYPTO);
    assert_int_equal(p.len, 0);
    w.data[w.len - 1] ^= 1;
    assert_int_equal(veil_kms_root_unwrap(r, aad, sizeof aad, w.data, w.len, &p).cls,
                     VEIL_E_CRYPTO);
    w.data[w.len - 1] ^= 1;

    /* the key never leaves the token */
    tu_ok(veil_kms_root_probe(r, &readable, &sensitive, &extractable));
    assert_false(readable);
    assert_true(sensitive);
    assert_false(extractable);

    /* a second handle (same module, same process) finds the same key */
    tu_ok(veil_kms_root_open(&c, false, &r2));
    p.len = 0;
    tu_ok(veil_kms_root_unwrap(r2, aad, sizeof aad, w.data, w.len, &p));
    tu_assert_bytes(p.data, p.len, secret, sizeof secret);
    veil_kms_root_free(r2);
    r2 = NULL;
    /* ... and still works for the first after the second closed */
    p.len = 0;
    tu_ok(veil_kms_root_unwrap(r, aad, sizeof aad, w.data, w.len, &p));
    veil_kms_root_free(r);

    /* a wrong PIN and a wrong token label are refused, saying which */
    veil_kms_root_config bad = c;
    char pinfile[512];
    snprintf(pinfile, sizeof pinfile, "%s/badpin", g_tmp);
    write_file(pinfile, "12345678", 8, 0600);
    snprintf(bad.pin_file, sizeof bad.pin_file, "%s", pinfile);
    veil_result res = veil_kms_root_open(&bad, false, &r);
    assert_false(veil_ok(res));
    assert_non_null(strstr(res.msg, "PIN"));
    bad = c;
    snprintf(bad.token, sizeof bad.token, "no-such-token");
    res = veil_kms_root_open(&bad, false, &r);
    assert_false(veil_ok(res));
    assert_non_null(strstr(res.msg, "label"));
    /* a PIN file others can read is refused */
    chmod(pinfile, 0644);
    bad = c;
    snprintf(bad.pin_file, sizeof bad.pin_file, "%s", pinfile);
    assert_false(veil_ok(veil_kms_root_open(&bad, false, &r)));
    /* the PIN from an environment variable */
    bad = c;
    bad.pin_file[0] = 0;
    snprintf(bad.pin_env, sizeof bad.pin_env, "VEIL_KMS_TEST_PIN");
    assert_false(veil_ok(veil_kms_root_open(&bad, false, &r)));
    size_t plen = 0;
    char pinpath[512];
    snprintf(pinpath, sizeof pinpath, "%s/hsm/pin", g_tmp);
    FILE *f = fopen(pinpath, "r");
    assert_non_null(f);
    char pin[128] = {0};
    plen = fread(pin, 1, sizeof pin - 1, f);
    fclose(f);
    assert_true(plen > 0);
    setenv("VEIL_KMS_TEST_PIN", pin, 1);
    tu_ok(veil_kms_root_open(&bad, false, &r));
    veil_kms_root_free(r);
    unsetenv("VEIL_KMS_TEST_PIN");
    veil_buf_free(&w);
    veil_buf_free(&p);
}

static void test_file_provider(void **state)
{
    (void)state;
    veil_kms_root_config c;
    veil_kms_root *r = NULL;
    uint8_t key[32];
    veil_buf w, p;
    veil_buf_init(&w, 0);
    veil_buf_init(&p, 0);
    memset(key, 7, sizeof key);
    veil_kms_root_config_default(&c);
    c.kind = VEIL_KMS_ROOT_FILE;
    snprintf(c.key_file, sizeof c.key_file, "%s/file-root.key", g_tmp);

    write_file(c.key_file, key, sizeof key, 0644);
    veil_result res = veil_kms_root_open(&c, false, &r);
    assert_int_equal(res.cls, VEIL_E_USAGE);
    assert_non_null(strstr(res.msg, "group or others"));
    assert_null(r);

    chmod(c.key_file, 0600);
    tu_ok(veil_kms_root_open(&c, false, &r));
    tu_ok(veil_kms_root_wrap(r, NULL, 0, key, 16, &w));
    tu_ok(veil_kms_root_unwrap(r, NULL, 0, w.data, w.len, &p));
    tu_assert_bytes(p.data, p.len, key, 16);
    bool a, b, x;
    assert_int_equal(veil_kms_root_probe(r, &a, &b, &x).cls, VEIL_E_USAGE);
    veil_kms_root_free(r);

    /* another key cannot unwrap */
    key[0] ^= 1;
    write_file(c.key_file, key, sizeof key, 0600);
    tu_ok(veil_kms_root_open(&c, false, &r));
    p.len = 0;
    assert_int_equal(veil_kms_root_unwrap(r, NULL, 0, w.data, w.len, &p).cls, VEIL_E_CRYPTO);
    veil_kms_root_free(r);

    /* wrong length; missing without create; created 0600 with create */
    write_file(c.key_file, key, 31, 0600);
    assert_false(veil_ok(veil_kms_root_open(&c, false, &r)));
    unlink(c.key_file);
    assert_false(veil_ok(veil_kms_root_open(&c, false, &r)));
    tu_ok(veil_kms_root_open(&c, true, &r));
    struct stat st;
    assert_int_equal(stat(c.key_file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    veil_kms_root_free(r);

    /* sim without a simulator socket: a clear refusal */
    veil_kms_root_config s;
    veil_kms_root_config_default(&s);
    s.kind = VEIL_KMS_ROOT_SIM;
    unsetenv("VEIL_SIM_SOCKET");
    assert_false(veil_ok(veil_kms_root_open(&s, false, &r)));
    veil_buf_free(&w);
    veil_buf_free(&p);
}

/* ---- release policies -------------------------------------------------------------- */

static const char *k_submods =
    "{\"sev-snp\":{\"ear.status\":\"warning\",\"veil.simulated\":true,"
    "\"ear.trustworthiness-vector\":{\"hardware\":32},"
    "\"veil.claims\":{\"debug\":false,\"measurement\":\"aa\",\"tcb\":{\"snp\":8}}},"
    "\"gpu0\":{\"ear.status\":\"affirming\"},\"gpu1\":{\"ear.status\":\"affirming\"}}";

static bool eval(const char *policy, const char *doc, char *detail)
{
    veil_release_policy *p = NULL;
    bool allowed = false;
    tu_ok(veil_release_policy_parse(policy, strlen(policy), &p, detail));
    tu_ok(veil_release_policy_eval_json(p, doc, strlen(doc), &allowed, detail));
    veil_release_policy_free(p);
    return allowed;
}

static void parse_fails(const char *policy, const char *needle)
{
    veil_release_policy *p = NULL;
    char detail[VEIL_RELEASE_POLICY_DETAIL];
    veil_result r = veil_release_policy_parse(policy, strlen(policy), &p, detail);
    if (veil_ok(r) || !strstr(detail, needle))
        fail_msg("policy %s: expected an error mentioning \"%s\", got %s / %s", policy, needle,
                 veil_ok(r) ? "ok" : r.msg, detail);
    assert_null(p);
}

static void test_policy(void **state)
{
    (void)state;
    char d[VEIL_RELEASE_POLICY_DETAIL];
    const char *doc = k_submods;
    assert_true(eval("{\"claim\":\"sev-snp.ear.status\",\"equals\":\"warning\"}", doc, d));
    assert_true(eval("{\"claim\":\"sev-snp.veil.claims.tcb.snp\",\"gte\":8}", doc, d));
    assert_false(eval("{\"claim\":\"sev-snp.veil.claims.tcb.snp\",\"gte\":9}", doc, d));
    assert_non_null(strstr(d, "sev-snp.veil.claims.tcb.snp gte 9: got 8"));
    assert_true(eval("{\"claim\":\"sev-snp.veil.claims.tcb.snp\",\"lte\":8.5}", doc, d));
    assert_false(eval("{\"claim\":\"sev-snp.veil.claims.debug\",\"gte\":0}", doc, d));
    assert_true(
        eval("{\"claim\":\"sev-snp.veil.claims.measurement\",\"in\":[\"bb\",\"aa\"]}", doc, d));
    assert_false(eval("{\"claim\":\"sev-snp.veil.claims.measurement\",\"in\":[\"bb\"]}", doc, d));
    assert_true(
        eval("{\"claim\":\"sev-snp.ear.trustworthiness-vector.hardware\",\"lte\":32}", doc, d));
    assert_true(eval("{\"claim\":\"sev-snp.veil.claims.nothing\",\"exists\":false}", doc, d));
    assert_false(eval("{\"claim\":\"sev-snp.veil.claims.nothing\",\"exists\":true}", doc, d));
    assert_non_null(strstr(d, "absent"));
    assert_false(eval("{\"claim\":\"sev-snp.veil.claims.nothing\",\"equals\":null}", doc, d));
    /* every GPU must affirm; none present fails */
    assert_true(eval("{\"claim\":\"gpu*.ear.status\",\"equals\":\"affirming\"}", doc, d));
    assert_false(eval("{\"claim\":\"gpu*.ear.status\",\"equals\":\"affirming\"}",
                      "{\"sev-snp\":{\"ear.status\":\"affirming\"}}", d));
    assert_non_null(strstr(d, "no submodule"));
    assert_false(eval("{\"claim\":\"gpu*.ear.status\",\"equals\":\"affirming\"}",
                      "{\"gpu0\":{\"ear.status\":\"affirming\"},"
                      "\"gpu1\":{\"ear.status\":\"warning\"}}",
                      d));
    /* allOf names the failing leaf by its place */
    assert_false(eval("{\"allOf\":[{\"claim\":\"sev-snp.veil.simulated\",\"equals\":true},"
                      "{\"anyOf\":[{\"claim\":\"sev-snp.ear.status\",\"equals\":\"affirming\"},"
                      "{\"claim\":\"sev-snp.veil.claims.debug\",\"equals\":true}]}]}",
                      doc, d));
    assert_non_null(strstr(d, "/allOf/1"));
    assert_non_null(strstr(d, "/allOf/1/anyOf/1"));
    assert_true(eval("{\"anyOf\":[{\"claim\":\"x\",\"exists\":true},"
                     "{\"claim\":\"sev-snp.veil.simulated\",\"equals\":true}]}",
                     doc, d));

    parse_fails("{\"claim\":\"a\",\"greater\":1}", "unknown operator or member \"greater\"");
    parse_fails("{\"claim\":\"a\",\"gte\":1,\"lte\":2}", "exactly one operator");
    parse_fails("{\"claim\":\"a\"}", "needs one operator");
    parse_fails("{\"allOf\":[]}", "non-empty array");
    parse_fails("{\"anyOf\":[{\"claim\":\"a\",\"exists\":true}],\"note\":1}",
                "unexpected member \"note\"");
    parse_fails("{\"claim\":\"a..b\",\"exists\":true}", "/claim");
    parse_fails("{\"claim\":\"a\",\"gte\":\"1\"}", "must be a number");
    parse_fails("{\"claim\":\"a\",\"in\":[]}", "array of 1 to 64");
    parse_fails("{\"claim\":\"a\",\"exists\":1}", "true or false");
    parse_fails("[1]", "must be an object");
    parse_fails("{\"allOf\":[{\"claim\":\"a\",\"exists\":true},5]}", "/allOf/1");
    parse_fails("{\"claim\":\"a\",\"exists\":true,\"claim\":\"b\"}", "not JSON");
    parse_fails("{\"other\":1}", "found \"other\"");
    /* depth bound */
    char deep[2048] = "";
    for (int i = 0; i < 20; i++)
        strcat(deep, "{\"allOf\":[");
    strcat(deep, "{\"claim\":\"a\",\"exists\":true}");
    for (int i = 0; i < 20; i++)
        strcat(deep, "]}");
    parse_fails(deep, "nested deeper");
}

/* ---- the release protocol ------------------------------------------------------------- */

static void test_release_succeeds_and_unseals(void **state)
{
    (void)state;
    char dir[512];
    veil_sim_guest good;
    tee t;
    veil_kms_release_response resp;
    veil_release_keys *keys = veil_calloc(1, sizeof *keys);
    const char *spec = "{\"type\":\"ohttp\",\"suites\":[\"x25519\",\"p384\"]}";
    assert_non_null(keys);
    new_state_dir(dir, sizeof dir);
    guest_for("the gateway image", false, &good);
    veil_kms *k = kms_ready(dir, &good, spec);
    char desc[600];
    veil_kms_root_description(k, desc, sizeof desc);
    print_message("kms_test: root key: %s\n", desc);

    tee_prepare(k, &g_sim, &good, &t);
    release(k, "gw", &t, NULL, &resp);
    if (!resp.released)
        fail_msg("release refused: %s: %s", resp.problem.check, resp.problem.detail);
    assert_true(resp.recorded);
    assert_int_equal(resp.n_key_ids, 2);
    assert_true(resp.ear.len > 0);

    /* the EAR verifies under the KMS's key and carries the nonce */
    veil_ear ear;
    memset(&ear, 0, sizeof ear);
    tu_ok(veil_ear_verify((const char *)resp.ear.data, resp.ear.len, veil_kms_ear_key(k), 0, 300,
                          &ear));
    assert_int_equal(ear.nonce_len, 32);
    tu_assert_bytes(ear.nonce, 32, t.nonce, 32);
    veil_ear_free(&ear);

    /* the ledger has the release, written before we got the answer */
    json_t *e = ledger_entry(k, resp.ledger_index);
    assert_string_equal(json_string_value(json_object_get(e, "outcome")), "released");
    assert_int_equal(json_array_size(json_object_get(e, "key_ids")), 2);
    json_decref(e);

    /* the TEE unseals it with its ephemeral key; the keys match /ohttp-keys */
    tu_ok(veil_release_open(t.eph, t.nonce, resp.enc, resp.enc_len, resp.sealed.data,
                            resp.sealed.len, keys));
    assert_int_equal(keys->n, 2);
    assert_string_equal(keys->name, "gw");
    assert_int_equal(keys->type, VEIL_KMS_KEY_OHTTP);
    /* another nonce as AAD, or another recipient: nothing opens */
    veil_release_keys *junk = veil_calloc(1, sizeof *junk);
    uint8_t other_nonce[32];
    memcpy(other_nonce, t.nonce, 32);
    other_nonce[0] ^= 1;
    assert_false(veil_ok(veil_release_open(t.eph, other_nonce, resp.enc, resp.enc_len,
                                           resp.sealed.data, resp.sealed.len, junk)));
    veil_hpke_key *stranger = NULL;
    tu_ok(veil_hpke_key_generate(VEIL_HPKE_KEM_X25519, &stranger));
    assert_false(veil_ok(veil_release_open(stranger, t.nonce, resp.enc, resp.enc_len,
                                           resp.sealed.data, resp.sealed.len, junk)));
    veil_hpke_key_free(stranger);
    veil_free_wiped(junk, sizeof *junk);

    veil_buf pub;
    veil_buf_init(&pub, 0);
    int64_t not_after = 0;
    veil_kms_problem pb;
    tu_ok(veil_kms_ohttp_keys(k, "gw", &pub, &not_after, &pb));
    veil_ohttp_keyconfig cfgs[4];
    size_t count = 0, skipped = 0;
    tu_ok(veil_ohttp_keys_decode(pub.data, pub.len, cfgs, 4, &count, &skipped));
    assert_int_equal(count, 2);
    assert_int_equal(cfgs[0].key_id != cfgs[1].key_id, 1);

    /* a client request to each published config decrypts in a gateway
     * built from the released keys */
    veil_ohttp_gateway *gw = NULL;
    tu_ok(veil_ohttp_gateway_new(&gw));
    tu_ok(veil_release_keys_to_gateway(keys, veil_kms_now(k), gw));
    for (size_t i = 0; i < count; i++) {
        veil_hpke_suite suite = {cfgs[i].kem, cfgs[i].algs[0].kdf, cfgs[i].algs[0].aead};
        veil_buf req, inner;
        veil_ohttp_client_ctx *cc = NULL;
        veil_ohttp_server_ctx *sc = NULL;
        veil_ohttp_decap_error why;
        veil_buf_init(&req, 0);
        veil_buf_init(&inner, 0);
        tu_ok(veil_ohttp_client_encap(&cfgs[i], &suite, (const uint8_t *)"hello", 5, &req, &cc));
        tu_ok(veil_ohttp_server_decap(gw, req.data, req.len, &inner, &sc, &why));
        tu_assert_bytes(inner.data, inner.len, (const uint8_t *)"hello", 5);
        veil_ohttp_client_ctx_free(cc);
        veil_ohttp_server_ctx_free(sc);
        veil_buf_free(&req);
        veil_buf_free(&inner);
    }
    veil_ohttp_gateway_free(gw);

    /* the published configuration carries receipts that verify */
    veil_buf cfgjson;
    veil_buf_init(&cfgjson, 0);
    tu_ok(veil_kms_key_config(k, "gw", &cfgjson, &pb));
    json_t *cj = json_loadb((const char *)cfgjson.data, cfgjson.len, 0, NULL);
    assert_non_null(cj);
    json_t *kl = json_object_get(cj, "keys");
    assert_int_equal(json_array_size(kl), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *ki = json_array_get(kl, i);
        char *rtext = json_dumps(json_object_get(ki, "receipt"), JSON_COMPACT);
        char fields[512];
        snprintf(fields, sizeof fields,
                 "{\"type\":\"keyconfig\",\"name\":\"gw\",\"config\":\"%s\"}",
                 json_string_value(json_object_get(ki, "config")));
        veil_receipt_expect ex = {NULL, 0, fields, strlen(fields)};
        tu_ok(veil_receipt_verify((const uint8_t *)rtext, strlen(rtext), veil_kms_ledger_key(k),
                                  &ex, NULL));
        free(rtext);
    }
    assert_true(json_is_object(json_object_get(cj, "policy")));
    assert_true(json_is_object(json_object_get(cj, "policy_receipt")));
    assert_true(json_is_object(json_object_get(cj, "refvalues_receipt")));
    json_decref(cj);
    veil_buf_free(&cfgjson);

    tu_ok(veil_ledger_verify_all(veil_kms_ledger(k)));
    veil_buf_free(&pub);
    veil_release_keys_wipe(keys);
    veil_free(keys);
    veil_kms_release_response_free(&resp);
    tee_free(&t);
    veil_kms_close(k);

    /* reopening finds everything; the root check passes */
    tu_ok(veil_kms_open(dir, NULL, &k));
    veil_kms *k2 = NULL;
    veil_result lr = veil_kms_open(dir, NULL, &k2);
    assert_false(veil_ok(lr));
    assert_non_null(strstr(lr.msg, "in use"));
    veil_kms_close(k);
}

static int64_t g_clock_offset;
static int64_t offset_clock(void *arg)
{
    (void)arg;
    return (int64_t)time(NULL) + g_clock_offset;
}

static void test_release_refusals(void **state)
{
    (void)state;
    char dir[512];
    veil_sim_guest good, other_image, debug;
    tee t;
    veil_kms_release_response resp;
    new_state_dir(dir, sizeof dir);
    guest_for("the gateway image", false, &good);
    guest_for("a modified gateway image", false, &other_image);
    guest_for("the gateway image", true, &debug);
    veil_kms *k = kms_ready(dir, &good, "{\"type\":\"ohttp\"}");
    g_clock_offset = 0;
    veil_kms_set_clock(k, offset_clock, NULL);

    /* changed measurement */
    tee_prepare(k, &g_sim, &other_image, &t);
    release(k, "gw", &t, NULL, &resp);
    assert_refused(k, &resp, "measurement");
    /* the EAR of a refusal is returned too, contraindicated */
    assert_true(resp.ear.len > 0);
    veil_kms_release_response_free(&resp);
    tee_free(&t);

    /* debug enabled */
    tee_prepare(k, &g_sim, &debug, &t);
    release(k, "gw", &t, NULL, &resp);
    assert_refused(k, &resp, "debug");
    veil_kms_release_response_free(&resp);
    tee_free(&t);

    /* expired nonce */
    tee_prepare(k, &g_sim, &good, &t);
    g_clock_offset = VEIL_KMS_NONCE_TTL + 1;
    release(k, "gw", &t, NULL, &resp);
    assert_refused(k, &resp, "nonce");
    assert_non_null(strstr(resp.problem.detail, "expired"));
    g_clock_offset = 0;
    veil_kms_release_response_free(&resp);
    tee_free(&t);

    /* reused nonce: the first use succeeds, the second is refused */
    tee_prepare(k, &g_sim, &good, &t);
    release(k, "gw", &t, NULL, &resp);
    if (!resp.released)
        fail_msg("release refused: %s: %s", resp.problem.check, resp.problem.detail);
    veil_kms_release_response_free(&resp);
    release(k, "gw", &t, NULL, &resp);
    assert_refused(k, &resp, "nonce");
    assert_non_null(strstr(resp.problem.detail, "already used"));
    veil_kms_release_response_free(&resp);
    tee_free(&t);

    /* unknown nonce */
    tee_prepare(k, &g_sim, &good, &t);
    t.nonce[0] ^= 0xFF;
    release(k, "gw", &t, NULL, &resp);
    assert_refused(k, &resp, "nonce");
    veil_kms_release_response_free(&resp);
    tee_free(&t);

    /* REPORT_DATA bound to another public key than the one presented */
    tee_prepare(k, &g_sim, &good, &t);
    veil_hpke_key *mallory = NULL;
    uint8_t mpk[32];
    size_t mlen = 0;
    tu_ok(veil_hpke_key_generate(VEIL_HPKE_KEM_X25519, &mallory));
    tu_ok(veil_hpke_key_public(mallory, mpk, sizeof mpk, &mlen));
    release(k, "gw", &t, mpk, &resp);
    assert_refused(k, &resp, "report_data");
    veil_hpke_key_free(mallory);
    veil_kms_release_response_free(&resp);
    tee_free(&t);

    /* evidence signed by a chain to a root the KMS does not trust */
    tee_prepare(k, &g_other_sim, &good, &t);
    release(k, "gw", &t, NULL, &resp);
    assert_refused(k, &resp, "chain");
    veil_kms_release_response_free(&resp);
    tee_free(&t);

    /* a release policy the appraised result does not meet */
    veil_kms_problem pb;
    const char *strict = "{\"claim\":\"sev-snp.veil.claims.tcb.snp\",\"gte\":99}";
    tu_ok(veil_kms_set_policy(k, "gw", strict, strlen(strict), &pb));
    tee_prepare(k, &g_sim, &good, &t);
    release(k, "gw", &t, NULL, &resp);
    assert_refused(k, &resp, "release_policy");
    assert_non_null(strstr(resp.problem.detail, "gte 99: got 8"));
    veil_kms_release_response_free(&resp);
    tee_free(&t);

    /* malformed evidence */
    tee_prepare(k, &g_sim, &good, &t);
    t.evidence.len = 10;
    release(k, "gw", &t, NULL, &resp);
    assert_refused(k, &resp, "format");
    veil_kms_release_response_free(&resp);
    tee_free(&t);

    /* a key without a policy; an unknown key (not recorded); a bad public key */
    tu_ok(veil_kms_key_create(k, "nopolicy", "{\"type\":\"hpke\"}", 15, &pb));
    tee_prepare(k, &g_sim, &good, &t);
    release(k, "nopolicy", &t, NULL, &resp);
    assert_false(resp.released);
    assert_string_equal(resp.problem.check, "policy");
    assert_true(resp.recorded);
    veil_kms_release_response_free(&resp);
    release(k, "nope", &t, NULL, &resp);
    assert_string_equal(resp.problem.check, "key");
    assert_false(resp.recorded);
    veil_kms_release_response_free(&resp);
    veil_kms_release_request bad = {"gw", t.evidence.data, t.evidence.len, t.nonce, 32, t.pk, 31};
    tu_ok(veil_kms_release(k, &bad, &resp));
    assert_string_equal(resp.problem.check, "public_key");
    veil_kms_release_response_free(&resp);
    tee_free(&t);

    /* admin errors name what to fix */
    assert_false(veil_ok(veil_kms_set_policy(k, "gw", "{\"claim\":\"a\"}", 13, &pb)));
    assert_string_equal(pb.check, "request");
    assert_non_null(strstr(pb.detail, "operator"));
    assert_false(veil_ok(veil_kms_set_refvalues(k, "{\"report_data\":\"00\"}", 20, &pb)));
    assert_non_null(strstr(pb.detail, "report_data"));
    assert_false(veil_ok(veil_kms_key_create(k, "gw", "{\"type\":\"hpke\"}", 15, &pb)));
    assert_string_equal(pb.check, "key");
    tu_ok(veil_kms_key_create(k, "gw", "{\"type\":\"ohttp\"}", 16, &pb)); /* same spec: no-op */
    assert_false(veil_ok(veil_kms_key_create(k, "x", "{\"type\":\"ohttp\",\"size\":1}", 25, &pb)));
    assert_non_null(strstr(pb.detail, "size"));
    assert_false(veil_ok(veil_kms_key_create(k, "../x", "{\"type\":\"ohttp\"}", 16, &pb)));

    tu_ok(veil_ledger_verify_all(veil_kms_ledger(k)));
    veil_kms_close(k);
}

/* ---- rotation ---------------------------------------------------------------------------- */

/* Release and build a gateway from what came back. */
static veil_ohttp_gateway *gateway_from_release(veil_kms *k, const veil_sim_guest *good,
                                                size_t *n_keys)
{
    tee t;
    veil_kms_release_response resp;
    veil_release_keys *keys = veil_calloc(1, sizeof *keys);
    veil_ohttp_gateway *gw = NULL;
    assert_non_null(keys);
    tee_prepare(k, &g_sim, good, &t);
    release(k, "gw", &t, NULL, &resp);
    if (!resp.released)
        fail_msg("release refused: %s: %s", resp.problem.check, resp.problem.detail);
    tu_ok(veil_release_open(t.eph, t.nonce, resp.enc, resp.enc_len, resp.sealed.data,
                            resp.sealed.len, keys));
    *n_keys = keys->n;
    tu_ok(veil_ohttp_gateway_new(&gw));
    tu_ok(veil_release_keys_to_gateway(keys, (int64_t)time(NULL), gw));
    veil_release_keys_wipe(keys);
    veil_free(keys);
    veil_kms_release_response_free(&resp);
    tee_free(&t);
    return gw;
}

static void current_config(veil_kms *k, veil_ohttp_keyconfig *cfg)
{
    veil_buf pub;
    int64_t na = 0;
    size_t count = 0, skipped = 0;
    veil_kms_problem pb;
    veil_buf_init(&pub, 0);
    tu_ok(veil_kms_ohttp_keys(k, "gw", &pub, &na, &pb));
    tu_ok(veil_ohttp_keys_decode(pub.data, pub.len, cfg, 1, &count, &skipped));
    assert_int_equal(count, 1);
    veil_buf_free(&pub);
}

static bool decrypts(veil_ohttp_gateway *gw, const veil_ohttp_keyconfig *cfg,
                     veil_ohttp_decap_error *why)
{
    veil_hpke_suite suite = {cfg->kem, cfg->algs[0].kdf, cfg->algs[0].aead};
    veil_buf req, inner;
    veil_ohttp_client_ctx *cc = NULL;
    veil_ohttp_server_ctx *sc = NULL;
    veil_buf_init(&req, 0);
    veil_buf_init(&inner, 0);
    tu_ok(veil_ohttp_client_encap(cfg, &suite, (const uint8_t *)"hi", 2, &req, &cc));
    *why = VEIL_OHTTP_DECAP_OK;
    bool ok = veil_ok(veil_ohttp_server_decap(gw, req.data, req.len, &inner, &sc, why));
    veil_ohttp_client_ctx_free(cc);
    veil_ohttp_server_ctx_free(sc);
    veil_buf_free(&req);
    veil_buf_free(&inner);
    return ok;
}

static void test_rotation_interval_and_grace(void **state)
{
    (void)state;
    char dir[512];
    veil_sim_guest good;
    veil_ohttp_keyconfig old_cfg, new_cfg;
    veil_ohttp_decap_error why;
    size_t n = 0;
    unsigned rotated = 0;
    new_state_dir(dir, sizeof dir);
    guest_for("the gateway image", false, &good);
    veil_kms *k = kms_ready(
        dir, &good, "{\"type\":\"ohttp\",\"rotate_interval\":2,\"grace\":2,\"quarantine\":1}");
    current_config(k, &old_cfg);

    veil_ohttp_gateway *gw = gateway_from_release(k, &good, &n);
    assert_int_equal(n, 1);
    assert_true(decrypts(gw, &old_cfg, &why));
    veil_ohttp_gateway_free(gw);

    /* within a bounded wait, the interval passes and a new id appears */
    time_t deadline = time(NULL) + 6;
    while (rotated == 0 && time(NULL) < deadline) {
        tu_ok(veil_kms_rotate_due(k, &rotated));
        if (!rotated)
            sleep_ms(100);
    }
    assert_int_equal(rotated, 1);
    current_config(k, &new_cfg);
    assert_int_not_equal(new_cfg.key_id, old_cfg.key_id);

    /* during the grace period the old id still decrypts */
    gw = gateway_from_release(k, &good, &n);
    assert_int_equal(n, 2);
    assert_true(decrypts(gw, &old_cfg, &why));
    assert_true(decrypts(gw, &new_cfg, &why));
    veil_ohttp_gateway_free(gw);

    /* after it, the old key is no longer released: its id is unknown */
    sleep_ms(2500);
    gw = gateway_from_release(k, &good, &n);
    assert_int_equal(n, 1);
    assert_false(decrypts(gw, &old_cfg, &why));
    assert_int_equal(why, VEIL_OHTTP_DECAP_UNKNOWN_KEY);
    assert_true(decrypts(gw, &new_cfg, &why));
    veil_ohttp_gateway_free(gw);

    tu_ok(veil_ledger_verify_all(veil_kms_ledger(k)));
    veil_kms_close(k);
}

static void test_key_ids_never_reused_while_held(void **state)
{
    (void)state;
    char dir[512];
    veil_sim_guest good;
    veil_kms_problem pb;
    bool seen[256];
    veil_ohttp_keyconfig cfg;
    memset(seen, 0, sizeof seen);
    new_state_dir(dir, sizeof dir);
    guest_for("the gateway image", false, &good);
    veil_kms *k = kms_ready(dir, &good, "{\"type\":\"ohttp\",\"grace\":60,\"quarantine\":600}");
    current_config(k, &cfg);
    seen[cfg.key_id] = true;
    for (int i = 1; i < 256; i++) {
        tu_ok(veil_kms_rotate(k, "gw", &pb));
        current_config(k, &cfg);
        assert_false(seen[cfg.key_id]);
        seen[cfg.key_id] = true;
    }
    /* all 256 ids are held (current, grace or quarantine): a clear failure */
    veil_result r = veil_kms_rotate(k, "gw", &pb);
    assert_false(veil_ok(r));
    assert_string_equal(pb.check, "key_id");
    assert_non_null(strstr(pb.detail, "no free key id"));
    /* once the quarantine of the oldest has passed, its id comes back */
    g_clock_offset = 60 + 600 + 1;
    veil_kms_set_clock(k, offset_clock, NULL);
    tu_ok(veil_kms_rotate(k, "gw", &pb));
    g_clock_offset = 0;
    tu_ok(veil_ledger_verify_all(veil_kms_ledger(k)));
    veil_kms_close(k);
}

/* ---- crash recovery of staged changes ------------------------------------------------------ */

static uint64_t ledger_size(veil_kms *k)
{
    uint64_t n = 0;
    tu_ok(veil_ledger_size(veil_kms_ledger(k), &n));
    return n;
}

/* Stage a rotation as new_keys does, but "crash" before completing it;
 * with `appended`, also after its entries reached the ledger. */
static void stage_rotation(veil_kms *k, bool appended)
{
    kstore_name nm;
    bool found = false;
    char op[KMS_OP_ID_LEN + 1];
    json_t *entries = json_array(), *uids = json_array(), *retire = json_array(),
           *ids = json_array();
    tu_ok(veil_kms_store_name_get(k->store, "gw", &nm, &found));
    assert_true(found);
    tu_ok(kms_new_op_id(op));
    tu_ok(veil_kms_store_begin(k->store));
    tu_ok(kms_keys_stage(k, &nm, veil_kms_now(k), op, ids, entries, uids));
    json_t *payload = json_pack("{s:O,s:O}", "activate", uids, "retire", retire);
    tu_ok(kms_stage(k, "keys", "gw", entries, payload, op, veil_kms_now(k)));
    tu_ok(veil_kms_store_commit(k->store));
    if (appended) {
        const json_t *list[1] = {json_array_get(entries, 0)};
        uint64_t first = 0;
        tu_ok(veil_ledger_append_values(veil_kms_ledger(k), list, 1, &first));
    }
    json_decref(entries);
    json_decref(uids);
    json_decref(retire);
    json_decref(ids);
    json_decref(payload);
}

static void test_crash_recovery(void **state)
{
    (void)state;
    char dir[512];
    veil_sim_guest good;
    veil_ohttp_keyconfig cfg;
    new_state_dir(dir, sizeof dir);
    guest_for("the gateway image", false, &good);
    veil_kms *k = kms_ready(dir, &good, "{\"type\":\"ohttp\"}");
    current_config(k, &cfg);
    uint8_t first_id = cfg.key_id;

    /* crash after staging: the pending key is neither published nor released */
    stage_rotation(k, false);
    uint64_t before = ledger_size(k);
    current_config(k, &cfg);
    assert_int_equal(cfg.key_id, first_id);
    veil_kms_close(k);
    /* reopening appends its entry once and activates it */
    tu_ok(veil_kms_open(dir, NULL, &k));
    assert_int_equal(ledger_size(k), before + 1);
    veil_buf pub;
    veil_buf_init(&pub, 0);
    int64_t na;
    veil_kms_problem pb;
    tu_ok(veil_kms_ohttp_keys(k, "gw", &pub, &na, &pb));
    veil_ohttp_keyconfig cfgs[4];
    size_t count = 0, skipped = 0;
    tu_ok(veil_ohttp_keys_decode(pub.data, pub.len, cfgs, 4, &count, &skipped));
    assert_int_equal(count, 2); /* staged without retiring: both current */
    veil_buf_free(&pub);

    /* crash after the ledger append: reopening does not append again */
    stage_rotation(k, true);
    before = ledger_size(k);
    veil_kms_close(k);
    tu_ok(veil_kms_open(dir, NULL, &k));
    assert_int_equal(ledger_size(k), before);
    pub.len = 0;
    veil_buf_init(&pub, 0);
    tu_ok(veil_kms_ohttp_keys(k, "gw", &pub, &na, &pb));
    tu_ok(veil_ohttp_keys_decode(pub.data, pub.len, cfgs, 4, &count, &skipped));
    assert_int_equal(count, 3);
    assert_true(cfgs[0].key_id != cfgs[1].key_id && cfgs[1].key_id != cfgs[2].key_id &&
                cfgs[0].key_id != cfgs[2].key_id);
    veil_buf_free(&pub);
    tu_ok(veil_ledger_verify_all(veil_kms_ledger(k)));
    veil_kms_close(k);

    /* another root key: refused, saying so */
    veil_kms_root_config root;
    test_root(&root);
    if (root.kind == VEIL_KMS_ROOT_PKCS11) {
        snprintf(root.key_label, sizeof root.key_label, "unit-test-root"); /* exists */
    } else {
        uint8_t other[32] = {1};
        snprintf(root.key_file, sizeof root.key_file, "%s/other.key", g_tmp);
        write_file(root.key_file, other, 32, 0600);
    }
    veil_result r = veil_kms_open(dir, &root, &k);
    assert_int_equal(r.cls, VEIL_E_CRYPTO);
    assert_non_null(strstr(r.msg, "not the one this state was created with"));
}

/* ---- composite evidence: GPU claims reach the release policy ------------------------------ */

/* The TEE side with `n_gpus` simulated GPUs bound into REPORT_DATA. */
static void tee_prepare_gpus(veil_kms *k, const veil_gpu_sim *gpu, const veil_sim_guest *g,
                             size_t n_gpus, tee *t)
{
    size_t n = 0;
    int64_t exp = 0;
    uint8_t base[64], nonce[32], report[VEIL_SNP_REPORT_SIZE];
    veil_evidence ev;
    memset(t, 0, sizeof *t);
    tu_ok(veil_hpke_key_generate(VEIL_HPKE_KEM_X25519, &t->eph));
    tu_ok(veil_hpke_key_public(t->eph, t->pk, sizeof t->pk, &n));
    tu_ok(veil_kms_nonce(k, t->nonce, &exp));
    tu_ok(veil_release_report_data(t->nonce, t->pk, 32, base));
    veil_evidence_init(&ev);
    snprintf(ev.tee, sizeof ev.tee, "sev-snp");
    for (unsigned i = 0; i < n_gpus; i++) {
        veil_evidence_gpu *e = &ev.gpus[ev.n_gpus++];
        tu_ok(veil_composite_gpu_nonce(base, i, nonce));
        tu_ok(veil_gpu_sim_evidence(gpu, nonce, &e->report));
        tu_ok(veil_buf_append(&e->certs, gpu->chain_pem.data, gpu->chain_pem.len));
        snprintf(e->cc_mode, sizeof e->cc_mode, "on");
    }
    tu_ok(veil_composite_report_data_ev(base, &ev, t->rd));
    tu_ok(veil_sim_report(&g_sim, g, t->rd, 0, report));
    tu_ok(veil_buf_append(&ev.report, report, sizeof report));
    tu_ok(veil_sim_cert_table(&g_sim, &ev.cert_table));
    veil_buf_init(&t->evidence, 0);
    tu_ok(veil_evidence_write(&ev, &t->evidence));
    veil_evidence_free(&ev);
}

static void test_release_with_gpus(void **state)
{
    (void)state;
    char dir[512], gdir[600], ark[65], groot[65], m[97], m3h[97], ref[1200];
    uint8_t m3[48];
    bool created = false;
    veil_sim_guest good;
    veil_gpu_sim gpu;
    veil_kms_problem pb;
    veil_kms_release_response resp;
    tee t;
    new_state_dir(dir, sizeof dir);
    snprintf(gdir, sizeof gdir, "%s-gpu", dir);
    veil_gpu_sim_init(&gpu);
    tu_ok(veil_gpu_sim_open(gdir, &created, &gpu));
    guest_for("the gateway image", false, &good);
    veil_kms *k = kms_ready(dir, &good, "{\"type\":\"ohttp\"}");
    /* composite reference values: the CPU as before, the simulated GPU */
    veil_hex_encode(g_sim.ark_sha256, 32, ark);
    veil_hex_encode(gpu.root_sha256, 32, groot);
    veil_hex_encode(good.measurement, 48, m);
    tu_ok(veil_gpu_sim_measurement(3, m3));
    veil_hex_encode(m3, 48, m3h);
    snprintf(ref, sizeof ref,
             "{\"cpu\":{\"measurements\":[\"%s\"],\"trusted_simulated_roots\":[\"%s\"]},"
             "\"gpu\":{\"require_rims\":false,\"require_cc_mode\":true,"
             "\"trusted_simulated_roots\":[\"%s\"],\"measurements\":{\"2\":\"%s\"}}}",
             m, ark, groot, m3h);
    tu_ok(veil_kms_set_refvalues(k, ref, strlen(ref), &pb));
    const char *pol = "{\"allOf\":["
                      "{\"claim\":\"sev-snp.veil.claims.debug\",\"equals\":false},"
                      "{\"claim\":\"gpu*.ear.status\",\"in\":[\"affirming\",\"warning\"]},"
                      "{\"claim\":\"gpu*.veil.claims.cc_mode\",\"equals\":\"on\"},"
                      "{\"claim\":\"gpu*.veil.claims.measurements.mismatched\",\"exists\":true},"
                      "{\"claim\":\"sev-snp.veil.claims.tcb.snp\",\"gte\":8}]}";
    tu_ok(veil_kms_set_policy(k, "gw", pol, strlen(pol), &pb));

    /* two GPUs, both affirming: released */
    tee_prepare_gpus(k, &gpu, &good, 2, &t);
    release(k, "gw", &t, NULL, &resp);
    if (!resp.released)
        fail_msg("release refused: %s: %s", resp.problem.check, resp.problem.detail);
    veil_kms_release_response_free(&resp);
    tee_free(&t);

    /* the CPU alone verifies, but "every GPU affirming" needs a GPU */
    tee_prepare_gpus(k, &gpu, &good, 0, &t);
    release(k, "gw", &t, NULL, &resp);
    assert_refused(k, &resp, "release_policy");
    assert_non_null(strstr(resp.problem.detail, "gpu*.ear.status"));
    veil_kms_release_response_free(&resp);
    tee_free(&t);

    /* evidence bound to another nonce (CPU REPORT_DATA and GPU nonces) is refused */
    tee_prepare_gpus(k, &gpu, &good, 1, &t);
    uint8_t other[32];
    int64_t exp = 0;
    tu_ok(veil_kms_nonce(k, other, &exp));
    memcpy(t.nonce, other, 32); /* REPORT_DATA and the GPU nonce no longer match */
    release(k, "gw", &t, NULL, &resp);
    assert_refused(k, &resp, "report_data");
    veil_kms_release_response_free(&resp);
    tee_free(&t);
    veil_kms_close(k);
    veil_gpu_sim_free(&gpu);
}

/* ---- public endpoint limits ----------------------------------------------------------------- */

static void test_nonce_bound_expires_oldest(void **state)
{
    (void)state;
    char dir[512];
    veil_sim_guest good;
    tee t;
    veil_kms_release_response resp;
    uint8_t first[32];
    int64_t exp = 0;
    new_state_dir(dir, sizeof dir);
    guest_for("the gateway image", false, &good);
    veil_kms *k = kms_ready(dir, &good, "{\"type\":\"ohttp\"}");
    veil_kms_set_max_nonces(k, 2);
    tee_prepare(k, &g_sim, &good, &t); /* the oldest outstanding nonce */
    memcpy(first, t.nonce, 32);
    for (int i = 0; i < 2; i++)
        tu_ok(veil_kms_nonce(k, t.nonce, &exp)); /* two more: the bound is 2 */
    memcpy(t.nonce, first, 32);
    release(k, "gw", &t, NULL, &resp);
    assert_refused(k, &resp, "nonce");
    assert_non_null(strstr(resp.problem.detail, "expired"));
    veil_kms_release_response_free(&resp);
    tee_free(&t);
    tee_prepare(k, &g_sim, &good, &t); /* a fresh one still works */
    release(k, "gw", &t, NULL, &resp);
    assert_true(resp.released);
    veil_kms_release_response_free(&resp);
    tee_free(&t);
    veil_kms_close(k);
}

/* POST url; returns the status, the body in *body (caller frees). */
static long post(const char *url, const char *ct, const void *p, size_t n, json_t **body)
{
    veil_http_client_response r;
    memset(&r, 0, sizeof r);
    tu_ok(veil_http_post(url, ct, p, n, NULL, &r));
    *body = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
    long st = r.status;
    if (st == 429)
        assert_true(veil_http_content_type_is(r.content_type, VEIL_HTTP_MT_PROBLEM));
    veil_http_client_response_free(&r);
    return st;
}

static long get_nonce(const char *base, uint8_t nonce[32])
{
    char url[128];
    json_t *b = NULL;
    veil_buf raw;
    veil_buf_init(&raw, 0);
    snprintf(url, sizeof url, "%s/v1/attest/nonce", base);
    long st = post(url, NULL, NULL, 0, &b);
    if (st == 200) {
        const char *s = json_string_value(json_object_get(b, "nonce"));
        assert_non_null(s);
        tu_ok(veil_base64_decode(s, strlen(s), &raw));
        assert_int_equal(raw.len, 32);
        memcpy(nonce, raw.data, 32);
    } else if (st == 429) {
        assert_string_equal(json_string_value(json_object_get(b, "check")), "rate_limit");
        assert_true(json_integer_value(json_object_get(b, "retry_after")) >= 1);
    }
    veil_buf_free(&raw);
    json_decref(b);
    return st;
}

static json_t *b64(const uint8_t *p, size_t n)
{
    veil_buf b;
    veil_buf_init(&b, 0);
    tu_ok(veil_base64_encode(p, n, &b));
    json_t *j = json_stringn((const char *)b.data, b.len);
    veil_buf_free(&b);
    return j;
}

/* One release over HTTP with a nonce from the service. */
static long http_release(const char *base, veil_kms *k, const veil_sim_guest *g, bool good)
{
    char url[160];
    tee t;
    json_t *resp = NULL;
    tee_prepare(k, &g_sim, g, &t); /* for the key and evidence; the nonce is replaced */
    assert_int_equal(get_nonce(base, t.nonce), 200);
    tu_ok(veil_release_report_data(t.nonce, t.pk, 32, t.rd));
    veil_buf_free(&t.evidence);
    make_evidence(&g_sim, g, t.rd, &t.evidence);
    json_t *ev = json_loadb((const char *)t.evidence.data, t.evidence.len, 0, NULL);
    json_t *req = json_pack("{s:o,s:o,s:o}", "nonce", b64(t.nonce, 32), "public_key", b64(t.pk, 32),
                            "evidence", ev);
    if (!good)
        json_object_set_new(req, "public_key", b64(t.nonce, 32)); /* not bound: refused */
    char *text = veil_json_dump(req);
    snprintf(url, sizeof url, "%s/v1/keys/gw/release", base);
    long st = post(url, VEIL_HTTP_MT_JSON, text, strlen(text), &resp);
    veil_free(text);
    json_decref(req);
    json_decref(resp);
    tee_free(&t);
    return st;
}

static void test_rate_limit(void **state)
{
    (void)state;
    char dir[512], base[64];
    uint8_t nonce[32];
    veil_sim_guest good;
    veil_kms_service *svc = NULL;
    new_state_dir(dir, sizeof dir);
    guest_for("the gateway image", false, &good);
    veil_kms *k = kms_ready(dir, &good, "{\"type\":\"ohttp\"}");
    /* 1 token a second, 3 at once: slow enough that refills do not blur the counts */
    veil_kms_service_config cfg = {.nonce_rate = 1, .nonce_burst = 3};
    tu_ok(veil_kms_service_start(k, &cfg, &svc));
    snprintf(base, sizeof base, "http://127.0.0.1:%u", veil_kms_service_port(svc));

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* a successful release gives its token back: nonce (1), release (2, back) */
    assert_int_equal(http_release(base, k, &good, true), 200);
    /* a refused one does not: nonce (2), release (3) */
    assert_int_equal(http_release(base, k, &good, false), 403);
    /* the bucket is empty now (unless a second passed and refilled one) */
    long st = get_nonce(base, nonce);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (ms < 900)
        assert_int_equal(st, 429);
    else
        print_message("kms_test: rate limit: %ld ms elapsed, exact count not checked\n", ms);
    json_t *b = NULL;
    char url[128];
    snprintf(url, sizeof url, "%s/v1/keys/gw/release", base);
    assert_int_equal(post(url, VEIL_HTTP_MT_JSON, "{}", 2, &b), 429);
    json_decref(b);
    /* other endpoints are not limited */
    veil_http_client_response r;
    memset(&r, 0, sizeof r);
    snprintf(url, sizeof url, "%s/v1/ledger/sth", base);
    tu_ok(veil_http_get(url, NULL, &r));
    assert_int_equal(r.status, 200);
    veil_http_client_response_free(&r);
    /* one second later one token is back */
    sleep_ms(1100);
    assert_int_equal(get_nonce(base, nonce), 200);
    assert_int_equal(get_nonce(base, nonce), 429);
    veil_kms_service_stop(svc);
    veil_kms_close(k);
}

/* The service's body parser, the one the fuzz target drives. */
static void test_release_body_parse(void **state)
{
    (void)state;
    veil_kms_release_body b;
    const char *ok =
        "{\"nonce\":\"AAEC\",\"public_key\":\"AwQF\",\"evidence\":{\"b\":1,\"a\":[2]}}";
    tu_ok(veil_kms_release_body_parse((const uint8_t *)ok, strlen(ok), &b));
    assert_int_equal(b.nonce.len, 3);
    assert_int_equal(b.public_key.data[2], 5);
    assert_int_equal(b.evidence.len, strlen("{\"a\":[2],\"b\":1}")); /* JCS: sorted */
    assert_memory_equal(b.evidence.data, "{\"a\":[2],\"b\":1}", b.evidence.len);
    veil_kms_release_body_free(&b);
    static const char *const bad[] = {
        "",
        "[]",
        "{\"nonce\":\"AAEC\",\"nonce\":\"AAEC\",\"public_key\":\"AwQF\",\"evidence\":{}}",
        "{\"nonce\":\"AAEC\",\"public_key\":\"AwQF\"}",
        "{\"nonce\":\"not base64!\",\"public_key\":\"AwQF\",\"evidence\":{}}",
        "{\"nonce\":\"AAEC\",\"public_key\":\"AwQF\",\"evidence\":\"x\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        veil_result r = veil_kms_release_body_parse((const uint8_t *)bad[i], strlen(bad[i]), &b);
        assert_int_equal(r.cls, VEIL_E_PROTOCOL);
        assert_int_equal(b.evidence.len, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hsm_wrap_and_non_extractable),
        cmocka_unit_test(test_file_provider),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_release_succeeds_and_unseals),
        cmocka_unit_test(test_release_refusals),
        cmocka_unit_test(test_rotation_interval_and_grace),
        cmocka_unit_test(test_key_ids_never_reused_while_held),
        cmocka_unit_test(test_crash_recovery),
        cmocka_unit_test(test_release_with_gpus),
        cmocka_unit_test(test_nonce_bound_expires_oldest),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_release_body_parse),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
