/* An emulated configfs-tsm report tree (Linux drivers/virt/coco/tsm.c,
 * Documentation/ABI/testing/configfs-tsm) in an ordinary directory, so the
 * real "tsm" attester can be tested without a confidential VM.
 *
 * What the kernel does synchronously, the emulator does on inotify events:
 *   mkdir ENTRY           -> the emulator creates inblob, privlevel,
 *                            privlevel_floor, provider ("sev_guest"), outblob,
 *                            auxblob, then (last, atomically) generation "0"
 *   close(inblob|privlevel) after a write (IN_CLOSE_WRITE)
 *                         -> for inblob: outblob = a signed report for this
 *                            inblob and privlevel, auxblob = the certificate
 *                            table; then, for both, generation += 1
 * So a reader that sees generation == (generation before its writes) + (its
 * writes) also sees the matching outblob, as on real configfs. Entries are
 * plain directories: the attester empties them before rmdir. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim.h"
#include "sim/sim_internal.h"
#include "veil/mem.h"

#define MAX_ENTRIES 256
#define POLL_MS 200
#define INBLOB_MAX 64 /* sev_guest takes at most 64 bytes of REPORT_DATA */
#define SMALL_ATTR_MAX 64

typedef struct tsm_entry {
    int wd;
    unsigned long generation;
    char path[VEIL_SIM_PATH_MAX];
} tsm_entry;

typedef struct tsm_ctx {
    const veil_sim_state *s;
    const veil_sim_guest *g;
    const char *dir;
    int ifd;
    size_t n;
    tsm_entry entries[MAX_ENTRIES];
} tsm_ctx;

static volatile sig_atomic_t g_stop;

static void on_stop(int sig) { g_stop = sig; }

static veil_result write_attr(const char *entry, const char *name, const void *p, size_t n)
{
    char path[VEIL_SIM_PATH_MAX];
    VEIL_GUARD(veil_sim_join(path, sizeof path, entry, name));
    return veil_sim_write_file(path, p, n, 0600, "tsm emulation: cannot write an attribute");
}

/* Create an attribute file unless it exists (the kernel's are always there). */
static veil_result create_attr(const char *entry, const char *name, const char *content)
{
    char path[VEIL_SIM_PATH_MAX];
    struct stat st;
    VEIL_GUARD(veil_sim_join(path, sizeof path, entry, name));
    if (stat(path, &st) == 0)
        return VEIL_OK;
    return veil_sim_write_file(path, content, strlen(content), 0600,
                               "tsm emulation: cannot create an attribute");
}

static veil_result write_generation(tsm_entry *e)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%lu\n", e->generation);
    return write_attr(e->path, "generation", text, (size_t)n);
}

static tsm_entry *find_entry(tsm_ctx *c, int wd)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->entries[i].wd == wd)
            return &c->entries[i];
    return NULL;
}

static void drop_entry(tsm_ctx *c, int wd)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->entries[i].wd == wd) {
            c->entries[i] = c->entries[--c->n];
            return;
        }
}

/* A new entry directory: its attributes, the watch, then `generation`. */
static void add_entry(tsm_ctx *c, const char *name)
{
    char path[VEIL_SIM_PATH_MAX];
    if (name[0] == '.' || c->n == MAX_ENTRIES ||
        !veil_ok(veil_sim_join(path, sizeof path, c->dir, name)))
        return;
    if (!veil_ok(create_attr(path, "inblob", "")) || !veil_ok(create_attr(path, "privlevel", "")) ||
        !veil_ok(create_attr(path, "privlevel_floor", "0\n")) ||
        !veil_ok(create_attr(path, "provider", "sev_guest\n")) ||
        !veil_ok(create_attr(path, "outblob", "")) || !veil_ok(create_attr(path, "auxblob", "")))
        return;
    int wd = inotify_add_watch(c->ifd, path, IN_CLOSE_WRITE | IN_DELETE_SELF | IN_ONLYDIR);
    if (wd < 0 || find_entry(c, wd))
        return;
    tsm_entry *e = &c->entries[c->n];
    e->wd = wd;
    e->generation = 0;
    memcpy(e->path, path, strlen(path) + 1);
    if (veil_ok(write_generation(e)))
        c->n++;
}

