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
#include "veil/http.h"
#include "veil/kms.h"
#include "veil/mem.h"
#include "veil/rag.h"

#define MAX_MODELS 32
#define MAX_RAG 8

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
            "                         | openai-external:URL[#MODEL]: a provider OUTSIDE the\n"
            "                         TEE (https://), reached only through --sanitize-policy\n"
            "  --sanitize-policy FILE what may leave for external models (docs/sanitize.md)\n"
            "  --rag NAME=STORE       serve the encrypted RAG collection NAME from the store\n"
            "                         file STORE; its key (KMS key NAME, type hpke) is\n"
            "                         released by the KMS (needs --kms). docs/rag.md\n"
            "  --max-body BYTES       encapsulated request limit (default 33554432)\n"
            "  --max-concurrent N     requests in flight; beyond: 503 (default 16)\n"
            "  --timeout S            longest pause in a streamed answer (default 300)\n"
            "  --no-attestation-header  leave veil-attestation out of inner responses\n"
            "  --key-poll S           with --kms: every S seconds (default 60; 0: never) look\n"
            "                         at the KMS's /ohttp-keys and, when it advertises a key\n"
            "                         this gateway lacks (a rotation) or a held key reaches\n"
            "                         its decrypt-until time, attest again and switch to the\n"
            "                         newly released set without a gap\n"
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

/* NAME=pocketsphinx | NAME=openai[-external]:URL[#MODEL] | NAME=whisper-cpp:URL.
 * Points into arg. */
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
    bool external = !strncmp(spec, "openai-external:", 16);
    if (!strncmp(spec, "openai:", 7) || external) {
        m->backend = external ? VEIL_APP_BACKEND_OPENAI_EXTERNAL : VEIL_APP_BACKEND_OPENAI;
        m->url = spec + (external ? 16 : 7);
        char *hash = strchr(m->url, '#');
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

/* The --sanitize-policy file, parsed; NULL after printing why not. */
static veil_sanitize_policy *load_sanitize_policy(const char *path)
{
    size_t len = 0;
    char *json = cli_read_file(path, &len, VEIL_SANITIZE_MAX_POLICY);
    if (!json)
        return NULL;
    char detail[VEIL_SANITIZE_DETAIL];
    veil_sanitize_policy *p = NULL;
    veil_result r = veil_sanitize_policy_parse(json, len, &p, detail);
    veil_free_wiped(json, len + 1);
    if (!veil_ok(r))
        fprintf(stderr, "veil gateway: %s: %s\n", path, detail[0] ? detail : r.msg);
    return p;
}

static veil_result app_handler(void *ctx, const veil_bhttp_msg *req, const veil_app_writer *w)
{
    return veil_app_handle(ctx, req, w);
}

/* The earliest time a released key stops decrypting (0: none set). */
static int64_t first_decrypt_end(const veil_release_keys *rk)
{
    int64_t t = 0;
    for (size_t i = 0; i < rk->n; i++)
        if (rk->keys[i].decrypt_until && (!t || rk->keys[i].decrypt_until < t))
            t = rk->keys[i].decrypt_until;
    return t;
}

/* The key set: released by the KMS, or made here. *decrypt_end (KMS mode)
 * gets the first time a released key must be dropped. */
static int obtain_keys(const char *kms, const char *name, veil_attester *att,
                       veil_ohttp_gateway **keys, int64_t *decrypt_end, bool as_json)
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
    *decrypt_end = first_decrypt_end(rk);
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

/* --rag NAME=STORE */
static bool parse_rag(const char *arg, veil_app_rag *out, const char **path)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1] || (size_t)(eq - arg) > VEIL_RAG_COLLECTION_MAX)
        return false;
    static char names[MAX_RAG][VEIL_RAG_COLLECTION_MAX + 1];
    static size_t used;
    if (used == MAX_RAG)
        return false;
    memcpy(names[used], arg, (size_t)(eq - arg));
    names[used][eq - arg] = 0;
    *out = (veil_app_rag){names[used++], NULL};
    *path = eq + 1;
    return true;
}

/* Open one collection's store with one of the keys the KMS released. */
static veil_result open_with_keys(const veil_release_keys *rk, const char *name, const char *path,
                                  char bad[VEIL_RAG_RECORD_NAME], veil_rag_store **out)
{
    veil_result r = VEIL_ERR(VEIL_E_CRYPTO, "the KMS released no key of type hpke");
    if (rk->type != VEIL_KMS_KEY_HPKE)
        return r;
    for (size_t i = 0; i < rk->n && !*out; i++) {
        veil_hpke_key *sk = NULL;
        r = veil_hpke_key_from_private(rk->keys[i].config.kem, rk->keys[i].sk, rk->keys[i].sk_len,
                                       &sk);
        if (veil_ok(r))
            r = veil_rag_store_open(path, name, sk, bad, out);
        veil_hpke_key_free(sk);
    }
    return r;
}

