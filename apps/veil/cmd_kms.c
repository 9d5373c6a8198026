/* veil kms: the key management service (include/veil/kms.h, docs/kms.md).
 *
 *   veil kms init  --state DIR [ROOT] [--admin-token-file F] [--json]
 *   veil kms serve --state DIR [--listen ADDR:PORT] [--admin-listen ADDR:PORT]
 *                  [--rotate-interval S] [--grace S] [--ohttp-key NAME]
 *                  [--max-age S] [--kds-url URL|none] [--kds-cache DIR]
 *                  [--kds-crl-optional] [--nonce-rate N/s] [--nonce-burst B]
 *                  [--max-nonces N] [ROOT overrides] [--json]
 *   veil kms fetch --kms URL --key NAME [--attester sim|tsm] [--out FILE] [--json]
 *
 * ROOT: --hsm-module PATH --hsm-token LABEL (--hsm-pin-env VAR | --hsm-pin-file F)
 *       [--hsm-key-label L] | --root-key-file F | --root-key-sim [--sim-socket P] */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "veil/attester.h"
#include "veil/hex.h"
#include "veil/http.h"
#include "veil/kms.h"
#include "veil/mem.h"

static int usage(FILE *f, int code)
{
    fprintf(f,
            "usage: veil kms init  --state DIR [ROOT] [--admin-token-file F] [--json]\n"
            "       veil kms serve --state DIR [--listen ADDR:PORT] [--admin-listen ADDR:PORT]\n"
            "                      [--rotate-interval S] [--grace S] [--ohttp-key NAME]\n"
            "                      [--max-age S] [--kds-url URL|none] [--kds-cache DIR]\n"
            "                      [--kds-crl-optional] [--nonce-rate N/s] [--nonce-burst B]\n"
            "                      [--max-nonces N] [ROOT overrides] [--json]\n"
            "       veil kms fetch --kms URL --key NAME [--attester sim|tsm] [--out FILE]\n"
            "                      [--json]\n"
            "\n"
            "The key management service: keys under a root key in an HSM, released only to\n"
            "TEEs whose attestation meets the key's policy, every change and release in a\n"
            "transparency ledger (docs/kms.md).\n"
            "\n"
            "ROOT (where the root wrapping key lives; init records it, serve may override\n"
            "paths and the PIN source):\n"
            "  --hsm-module PATH     PKCS#11 module (default %s)\n"
            "  --hsm-token LABEL     token label (default %s)\n"
            "  --hsm-pin-env VAR     read the user PIN from $VAR, or\n"
            "  --hsm-pin-file F      from a file of mode 0600\n"
            "  --hsm-key-label L     the root key's label (default %s)\n"
            "  --root-key-file F     no HSM: 32 bytes in F (mode 0600; init creates it)\n"
            "  --root-key-sim        no HSM: the simulator's measurement-bound key (run under\n"
            "                        `veil sim launch`); --sim-socket P overrides $%s\n"
            "  Without any, init uses --root-key-sim under `veil sim launch` and otherwise\n"
            "  asks for one.\n"
            "\n"
            "serve:\n"
            "  --listen ADDR:PORT        public API (default 127.0.0.1:7400; port 0: any)\n"
            "  --admin-listen ADDR:PORT  admin API, bearer token (default 127.0.0.1:7401)\n"
            "  --rotate-interval S       default rotation interval of new keys (0: manual)\n"
            "  --grace S                 default grace period of new keys (default 3600)\n"
            "  --ohttp-key NAME          the key GET /ohttp-keys serves without ?name=\n"
            "  --max-age S               /ohttp-keys Cache-Control max-age (default 300)\n"
            "  --kds-url URL|none        AMD KDS for SEV-SNP evidence without a VCEK (default\n"
            "                            " VEIL_KDS_DEFAULT_URL "; a cloud cache or mirror)\n"
            "  --kds-cache DIR           where fetched VCEKs, chains, CRLs are kept\n"
            "                            (default STATE/kds-cache)\n"
            "  --kds-crl-optional        accept such evidence when no current CRL can be had\n"
            "  --nonce-rate N/s          per-address rate of nonces and release attempts\n"
            "                            (default 10/s; 0: no limit)\n"
            "  --nonce-burst B           per-address burst (default 2 x rate)\n"
            "  --max-nonces N            unused nonces out at once; past it the oldest\n"
            "                            expire (default 100000)\n"
            "fetch (inside a TEE): obtain the key set NAME by attestation; prints what it\n"
            "  got (never the private keys); --out F writes the sealed-format key set\n"
            "  (docs/kms.md) to F with mode 0600 for a gateway to load.\n",
            VEIL_KMS_DEFAULT_PKCS11_MODULE, VEIL_KMS_DEFAULT_TOKEN, VEIL_KMS_DEFAULT_KEY_LABEL,
            VEIL_SIM_SOCKET_ENV);
    return code;
}

