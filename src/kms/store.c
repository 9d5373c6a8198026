/* The KMS's SQLite state (schema in store.h). Every statement is prepared
 * with bound parameters; nothing is ever formatted into SQL text. */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kms/store.h"
#include "veil/mem.h"

#define SCHEMA_VERSION "veil-kms-v1"

struct veil_kms_store {
    sqlite3 *db;
    bool in_tx;
};

static const char k_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS names("
    " name TEXT PRIMARY KEY, type INTEGER NOT NULL CHECK(type IN (1,2)),"
    " suites TEXT NOT NULL, rotate_interval INTEGER NOT NULL CHECK(rotate_interval >= 0),"
    " grace INTEGER NOT NULL CHECK(grace >= 0), quarantine INTEGER NOT NULL"
    " CHECK(quarantine >= 0), created INTEGER NOT NULL, policy TEXT, policy_index INTEGER);"
    "CREATE TABLE IF NOT EXISTS keys("
    " uid INTEGER PRIMARY KEY, name TEXT NOT NULL REFERENCES names(name),"
    " key_id INTEGER NOT NULL CHECK(key_id BETWEEN 0 AND 255), kem INTEGER NOT NULL,"
    " config BLOB NOT NULL, wrapped BLOB NOT NULL, created INTEGER NOT NULL,"
    " not_after INTEGER NOT NULL, retired_at INTEGER, grace INTEGER NOT NULL,"
    " quarantine INTEGER NOT NULL, state INTEGER NOT NULL CHECK(state IN (1,2)),"
    " ledger_index INTEGER);"
    "CREATE INDEX IF NOT EXISTS keys_by_name ON keys(name, key_id);"
    "CREATE TABLE IF NOT EXISTS nonces(value BLOB PRIMARY KEY CHECK(length(value) = 32),"
    " expires INTEGER NOT NULL, used INTEGER NOT NULL CHECK(used IN (0,1)));"
    "CREATE INDEX IF NOT EXISTS nonces_by_expiry ON nonces(expires);"
    "CREATE TABLE IF NOT EXISTS pending(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " op TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, name TEXT NOT NULL, entries TEXT NOT NULL,"
    " payload TEXT NOT NULL, mark INTEGER NOT NULL, at INTEGER NOT NULL);";

static veil_result exec(veil_kms_store *s, const char *sql)
{
    VEIL_ENSURE(sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK, VEIL_E_INTERNAL,
                "kms store: an SQLite statement failed (disk full, or a damaged state file?)");
    return VEIL_OK;
}

static veil_result prep(veil_kms_store *s, const char *sql, sqlite3_stmt **st)
{
    *st = NULL;
    VEIL_ENSURE(sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK, VEIL_E_INTERNAL,
                "kms store: cannot prepare a statement (is the state file from another version?)");
    return VEIL_OK;
}

/* Step a statement that returns no rows. */
static veil_result step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    VEIL_ENSURE(rc == SQLITE_DONE, VEIL_E_INTERNAL,
                rc == SQLITE_CONSTRAINT ? "kms store: a constraint failed"
                                        : "kms store: a write failed (disk full or I/O error?)");
    return VEIL_OK;
}

static void copy_text(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

static veil_result copy_blob(sqlite3_stmt *st, int col, uint8_t *out, size_t cap, size_t *len)
{
    const void *b = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    VEIL_ENSURE(n <= cap, VEIL_E_PROTOCOL, "kms store: a stored value is too long");
    if (n)
        memcpy(out, b, n);
    *len = n;
    return VEIL_OK;
}

static char *dup_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    size_t n = t ? strlen((const char *)t) : 0;
    char *p = veil_calloc(n + 1, 1);
    if (p && n)
        memcpy(p, t, n);
    return p;
}

/* ---- open / transactions ----------------------------------------------------- */

