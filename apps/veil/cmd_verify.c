/* veil verify: verify and appraise SEV-SNP evidence, print each check, and
 * optionally issue a signed attestation result (EAR). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "common/json_util.h"
#include "veil/appraise.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/timeutil.h"

#define MAX_INPUT ((size_t)1 << 20)

typedef struct verify_opts {
    const char *bundle, *report, *hcl, *vcek, *vlek, *chain, *ask, *ark, *crl;
    const char *policy, *at, *expect_rd, *ear_key, *ear_out;
    int json;
} verify_opts;

static int usage(FILE *f, int code)
{
    fprintf(f, "usage: veil verify EVIDENCE.json [options]\n"
               "       veil verify --report FILE | --hcl-report FILE  (--vcek FILE | --vlek FILE)\n"
               "                   [--chain PEM] [--ask FILE] [--ark FILE] [--crl FILE] [options]\n"
               "options:\n"
               "  --policy FILE              reference values (docs/policy.md); default: {}\n"
               "  --at TIME                  verification time (2025-06-01T00:00:00Z, @unix); "
               "default now\n"
               "  --expect-report-data HEX   the 64-byte REPORT_DATA the guest must have bound\n"
               "  --ear-key KEY.pem --ear-out FILE   sign the attestation result (EAR JWT, ES384)\n"
               "  --json                     machine-readable output\n"
               "Exit: 0 affirming, 1 rejected or not affirming, 2 usage, 3 unreadable input.\n");
    return code;
}

static int parse_opts(int argc, char **argv, verify_opts *o)
{
    static const struct option opts[] = {{"report", 1, NULL, 'r'},
                                         {"hcl-report", 1, NULL, 'H'},
                                         {"vcek", 1, NULL, 'v'},
                                         {"vlek", 1, NULL, 'l'},
                                         {"chain", 1, NULL, 'c'},
                                         {"ask", 1, NULL, 'a'},
                                         {"ark", 1, NULL, 'A'},
                                         {"crl", 1, NULL, 'C'},
                                         {"policy", 1, NULL, 'p'},
                                         {"at", 1, NULL, 't'},
                                         {"expect-report-data", 1, NULL, 'e'},
                                         {"ear-key", 1, NULL, 'k'},
                                         {"ear-out", 1, NULL, 'o'},
                                         {"json", 0, NULL, 'j'},
                                         {"help", 0, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char **slot[128] = {0};
    slot['r'] = &o->report, slot['H'] = &o->hcl, slot['v'] = &o->vcek, slot['l'] = &o->vlek;
    slot['c'] = &o->chain, slot['a'] = &o->ask, slot['A'] = &o->ark, slot['C'] = &o->crl;
    slot['p'] = &o->policy, slot['t'] = &o->at, slot['e'] = &o->expect_rd;
    slot['k'] = &o->ear_key, slot['o'] = &o->ear_out;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'j')
            o->json = 1;
        else if (c == 'h')
            return usage(stdout, -1);
        else if (c > 0 && c < 128 && slot[c])
            *slot[c] = optarg;
        else
            return usage(stderr, VEIL_EXIT_USAGE);
    }
    if (optind < argc)
        o->bundle = argv[optind++];
    bool one_source = (o->bundle != NULL) + (o->report != NULL) + (o->hcl != NULL) == 1;
    if (optind != argc || !one_source || (o->ear_key == NULL) != (o->ear_out == NULL))
        return usage(stderr, VEIL_EXIT_USAGE);
    return 0;
}

static int load_into(const char *path, veil_buf *out)
{
    if (!path)
        return 0;
    size_t n;
    char *p = cli_read_file(path, &n, MAX_INPUT);
    if (!p)
        return -1;
    veil_result r = veil_buf_append(out, p, n);
    veil_free(p);
    return veil_ok(r) ? 0 : -1;
}

/* Evidence from a bundle, or from the files real evidence is published as. */
static int load_evidence(const verify_opts *o, veil_evidence *ev)
{
    if (o->bundle) {
        size_t n;
        char *text = cli_read_file(o->bundle, &n, VEIL_EVIDENCE_MAX_JSON);
        if (!text)
            return -1;
        veil_result r = veil_evidence_parse((const uint8_t *)text, n, ev);
        veil_free(text);
        if (!veil_ok(r))
            cli_error(o->bundle, r);
        return veil_ok(r) ? 0 : -1;
    }
    veil_evidence_init(ev);
    /* --chain: the certificates after the leaf (AMD's cert_chain is ASK, ARK) */
    const char *ask = o->ask ? o->ask : o->chain;
    if (load_into(o->report, &ev->report) || load_into(o->hcl, &ev->hcl_report) ||
        load_into(o->vcek, &ev->vcek) || load_into(o->vlek, &ev->vlek) ||
        load_into(ask, &ev->ask) || load_into(o->ark, &ev->ark) || load_into(o->crl, &ev->crl))
        return -1;
    if (!o->vcek && !o->vlek && o->chain) { /* a bundle that starts with the leaf */
        veil_buf_clear(&ev->ask);
        if (load_into(o->chain, &ev->vcek))
            return -1;
    }
    return 0;
}

