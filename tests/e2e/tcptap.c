/* e2e_tcptap: a recording TCP forwarder for the end-to-end tests.
 *
 *   e2e_tcptap --to IP:PORT --record DIR [--bind IP | --mirror-source] [--seconds N]
 *
 * Listens on 127.0.0.1 (a port the OS picks, printed as one JSON line
 * {"event":"listening","port":N} on stdout) and forwards every connection to
 * --to. Every byte is written to DIR before it is forwarded, so when a peer
 * has received something, the recording already holds it:
 *   DIR/K.up    bytes from the connecting side to --to (connection K, from 0)
 *   DIR/K.down  bytes from --to back to the connecting side
 *   DIR/connections.log  one line per connection:
 *     conn=K from=IP:PORT via=IP:PORT to=IP:PORT
 *   (from: the connecting peer; via: the tap's own address on the outbound
 *   connection, i.e. the peer address the --to side sees).
 * --bind IP: the outbound connections leave from IP (e.g. 127.0.0.2, so the
 * --to side sees a distinct client address). --mirror-source: they leave from
 * the connecting peer's own IP, so the --to side sees the same address it
 * would see without the tap. One thread per direction with blocking I/O: no
 * direction waits for the other. Exits by itself after --seconds (default
 * 600) through SIGALRM, or on SIGTERM/SIGINT; it keeps no state that needs
 * flushing. IPv4 only: the tests run on 127.0.0.0/8 (it listens on
 * 127.0.0.1 only; --bind picks the source of its outbound connections). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 256 /* per run: the tests make a handful */
#define BUF_SIZE 65536

struct conn;

struct pipe_dir {
    int from, to, rec;
    struct conn *conn;
};

struct conn {
    struct pipe_dir up, down;
    pthread_t t_up, t_down;
    atomic_int finished; /* directions done; the second one closes everything */
};

static struct conn g_conns[MAX_CONNS];

static int parse_addr(const char *s, struct sockaddr_in *out, bool want_port)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    size_t n = want_port ? (colon ? (size_t)(colon - s) : 0) : strlen(s);
    if (n == 0 || n >= sizeof host)
        return -1;
    memcpy(host, s, n);
    host[n] = '\0';
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
        return -1;
    if (want_port) {
        char *end = NULL;
        long port = strtol(colon + 1, &end, 10);
        if (!end || *end || port <= 0 || port > 65535)
            return -1;
        out->sin_port = htons((uint16_t)port);
    }
    return 0;
}