typedef struct kms_args {
    const char *state, *listen, *admin_listen, *ohttp_key, *token_file;
    const char *kms_url, *key, *attester, *out;
    const char *kds_url, *kds_cache;
    veil_kms_root_config root;
    bool root_given, as_json, kds_crl_optional;
    long long rotate_interval, grace, max_age, nonce_rate, nonce_burst, max_nonces;
} kms_args;

/* "N" or "N/s", 0..100000. */
static bool parse_rate(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno || v < 0 || v > 100000 || (*end && strcmp(end, "/s") != 0))
        return false;
    *out = v;
    return true;
}

static bool parse_secs(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < 0 || v > 10LL * 366 * 86400)
        return false;
    *out = v;
    return true;
}

static bool parse_listen(const char *s, char *host, size_t cap, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    long long p;
    if (!colon || colon == s || (size_t)(colon - s) >= cap)
        return false;
    if (s[0] == '[' && colon[-1] != ']')
        return false;
    if (s[0] != '[' && memchr(s, ':', (size_t)(colon - s)))
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (!parse_secs(colon + 1, &p) || p > 65535)
        return false;
    *port = (uint16_t)p;
    return true;
}

static bool set_str(char *dst, size_t cap, const char *v, const char *flag)
{
    if (strlen(v) >= cap) {
        fprintf(stderr, "veil kms: %s is too long\n", flag);
        return false;
    }
    snprintf(dst, cap, "%s", v);
    return true;
}

