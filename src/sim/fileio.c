/* Bounded file I/O and small helpers for the simulator (sim_internal.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim/sim_internal.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/rand.h"

veil_result veil_sim_read_file(const char *path, size_t max, veil_buf *out, const char *msg)
{
    veil_result res = VEIL_OK;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    VEIL_ENSURE(fd >= 0, VEIL_E_PROTOCOL, msg);
    VEIL_ENSURE_GOTO(res, fstat(fd, &st) == 0 && S_ISREG(st.st_mode), VEIL_E_PROTOCOL, msg);
    VEIL_ENSURE_GOTO(res, (uint64_t)st.st_size <= max, VEIL_E_PROTOCOL, msg);
    VEIL_TRY(res, veil_buf_reserve(out, (size_t)st.st_size));
    for (;;) {
        uint8_t chunk[8192];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        VEIL_ENSURE_GOTO(res, n >= 0, VEIL_E_INTERNAL, msg);
        if (n == 0)
            break;
        /* The file may grow after fstat: keep the bound. */
        VEIL_ENSURE_GOTO(res, out->len + (size_t)n <= max, VEIL_E_PROTOCOL, msg);
        res = veil_buf_append(out, chunk, (size_t)n);
        veil_wipe(chunk, sizeof chunk);
        if (!veil_ok(res))
            goto out;
    }
out:
    close(fd);
    return res;
}

static veil_result write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        VEIL_ENSURE(w > 0, VEIL_E_INTERNAL, "write failed");
        p += w;
        n -= (size_t)w;
    }
    return VEIL_OK;
}

veil_result veil_sim_write_file(const char *path, const void *p, size_t n, unsigned mode,
                                const char *msg)
{
    char tmp[VEIL_SIM_TMP_MAX];
    uint8_t rnd[8];
    char rnd_hex[17];
    veil_result res = VEIL_OK;

    VEIL_GUARD(veil_random_bytes(rnd, sizeof rnd));
    veil_hex_encode(rnd, sizeof rnd, rnd_hex);
    VEIL_ENSURE((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-%s", path, rnd_hex) < sizeof tmp,
                VEIL_E_USAGE, msg);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    VEIL_ENSURE(fd >= 0, VEIL_E_INTERNAL, msg);
    /* The mode is exact (not reduced by the umask): key files stay 0600 and
     * public files stay readable. */
    VEIL_ENSURE_GOTO(res, fchmod(fd, (mode_t)mode) == 0, VEIL_E_INTERNAL, msg);
    res = write_all(fd, p, n);
    VEIL_ENSURE_GOTO(res, veil_ok(res), VEIL_E_INTERNAL, msg);
    VEIL_ENSURE_GOTO(res, fsync(fd) == 0, VEIL_E_INTERNAL, msg);
out:
    if (close(fd) != 0 && veil_ok(res))
        res = VEIL_ERR(VEIL_E_INTERNAL, msg);
    if (veil_ok(res) && rename(tmp, path) != 0)
        res = VEIL_ERR(VEIL_E_INTERNAL, msg);
    if (!veil_ok(res))
        unlink(tmp);
    return res;
}

veil_result veil_sim_join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    VEIL_ENSURE(n > 0 && (size_t)n < cap, VEIL_E_USAGE, "path too long");
    return VEIL_OK;
}

veil_result veil_sim_hex_exact(const char *hex, size_t len, uint8_t *out, size_t n, const char *msg)
{
    veil_buf b;
    veil_buf_init(&b, n);
    veil_result res = VEIL_OK;
    VEIL_ENSURE_GOTO(res, hex != NULL && len == 2 * n, VEIL_E_PROTOCOL, msg);
    VEIL_ENSURE_GOTO(res, veil_ok(veil_hex_decode(hex, len, &b)) && b.len == n, VEIL_E_PROTOCOL,
                     msg);
    memcpy(out, b.data, n);
out:
    veil_buf_free(&b);
    return res;
}

veil_result veil_sim_json_dump(const json_t *doc, size_t flags, veil_buf *out)
{
    VEIL_ENSURE(doc != NULL, VEIL_E_NOMEM, "cannot build a JSON document");
    size_t n = json_dumpb(doc, NULL, 0, flags);
    VEIL_ENSURE(n > 0, VEIL_E_INTERNAL, "cannot serialise a JSON document");
    VEIL_GUARD(veil_buf_reserve(out, n));
    VEIL_ENSURE(json_dumpb(doc, (char *)out->data + out->len, n, flags) == n, VEIL_E_INTERNAL,
                "cannot serialise a JSON document");
    out->len += n;
    return VEIL_OK;
}
