/* Appraisal and the one-call verifier on real SEV-SNP evidence: each policy
 * outcome is named by the check that decides it. */
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "veil/appraise.h"
#include "veil/mem.h"

#define GOSEV "attestation/snp-milan-v2-go-sev-guest/"
#define DSTACK "attestation/snp-milan-v3-dstack/"
#define VLEK "attestation/snp-milan-v3-vlek-aws/"
#define AZURE "attestation/snp-milan-v2-azure-hcl/"

static const char gosev_measurement[] = "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82"
                                        "705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01";

static void load(veil_buf *b, const char *rel)
{
    size_t n;
    char *p = tu_read_testdata(rel, &n);
    tu_ok(veil_buf_append(b, p, n));
    tu_free(p);
}

static void policy(veil_snp_policy *p, const char *json)
{
    tu_ok(veil_snp_policy_parse(json, strlen(json), p));
}

static veil_check run(const veil_evidence *ev, const char *policy_json, int64_t at,
                      veil_verification *vr)
{
    veil_snp_policy *p = veil_calloc(1, sizeof *p);
    policy(p, policy_json);
    tu_ok(veil_verify_evidence(ev, p, at, vr));
    veil_free(p);
    return vr->verdict.failed;
}

static veil_check outcome(const veil_evidence *ev, const char *policy_json, int64_t at)
{
    veil_verification vr;
    veil_check c = run(ev, policy_json, at, &vr);
    veil_verification_free(&vr);
    return c;
}

static void gosev(veil_evidence *ev)
{
    veil_evidence_init(ev);
    strcpy(ev->tee, "sev-snp");
    load(&ev->report, GOSEV "report.bin");
    load(&ev->vcek, GOSEV "vcek.der");
}

static void test_debug_report_is_authentic_but_refused_by_default(void **state)
{
    veil_evidence ev;
    gosev(&ev);
    veil_verification vr;
    assert_int_equal(run(&ev, "{}", 0, &vr), VEIL_CHECK_DEBUG);
    assert_int_equal(vr.ear.status, VEIL_EAR_CONTRAINDICATED);
    assert_string_equal(vr.ear.failed_check, "debug");
    assert_int_equal(vr.ear.tv.hardware, 2); /* authentic all the same */
    veil_verification_free(&vr);
    /* allowed debugging and no allow-list: accepted, but only a warning */
    assert_int_equal(run(&ev, "{\"allow_debug\": true}", 0, &vr), VEIL_CHECK_NONE);
    assert_int_equal(vr.ear.status, VEIL_EAR_WARNING);
    assert_non_null(strstr(vr.ear.claims_json, gosev_measurement));
    veil_verification_free(&vr);
    char json[512];
    snprintf(json, sizeof json, "{\"allow_debug\": true, \"measurements\": [\"%s\"]}",
             gosev_measurement);
    assert_int_equal(run(&ev, json, 0, &vr), VEIL_CHECK_NONE);
    assert_int_equal(vr.ear.status, VEIL_EAR_AFFIRMING);
    veil_verification_free(&vr);
    veil_evidence_free(&ev);
}

static void test_each_reference_value_is_a_named_check(void **state)
{
    veil_evidence ev;
    gosev(&ev);
    char other[97];
    memset(other, 'a', 96);
    other[96] = 0;
    char json[512];
    snprintf(json, sizeof json, "{\"allow_debug\": true, \"measurements\": [\"%s\"]}", other);
    assert_int_equal(outcome(&ev, json, 0), VEIL_CHECK_MEASUREMENT);
    assert_int_equal(outcome(&ev, "{\"allow_debug\":true,\"min_tcb\":{\"snp\":6}}", 0),
                     VEIL_CHECK_TCB);
    assert_int_equal(
        outcome(&ev, "{\"allow_debug\":true,\"min_tcb\":{\"snp\":5,\"microcode\":68}}", 0),
        VEIL_CHECK_NONE);
    /* REPORT_DATA is 0102030405 then zeros */
    char rd[129];
    memset(rd, '0', 128);
    rd[128] = 0;
    memcpy(rd, "0102030405", 10);
    snprintf(json, sizeof json, "{\"allow_debug\":true,\"report_data\":\"%s\"}", rd);
    assert_int_equal(outcome(&ev, json, 0), VEIL_CHECK_NONE);
    rd[9] = '6';
    snprintf(json, sizeof json, "{\"allow_debug\":true,\"report_data\":\"%s\"}", rd);
    assert_int_equal(outcome(&ev, json, 0), VEIL_CHECK_REPORT_DATA);
    assert_int_equal(outcome(&ev, "{\"allow_debug\":true,\"allow_smt\":false}", 0),
                     VEIL_CHECK_POLICY);
    assert_int_equal(outcome(&ev, "{\"allow_debug\":true,\"vmpl\":[1,2]}", 0), VEIL_CHECK_VMPL);
    snprintf(json, sizeof json, "{\"allow_debug\":true,\"host_data\":\"%064d\"}", 1);
    assert_int_equal(outcome(&ev, json, 0), VEIL_CHECK_HOST_DATA);
    snprintf(json, sizeof json, "{\"allow_debug\":true,\"id_key_digests\":[\"%s\"]}", other);
    assert_int_equal(outcome(&ev, json, 0), VEIL_CHECK_ID_KEY);
    veil_evidence_free(&ev);
}

