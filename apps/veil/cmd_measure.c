/* veil measure: compute an expected launch measurement.
 *
 *   --sim FILE [CONFIG...]   the simulator's measurement of a guest (veil_sim_measure)
 *   --snp --ovmf OVMF.fd ... the SEV-SNP launch digest of an OVMF guest (veil_snp_measure)
 *
 * Prints the 48-byte value as hex, or a JSON object with --json. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "veil/hex.h"
#include "veil/measure.h"
#include "veil/mem.h"

#define MAX_OVMF ((size_t)64 << 20)   /* firmware volumes are a few MiB */
#define MAX_PAYLOAD ((size_t)1 << 30) /* kernels, initrds, guest files */
#define HEX_LD (2 * VEIL_MEASUREMENT_LEN + 1)

static int usage(FILE *f, int code)
{
    fprintf(
        f,
        "usage: veil measure --sim FILE [CONFIG...] [--json]\n"
        "       veil measure --snp --ovmf OVMF.fd --vcpus N\n"
        "                    (--vcpu-type NAME | --vcpu-sig HEX) --vmm qemu|ec2|gce\n"
        "                    [--guest-features HEX] [--kernel F [--initrd F] [--append CMDLINE]]\n"
        "                    [--ovmf-hash HEX] [--json]\n"
        "       veil measure --snp --ovmf OVMF.fd --ovmf-hash-only [--json]\n"
        "\n"
        "--sim     the measurement `veil sim launch` reports for guest executable FILE\n"
        "          and its configuration files, in that order (names are basenames;\n"
        "          algorithm in include/veil/measure.h).\n"
        "--snp     the SEV-SNP launch digest (report MEASUREMENT) of an OVMF guest:\n"
        "  --ovmf F            the firmware image (its footer table must hold SEV metadata)\n"
        "  --vcpus N           number of vCPUs (1..4096)\n"
        "  --vcpu-type NAME    QEMU CPU model giving the vCPU signature, one of:\n"
        "                     ");
    for (size_t i = 0; veil_snp_vcpu_type_name(i) != NULL; i++)
        fprintf(f, "%s %s", (i && i % 6 == 0) ? "\n                     " : "",
                veil_snp_vcpu_type_name(i));
    fprintf(f, "\n"
               "  --vcpu-sig HEX      the signature (CPUID(1).EAX) itself, e.g. 0x00a00f11\n"
               "                      (required for qemu; ec2 and gce use a fixed value)\n"
               "  --vmm qemu|ec2|gce  the VMM that launches the guest (default qemu)\n"
               "  --guest-features HEX  VMSA SEV_FEATURES (default 0x1; QEMU with Linux >= 6.6\n"
               "                      guests uses 0x21)\n"
               "  --kernel F, --initrd F, --append CMDLINE  direct kernel boot with kernel\n"
               "                      hashes (an absent initrd or cmdline is hashed as empty)\n"
               "  --ovmf-hash HEX     start from this precomputed OVMF hash (48 bytes)\n"
               "  --ovmf-hash-only    print only the OVMF hash (input to --ovmf-hash)\n"
               "--json    print {\"measurement\": HEX, ...} instead of bare hex\n"
               "Exit codes: 0 ok, 2 usage, 3 missing or malformed input, 4 internal.\n");
    return code;
}

static int fail(const char *msg)
{
    fprintf(stderr, "veil measure: %s\n", msg);
    return VEIL_EXIT_USAGE;
}