veil_result veil_kms_store_open(const char *path, veil_kms_store **out)
{
    veil_result r = VEIL_OK;
    veil_kms_store *s = NULL;
    *out = NULL;
    /* created private (SQLite gives its -wal and -shm files the same mode) */
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    VEIL_ENSURE(fd >= 0, VEIL_E_USAGE, "kms store: cannot open the state database");
    close(fd);
    s = veil_calloc(1, sizeof *s);
    VEIL_ENSURE(s != NULL, VEIL_E_NOMEM, "kms store: out of memory");
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    VEIL_ENSURE_GOTO(r, rc == SQLITE_OK, VEIL_E_USAGE, "kms store: cannot open the state database");
    sqlite3_busy_timeout(s->db, 10000);
    VEIL_TRY(r, exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                        "PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;"));
    VEIL_TRY(r, exec(s, k_schema));
    *out = s;
    s = NULL;
out:
    veil_kms_store_close(s);
    return r;
}

void veil_kms_store_close(veil_kms_store *s)
{
    if (!s)
        return;
    if (s->db)
        sqlite3_close(s->db);
    veil_free(s);
}

veil_result veil_kms_store_begin(veil_kms_store *s)
{
    VEIL_ENSURE(!s->in_tx, VEIL_E_INTERNAL, "kms store: nested transaction");
    VEIL_GUARD(exec(s, "BEGIN IMMEDIATE"));
    s->in_tx = true;
    return VEIL_OK;
}

veil_result veil_kms_store_commit(veil_kms_store *s)
{
    VEIL_ENSURE(s->in_tx, VEIL_E_INTERNAL, "kms store: commit without a transaction");
    veil_result r = exec(s, "COMMIT");
    if (!veil_ok(r))
        veil_kms_store_rollback(s);
    s->in_tx = false;
    return r;
}

void veil_kms_store_rollback(veil_kms_store *s)
{
    if (s && s->in_tx) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->in_tx = false;
    }
}

/* ---- meta ---------------------------------------------------------------------- */

veil_result veil_kms_store_meta_get(veil_kms_store *s, const char *k, veil_buf *out, bool *found)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    *found = false;
    VEIL_TRY(r, prep(s, "SELECT v FROM meta WHERE k = ?1", &st));
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *b = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        VEIL_TRY(r, veil_buf_append(out, b, n));
        *found = true;
    } else {
        VEIL_ENSURE_GOTO(r, rc == SQLITE_DONE, VEIL_E_INTERNAL, "kms store: a read failed");
    }
out:
    sqlite3_finalize(st);
    return r;
}

veil_result veil_kms_store_meta_put(veil_kms_store *s, const char *k, const void *v, size_t n)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    VEIL_TRY(r, prep(s, "INSERT INTO meta(k, v) VALUES(?1, ?2) ON CONFLICT(k) DO UPDATE SET v = ?2",
                     &st));
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, n ? v : "", (int)n, SQLITE_STATIC);
    VEIL_TRY(r, step_done(st));
out:
    sqlite3_finalize(st);
    return r;
}

/* ---- names and policies ----------------------------------------------------------- */

#define NAME_COLS "name, type, suites, rotate_interval, grace, quarantine, created"

static void read_name(sqlite3_stmt *st, kstore_name *n)
{
    memset(n, 0, sizeof *n);
    copy_text(st, 0, n->name, sizeof n->name);
    n->type = (veil_kms_key_type)sqlite3_column_int(st, 1);
    copy_text(st, 2, n->suites, sizeof n->suites);
    n->rotate_interval = sqlite3_column_int64(st, 3);
    n->grace = sqlite3_column_int64(st, 4);
    n->quarantine = sqlite3_column_int64(st, 5);
    n->created = sqlite3_column_int64(st, 6);
}

veil_result veil_kms_store_name_get(veil_kms_store *s, const char *name, kstore_name *out,
                                    bool *found)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    *found = false;
    VEIL_TRY(r, prep(s, "SELECT " NAME_COLS " FROM names WHERE name = ?1", &st));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_name(st, out);
        *found = true;
    } else {
        VEIL_ENSURE_GOTO(r, rc == SQLITE_DONE, VEIL_E_INTERNAL, "kms store: a read failed");
    }
out:
    sqlite3_finalize(st);
    return r;
}

