/* veil gateway: the confidential gateway (include/veil/gateway.h,
 * docs/gateway.md), meant to run inside the TEE.
 *
 *   veil gateway --listen ADDR:PORT [--attester sim|tsm|none] [--attester-path P]
 *                [--kms URL --key NAME] [--model NAME=BACKEND]... [--max-body N]
 *                [--max-concurrent N] [--timeout S] [--no-attestation-header] [--json]
 *
 * Standalone (no --kms): the OHTTP key pair is made here, in memory, and
 * never written anywhere. With --kms: the keys are released by the KMS to
 * this TEE after it verified this TEE's evidence (DESIGN.md flow 1). Prints
 * the listening address once ready, then serves until SIGINT or SIGTERM and
 * stops gracefully. It logs nothing about requests. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "veil/app.h"
#include "veil/attester.h"
#include "veil/gateway.h"
#include "veil/hex.h"
#include "veil/kms.h"
#include "veil/mem.h"

#define MAX_MODELS 32

static int usage(FILE *f, int code)
{
    fprintf(f,
            "usage: veil gateway --listen ADDR:PORT [--attester sim|tsm|none] [--attester-path P]\n"
            "                    [--kms URL --key NAME] [--model NAME=BACKEND]...\n"
            "                    [--max-body BYTES] [--max-concurrent N] [--timeout S]\n"
            "                    [--no-attestation-header] [--json]\n"
            "\n"
            "The Oblivious HTTP gateway that runs inside the TEE: decrypts requests, answers\n"
            "them with the OpenAI-compatible application (speech-to-text built in, chat via\n"
            "upstream models) and encrypts the answers. Endpoints: POST /gateway,\n"
            "GET /ohttp-keys, GET /v1/attestation?nonce=HEX, GET /healthz, GET /metrics.\n"
            "\n"
            "  --listen ADDR:PORT     e.g. 127.0.0.1:8080 (port 0: any free port, printed)\n"
            "  --attester KIND        sim (under `veil sim launch`), tsm (configfs-tsm), or\n"
            "                         none (no attestation: clients will refuse it).\n"
            "                         Default: sim when $VEIL_SIM_SOCKET is set, else tsm\n"
            "  --attester-path P      the sim socket or the configfs-tsm report directory\n"
            "  --kms URL --key NAME   obtain the OHTTP keys from the KMS by attestation\n"
            "                         (default: make one X25519 key here, in memory only)\n"
            "  --model NAME=BACKEND   a model: pocketsphinx | openai:URL[#UPSTREAM_MODEL] |\n"
            "                         whisper-cpp:URL (default: the embedded " VEIL_APP_STT_MODEL
            ")\n"
            "  --max-body BYTES       encapsulated request limit (default 33554432)\n"
            "  --max-concurrent N     requests in flight; beyond: 503 (default 16)\n"
            "  --timeout S            longest pause in a streamed answer (default 300)\n"
            "  --no-attestation-header  leave veil-attestation out of inner responses\n"
            "  --json                 machine-readable lines on stdout\n"
            "Runs until SIGINT/SIGTERM. Exit: 0 stopped cleanly, 2 usage, 4 failed to start.\n");
    return code;
}

static bool parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *end || errno || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_listen(const char *s, char *host, size_t cap, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    unsigned long long p;
    if (!colon || colon == s || (size_t)(colon - s) >= cap)
        return false;
    if (s[0] == '[' && colon[-1] != ']')
        return false;
    if (s[0] != '[' && memchr(s, ':', (size_t)(colon - s)))
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (!parse_uint(colon + 1, 65535, &p))
        return false;
    *port = (uint16_t)p;
    return true;
}

/* NAME=pocketsphinx | NAME=openai:URL[#MODEL] | NAME=whisper-cpp:URL. Points into arg. */
static bool parse_model(char *arg, veil_app_model *m)
{
    char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return false;
    *eq = '\0';
    char *spec = eq + 1;
    memset(m, 0, sizeof *m);
    m->name = arg;
    if (!strcmp(spec, "pocketsphinx")) {
        m->backend = VEIL_APP_BACKEND_POCKETSPHINX;
        return true;
    }
    if (!strncmp(spec, "openai:", 7)) {
        m->backend = VEIL_APP_BACKEND_OPENAI;
        m->url = spec + 7;
        char *hash = strchr(spec + 7, '#');
        if (hash) {
            *hash = '\0';
            m->upstream_model = hash + 1;
        }
        m->api_key = getenv("VEIL_UPSTREAM_API_KEY");
        return *m->url != '\0';
    }
    if (!strncmp(spec, "whisper-cpp:", 12)) {
        m->backend = VEIL_APP_BACKEND_WHISPER_CPP;
        m->url = spec + 12;
        return *m->url != '\0';
    }
    return false;
}

