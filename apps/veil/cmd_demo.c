/* veil demo / veil up: the whole system on one machine, in one command.
 *
 *   veil demo [FILE] [--json] [--state DIR]   build the stack, verify, transcribe, stop
 *   veil demo --local FILE [--json]           the inner application alone, in process
 *                                              (no TEE, no network): the reference output
 *   veil up [--state DIR] [--json]            build the stack and keep it running
 *
 * The stack, on loopback ports the OS picks (each child prints its port):
 *   1. veil sim init                 a SIMULATED secure processor (no confidentiality)
 *   2. veil measure --sim VEIL       the measurement the gateway must have; the policy
 *                                    admits exactly it and trusts the simulated root
 *   3. veil sim launch -- VEIL gateway --listen 127.0.0.1:0 --json
 *   4. veil relay --listen 127.0.0.1:0 --gateway GATEWAY/gateway --json
 *   5. as the client, in this process: verify the gateway's attestation against
 *      the policy (fresh nonce), then transcribe FILE through the relay.
 * Every process started here is stopped here, on success, on error and on
 * SIGINT/SIGTERM; children also get SIGTERM if this process dies
 * (PR_SET_PDEATHSIG). Every wait is bounded. */
#define _GNU_SOURCE /* nftw, prctl */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "common/json_util.h"
#include "veil/app.h"
#include "veil/client.h"
#include "veil/http.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/rand.h"

#define LIBRIVOX_WAV                                                                               \
    "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav"
#define GOFORWARD_RAW "/usr/share/pocketsphinx/test/data/goforward.raw"
#define READY_TIMEOUT_MS 240000 /* the gateway loads the en-us language model first */
#define RELAY_READY_MS 30000
#define STOP_GRACE_MS 15000
#define MAX_LINE_BUF ((size_t)1 << 20)
#define PATH_CAP 1024
#define MAX_MODELS 16

/* ---- children ------------------------------------------------------------------------------ */

struct child {
    const char *name;
    pid_t pid;
    int out; /* its stdout */
    char log[PATH_CAP];
    veil_buf lines; /* stdout not yet split into lines */
};

static volatile sig_atomic_t g_interrupted;
static volatile pid_t g_pids[3]; /* gateway, relay, kms */

