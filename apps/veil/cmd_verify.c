/* veil verify: verify and appraise SEV-SNP, TDX and NVIDIA GPU evidence (one
 * CPU TEE plus its GPUs: veil/composite.h), print each check, and optionally
 * issue one signed attestation result (EAR) with a submodule per device. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "common/json_util.h"
#include "veil/appraise.h"
#include "veil/composite.h"
#include "veil/nvgpu.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/timeutil.h"

#define MAX_INPUT ((size_t)1 << 20)
#define MAX_POLICY ((size_t)256 << 10)

typedef struct verify_opts {
    const char *bundle, *report, *hcl, *vcek, *vlek, *chain, *ask, *ark, *crl;
    const char *policy, *at, *expect_rd, *ear_key, *ear_out;
    const char *quote, *collateral, *event_log, *nonce;
    size_t n_gpu_reports, n_gpu_chains, n_rims;
    const char *gpu_reports[VEIL_COMPOSITE_MAX_GPUS], *gpu_chains[VEIL_COMPOSITE_MAX_GPUS];
    const char *rims[VEIL_COMPOSITE_MAX_RIMS];
    int json;
} verify_opts;

static int usage(FILE *f, int code)
{
    fprintf(f, "usage: veil verify EVIDENCE.json [options]\n"
               "       veil verify --report FILE | --hcl-report FILE  (--vcek FILE | --vlek FILE)\n"
               "                   [--chain PEM] [--ask FILE] [--ark FILE] [--crl FILE] [options]\n"
               "       veil verify --quote FILE [--collateral FILE] [--event-log FILE] [options]\n"
               "       veil verify --gpu-report FILE --gpu-chain PEM --nonce HEX [--rim FILE]...\n"
               "                   [options]\n"
               "GPU entries (--gpu-report/--gpu-chain pairs, in order) may follow CPU evidence:\n"
               "the GPU nonces and REPORT_DATA then derive from --nonce (docs/attestation.md).\n"
               "options:\n"
               "  --policy FILE              reference values (docs/policy.md); default: {}\n"
               "  --at TIME                  verification time (2025-06-01T00:00:00Z, @unix); "
               "default now\n"
               "  --nonce HEX                the verifier nonce (16..64 bytes; a GPU alone: its\n"
               "                             32-byte SPDM nonce)\n"
               "  --expect-report-data HEX   the 64-byte value the guest must have bound (base B)\n"
               "  --rim FILE                 an NVIDIA driver or VBIOS RIM (repeatable)\n"
               "  --ear-key KEY.pem --ear-out FILE   sign the attestation result (EAR JWT, ES384)\n"
               "  --json                     machine-readable output\n"
               "Exit: 0 affirming, 1 rejected or not affirming, 2 usage, 3 unreadable input.\n");
    return code;
}

static int add_path(const char **arr, size_t *n, size_t cap, const char *v)
{
    if (*n >= cap) {
        fprintf(stderr, "veil verify: at most %zu of each repeatable option\n", cap);
        return -1;
    }
    arr[(*n)++] = v;
    return 0;
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
                                         {"quote", 1, NULL, 'q'},
                                         {"collateral", 1, NULL, 'L'},
                                         {"event-log", 1, NULL, 'E'},
                                         {"nonce", 1, NULL, 'n'},
                                         {"gpu-report", 1, NULL, 'g'},
                                         {"gpu-chain", 1, NULL, 'G'},
                                         {"rim", 1, NULL, 'R'},
                                         {"json", 0, NULL, 'j'},
                                         {"help", 0, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char **slot[128] = {0};
    slot['r'] = &o->report, slot['H'] = &o->hcl, slot['v'] = &o->vcek, slot['l'] = &o->vlek;
    slot['c'] = &o->chain, slot['a'] = &o->ask, slot['A'] = &o->ark, slot['C'] = &o->crl;
    slot['p'] = &o->policy, slot['t'] = &o->at, slot['e'] = &o->expect_rd;
    slot['k'] = &o->ear_key, slot['o'] = &o->ear_out;
    slot['q'] = &o->quote, slot['L'] = &o->collateral, slot['E'] = &o->event_log;
    slot['n'] = &o->nonce;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'j')
            o->json = 1;
        else if (c == 'h')
            return usage(stdout, -1);
        else if (c == 'g' || c == 'G' || c == 'R') {
            int bad =
                c == 'g'
                    ? add_path(o->gpu_reports, &o->n_gpu_reports, VEIL_COMPOSITE_MAX_GPUS, optarg)
                : c == 'G'
                    ? add_path(o->gpu_chains, &o->n_gpu_chains, VEIL_COMPOSITE_MAX_GPUS, optarg)
                    : add_path(o->rims, &o->n_rims, VEIL_COMPOSITE_MAX_RIMS, optarg);
            if (bad)
                return VEIL_EXIT_USAGE;
        } else if (c > 0 && c < 128 && slot[c])
            *slot[c] = optarg;
        else
            return usage(stderr, VEIL_EXIT_USAGE);
    }
    if (optind < argc)
        o->bundle = argv[optind++];
    int sources = (o->bundle != NULL) + (o->report != NULL) + (o->hcl != NULL) + (o->quote != NULL);
    bool gpu_only = sources == 0 && o->n_gpu_reports > 0;
    bool ok = (sources == 1 || gpu_only) && o->n_gpu_reports == o->n_gpu_chains &&
              !(o->bundle && o->n_gpu_reports) && !(gpu_only && (!o->nonce || o->expect_rd)) &&
              !((o->collateral || o->event_log) && !o->quote) &&
              !(o->quote && (o->vcek || o->vlek || o->chain || o->ask || o->ark || o->crl));
    if (optind != argc || !ok || (o->ear_key == NULL) != (o->ear_out == NULL))
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
    if (!veil_ok(r))
        cli_error(path, r);
    return veil_ok(r) ? 0 : -1;
}

/* A GPU report file holds the raw evidence, or (as nvtrust publishes it) its hex. */
static int load_gpu_report(const char *path, veil_buf *out)
{
    size_t n, k = 0;
    char *p = cli_read_file(path, &n, 2 * VEIL_EVIDENCE_MAX_GPU_REPORT + 4096);
    if (!p)
        return -1;
    bool hex = n > 0;
    for (size_t i = 0; i < n && hex; i++) {
        char c = p[i];
        if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
            continue;
        hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        p[k++] = c;
    }
    veil_result r = hex ? veil_hex_decode(p, k, out) : veil_buf_append(out, p, n);
    veil_free(p);
    if (!veil_ok(r))
        cli_error(path, r);
    return veil_ok(r) ? 0 : -1;
}