/* Every --rag collection: its key released by the KMS to this TEE, then the
 * whole index decrypted into memory. Any failure stops the start. */
static int open_collections(const char *kms, veil_attester *att, veil_app_rag *rag,
                            const char *const *paths, size_t n, bool as_json)
{
    for (size_t i = 0; i < n; i++) {
        veil_release_keys *rk = veil_calloc(1, sizeof *rk);
        veil_kms_problem pb;
        uint64_t index = 0;
        char bad[VEIL_RAG_RECORD_NAME] = "";
        veil_rag_store *s = NULL;
        memset(&pb, 0, sizeof pb);
        if (!rk)
            return VEIL_EXIT_INTERNAL;
        veil_result r = veil_kms_fetch_keys(kms, rag[i].name, att, 0, NULL, rk, NULL, &index, &pb);
        if (veil_ok(r))
            r = open_with_keys(rk, rag[i].name, paths[i], bad, &s);
        veil_release_keys_wipe(rk);
        veil_free_wiped(rk, sizeof *rk);
        if (!veil_ok(r)) {
            fprintf(stderr, "veil gateway: RAG collection '%s' (%s) cannot be opened: %s%s%s%s\n",
                    rag[i].name, paths[i], r.msg ? r.msg : "failed", pb.check[0] ? " (check: " : "",
                    pb.check, pb.check[0] ? ")" : "");
            if (bad[0])
                fprintf(stderr, "veil gateway: bad record: %s\n", bad);
            return VEIL_EXIT_FAILED;
        }
        rag[i].store = s;
        const veil_rag_index *ix = veil_rag_store_index(s);
        if (!as_json)
            fprintf(stderr,
                    "veil gateway: RAG collection '%s': key released by the KMS (ledger entry "
                    "%llu), %u documents, %u passages in memory\n",
                    rag[i].name, (unsigned long long)index, veil_rag_index_docs(ix),
                    veil_rag_index_passages(ix));
    }
    return 0;
}

/* Does the KMS advertise a configuration this gateway does not serve? Polls
 * the public GET /ohttp-keys (no attestation, no ledger entry); a release
 * happens only when the answer is yes. An unreachable KMS is "no". */
static bool kms_has_new_keys(const char *kms, const char *name, const veil_gateway *gw)
{
    veil_ohttp_keyconfig adv[16], mine[16];
    size_t n_adv = 0, n_mine = 0, skipped = 0;
    char url[1024];
    veil_buf have;
    veil_http_client_response resp;
    veil_http_client_opts o = {
        .connect_timeout_ms = 5000, .timeout_ms = 15000, .max_response = 64 << 10};
    bool news = false;
    memset(&resp, 0, sizeof resp);
    veil_buf_init(&have, 0);
    snprintf(url, sizeof url, "%s/ohttp-keys?name=%s", kms, name);
    if (veil_ok(veil_http_get(url, &o, &resp)) && resp.status == 200 &&
        veil_ok(veil_ohttp_keys_decode(resp.body.data, resp.body.len, adv, 16, &n_adv, &skipped)) &&
        veil_ok(veil_gateway_keys(gw, &have)) &&
        veil_ok(veil_ohttp_keys_decode(have.data, have.len, mine, 16, &n_mine, &skipped))) {
        for (size_t i = 0; i < n_adv && !news; i++) {
            bool found = false;
            for (size_t j = 0; j < n_mine && !found; j++)
                found = veil_ohttp_keyconfig_equal(&adv[i], &mine[j]);
            news = !found;
        }
    }
    veil_http_client_response_free(&resp);
    veil_buf_free(&have);
    return news;
}

