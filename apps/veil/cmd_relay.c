/* veil relay: the Oblivious HTTP relay (include/veil/relay.h).
 *
 *   veil relay --listen ADDR:PORT --gateway URL [--gateway URL]...
 *              [--max-body BYTES] [--rate N/s] [--burst N] [--timeout S]
 *              [--max-connections N] [--max-per-client N] [--ca-file PEM]
 *              [--stats-interval S] [--json]
 *
 * Prints the listening address once ready (port 0 picks one), then runs
 * until SIGINT or SIGTERM, stopping gracefully. Its only log lines are
 * counters: never a body, never a client address. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "veil/relay.h"

#define DEFAULT_STATS_S 60

static int usage(FILE *f, int code)
{
    fprintf(f, "usage: veil relay --listen ADDR:PORT --gateway URL [--gateway URL]...\n"
               "                  [--max-body BYTES] [--rate N/s] [--burst N] [--timeout S]\n"
               "                  [--max-connections N] [--max-per-client N] [--ca-file PEM]\n"
               "                  [--stats-interval S] [--json]\n"
               "\n"
               "Forwards Oblivious HTTP requests (message/ohttp-req, message/ohttp-chunked-req)\n"
               "to allow-listed gateways without telling them who sent them.\n"
               "\n"
               "  --listen ADDR:PORT   e.g. 127.0.0.1:8443 or [::1]:0 (0: any free port)\n"
               "  --gateway URL        allowed gateway; POST / goes to the first,\n"
               "                       POST /relay/<i> to the i-th (from 0), in order given\n"
               "  --max-body BYTES     request body limit (default 16777216); beyond: 413\n"
               "  --rate N/s           requests per second per client address (default: none);\n"
               "                       beyond: 429 with Retry-After\n"
               "  --burst N            requests a client may make at once (default: N of --rate)\n"
               "  --timeout S          gateway connect / answer / pause limit, seconds\n"
               "                       (default 30); beyond: 504\n"
               "  --max-connections N  concurrent client connections (default 256)\n"
               "  --max-per-client N   concurrent connections from one address (default: any)\n"
               "  --ca-file PEM        trust anchors for https gateways (default: system)\n"
               "  --stats-interval S   print counters every S seconds (default 60, 0: only at\n"
               "                       exit)\n"
               "  --json               machine-readable lines on stdout\n"
               "\n"
               "Only Content-Type, Content-Length and (chunked) Incremental reach a gateway;\n"
               "nothing of the client's address or other headers. Runs until SIGINT/SIGTERM.\n");
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

/* "127.0.0.1:8443", "[::1]:0" -> host (brackets kept for the server) and port. */
static bool parse_listen(const char *s, char *host, size_t cap, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    unsigned long long p;
    if (!colon || colon == s || (size_t)(colon - s) >= cap)
        return false;
    if (s[0] == '[' && colon[-1] != ']')
        return false; /* an IPv6 address needs brackets */
    if (s[0] != '[' && memchr(s, ':', (size_t)(colon - s)))
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (!parse_uint(colon + 1, 65535, &p))
        return false;
    *port = (uint16_t)p;
    return true;
}

static void print_counters(const veil_relay *r, bool as_json, const char *event)
{
    veil_relay_counters c;
    veil_relay_counters_get(r, &c);
    if (as_json) {
        json_t *doc = json_pack(
            "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "event", event, "requests",
            (json_int_t)c.requests, "forwarded", (json_int_t)c.forwarded, "relayed",
            (json_int_t)c.relayed, "not_found", (json_int_t)c.not_found, "bad_method",
            (json_int_t)c.bad_method, "bad_media_type", (json_int_t)c.bad_media_type,
            "rate_limited", (json_int_t)c.rate_limited, "bad_gateway", (json_int_t)c.bad_gateway,
            "gateway_timeout", (json_int_t)c.gateway_timeout, "bytes_up", (json_int_t)c.bytes_up,
            "bytes_down", (json_int_t)c.bytes_down);
        if (doc) {
            json_dumpf(doc, stdout, JSON_COMPACT);
            printf("\n");
            fflush(stdout);
            json_decref(doc);
        }
        return;
    }
    fprintf(stderr,
            "veil relay: %s: requests %llu forwarded %llu relayed %llu | 404 %llu 405 %llu "
            "415 %llu 429 %llu 502 %llu 504 %llu | bytes up %llu down %llu\n",
            event, (unsigned long long)c.requests, (unsigned long long)c.forwarded,
            (unsigned long long)c.relayed, (unsigned long long)c.not_found,
            (unsigned long long)c.bad_method, (unsigned long long)c.bad_media_type,
            (unsigned long long)c.rate_limited, (unsigned long long)c.bad_gateway,
            (unsigned long long)c.gateway_timeout, (unsigned long long)c.bytes_up,
            (unsigned long long)c.bytes_down);
}

static void print_ready(const veil_relay *r, const char *host, const char *const *gws, size_t n,
                        bool as_json)
{
    char url[128];
    snprintf(url, sizeof url, "http://%s:%u/", host, veil_relay_port(r));
    if (as_json) {
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(list, json_string(gws[i]));
        json_t *doc = json_pack("{s:s,s:s,s:i,s:o}", "event", "listening", "url", url, "port",
                                (int)veil_relay_port(r), "gateways", list);
        if (doc) {
            json_dumpf(doc, stdout, JSON_COMPACT);
            json_decref(doc);
        }
        printf("\n");
    } else {
        printf("veil relay: listening on %s\n", url);
        for (size_t i = 0; i < n; i++)
            printf("  POST /relay/%zu%s -> %s\n", i, i == 0 ? " (and POST /)" : "", gws[i]);
    }
    fflush(stdout);
}

