/* veil sim: the simulated AMD secure processor (src/sim/sim.h).
 *
 *   veil sim init   --state DIR [--json]
 *   veil sim launch --state DIR [--policy HEX] [--host-data HEX] [--config FILE]...
 *                   -- COMMAND [ARGS...]
 *   veil sim tsm    --state DIR --dir TSMDIR [--measure-file FILE]... [--policy HEX]
 *                   [--host-data HEX] [--max-seconds N]
 *
 * It gives no confidentiality: it lets the attestation code paths run on a
 * machine without SEV-SNP, under a root that is named SIMULATED and trusted
 * only by policies that name its fingerprint. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sim/sim.h"
#include "veil/hex.h"
#include "veil/mem.h"

#define MAX_CONFIGS 64
#define HEX_LD (2 * VEIL_MEASUREMENT_LEN + 1)
/* The default measurement of `veil sim tsm`: veil_sim_measure of one empty
 * file with this name (`veil measure --sim` of an empty file so named). */
#define TSM_DEFAULT_GUEST "veil-sim-tsm-guest"

static int usage(FILE *f, int code)
{
    fprintf(f, "usage: veil sim init   --state DIR [--json]\n"
               "       veil sim launch --state DIR [--policy HEX] [--host-data HEX]\n"
               "                       [--config FILE]... -- COMMAND [ARGS...]\n"
               "       veil sim tsm    --state DIR --dir TSMDIR [--measure-file FILE]...\n"
               "                       [--policy HEX] [--host-data HEX] [--max-seconds N]\n"
               "\n"
               "A SIMULATED AMD SEV-SNP secure processor, for machines without one. It gives\n"
               "no memory encryption and no confidentiality; its certificate chain is named\n"
               "SIMULATED and is trusted only by a policy that names its ARK fingerprint.\n"
               "\n"
               "init    create (once) a simulated chip in DIR (mode 0700): CHIP_ID, TCB, a\n"
               "        root secret, and a simulated ARK -> ASK -> VCEK chain. Prints the\n"
               "        simulated ARK's SHA-256 fingerprint. Idempotent.\n"
               "launch  measure COMMAND (resolved in PATH) and each --config FILE in order,\n"
               "        run it with VEIL_SIM_SOCKET set, and answer its report and derived-key\n"
               "        requests (only from it and its descendants) until it exits; exits\n"
               "        with its status. Policy defaults to 0x30000.\n"
               "tsm     serve an emulated configfs-tsm report tree at TSMDIR (inotify) so\n"
               "        `veil attest --attester tsm --tsm-dir TSMDIR` runs its real code\n"
               "        path. The measurement is that of the --measure-file files (first =\n"
               "        executable), else of one empty file named '" TSM_DEFAULT_GUEST "'.\n"
               "        Stops on SIGTERM/SIGINT or after --max-seconds.\n");
    return code;
}

static int fail(const char *what, veil_result r)
{
    cli_error(what, r);
    return cli_exit_for(r);
}

static bool parse_policy(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 16);
    if (!*s || *end || errno || !veil_sim_policy_valid(v)) {
        fprintf(stderr, "veil sim: --policy must be hex with bit 17 set and bits 63:26 clear "
                        "(e.g. 0x30000)\n");
        return false;
    }
    *out = v;
    return true;
}

/* Up to 32 bytes of hex, zero-padded on the right. */
static bool parse_host_data(const char *s, uint8_t out[32])
{
    veil_buf b;
    veil_buf_init(&b, 32);
    bool ok = strlen(s) <= 64 && veil_ok(veil_hex_decode(s, strlen(s), &b));
    if (ok) {
        memset(out, 0, 32);
        memcpy(out, b.data, b.len);
    } else {
        fprintf(stderr, "veil sim: --host-data must be at most 64 hex digits\n");
    }
    veil_buf_free(&b);
    return ok;
}

/* ---- init ------------------------------------------------------------------- */

