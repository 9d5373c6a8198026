/* veil attest: obtain attestation evidence inside a guest and write it as an
 * evidence bundle (veil/evidence.h), or ask for a measurement-bound derived
 * key (simulator only).
 *
 *   veil attest [--report-data HEX] [--attester tsm|sim] [--tsm-dir DIR]
 *               [--sim-socket PATH] [--vmpl N] --out EVIDENCE|- [--json]
 *   veil attest --derived-key CONTEXT [--length N] [--sim-socket PATH] [--json]
 *
 * The attester defaults to "sim" when $VEIL_SIM_SOCKET is set (we run under
 * `veil sim launch`), else "tsm" (configfs-tsm of a real SEV-SNP guest). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "veil/attester.h"
#include "veil/evidence.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/snp.h"

#define DEFAULT_KEY_LEN 32
#define MAX_KEY_LEN 64

static int usage(FILE *f, int code)
{
    fprintf(f,
            "usage: veil attest [--report-data HEX] [--attester tsm|sim] [--tsm-dir DIR]\n"
            "                   [--sim-socket PATH] [--vmpl N] --out EVIDENCE|- [--json]\n"
            "       veil attest --derived-key CONTEXT [--length N] [--sim-socket PATH] [--json]\n"
            "\n"
            "Obtains SEV-SNP evidence about this guest and writes an evidence bundle (JSON)\n"
            "to EVIDENCE ('-' for stdout). REPORT_DATA is up to 64 bytes of hex, zero-padded\n"
            "(default all zero). The attester is 'sim' when $VEIL_SIM_SOCKET is set (under\n"
            "`veil sim launch`), else 'tsm': configfs-tsm at --tsm-dir (default\n"
            "%s). --vmpl asks for a report at that VMPL (0..3).\n"
            "--derived-key prints a key bound to this guest's measurement and the CONTEXT\n"
            "string (simulator only; --length 16..64 bytes, default 32).\n",
            VEIL_TSM_DEFAULT_DIR);
    return code;
}

typedef struct attest_args {
    const char *kind, *tsm_dir, *sim_socket, *out, *context;
    uint8_t report_data[64];
    unsigned vmpl;
    size_t key_len;
    int as_json;
} attest_args;

static bool parse_report_data(const char *s, uint8_t out[64])
{
    veil_buf b;
    veil_buf_init(&b, 64);
    bool ok = strlen(s) <= 128 && veil_ok(veil_hex_decode(s, strlen(s), &b));
    if (ok) {
        memset(out, 0, 64);
        memcpy(out, b.data, b.len);
    } else {
        fprintf(stderr, "veil attest: --report-data must be at most 128 hex digits (64 bytes)\n");
    }
    veil_buf_free(&b);
    return ok;
}

static bool parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int open_attester(const attest_args *a, veil_attester **att)
{
    const char *kind = a->kind;
    if (!kind)
        kind = a->sim_socket || getenv(VEIL_SIM_SOCKET_ENV) ? "sim" : "tsm";
    const char *where = !strcmp(kind, "tsm") ? a->tsm_dir : a->sim_socket;
    veil_result r = veil_attester_open(kind, where, att);
    if (veil_ok(r))
        return VEIL_EXIT_OK;
    if (!strcmp(kind, "tsm") && r.cls == VEIL_E_UNSUPPORTED) {
        fprintf(stderr,
                "veil attest: configfs-tsm not available at %s: not in a confidential VM, or "
                "the kernel lacks CONFIG_TSM_REPORTS (or configfs is not mounted)\n",
                where ? where : VEIL_TSM_DEFAULT_DIR);
        return VEIL_EXIT_FAILED;
    }
    cli_error("attest", r);
    return cli_exit_for(r);
}

static void print_summary(const attest_args *a, const veil_evidence *ev, FILE *f)
{
    veil_snp_report rep;
    char meas[2 * 48 + 1] = "", rd[2 * 64 + 1] = "";
    bool decoded = veil_ok(veil_snp_report_decode(ev->report.data, ev->report.len, &rep));
    if (decoded) {
        veil_hex_encode(rep.measurement, sizeof rep.measurement, meas);
        veil_hex_encode(rep.report_data, sizeof rep.report_data, rd);
    }
    if (a->as_json) {
        json_t *doc =
            json_pack("{s:s,s:s,s:s,s:b,s:s,s:s,s:i}", "out", a->out, "tee", ev->tee, "attester",
                      ev->attester, "simulated", ev->claims_simulated, "measurement", meas,
                      "report_data", rd, "vmpl", decoded ? (int)rep.vmpl : -1);
        json_dumpf(doc, f, JSON_INDENT(2));
        fprintf(f, "\n");
        json_decref(doc);
        return;
    }
    fprintf(f, "veil attest: wrote %s: %s report from the %s attester%s\n",
            strcmp(a->out, "-") ? a->out : "evidence to stdout", ev->tee, ev->attester,
            ev->claims_simulated ? " (SIMULATED: no confidentiality)" : "");
    if (decoded)
        fprintf(f, "measurement  %s\nreport_data  %s\nvmpl         %u\n", meas, rd, rep.vmpl);
}

static int do_evidence(const attest_args *a)
{
    veil_attester *att = NULL;
    veil_evidence ev;
    veil_buf json;
    int rc = open_attester(a, &att);
    if (rc != VEIL_EXIT_OK)
        return rc;
    veil_evidence_init(&ev);
    veil_buf_init(&json, VEIL_EVIDENCE_MAX_JSON);
    veil_result r = veil_attester_evidence(att, a->report_data, a->vmpl, &ev);
    if (veil_ok(r))
        r = veil_evidence_write(&ev, &json);
    if (!veil_ok(r)) {
        cli_error(!strcmp(veil_attester_kind(att), "tsm") ? "attest (configfs-tsm)"
                                                          : "attest (simulator)",
                  r);
        rc = cli_exit_for(r);
        goto out;
    }
    if (!strcmp(a->out, "-")) {
        fwrite(json.data, 1, json.len, stdout);
        printf("\n");
        fflush(stdout);
    } else if (cli_write_file(a->out, json.data, json.len, 0644) != 0) {
        rc = VEIL_EXIT_INTERNAL;
        goto out;
    }
    /* With the bundle on stdout, the summary goes to stderr. */
    print_summary(a, &ev, strcmp(a->out, "-") ? stdout : stderr);
