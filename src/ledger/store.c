/* The ledger's SQLite store; schema and contract in store.h. Every statement
 * is prepared once at open and reset after each use. */
#include <sqlite3.h>
#include <string.h>

#include "ledger/store.h"
#include "veil/mem.h"

enum {
    ST_META_GET,
    ST_META_PUT,
    ST_SIZE,
    ST_COUNT_ENTRIES,
    ST_COUNT_LEAVES,
    ST_COUNT_SUBTREES,
    ST_PUT_ENTRY,
    ST_GET_ENTRY,
    ST_PUT_LEAF,
    ST_GET_LEAF,
    ST_PUT_SUBTREE,
    ST_GET_SUBTREE,
    ST_PUT_HEAD,
    ST_GET_HEAD,
    ST_LATEST_HEAD,
    ST_SCAN_ENTRIES,
    ST_SCAN_HEADS,
    ST_COUNT
};

static const char *const sql[ST_COUNT] = {
    [ST_META_GET] = "SELECT value FROM meta WHERE name = ?1",
    [ST_META_PUT] = "INSERT INTO meta(name, value) VALUES(?1, ?2)",
    [ST_SIZE] = "SELECT COALESCE(MAX(idx) + 1, 0) FROM entries",
    [ST_COUNT_ENTRIES] = "SELECT COUNT(*) FROM entries",
    [ST_COUNT_LEAVES] = "SELECT COUNT(*) FROM leaves",
    [ST_COUNT_SUBTREES] = "SELECT COUNT(*) FROM subtrees",
    [ST_PUT_ENTRY] = "INSERT INTO entries(idx, body) VALUES(?1, ?2)",
    [ST_GET_ENTRY] = "SELECT body FROM entries WHERE idx = ?1",
    [ST_PUT_LEAF] = "INSERT INTO leaves(idx, hash) VALUES(?1, ?2)",
    [ST_GET_LEAF] = "SELECT hash FROM leaves WHERE idx = ?1",
    [ST_PUT_SUBTREE] = "INSERT INTO subtrees(level, idx, hash) VALUES(?1, ?2, ?3)",
    [ST_GET_SUBTREE] = "SELECT hash FROM subtrees WHERE level = ?1 AND idx = ?2",
    [ST_PUT_HEAD] = "INSERT OR REPLACE INTO heads(tree_size, timestamp_ms, root_hash, log_id, "
                    "signature) VALUES(?1, ?2, ?3, ?4, ?5)",
    [ST_GET_HEAD] = "SELECT tree_size, timestamp_ms, root_hash, log_id, signature FROM heads "
                    "WHERE tree_size = ?1",
    [ST_LATEST_HEAD] = "SELECT tree_size, timestamp_ms, root_hash, log_id, signature FROM heads "
                       "ORDER BY tree_size DESC LIMIT 1",
    [ST_SCAN_ENTRIES] = "SELECT e.idx, e.body, l.hash FROM entries AS e LEFT JOIN leaves AS l "
                        "ON l.idx = e.idx ORDER BY e.idx",
    [ST_SCAN_HEADS] = "SELECT tree_size, timestamp_ms, root_hash, log_id, signature FROM heads "
                      "ORDER BY tree_size",
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS entries(idx INTEGER PRIMARY KEY CHECK(idx >= 0),"
    " body BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS leaves(idx INTEGER PRIMARY KEY CHECK(idx >= 0),"
    " hash BLOB NOT NULL CHECK(length(hash) = 32));"
    "CREATE TABLE IF NOT EXISTS subtrees(level INTEGER NOT NULL CHECK(level BETWEEN 1 AND 63),"
    " idx INTEGER NOT NULL CHECK(idx >= 0), hash BLOB NOT NULL CHECK(length(hash) = 32),"
    " PRIMARY KEY(level, idx)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS heads(tree_size INTEGER PRIMARY KEY CHECK(tree_size >= 0),"
    " timestamp_ms INTEGER NOT NULL, root_hash BLOB NOT NULL CHECK(length(root_hash) = 32),"
    " log_id TEXT NOT NULL, signature BLOB NOT NULL CHECK(length(signature) = 96));";

struct veil_ledger_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
};

/* A failure of SQLite, named by what it means for the caller. */
static veil_result fail(int rc, const char *what)
{
    switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return VEIL_ERR(VEIL_E_INTERNAL, "ledger store: the database is locked by another writer");
    case SQLITE_FULL: return VEIL_ERR(VEIL_E_NOMEM, "ledger store: the disk is full");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return VEIL_ERR(VEIL_E_PROTOCOL, "ledger store: the database file is corrupt");
    case SQLITE_CONSTRAINT:
        return VEIL_ERR(VEIL_E_INTERNAL,
                        "ledger store: a row breaks the schema (duplicate index or bad hash)");
    case SQLITE_IOERR: return VEIL_ERR(VEIL_E_INTERNAL, "ledger store: I/O error on the database");
    case SQLITE_NOMEM: return VEIL_ERR(VEIL_E_NOMEM, "ledger store: SQLite ran out of memory");
    default: return VEIL_ERR(VEIL_E_INTERNAL, what);
    }
}