static int load_gpus(const verify_opts *o, veil_evidence *ev)
{
    for (size_t i = 0; i < o->n_gpu_reports; i++) {
        if (load_gpu_report(o->gpu_reports[i], &ev->gpus[i].report) ||
            load_into(o->gpu_chains[i], &ev->gpus[i].certs))
            return -1;
        ev->n_gpus = i + 1;
    }
    return 0;
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
    if (load_gpus(o, ev))
        return -1;
    if (o->quote) {
        snprintf(ev->tee, sizeof ev->tee, "tdx");
        return load_into(o->quote, &ev->quote) || load_into(o->collateral, &ev->collateral) ||
                       load_into(o->event_log, &ev->event_log)
                   ? -1
                   : 0;
    }
    snprintf(ev->tee, sizeof ev->tee, "sev-snp");
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

static int hex_arg(const char *name, const char *hex, size_t min, size_t max, uint8_t *out,
                   size_t *len)
{
    veil_buf b;
    veil_buf_init(&b, max);
    veil_result r = veil_hex_decode(hex, strlen(hex), &b);
    bool ok = veil_ok(r) && b.len >= min && b.len <= max;
    if (ok) {
        memcpy(out, b.data, b.len);
        *len = b.len;
    }
    veil_buf_free(&b);
    if (!ok)
        fprintf(stderr, "veil verify: %s needs %zu..%zu bytes of hex\n", name, min, max);
    return ok ? 0 : -1;
}

/* B: --expect-report-data as given, or from --nonce. */
static int load_base(const verify_opts *o, uint8_t base[64], bool *have)
{
    uint8_t n[VEIL_COMPOSITE_NONCE_MAX];
    size_t len = 0;
    *have = false;
    if (o->expect_rd && o->nonce) {
        fprintf(stderr, "veil verify: give --nonce or --expect-report-data, not both\n");
        return -1;
    }
    if (o->expect_rd) {
        if (hex_arg("--expect-report-data", o->expect_rd, 64, 64, base, &len))
            return -1;
        *have = true;
    } else if (o->nonce) {
        if (hex_arg("--nonce", o->nonce, VEIL_COMPOSITE_NONCE_MIN, VEIL_COMPOSITE_NONCE_MAX, n,
                    &len) ||
            !veil_ok(veil_composite_base_from_nonce(n, len, base)))
            return -1;
        *have = true;
    }
    return 0;
}

static int load_rims(const verify_opts *o, veil_composite_rim *rims, char **texts)
{
    for (size_t i = 0; i < o->n_rims; i++) {
        size_t n;
        texts[i] = cli_read_file(o->rims[i], &n, VEIL_NVGPU_RIM_MAX_XML);
        if (!texts[i])
            return -1;
        rims[i].xml = (const uint8_t *)texts[i];
        rims[i].len = n;
    }
    return 0;
}

static void print_human(const veil_composite_result *vr, int64_t at)
{
    char when[21];
    veil_time_format(at, when);
    printf("verification time %s, policy %s\n", when, vr->policy_id);
    for (size_t i = 0; i < vr->verdict.n_trace; i++) {
        const veil_check_record *c = &vr->verdict.trace[i];
        printf("  %-4s %-12s %s\n", c->passed ? "ok" : "FAIL", veil_check_name(c->check),
               c->detail);
    }
    for (size_t d = 0; vr->n_devices > 1 && d < vr->n_devices; d++) {
        const veil_ear *e = &vr->devices[d].ear;
        printf("  %-4s %-12s %s%s%s%s\n", "dev", vr->devices[d].name,
               veil_ear_status_name(e->status), e->failed_check[0] ? " (failed: " : "",
               e->failed_check, e->failed_check[0] ? ")" : "");
    }
    if (veil_verdict_accepted(&vr->verdict))
        printf("ACCEPTED: %s%s\n", veil_ear_status_name(vr->status),
               vr->simulated ? " (SIMULATED: no hardware protection)" : "");
    else
        printf("REJECTED: %s\n", vr->verdict.reason);
}

static json_t *claims_of(const veil_ear *ear)
{
    json_t *c = ear->claims_json ? json_loads(ear->claims_json, 0, NULL) : NULL;
    return c ? c : json_object();
}

static void print_json(const veil_composite_result *vr, const veil_buf *token)
{
    json_t *trace = json_array();
    for (size_t i = 0; i < vr->verdict.n_trace; i++) {
        const veil_check_record *c = &vr->verdict.trace[i];
        json_array_append_new(trace, json_pack("{s:s,s:b,s:s}", "check", veil_check_name(c->check),
                                               "passed", c->passed, "detail", c->detail));
    }
    json_t *subs = json_object();
    for (size_t d = 0; d < vr->n_devices; d++) {
        const veil_ear *e = &vr->devices[d].ear;
        json_t *sm = json_pack("{s:s,s:b,s:o}", "status", veil_ear_status_name(e->status),
                               "simulated", e->simulated, "claims", claims_of(e));
        if (sm && e->failed_check[0])
            json_object_set_new(sm, "failed_check", json_string(e->failed_check));
        json_object_set_new(subs, vr->devices[d].name, sm);
    }
    bool ok = veil_verdict_accepted(&vr->verdict);
    json_t *claims = vr->n_devices ? claims_of(&vr->devices[0].ear) : json_object();
    json_t *o =
        json_pack("{s:s,s:s,s:b,s:o,s:o,s:o,s:s}", "verdict", ok ? "accepted" : "rejected",
                  "status", veil_ear_status_name(vr->status), "simulated", vr->simulated, "checks",
                  trace, "claims", claims, "submods", subs, "policy_id", vr->policy_id);
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

static int sign_ear(const verify_opts *o, const veil_composite_result *vr, veil_buf *token)
{
    size_t n;
    char *pem = cli_read_file(o->ear_key, &n, 64 << 10);
    veil_sign_key *key = NULL;
    veil_result r = pem ? veil_sign_key_from_pem((uint8_t *)pem, n, &key)
                        : VEIL_ERR(VEIL_E_USAGE, "cannot read the EAR key");
    veil_free_wiped(pem, pem ? n : 0);
    if (veil_ok(r))
        r = veil_composite_sign(vr, key, token);
    veil_sign_key_free(key);
    if (veil_ok(r) && cli_write_file(o->ear_out, token->data, token->len, 0644) != 0)
        r = VEIL_ERR(VEIL_E_INTERNAL, "cannot write the EAR");
    if (!veil_ok(r))
        cli_error("ear", r);
    return veil_ok(r) ? 0 : -1;
}

static veil_result run(const verify_opts *o, const veil_evidence *ev, const char *policy, size_t pn,
                       const uint8_t *base, int64_t at, const veil_composite_rim *rims,
                       veil_composite_result *vr)
{
    bool gpu_only = !o->bundle && !o->report && !o->hcl && !o->quote;
    if (!gpu_only)
        return veil_verify_composite_rims(ev, policy, pn, base, at, rims, o->n_rims, vr);
    uint8_t nonce[VEIL_COMPOSITE_GPU_NONCE_LEN];
    size_t len = 0;
    if (ev->n_gpus != 1 || hex_arg("--nonce", o->nonce, sizeof nonce, sizeof nonce, nonce, &len))
        return VEIL_ERR(VEIL_E_USAGE, "a GPU alone: one --gpu-report and a 32-byte --nonce");
    return veil_verify_gpu_only(&ev->gpus[0], nonce, policy, pn, at, rims, o->n_rims, vr);
}

int cmd_verify(int argc, char **argv)
{
    verify_opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc < 0 ? VEIL_EXIT_OK : rc;
    veil_evidence ev;
    veil_composite_result *vr = veil_calloc(1, sizeof *vr);
    veil_composite_rim rims[VEIL_COMPOSITE_MAX_RIMS];
    char *rim_text[VEIL_COMPOSITE_MAX_RIMS] = {0};
    char *policy = NULL;
    size_t pn = 0;
    uint8_t base[64];
    bool have_base = false;
    veil_buf token;
    veil_buf_init(&token, 0);
    int64_t at = 0;
    rc = VEIL_EXIT_INPUT;
    veil_evidence_init(&ev);
    if (!vr || (o.policy && !(policy = cli_read_file(o.policy, &pn, MAX_POLICY))) ||
        (o.at && !veil_ok(veil_time_parse(o.at, &at))) || load_base(&o, base, &have_base) ||
        load_rims(&o, rims, rim_text))
        goto out;
    veil_evidence_free(&ev);
    if (load_evidence(&o, &ev))
        goto out;
    veil_result r = run(&o, &ev, policy, pn, have_base ? base : NULL, at, rims, vr);
    if (!veil_ok(r)) {
        cli_error(r.cls == VEIL_E_PROTOCOL && o.policy ? o.policy : "verify", r);
        rc = cli_exit_for(r);
        goto out;
    }
    if (o.ear_key && sign_ear(&o, vr, &token)) {
        rc = VEIL_EXIT_INTERNAL;
        goto out;
    }
    if (o.json)
        print_json(vr, &token);
    else
        print_human(vr, vr->at ? vr->at : (int64_t)time(NULL));
    rc = veil_verdict_accepted(&vr->verdict) && vr->status == VEIL_EAR_AFFIRMING ? VEIL_EXIT_OK
                                                                                 : VEIL_EXIT_FAILED;
out:
    if (o.at && rc == VEIL_EXIT_INPUT && at == 0)
        fprintf(stderr, "veil verify: --at: time must look like 2025-06-01T00:00:00Z or @unix\n");
    for (size_t i = 0; i < VEIL_COMPOSITE_MAX_RIMS; i++)
        veil_free(rim_text[i]);
    veil_composite_result_free(vr);
    veil_free(vr);
    veil_evidence_free(&ev);
    veil_buf_free(&token);
    veil_free(policy);
    return rc;
}
