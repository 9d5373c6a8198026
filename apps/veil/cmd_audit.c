/* veil audit verify: re-check an audit bundle offline (docs/client.md).
 *
 *   veil audit verify FILE [--at TIME] [--json]
 *
 * Recomputes the digests of the recorded key list and evidence, REPORT_DATA
 * from the recorded nonce and keys, verifies the evidence against the
 * recorded policy at the time it was verified (or --at), and compares with
 * the recorded verdict. Needs no network. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "veil/client.h"
#include "veil/mem.h"
#include "veil/timeutil.h"

#define MAX_BUNDLE ((size_t)8 << 20)

static int usage(FILE *f, int code)
{
    fprintf(f, "usage: veil audit verify FILE [--at TIME] [--json]\n"
               "\n"
               "Re-checks an audit bundle written by `veil transcribe --audit FILE` offline:\n"
               "key list and evidence digests, REPORT_DATA (nonce + keys), the evidence against\n"
               "the recorded policy, and the recorded verdict and measurement.\n"
               "  --at TIME   verify as of TIME (2025-06-01T00:00:00Z or @unix); default: the\n"
               "              time the bundle was made\n"
               "Exit: 0 the bundle holds, 1 it does not, 2 usage, 3 unreadable.\n");
    return code;
}

static int audit_verify(int argc, char **argv)
{
    static const struct option opts[] = {{"at", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int64_t at = 0;
    bool as_json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (!veil_ok(veil_time_parse(optarg, &at))) {
                fprintf(stderr, "veil audit: --at wants 2025-06-01T00:00:00Z or @unix\n");
                return VEIL_EXIT_USAGE;
            }
            break;
        case 'j': as_json = true; break;
        case 'h': return usage(stdout, VEIL_EXIT_OK);
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (optind + 1 != argc)
        return usage(stderr, VEIL_EXIT_USAGE);
    size_t n = 0;
    char *text = cli_read_file(argv[optind], &n, MAX_BUNDLE);
    if (!text)
        return VEIL_EXIT_INPUT;
    veil_client_report *rep = veil_calloc(1, sizeof *rep);
    veil_buf out;
    veil_buf_init(&out, 0);
    int rc = VEIL_EXIT_INTERNAL;
    if (!rep)
        goto out;
    veil_result r = veil_client_audit_verify((const uint8_t *)text, n, at, rep);
    if (as_json ? veil_ok(veil_client_report_json(rep, &out))
                : veil_ok(veil_client_report_text(rep, &out)))
        printf("%.*s%s", (int)out.len, (const char *)out.data, as_json ? "\n" : "");
    if (!veil_ok(r)) {
        fprintf(stderr, "veil audit: the bundle does NOT hold: %s\n", r.msg);
        rc = r.cls == VEIL_E_USAGE ? VEIL_EXIT_USAGE : VEIL_EXIT_FAILED;
        goto out;
    }
    if (!as_json)
        printf("audit bundle holds: the evidence verifies against the recorded policy%s%s\n",
               rep->kms_receipts ? "; the KMS's receipts verify and the key used is receipted" : "",
               rep->simulated ? " (SIMULATED TEE: no confidentiality)" : "");
    rc = VEIL_EXIT_OK;
out:
    veil_free(text);
    veil_free(rep);
    veil_buf_free(&out);
    return rc;
}

int cmd_audit(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr, VEIL_EXIT_USAGE);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
        return usage(stdout, VEIL_EXIT_OK);
    if (!strcmp(argv[1], "verify"))
        return audit_verify(argc - 1, argv + 1);
    fprintf(stderr, "veil audit: unknown subcommand '%s'\n", argv[1]);
    return usage(stderr, VEIL_EXIT_USAGE);
}
