#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "veil/mem.h"

char *cli_read_file(const char *path, size_t *len, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "veil: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        fprintf(stderr, "veil: %s is not a regular file of at most %zu bytes\n", path, max);
        fclose(f);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *p = veil_calloc(n + 1, 1);
    if (!p || fread(p, 1, n, f) != n) {
        fprintf(stderr, "veil: cannot read %s\n", path);
        veil_free(p);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = n;
    return p;
}

int cli_write_file(const char *path, const void *p, size_t n, unsigned mode)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
        fprintf(stderr, "veil: path too long: %s\n", path);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, (mode_t)mode);
    if (fd < 0) {
        fprintf(stderr, "veil: cannot create %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    const unsigned char *q = p;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, q + done, n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int ok = done == n && fsync(fd) == 0;
    ok = (close(fd) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "veil: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

void cli_error(const char *what, veil_result r)
{
    fprintf(stderr, "veil: %s: %s error: %s\n", what, veil_errclass_name(r.cls),
            r.msg ? r.msg : "unknown");
}

int cli_exit_for(veil_result r)
{
    switch (r.cls) {
    case VEIL_E_NONE: return VEIL_EXIT_OK;
    case VEIL_E_PROTOCOL: return VEIL_EXIT_INPUT;
    case VEIL_E_USAGE: return VEIL_EXIT_USAGE;
    case VEIL_E_CRYPTO: return VEIL_EXIT_FAILED;
    default: return VEIL_EXIT_INTERNAL;
    }
}
