/* veil: one multi-call binary; each subcommand is a thin shell over libveil. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const veil_command commands[] = {
    {"selftest", "run the built-in known-answer tests, or a test-vector file", cmd_selftest},
    {"keygen", "generate an OHTTP key pair and its key configuration", cmd_keygen},
    {"attest", "obtain attestation evidence inside a guest (configfs-tsm or simulator)",
     cmd_attest},
    {"verify", "verify and appraise attestation evidence", cmd_verify},
    {"measure", "compute expected launch measurements (SEV-SNP or simulator)", cmd_measure},
    {"sim", "the simulated AMD secure processor (init, launch, serve)", cmd_sim},
    {"relay", "the Oblivious HTTP relay: forward to allow-listed gateways", cmd_relay},
    {"kms", "the key management service: HSM-rooted keys released by attestation", cmd_kms},
    {"gateway", "the confidential OHTTP gateway (inside the TEE): decrypt, infer, encrypt",
     cmd_gateway},
    {"transcribe", "speech to text through a verified gateway, encrypted end to end",
     cmd_transcribe},
    {"chat", "a chat completion through a verified gateway (--stream: token by token)", cmd_chat},
    {"proxy", "the OpenAI API on loopback, sent through a verified gateway", cmd_proxy},
    {"audit", "re-check an audit bundle offline (audit verify FILE)", cmd_audit},
    {"demo", "the whole system on this machine: verify, transcribe, stop (SIMULATED TEE)",
     cmd_demo},
    {"up", "start the whole stack on this machine and keep it running (SIMULATED TEE)", cmd_up},
    {"testmodel", "TEST/BENCH TOOL, not inference: a fake OpenAI chat server", cmd_testmodel},
    {"load", "TEST TOOL: many OHTTP requests through a relay; memory and bad inputs", cmd_load},
    {"rag", "encrypted retrieval: ingest documents to a ciphertext store, search, verify", cmd_rag},
    {"sanitize", "show what a sanitize policy does to a text (for policy authors)", cmd_sanitize},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: veil COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'veil COMMAND --help' describes a command. Exit codes: 0 ok, 1 check failed,\n"
               "2 usage, 3 bad or missing input, 4 internal error (docs/cli.md).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return VEIL_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return VEIL_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("veil %s\n", VEIL_VERSION);
        return VEIL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "veil: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return VEIL_EXIT_USAGE;
}