static void test_authenticity_failures_come_first(void **state)
{
    veil_evidence ev;
    gosev(&ev);
    ev.report.data[0x2A0 + 5] ^= 1; /* signature byte */
    assert_int_equal(outcome(&ev, "{\"allow_debug\":true}", 0), VEIL_CHECK_SIGNATURE);
    ev.report.data[0x2A0 + 5] ^= 1;
    ev.report.data[0x90] ^= 1; /* measurement: authenticity breaks before appraisal */
    assert_int_equal(outcome(&ev, "{\"allow_debug\":true}", 0), VEIL_CHECK_SIGNATURE);
    ev.report.data[0x90] ^= 1;
    ev.report.len = 1000;
    assert_int_equal(outcome(&ev, "{}", 0), VEIL_CHECK_FORMAT);
    veil_evidence_free(&ev);
    /* a VCEK from another chip */
    gosev(&ev);
    veil_buf_clear(&ev.vcek);
    load(&ev.vcek, DSTACK "vcek.pem");
    assert_int_equal(outcome(&ev, "{\"allow_debug\":true}", 0), VEIL_CHECK_VCEK);
    veil_evidence_free(&ev);
}

static void test_dstack_v3_and_vlek_validity(void **state)
{
    veil_evidence ev;
    veil_evidence_init(&ev);
    strcpy(ev.tee, "sev-snp");
    load(&ev.report, DSTACK "report.bin");
    load(&ev.vcek, DSTACK "vcek.pem");
    load(&ev.ask, DSTACK "ask.pem");
    assert_int_equal(outcome(&ev, "{}", 0), VEIL_CHECK_NONE);
    veil_evidence_free(&ev);

    veil_evidence_init(&ev);
    strcpy(ev.tee, "sev-snp");
    load(&ev.report, VLEK "report.bin");
    load(&ev.vlek, VLEK "vlek.der");
    assert_int_equal(outcome(&ev, "{\"verification_time\":\"2025-06-01T00:00:00Z\"}", 0),
                     VEIL_CHECK_NONE);
    assert_int_equal(outcome(&ev, "{}", 1780000000 /* 2026 */), VEIL_CHECK_CHAIN);
    veil_evidence_free(&ev);
}

static void test_azure_hcl_and_bundle_round_trip(void **state)
{
    veil_evidence ev, back;
    veil_evidence_init(&ev);
    strcpy(ev.tee, "sev-snp");
    load(&ev.hcl_report, AZURE "hcl-report.bin");
    load(&ev.vcek, AZURE "vcek_ask_ark_chain.pem");
    veil_buf json;
    veil_buf_init(&json, 0);
    tu_ok(veil_evidence_write(&ev, &json));
    tu_ok(veil_evidence_parse(json.data, json.len, &back));
    veil_verification vr;
    assert_int_equal(run(&back, "{}", 0, &vr), VEIL_CHECK_NONE);
    assert_non_null(strstr(vr.ear.claims_json, "\"runtime_claims\""));
    bool saw_binding = false;
    for (size_t i = 0; i < vr.verdict.n_trace; i++)
        saw_binding |= vr.verdict.trace[i].check == VEIL_CHECK_RUNTIME_DATA;
    assert_true(saw_binding);
    veil_verification_free(&vr);
    back.hcl_report.data[0x4D4 + 10] ^= 1; /* one byte of the runtime claims */
    assert_int_equal(outcome(&back, "{}", 0), VEIL_CHECK_RUNTIME_DATA);
    veil_buf_free(&json);
    veil_evidence_free(&ev);
    veil_evidence_free(&back);
}