static int parse(int argc, char **argv, kms_args *a)
{
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"admin-listen", required_argument, NULL, 'L'},
                                         {"rotate-interval", required_argument, NULL, 'r'},
                                         {"grace", required_argument, NULL, 'g'},
                                         {"ohttp-key", required_argument, NULL, 'o'},
                                         {"max-age", required_argument, NULL, 'm'},
                                         {"admin-token-file", required_argument, NULL, 'T'},
                                         {"hsm-module", required_argument, NULL, 'M'},
                                         {"hsm-token", required_argument, NULL, 't'},
                                         {"hsm-pin-env", required_argument, NULL, 'e'},
                                         {"hsm-pin-file", required_argument, NULL, 'p'},
                                         {"hsm-key-label", required_argument, NULL, 'k'},
                                         {"root-key-file", required_argument, NULL, 'f'},
                                         {"root-key-sim", no_argument, NULL, 'S'},
                                         {"sim-socket", required_argument, NULL, 'u'},
                                         {"kms", required_argument, NULL, 'K'},
                                         {"key", required_argument, NULL, 'n'},
                                         {"attester", required_argument, NULL, 'a'},
                                         {"out", required_argument, NULL, 'O'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"kds-url", required_argument, NULL, 'U'},
                                         {"kds-cache", required_argument, NULL, 'C'},
                                         {"kds-crl-optional", no_argument, NULL, 'X'},
                                         {"nonce-rate", required_argument, NULL, 'R'},
                                         {"nonce-burst", required_argument, NULL, 'B'},
                                         {"max-nonces", required_argument, NULL, 'N'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    veil_kms_root_config *c = &a->root;
    bool hsm = false, file = false, sim = false;
    int ch;
    memset(a, 0, sizeof *a);
    a->rotate_interval = a->grace = a->max_age = -1;
    a->nonce_rate = 10;
    a->max_nonces = 100000;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        bool ok = true;
        switch (ch) {
        case 's': a->state = optarg; break;
        case 'l': a->listen = optarg; break;
        case 'L': a->admin_listen = optarg; break;
        case 'o': a->ohttp_key = optarg; break;
        case 'T': a->token_file = optarg; break;
        case 'K': a->kms_url = optarg; break;
        case 'n': a->key = optarg; break;
        case 'a': a->attester = optarg; break;
        case 'O': a->out = optarg; break;
        case 'j': a->as_json = true; break;
        case 'U': a->kds_url = optarg; break;
        case 'C': a->kds_cache = optarg; break;
        case 'X': a->kds_crl_optional = true; break;
        case 'R': ok = parse_rate(optarg, &a->nonce_rate); break;
        case 'B': ok = parse_rate(optarg, &a->nonce_burst); break;
        case 'N': ok = parse_rate(optarg, &a->max_nonces) && a->max_nonces > 0; break;
        case 'r': ok = parse_secs(optarg, &a->rotate_interval); break;
        case 'g': ok = parse_secs(optarg, &a->grace); break;
        case 'm': ok = parse_secs(optarg, &a->max_age) && a->max_age <= 86400; break;
        case 'M': hsm = ok = set_str(c->module, sizeof c->module, optarg, "--hsm-module"); break;
        case 't': hsm = ok = set_str(c->token, sizeof c->token, optarg, "--hsm-token"); break;
        case 'e': hsm = ok = set_str(c->pin_env, sizeof c->pin_env, optarg, "--hsm-pin-env"); break;
        case 'p':
            hsm = ok = set_str(c->pin_file, sizeof c->pin_file, optarg, "--hsm-pin-file");
            break;
        case 'k':
            hsm = ok = set_str(c->key_label, sizeof c->key_label, optarg, "--hsm-key-label");
            break;
        case 'f':
            file = ok = set_str(c->key_file, sizeof c->key_file, optarg, "--root-key-file");
            break;
        case 'S': sim = true; break;
        case 'u': ok = set_str(c->sim_socket, sizeof c->sim_socket, optarg, "--sim-socket"); break;
        case 'h': usage(stdout, VEIL_EXIT_OK); return -1;
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
        if (!ok) {
            fprintf(stderr,
                    "veil kms: bad value for --%s (seconds are 0..%lld, rates and counts "
                    "0..100000)\n",
                    argv[optind - 1][0] == '-' ? argv[optind - 1] + 2 : "option",
                    10LL * 366 * 86400);
            return VEIL_EXIT_USAGE;
        }
    }
    if (optind != argc)
        return usage(stderr, VEIL_EXIT_USAGE);
    if ((int)hsm + (int)file + (int)sim > 1) {
        fprintf(stderr, "veil kms: choose one root-key provider: the --hsm-* options, "
                        "--root-key-file or --root-key-sim\n");
        return VEIL_EXIT_USAGE;
    }
    if (c->pin_env[0] && c->pin_file[0]) {
        fprintf(stderr, "veil kms: give --hsm-pin-env or --hsm-pin-file, not both\n");
        return VEIL_EXIT_USAGE;
    }
    c->kind = hsm    ? VEIL_KMS_ROOT_PKCS11
              : file ? VEIL_KMS_ROOT_FILE
              : sim  ? VEIL_KMS_ROOT_SIM
                     : VEIL_KMS_ROOT_NONE;
    a->root_given = c->kind != VEIL_KMS_ROOT_NONE || c->sim_socket[0];
    return VEIL_EXIT_OK;
}

static void print_json(json_t *doc)
{
    if (doc) {
        json_dumpf(doc, stdout, JSON_COMPACT);
        printf("\n");
        fflush(stdout);
    }
    json_decref(doc);
}

/* ---- init ----------------------------------------------------------------------- */