static int load_policy(const verify_opts *o, veil_snp_policy *p)
{
    veil_snp_policy_default(p);
    if (o->policy) {
        size_t n;
        char *text = cli_read_file(o->policy, &n, 256 << 10);
        if (!text)
            return -1;
        veil_result r = veil_snp_policy_parse(text, n, p);
        veil_free(text);
        if (!veil_ok(r)) {
            cli_error(o->policy, r);
            return -1;
        }
    }
    if (o->expect_rd) {
        veil_buf b;
        veil_buf_init(&b, 64);
        veil_result r = veil_hex_decode(o->expect_rd, strlen(o->expect_rd), &b);
        bool ok = veil_ok(r) && b.len == 64;
        if (ok)
            memcpy(p->report_data, b.data, 64);
        veil_buf_free(&b);
        if (!ok) {
            fprintf(stderr, "veil verify: --expect-report-data needs 128 hex digits\n");
            return -1;
        }
        p->have_report_data = true;
    }
    return 0;
}

static void print_human(const veil_verification *vr, const veil_snp_policy *p, int64_t at)
{
    char when[21];
    veil_time_format(at, when);
    printf("verification time %s, policy %s\n", when, p->id);
    for (size_t i = 0; i < vr->verdict.n_trace; i++) {
        const veil_check_record *c = &vr->verdict.trace[i];
        printf("  %-4s %-12s %s\n", c->passed ? "ok" : "FAIL", veil_check_name(c->check),
               c->detail);
    }
    if (veil_verdict_accepted(&vr->verdict))
        printf("ACCEPTED: %s%s\n", veil_ear_status_name(vr->ear.status),
               vr->verdict.simulated ? " (SIMULATED: no hardware protection)" : "");
    else
        printf("REJECTED: %s\n", vr->verdict.reason);
}

static void print_json(const veil_verification *vr, const veil_buf *token)
{
    json_t *trace = json_array();
    for (size_t i = 0; i < vr->verdict.n_trace; i++) {
        const veil_check_record *c = &vr->verdict.trace[i];
        json_array_append_new(trace, json_pack("{s:s,s:b,s:s}", "check", veil_check_name(c->check),
                                               "passed", c->passed, "detail", c->detail));
    }
    bool ok = veil_verdict_accepted(&vr->verdict);
    json_t *claims = vr->ear.claims_json ? json_loads(vr->ear.claims_json, 0, NULL) : json_object();
    json_t *o =
        json_pack("{s:s,s:s,s:b,s:o,s:o}", "verdict", ok ? "accepted" : "rejected", "status",
                  veil_ear_status_name(vr->ear.status), "simulated", vr->verdict.simulated,
                  "checks", trace, "claims", claims ? claims : json_object());
    if (!ok)
        json_object_set_new(o, "failed_check", json_string(veil_check_name(vr->verdict.failed)));
    if (!ok)
        json_object_set_new(o, "reason", json_string(vr->verdict.reason));
    if (token->len)
        json_object_set_new(o, "ear", json_stringn((const char *)token->data, token->len));
    char *s = veil_json_dump(o);
    printf("%s\n", s ? s : "{}");
    veil_free(s);
    json_decref(o);
}

static int sign_ear(const verify_opts *o, const veil_verification *vr, veil_buf *token)
{
    size_t n;
    char *pem = cli_read_file(o->ear_key, &n, 64 << 10);
    veil_sign_key *key = NULL;
    veil_result r = pem ? veil_sign_key_from_pem((uint8_t *)pem, n, &key)
                        : VEIL_ERR(VEIL_E_USAGE, "cannot read the EAR key");
    veil_free_wiped(pem, pem ? n : 0);
    if (veil_ok(r))
        r = veil_ear_sign(&vr->ear, key, token);
    veil_sign_key_free(key);
    if (veil_ok(r) && cli_write_file(o->ear_out, token->data, token->len, 0644) != 0)
        r = VEIL_ERR(VEIL_E_INTERNAL, "cannot write the EAR");
    if (!veil_ok(r))
        cli_error("ear", r);
    return veil_ok(r) ? 0 : -1;
}

int cmd_verify(int argc, char **argv)
{
    verify_opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc < 0 ? VEIL_EXIT_OK : rc;
    veil_evidence ev;
    veil_snp_policy *p = veil_calloc(1, sizeof *p);
    veil_verification vr = {0};
    veil_buf token;
    veil_buf_init(&token, 0);
    int64_t at = 0;
    rc = VEIL_EXIT_INPUT;
    veil_evidence_init(&ev);
    if (!p || load_policy(&o, p) || (o.at && !veil_ok(veil_time_parse(o.at, &at))))
        goto out;
    veil_evidence_free(&ev);
    if (load_evidence(&o, &ev))
        goto out;
    veil_result r = veil_verify_evidence(&ev, p, at, &vr);
    if (!veil_ok(r)) {
        cli_error("verify", r);
        rc = cli_exit_for(r);
        goto out;
    }
    vr.ear.iat = 0;
    if (o.ear_key && sign_ear(&o, &vr, &token)) {
        rc = VEIL_EXIT_INTERNAL;
        goto out;
    }
    if (o.json)
        print_json(&vr, &token);
    else
        print_human(&vr, p,
                    at                     ? at
                    : p->verification_time ? p->verification_time
                                           : (int64_t)time(NULL));
    rc = veil_verdict_accepted(&vr.verdict) && vr.ear.status == VEIL_EAR_AFFIRMING
             ? VEIL_EXIT_OK
             : VEIL_EXIT_FAILED;
out:
    if (o.at && rc == VEIL_EXIT_INPUT && at == 0)
        fprintf(stderr, "veil verify: --at: time must look like 2025-06-01T00:00:00Z or @unix\n");
    veil_verification_free(&vr);
    veil_evidence_free(&ev);
    veil_buf_free(&token);
    veil_free(p);
    return rc;
}