static int print_json(json_t *doc)
{
    int rc = doc != NULL && json_dumpf(doc, stdout, JSON_INDENT(2)) == 0 ? VEIL_EXIT_OK
                                                                         : VEIL_EXIT_INTERNAL;
    printf("\n");
    json_decref(doc);
    return rc;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

/* ----- --sim ------------------------------------------------------------- */

static int run_sim(char **paths, size_t n, int as_json)
{
    veil_sim_image *files = veil_calloc(n, sizeof *files);
    uint8_t ld[VEIL_MEASUREMENT_LEN];
    char hex[HEX_LD];
    int rc = VEIL_EXIT_INPUT;
    veil_result r;

    if (files == NULL)
        return VEIL_EXIT_INTERNAL;
    for (size_t i = 0; i < n; i++) {
        files[i].name = base_name(paths[i]);
        files[i].data = (const uint8_t *)cli_read_file(paths[i], &files[i].len, MAX_PAYLOAD);
        if (files[i].data == NULL)
            goto out;
    }
    r = veil_sim_measure(files, n, ld);
    if (!veil_ok(r)) {
        cli_error("measure --sim", r);
        rc = cli_exit_for(r);
        goto out;
    }
    veil_hex_encode(ld, sizeof ld, hex);
    if (as_json) {
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(list, json_pack("{s:s,s:s,s:I}", "name", files[i].name, "path",
                                                  paths[i], "size", (json_int_t)files[i].len));
        rc = print_json(json_pack("{s:s,s:o}", "measurement", hex, "files", list));
    } else {
        printf("%s\n", hex);
        rc = VEIL_EXIT_OK;
    }
out:
    for (size_t i = 0; i < n; i++)
        veil_free((void *)files[i].data);
    veil_free(files);
    return rc;
}

/* ----- --snp ------------------------------------------------------------- */

typedef struct snp_args {
    const char *ovmf, *kernel, *initrd, *append, *vcpu_type, *vcpu_sig, *vmm, *features, *ovmf_hash;
    long vcpus;
    int hash_only;
} snp_args;

static int parse_hex_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    if (*s == '\0' || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 16);
    if (*end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

static int snp_fill(const snp_args *a, veil_snp_measure_params *p, uint8_t hash[48])
{
    veil_result r;
    uint64_t v;
    veil_buf b;

    if (a->vmm != NULL && !veil_ok(veil_snp_vmm_from_name(a->vmm, &p->vmm)))
        return fail("--vmm must be qemu, ec2 or gce");
    if (a->vcpus < 1 || a->vcpus > (long)VEIL_SNP_MAX_VCPUS)
        return fail("--vcpus N is required (1..4096)");
    p->vcpus = (uint32_t)a->vcpus;
    if (a->vcpu_type != NULL && a->vcpu_sig != NULL)
        return fail("give --vcpu-type or --vcpu-sig, not both");
    if (a->vcpu_type != NULL) {
        r = veil_snp_vcpu_sig_from_name(a->vcpu_type, &p->vcpu_sig);
        if (!veil_ok(r))
            return fail("unknown --vcpu-type (see veil measure --help)");
    } else if (a->vcpu_sig != NULL) {
        if (parse_hex_u64(a->vcpu_sig, UINT32_MAX, &v) != 0)
            return fail("--vcpu-sig must be a 32-bit hex number");
        p->vcpu_sig = (uint32_t)v;
    } else if (p->vmm == VEIL_SNP_VMM_QEMU) {
        return fail("qemu needs --vcpu-type or --vcpu-sig");
    }
    p->guest_features = 0x1;
    if (a->features != NULL && parse_hex_u64(a->features, UINT64_MAX, &p->guest_features) != 0)
        return fail("--guest-features must be a 64-bit hex number");
    if ((a->initrd != NULL || a->append != NULL) && a->kernel == NULL)
        return fail("--initrd and --append need --kernel");
    p->cmdline = a->append;
    if (a->ovmf_hash != NULL) {
        const char *h = a->ovmf_hash;
        if (h[0] == '0' && (h[1] == 'x' || h[1] == 'X'))
            h += 2;
        veil_buf_init(&b, 0);
        r = veil_hex_decode(h, strlen(h), &b);
        if (!veil_ok(r) || b.len != VEIL_MEASUREMENT_LEN) {
            veil_buf_free(&b);
            return fail("--ovmf-hash must be 96 hex digits (48 bytes)");
        }
        memcpy(hash, b.data, VEIL_MEASUREMENT_LEN);
        veil_buf_free(&b);
        p->ovmf_hash = hash;
    }
    return VEIL_EXIT_OK;
}

static json_t *snp_json(const char *hex, const veil_snp_measure_params *p, const snp_args *a)
{
    static const char *vmm_names[] = {"qemu", "ec2", "gce"};
    char sig[16], feat[24];
    json_t *o;
    snprintf(sig, sizeof sig, "0x%08x", (unsigned)p->vcpu_sig);
    snprintf(feat, sizeof feat, "0x%llx", (unsigned long long)p->guest_features);
    o = json_pack("{s:s,s:s,s:s,s:I,s:s,s:b,s:b}", "measurement", hex, "ovmf", a->ovmf, "vmm",
                  vmm_names[p->vmm], "vcpus", (json_int_t)p->vcpus, "guest_features", feat,
                  "kernel_hashes", p->kernel != NULL, "ovmf_hash_given", p->ovmf_hash != NULL);
    /* EC2 and GCE put a fixed value in RDX; the signature only matters for QEMU. */
    if (o != NULL && p->vmm == VEIL_SNP_VMM_QEMU)
        json_object_set_new(o, "vcpu_sig", json_string(sig));
    return o;
}

static int run_snp(const snp_args *a, int as_json)
{
    veil_snp_measure_params p = {0};
    uint8_t hash[VEIL_MEASUREMENT_LEN], ld[VEIL_MEASUREMENT_LEN];
    char *ovmf = NULL, *kernel = NULL, *initrd = NULL;
    char hex[HEX_LD];
    int rc;
    veil_result r;

    if (a->ovmf == NULL)
        return fail("--snp needs --ovmf FILE");
    if (!a->hash_only && (rc = snp_fill(a, &p, hash)) != VEIL_EXIT_OK)
        return rc;
    rc = VEIL_EXIT_INPUT;
    ovmf = cli_read_file(a->ovmf, &p.ovmf_len, MAX_OVMF);
    if (ovmf == NULL)
        goto out;
    p.ovmf = (const uint8_t *)ovmf;
    if (a->kernel != NULL) {
        if ((kernel = cli_read_file(a->kernel, &p.kernel_len, MAX_PAYLOAD)) == NULL)
            goto out;
        p.kernel = (const uint8_t *)kernel;
    }
    if (a->initrd != NULL) {
        if ((initrd = cli_read_file(a->initrd, &p.initrd_len, MAX_PAYLOAD)) == NULL)
            goto out;
        p.initrd = (const uint8_t *)initrd;
    }
    r = a->hash_only ? veil_snp_ovmf_hash(p.ovmf, p.ovmf_len, ld) : veil_snp_measure(&p, ld);
    if (!veil_ok(r)) {
        cli_error("measure --snp", r);
        rc = cli_exit_for(r);
        goto out;
    }
    veil_hex_encode(ld, sizeof ld, hex);
    if (!as_json) {
        printf("%s\n", hex);
        rc = VEIL_EXIT_OK;
    } else if (a->hash_only) {
        rc = print_json(json_pack("{s:s,s:s}", "ovmf_hash", hex, "ovmf", a->ovmf));
    } else {
        rc = print_json(snp_json(hex, &p, a));
    }
out:
    veil_free(ovmf);
    veil_free(kernel);
    veil_free(initrd);
    return rc;
}

int cmd_measure(int argc, char **argv)
{
    enum {
        O_SIM = 1000,
        O_SNP,
        O_OVMF,
        O_VCPUS,
        O_TYPE,
        O_SIG,
        O_VMM,
        O_FEAT,
        O_KERNEL,
        O_INITRD,
        O_APPEND,
        O_HASH,
        O_HASH_ONLY,
        O_JSON,
        O_HELP
    };
    static const struct option opts[] = {{"sim", no_argument, NULL, O_SIM},
                                         {"snp", no_argument, NULL, O_SNP},
                                         {"ovmf", required_argument, NULL, O_OVMF},
                                         {"vcpus", required_argument, NULL, O_VCPUS},
                                         {"vcpu-type", required_argument, NULL, O_TYPE},
                                         {"vcpu-sig", required_argument, NULL, O_SIG},
                                         {"vmm", required_argument, NULL, O_VMM},
                                         {"guest-features", required_argument, NULL, O_FEAT},
                                         {"kernel", required_argument, NULL, O_KERNEL},
                                         {"initrd", required_argument, NULL, O_INITRD},
                                         {"append", required_argument, NULL, O_APPEND},
                                         {"ovmf-hash", required_argument, NULL, O_HASH},
                                         {"ovmf-hash-only", no_argument, NULL, O_HASH_ONLY},
                                         {"json", no_argument, NULL, O_JSON},
                                         {"help", no_argument, NULL, O_HELP},
                                         {NULL, 0, NULL, 0}};
    snp_args a = {0};
    int sim = 0, snp = 0, as_json = 0, c;
    char *end;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_SIM: sim = 1; break;
        case O_SNP: snp = 1; break;
        case O_OVMF: a.ovmf = optarg; break;
        case O_VCPUS:
            a.vcpus = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0')
                a.vcpus = -1;
            break;
        case O_TYPE: a.vcpu_type = optarg; break;
        case O_SIG: a.vcpu_sig = optarg; break;
        case O_VMM: a.vmm = optarg; break;
        case O_FEAT: a.features = optarg; break;
        case O_KERNEL: a.kernel = optarg; break;
        case O_INITRD: a.initrd = optarg; break;
        case O_APPEND: a.append = optarg; break;
        case O_HASH: a.ovmf_hash = optarg; break;
        case O_HASH_ONLY: a.hash_only = 1; break;
        case O_JSON: as_json = 1; break;
        case O_HELP: return usage(stdout, VEIL_EXIT_OK);
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (sim == snp) {
        fprintf(stderr, "veil measure: give exactly one of --sim or --snp\n");
        return usage(stderr, VEIL_EXIT_USAGE);
    }
    if (sim) {
        if (a.ovmf || a.vcpus || a.vcpu_type || a.vcpu_sig || a.vmm || a.features || a.kernel ||
            a.initrd || a.append || a.ovmf_hash || a.hash_only)
            return fail("--sim takes only FILE [CONFIG...] and --json");
        if (optind >= argc)
            return fail("--sim needs the guest executable FILE");
        return run_sim(argv + optind, (size_t)(argc - optind), as_json);
    }
    if (optind != argc)
        return fail("--snp takes no positional arguments");
    return run_snp(&a, as_json);
}