static int do_init(kms_args *a)
{
    veil_kms_root_config root;
    char token[VEIL_KMS_ADMIN_TOKEN_LEN + 1];
    char desc[700] = "", lid[44] = "", eid[44] = "";
    veil_kms *k = NULL;
    int rc = VEIL_EXIT_OK;
    veil_kms_root_config_default(&root);
    if (a->root.kind == VEIL_KMS_ROOT_NONE) {
        if (!getenv(VEIL_SIM_SOCKET_ENV) && !a->root.sim_socket[0]) {
            fprintf(stderr, "veil kms init: choose where the root key lives: --hsm-token LABEL "
                            "with --hsm-pin-env/--hsm-pin-file (an HSM; scripts/softhsm-setup.sh "
                            "makes a SoftHSM2 token), --root-key-file F, or --root-key-sim under "
                            "`veil sim launch`\n");
            return VEIL_EXIT_USAGE;
        }
        a->root.kind = VEIL_KMS_ROOT_SIM;
    }
    root.kind = a->root.kind;
#define TAKE(f)                                                                                    \
    if (a->root.f[0])                                                                              \
    snprintf(root.f, sizeof root.f, "%s", a->root.f)
    TAKE(module);
    TAKE(token);
    TAKE(key_label);
    TAKE(pin_env);
    TAKE(pin_file);
    TAKE(key_file);
    TAKE(sim_socket);
#undef TAKE
    if (root.kind == VEIL_KMS_ROOT_PKCS11 && !root.pin_env[0] && !root.pin_file[0]) {
        fprintf(stderr, "veil kms init: the HSM needs a PIN source: --hsm-pin-env VAR or "
                        "--hsm-pin-file F\n");
        return VEIL_EXIT_USAGE;
    }
    veil_result r = veil_kms_init(a->state, &root, token);
    if (veil_ok(r))
        r = veil_kms_open(a->state, NULL, &k);
    if (!veil_ok(r)) {
        cli_error("kms init", r);
        veil_wipe(token, sizeof token);
        return cli_exit_for(r);
    }
    veil_kms_root_description(k, desc, sizeof desc);
    if (!veil_ok(veil_sign_key_thumbprint(veil_kms_ledger_key(k), lid)) ||
        !veil_ok(veil_sign_key_thumbprint(veil_kms_ear_key(k), eid)))
        rc = VEIL_EXIT_INTERNAL;
    /* the public keys beside the state, for clients to pin */
    char path[VEIL_KMS_PATH_MAX + 16];
    veil_buf pem;
    veil_buf_init(&pem, 0);
    snprintf(path, sizeof path, "%s/ledger.pub", a->state);
    if (!veil_ok(veil_sign_key_public_pem(veil_kms_ledger_key(k), &pem)) ||
        cli_write_file(path, pem.data, pem.len, 0644) != 0)
        rc = VEIL_EXIT_INTERNAL;
    pem.len = 0;
    snprintf(path, sizeof path, "%s/ear.pub", a->state);
    if (!veil_ok(veil_sign_key_public_pem(veil_kms_ear_key(k), &pem)) ||
        cli_write_file(path, pem.data, pem.len, 0644) != 0)
        rc = VEIL_EXIT_INTERNAL;
    veil_buf_free(&pem);
    veil_kms_close(k);
    if (a->token_file && cli_write_file(a->token_file, token, strlen(token), 0600) != 0)
        rc = VEIL_EXIT_INTERNAL;
    if (a->as_json) {
        print_json(json_pack("{s:s,s:s,s:s,s:s,s:s,s:s*}", "event", "init", "state", a->state,
                             "root", desc, "log_id", lid, "ear_kid", eid, "admin_token",
                             a->token_file ? NULL : token));
    } else {
        printf("veil kms: state created in %s\n", a->state);
        printf("  root key:   %s\n", desc);
        printf("  ledger key: %s (public key in %s/ledger.pub; clients pin it)\n", lid, a->state);
        printf("  EAR key:    %s (public key in %s/ear.pub)\n", eid, a->state);
        if (a->token_file)
            printf("  admin token written to %s (mode 0600)\n", a->token_file);
        else
            printf("  admin token (shown once, only its hash is kept):\n%s\n", token);
    }
    veil_wipe(token, sizeof token);
    return rc;
}

/* ---- serve ------------------------------------------------------------------------ */

static void log_line(void *ctx, const char *json)
{
    bool as_json = *(bool *)ctx;
    if (as_json) {
        printf("%s\n", json);
        fflush(stdout);
    } else {
        fprintf(stderr, "veil kms: %s\n", json);
    }
}