static veil_result app_handler(void *ctx, const veil_bhttp_msg *req, const veil_app_writer *w)
{
    return veil_app_handle(ctx, req, w);
}

/* The key set: released by the KMS, or made here. */
static int obtain_keys(const char *kms, const char *name, veil_attester *att,
                       veil_ohttp_gateway **keys, bool as_json)
{
    veil_result r;
    if (!kms) {
        r = veil_gateway_standalone_keys(keys);
        if (!veil_ok(r)) {
            cli_error("gateway: keys", r);
            return VEIL_EXIT_INTERNAL;
        }
        return 0;
    }
    veil_release_keys *rk = veil_calloc(1, sizeof *rk);
    veil_kms_problem pb;
    uint64_t index = 0;
    memset(&pb, 0, sizeof pb);
    if (!rk)
        return VEIL_EXIT_INTERNAL;
    r = veil_kms_fetch_keys(kms, name, att, 0, NULL, rk, NULL, &index, &pb);
    if (veil_ok(r))
        r = veil_ohttp_gateway_new(keys);
    if (veil_ok(r))
        r = veil_release_keys_to_gateway(rk, (int64_t)time(NULL), *keys);
    veil_release_keys_wipe(rk);
    veil_free_wiped(rk, sizeof *rk);
    if (!veil_ok(r)) {
        veil_ohttp_gateway_free(*keys);
        *keys = NULL;
        fprintf(stderr, "veil gateway: the KMS did not release key '%s': %s%s%s%s\n", name,
                r.msg ? r.msg : "failed", pb.check[0] ? " (check: " : "", pb.check,
                pb.check[0] ? ")" : "");
        if (pb.detail[0])
            fprintf(stderr, "veil gateway: %s\n", pb.detail);
        return VEIL_EXIT_FAILED;
    }
    if (!as_json)
        fprintf(stderr, "veil gateway: key '%s' released by the KMS (ledger entry %llu)\n", name,
                (unsigned long long)index);
    return 0;
}

static void print_ready(const veil_gateway *gw, const char *host, const char *attester, bool kms,
                        bool as_json)
{
    uint8_t k[32], e[32];
    char url[128], khex[65], ehex[65];
    veil_gateway_keys_sha256(gw, k);
    veil_gateway_evidence_sha256(gw, e);
    veil_hex_encode(k, 32, khex);
    veil_hex_encode(e, 32, ehex);
    snprintf(url, sizeof url, "http://%s:%u", host, veil_gateway_port(gw));
    if (as_json) {
        json_t *doc =
            json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:s}", "event", "listening", "url", url, "port",
                      (int)veil_gateway_port(gw), "attester", attester, "keys",
                      kms ? "kms" : "standalone", "keys_sha256", khex, "evidence_sha256", ehex);
        if (doc) {
            json_dumpf(doc, stdout, JSON_COMPACT);
            json_decref(doc);
        }
        printf("\n");
    } else {
        printf("veil gateway: listening on %s\n"
               "  POST %s/gateway (message/ohttp-req, message/ohttp-chunked-req)\n"
               "  GET  %s/ohttp-keys   key config sha256:%s (%s)\n"
               "  GET  %s/v1/attestation?nonce=HEX   attester: %s\n",
               url, url, url, khex, kms ? "released by the KMS" : "made here, in memory only", url,
               attester);
    }
    fflush(stdout);
}