static void on_signal(int sig)
{
    g_interrupted = sig;
    for (int i = 0; i < 3; i++)
        if (g_pids[i] > 0)
            kill(g_pids[i], SIGTERM);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Start argv (argv[0] an absolute path) with stdout to a pipe, stderr to a log. */
static int spawn(struct child *ch, int slot, char *const argv[])
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        /* Own process group: a terminal's Ctrl-C reaches the demo, which stops
         * the children in order; and they die with the demo regardless. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127);
        int lf = open(ch->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (lf < 0 || dup2(p[1], 1) < 0 || dup2(lf, 2) < 0)
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    ch->pid = pid;
    ch->out = p[0];
    g_pids[slot] = pid;
    return 0;
}

/* Print the end of a child's log (why it failed). */
static void show_log(const struct child *ch)
{
    size_t n = 0;
    FILE *f = fopen(ch->log, "r");
    char buf[4096];
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    fprintf(stderr, "--- %s log (%s) ---\n%s%s", ch->name, ch->log, buf,
            n && buf[n - 1] == '\n' ? "" : "\n");
}

/* The next JSON line from the child whose "event" is `event`, within ms. */
static json_t *read_event(struct child *ch, const char *event, int ms)
{
    int64_t deadline = mono_ms() + ms;
    for (int guard = 0; guard < 1000000 && !g_interrupted; guard++) {
        /* complete lines first */
        uint8_t *nl = ch->lines.len ? memchr(ch->lines.data, '\n', ch->lines.len) : NULL;
        if (nl) {
            size_t len = (size_t)(nl - ch->lines.data);
            json_t *j = json_loadb((const char *)ch->lines.data, len, 0, NULL);
            memmove(ch->lines.data, nl + 1, ch->lines.len - len - 1);
            ch->lines.len -= len + 1;
            const char *ev = json_string_value(json_object_get(j, "event"));
            if (ev && !strcmp(ev, event))
                return j;
            json_decref(j);
            continue;
        }
        int64_t left = deadline - mono_ms();
        if (left <= 0 || ch->out < 0)
            return NULL;
        struct pollfd pf = {ch->out, POLLIN, 0};
        int k = poll(&pf, 1, left > 200 ? 200 : (int)left);
        if (k < 0 && errno != EINTR)
            return NULL;
        if (k <= 0)
            continue;
        uint8_t buf[4096];
        ssize_t n = read(ch->out, buf, sizeof buf);
        if (n <= 0) { /* the child closed its stdout: it is gone */
            close(ch->out);
            ch->out = -1;
            continue;
        }
        if (!veil_ok(veil_buf_append(&ch->lines, buf, (size_t)n)))
            return NULL;
    }
    return NULL;
}

/* SIGTERM, wait (bounded), SIGKILL if need be. Returns the exit status. */
static int stop_child(struct child *ch, int slot)
{
    int status = 0;
    if (ch->pid <= 0)
        return 0;
    kill(ch->pid, SIGTERM);
    int64_t deadline = mono_ms() + STOP_GRACE_MS;
    pid_t w = 0;
    while ((w = waitpid(ch->pid, &status, WNOHANG)) == 0 && mono_ms() < deadline)
        sleep_ms(50);
    if (w == 0) {
        fprintf(stderr, "veil demo: %s did not stop in %d s: killing it\n", ch->name,
                STOP_GRACE_MS / 1000);
        kill(ch->pid, SIGKILL);
        waitpid(ch->pid, &status, 0);
    }
    ch->pid = 0;
    g_pids[slot] = 0;
    return status;
}

static void child_free(struct child *ch)
{
    if (ch->out >= 0)
        close(ch->out);
    ch->out = -1;
    veil_buf_free(&ch->lines);
}

/* Run a short command and keep its stdout (bounded); 0 when it exits 0. */
static int run_capture(char *const argv[], const char *log, veil_buf *out, int ms)
{
    struct child ch = {.name = argv[1], .out = -1};
    snprintf(ch.log, sizeof ch.log, "%s", log);
    veil_buf_init(&ch.lines, MAX_LINE_BUF);
    int status = -1;
    if (spawn(&ch, 0, argv) != 0)
        goto out;
    int64_t deadline = mono_ms() + ms;
    for (int guard = 0; guard < 100000 && ch.out >= 0 && mono_ms() < deadline; guard++) {
        struct pollfd pf = {ch.out, POLLIN, 0};
        if (poll(&pf, 1, 200) <= 0)
            continue;
        uint8_t buf[4096];
        ssize_t n = read(ch.out, buf, sizeof buf);
        if (n <= 0 || !veil_ok(veil_buf_append(out, buf, (size_t)n))) {
            close(ch.out);
            ch.out = -1;
        }
    }
    for (int64_t end = mono_ms() + 5000; waitpid(ch.pid, &status, WNOHANG) == 0;) {
        if (mono_ms() > end) {
            kill(ch.pid, SIGKILL);
            waitpid(ch.pid, &status, 0);
            break;
        }
        sleep_ms(20);
    }
    g_pids[0] = 0;
out:
    child_free(&ch);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : 0; /* best effort, keep going */
}

/* ---- the stack --------------------------------------------------------------------------- */

struct stack {
    char dir[PATH_CAP / 2];
    bool own_dir; /* made here: removed at the end */
    char self[PATH_CAP];
    char sim_dir[PATH_CAP], policy[PATH_CAP];
    char ark[65], measurement[97];
    char gateway_url[256], relay_url[256];
    struct child gw, relay, kms;
    bool use_kms; /* the gateway's keys come from a KMS by attestation */
    bool kms_hsm; /* its root key is in a SoftHSM2 token (else a 0600 file) */
    char kms_url[128], kms_admin_url[128], ledger_key[PATH_CAP], ledger_state[PATH_CAP];
    uint64_t bytes_up, bytes_down;
    bool quiet;
    const char *models[MAX_MODELS]; /* --model NAME=BACKEND, passed to the gateway */
    size_t n_models;
};

__attribute__((format(printf, 2, 3))) static void say(const struct stack *s, const char *fmt, ...)
{
    if (s->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static bool json_field(const veil_buf *b, const char *name, char *out, size_t cap)
{
    json_t *j = json_loadb((const char *)b->data, b->len, 0, NULL);
    const char *v = json_string_value(json_object_get(j, name));
    bool ok = v && strlen(v) < cap;
    if (ok)
        memcpy(out, v, strlen(v) + 1);
    json_decref(j);
    return ok;
}

/* One admin change: PUT {admin}{path} with the bearer token. */
static int kms_admin(const char *admin, const char *token, const char *path, const char *body)
{
    char url[256], auth[160];
    snprintf(url, sizeof url, "%s%s", admin, path);
    snprintf(auth, sizeof auth, "Bearer %s", token);
    veil_http_header h = {"Authorization", auth};
    veil_http_client_request req = {.method = "PUT",
                                    .url = url,
                                    .content_type = "application/json",
                                    .headers = &h,
                                    .n_headers = 1,
                                    .body = body,
                                    .body_len = strlen(body)};
    veil_http_client_response resp;
    memset(&resp, 0, sizeof resp);
    veil_result r = veil_http_fetch(&req, NULL, &resp);
    bool ok = veil_ok(r) && resp.status >= 200 && resp.status < 300;
    if (!ok)
        fprintf(stderr, "veil demo: KMS admin PUT %s: HTTP %ld %.*s\n", path, resp.status,
                (int)resp.body.len, resp.body.data ? (const char *)resp.body.data : "");
    veil_wipe(auth, sizeof auth);
    veil_http_client_response_free(&resp);
    return ok ? 0 : -1;
}

#define SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define SOFTHSM_UTIL "/usr/bin/softhsm2-util"

/* A private SoftHSM2 token for the KMS's root key (what scripts/softhsm-setup.sh
 * does): DIR/hsm/softhsm2.conf (exported as SOFTHSM2_CONF to the children),
 * a token "veil-kms" with random PINs, the user PIN in DIR/hsm/pin (0600).
 * Returns false, changing nothing, when SoftHSM2 is not installed. The PINs
 * pass softhsm2-util's command line once: acceptable for a throw-away demo
 * token, not for a real HSM. */
static bool hsm_setup(struct stack *s, char *pin_file, size_t cap)
{
    char dir[PATH_CAP / 2 + 8], conf[PATH_CAP + 32], text[PATH_CAP + 160], log[PATH_CAP + 32];
    char pin[33], so_pin[33];
    uint8_t rnd[32];
    veil_buf out;
    bool ok = false;
    if (access(SOFTHSM_MODULE, R_OK) != 0 || access(SOFTHSM_UTIL, X_OK) != 0)
        return false;
    snprintf(dir, sizeof dir, "%s/hsm", s->dir);
    snprintf(conf, sizeof conf, "%s/tokens", dir);
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || (mkdir(conf, 0700) != 0 && errno != EEXIST))
        return false;
    int n = snprintf(text, sizeof text,
                     "directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
                     "log.level = ERROR\nslots.removable = false\n",
                     dir);
    snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir);
    if (cli_write_file(conf, text, (size_t)n, 0600) != 0 || setenv("SOFTHSM2_CONF", conf, 1) != 0 ||
        !veil_ok(veil_random_bytes(rnd, sizeof rnd)))
        return false;
    veil_hex_encode(rnd, 16, pin);
    veil_hex_encode(rnd + 16, 16, so_pin);
    snprintf(log, sizeof log, "%s/softhsm-init.log", s->dir);
    snprintf(pin_file, cap, "%s/pin", dir);
    char *init[] = {SOFTHSM_UTIL, "--init-token", "--free", "--label", "veil-kms",
                    "--so-pin",   so_pin,         "--pin",  pin,       NULL};
    veil_buf_init(&out, MAX_LINE_BUF);
    ok = run_capture(init, log, &out, 60000) == 0 && cli_write_file(pin_file, pin, 32, 0600) == 0;
    veil_buf_free(&out);
    veil_wipe(pin, sizeof pin);
    veil_wipe(so_pin, sizeof so_pin);
    veil_wipe(rnd, sizeof rnd);
    if (!ok)
        unsetenv("SOFTHSM2_CONF");
    return ok;
}

/* veil kms init: the root key in a SoftHSM2 token when SoftHSM2 is
 * installed, else in a 0600 file; the admin token into `token`. */
static int kms_init(struct stack *s, char *state, char *token, size_t cap)
{
    char root[PATH_CAP], tokf[PATH_CAP], log[PATH_CAP + 32], pin_file[PATH_CAP];
    veil_buf out;
    size_t n = 0;
    char *tok = NULL;
    int rc = -1;
    snprintf(root, sizeof root, "%s/kms-root.key", s->dir);
    snprintf(tokf, sizeof tokf, "%s/kms-admin-token", s->dir);
    snprintf(log, sizeof log, "%s/kms-init.log", s->dir);
    s->kms_hsm = hsm_setup(s, pin_file, sizeof pin_file);
    say(s, "[2b]  key management service       $ veil kms init --state %s %s; veil kms serve\n",
        state,
        s->kms_hsm ? "--hsm-token veil-kms --hsm-pin-file ...   (root key in SoftHSM2)"
                   : "--root-key-file ...   (SoftHSM2 not installed: root key in a 0600 file)");
    char *with_hsm[] = {s->self,    "kms",
                        "init",     "--state",
                        state,      "--hsm-token",
                        "veil-kms", "--hsm-pin-file",
                        pin_file,   "--admin-token-file",
                        tokf,       "--json",
                        NULL};
    char *with_file[] = {
        s->self, "kms",    "init", "--state", state, "--root-key-file", root, "--admin-token-file",
        tokf,    "--json", NULL};
    veil_buf_init(&out, MAX_LINE_BUF);
    if (run_capture(s->kms_hsm ? with_hsm : with_file, log, &out, 120000) != 0 ||
        !(tok = cli_read_file(tokf, &n, 4096)) || n >= cap) {
        fprintf(stderr, "veil demo: veil kms init failed (log: %s)\n", log);
        goto out;
    }
    memcpy(token, tok, n);
    token[n] = '\0';
    token[strcspn(token, "\r\n")] = '\0';
    rc = 0;
out:
    veil_free_wiped(tok, n);
    veil_buf_free(&out);
    return rc;
}

/* The KMS (DESIGN.md flow 1): init (above), serve on port 0, then an OHTTP
 * key "gw" whose release policy and reference values admit exactly the
 * measurement the client's policy admits. */
static int kms_up(struct stack *s)
{
    char state[PATH_CAP], body[512];
    char admin[128], token[128];
    json_t *ev = NULL;
    int rc = -1;
    snprintf(state, sizeof state, "%s/kms", s->dir);
    snprintf(s->ledger_key, sizeof s->ledger_key, "%s/kms/ledger.pub", s->dir);
    snprintf(s->ledger_state, sizeof s->ledger_state, "%s/client-ledger-state.json", s->dir);
    if (kms_init(s, state, token, sizeof token) != 0)
        goto out;
    s->kms = (struct child){.name = "kms", .out = -1};
    snprintf(s->kms.log, sizeof s->kms.log, "%s/kms.log", s->dir);
    veil_buf_init(&s->kms.lines, MAX_LINE_BUF);
    char *serve[] = {s->self,       "kms",      "serve",       "--state",
                     state,         "--listen", "127.0.0.1:0", "--admin-listen",
                     "127.0.0.1:0", "--json",   NULL};
    if (spawn(&s->kms, 2, serve) != 0 || !(ev = read_event(&s->kms, "listening", 60000))) {
        fprintf(stderr, "veil demo: the KMS did not start\n");
        show_log(&s->kms);
        goto out;
    }
    snprintf(s->kms_url, sizeof s->kms_url, "http://127.0.0.1:%d",
             (int)json_integer_value(json_object_get(ev, "port")));
    snprintf(admin, sizeof admin, "http://127.0.0.1:%d",
             (int)json_integer_value(json_object_get(ev, "admin_port")));
    snprintf(s->kms_admin_url, sizeof s->kms_admin_url, "%s", admin);
    snprintf(body, sizeof body, "{\"measurements\":[\"%s\"],\"trusted_simulated_roots\":[\"%s\"]}",
             s->measurement, s->ark);
    if (kms_admin(admin, token, "/admin/keys/gw", "{\"type\":\"ohttp\",\"suites\":[\"x25519\"]}") ||
        kms_admin(admin, token, "/admin/refvalues", body) ||
        kms_admin(admin, token, "/admin/keys/gw/policy",
                  "{\"allOf\":[{\"claim\":\"sev-snp.ear.status\",\"in\":[\"affirming\","
                  "\"warning\"]},{\"claim\":\"sev-snp.veil.claims.debug\",\"equals\":false}]}"))
        goto out;
    say(s, "      %s: key 'gw' released only to the measurement above; ledger key %s\n", s->kms_url,
        s->ledger_key);
    rc = 0;
out:
    json_decref(ev);
    veil_wipe(token, sizeof token);
    return rc;
}

static int stack_up(struct stack *s, const char *state_dir)
{
    char log[PATH_CAP + 32];
    veil_buf out;
    veil_buf_init(&out, MAX_LINE_BUF);
    int rc = VEIL_EXIT_INTERNAL;
    json_t *ev = NULL;
    ssize_t n = readlink("/proc/self/exe", s->self, sizeof s->self - 1);
    if (n <= 0) {
        fprintf(stderr, "veil demo: cannot find the veil binary (/proc/self/exe)\n");
        goto out;
    }
    s->self[n] = '\0';
    if (state_dir && strlen(state_dir) >= sizeof s->dir) {
        fprintf(stderr, "veil demo: --state: path too long\n");
        goto out;
    }
    if (state_dir) {
        snprintf(s->dir, sizeof s->dir, "%s", state_dir);
        if (mkdir(s->dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "veil demo: cannot create %s: %s\n", s->dir, strerror(errno));
            goto out;
        }
    } else {
        snprintf(s->dir, sizeof s->dir, "/tmp/veil-demo-XXXXXX");
        if (!mkdtemp(s->dir)) {
            fprintf(stderr, "veil demo: cannot create a temporary directory\n");
            goto out;
        }
        s->own_dir = true;
    }
    snprintf(s->sim_dir, sizeof s->sim_dir, "%s/sim", s->dir);
    snprintf(s->policy, sizeof s->policy, "%s/policy.json", s->dir);
    say(s, "state directory %s\n\n", s->dir);

    /* 1. the simulated secure processor */
    say(s, "[1/6] simulated secure processor   $ veil sim init --state %s\n", s->sim_dir);
    snprintf(log, sizeof log, "%s/sim-init.log", s->dir);
    char *init[] = {s->self, "sim", "init", "--state", s->sim_dir, "--json", NULL};
    if (run_capture(init, log, &out, 60000) != 0 || !json_field(&out, "ark_sha256", s->ark, 65)) {
        fprintf(stderr, "veil demo: veil sim init failed (log: %s)\n", log);
        goto out;
    }
    say(s, "      simulated ARK sha256:%s\n", s->ark);

    /* 2. the measurement to expect, and a policy admitting exactly it */
    say(s, "[2/6] expected measurement         $ veil measure --sim %s\n", s->self);
    veil_buf_clear(&out);
    snprintf(log, sizeof log, "%s/measure.log", s->dir);
    char *meas[] = {s->self, "measure", "--sim", s->self, "--json", NULL};
    if (run_capture(meas, log, &out, 120000) != 0 ||
        !json_field(&out, "measurement", s->measurement, 97)) {
        fprintf(stderr, "veil demo: veil measure --sim failed (log: %s)\n", log);
        goto out;
    }
    char policy[512];
    int pn = snprintf(policy, sizeof policy,
                      "{\n  \"trusted_simulated_roots\": [\"%s\"],\n"
                      "  \"measurements\": [\"%s\"]\n}\n",
                      s->ark, s->measurement);
    if (cli_write_file(s->policy, policy, (size_t)pn, 0644) != 0)
        goto out;
    say(s, "      %s\n      policy %s admits only this measurement\n", s->measurement, s->policy);

    if (s->use_kms && kms_up(s) != 0)
        goto out;

    /* 3. the gateway, inside the simulated TEE */
    say(s,
        "[3/6] gateway in the simulated TEE $ veil sim launch --state %s -- veil gateway "
        "--listen 127.0.0.1:0\n",
        s->sim_dir);
    s->gw = (struct child){.name = "gateway", .out = -1};
    snprintf(s->gw.log, sizeof s->gw.log, "%s/gateway.log", s->dir);
    veil_buf_init(&s->gw.lines, MAX_LINE_BUF);
    char *gw[20 + 2 * MAX_MODELS] = {s->self,      "sim",   "launch",  "--state",  s->sim_dir,
                                     "--",         s->self, "gateway", "--listen", "127.0.0.1:0",
                                     "--attester", "sim",   "--json"};
    size_t k = 13;
    for (size_t i = 0; i < s->n_models; i++) {
        gw[k++] = "--model";
        gw[k++] = (char *)s->models[i];
    }
    if (s->use_kms) {
        gw[k++] = "--kms";
        gw[k++] = s->kms_url;
        gw[k++] = "--key";
        gw[k++] = "gw";
        gw[k++] = "--key-poll"; /* a rotation reaches the gateway within seconds */
        gw[k++] = "5";
    }
    if (spawn(&s->gw, 0, gw) != 0 || !(ev = read_event(&s->gw, "listening", READY_TIMEOUT_MS)) ||
        !json_string_value(json_object_get(ev, "url"))) {
        fprintf(stderr, "veil demo: the gateway did not start\n");
        show_log(&s->gw);
        goto out;
    }
    snprintf(s->gateway_url, sizeof s->gateway_url, "%s",
             json_string_value(json_object_get(ev, "url")));
    json_decref(ev);
    ev = NULL;
    say(s, "      %s   (%s)\n", s->gateway_url,
        s->use_kms ? "its OHTTP key was released to it by the KMS after attestation"
                   : "its OHTTP key was made inside and never written to disk");

    /* 4. the relay */
    char target[300];
    snprintf(target, sizeof target, "%s/gateway", s->gateway_url);
    say(s, "[4/6] relay                        $ veil relay --listen 127.0.0.1:0 --gateway %s\n",
        target);
    s->relay = (struct child){.name = "relay", .out = -1};
    snprintf(s->relay.log, sizeof s->relay.log, "%s/relay.log", s->dir);
    veil_buf_init(&s->relay.lines, MAX_LINE_BUF);
    char *rl[] = {s->self,     "relay",     "--listen", "127.0.0.1:0",
                  "--gateway", target,      "--json",   "--stats-interval",
                  "0",         "--timeout", "600",      NULL};
    if (spawn(&s->relay, 1, rl) != 0 ||
        !(ev = read_event(&s->relay, "listening", RELAY_READY_MS)) ||
        !json_string_value(json_object_get(ev, "url"))) {
        fprintf(stderr, "veil demo: the relay did not start\n");
        show_log(&s->relay);
        goto out;
    }
    snprintf(s->relay_url, sizeof s->relay_url, "%s",
             json_string_value(json_object_get(ev, "url")));
    say(s, "      %s\n", s->relay_url);
    rc = VEIL_EXIT_OK;
out:
    json_decref(ev);
    veil_buf_free(&out);
    return g_interrupted ? 130 : rc;
}

/* Stop the relay (reading its final counters), then the gateway; remove a
 * temporary state directory. */
static void stack_down(struct stack *s)
{
    if (s->relay.pid > 0) {
        kill(s->relay.pid, SIGTERM);
        json_t *ev = read_event(&s->relay, "stopping", 5000);
        if (ev) {
            s->bytes_up = (uint64_t)json_integer_value(json_object_get(ev, "bytes_up"));
            s->bytes_down = (uint64_t)json_integer_value(json_object_get(ev, "bytes_down"));
        }
        json_decref(ev);
    }
    stop_child(&s->relay, 1);
    stop_child(&s->gw, 0);
    stop_child(&s->kms, 2);
    child_free(&s->relay);
    child_free(&s->gw);
    child_free(&s->kms);
    if (s->own_dir && s->dir[0])
        nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the client side ------------------------------------------------------------------------ */

static const char *default_audio(void)
{
    if (access(LIBRIVOX_WAV, R_OK) == 0)
        return LIBRIVOX_WAV;
    if (access(GOFORWARD_RAW, R_OK) == 0)
        return GOFORWARD_RAW;
    return NULL;
}

static int transcribe(struct stack *s, const char *file, bool as_json)
{
    unsigned char *audio = NULL;
    size_t audio_len = 0;
    veil_client *c = NULL;
    veil_client_report *rep = veil_calloc(1, sizeof *rep);
    veil_bhttp_msg *resp = NULL;
    veil_buf text;
    json_t *doc = NULL, *out = NULL;
    veil_buf_init(&text, 0);
    int rc = rep ? cli_load_audio(file, &audio, &audio_len) : VEIL_EXIT_INTERNAL;
    if (rc)
        goto out;

    say(s, "[5/6] verifying the gateway        fresh nonce -> evidence -> policy%s\n",
        s->use_kms ? "; KMS receipts -> pinned ledger key" : "");
    struct cli_client_args ca = {.gateway = s->gateway_url,
                                 .relay = s->relay_url,
                                 .policy_path = s->policy,
                                 .kms = s->use_kms ? s->kms_url : NULL,
                                 .ledger_key = s->ledger_key,
                                 .ledger_state = s->ledger_state};
    rc = cli_client_open_args(&ca, 1, &c, rep);
    if (veil_ok(veil_client_report_text(rep, &text)))
        say(s, "%.*s", (int)text.len, (const char *)text.data);
    if (rc) {
        fprintf(stderr, "veil demo: verification REFUSED at check \"%s\": %s\n", rep->failed_check,
                rep->reason);
        goto out;
    }
    const char *slash = strrchr(file, '/');
    say(s, "[6/6] transcribing %s (%zu bytes) through the relay, encrypted to key id %u\n",
        slash ? slash + 1 : file, audio_len, rep->key_id);
    veil_client_transcription t = {.audio = audio,
                                   .audio_len = audio_len,
                                   .filename = slash ? slash + 1 : file,
                                   .language = "en"};
    veil_result r = g_interrupted ? VEIL_ERR(VEIL_E_USAGE, "interrupted")
                                  : veil_client_transcribe(c, &t, &resp);
    if (!veil_ok(r)) {
        cli_error("demo: transcribe", r);
        rc = g_interrupted ? 130 : VEIL_EXIT_FAILED;
        goto out;
    }
    size_t n = 0;
    const uint8_t *p = veil_bhttp_content(resp, &n);
    doc = p ? json_loadb((const char *)p, n, 0, NULL) : NULL;
    const char *transcript = json_string_value(json_object_get(doc, "text"));
    if (veil_bhttp_status(resp) != 200 || !transcript) {
        fprintf(stderr, "veil demo: the gateway answered %u: %.*s\n", veil_bhttp_status(resp),
                (int)n, p ? (const char *)p : "");
        rc = VEIL_EXIT_FAILED;
        goto out;
    }
    veil_client_audit a;
    if (!veil_ok(veil_client_audit_get(c, &a)))
        memset(&a, 0, sizeof a);
    stack_down(s); /* the relay's final counters */

    if (as_json) {
        veil_buf_clear(&text);
        json_t *ver = veil_ok(veil_client_report_json(rep, &text))
                          ? json_loadb((const char *)text.data, text.len, 0, NULL)
                          : NULL;
        out = json_pack(
            "{s:s,s:s,s:b,s:s,s:s,s:s,s:o*,s:{s:I,s:I,s:I,s:I}}", "transcript", transcript, "audio",
            file, "simulated", rep->simulated, "measurement", rep->measurement, "gateway_url",
            s->gateway_url, "relay_url", s->relay_url, "verification", ver, "relay", "bytes_up",
            (json_int_t)s->bytes_up, "bytes_down", (json_int_t)s->bytes_down, "client_bytes_sent",
            (json_int_t)a.bytes_sent, "client_bytes_received", (json_int_t)a.bytes_received);
        if (out)
            json_object_set_new(out, "keys", json_string(s->use_kms ? "kms" : "standalone"));
        if (out && s->use_kms)
            json_object_set_new(out, "kms_root", json_string(s->kms_hsm ? "softhsm2" : "file"));
        char *str = out ? veil_json_dump(out) : NULL;
        printf("%s\n", str ? str : "{}");
        veil_free(str);
    } else {
        printf("\ntranscript:\n  %s\n\n", transcript);
        printf("what was verified:\n"
               "  measurement  %s\n"
               "               (the veil binary measured by `veil measure --sim`; the policy "
               "admits only it)\n"
               "  policy       %s (%s)\n"
               "  TEE          %s\n"
               "  key config   sha256:%s, key id %u, %s\n"
               "               %s\n"
               "  relay        forwarded %llu bytes up and %llu bytes down: ciphertext only;\n"
               "               it never saw the audio or the transcript\n",
               rep->measurement, rep->policy_id, s->policy,
               rep->simulated ? "SIMULATED SEV-SNP (veil sim): NO confidentiality, NO hardware "
                                "protection; for demos and tests only"
                              : "SEV-SNP",
               rep->keys_sha256, rep->key_id, rep->suite,
               s->use_kms ? "released to the gateway by the KMS only after it verified the "
                            "gateway's evidence"
                          : "made inside the gateway at start; never left it",
               (unsigned long long)s->bytes_up, (unsigned long long)s->bytes_down);
        if (s->use_kms)
            printf("  receipt      %u ledger receipts (key configuration, release policy,\n"
                   "               reference values) verify against the pinned ledger key\n"
                   "               %s (log %s, tree size %llu)\n"
                   "  KMS          root key in %s; its reference values admit only what\n"
                   "               your policy admits\n",
                   rep->kms_receipts, s->ledger_key, rep->kms_log_id,
                   (unsigned long long)rep->kms_tree_size,
                   s->kms_hsm ? "a SoftHSM2 token (PKCS#11)"
                              : "a 0600 file (SoftHSM2 not installed)");
    }
    rc = VEIL_EXIT_OK;
out:
    json_decref(doc);
    json_decref(out);
    veil_bhttp_msg_free(resp);
    veil_client_free(c);
    veil_free_wiped(audio, audio_len);
    veil_free(rep);
    veil_buf_free(&text);
    return rc;
}

/* ---- --local: the inner application alone ---------------------------------------------------- */

struct collect {
    unsigned status;
    veil_buf body;
};

static veil_result c_head(void *arg, unsigned status, const veil_app_header *h, size_t n)
{
    (void)h;
    (void)n;
    ((struct collect *)arg)->status = status;
    return VEIL_OK;
}

static veil_result c_body(void *arg, const uint8_t *p, size_t n)
{
    return veil_buf_append(&((struct collect *)arg)->body, p, n);
}

static veil_result c_end(void *arg)
{
    (void)arg;
    return VEIL_OK;
}

static int local(const char *file, bool as_json)
{
    static const char B[] = "veil-local-boundary";
    unsigned char *audio = NULL;
    size_t audio_len = 0;
    veil_app *app = NULL;
    veil_bhttp_msg *req = NULL;
    struct collect col = {0};
    veil_buf form;
    json_t *doc = NULL;
    veil_buf_init(&form, 0);
    veil_buf_init(&col.body, 0);
    int rc = cli_load_audio(file, &audio, &audio_len);
    if (rc)
        goto out;
    char head[256];
    int n = snprintf(head, sizeof head,
                     "--%s\r\nContent-Disposition: form-data; name=\"file\"; "
                     "filename=\"audio\"\r\nContent-Type: application/octet-stream\r\n\r\n",
                     B);
    veil_result r = veil_buf_append(&form, head, (size_t)n);
    if (veil_ok(r))
        r = veil_buf_append(&form, audio, audio_len);
    n = snprintf(head, sizeof head,
                 "\r\n--%s\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\nen\r\n"
                 "--%s--\r\n",
                 B, B);
    if (veil_ok(r))
        r = veil_buf_append(&form, head, (size_t)n);
    snprintf(head, sizeof head, "multipart/form-data; boundary=%s", B);
    veil_app_config cfg = {0};
    if (veil_ok(r))
        r = veil_app_new(&cfg, &app);
    if (veil_ok(r))
        r = veil_bhttp_request_new("POST", "https", "local", "/v1/audio/transcriptions", &req);
    if (veil_ok(r))
        r = veil_bhttp_add_header(req, "content-type", 12, head, strlen(head));
    if (veil_ok(r))
        r = veil_bhttp_set_content(req, form.data, form.len);
    veil_app_writer w = {c_head, c_body, c_end, &col};
    if (veil_ok(r))
        r = veil_app_handle(app, req, &w);
    if (!veil_ok(r)) {
        cli_error("demo --local", r);
        rc = cli_exit_for(r);
        goto out;
    }
    doc = json_loadb((const char *)col.body.data, col.body.len, 0, NULL);
    const char *text = json_string_value(json_object_get(doc, "text"));
    if (col.status != 200 || !text) {
        fprintf(stderr, "veil demo --local: the application answered %u: %.*s\n", col.status,
                (int)col.body.len, (const char *)col.body.data);
        rc = VEIL_EXIT_FAILED;
        goto out;
    }
    if (as_json)
        printf("%.*s\n", (int)col.body.len, (const char *)col.body.data);
    else
        printf("%s\n", text);
    rc = VEIL_EXIT_OK;
out:
    json_decref(doc);
    veil_bhttp_msg_free(req);
    veil_app_free(app);
    veil_free_wiped(audio, audio_len);
    veil_buf_free(&form);
    veil_buf_free(&col.body);
    return rc;
}

/* ---- commands ----------------------------------------------------------------------------------
 */

static int usage(FILE *f, int code)
{
    fprintf(f,
            "usage: veil demo [FILE] [--json] [--state DIR] [--no-kms] [--model NAME=BACKEND]...\n"
            "       veil demo --local FILE [--json]\n"
            "       veil up [--state DIR] [--json] [--no-kms] [--model NAME=BACKEND]...\n"
            "\n"
            "demo  builds the whole system on this machine on loopback ports (a SIMULATED\n"
            "      secure processor, the KMS, the gateway launched inside the TEE and given\n"
            "      its key by the KMS after attestation, a relay), verifies the gateway's\n"
            "      attestation against a policy that admits exactly this veil binary's\n"
            "      measurement and the KMS's ledger receipts, transcribes FILE (default: "
            "pocketsphinx-testdata's\n"
            "      LibriVox sample) through the relay, prints the transcript and what was\n"
            "      verified, and stops everything it started.\n"
            "      --local FILE: transcribe with the inner application alone, in this\n"
            "      process (no TEE, no network): the reference the demo must match.\n"
            "up    builds the same stack and keeps it running until Ctrl-C, printing the\n"
            "      URLs and a `veil transcribe` command to try.\n"
            "\n"
            "The simulated TEE gives NO confidentiality: it runs the real protocol and\n"
            "verification code on a machine without SEV-SNP. --state DIR keeps the state\n"
            "(default: a temporary directory, removed at the end). --model is passed to\n"
            "`veil gateway` (e.g. chat=openai:http://127.0.0.1:8080/v1 for `veil chat`).\n"
            "The KMS's root key is in a SoftHSM2 token when softhsm2 is installed (else a\n"
            "0600 file). --no-kms: no KMS; the gateway makes its own key and the client\n"
            "relies on its attestation alone (flow 2b). --kms is the default (kept for\n"
            "old scripts).\n"
            "Exit: 0 ok, 1 verification or transcription failed, 4 internal, 130 interrupted.\n");
    return code;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int parse(int argc, char **argv, const char **state, const char **local_file, bool *as_json,
                 struct stack *s)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},        {"state", required_argument, NULL, 's'},
        {"local", required_argument, NULL, 'l'}, {"model", required_argument, NULL, 'm'},
        {"kms", no_argument, NULL, 'k'},         {"no-kms", no_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'j': *as_json = true; break;
        case 's': *state = optarg; break;
        case 'l': *local_file = optarg; break;
        case 'k': s->use_kms = true; break;
        case 'K': s->use_kms = false; break;
        case 'm':
            if (s->n_models == MAX_MODELS || !strchr(optarg, '=')) {
                fprintf(stderr, "veil: --model wants NAME=BACKEND (at most %d)\n", MAX_MODELS);
                return VEIL_EXIT_USAGE;
            }
            s->models[s->n_models++] = optarg;
            break;
        case 'h': return usage(stdout, -1);
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    return 0;
}

int cmd_demo(int argc, char **argv)
{
    const char *state = NULL, *local_file = NULL;
    bool as_json = false;
    struct stack s = {.gw = {.out = -1}, .relay = {.out = -1}, .kms = {.out = -1}, .use_kms = true};
    int rc = parse(argc, argv, &state, &local_file, &as_json, &s);
    if (rc)
        return rc < 0 ? VEIL_EXIT_OK : rc;
    if (local_file)
        return optind == argc ? local(local_file, as_json) : usage(stderr, VEIL_EXIT_USAGE);
    if (optind + 1 < argc)
        return usage(stderr, VEIL_EXIT_USAGE);
    const char *file = optind < argc ? argv[optind] : default_audio();
    if (!file) {
        fprintf(stderr, "veil demo: no audio file given and pocketsphinx-testdata is not "
                        "installed (apt-get install pocketsphinx-testdata)\n");
        return VEIL_EXIT_INPUT;
    }
    if (access(file, R_OK) != 0) {
        fprintf(stderr, "veil demo: cannot read %s: %s\n", file, strerror(errno));
        return VEIL_EXIT_INPUT;
    }
    install_signals();
    s.quiet = as_json;
    say(&s, "veil demo: confidential speech-to-text, end to end, on this machine\n"
            "WARNING: the TEE here is SIMULATED (veil sim): it gives NO confidentiality. It runs\n"
            "the real protocol and verification code on a machine without SEV-SNP hardware.\n");
    rc = stack_up(&s, state);
    if (rc == VEIL_EXIT_OK)
        rc = transcribe(&s, file, as_json);
    stack_down(&s);
    if (g_interrupted) {
        fprintf(stderr, "veil demo: interrupted; everything it started is stopped\n");
        rc = 130;
    }
    return rc;
}

int cmd_up(int argc, char **argv)
{
    const char *state = NULL, *local_file = NULL;
    bool as_json = false;
    struct stack s = {.gw = {.out = -1}, .relay = {.out = -1}, .kms = {.out = -1}, .use_kms = true};
    int rc = parse(argc, argv, &state, &local_file, &as_json, &s);
    if (rc)
        return rc < 0 ? VEIL_EXIT_OK : rc;
    if (local_file || optind != argc)
        return usage(stderr, VEIL_EXIT_USAGE);
    install_signals();
    s.quiet = as_json;
    say(&s, "veil up: the whole stack on this machine (SIMULATED TEE: no confidentiality)\n");
    rc = stack_up(&s, state);
    if (rc == VEIL_EXIT_OK) {
        const char *audio = default_audio();
        if (as_json) {
            json_t *j =
                json_pack("{s:s,s:s,s:s,s:s,s:s}", "event", "ready", "gateway_url", s.gateway_url,
                          "relay_url", s.relay_url, "policy", s.policy, "state", s.dir);
            if (j && s.use_kms) {
                json_object_set_new(j, "kms_url", json_string(s.kms_url));
                json_object_set_new(j, "kms_admin_url", json_string(s.kms_admin_url));
                json_object_set_new(j, "ledger_key", json_string(s.ledger_key));
                json_object_set_new(j, "kms_root", json_string(s.kms_hsm ? "softhsm2" : "file"));
            }
            char *line = j ? veil_json_dump(j) : NULL;
            printf("%s\n", line ? line : "{\"event\":\"ready\"}");
            veil_free(line);
            json_decref(j);
        } else {
            printf(
                "\nready. gateway %s   relay %s\ntry:\n"
                "  veil transcribe %s \\\n    --relay %s --gateway %s \\\n    --policy %s%s%s%s%s\n"
                "  veil chat \"hello\" --relay %s --gateway %s --policy %s --stream\n"
                "    (needs a chat model: veil up --model NAME=openai:URL)\n"
                "Ctrl-C stops everything.\n",
                s.gateway_url, s.relay_url, audio ? audio : "FILE.wav", s.relay_url, s.gateway_url,
                s.policy, s.use_kms ? " \\\n    --kms " : "", s.use_kms ? s.kms_url : "",
                s.use_kms ? " --ledger-key " : "", s.use_kms ? s.ledger_key : "", s.relay_url,
                s.gateway_url, s.policy);
        }
        fflush(stdout);
        /* Serve until a signal, or until a child dies (then say which). */
        while (!g_interrupted) {
            int st;
            if (waitpid(s.gw.pid, &st, WNOHANG) == s.gw.pid) {
                s.gw.pid = 0;
                fprintf(stderr, "veil up: the gateway exited\n");
                show_log(&s.gw);
                rc = VEIL_EXIT_FAILED;
                break;
            }
            if (waitpid(s.relay.pid, &st, WNOHANG) == s.relay.pid) {
                s.relay.pid = 0;
                fprintf(stderr, "veil up: the relay exited\n");
                show_log(&s.relay);
                rc = VEIL_EXIT_FAILED;
                break;
            }
            sleep_ms(200);
        }
    }
    stack_down(&s);
    if (g_interrupted && rc == VEIL_EXIT_OK && !as_json)
        fprintf(stderr, "\nveil up: stopped everything it started\n");
    return g_interrupted && rc != VEIL_EXIT_OK ? 130 : rc;
}