/* The KDS for SEV-SNP evidence without a VCEK: AMD's unless told otherwise. */
static bool setup_kds(const kms_args *a, veil_kms *k)
{
    char cache[VEIL_KDS_PATH_MAX];
    if (a->kds_url && !strcmp(a->kds_url, "none"))
        return veil_ok(veil_kms_set_kds(k, NULL));
    if (a->kds_cache)
        snprintf(cache, sizeof cache, "%s", a->kds_cache);
    else if ((size_t)snprintf(cache, sizeof cache, "%s/kds-cache", a->state) >= sizeof cache)
        cache[0] = 0;
    veil_kds_config kc = {
        .base_url = a->kds_url, .cache_dir = cache, .crl_optional = a->kds_crl_optional};
    veil_result r = cache[0] ? veil_kms_set_kds(k, &kc) : VEIL_ERR(VEIL_E_USAGE, "path too long");
    if (!veil_ok(r))
        fprintf(stderr, "veil kms serve: --kds-url/--kds-cache: %s\n", r.msg);
    return veil_ok(r);
}

static int do_serve(kms_args *a)
{
    char host[64] = "127.0.0.1", ahost[64] = "127.0.0.1", desc[700] = "";
    veil_kms_service_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if ((a->listen && !parse_listen(a->listen, host, sizeof host, &cfg.port)) ||
        (a->admin_listen && !parse_listen(a->admin_listen, ahost, sizeof ahost, &cfg.admin_port))) {
        fprintf(stderr, "veil kms serve: --listen/--admin-listen want ADDR:PORT, e.g. "
                        "127.0.0.1:7400 or [::1]:0\n");
        return VEIL_EXIT_USAGE;
    }
    if (!a->listen)
        cfg.port = 7400;
    if (!a->admin_listen)
        cfg.admin_port = 7401;
    cfg.address = host;
    cfg.admin_address = ahost;
    cfg.ohttp_name = a->ohttp_key;
    cfg.keys_max_age = a->max_age > 0 ? (unsigned)a->max_age : 0;
    cfg.log = log_line;
    cfg.log_ctx = &a->as_json;
    if (strcmp(ahost, "127.0.0.1") && strcmp(ahost, "[::1]") && strcmp(ahost, "::1"))
        fprintf(stderr, "veil kms serve: warning: the admin API listens on %s, not loopback\n",
                ahost);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    veil_kms *k = NULL;
    veil_kms_service *svc = NULL;
    veil_result r = veil_kms_open(a->state, a->root_given ? &a->root : NULL, &k);
    if (!veil_ok(r)) {
        cli_error("kms serve", r);
        return cli_exit_for(r);
    }
    veil_kms_set_key_defaults(k, a->rotate_interval, a->grace);
    veil_kms_set_max_nonces(k, (unsigned)a->max_nonces);
    if (!setup_kds(a, k)) {
        veil_kms_close(k);
        return VEIL_EXIT_USAGE;
    }
    cfg.nonce_rate = (unsigned)a->nonce_rate;
    cfg.nonce_burst = (unsigned)a->nonce_burst;
    veil_kms_root_description(k, desc, sizeof desc);
    r = veil_kms_service_start(k, &cfg, &svc);
    if (!veil_ok(r)) {
        cli_error("kms serve", r);
        veil_kms_close(k);
        return cli_exit_for(r);
    }
    if (a->as_json) {
        print_json(json_pack("{s:s,s:s,s:s,s:i,s:s,s:i}", "event", "listening", "root", desc,
                             "address", host, "port", (int)veil_kms_service_port(svc),
                             "admin_address", ahost, "admin_port",
                             (int)veil_kms_service_admin_port(svc)));
    } else {
        printf("veil kms: root key: %s\n", desc);
        printf("veil kms: KDS for evidence without a VCEK: %s\n",
               a->kds_url && !strcmp(a->kds_url, "none") ? "off"
               : a->kds_url                              ? a->kds_url
                                                         : VEIL_KDS_DEFAULT_URL);
        printf("veil kms: listening on http://%s:%u/ (admin http://%s:%u/)\n", host,
               veil_kms_service_port(svc), ahost, veil_kms_service_admin_port(svc));
        fflush(stdout);
    }
    int rc = VEIL_EXIT_OK;
    for (;;) {
        struct timespec one = {1, 0};
        int sig = sigtimedwait(&set, NULL, &one);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        r = veil_kms_service_tick(svc, NULL);
        if (!veil_ok(r))
            cli_error("kms serve: rotation", r);
    }
    veil_kms_service_stop(svc);
    veil_kms_close(k);
    return rc;
}

/* ---- fetch (TEE side) --------------------------------------------------------------- */