veil_result veil_kms_store_name_put(veil_kms_store *s, const kstore_name *n)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    VEIL_TRY(r, prep(s, "INSERT INTO names(" NAME_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7)", &st));
    sqlite3_bind_text(st, 1, n->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, (int)n->type);
    sqlite3_bind_text(st, 3, n->suites, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, n->rotate_interval);
    sqlite3_bind_int64(st, 5, n->grace);
    sqlite3_bind_int64(st, 6, n->quarantine);
    sqlite3_bind_int64(st, 7, n->created);
    VEIL_TRY(r, step_done(st));
out:
    sqlite3_finalize(st);
    return r;
}

veil_result veil_kms_store_names(veil_kms_store *s, int type, kstore_name **out, size_t *n)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    kstore_name *v = NULL;
    size_t cap = 0, cnt = 0;
    *out = NULL;
    *n = 0;
    VEIL_TRY(
        r, prep(s, "SELECT " NAME_COLS " FROM names WHERE ?1 = 0 OR type = ?1 ORDER BY name", &st));
    sqlite3_bind_int(st, 1, type);
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        VEIL_ENSURE_GOTO(r, rc == SQLITE_ROW, VEIL_E_INTERNAL, "kms store: a read failed");
        if (cnt == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            VEIL_ENSURE_GOTO(r, ncap <= 65536, VEIL_E_NOMEM, "kms store: too many key names");
            kstore_name *nv = veil_calloc(ncap, sizeof *nv);
            VEIL_ENSURE_GOTO(r, nv != NULL, VEIL_E_NOMEM, "kms store: out of memory");
            if (cnt)
                memcpy(nv, v, cnt * sizeof *v);
            veil_free(v);
            v = nv;
            cap = ncap;
        }
        read_name(st, &v[cnt++]);
    }
    *out = v;
    *n = cnt;
    v = NULL;
out:
    veil_free(v);
    sqlite3_finalize(st);
    return r;
}

veil_result veil_kms_store_policy_get(veil_kms_store *s, const char *name, veil_buf *out,
                                      uint64_t *index, bool *found)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    *found = false;
    VEIL_TRY(r, prep(s,
                     "SELECT policy, policy_index FROM names WHERE name = ?1 AND policy IS NOT "
                     "NULL",
                     &st));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        VEIL_TRY(r, veil_buf_append(out, t, (size_t)sqlite3_column_bytes(st, 0)));
        *index = (uint64_t)sqlite3_column_int64(st, 1);
        *found = true;
    } else {
        VEIL_ENSURE_GOTO(r, rc == SQLITE_DONE, VEIL_E_INTERNAL, "kms store: a read failed");
    }
out:
    sqlite3_finalize(st);
    return r;
}

veil_result veil_kms_store_policy_put(veil_kms_store *s, const char *name, const char *json,
                                      size_t len, uint64_t index)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    VEIL_TRY(r, prep(s, "UPDATE names SET policy = ?2, policy_index = ?3 WHERE name = ?1", &st));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, json, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)index);
    VEIL_TRY(r, step_done(st));
    VEIL_ENSURE_GOTO(r, sqlite3_changes(s->db) == 1, VEIL_E_USAGE,
                     "kms store: no such key name for the policy");
out:
    sqlite3_finalize(st);
    return r;
}

/* ---- keys ------------------------------------------------------------------------- */

veil_result veil_kms_store_next_uid(veil_kms_store *s, int64_t *uid)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    VEIL_TRY(r, prep(s, "SELECT COALESCE(MAX(uid), 0) + 1 FROM keys", &st));
    VEIL_ENSURE_GOTO(r, sqlite3_step(st) == SQLITE_ROW, VEIL_E_INTERNAL,
                     "kms store: a read failed");
    *uid = sqlite3_column_int64(st, 0);
out:
    sqlite3_finalize(st);
    return r;
}

#define KEY_COLS                                                                                   \
    "uid, name, key_id, kem, config, wrapped, created, not_after, retired_at, grace, quarantine, " \
    "state, ledger_index"

