/* veil attest: obtain attestation evidence inside a guest and write it as an
 * evidence bundle (veil/evidence.h), or ask for a measurement-bound derived
 * key (simulator only).
 *
 *   veil attest [--report-data HEX | --nonce HEX | --base HEX] [--gpus N]
 *               [--gpu-sim-dir DIR] [--attester tsm|sim] [--tsm-dir DIR]
 *               [--sim-socket PATH] [--vmpl N] --out EVIDENCE|- [--json]
 *   veil attest --derived-key CONTEXT [--length N] [--sim-socket PATH] [--json]
 *
 * The attester defaults to "sim" when $VEIL_SIM_SOCKET is set (we run under
 * `veil sim launch`), else "tsm" (configfs-tsm of a real SEV-SNP guest).
 * With --gpus N the bundle also carries N GPU entries (veil/composite.h):
 * simulated GPUs of the sim state directory under "sim", the NVIDIA GPUs
 * (NVML) under "tsm", each asked with its derived nonce, and REPORT_DATA
 * binds them all to B (--nonce N: B = SHA-512("veil-verify-v1" || N)). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sim/gpu_sim.h"
#include "veil/attester.h"
#include "veil/composite.h"
#include "veil/evidence.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/nvgpu_attester.h"
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
            "--nonce HEX (16..64 bytes, the verifier's) or --base HEX (64 bytes) sets the\n"
            "base B of docs/attestation.md; --gpus N (1..16) adds N GPU entries whose\n"
            "nonces derive from B, and REPORT_DATA binds them (simulated GPUs of the sim\n"
            "state directory, default the directory of $VEIL_SIM_SOCKET, or --gpu-sim-dir;\n"
            "NVIDIA GPUs through NVML with the tsm attester).\n"
            "--derived-key prints a key bound to this guest's measurement and the CONTEXT\n"
            "string (simulator only; --length 16..64 bytes, default 32).\n",
            VEIL_TSM_DEFAULT_DIR);
    return code;
}

typedef struct attest_args {
    const char *kind, *tsm_dir, *sim_socket, *out, *context, *gpu_sim_dir;
    uint8_t report_data[64];
    bool have_rd, have_base;
    uint8_t base[64];
    size_t n_gpus;
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

static bool parse_hex_exact(const char *what, const char *s, size_t min, size_t max, uint8_t *out,
                            size_t *len)
{
    veil_buf b;
    veil_buf_init(&b, max);
    bool ok = veil_ok(veil_hex_decode(s, strlen(s), &b)) && b.len >= min && b.len <= max;
    if (ok) {
        memcpy(out, b.data, b.len);
        *len = b.len;
    } else {
        fprintf(stderr, "veil attest: %s must be %zu..%zu bytes of hex\n", what, min, max);
    }
    veil_buf_free(&b);
    return ok;
}

/* The simulated GPUs' state: --gpu-sim-dir, else the directory of the sim socket. */
static int gpu_sim_dir(const attest_args *a, char *out, size_t cap)
{
    const char *sock = a->sim_socket ? a->sim_socket : getenv(VEIL_SIM_SOCKET_ENV);
    const char *src = a->gpu_sim_dir ? a->gpu_sim_dir : sock;
    if (!src || strlen(src) >= cap) {
        fprintf(stderr, "veil attest: --gpus with the sim attester needs `veil sim launch` or "
                        "--gpu-sim-dir DIR\n");
        return -1;
    }
    snprintf(out, cap, "%s", src);
    if (!a->gpu_sim_dir) {
        char *slash = strrchr(out, '/');
        if (!slash)
            snprintf(out, cap, ".");
        else if (slash == out)
            out[1] = '\0';
        else
            *slash = '\0';
    }
    return 0;
}

