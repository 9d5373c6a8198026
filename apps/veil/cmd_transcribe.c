/* veil transcribe: speech to text through the verified, encrypted path.
 *
 *   veil transcribe FILE --relay URL --gateway URL [--policy FILE] [--language xx]
 *                   [--response-format json|text|verbose_json] [--model M]
 *                   [--json] [--audit FILE]
 *
 * Verifies the gateway's attestation against the policy (the user's
 * reference values) with a fresh nonce, then sends the audio, encrypted to
 * the attested key, through the relay, and prints the transcript. Also the
 * shared helpers of the client commands (cli.h): opening a verified client
 * and loading audio. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "veil/client.h"
#include "veil/mem.h"
#include "veil/sign.h"

#define MAX_AUDIO ((size_t)25 << 20)
#define MAX_POLICY ((size_t)256 << 10)
#define RAW_RATE 16000u

/* ---- progress on a terminal ------------------------------------------------------------ */

struct progress_state {
    int64_t last_ms;
    bool shown;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void show_progress(void *ctx, veil_client_phase ph, uint64_t done, uint64_t total)
{
    struct progress_state *p = ctx;
    int64_t now = mono_ms();
    bool last_upload = ph == VEIL_CLIENT_UPLOAD && done == total;
    if (now - p->last_ms < 100 && !last_upload)
        return;
    p->last_ms = now;
    p->shown = true;
    if (ph == VEIL_CLIENT_UPLOAD)
        fprintf(stderr, "\r\033[K  uploading (encrypted) %3d%%  %llu/%llu KiB",
                total ? (int)(done * 100 / total) : 100, (unsigned long long)(done / 1024),
                (unsigned long long)(total / 1024));
    else if (ph == VEIL_CLIENT_WAITING)
        fprintf(stderr, "\r\033[K  processing inside the TEE... %.1f s", (double)done / 1000.0);
    else
        fprintf(stderr, "\r\033[K  receiving (encrypted) %llu bytes", (unsigned long long)done);
}

static struct progress_state g_progress;

void cli_progress_done(void)
{
    if (g_progress.shown)
        fprintf(stderr, "\r\033[K");
    g_progress.shown = false;
}

/* ---- shared: a verified client -------------------------------------------------------- */

bool cli_client_kms_opt(int opt, const char *arg, struct cli_client_args *a)
{
    switch (opt) {
    case CLI_OPT_KMS: a->kms = arg; return true;
    case CLI_OPT_KMS_KEY: a->kms_key = arg; return true;
    case CLI_OPT_LEDGER_KEY: a->ledger_key = arg; return true;
    case CLI_OPT_LEDGER_STATE: a->ledger_state = arg; return true;
    default: return false;
    }
}

/* ${XDG_STATE_HOME:-$HOME/.local/state}/veil/ledger-<thumbprint>.json, the
 * directories made (0700) as needed: one state per log. */
static int default_ledger_state(const char *pem, char *out, size_t cap)
{
    veil_sign_key *k = NULL;
    char thumb[44], dir[900];
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (!veil_ok(veil_sign_key_from_pem((const uint8_t *)pem, strlen(pem), &k)) ||
        !veil_ok(veil_sign_key_thumbprint(k, thumb))) {
        veil_sign_key_free(k);
        fprintf(stderr, "veil: --ledger-key is not a P-384 public key (PEM)\n");
        return VEIL_EXIT_INPUT;
    }
    veil_sign_key_free(k);
    if (xdg && xdg[0])
        snprintf(dir, sizeof dir, "%s", xdg);
    else if (home && home[0])
        snprintf(dir, sizeof dir, "%s/.local/state", home);
    else {
        fprintf(stderr, "veil: no $HOME: give --ledger-state FILE\n");
        return VEIL_EXIT_USAGE;
    }
    size_t n = strlen(dir);
    snprintf(dir + n, sizeof dir - n, "/veil");
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            (void)mkdir(dir, 0700);
            *p = '/';
        }
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "veil: cannot create %s: %s\n", dir, strerror(errno));
        return VEIL_EXIT_INPUT;
    }
    int w = snprintf(out, cap, "%s/ledger-%s.json", dir, thumb);
    return w > 0 && (size_t)w < cap ? VEIL_EXIT_OK : VEIL_EXIT_USAGE;
}