veil_result veil_kms_store_key_insert(veil_kms_store *s, const kstore_key *k)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    VEIL_TRY(r, prep(s,
                     "INSERT INTO keys(" KEY_COLS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,"
                     "?11,?12,?13)",
                     &st));
    sqlite3_bind_int64(st, 1, k->uid);
    sqlite3_bind_text(st, 2, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, k->key_id);
    sqlite3_bind_int(st, 4, k->kem);
    sqlite3_bind_blob(st, 5, k->config, (int)k->config_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 6, k->wrapped, (int)k->wrapped_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, k->created);
    sqlite3_bind_int64(st, 8, k->not_after);
    if (k->retired_at)
        sqlite3_bind_int64(st, 9, k->retired_at);
    else
        sqlite3_bind_null(st, 9);
    sqlite3_bind_int64(st, 10, k->grace);
    sqlite3_bind_int64(st, 11, k->quarantine);
    sqlite3_bind_int(st, 12, (int)k->state);
    if (k->has_index)
        sqlite3_bind_int64(st, 13, (sqlite3_int64)k->ledger_index);
    else
        sqlite3_bind_null(st, 13);
    VEIL_TRY(r, step_done(st));
out:
    sqlite3_finalize(st);
    return r;
}

static veil_result read_key(sqlite3_stmt *st, kstore_key *k)
{
    memset(k, 0, sizeof *k);
    k->uid = sqlite3_column_int64(st, 0);
    copy_text(st, 1, k->name, sizeof k->name);
    k->key_id = (uint8_t)sqlite3_column_int(st, 2);
    k->kem = (uint16_t)sqlite3_column_int(st, 3);
    VEIL_GUARD(copy_blob(st, 4, k->config, sizeof k->config, &k->config_len));
    VEIL_GUARD(copy_blob(st, 5, k->wrapped, sizeof k->wrapped, &k->wrapped_len));
    k->created = sqlite3_column_int64(st, 6);
    k->not_after = sqlite3_column_int64(st, 7);
    k->retired_at = sqlite3_column_type(st, 8) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 8);
    k->grace = sqlite3_column_int64(st, 9);
    k->quarantine = sqlite3_column_int64(st, 10);
    k->state = (kstore_key_state)sqlite3_column_int(st, 11);
    k->has_index = sqlite3_column_type(st, 12) != SQLITE_NULL;
    k->ledger_index = k->has_index ? (uint64_t)sqlite3_column_int64(st, 12) : 0;
    return VEIL_OK;
}

veil_result veil_kms_store_keys(veil_kms_store *s, const char *name, kstore_key **out, size_t *n)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    kstore_key *v = NULL;
    size_t cnt = 0, total = 0;
    *out = NULL;
    *n = 0;
    VEIL_TRY(r, prep(s, "SELECT COUNT(*) FROM keys WHERE name = ?1", &st));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    VEIL_ENSURE_GOTO(r, sqlite3_step(st) == SQLITE_ROW, VEIL_E_INTERNAL,
                     "kms store: a read failed");
    total = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    VEIL_ENSURE_GOTO(r, total <= KSTORE_MAX_KEYS_PER_NAME, VEIL_E_NOMEM,
                     "kms store: too many keys under one name");
    v = veil_calloc(total ? total : 1, sizeof *v);
    VEIL_ENSURE_GOTO(r, v != NULL, VEIL_E_NOMEM, "kms store: out of memory");
    VEIL_TRY(r, prep(s, "SELECT " KEY_COLS " FROM keys WHERE name = ?1 ORDER BY uid", &st));
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        VEIL_ENSURE_GOTO(r, rc == SQLITE_ROW && cnt < total, VEIL_E_INTERNAL,
                         "kms store: a read failed");
        VEIL_TRY(r, read_key(st, &v[cnt++]));
    }
    *out = v;
    *n = cnt;
    v = NULL;
out:
    veil_free_wiped(v, (total ? total : 1) * sizeof *v);
    sqlite3_finalize(st);
    return r;
}

veil_result veil_kms_store_key_activate(veil_kms_store *s, int64_t uid, uint64_t ledger_index)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    VEIL_TRY(r, prep(s, "UPDATE keys SET state = 2, ledger_index = ?2 WHERE uid = ?1", &st));
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)ledger_index);
    VEIL_TRY(r, step_done(st));
    VEIL_ENSURE_GOTO(r, sqlite3_changes(s->db) == 1, VEIL_E_INTERNAL,
                     "kms store: a staged key vanished");