static veil_result exec(veil_ledger_store *s, const char *q, const char *what)
{
    int rc = sqlite3_exec(s->db, q, NULL, NULL, NULL);
    return rc == SQLITE_OK ? VEIL_OK : fail(rc, what);
}

/* Take a prepared statement, reset and unbound. */
static sqlite3_stmt *stmt(veil_ledger_store *s, int which)
{
    sqlite3_stmt *q = s->st[which];
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return q;
}

/* Step a statement that writes; reset it. */
static veil_result step_done(sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);
    sqlite3_reset(q);
    return rc == SQLITE_DONE ? VEIL_OK : fail(rc, what);
}

/* Step a single-integer query. */
static veil_result query_u64(veil_ledger_store *s, int which, uint64_t *out)
{
    sqlite3_stmt *q = stmt(s, which);
    int rc = sqlite3_step(q);
    veil_result r = VEIL_OK;
    *out = 0;
    if (rc != SQLITE_ROW)
        r = fail(rc, "ledger store: counting rows failed");
    else if (sqlite3_column_int64(q, 0) < 0)
        r = VEIL_ERR(VEIL_E_PROTOCOL, "ledger store: a negative count or index is stored");
    else
        *out = (uint64_t)sqlite3_column_int64(q, 0);
    sqlite3_reset(q);
    return r;
}

static veil_result column_blob(sqlite3_stmt *q, int col, uint8_t *out, size_t n, const char *what)
{
    const void *p = sqlite3_column_blob(q, col);
    VEIL_ENSURE(p != NULL && (size_t)sqlite3_column_bytes(q, col) == n, VEIL_E_PROTOCOL, what);
    memcpy(out, p, n);
    return VEIL_OK;
}

veil_result veil_ledger_store_open(const char *path, veil_ledger_store **out)
{
    veil_ledger_store *s = NULL;
    sqlite3_stmt *q = NULL;
    veil_result res = VEIL_OK;
    int rc;
    *out = NULL;

    VEIL_ENSURE_GOTO(res, path != NULL, VEIL_E_USAGE, "ledger store: no database path");
    s = veil_calloc(1, sizeof *s);
    VEIL_ENSURE_GOTO(res, s != NULL, VEIL_E_NOMEM, "ledger store: out of memory");
    rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    VEIL_ENSURE_GOTO(res, rc == SQLITE_OK, VEIL_E_USAGE,
                     "ledger store: cannot open or create the database file");
    sqlite3_busy_timeout(s->db, 10000);
    /* WAL: readers never block the writer; synchronous=FULL: a commit is
     * fsynced before COMMIT returns, so an acknowledged append survives a
     * crash or power loss. */
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &q, NULL);
    VEIL_ENSURE_GOTO(res,
                     rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW &&
                         sqlite3_column_text(q, 0) &&
                         strcmp((const char *)sqlite3_column_text(q, 0), "wal") == 0,
                     VEIL_E_INTERNAL,
                     "ledger store: cannot switch the database to WAL mode (not a SQLite file?)");
    sqlite3_finalize(q);
    q = NULL;
    VEIL_TRY(res, exec(s,
                       "PRAGMA synchronous=FULL; PRAGMA cell_size_check=ON;"
                       " PRAGMA trusted_schema=OFF; PRAGMA cache_size=-32768;",
                       "ledger store: cannot set synchronous=FULL"));
    VEIL_TRY(res, exec(s, "BEGIN IMMEDIATE", "ledger store: cannot lock the new database"));
    res = exec(s, schema, "ledger store: cannot create the tables");
    if (veil_ok(res))
        res = exec(s, "COMMIT", "ledger store: cannot commit the tables");
    if (!veil_ok(res)) {
        veil_ledger_store_rollback(s);
        goto out;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        rc = sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        VEIL_ENSURE_GOTO(res, rc == SQLITE_OK, VEIL_E_PROTOCOL,
                         "ledger store: the database does not have the ledger's tables");
    }
    *out = s;
    s = NULL;
out:
    sqlite3_finalize(q);
    veil_ledger_store_close(s);
    return res;
}

void veil_ledger_store_close(veil_ledger_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close_v2(s->db);
    veil_free(s);
}

veil_result veil_ledger_store_begin_write(veil_ledger_store *s)
{
    return exec(s, "BEGIN IMMEDIATE", "ledger store: cannot start a write transaction");
}

