/* The guest socket: a unix stream socket in the state directory that answers
 * one request per connection, and only to the launched guest and its
 * descendants (SO_PEERCRED pid, then the /proc ppid chain). */
#define _GNU_SOURCE /* SO_PEERCRED, struct ucred, accept4 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/rand.h"

#define MAX_ANCESTRY 4096 /* bound on the ppid walk */
#define REPLY_MAX ((size_t)64 << 10)
#define LISTEN_BACKLOG 16

struct veil_sim_server {
    const veil_sim_state *s;
    const veil_sim_guest *g;
    int fd;
    pid_t guest;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* ppid of pid from /proc/<pid>/stat: "pid (comm) state ppid ...", where comm
 * may itself contain spaces and parentheses, so parse after the LAST ')'. */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *close_paren = strrchr(buf, ')');
    char state;
    long ppid;
    if (!close_paren || sscanf(close_paren + 1, " %c %ld", &state, &ppid) != 2 || ppid < 0)
        return -1;
    return (pid_t)ppid;
}

bool veil_sim_pid_descends_from(pid_t pid, pid_t ancestor)
{
    /* Every process descends from init: never treat pid 1 (or 0) as a guest. */
    if (pid <= 0 || ancestor <= 1)
        return false;
    for (int i = 0; i < MAX_ANCESTRY && pid > 1; i++) {
        if (pid == ancestor)
            return true;
        pid = parent_of(pid);
    }
    return pid == ancestor;
}

veil_result veil_sim_socket_path(const veil_sim_state *s, char *out, size_t cap)
{
    uint8_t rnd[8];
    char hex[17];
    VEIL_GUARD(veil_random_bytes(rnd, sizeof rnd));
    veil_hex_encode(rnd, sizeof rnd, hex);
    size_t limit = sizeof(((struct sockaddr_un *)0)->sun_path);
    int n = snprintf(out, cap, "%s/guest-%ld-%s.sock", s->dir, (long)getpid(), hex);
    VEIL_ENSURE(n > 0 && (size_t)n < cap && (size_t)n < limit, VEIL_E_USAGE,
                "the sim state path is too long for a unix socket path (108 bytes): use a "
                "shorter --state directory");
    return VEIL_OK;
}

veil_result veil_sim_server_open(const veil_sim_state *s, const veil_sim_guest *g, const char *path,
                                 veil_sim_server **out)
{
    struct sockaddr_un addr;
    veil_result res = VEIL_OK;
    veil_sim_server *srv = NULL;

    *out = NULL;
    VEIL_ENSURE(strlen(path) < sizeof addr.sun_path, VEIL_E_USAGE,
                "socket path too long for a unix socket (108 bytes)");
    srv = veil_calloc(1, sizeof *srv);
    VEIL_ENSURE(srv != NULL, VEIL_E_NOMEM, "out of memory");
    srv->s = s;
    srv->g = g;
    srv->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    VEIL_ENSURE_GOTO(res, srv->fd >= 0, VEIL_E_INTERNAL, "cannot create a unix socket");
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    /* The socket file is created by bind with the umask's mode: make it
     * 0600 from the start, then say so explicitly. */
    mode_t old = umask(077);
    int bound = bind(srv->fd, (struct sockaddr *)&addr, sizeof addr);
    umask(old);
    VEIL_ENSURE_GOTO(res, bound == 0, VEIL_E_INTERNAL,
                     "cannot bind the guest socket (does a file exist at that path?)");
    memcpy(srv->path, path, strlen(path) + 1);
    VEIL_ENSURE_GOTO(res, chmod(path, 0600) == 0 && listen(srv->fd, LISTEN_BACKLOG) == 0,
                     VEIL_E_INTERNAL, "cannot listen on the guest socket");
    *out = srv;
    srv = NULL;
out:
    veil_sim_server_free(srv);
    return res;
}

void veil_sim_server_set_guest(veil_sim_server *srv, pid_t guest) { srv->guest = guest; }

void veil_sim_server_free(veil_sim_server *srv)
{
    if (!srv)
        return;
    if (srv->fd >= 0)
        close(srv->fd);
    if (srv->path[0])
        unlink(srv->path);
    veil_free(srv);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for `events` on fd until the absolute deadline; false on timeout,
 * hang-up without data, or error. */
static bool wait_fd(int fd, short events, long deadline)
{
    for (;;) {
        long left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        return (p.revents & (events | POLLHUP)) != 0 && !(p.revents & (POLLERR | POLLNVAL));
    }
}

/* Read one line (up to VEIL_SIM_MAX_REQUEST bytes, '\n' excluded) or until
 * the peer shuts down its side. False on timeout, error or oversize. */
static bool read_request(int fd, long deadline, veil_buf *req)
{
    for (;;) {
        uint8_t chunk[512];
        if (!wait_fd(fd, POLLIN, deadline))
            return false;
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return false;
        if (n == 0)
            return req->len > 0;
        uint8_t *nl = memchr(chunk, '\n', (size_t)n);
        size_t take = nl ? (size_t)(nl - chunk) : (size_t)n;
        if (!veil_ok(veil_buf_append(req, chunk, take)))
            return false; /* over VEIL_SIM_MAX_REQUEST */
        if (nl)
            return true;
    }
}

static void write_reply(int fd, long deadline, const veil_buf *reply)
{
    size_t done = 0;
    while (done < reply->len) {
        if (!wait_fd(fd, POLLOUT, deadline))
            return;
        ssize_t n = send(fd, reply->data + done, reply->len - done, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return;
        done += (size_t)n;
    }
}

/* Is the peer the guest or one of its descendants (and of our uid)? */
static bool peer_authorized(const veil_sim_server *srv, int conn)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred)
        return false;
    return cred.uid == geteuid() && veil_sim_pid_descends_from(cred.pid, srv->guest);
}

static void serve_one(veil_sim_server *srv, int conn)
{
    veil_buf req, reply;
    veil_buf_init(&req, VEIL_SIM_MAX_REQUEST);
    veil_buf_init(&reply, REPLY_MAX);
    long deadline = now_ms() + VEIL_SIM_IO_TIMEOUT_MS;
    /* Checked before reading anything: a refused peer learns nothing but the
     * refusal. */
    bool ok = peer_authorized(srv, conn);
    if (!ok || read_request(conn, deadline, &req)) {
        if (veil_ok(veil_sim_handle_request(srv->s, srv->g, ok, req.data, req.len, &reply)))
            write_reply(conn, deadline, &reply);
    } else {
        static const char bad[] = "{\"error\":\"request too large, malformed or too slow\"}\n";
        veil_buf_clear(&reply);
        if (veil_ok(veil_buf_append(&reply, bad, sizeof bad - 1)))
            write_reply(conn, deadline, &reply);
    }
    veil_buf_free(&req);
    veil_buf_free(&reply);
}

veil_result veil_sim_server_poll(veil_sim_server *srv, int timeout_ms)
{
    struct pollfd p = {srv->fd, POLLIN, 0};
    int n = poll(&p, 1, timeout_ms);
    if (n < 0 && errno == EINTR)
        return VEIL_OK;
    VEIL_ENSURE(n >= 0, VEIL_E_INTERNAL, "poll on the guest socket failed");
    if (n == 0)
        return VEIL_OK;
    int conn = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0)
        return VEIL_OK; /* the peer went away, or EINTR/EAGAIN: nothing to serve */
    serve_one(srv, conn);
    close(conn);
    return VEIL_OK;
}