static veil_result read_privlevel(const char *entry, uint32_t *vmpl)
{
    char path[VEIL_SIM_PATH_MAX];
    veil_buf b;
    veil_result res = VEIL_OK;
    veil_buf_init(&b, SMALL_ATTR_MAX);
    *vmpl = 0;
    VEIL_TRY(res, veil_sim_join(path, sizeof path, entry, "privlevel"));
    VEIL_TRY(res, veil_sim_read_file(path, SMALL_ATTR_MAX, &b, "tsm emulation: bad privlevel"));
    unsigned v = 0;
    for (size_t i = 0; i < b.len && b.data[i] != '\n'; i++) {
        VEIL_ENSURE_GOTO(res, b.data[i] >= '0' && b.data[i] <= '9' && v < 100, VEIL_E_PROTOCOL,
                         "tsm emulation: privlevel is not a number");
        v = v * 10 + (unsigned)(b.data[i] - '0');
    }
    VEIL_ENSURE_GOTO(res, v <= 3, VEIL_E_PROTOCOL, "tsm emulation: privlevel must be 0..3");
    *vmpl = v;
out:
    veil_buf_free(&b);
    return res;
}

/* inblob was written: outblob and auxblob for it. */
static veil_result produce_report(tsm_ctx *c, const tsm_entry *e)
{
    char path[VEIL_SIM_PATH_MAX];
    uint8_t report_data[64] = {0}, report[VEIL_SNP_REPORT_SIZE];
    uint32_t vmpl = 0;
    veil_buf in, table;
    veil_result res = VEIL_OK;

    veil_buf_init(&in, INBLOB_MAX);
    veil_buf_init(&table, (size_t)64 << 10);
    VEIL_TRY(res, veil_sim_join(path, sizeof path, e->path, "inblob"));
    VEIL_TRY(res, veil_sim_read_file(path, INBLOB_MAX, &in,
                                     "tsm emulation: inblob must be at most 64 bytes"));
    if (in.len)
        memcpy(report_data, in.data, in.len); /* shorter inblobs are zero-padded */
    VEIL_TRY(res, read_privlevel(e->path, &vmpl));
    VEIL_TRY(res, veil_sim_report(c->s, c->g, report_data, vmpl, report));
    VEIL_TRY(res, veil_sim_cert_table(c->s, &table));
    VEIL_TRY(res, write_attr(e->path, "outblob", report, sizeof report));
    VEIL_TRY(res, write_attr(e->path, "auxblob", table.data, table.len));
out:
    veil_buf_free(&in);
    veil_buf_free(&table);
    return res;
}

static void on_close_write(tsm_ctx *c, tsm_entry *e, const char *name)
{
    bool is_inblob = !strcmp(name, "inblob");
    if (!is_inblob && strcmp(name, "privlevel"))
        return; /* our own temp files, or something the kernel would refuse */
    if (is_inblob) {
        veil_result r = produce_report(c, e);
        if (!veil_ok(r)) {
            /* The kernel would have failed the write or the read: leave
             * outblob empty, which the attester reports. */
            fprintf(stderr, "veil sim tsm: %s\n", r.msg);
            (void)write_attr(e->path, "outblob", "", 0);
            (void)write_attr(e->path, "auxblob", "", 0);
        }
    }
    e->generation++;
    if (!veil_ok(write_generation(e)))
        fprintf(stderr, "veil sim tsm: cannot update generation\n");
}

static void handle_event(tsm_ctx *c, int root_wd, uint32_t mask, int wd, const char *name)
{
    if (wd == root_wd) {
        if ((mask & IN_ISDIR) && (mask & (IN_CREATE | IN_MOVED_TO)) && name[0])
            add_entry(c, name);
        return;
    }
    if (mask & (IN_IGNORED | IN_DELETE_SELF)) {
        drop_entry(c, wd);
        return;
    }
    tsm_entry *e = find_entry(c, wd);
    if (e && (mask & IN_CLOSE_WRITE) && name[0])
        on_close_write(c, e, name);
}