int cmd_gateway(int argc, char **argv)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"attester", required_argument, NULL, 'a'},
                                         {"attester-path", required_argument, NULL, 'P'},
                                         {"kms", required_argument, NULL, 'k'},
                                         {"key", required_argument, NULL, 'K'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"max-body", required_argument, NULL, 'b'},
                                         {"max-concurrent", required_argument, NULL, 'c'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"no-attestation-header", no_argument, NULL, 'N'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    veil_app_model models[MAX_MODELS];
    size_t n_models = 0;
    char host[64];
    const char *attester = NULL, *att_path = NULL, *kms = NULL, *key_name = NULL;
    veil_gateway_config gc = {.attestation_header = true};
    bool as_json = false, have_listen = false;
    unsigned long long v;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (!parse_listen(optarg, host, sizeof host, &gc.port)) {
                fprintf(stderr, "veil gateway: --listen wants ADDR:PORT, e.g. 127.0.0.1:8080\n");
                return VEIL_EXIT_USAGE;
            }
            have_listen = true;
            break;
        case 'a': attester = optarg; break;
        case 'P': att_path = optarg; break;
        case 'k': kms = optarg; break;
        case 'K': key_name = optarg; break;
        case 'm':
            if (n_models == MAX_MODELS || !parse_model(optarg, &models[n_models])) {
                fprintf(stderr,
                        "veil gateway: --model wants NAME=pocketsphinx, "
                        "NAME=openai:URL[#MODEL] or NAME=whisper-cpp:URL (at most %d)\n",
                        MAX_MODELS);
                return VEIL_EXIT_USAGE;
            }
            n_models++;
            break;
        case 'b':
            if (!parse_uint(optarg, (unsigned long long)1 << 32, &v) || v < 1024) {
                fprintf(stderr, "veil gateway: --max-body wants bytes (1 KiB..4 GiB)\n");
                return VEIL_EXIT_USAGE;
            }
            gc.max_body = (size_t)v;
            break;
        case 'c':
            if (!parse_uint(optarg, 10000, &v) || v == 0) {
                fprintf(stderr, "veil gateway: --max-concurrent wants 1..10000\n");
                return VEIL_EXIT_USAGE;
            }
            gc.max_concurrent = (unsigned)v;
            break;
        case 't':
            if (!parse_uint(optarg, 86400, &v) || v == 0) {
                fprintf(stderr, "veil gateway: --timeout wants seconds (1..86400)\n");
                return VEIL_EXIT_USAGE;
            }
            gc.timeout_ms = (unsigned)(v * 1000);
            break;
        case 'N': gc.attestation_header = false; break;
        case 'j': as_json = true; break;
        case 'h': return usage(stdout, VEIL_EXIT_OK);
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (!have_listen || optind != argc || (kms == NULL) != (key_name == NULL)) {
        fprintf(stderr, "veil gateway: need --listen ADDR:PORT (and --kms with --key)\n");
        return usage(stderr, VEIL_EXIT_USAGE);
    }
    if (!attester)
        attester = getenv(VEIL_SIM_SOCKET_ENV) ? "sim" : "tsm";
    if (strcmp(attester, "sim") && strcmp(attester, "tsm") && strcmp(attester, "none")) {
        fprintf(stderr, "veil gateway: --attester is sim, tsm or none\n");
        return VEIL_EXIT_USAGE;
    }
    if (kms && !strcmp(attester, "none")) {
        fprintf(stderr, "veil gateway: the KMS releases keys only to an attested TEE\n");
        return VEIL_EXIT_USAGE;
    }
    gc.address = host;

    /* Signals are taken synchronously: block them before any thread starts. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = VEIL_EXIT_INTERNAL;
    veil_attester *att = NULL;
    veil_app *app = NULL;
    veil_ohttp_gateway *keys = NULL;
    veil_gateway *gw = NULL;
    veil_result r = VEIL_OK;
    if (strcmp(attester, "none") != 0) {
        r = veil_attester_open(attester, att_path, &att);
        if (!veil_ok(r)) {
            cli_error("gateway: attester", r);
            goto out;
        }
    }
    veil_app_config ac = {.models = n_models ? models : NULL, .n_models = n_models};
    r = veil_app_new(&ac, &app);
    if (!veil_ok(r)) {
        cli_error("gateway: application", r);
        goto out;
    }
    rc = obtain_keys(kms, key_name, att, &keys, as_json);
    if (rc)
        goto out;
    rc = VEIL_EXIT_INTERNAL;
    gc.keys = keys;
    gc.attester = att;
    gc.handler = app_handler;
    gc.handler_ctx = app;
    r = veil_gateway_start(&gc, &gw);
    if (!veil_ok(r)) {
        cli_error("gateway", r);
        goto out;
    }
    keys = NULL; /* the gateway's now */
    print_ready(gw, host, attester, kms != NULL, as_json);
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig == SIGINT || sig == SIGTERM)
            break;
    }
    if (as_json) {
        printf("{\"event\":\"stopping\"}\n");
        fflush(stdout);
    } else {
        fprintf(stderr, "veil gateway: stopping\n");
    }
    rc = VEIL_EXIT_OK;
out:
    veil_gateway_stop(gw);
    veil_ohttp_gateway_free(keys);
    veil_app_free(app);
    veil_attester_free(att);
    return rc;
}