static void fmt_addr(const struct sockaddr_in *a, char *out, size_t cap)
{
    char ip[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copy one direction until EOF or error, recording first; then pass the
 * EOF on (half-close) so the other direction can still finish. */
static void *pump(void *arg)
{
    struct pipe_dir *d = arg;
    unsigned char buf[BUF_SIZE]; /* one per thread, on its stack */
    for (;;) {
        ssize_t n = read(d->from, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (write_all(d->rec, buf, (size_t)n) != 0) {
            fprintf(stderr, "e2e_tcptap: cannot record: %s\n", strerror(errno));
            exit(4); /* an incomplete recording must not pass for a clean one */
        }
        if (write_all(d->to, buf, (size_t)n) != 0)
            break;
    }
    shutdown(d->to, SHUT_WR);
    shutdown(d->from, SHUT_RD);
    struct conn *c = d->conn;
    if (atomic_fetch_add(&c->finished, 1) == 1) {
        close(c->up.from);
        close(c->up.to);
        close(c->up.rec);
        close(c->down.rec);
    }
    return NULL;
}

static int open_rec(const char *dir, unsigned k, const char *what)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%u.%s", dir, k, what);
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
}

/* Connect to `to`, from `src` when given; returns the socket or -1. */
static int dial(const struct sockaddr_in *to, const struct sockaddr_in *src)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (src) {
        struct sockaddr_in b = *src;
        b.sin_port = 0;
        if (bind(fd, (const struct sockaddr *)&b, sizeof b) != 0) {
            close(fd);
            return -1;
        }
    }
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int serve_one(int cfd, const struct sockaddr_in *peer, unsigned k,
                     const struct sockaddr_in *to, const struct sockaddr_in *bind_ip, bool mirror,
                     const char *dir, FILE *log)
{
    const struct sockaddr_in *src = mirror ? peer : bind_ip;
    int ufd = dial(to, src);
    if (ufd < 0) {
        fprintf(stderr, "e2e_tcptap: connect: %s\n", strerror(errno));
        close(cfd);
        return -1;
    }
    struct sockaddr_in via;
    socklen_t vl = sizeof via;
    getsockname(ufd, (struct sockaddr *)&via, &vl);
    char a[64], b[64], c[64];
    fmt_addr(peer, a, sizeof a);
    fmt_addr(&via, b, sizeof b);
    fmt_addr(to, c, sizeof c);
    fprintf(log, "conn=%u from=%s via=%s to=%s\n", k, a, b, c);
    fflush(log);
    struct conn *cn = &g_conns[k];
    cn->up = (struct pipe_dir){cfd, ufd, open_rec(dir, k, "up"), cn};
    cn->down = (struct pipe_dir){ufd, cfd, open_rec(dir, k, "down"), cn};
    atomic_init(&cn->finished, 0);
    if (cn->up.rec < 0 || cn->down.rec < 0) {
        fprintf(stderr, "e2e_tcptap: cannot create the recordings in %s\n", dir);
        exit(4);
    }
    if (pthread_create(&cn->t_up, NULL, pump, &cn->up) != 0 ||
        pthread_create(&cn->t_down, NULL, pump, &cn->down) != 0) {
        fprintf(stderr, "e2e_tcptap: cannot start a thread\n");
        exit(4);
    }
    pthread_detach(cn->t_up);
    pthread_detach(cn->t_down);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: e2e_tcptap --to IP:PORT --record DIR [--bind IP | --mirror-source] "
                    "[--seconds N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct sockaddr_in to, bind_ip;
    bool have_to = false, have_bind = false, mirror = false;
    const char *dir = NULL;
    long seconds = 600;
    for (int i = 1; i < argc; i++) {
        bool more = i + 1 < argc;
        if (!strcmp(argv[i], "--to") && more)
            have_to = parse_addr(argv[++i], &to, true) == 0;
        else if (!strcmp(argv[i], "--bind") && more)
            have_bind = parse_addr(argv[++i], &bind_ip, false) == 0;
        else if (!strcmp(argv[i], "--record") && more)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--mirror-source"))
            mirror = true;
        else if (!strcmp(argv[i], "--seconds") && more)
            seconds = strtol(argv[++i], NULL, 10);
        else
            return usage();
    }
    if (!have_to || !dir || (have_bind && mirror) || seconds <= 0 || seconds > 3600)
        return usage();
    signal(SIGPIPE, SIG_IGN);
    alarm((unsigned)seconds);

    char logpath[4096];
    snprintf(logpath, sizeof logpath, "%s/connections.log", dir);
    FILE *log = fopen(logpath, "w");
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in la = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t ll = sizeof la;
    if (!log || lfd < 0 || bind(lfd, (struct sockaddr *)&la, sizeof la) != 0 ||
        listen(lfd, 64) != 0 || getsockname(lfd, (struct sockaddr *)&la, &ll) != 0) {
        fprintf(stderr, "e2e_tcptap: cannot listen or create %s: %s\n", logpath, strerror(errno));
        return 4;
    }
    printf("{\"event\":\"listening\",\"port\":%u}\n", (unsigned)ntohs(la.sin_port));
    fflush(stdout);
    for (unsigned k = 0; k < MAX_CONNS;) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        int cfd = accept(lfd, (struct sockaddr *)&peer, &pl);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            fprintf(stderr, "e2e_tcptap: accept: %s\n", strerror(errno));
            return 4;
        }
        if (serve_one(cfd, &peer, k, &to, have_bind ? &bind_ip : NULL, mirror, dir, log) == 0)
            k++;
    }
    fprintf(stderr, "e2e_tcptap: %d connections: no more accepted\n", MAX_CONNS);
    pause(); /* until SIGALRM or SIGTERM; the open connections keep going */
    return 0;
}