int cli_client_open(const char *gateway, const char *relay, const char *policy_path, int quiet,
                    struct veil_client **out, struct veil_client_report *rep)
{
    struct cli_client_args a = {.gateway = gateway, .relay = relay, .policy_path = policy_path};
    return cli_client_open_args(&a, quiet, out, rep);
}

static int client_verify(veil_client_opts *o, int quiet, veil_client **out, veil_client_report *rep)
{
    veil_client *c = NULL;
    veil_buf text;
    veil_buf_init(&text, 0);
    o->progress = !quiet && isatty(2) ? show_progress : NULL;
    o->progress_ctx = &g_progress;
    veil_result r = veil_client_new(o, &c);
    if (!veil_ok(r)) {
        cli_error("client", r);
        return cli_exit_for(r);
    }
    r = veil_client_verify(c, rep);
    if (!quiet && veil_ok(veil_client_report_text(rep, &text)))
        fprintf(stderr, "%.*s", (int)text.len, (const char *)text.data);
    veil_buf_free(&text);
    if (!veil_ok(r)) {
        fprintf(stderr, "veil: refusing to send anything: %s\n", r.msg);
        veil_client_free(c);
        return VEIL_EXIT_FAILED;
    }
    if (!quiet && rep->simulated)
        fprintf(stderr, "WARNING: the TEE is SIMULATED: it gives no confidentiality (for tests "
                        "and demos only)\n");
    *out = c;
    return VEIL_EXIT_OK;
}

int cli_client_open_args(const struct cli_client_args *a, int quiet, struct veil_client **out,
                         struct veil_client_report *rep)
{
    size_t n = 0, kn = 0;
    char *policy = NULL, *ledger_key = NULL, state[1024];
    const char *policy_path = a->policy_path ? a->policy_path : getenv("VEIL_POLICY");
    int rc = VEIL_EXIT_INPUT;
    *out = NULL;
    if (!policy_path) {
        fprintf(stderr, "veil: need --policy FILE: the reference values you accept (the "
                        "gateway's measurement and the roots you trust; docs/policy.md), or "
                        "$VEIL_POLICY\n");
        return VEIL_EXIT_USAGE;
    }
    if (a->kms && !a->ledger_key) {
        fprintf(stderr, "veil: --kms needs --ledger-key FILE: the KMS ledger's public key, "
                        "obtained out of band (the KMS state's ledger.pub)\n");
        return VEIL_EXIT_USAGE;
    }
    policy = cli_read_file(policy_path, &n, MAX_POLICY);
    if (!policy)
        goto out;
    veil_client_opts o = {
        .gateway_url = a->gateway, .relay_url = a->relay, .policy_json = policy, .policy_len = n};
    if (a->kms) {
        if (!(ledger_key = cli_read_file(a->ledger_key, &kn, 64 << 10)))
            goto out;
        if (a->ledger_state)
            snprintf(state, sizeof state, "%s", a->ledger_state);
        else if ((rc = default_ledger_state(ledger_key, state, sizeof state)) != 0)
            goto out;
        o.kms_url = a->kms;
        o.kms_key = a->kms_key;
        o.ledger_key_pem = ledger_key;
        o.state_file = state;
    }
    rc = client_verify(&o, quiet, out, rep);
out:
    veil_free(policy);
    veil_free(ledger_key);
    return rc;
}

/* ---- shared: audio ------------------------------------------------------------------------ */