out:
    veil_buf_free(&json);
    veil_evidence_free(&ev);
    veil_attester_free(att);
    return rc;
}

static int do_derived_key(const attest_args *a)
{
    veil_attester *att = NULL;
    uint8_t key[MAX_KEY_LEN];
    char hex[2 * MAX_KEY_LEN + 1];
    int rc = open_attester(a, &att);
    if (rc != VEIL_EXIT_OK)
        return rc;
    veil_result r = veil_attester_derived_key(att, a->context, key, a->key_len);
    if (!veil_ok(r)) {
        cli_error("attest --derived-key", r);
        rc = cli_exit_for(r);
    } else {
        veil_hex_encode(key, a->key_len, hex);
        json_t *doc = a->as_json ? json_pack("{s:s,s:i,s:s}", "context", a->context, "length",
                                             (int)a->key_len, "key", hex)
                                 : NULL;
        if (doc) {
            json_dumpf(doc, stdout, JSON_INDENT(2));
            printf("\n");
            json_decref(doc);
        } else
            printf("%s\n", hex);
    }
    veil_wipe(key, sizeof key);
    veil_wipe(hex, sizeof hex);
    veil_attester_free(att);
    return rc;
}

int cmd_attest(int argc, char **argv)
{
    static const struct option opts[] = {{"report-data", required_argument, NULL, 'r'},
                                         {"attester", required_argument, NULL, 'a'},
                                         {"tsm-dir", required_argument, NULL, 'T'},
                                         {"sim-socket", required_argument, NULL, 'S'},
                                         {"vmpl", required_argument, NULL, 'v'},
                                         {"out", required_argument, NULL, 'o'},
                                         {"derived-key", required_argument, NULL, 'k'},
                                         {"length", required_argument, NULL, 'l'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    attest_args a;
    unsigned long v;
    int c;
    memset(&a, 0, sizeof a);
    a.key_len = DEFAULT_KEY_LEN;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (!parse_report_data(optarg, a.report_data))
                return VEIL_EXIT_USAGE;
            break;
        case 'a':
            if (strcmp(optarg, "tsm") && strcmp(optarg, "sim")) {
                fprintf(stderr, "veil attest: --attester must be 'tsm' or 'sim'\n");
                return VEIL_EXIT_USAGE;
            }
            a.kind = optarg;
            break;
        case 'T': a.tsm_dir = optarg; break;
        case 'S': a.sim_socket = optarg; break;
        case 'v':
            if (!parse_uint(optarg, 0, 3, &v)) {
                fprintf(stderr, "veil attest: --vmpl must be 0..3\n");
                return VEIL_EXIT_USAGE;
            }
            a.vmpl = (unsigned)v;
            break;
        case 'o': a.out = optarg; break;
        case 'k': a.context = optarg; break;
        case 'l':
            if (!parse_uint(optarg, 16, MAX_KEY_LEN, &v)) {
                fprintf(stderr, "veil attest: --length must be 16..64\n");
                return VEIL_EXIT_USAGE;
            }
            a.key_len = (size_t)v;
            break;
        case 'j': a.as_json = 1; break;
        case 'h': return usage(stdout, VEIL_EXIT_OK);
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (optind != argc || (a.context && a.out) || (!a.context && !a.out))
        return usage(stderr, VEIL_EXIT_USAGE);
    if (a.kind && a.tsm_dir && strcmp(a.kind, "tsm")) {
        fprintf(stderr, "veil attest: --tsm-dir needs the tsm attester\n");
        return VEIL_EXIT_USAGE;
    }
    if (a.tsm_dir && !a.kind)
        a.kind = "tsm";
    return a.context ? do_derived_key(&a) : do_evidence(&a);
}
