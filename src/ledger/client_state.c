/* A client's tree-head state: the last STH it accepted from a log, and the
 * rule that catches a forked or rolled-back log. File format in
 * veil/ledger.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/ledger_internal.h"
#include "veil/mem.h"

#define STATE_VERSION "veil-client-state-v1"
#define STATE_MAX ((size_t)64 << 10)

struct veil_ledger_client_state {
    const veil_sign_key *log_key;
    bool have;
    veil_sth sth;
};

/* Read a whole small file; *missing when it does not exist. */
static veil_result read_file(const char *path, veil_buf *out, bool *missing)
{
    uint8_t chunk[4096];
    veil_result res = VEIL_OK;
    *missing = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        *missing = true;
        return VEIL_OK;
    }
    VEIL_ENSURE(fd >= 0, VEIL_E_USAGE, "ledger: cannot open the client state file");
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        VEIL_ENSURE_GOTO(res, n >= 0, VEIL_E_INTERNAL, "ledger: cannot read the client state file");
        if (n == 0)
            break;
        res = veil_buf_append(out, chunk, (size_t)n);
        VEIL_ENSURE_GOTO(res, veil_ok(res), VEIL_E_PROTOCOL,
                         "ledger: client state file is larger than 64 KiB");
    }
out:
    close(fd);
    return res;
}

static veil_result parse_state(const veil_buf *text, veil_ledger_client_state *st)
{
    static const char *const with_sth[] = {"sth", "version"};
    static const char *const empty[] = {"version"};
    json_t *o = NULL;
    veil_result res = VEIL_OK;

    VEIL_TRY(res, veil_ledger_json_parse_object(text->data, text->len, &o,
                                                "ledger: client state file is not a JSON object"));
    const json_t *ver = json_object_get(o, "version");
    VEIL_ENSURE_GOTO(res, json_is_string(ver) && strcmp(json_string_value(ver), STATE_VERSION) == 0,
                     VEIL_E_PROTOCOL, "ledger: client state file is not veil-client-state-v1");
    if (json_object_size(o) == 1) {
        VEIL_TRY(res, veil_ledger_json_only(o, empty, 1,
                                            "ledger: client state file has unknown members"));
        goto out;
    }
    VEIL_TRY(res, veil_ledger_json_only(o, with_sth, 2,
                                        "ledger: client state file has unknown members"));
    VEIL_TRY(res, veil_sth_from_object(json_object_get(o, "sth"), &st->sth));
    /* a state file is only as good as the signature on its head */
    VEIL_TRY(res, veil_sth_verify(&st->sth, st->log_key));
    st->have = true;
out:
    json_decref(o);
    return res;
}

veil_result veil_ledger_client_state_load(const char *path, const veil_sign_key *log_key,
                                          veil_ledger_client_state **out)
{
    veil_ledger_client_state *st = NULL;
    veil_buf text;
    bool missing;
    veil_result res = VEIL_OK;
    veil_buf_init(&text, STATE_MAX);
    *out = NULL;

    VEIL_ENSURE_GOTO(res, path && log_key, VEIL_E_USAGE,
                     "ledger: client state needs a file path and the log key");
    st = veil_calloc(1, sizeof *st);
    VEIL_ENSURE_GOTO(res, st != NULL, VEIL_E_NOMEM, "ledger: out of memory");
    st->log_key = log_key;
    VEIL_TRY(res, read_file(path, &text, &missing));
    if (!missing)
        VEIL_TRY(res, parse_state(&text, st));
    *out = st;
    st = NULL;
out:
    veil_ledger_client_state_free(st);
    veil_buf_free(&text);
    return res;
}

void veil_ledger_client_state_free(veil_ledger_client_state *st) { veil_free(st); }

bool veil_ledger_client_state_get(const veil_ledger_client_state *st, veil_sth *out)
{
    if (!st || !st->have)
        return false;
    if (out)
        *out = st->sth;
    return true;
}

static veil_result write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        VEIL_ENSURE(w > 0, VEIL_E_INTERNAL, "ledger: cannot write the client state file");
        p += w;
        n -= (size_t)w;
    }
    return VEIL_OK;
}