veil_result veil_ledger_store_begin_read(veil_ledger_store *s)
{
    return exec(s, "BEGIN", "ledger store: cannot start a read transaction");
}

veil_result veil_ledger_store_commit(veil_ledger_store *s)
{
    return exec(s, "COMMIT", "ledger store: commit failed");
}

void veil_ledger_store_rollback(veil_ledger_store *s)
{
    if (s && s->db && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

veil_result veil_ledger_store_meta_get(veil_ledger_store *s, const char *name, char *value,
                                       size_t cap, bool *found)
{
    sqlite3_stmt *q = stmt(s, ST_META_GET);
    veil_result r = VEIL_OK;
    *found = false;
    value[0] = '\0';
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(q, 0);
        size_t n = v ? strnlen(v, cap - 1) : 0;
        if (n)
            memcpy(value, v, n);
        value[n] = '\0';
        *found = true;
    } else if (rc != SQLITE_DONE) {
        r = fail(rc, "ledger store: reading metadata failed");
    }
    sqlite3_reset(q);
    return r;
}

veil_result veil_ledger_store_meta_put(veil_ledger_store *s, const char *name, const char *value)
{
    sqlite3_stmt *q = stmt(s, ST_META_PUT);
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
    return step_done(q, "ledger store: writing metadata failed");
}

veil_result veil_ledger_store_size(veil_ledger_store *s, uint64_t *out)
{
    return query_u64(s, ST_SIZE, out);
}

veil_result veil_ledger_store_counts(veil_ledger_store *s, uint64_t *entries, uint64_t *leaves,
                                     uint64_t *subtrees)
{
    VEIL_GUARD(query_u64(s, ST_COUNT_ENTRIES, entries));
    VEIL_GUARD(query_u64(s, ST_COUNT_LEAVES, leaves));
    return query_u64(s, ST_COUNT_SUBTREES, subtrees);
}

veil_result veil_ledger_store_put_entry(veil_ledger_store *s, uint64_t idx, const uint8_t *body,
                                        size_t len)
{
    sqlite3_stmt *q = stmt(s, ST_PUT_ENTRY);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)idx);
    sqlite3_bind_blob(q, 2, body, (int)len, SQLITE_STATIC);
    return step_done(q, "ledger store: writing an entry failed");
}

veil_result veil_ledger_store_get_entry(veil_ledger_store *s, uint64_t idx, veil_buf *out)
{
    sqlite3_stmt *q = stmt(s, ST_GET_ENTRY);
    veil_result r = VEIL_OK;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)idx);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(q, 0);
        int n = sqlite3_column_bytes(q, 0);
        r = n > 0 ? veil_buf_append(out, p, (size_t)n) : VEIL_OK;
    } else if (rc == SQLITE_DONE) {
        r = VEIL_ERR(VEIL_E_USAGE, "ledger: no entry at that index");
    } else {
        r = fail(rc, "ledger store: reading an entry failed");
    }
    sqlite3_reset(q);
    return r;
}

veil_result veil_ledger_store_put_node(veil_ledger_store *s, unsigned level, uint64_t idx,
                                       const uint8_t hash[VEIL_MERKLE_HASH_LEN])
{
    sqlite3_stmt *q;
    if (level == 0) {
        q = stmt(s, ST_PUT_LEAF);
        sqlite3_bind_int64(q, 1, (sqlite3_int64)idx);
        sqlite3_bind_blob(q, 2, hash, VEIL_MERKLE_HASH_LEN, SQLITE_STATIC);
        return step_done(q, "ledger store: writing a leaf hash failed");
    }
    q = stmt(s, ST_PUT_SUBTREE);
    sqlite3_bind_int(q, 1, (int)level);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)idx);
    sqlite3_bind_blob(q, 3, hash, VEIL_MERKLE_HASH_LEN, SQLITE_STATIC);
    return step_done(q, "ledger store: writing a subtree hash failed");
}

veil_result veil_ledger_store_get_node(veil_ledger_store *s, unsigned level, uint64_t idx,
                                       uint8_t out[VEIL_MERKLE_HASH_LEN])
{
    sqlite3_stmt *q;
    veil_result r = VEIL_OK;
    if (level == 0) {
        q = stmt(s, ST_GET_LEAF);
        sqlite3_bind_int64(q, 1, (sqlite3_int64)idx);
    } else {
        q = stmt(s, ST_GET_SUBTREE);
        sqlite3_bind_int(q, 1, (int)level);
        sqlite3_bind_int64(q, 2, (sqlite3_int64)idx);
    }
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        r = column_blob(q, 0, out, VEIL_MERKLE_HASH_LEN,
                        "ledger store: a stored hash is not 32 bytes");
    else if (rc == SQLITE_DONE)
        r = VEIL_ERR(VEIL_E_PROTOCOL, level ? "ledger store: a complete subtree's hash is missing"
                                            : "ledger store: a leaf hash is missing");
    else
        r = fail(rc, "ledger store: reading a hash failed");
    sqlite3_reset(q);
    return r;
}