/* Rotation in KMS mode: attest again, take the new key set, switch to it. */
static void refresh_keys(const char *kms, const char *name, veil_attester *att, veil_gateway *gw,
                         int64_t *decrypt_end, bool as_json)
{
    veil_ohttp_gateway *fresh = NULL;
    bool changed = false;
    uint8_t sha[32];
    char hex[65];
    if (obtain_keys(kms, name, att, &fresh, decrypt_end, true) != 0) {
        fprintf(stderr, "veil gateway: key refresh failed; still serving the current keys\n");
        return;
    }
    veil_result r = veil_gateway_update_keys(gw, fresh, &changed);
    if (!veil_ok(r)) {
        cli_error("gateway: key refresh", r);
        return;
    }
    veil_gateway_keys_sha256(gw, sha);
    veil_hex_encode(sha, 32, hex);
    if (as_json)
        printf("{\"event\":\"keys\",\"changed\":%s,\"keys_sha256\":\"%s\"}\n",
               changed ? "true" : "false", hex);
    else
        fprintf(stderr, "veil gateway: keys refreshed from the KMS (%s), key list sha256:%s\n",
                changed ? "changed" : "unchanged", hex);
    fflush(stdout);
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
                                         {"sanitize-policy", required_argument, NULL, 'S'},
                                         {"rag", required_argument, NULL, 'R'},
                                         {"max-body", required_argument, NULL, 'b'},
                                         {"max-concurrent", required_argument, NULL, 'c'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"no-attestation-header", no_argument, NULL, 'N'},
                                         {"key-poll", required_argument, NULL, 'p'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    veil_app_model models[MAX_MODELS];
    size_t n_models = 0;
    char host[64];
    const char *attester = NULL, *att_path = NULL, *kms = NULL, *key_name = NULL;
    const char *san_path = NULL;
    veil_app_rag rag[MAX_RAG];
    const char *rag_paths[MAX_RAG];
    size_t n_rag = 0;
    veil_gateway_config gc = {.attestation_header = true};
    bool as_json = false, have_listen = false;
    unsigned long long v, key_poll = 60;
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
        case 'S': san_path = optarg; break;
        case 'R':
            if (n_rag == MAX_RAG || !parse_rag(optarg, &rag[n_rag], &rag_paths[n_rag])) {
                fprintf(stderr, "veil gateway: --rag wants NAME=STORE (at most %d)\n", MAX_RAG);
                return VEIL_EXIT_USAGE;
            }
            n_rag++;
            break;
        case 'm':
            if (n_models == MAX_MODELS || !parse_model(optarg, &models[n_models])) {
                fprintf(stderr,
                        "veil gateway: --model wants NAME=pocketsphinx, "
                        "NAME=openai[-external]:URL[#MODEL] or NAME=whisper-cpp:URL (at "
                        "most %d)\n",
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
        case 'p':
            if (!parse_uint(optarg, 86400, &key_poll)) {
                fprintf(stderr, "veil gateway: --key-poll wants seconds (0..86400; 0: never)\n");
                return VEIL_EXIT_USAGE;
            }
            break;
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
    if (n_rag && !kms) {
        fprintf(stderr, "veil gateway: --rag needs --kms: collection keys come only from the KMS, "
                        "released to this attested TEE\n");
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
    veil_sanitize_policy *san = NULL;
    veil_result r = VEIL_OK;
    if (strcmp(attester, "none") != 0) {
        r = veil_attester_open(attester, att_path, &att);
        if (!veil_ok(r)) {
            cli_error("gateway: attester", r);
            goto out;
        }
    }
    if (san_path && !(san = load_sanitize_policy(san_path))) {
        rc = VEIL_EXIT_USAGE;
        goto out;
    }
    rc = open_collections(kms, att, rag, rag_paths, n_rag, as_json);
    if (rc)
        goto out;
    rc = VEIL_EXIT_INTERNAL;
    veil_app_config ac = {.models = n_models ? models : NULL,
                          .n_models = n_models,
                          .sanitize_policy = san,
                          .rag = n_rag ? rag : NULL,
                          .n_rag = n_rag};
    r = veil_app_new(&ac, &app);
    if (!veil_ok(r)) {
        cli_error("gateway: application", r);
        goto out;
    }
    int64_t decrypt_end = 0;
    rc = obtain_keys(kms, key_name, att, &keys, &decrypt_end, as_json);
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
        struct timespec wait = {.tv_sec = kms && key_poll ? (time_t)key_poll : 3600};
        int sig = sigtimedwait(&set, NULL, &wait);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (sig < 0 && errno == EAGAIN && kms && key_poll &&
            ((decrypt_end && (int64_t)time(NULL) >= decrypt_end) ||
             kms_has_new_keys(kms, key_name, gw)))
            refresh_keys(kms, key_name, att, gw, &decrypt_end, as_json);
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
    veil_sanitize_policy_free(san);
    for (size_t i = 0; i < n_rag; i++)
        veil_rag_store_free((veil_rag_store *)rag[i].store);
    veil_attester_free(att);
    return rc;
}