static veil_result sim_gpus(const attest_args *a, const char *dir, veil_evidence *gev)
{
    veil_result r = VEIL_OK;
    veil_gpu_sim g;
    veil_gpu_sim_init(&g);
    VEIL_TRY(r, veil_gpu_sim_open(dir, NULL, &g));
    for (size_t i = 0; i < a->n_gpus; i++) {
        uint8_t nonce[VEIL_COMPOSITE_GPU_NONCE_LEN];
        VEIL_TRY(r, veil_composite_gpu_nonce(a->base, (unsigned)i, nonce));
        VEIL_TRY(r, veil_gpu_sim_evidence(&g, nonce, &gev->gpus[i].report));
        VEIL_TRY(r, veil_buf_append(&gev->gpus[i].certs, g.chain_pem.data, g.chain_pem.len));
        snprintf(gev->gpus[i].cc_mode, sizeof gev->gpus[i].cc_mode, "on");
        gev->n_gpus = i + 1;
    }
out:
    veil_gpu_sim_free(&g);
    return r;
}

/* NVIDIA GPUs through NVML: GPU i is asked with nonce i (one collection per nonce). */
static veil_result nvml_gpus(const attest_args *a, veil_evidence *gev)
{
    veil_result r = VEIL_OK;
    veil_nvgpu_evidence *all = veil_calloc(VEIL_COMPOSITE_MAX_GPUS, sizeof *all);
    VEIL_ENSURE_GOTO(r, all != NULL, VEIL_E_NOMEM, "attest: out of memory");
    for (size_t i = 0; i < a->n_gpus; i++) {
        uint8_t nonce[VEIL_COMPOSITE_GPU_NONCE_LEN];
        size_t n = 0;
        VEIL_TRY(r, veil_composite_gpu_nonce(a->base, (unsigned)i, nonce));
        VEIL_TRY(r, veil_nvgpu_attester_collect(nonce, all, VEIL_COMPOSITE_MAX_GPUS, &n));
        VEIL_ENSURE_GOTO(r, n >= a->n_gpus, VEIL_E_UNSUPPORTED,
                         "attest: fewer NVIDIA GPUs than --gpus asks for");
        VEIL_TRY(r, veil_buf_append(&gev->gpus[i].report, all[i].report, all[i].report_len));
        VEIL_TRY(r, veil_buf_append(&gev->gpus[i].certs, all[i].chain_pem, all[i].chain_len));
        snprintf(gev->gpus[i].cc_mode, sizeof gev->gpus[i].cc_mode, "%s",
                 veil_nvgpu_cc_mode_name(all[i].cc_mode));
        gev->n_gpus = i + 1;
    }
out:
    if (all)
        veil_free_wiped(all, VEIL_COMPOSITE_MAX_GPUS * sizeof *all);
    return r;
}

/* GPU entries first, then REPORT_DATA over them (or B itself without GPUs). */
static int gpu_binding(const attest_args *a, const veil_attester *att, veil_evidence *gev,
                       uint8_t report_data[64])
{
    veil_result r = VEIL_OK;
    char dir[VEIL_GPU_SIM_PATH_MAX];
    memcpy(report_data, a->report_data, 64);
    if (!a->have_base)
        return VEIL_EXIT_OK;
    if (a->n_gpus > 0) {
        if (!strcmp(veil_attester_kind(att), "sim")) {
            if (gpu_sim_dir(a, dir, sizeof dir))
                return VEIL_EXIT_USAGE;
            r = sim_gpus(a, dir, gev);
        } else {
            r = nvml_gpus(a, gev);
        }
    }
    if (veil_ok(r))
        r = veil_composite_report_data_ev(a->base, gev, report_data);
    if (!veil_ok(r)) {
        cli_error("attest (GPUs)", r);
        return cli_exit_for(r);
    }
    return VEIL_EXIT_OK;
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
        json_t *doc = json_pack("{s:s,s:s,s:s,s:b,s:s,s:s,s:i,s:i}", "out", a->out, "tee", ev->tee,
                                "attester", ev->attester, "simulated", ev->claims_simulated,
                                "measurement", meas, "report_data", rd, "vmpl",
                                decoded ? (int)rep.vmpl : -1, "gpus", (int)ev->n_gpus);
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
    if (ev->n_gpus)
        fprintf(f, "gpus         %zu (nonces and REPORT_DATA bound to B)\n", ev->n_gpus);
}