/* fsync the directory holding path, so the rename itself is durable. */
static veil_result sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    char *dir = veil_calloc(n + 2, 1);
    VEIL_ENSURE(dir != NULL, VEIL_E_NOMEM, "ledger: out of memory");
    if (!slash)
        dir[0] = '.';
    else if (n == 0)
        dir[0] = '/';
    else
        memcpy(dir, path, n);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    veil_free(dir);
    VEIL_ENSURE(fd >= 0, VEIL_E_INTERNAL, "ledger: cannot open the client state's directory");
    int rc = fsync(fd);
    close(fd);
    VEIL_ENSURE(rc == 0, VEIL_E_INTERNAL, "ledger: cannot sync the client state's directory");
    return VEIL_OK;
}

veil_result veil_ledger_client_state_save(const veil_ledger_client_state *st, const char *path)
{
    json_t *o = NULL;
    veil_buf text;
    char *tmp = NULL;
    int fd = -1;
    veil_result res = VEIL_OK;
    veil_buf_init(&text, STATE_MAX);

    VEIL_ENSURE_GOTO(res, st && path, VEIL_E_USAGE, "ledger: saving client state needs a path");
    o = st->have ? json_pack("{s:o,s:s}", "sth", veil_sth_json(&st->sth), "version", STATE_VERSION)
                 : json_pack("{s:s}", "version", STATE_VERSION);
    VEIL_ENSURE_GOTO(res, o != NULL, VEIL_E_NOMEM, "ledger: out of memory writing client state");
    VEIL_TRY(res, veil_jcs_serialize(o, &text));
    VEIL_TRY(res, veil_buf_append(&text, "\n", 1));
    size_t plen = strlen(path);
    tmp = veil_calloc(plen + 5, 1);
    VEIL_ENSURE_GOTO(res, tmp != NULL, VEIL_E_NOMEM, "ledger: out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 4);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    VEIL_ENSURE_GOTO(res, fd >= 0, VEIL_E_USAGE, "ledger: cannot create the client state file");
    VEIL_TRY(res, write_all(fd, text.data, text.len));
    VEIL_ENSURE_GOTO(res, fsync(fd) == 0, VEIL_E_INTERNAL,
                     "ledger: cannot sync the client state file");
    VEIL_ENSURE_GOTO(res, close(fd) == 0, VEIL_E_INTERNAL,
                     "ledger: cannot write the client state file");
    fd = -1;
    VEIL_ENSURE_GOTO(res, rename(tmp, path) == 0, VEIL_E_INTERNAL,
                     "ledger: cannot replace the client state file");
    VEIL_TRY(res, sync_dir(path));
out:
    if (fd >= 0)
        close(fd);
    if (!veil_ok(res) && tmp)
        unlink(tmp);
    veil_free(tmp);
    json_decref(o);
    veil_buf_free(&text);
    return res;
}

veil_result veil_ledger_client_state_update(veil_ledger_client_state *st, const veil_sth *sth,
                                            const veil_merkle_proof *consistency)
{
    VEIL_ENSURE(st && sth, VEIL_E_USAGE, "ledger: client state update lacks inputs");
    VEIL_GUARD(veil_sth_verify(sth, st->log_key));
    if (!st->have) {
        st->sth = *sth; /* trust on first use of this log's heads */
        st->have = true;
        return VEIL_OK;
    }
    const veil_sth *old = &st->sth;
    VEIL_ENSURE(sth->tree_size >= old->tree_size, VEIL_E_CRYPTO,
                "ledger: fork or rollback: the new tree head is smaller than one already seen");
    if (sth->tree_size == old->tree_size) {
        VEIL_ENSURE(veil_ct_equal(sth->root_hash, old->root_hash, HASH_LEN), VEIL_E_CRYPTO,
                    "ledger: fork detected: the log signed two different roots for one tree size");
        if (sth->timestamp_ms > old->timestamp_ms)
            st->sth = *sth;
        return VEIL_OK;
    }
    if (old->tree_size > 0) {
        VEIL_ENSURE(consistency != NULL, VEIL_E_USAGE,
                    "ledger: a larger tree head needs a consistency proof from the saved one");
        veil_result r = veil_merkle_verify_consistency(old->tree_size, sth->tree_size,
                                                       old->root_hash, sth->root_hash, consistency);
        VEIL_ENSURE(veil_ok(r), VEIL_E_CRYPTO,
                    "ledger: fork detected: the consistency proof from the saved tree head to the "
                    "new one does not verify");
    }
    st->sth = *sth;
    return VEIL_OK;
}