/* Walk one read() worth of events. Each starts with a struct inotify_event
 * header (copied out: the buffer is not guaranteed aligned for it), then
 * `len` bytes of NUL-padded name. */
static void drain_events(tsm_ctx *c, int root_wd)
{
    uint8_t buf[8192];
    for (;;) {
        ssize_t n = read(c->ifd, buf, sizeof buf);
        if (n <= 0)
            return;
        size_t off = 0;
        while (off + sizeof(struct inotify_event) <= (size_t)n) {
            struct inotify_event ev;
            memcpy(&ev, buf + off, sizeof ev);
            size_t total = sizeof ev + ev.len;
            if (total > (size_t)n - off)
                break;
            char name[NAME_MAX + 1] = "";
            if (ev.len > 0) {
                size_t nl = ev.len < sizeof name ? ev.len : sizeof name - 1;
                memcpy(name, buf + off + sizeof ev, nl);
                name[nl] = '\0';
            }
            handle_event(c, root_wd, ev.mask, ev.wd, name);
            off += total;
        }
    }
}

/* Entries created before the watch started. */
static void scan_existing(tsm_ctx *c)
{
    DIR *d = opendir(c->dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[VEIL_SIM_PATH_MAX], gen[VEIL_SIM_PATH_MAX];
        struct stat st;
        if (de->d_name[0] == '.' ||
            !veil_ok(veil_sim_join(path, sizeof path, c->dir, de->d_name)) ||
            stat(path, &st) != 0 || !S_ISDIR(st.st_mode) ||
            !veil_ok(veil_sim_join(gen, sizeof gen, path, "generation")) || stat(gen, &st) == 0)
            continue;
        add_entry(c, de->d_name);
    }
    closedir(d);
}

static long now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec;
}

veil_result veil_sim_tsm_serve(const veil_sim_state *s, const veil_sim_guest *g, const char *dir,
                               unsigned max_seconds, void (*ready)(void *), void *ready_arg)
{
    struct sigaction sa, old_int, old_term;
    struct stat st;
    veil_result res = VEIL_OK;
    tsm_ctx *c = NULL;

    VEIL_ENSURE(mkdir(dir, 0700) == 0 || errno == EEXIST, VEIL_E_USAGE,
                "cannot create the emulated configfs-tsm directory");
    VEIL_ENSURE(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), VEIL_E_USAGE,
                "the emulated configfs-tsm path is not a directory");
    c = veil_calloc(1, sizeof *c);
    VEIL_ENSURE(c != NULL, VEIL_E_NOMEM, "out of memory");
    c->s = s;
    c->g = g;
    c->dir = dir;
    c->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    VEIL_ENSURE_GOTO(res, c->ifd >= 0, VEIL_E_INTERNAL, "inotify is not available");
    int root_wd = inotify_add_watch(c->ifd, dir, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
    VEIL_ENSURE_GOTO(res, root_wd >= 0, VEIL_E_INTERNAL,
                     "cannot watch the emulated configfs-tsm directory");

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    g_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    scan_existing(c);
    if (ready)
        ready(ready_arg);
    long deadline = max_seconds ? now_s() + (long)max_seconds : 0;
    while (!g_stop && (!deadline || now_s() < deadline)) {
        struct pollfd p = {c->ifd, POLLIN, 0};
        int n = poll(&p, 1, POLL_MS);
        if (n < 0 && errno != EINTR) {
            res = VEIL_ERR(VEIL_E_INTERNAL, "poll on inotify failed");
            break;
        }
        if (n > 0)
            drain_events(c, root_wd);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
out:
    if (c && c->ifd >= 0)
        close(c->ifd);
    veil_free(c);
    return res;
}