/* Block until SIGINT/SIGTERM, printing counters every `interval` seconds
 * when they moved. */
static void serve(const veil_relay *r, const sigset_t *set, unsigned interval, bool as_json)
{
    time_t last = time(NULL);
    uint64_t seen = 0;
    for (;;) {
        struct timespec one = {1, 0};
        int sig = sigtimedwait(set, NULL, &one);
        if (sig == SIGINT || sig == SIGTERM)
            return;
        if (interval && time(NULL) - last >= (time_t)interval) {
            veil_relay_counters c;
            veil_relay_counters_get(r, &c);
            last = time(NULL);
            if (c.requests != seen)
                print_counters(r, as_json, "counters");
            seen = c.requests;
        }
    }
}

int cmd_relay(int argc, char **argv)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"gateway", required_argument, NULL, 'g'},
                                         {"max-body", required_argument, NULL, 'b'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"burst", required_argument, NULL, 'B'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"max-connections", required_argument, NULL, 'c'},
                                         {"max-per-client", required_argument, NULL, 'p'},
                                         {"ca-file", required_argument, NULL, 'a'},
                                         {"stats-interval", required_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *gws[VEIL_RELAY_MAX_GATEWAYS];
    char host[64];
    veil_relay_config cfg = {.gateways = gws};
    unsigned long long v;
    unsigned stats = DEFAULT_STATS_S;
    bool as_json = false, have_listen = false;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (!parse_listen(optarg, host, sizeof host, &cfg.port)) {
                fprintf(stderr, "veil relay: --listen wants ADDR:PORT, e.g. 127.0.0.1:8443 or "
                                "[::1]:0\n");
                return VEIL_EXIT_USAGE;
            }
            have_listen = true;
            break;
        case 'g':
            if (cfg.n_gateways == VEIL_RELAY_MAX_GATEWAYS) {
                fprintf(stderr, "veil relay: at most %d --gateway\n", VEIL_RELAY_MAX_GATEWAYS);
                return VEIL_EXIT_USAGE;
            }
            gws[cfg.n_gateways++] = optarg;
            break;
        case 'b':
            if (!parse_uint(optarg, (unsigned long long)1 << 34, &v) || v == 0) {
                fprintf(stderr, "veil relay: --max-body wants a byte count (1..16 GiB)\n");
                return VEIL_EXIT_USAGE;
            }
            cfg.max_body = (size_t)v;
            break;
        case 'r': {
            char buf[32];
            size_t n = strlen(optarg);
            if (n >= sizeof buf) {
                fprintf(stderr, "veil relay: --rate wants N or N/s\n");
                return VEIL_EXIT_USAGE;
            }
            memcpy(buf, optarg, n + 1);
            if (n > 2 && !strcmp(buf + n - 2, "/s"))
                buf[n - 2] = '\0';
            if (!parse_uint(buf, 1000000, &v)) {
                fprintf(stderr, "veil relay: --rate wants N or N/s (0: no limit)\n");
                return VEIL_EXIT_USAGE;
            }
            cfg.rate = (unsigned)v;
            break;
        }
        case 'B':
            if (!parse_uint(optarg, 1000000, &v) || v == 0) {
                fprintf(stderr, "veil relay: --burst wants a positive count\n");
                return VEIL_EXIT_USAGE;
            }
            cfg.burst = (unsigned)v;
            break;
        case 't': {
            char *end;
            errno = 0;
            double s = strtod(optarg, &end);
            if (!*optarg || *end || errno || !(s >= 0.001 && s <= 3600)) {
                fprintf(stderr, "veil relay: --timeout wants seconds (0.001..3600)\n");
                return VEIL_EXIT_USAGE;
            }
            cfg.timeout_ms = (unsigned)(s * 1000.0 + 0.5);
            break;
        }
        case 'c':
            if (!parse_uint(optarg, 100000, &v) || v == 0) {
                fprintf(stderr, "veil relay: --max-connections wants a positive count\n");
                return VEIL_EXIT_USAGE;
            }
            cfg.max_connections = (unsigned)v;
            break;
        case 'p':
            if (!parse_uint(optarg, 100000, &v)) {
                fprintf(stderr, "veil relay: --max-per-client wants a count (0: no limit)\n");
                return VEIL_EXIT_USAGE;
            }
            cfg.max_per_client = (unsigned)v;
            break;
        case 'a': cfg.ca_file = optarg; break;
        case 's':
            if (!parse_uint(optarg, 86400, &v)) {
                fprintf(stderr, "veil relay: --stats-interval wants seconds (0: only at exit)\n");
                return VEIL_EXIT_USAGE;
            }
            stats = (unsigned)v;
            break;
        case 'j': as_json = true; break;
        case 'h': return usage(stdout, VEIL_EXIT_OK);
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (!have_listen || cfg.n_gateways == 0 || optind != argc) {
        fprintf(stderr, "veil relay: need --listen ADDR:PORT and at least one --gateway URL\n");
        return usage(stderr, VEIL_EXIT_USAGE);
    }
    cfg.address = host;

    /* Signals are taken synchronously by sigtimedwait: block them before any
     * thread starts, so every server and client thread inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    veil_relay *relay = NULL;
    veil_result r = veil_relay_start(&cfg, &relay);
    if (!veil_ok(r)) {
        cli_error("relay", r);
        return cli_exit_for(r);
    }
    print_ready(relay, host, gws, cfg.n_gateways, as_json);
    serve(relay, &set, stats, as_json);
    print_counters(relay, as_json, "stopping");
    veil_relay_stop(relay);
    return VEIL_EXIT_OK;
}