out:
    sqlite3_finalize(st);
    return r;
}

veil_result veil_kms_store_key_retire(veil_kms_store *s, int64_t uid, int64_t retired_at)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    VEIL_TRY(r,
             prep(s, "UPDATE keys SET retired_at = ?2 WHERE uid = ?1 AND retired_at IS NULL", &st));
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, retired_at);
    VEIL_TRY(r, step_done(st));
out:
    sqlite3_finalize(st);
    return r;
}

/* ---- nonces ------------------------------------------------------------------------- */

veil_result veil_kms_store_nonce_put(veil_kms_store *s, const uint8_t nonce[VEIL_KMS_NONCE_LEN],
                                     int64_t now, int64_t expires, int64_t max_outstanding)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    int64_t count = 0;
    if (max_outstanding <= 0 || max_outstanding > KSTORE_MAX_NONCES)
        max_outstanding = KSTORE_MAX_NONCES;
    VEIL_TRY(r, veil_kms_store_begin(s));
    /* Expired nonces stay an hour so that a late reuse is reported as
     * "expired", then go. */
    VEIL_TRY(r, prep(s, "DELETE FROM nonces WHERE expires < ?1", &st));
    sqlite3_bind_int64(st, 1, now - 3600);
    VEIL_TRY(r, step_done(st));
    sqlite3_finalize(st);
    VEIL_TRY(r, prep(s, "SELECT COUNT(*) FROM nonces WHERE used = 0 AND expires >= ?1", &st));
    sqlite3_bind_int64(st, 1, now);
    VEIL_ENSURE_GOTO(r, sqlite3_step(st) == SQLITE_ROW, VEIL_E_INTERNAL,
                     "kms store: a read failed");
    count = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (count >= max_outstanding) {
        /* At the bound the oldest outstanding nonces expire early (a later
         * use of one says "expired"), so a flood cannot grow the table nor
         * lock out everyone else. */
        VEIL_TRY(r, prep(s,
                         "UPDATE nonces SET expires = ?1 - 1 WHERE rowid IN (SELECT rowid FROM "
                         "nonces WHERE used = 0 AND expires >= ?1 ORDER BY expires, rowid "
                         "LIMIT ?2)",
                         &st));
        sqlite3_bind_int64(st, 1, now);
        sqlite3_bind_int64(st, 2, count - max_outstanding + 1);
        VEIL_TRY(r, step_done(st));
        sqlite3_finalize(st);
    }
    VEIL_TRY(r, prep(s, "INSERT INTO nonces(value, expires, used) VALUES(?1, ?2, 0)", &st));
    sqlite3_bind_blob(st, 1, nonce, VEIL_KMS_NONCE_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, expires);
    VEIL_TRY(r, step_done(st));
    sqlite3_finalize(st);
    st = NULL;
    VEIL_TRY(r, veil_kms_store_commit(s));
out:
    sqlite3_finalize(st);
    veil_kms_store_rollback(s);
    return r;
}

veil_result veil_kms_store_nonce_consume(veil_kms_store *s, const uint8_t nonce[VEIL_KMS_NONCE_LEN],
                                         int64_t now, kstore_nonce_status *status)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    *status = KSTORE_NONCE_UNKNOWN;
    VEIL_TRY(r, veil_kms_store_begin(s));
    VEIL_TRY(r, prep(s, "SELECT expires, used FROM nonces WHERE value = ?1", &st));
    sqlite3_bind_blob(st, 1, nonce, VEIL_KMS_NONCE_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    VEIL_ENSURE_GOTO(r, rc == SQLITE_ROW || rc == SQLITE_DONE, VEIL_E_INTERNAL,
                     "kms store: a read failed");
    if (rc == SQLITE_DONE)
        goto out; /* unknown: nothing to mark */
    int64_t expires = sqlite3_column_int64(st, 0);
    bool used = sqlite3_column_int(st, 1) != 0;
    sqlite3_finalize(st);
    st = NULL;
    if (used) {
        *status = KSTORE_NONCE_USED;
        goto out;
    }
    /* single use even when it comes too late */
    VEIL_TRY(r, prep(s, "UPDATE nonces SET used = 1 WHERE value = ?1", &st));
    sqlite3_bind_blob(st, 1, nonce, VEIL_KMS_NONCE_LEN, SQLITE_STATIC);
    VEIL_TRY(r, step_done(st));
    VEIL_TRY(r, veil_kms_store_commit(s));
    *status = now > expires ? KSTORE_NONCE_EXPIRED : KSTORE_NONCE_OK;
out:
    sqlite3_finalize(st);
    veil_kms_store_rollback(s);
    if (!veil_ok(r))
        *status = KSTORE_NONCE_UNKNOWN;
    return r;
}