static int do_fetch(kms_args *a)
{
    veil_attester *att = NULL;
    veil_release_keys *keys = NULL;
    veil_kms_problem pb;
    veil_buf ear, enc;
    uint64_t idx = 0;
    int rc = VEIL_EXIT_OK;
    memset(&pb, 0, sizeof pb);
    veil_buf_init(&ear, 0);
    veil_buf_init(&enc, 0);
    if (!a->kms_url || !a->key) {
        fprintf(stderr, "veil kms fetch: need --kms URL and --key NAME\n");
        return VEIL_EXIT_USAGE;
    }
    const char *kind = a->attester ? a->attester : getenv(VEIL_SIM_SOCKET_ENV) ? "sim" : "tsm";
    veil_result r = veil_attester_open(kind, NULL, &att);
    keys = veil_calloc(1, sizeof *keys);
    if (veil_ok(r) && !keys)
        r = VEIL_ERR(VEIL_E_NOMEM, "out of memory");
    if (veil_ok(r))
        r = veil_kms_fetch_keys(a->kms_url, a->key, att, 0, NULL, keys, &ear, &idx, &pb);
    if (!veil_ok(r)) {
        if (pb.check[0] && att)
            fprintf(stderr, "veil kms fetch: refused: check \"%s\": %s\n", pb.check, pb.detail);
        else
            cli_error("kms fetch", r);
        rc = pb.check[0] && strcmp(pb.check, "client") ? VEIL_EXIT_FAILED : cli_exit_for(r);
        goto out;
    }
    if (a->out) {
        if (!veil_ok(veil_release_keys_encode(keys, &enc)) ||
            cli_write_file(a->out, enc.data, enc.len, 0600) != 0) {
            rc = VEIL_EXIT_INTERNAL;
            goto out;
        }
    }
    json_t *list = json_array();
    for (size_t i = 0; i < keys->n; i++) {
        const veil_release_key *e = &keys->keys[i];
        json_array_append_new(list,
                              json_pack("{s:i,s:i,s:I,s:I}", "key_id", (int)e->config.key_id, "kem",
                                        (int)e->config.kem, "not_after", (json_int_t)e->not_after,
                                        "decrypt_until", (json_int_t)e->decrypt_until));
    }
    if (a->as_json) {
        print_json(json_pack("{s:s,s:s,s:o,s:I,s:s#,s:s?}", "event", "released", "name", keys->name,
                             "keys", list, "ledger_index", (json_int_t)idx, "ear",
                             (const char *)ear.data, (int)ear.len, "out", a->out));
    } else {
        printf("veil kms fetch: released %zu key(s) of \"%s\" (ledger entry %llu)%s%s\n", keys->n,
               keys->name, (unsigned long long)idx, a->out ? ", written to " : "",
               a->out ? a->out : "");
        for (size_t i = 0; i < keys->n; i++)
            printf("  key id %u  kem 0x%04x  advertised until %lld  decrypt until %lld\n",
                   keys->keys[i].config.key_id, keys->keys[i].config.kem,
                   (long long)keys->keys[i].not_after, (long long)keys->keys[i].decrypt_until);
        json_decref(list);
    }
out:
    if (keys) {
        veil_release_keys_wipe(keys);
        veil_free(keys);
    }
    veil_attester_free(att);
    veil_buf_free(&ear);
    veil_buf_free(&enc);
    return rc;
}

int cmd_kms(int argc, char **argv)
{
    kms_args a;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return usage(argc < 2 ? stderr : stdout, argc < 2 ? VEIL_EXIT_USAGE : VEIL_EXIT_OK);
    const char *sub = argv[1];
    int rc = parse(argc - 1, argv + 1, &a);
    if (rc < 0)
        return VEIL_EXIT_OK; /* --help */
    if (rc != VEIL_EXIT_OK)
        return rc;
    if (!strcmp(sub, "fetch"))
        return do_fetch(&a);
    if (!a.state) {
        fprintf(stderr, "veil kms %s: need --state DIR\n", sub);
        return VEIL_EXIT_USAGE;
    }
    if (!strcmp(sub, "init"))
        return do_init(&a);
    if (!strcmp(sub, "serve"))
        return do_serve(&a);
    fprintf(stderr, "veil kms: unknown subcommand '%s' (init, serve, fetch)\n", sub);
    return VEIL_EXIT_USAGE;
}