static void le16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Headerless .raw files (pocketsphinx's test data) are 16 kHz mono s16le:
 * wrapped here in a canonical 44-byte WAV header, in memory. */
int cli_load_audio(const char *path, unsigned char **data, size_t *len)
{
    size_t n = 0;
    char *raw = cli_read_file(path, &n, MAX_AUDIO);
    *data = NULL;
    *len = 0;
    if (!raw)
        return VEIL_EXIT_INPUT;
    size_t pl = strlen(path);
    if (pl < 4 || strcmp(path + pl - 4, ".raw") != 0) {
        *data = (unsigned char *)raw;
        *len = n;
        return VEIL_EXIT_OK;
    }
    uint8_t *wav = veil_calloc(1, n + 44);
    if (!wav) {
        veil_free(raw);
        return VEIL_EXIT_INTERNAL;
    }
    memcpy(wav, "RIFF", 4);
    le32(wav + 4, (uint32_t)(36 + n));
    memcpy(wav + 8, "WAVEfmt ", 8);
    le32(wav + 16, 16);
    le16(wav + 20, 1); /* PCM */
    le16(wav + 22, 1); /* mono */
    le32(wav + 24, RAW_RATE);
    le32(wav + 28, RAW_RATE * 2);
    le16(wav + 32, 2);
    le16(wav + 34, 16);
    memcpy(wav + 36, "data", 4);
    le32(wav + 40, (uint32_t)n);
    memcpy(wav + 44, raw, n);
    veil_free(raw);
    *data = wav;
    *len = n + 44;
    return VEIL_EXIT_OK;
}

/* ---- transcribe ---------------------------------------------------------------------------- */

static int usage(FILE *f, int code)
{
    fprintf(f,
            "usage: veil transcribe FILE --relay URL (--gateway URL | --kms URL --ledger-key F)\n"
            "                       [--policy FILE] [--language xx] [--response-format "
            "json|text|verbose_json]\n"
            "                       [--model M] [--json] [--audit FILE] [--quiet]\n"
            "\n"
            "Verifies the gateway's attestation against --policy (the measurement and roots\n"
            "you accept; default $VEIL_POLICY) with a fresh nonce, then sends FILE (WAV, FLAC,\n"
            "Ogg, MP3...; .raw = 16 kHz mono s16le) encrypted to the attested key through the\n"
            "relay, and prints the transcript. Nothing is sent if verification fails.\n"
            "\n"
            "  --relay URL      the Oblivious HTTP relay (it sees your address, not your data)\n"
            "  --gateway URL    the gateway's base URL (keys and attestation are fetched there)\n"
            "  --audit FILE     write an offline audit bundle (check it: veil audit verify "
            "FILE)\n" CLI_CLIENT_KMS_USAGE
            "  --json           one JSON object: transcript, response and what was verified\n"
            "Exit: 0 ok, 1 verification refused or the gateway answered an error, 2 usage,\n"
            "3 unreadable input or protocol failure, 4 internal.\n");
    return code;
}

/* Print what the application answered; returns the exit code. */
static int print_result(const veil_bhttp_msg *resp, const char *format, bool as_json,
                        const veil_client_report *rep, const char *audit)
{
    size_t n = 0;
    const uint8_t *p = veil_bhttp_content(resp, &n);
    unsigned status = veil_bhttp_status(resp);
    json_t *doc = p ? json_loadb((const char *)p, n, 0, NULL) : NULL;
    const char *text = json_string_value(json_object_get(doc, "text"));
    int rc = status == 200 ? VEIL_EXIT_OK : VEIL_EXIT_FAILED;
    if (as_json) {
        veil_buf vj;
        veil_buf_init(&vj, 0);
        json_t *ver = veil_ok(veil_client_report_json(rep, &vj))
                          ? json_loadb((const char *)vj.data, vj.len, 0, NULL)
                          : NULL;
        json_t *o =
            json_pack("{s:i,s:o*,s:o*}", "status", (int)status, "verification", ver, "response",
                      doc ? json_incref(doc) : json_stringn(p ? (const char *)p : "", n));
        if (o && status == 200 && (text || !doc))
            json_object_set_new(o, "transcript",
                                text ? json_string(text) : json_stringn((const char *)p, n));
        if (o && audit)
            json_object_set_new(o, "audit", json_string(audit));
        if (o) {
            json_dumpf(o, stdout, JSON_INDENT(2));
            printf("\n");
        }
        json_decref(o);
        veil_buf_free(&vj);
    } else if (status != 200) {
        const char *msg =
            json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
        fprintf(stderr, "veil transcribe: the gateway answered %u: %s\n", status,
                msg ? msg : "(no message)");
    } else if (text && (!format || !strcmp(format, "json"))) {
        printf("%s\n", text);
    } else if (doc) {
        json_dumpf(doc, stdout, JSON_INDENT(2));
        printf("\n");
    } else {
        fwrite(p, 1, n, stdout);
        if (n && p[n - 1] != '\n')
            printf("\n");
    }
    json_decref(doc);
    return rc;
}

int cmd_transcribe(int argc, char **argv)
{
    static const struct option opts[] = {{"relay", required_argument, NULL, 'r'},
                                         {"gateway", required_argument, NULL, 'g'},
                                         {"policy", required_argument, NULL, 'p'},
                                         {"language", required_argument, NULL, 'l'},
                                         {"response-format", required_argument, NULL, 'f'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"audit", required_argument, NULL, 'a'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         CLI_CLIENT_KMS_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    struct cli_client_args ca = {0};
    const char *audit = NULL;
    veil_client_transcription t = {0};
    bool as_json = false, quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r': ca.relay = optarg; break;
        case 'g': ca.gateway = optarg; break;
        case 'p': ca.policy_path = optarg; break;
        case 'l': t.language = optarg; break;
        case 'f': t.response_format = optarg; break;
        case 'm': t.model = optarg; break;
        case 'a': audit = optarg; break;
        case 'j': as_json = true; break;
        case 'q': quiet = true; break;
        case 'h': return usage(stdout, VEIL_EXIT_OK);
        default:
            if (!cli_client_kms_opt(c, optarg, &ca))
                return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (optind + 1 != argc || !ca.relay || !(ca.gateway || ca.kms)) {
        fprintf(stderr, "veil transcribe: need FILE, --relay URL and --gateway URL (or --kms)\n");
        return usage(stderr, VEIL_EXIT_USAGE);
    }
    if (t.response_format && strcmp(t.response_format, "json") &&
        strcmp(t.response_format, "text") && strcmp(t.response_format, "verbose_json")) {
        fprintf(stderr, "veil transcribe: --response-format is json, text or verbose_json\n");
        return VEIL_EXIT_USAGE;
    }
    const char *file = argv[optind];
    unsigned char *audio = NULL;
    size_t audio_len = 0;
    veil_client *cl = NULL;
    veil_client_report *rep = veil_calloc(1, sizeof *rep);
    veil_bhttp_msg *resp = NULL;
    veil_buf bundle;
    veil_buf_init(&bundle, 0);
    int rc = rep ? cli_load_audio(file, &audio, &audio_len) : VEIL_EXIT_INTERNAL;
    if (rc)
        goto out;
    rc = cli_client_open_args(&ca, quiet || as_json, &cl, rep);
    if (rc) {
        if (as_json && veil_ok(veil_client_report_json(rep, &bundle)))
            printf("{\"status\":0,\"verification\":%.*s}\n", (int)bundle.len,
                   (const char *)bundle.data);
        goto out;
    }
    const char *slash = strrchr(file, '/');
    t.audio = audio;
    t.audio_len = audio_len;
    t.filename = slash ? slash + 1 : file;
    veil_result r = veil_client_transcribe(cl, &t, &resp);
    cli_progress_done();
    if (!veil_ok(r)) {
        cli_error("transcribe", r);
        rc = VEIL_EXIT_INPUT;
        goto out;
    }
    if (audit) {
        if (!veil_ok(veil_client_audit_bundle(cl, rep, &bundle)) ||
            cli_write_file(audit, bundle.data, bundle.len, 0644) != 0) {
            fprintf(stderr, "veil transcribe: cannot write the audit bundle %s\n", audit);
            rc = VEIL_EXIT_INTERNAL;
            goto out;
        }
        if (!as_json && !quiet)
            fprintf(stderr, "audit bundle written to %s (check it: veil audit verify %s)\n", audit,
                    audit);
    }
    rc = print_result(resp, t.response_format, as_json, rep, audit);
out:
    veil_bhttp_msg_free(resp);
    veil_client_free(cl);
    veil_free_wiped(audio, audio_len);
    veil_free(rep);
    veil_buf_free(&bundle);
    return rc;
}