/* ---- pending admin changes ----------------------------------------------------------- */

veil_result veil_kms_store_pending_add(veil_kms_store *s, const kstore_pending *p)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    VEIL_TRY(r, prep(s,
                     "INSERT INTO pending(op, kind, name, entries, payload, mark, at) "
                     "VALUES(?1,?2,?3,?4,?5,?6,?7)",
                     &st));
    sqlite3_bind_text(st, 1, p->op, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, p->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, p->entries ? p->entries : "[]", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, p->payload ? p->payload : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)p->mark);
    sqlite3_bind_int64(st, 7, p->at);
    VEIL_TRY(r, step_done(st));
out:
    sqlite3_finalize(st);
    return r;
}

veil_result veil_kms_store_pending_list(veil_kms_store *s, kstore_pending **out, size_t *n)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    kstore_pending *v = NULL;
    size_t cnt = 0, total = 0;
    *out = NULL;
    *n = 0;
    VEIL_TRY(r, prep(s, "SELECT COUNT(*) FROM pending", &st));
    VEIL_ENSURE_GOTO(r, sqlite3_step(st) == SQLITE_ROW, VEIL_E_INTERNAL,
                     "kms store: a read failed");
    total = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    VEIL_ENSURE_GOTO(r, total <= 1024, VEIL_E_INTERNAL, "kms store: too many pending changes");
    v = veil_calloc(total ? total : 1, sizeof *v);
    VEIL_ENSURE_GOTO(r, v != NULL, VEIL_E_NOMEM, "kms store: out of memory");
    VEIL_TRY(r, prep(s,
                     "SELECT op, kind, name, entries, payload, mark, at FROM pending "
                     "ORDER BY seq",
                     &st));
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        VEIL_ENSURE_GOTO(r, rc == SQLITE_ROW && cnt < total, VEIL_E_INTERNAL,
                         "kms store: a read failed");
        kstore_pending *p = &v[cnt++];
        copy_text(st, 0, p->op, sizeof p->op);
        copy_text(st, 1, p->kind, sizeof p->kind);
        copy_text(st, 2, p->name, sizeof p->name);
        p->entries = dup_text(st, 3);
        p->payload = dup_text(st, 4);
        VEIL_ENSURE_GOTO(r, p->entries && p->payload, VEIL_E_NOMEM, "kms store: out of memory");
        p->mark = (uint64_t)sqlite3_column_int64(st, 5);
        p->at = sqlite3_column_int64(st, 6);
    }
    *out = v;
    *n = cnt;
    v = NULL;
out:
    veil_kms_store_pending_free(v, cnt);
    sqlite3_finalize(st);
    return r;
}

veil_result veil_kms_store_pending_delete(veil_kms_store *s, const char *op)
{
    veil_result r = VEIL_OK;
    sqlite3_stmt *st = NULL;
    VEIL_TRY(r, prep(s, "DELETE FROM pending WHERE op = ?1", &st));
    sqlite3_bind_text(st, 1, op, -1, SQLITE_STATIC);
    VEIL_TRY(r, step_done(st));
out:
    sqlite3_finalize(st);
    return r;
}

void veil_kms_store_pending_free(kstore_pending *p, size_t n)
{
    if (!p)
        return;
    for (size_t i = 0; i < n; i++) {
        veil_free(p[i].entries);
        veil_free(p[i].payload);
    }
    veil_free(p);
}
