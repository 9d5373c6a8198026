/* The veil command line: shared exit codes and helpers for subcommands. */
#ifndef VEIL_CLI_H
#define VEIL_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "veil/result.h"

/* Exit codes, documented in docs/cli.md. */
enum {
    VEIL_EXIT_OK = 0,       /* success */
    VEIL_EXIT_FAILED = 1,   /* a check, test or verification failed */
    VEIL_EXIT_USAGE = 2,    /* bad command line */
    VEIL_EXIT_INPUT = 3,    /* an input file is missing, unreadable or malformed */
    VEIL_EXIT_INTERNAL = 4, /* an unexpected library or system failure */
};

typedef struct veil_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
} veil_command;

int cmd_selftest(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_attest(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_measure(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_relay(int argc, char **argv);
int cmd_kms(int argc, char **argv);
int cmd_testmodel(int argc, char **argv);
int cmd_gateway(int argc, char **argv);
int cmd_transcribe(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_proxy(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_up(int argc, char **argv);
int cmd_load(int argc, char **argv);
int cmd_rag(int argc, char **argv);
int cmd_sanitize(int argc, char **argv);
/* Client commands (cmd_transcribe.c): a verified client, audio, progress. */
struct veil_client;
struct veil_client_report;
int cli_client_open(const char *gateway, const char *relay, const char *policy_path, int quiet,
                    struct veil_client **out, struct veil_client_report *rep);
/* Where the client gets its keys: the gateway's attestation (DESIGN.md flow
 * 2b, --gateway) and/or the KMS's configurations with receipts (flow 2a,
 * --kms with --ledger-key; --ledger-state defaults to
 * ${XDG_STATE_HOME:-~/.local/state}/veil/ledger-<log id>.json). */
struct cli_client_args {
    const char *gateway, *relay, *policy_path;
    const char *kms, *kms_key, *ledger_key, *ledger_state;
};
enum { CLI_OPT_KMS = 0x1001, CLI_OPT_KMS_KEY, CLI_OPT_LEDGER_KEY, CLI_OPT_LEDGER_STATE };
/* getopt_long entries for the flow-2a options. */
// clang-format off
#define CLI_CLIENT_KMS_OPTIONS                                                                     \
    {"kms", required_argument, NULL, CLI_OPT_KMS},                                                 \
    {"kms-key", required_argument, NULL, CLI_OPT_KMS_KEY},                                         \
    {"ledger-key", required_argument, NULL, CLI_OPT_LEDGER_KEY},                                   \
    {"ledger-state", required_argument, NULL, CLI_OPT_LEDGER_STATE}
// clang-format on
#define CLI_CLIENT_KMS_USAGE                                                                       \
    "  --kms URL            also take the key configuration from the KMS, with ledger\n"           \
    "                       receipts (needs --ledger-key; --gateway becomes optional)\n"           \
    "  --kms-key NAME       the KMS's name of the OHTTP key (default gw)\n"                        \
    "  --ledger-key FILE    the KMS ledger's public key (ledger.pub), pinned\n"                    \
    "  --ledger-state FILE  the last tree head seen (default ~/.local/state/veil/...)\n"
/* true when `opt` is one of CLI_OPT_KMS..., stored into a. */
bool cli_client_kms_opt(int opt, const char *arg, struct cli_client_args *a);
int cli_client_open_args(const struct cli_client_args *a, int quiet, struct veil_client **out,
                         struct veil_client_report *rep);
int cli_load_audio(const char *path, unsigned char **data, size_t *len);
void cli_progress_done(void);

/* Read a whole file into a NUL-terminated heap buffer (veil_free_wiped to free).
 * Prints an error naming the file and returns NULL on failure. */
char *cli_read_file(const char *path, size_t *len, size_t max);
/* Write bytes to a file with the given mode, atomically (temp file + rename). */
int cli_write_file(const char *path, const void *p, size_t n, unsigned mode);
/* Print "veil: <what>: <class> error: <msg>" to stderr. */
void cli_error(const char *what, veil_result r);
/* Map a library error class to an exit code. */
int cli_exit_for(veil_result r);

#endif