veil_result veil_ledger_store_put_head(veil_ledger_store *s, const veil_sth *sth)
{
    sqlite3_stmt *q = stmt(s, ST_PUT_HEAD);
    sqlite3_bind_int64(q, 1, (sqlite3_int64)sth->tree_size);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)sth->timestamp_ms);
    sqlite3_bind_blob(q, 3, sth->root_hash, VEIL_MERKLE_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, sth->log_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(q, 5, sth->signature, VEIL_ES384_SIG_LEN, SQLITE_STATIC);
    return step_done(q, "ledger store: writing a tree head failed");
}

/* One heads row (tree_size, timestamp_ms, root_hash, log_id, signature). */
static veil_result read_head(sqlite3_stmt *q, veil_sth *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_int64 size = sqlite3_column_int64(q, 0), ts = sqlite3_column_int64(q, 1);
    const char *id = (const char *)sqlite3_column_text(q, 3);
    VEIL_ENSURE(size >= 0 && ts >= 0 && id && strlen(id) == VEIL_LEDGER_LOG_ID_LEN, VEIL_E_PROTOCOL,
                "ledger store: a stored tree head is malformed");
    out->tree_size = (uint64_t)size;
    out->timestamp_ms = (uint64_t)ts;
    memcpy(out->log_id, id, VEIL_LEDGER_LOG_ID_LEN);
    VEIL_GUARD(column_blob(q, 2, out->root_hash, VEIL_MERKLE_HASH_LEN,
                           "ledger store: a stored tree head's root is not 32 bytes"));
    return column_blob(q, 4, out->signature, VEIL_ES384_SIG_LEN,
                       "ledger store: a stored tree head's signature is not 96 bytes");
}

veil_result veil_ledger_store_get_head(veil_ledger_store *s, bool latest, uint64_t tree_size,
                                       veil_sth *out, bool *found)
{
    sqlite3_stmt *q = stmt(s, latest ? ST_LATEST_HEAD : ST_GET_HEAD);
    veil_result r = VEIL_OK;
    *found = false;
    memset(out, 0, sizeof *out);
    if (!latest)
        sqlite3_bind_int64(q, 1, (sqlite3_int64)tree_size);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        r = read_head(q, out);
        *found = veil_ok(r);
    } else if (rc != SQLITE_DONE) {
        r = fail(rc, "ledger store: reading a tree head failed");
    }
    sqlite3_reset(q);
    return r;
}

veil_result veil_ledger_store_scan_open(veil_ledger_store *s)
{
    stmt(s, ST_SCAN_ENTRIES);
    stmt(s, ST_SCAN_HEADS);
    return VEIL_OK;
}

veil_result veil_ledger_store_scan_entry(veil_ledger_store *s, bool *done, uint64_t *idx,
                                         const uint8_t **body, size_t *len,
                                         uint8_t leaf[VEIL_MERKLE_HASH_LEN], bool *has_leaf)
{
    sqlite3_stmt *q = s->st[ST_SCAN_ENTRIES];
    *done = false;
    *has_leaf = false;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        *done = true;
        return VEIL_OK;
    }
    if (rc != SQLITE_ROW)
        return fail(rc, "ledger store: reading the entries failed");
    sqlite3_int64 i = sqlite3_column_int64(q, 0);
    VEIL_ENSURE(i >= 0, VEIL_E_PROTOCOL, "ledger store: a negative entry index is stored");
    *idx = (uint64_t)i;
    *body = sqlite3_column_blob(q, 1);
    *len = (size_t)sqlite3_column_bytes(q, 1);
    if (sqlite3_column_type(q, 2) != SQLITE_NULL) {
        VEIL_GUARD(column_blob(q, 2, leaf, VEIL_MERKLE_HASH_LEN,
                               "ledger store: a stored leaf hash is not 32 bytes"));
        *has_leaf = true;
    }
    return VEIL_OK;
}

veil_result veil_ledger_store_scan_head(veil_ledger_store *s, bool *done, veil_sth *out)
{
    sqlite3_stmt *q = s->st[ST_SCAN_HEADS];
    *done = false;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        *done = true;
        return VEIL_OK;
    }
    if (rc != SQLITE_ROW)
        return fail(rc, "ledger store: reading the tree heads failed");
    return read_head(q, out);
}

void veil_ledger_store_scan_close(veil_ledger_store *s)
{
    sqlite3_reset(s->st[ST_SCAN_ENTRIES]);
    sqlite3_reset(s->st[ST_SCAN_HEADS]);
}