static int do_evidence(const attest_args *a)
{
    veil_attester *att = NULL;
    veil_evidence ev;
    veil_evidence *gev = veil_calloc(1, sizeof *gev);
    veil_buf json;
    uint8_t report_data[64];
    veil_evidence_init(&ev);
    veil_buf_init(&json, VEIL_EVIDENCE_MAX_JSON);
    int rc = gev ? open_attester(a, &att) : VEIL_EXIT_INTERNAL;
    if (rc != VEIL_EXIT_OK)
        goto out;
    veil_evidence_init(gev);
    rc = gpu_binding(a, att, gev, report_data);
    if (rc != VEIL_EXIT_OK)
        goto out;
    veil_result r = veil_attester_evidence(att, report_data, a->vmpl, &ev);
    for (size_t i = 0; veil_ok(r) && i < gev->n_gpus; i++) { /* move the GPU entries in */
        veil_evidence_gpu t = ev.gpus[i];
        ev.gpus[i] = gev->gpus[i];
        gev->gpus[i] = t;
        ev.n_gpus = i + 1;
    }
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
    if (gev)
        veil_evidence_free(gev);
    veil_free(gev);
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
                                         {"nonce", required_argument, NULL, 'n'},
                                         {"base", required_argument, NULL, 'b'},
                                         {"gpus", required_argument, NULL, 'g'},
                                         {"gpu-sim-dir", required_argument, NULL, 'G'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    attest_args a;
    unsigned long v;
    uint8_t nonce[VEIL_COMPOSITE_NONCE_MAX];
    size_t len = 0;
    int c;
    memset(&a, 0, sizeof a);
    a.key_len = DEFAULT_KEY_LEN;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (!parse_report_data(optarg, a.report_data))
                return VEIL_EXIT_USAGE;
            a.have_rd = true;
            break;
        case 'n':
            if (a.have_base ||
                !parse_hex_exact("--nonce", optarg, VEIL_COMPOSITE_NONCE_MIN,
                                 VEIL_COMPOSITE_NONCE_MAX, nonce, &len) ||
                !veil_ok(veil_composite_base_from_nonce(nonce, len, a.base)))
                return usage(stderr, VEIL_EXIT_USAGE);
            a.have_base = true;
            break;
        case 'b':
            if (a.have_base || !parse_hex_exact("--base", optarg, 64, 64, a.base, &len))
                return usage(stderr, VEIL_EXIT_USAGE);
            a.have_base = true;
            break;
        case 'g':
            if (!parse_uint(optarg, 1, VEIL_COMPOSITE_MAX_GPUS, &v)) {
                fprintf(stderr, "veil attest: --gpus must be 1..16\n");
                return VEIL_EXIT_USAGE;
            }
            a.n_gpus = (size_t)v;
            break;
        case 'G': a.gpu_sim_dir = optarg; break;
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
    if ((a.have_rd && a.have_base) || (a.n_gpus && !a.have_base) || (a.gpu_sim_dir && !a.n_gpus)) {
        fprintf(stderr, "veil attest: --gpus needs --nonce or --base (not --report-data); "
                        "--gpu-sim-dir needs --gpus\n");
        return VEIL_EXIT_USAGE;
    }
    if (a.kind && a.tsm_dir && strcmp(a.kind, "tsm")) {
        fprintf(stderr, "veil attest: --tsm-dir needs the tsm attester\n");
        return VEIL_EXIT_USAGE;
    }
    if (a.tsm_dir && !a.kind)
        a.kind = "tsm";
    return a.context ? do_derived_key(&a) : do_evidence(&a);
}