static int sim_init(int argc, char **argv)
{
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    int as_json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': dir = optarg; break;
        case 'j': as_json = 1; break;
        case 'h': return usage(stdout, VEIL_EXIT_OK);
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (!dir || optind != argc)
        return usage(stderr, VEIL_EXIT_USAGE);

    veil_sim_state st;
    bool created = false;
    veil_sim_state_init(&st);
    veil_result r = veil_sim_state_create(dir, &created, &st);
    if (!veil_ok(r))
        return fail("sim init", r);
    char chip[2 * VEIL_SIM_CHIP_ID_BYTES + 1], fp[65];
    veil_hex_encode(st.chip_id, sizeof st.chip_id, chip);
    veil_hex_encode(st.ark_sha256, sizeof st.ark_sha256, fp);
    if (as_json) {
        json_t *doc =
            json_pack("{s:s,s:b,s:b,s:s,s:s,s:{s:i,s:i,s:i,s:i},s:s,s:s+,s:s+,s:s+}", "state",
                      st.dir, "created", created, "simulated", 1, "product", VEIL_SIM_PRODUCT,
                      "chip_id", chip, "tcb", "bootloader", st.tcb.bootloader, "tee", st.tcb.tee,
                      "snp", st.tcb.snp, "microcode", st.tcb.microcode, "ark_sha256", fp, "ark",
                      st.dir, "/ark.der", "ask", st.dir, "/ask.der", "vcek", st.dir, "/vcek.der");
        json_dumpf(doc, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(doc);
    } else {
        printf("%s simulated chip in %s\n"
               "SIMULATED secure processor: no memory encryption, no confidentiality.\n"
               "product     %s\n"
               "chip_id     %s\n"
               "tcb         bl %u tee %u snp %u ucode %u\n"
               "ark_sha256  %s\n"
               "            (a policy trusts this simulated root only by naming this "
               "fingerprint)\n"
               "ark         %s/ark.der\n",
               created ? "created a" : "using the existing", st.dir, VEIL_SIM_PRODUCT, chip,
               st.tcb.bootloader, st.tcb.tee, st.tcb.snp, st.tcb.microcode, fp, st.dir);
    }
    veil_sim_state_free(&st);
    return VEIL_EXIT_OK;
}

/* ---- launch ------------------------------------------------------------------- */

static int sim_launch(int argc, char **argv)
{
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"policy", required_argument, NULL, 'p'},
                                         {"host-data", required_argument, NULL, 'd'},
                                         {"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    const char *paths[1 + MAX_CONFIGS];
    size_t n_paths = 1;
    veil_sim_guest g;
    char exe[VEIL_SIM_PATH_MAX], sock[VEIL_SIM_PATH_MAX], hex[HEX_LD];
    int c;

    veil_result r = veil_sim_guest_init(&g);
    if (!veil_ok(r))
        return fail("sim launch", r);
    optind = 1;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case 's': dir = optarg; break;
        case 'p':
            if (!parse_policy(optarg, &g.policy))
                return VEIL_EXIT_USAGE;
            break;
        case 'd':
            if (!parse_host_data(optarg, g.host_data))
                return VEIL_EXIT_USAGE;
            break;
        case 'c':
            if (n_paths == 1 + MAX_CONFIGS) {
                fprintf(stderr, "veil sim launch: at most %d --config files\n", MAX_CONFIGS);
                return VEIL_EXIT_USAGE;
            }
            paths[n_paths++] = optarg;
            break;
        case 'h': return usage(stdout, VEIL_EXIT_OK);
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (!dir || optind >= argc) {
        fprintf(stderr, "veil sim launch: need --state DIR and a command after '--'\n");
        return usage(stderr, VEIL_EXIT_USAGE);
    }
    r = veil_sim_resolve_command(argv[optind], exe, sizeof exe);
    if (!veil_ok(r)) {
        fprintf(stderr, "veil sim launch: %s: %s\n", argv[optind], r.msg);
        return VEIL_EXIT_USAGE;
    }
    paths[0] = exe;

    veil_sim_state st;
    veil_sim_server *srv = NULL;
    int rc = VEIL_EXIT_INTERNAL, status = 0;
    size_t bad = n_paths;
    veil_sim_state_init(&st);
    r = veil_sim_state_load(dir, &st);
    if (!veil_ok(r)) {
        rc = fail("sim launch", r);
        goto out;
    }
    r = veil_sim_measure_paths(paths, n_paths, g.measurement, &bad);
    if (!veil_ok(r)) {
        fprintf(stderr, "veil sim launch: %s: %s\n", bad < n_paths ? paths[bad] : "guest", r.msg);
        rc = cli_exit_for(r) == VEIL_EXIT_USAGE ? VEIL_EXIT_USAGE : VEIL_EXIT_INPUT;
        goto out;
    }
    r = veil_sim_socket_path(&st, sock, sizeof sock);
    if (veil_ok(r))
        r = veil_sim_server_open(&st, &g, sock, &srv);
    if (!veil_ok(r)) {
        rc = fail("sim launch", r);
        goto out;
    }
    veil_hex_encode(g.measurement, sizeof g.measurement, hex);
    fprintf(stderr,
            "veil sim: launching %s (SIMULATED SEV-SNP guest: no confidentiality)\n"
            "veil sim: measurement %s\n"
            "veil sim: policy 0x%llx, %zu config file(s), socket %s\n",
            exe, hex, (unsigned long long)g.policy, n_paths - 1, sock);
    r = veil_sim_run_guest(srv, sock, exe, argv + optind, &status);
    if (!veil_ok(r)) {
        rc = fail("sim launch", r);
        goto out;
    }
    rc = status;
out:
    veil_sim_server_free(srv);
    veil_sim_state_free(&st);
    return rc;
}

/* ---- tsm ------------------------------------------------------------------------- */

static void tsm_ready(void *arg)
{
    fprintf(stderr, "veil sim tsm: ready: serving an emulated configfs-tsm tree at %s\n",
            (const char *)arg);
    fflush(stderr);
}

static int sim_tsm(int argc, char **argv)
{
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"dir", required_argument, NULL, 'D'},
                                         {"measure-file", required_argument, NULL, 'm'},
                                         {"policy", required_argument, NULL, 'p'},
                                         {"host-data", required_argument, NULL, 'd'},
                                         {"max-seconds", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *dir = NULL, *tsm_dir = NULL;
    const char *files[1 + MAX_CONFIGS];
    size_t n_files = 0;
    unsigned long max_seconds = 0;
    veil_sim_guest g;
    char hex[HEX_LD];
    int c;

    veil_result r = veil_sim_guest_init(&g);
    if (!veil_ok(r))
        return fail("sim tsm", r);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': dir = optarg; break;
        case 'D': tsm_dir = optarg; break;
        case 'm':
            if (n_files == 1 + MAX_CONFIGS) {
                fprintf(stderr, "veil sim tsm: too many --measure-file files\n");
                return VEIL_EXIT_USAGE;
            }
            files[n_files++] = optarg;
            break;
        case 'p':
            if (!parse_policy(optarg, &g.policy))
                return VEIL_EXIT_USAGE;
            break;
        case 'd':
            if (!parse_host_data(optarg, g.host_data))
                return VEIL_EXIT_USAGE;
            break;
        case 't': {
            char *end;
            max_seconds = strtoul(optarg, &end, 10);
            if (!*optarg || *end || max_seconds > 86400) {
                fprintf(stderr, "veil sim tsm: --max-seconds must be 0..86400\n");
                return VEIL_EXIT_USAGE;
            }
            break;
        }
        case 'h': return usage(stdout, VEIL_EXIT_OK);
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (!dir || !tsm_dir || optind != argc)
        return usage(stderr, VEIL_EXIT_USAGE);

    veil_sim_state st;
    int rc = VEIL_EXIT_OK;
    size_t bad = n_files;
    veil_sim_state_init(&st);
    r = veil_sim_state_load(dir, &st);
    if (!veil_ok(r)) {
        rc = fail("sim tsm", r);
        goto out;
    }
    if (n_files) {
        r = veil_sim_measure_paths(files, n_files, g.measurement, &bad);
        if (!veil_ok(r)) {
            fprintf(stderr, "veil sim tsm: %s: %s\n", bad < n_files ? files[bad] : "guest", r.msg);
            rc = VEIL_EXIT_INPUT;
            goto out;
        }
    } else {
        veil_sim_image img = {TSM_DEFAULT_GUEST, NULL, 0};
        r = veil_sim_measure(&img, 1, g.measurement);
        if (!veil_ok(r)) {
            rc = fail("sim tsm", r);
            goto out;
        }
    }
    veil_hex_encode(g.measurement, sizeof g.measurement, hex);
    fprintf(stderr, "veil sim tsm: SIMULATED guest measurement %s, policy 0x%llx\n", hex,
            (unsigned long long)g.policy);
    r = veil_sim_tsm_serve(&st, &g, tsm_dir, (unsigned)max_seconds, tsm_ready, (void *)tsm_dir);
    if (!veil_ok(r))
        rc = fail("sim tsm", r);
out:
    veil_sim_state_free(&st);
    return rc;
}

int cmd_sim(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr, VEIL_EXIT_USAGE);
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help"))
        return usage(stdout, VEIL_EXIT_OK);
    if (!strcmp(sub, "init"))
        return sim_init(argc - 1, argv + 1);
    if (!strcmp(sub, "launch"))
        return sim_launch(argc - 1, argv + 1);
    if (!strcmp(sub, "tsm"))
        return sim_tsm(argc - 1, argv + 1);
    fprintf(stderr, "veil sim: unknown subcommand '%s'\n", sub);
    return usage(stderr, VEIL_EXIT_USAGE);
}