static void test_policy_and_bundle_errors(void **state)
{
    veil_snp_policy p;
    const char *bad[] = {"{\"allow_debg\": true}",
                         "{\"measurements\": [\"zz\"]}",
                         "{\"min_tcb\": {\"snp\": 300}}",
                         "{\"vmpl\": [4]}",
                         "[]",
                         "{",
                         "{\"verification_time\": \"soon\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        veil_result r = veil_snp_policy_parse(bad[i], strlen(bad[i]), &p);
        assert_int_equal(r.cls, VEIL_E_PROTOCOL);
        assert_non_null(strstr(r.msg, "policy:"));
    }
    veil_evidence ev;
    const char *bundles[] = {"{}", "{\"version\":1,\"tee\":\"sev-snp\"}",
                             "{\"version\":1,\"tee\":\"sev-snp\",\"report\":\"!!\"}",
                             "{\"version\":2}",
                             "{\"version\":1,\"tee\":\"tdx\",\"report\":\"AA==\"}"};
    for (size_t i = 0; i < sizeof bundles / sizeof bundles[0]; i++)
        assert_false(
            veil_ok(veil_evidence_parse((const uint8_t *)bundles[i], strlen(bundles[i]), &ev)));
    /* a bundle without certificates fails the chain, naming what is missing */
    veil_evidence_init(&ev);
    strcpy(ev.tee, "sev-snp");
    load(&ev.report, GOSEV "report.bin");
    assert_int_equal(outcome(&ev, "{}", 0), VEIL_CHECK_CHAIN);
    veil_evidence_free(&ev);
}

/* veil_snp_policy_within: a KMS's reference values (inner) may only be as
 * strict as, or stricter than, a client's (outer), member by member. */
static bool within(const char *inner, const char *outer, char *why)
{
    veil_snp_policy *a = veil_calloc(1, sizeof *a), *b = veil_calloc(1, sizeof *b);
    policy(a, inner);
    policy(b, outer);
    why[0] = '\0';
    bool ok = veil_snp_policy_within(a, b, why, 48);
    veil_free(a);
    veil_free(b);
    return ok;
}

#define M1                                                                                         \
    "\"111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111" \
    "111111\""
#define M2                                                                                         \
    "\"222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222" \
    "222222\""
#define R1 "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""

static void test_policy_within(void **state)
{
    (void)state;
    char why[48];
    assert_true(within("{\"measurements\":[" M1 "]}", "{\"measurements\":[" M1 "," M2 "]}", why));
    assert_false(within("{\"measurements\":[" M1 "," M2 "]}", "{\"measurements\":[" M1 "]}", why));
    assert_string_equal(why, "measurements");
    assert_false(within("{}", "{\"measurements\":[" M1 "]}", why)); /* any code */
    assert_string_equal(why, "measurements");
    assert_true(within("{\"measurements\":[" M1 "]}", "{}", why));
    assert_false(within("{\"measurements\":[" M1 "],\"allow_debug\":true}",
                        "{\"measurements\":[" M1 "]}", why));
    assert_string_equal(why, "allow_debug");
    assert_false(within("{\"min_tcb\":{\"bootloader\":3,\"tee\":0,\"snp\":8,\"microcode\":100}}",
                        "{\"min_tcb\":{\"bootloader\":3,\"tee\":0,\"snp\":8,\"microcode\":115}}",
                        why));
    assert_string_equal(why, "min_tcb");
    assert_true(within("{\"min_tcb\":{\"bootloader\":3,\"tee\":0,\"snp\":9,\"microcode\":115}}",
                       "{\"min_tcb\":{\"bootloader\":3,\"tee\":0,\"snp\":8,\"microcode\":115}}",
                       why));
    assert_false(within("{\"trusted_simulated_roots\":[" R1 "]}", "{}", why));
    assert_string_equal(why, "trusted_simulated_roots");
    assert_true(within("{\"trusted_simulated_roots\":[" R1 "]}",
                       "{\"trusted_simulated_roots\":[" R1 "]}", why));
    assert_false(within("{\"vmpl\":[0,1]}", "{\"vmpl\":[0]}", why));
    assert_string_equal(why, "vmpl");
    assert_false(within("{\"allow_smt\":true}", "{\"allow_smt\":false}", why));
    assert_string_equal(why, "allow_smt");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_debug_report_is_authentic_but_refused_by_default),
        cmocka_unit_test(test_each_reference_value_is_a_named_check),
        cmocka_unit_test(test_authenticity_failures_come_first),
        cmocka_unit_test(test_dstack_v3_and_vlek_validity),
        cmocka_unit_test(test_azure_hcl_and_bundle_round_trip),
        cmocka_unit_test(test_policy_and_bundle_errors),
        cmocka_unit_test(test_policy_within),
    };
    return cmocka_run_group_tests_name("appraise", tests, NULL, NULL);
}
