/* The log: appends (one transaction per batch, tree head signed inside it),
 * roots and proofs at any size from the stored subtree hashes, receipts, and
 * a full re-verification of everything stored. */
#include <string.h>

#include "ledger/ledger_internal.h"
#include "ledger/store.h"
#include "veil/mem.h"

#define FORMAT "veil-ledger-v1"

struct veil_ledger {
    veil_ledger_store *store;
    const veil_sign_key *key;
    char log_id[VEIL_LEDGER_LOG_ID_LEN + 1];
    /* The right edge of the stored tree, valid when frontier_ok; reloaded
     * whenever another handle may have appended or a write failed. */
    veil_merkle_frontier frontier;
    bool frontier_ok;
};

static veil_result read_node(void *ctx, unsigned level, uint64_t index, uint8_t out[HASH_LEN])
{
    return veil_ledger_store_get_node(ctx, level, index, out);
}

static veil_result write_node(void *ctx, unsigned level, uint64_t index,
                              const uint8_t hash[HASH_LEN])
{
    return veil_ledger_store_put_node(ctx, level, index, hash);
}

static veil_merkle_src source(veil_ledger *l) { return (veil_merkle_src){read_node, l->store}; }

/* Record (new log) or check (existing log) the format and the log_id. */
static veil_result check_meta(veil_ledger *l)
{
    char value[64];
    bool found;
    uint64_t size;
    veil_result res = VEIL_OK;

    VEIL_TRY(res, veil_ledger_store_begin_write(l->store));
    VEIL_TRY(res, veil_ledger_store_meta_get(l->store, "format", value, sizeof value, &found));
    if (found)
        VEIL_ENSURE_GOTO(res, strcmp(value, FORMAT) == 0, VEIL_E_UNSUPPORTED,
                         "ledger: the database is not a veil-ledger-v1 log");
    else
        VEIL_TRY(res, veil_ledger_store_meta_put(l->store, "format", FORMAT));
    VEIL_TRY(res, veil_ledger_store_meta_get(l->store, "log_id", value, sizeof value, &found));
    if (found) {
        VEIL_ENSURE_GOTO(res, strcmp(value, l->log_id) == 0, VEIL_E_USAGE,
                         "ledger: the key does not match this log's log_id");
    } else {
        VEIL_TRY(res, veil_ledger_store_size(l->store, &size));
        VEIL_ENSURE_GOTO(res, size == 0, VEIL_E_PROTOCOL,
                         "ledger: the log has entries but no log_id");
        VEIL_TRY(res, veil_ledger_store_meta_put(l->store, "log_id", l->log_id));
    }
    VEIL_TRY(res, veil_ledger_store_commit(l->store));
out:
    if (!veil_ok(res))
        veil_ledger_store_rollback(l->store);
    return res;
}

veil_result veil_ledger_open(const char *path, const veil_sign_key *key, veil_ledger **out)
{
    veil_ledger *l = NULL;
    veil_result res = VEIL_OK;
    *out = NULL;

    VEIL_ENSURE_GOTO(res, key != NULL, VEIL_E_USAGE, "ledger: opening a log needs its key");
    l = veil_calloc(1, sizeof *l);
    VEIL_ENSURE_GOTO(res, l != NULL, VEIL_E_NOMEM, "ledger: out of memory");
    l->key = key;
    VEIL_TRY(res, veil_sign_key_thumbprint(key, l->log_id));
    VEIL_TRY(res, veil_ledger_store_open(path, &l->store));
    VEIL_TRY(res, check_meta(l));
    *out = l;
    l = NULL;
out:
    veil_ledger_close(l);
    return res;
}

void veil_ledger_close(veil_ledger *l)
{
    if (!l)
        return;
    veil_ledger_store_close(l->store);
    veil_free(l);
}

veil_result veil_ledger_size(veil_ledger *l, uint64_t *out)
{
    return veil_ledger_store_size(l->store, out);
}

/* Inside a write transaction: make the frontier match the stored size. */
static veil_result sync_frontier(veil_ledger *l, uint64_t size)
{
    if (l->frontier_ok && l->frontier.size == size)
        return VEIL_OK;
    veil_merkle_src s = source(l);
    l->frontier_ok = false;
    VEIL_GUARD(veil_merkle_frontier_load(&l->frontier, &s, size));
    l->frontier_ok = true;
    return VEIL_OK;
}

veil_result veil_ledger_append_values(veil_ledger *l, const json_t *const *entries, size_t n,
                                      uint64_t *first_index)
{
    veil_buf body;
    veil_sth sth, last;
    uint8_t leaf[HASH_LEN];
    uint64_t size = 0, now;
    bool found;
    veil_result res = VEIL_OK;
    veil_buf_init(&body, VEIL_LEDGER_MAX_ENTRY);
    if (first_index)
        *first_index = 0;

    VEIL_ENSURE_GOTO(res, entries != NULL && n > 0, VEIL_E_USAGE, "ledger: nothing to append");
    VEIL_ENSURE_GOTO(res, veil_sign_key_has_private(l->key), VEIL_E_USAGE,
                     "ledger: appending needs the log's private key");
    VEIL_TRY(res, veil_ledger_store_begin_write(l->store));
    VEIL_TRY(res, veil_ledger_store_size(l->store, &size));
    VEIL_ENSURE_GOTO(res, n < VEIL_LEDGER_MAX_SIZE - size, VEIL_E_NOMEM,
                     "ledger: the log is full (2^53)");
    VEIL_TRY(res, sync_frontier(l, size));
    for (size_t i = 0; i < n; i++) {
        veil_buf_clear(&body);
        VEIL_TRY(res, veil_ledger_entry_encode(entries[i], size + i, &body));
        VEIL_TRY(res, veil_merkle_leaf_hash(body.data, body.len, leaf));
        VEIL_TRY(res, veil_ledger_store_put_entry(l->store, size + i, body.data, body.len));
        VEIL_TRY(res, veil_merkle_frontier_push(&l->frontier, leaf, write_node, l->store));
    }
    /* The tree head of the new size, signed and stored in the same
     * transaction: every committed size has an STH. Timestamps never go
     * backwards even if the clock does. */
    memset(&sth, 0, sizeof sth);
    sth.tree_size = size + n;
    VEIL_TRY(res, veil_merkle_frontier_root(&l->frontier, sth.root_hash));
    VEIL_TRY(res, veil_ledger_store_get_head(l->store, true, 0, &last, &found));
    now = veil_ledger_now_ms();
    sth.timestamp_ms = found && last.timestamp_ms > now ? last.timestamp_ms : now;
    VEIL_TRY(res, veil_sth_sign(&sth, l->key));
    VEIL_TRY(res, veil_ledger_store_put_head(l->store, &sth));
    VEIL_TRY(res, veil_ledger_store_commit(l->store));
    if (first_index)
        *first_index = size;
out:
    if (!veil_ok(res)) {
        veil_ledger_store_rollback(l->store);
        l->frontier_ok = false;
    }
    veil_buf_free(&body);
    return res;
}

veil_result veil_ledger_append_batch(veil_ledger *l, const char *const *jsons, const size_t *lens,
                                     size_t n, uint64_t *first_index)
{
    json_t **v = NULL;
    size_t parsed = 0;
    veil_result res = VEIL_OK;
    if (first_index)
        *first_index = 0;

    VEIL_ENSURE_GOTO(res, jsons != NULL && lens != NULL && n > 0, VEIL_E_USAGE,
                     "ledger: nothing to append");
    v = veil_calloc(n, sizeof *v);
    VEIL_ENSURE_GOTO(res, v != NULL, VEIL_E_NOMEM, "ledger: out of memory for a batch");
    for (; parsed < n; parsed++) {
        VEIL_ENSURE_GOTO(res, lens[parsed] <= VEIL_LEDGER_MAX_ENTRY, VEIL_E_USAGE,
                         "ledger: entry is larger than 1 MiB");
        VEIL_TRY(res, veil_ledger_json_parse_object((const uint8_t *)jsons[parsed], lens[parsed],
                                                    &v[parsed],
                                                    "ledger: entry is not a JSON object "
                                                    "(or repeats a member name)"));
    }
    VEIL_TRY(res, veil_ledger_append_values(l, (const json_t *const *)v, n, first_index));
out:
    for (size_t i = 0; v && i < parsed; i++)
        json_decref(v[i]);
    veil_free(v);
    return res;
}

veil_result veil_ledger_append(veil_ledger *l, const char *json, size_t len, uint64_t *index)
{
    return veil_ledger_append_batch(l, &json, &len, 1, index);
}

veil_result veil_ledger_entry(veil_ledger *l, uint64_t index, veil_buf *out)
{
    return veil_ledger_store_get_entry(l->store, index, out);
}

/* Run one read (`what`) inside a snapshot so that size checks and node reads
 * see the same tree. */
typedef struct read_args {
    uint64_t a, b;
    uint8_t *root;
    veil_merkle_proof *proof;
} read_args;

enum { READ_ROOT, READ_INCLUSION, READ_CONSISTENCY };

static veil_result snapshot_read(veil_ledger *l, int what, read_args *args)
{
    veil_merkle_src s = source(l);
    uint64_t size;
    veil_result res = VEIL_OK;

    VEIL_TRY(res, veil_ledger_store_begin_read(l->store));
    VEIL_TRY(res, veil_ledger_store_size(l->store, &size));
    VEIL_ENSURE_GOTO(res, (what == READ_ROOT ? args->a : args->b) <= size, VEIL_E_USAGE,
                     "ledger: tree size is larger than the log");
    switch (what) {
    case READ_ROOT: res = veil_merkle_src_root(&s, args->a, args->root); break;
    case READ_INCLUSION: res = veil_merkle_src_inclusion(&s, args->a, args->b, args->proof); break;
    default: res = veil_merkle_src_consistency(&s, args->a, args->b, args->proof); break;
    }
out:
    veil_ledger_store_rollback(l->store); /* ends the read snapshot */
    return res;
}

veil_result veil_ledger_root(veil_ledger *l, uint64_t tree_size, uint8_t out[HASH_LEN])
{
    read_args a = {tree_size, 0, out, NULL};
    return snapshot_read(l, READ_ROOT, &a);
}

veil_result veil_ledger_inclusion_proof(veil_ledger *l, uint64_t index, uint64_t tree_size,
                                        veil_merkle_proof *out)
{
    read_args a = {index, tree_size, NULL, out};
    out->len = 0;
    return snapshot_read(l, READ_INCLUSION, &a);
}

veil_result veil_ledger_consistency_proof(veil_ledger *l, uint64_t first, uint64_t second,
                                          veil_merkle_proof *out)
{
    read_args a = {first, second, NULL, out};
    out->len = 0;
    return snapshot_read(l, READ_CONSISTENCY, &a);
}

veil_result veil_ledger_latest_sth(veil_ledger *l, veil_sth *out)
{
    bool found;
    VEIL_GUARD(veil_ledger_store_get_head(l->store, true, 0, out, &found));
    VEIL_ENSURE(found, VEIL_E_USAGE, "ledger: the log has no tree head yet");
    return VEIL_OK;
}

veil_result veil_ledger_sth_at(veil_ledger *l, uint64_t tree_size, veil_sth *out)
{
    bool found;
    VEIL_GUARD(veil_ledger_store_get_head(l->store, false, tree_size, out, &found));
    VEIL_ENSURE(found, VEIL_E_USAGE, "ledger: no tree head of that size is stored");
    return VEIL_OK;
}

veil_result veil_ledger_receipt(veil_ledger *l, uint64_t index, veil_buf *out)
{
    veil_receipt r;
    veil_merkle_src s = source(l);
    bool found;
    veil_result res = VEIL_OK;
    memset(&r, 0, sizeof r);
    veil_buf_init(&r.entry, VEIL_LEDGER_MAX_ENTRY);

    VEIL_TRY(res, veil_ledger_store_begin_read(l->store));
    VEIL_TRY(res, veil_ledger_store_get_head(l->store, true, 0, &r.sth, &found));
    VEIL_ENSURE_GOTO(res, found && index < r.sth.tree_size, VEIL_E_USAGE,
                     "ledger: no signed tree head covers that index yet");
    r.leaf_index = index;
    VEIL_TRY(res, veil_ledger_store_get_entry(l->store, index, &r.entry));
    VEIL_TRY(res, veil_merkle_src_inclusion(&s, index, r.sth.tree_size, &r.inclusion));
    VEIL_TRY(res, veil_receipt_write(&r, out));
out:
    veil_ledger_store_rollback(l->store);
    veil_receipt_free(&r);
    return res;
}

/* ---- verify_all ---------------------------------------------------------- */

static veil_result check_node(void *ctx, unsigned level, uint64_t index,
                              const uint8_t hash[HASH_LEN])
{
    uint8_t stored[HASH_LEN];
    if (level == 0)
        return VEIL_OK; /* the leaf was compared with its entry already */
    VEIL_GUARD(veil_ledger_store_get_node(ctx, level, index, stored));
    VEIL_ENSURE(veil_ct_equal(stored, hash, HASH_LEN), VEIL_E_CRYPTO,
                "ledger: a stored subtree hash does not match the recomputed tree");
    return VEIL_OK;
}

static veil_result check_head(veil_ledger *l, const veil_sth *head, const veil_merkle_frontier *f)
{
    uint8_t root[HASH_LEN];
    VEIL_GUARD(veil_merkle_frontier_root(f, root));
    VEIL_ENSURE(veil_ct_equal(root, head->root_hash, HASH_LEN), VEIL_E_CRYPTO,
                "ledger: a stored tree head's root does not match the recomputed tree");
    return veil_sth_verify(head, l->key);
}

/* Check every head whose size the recomputation has now reached. */
static veil_result drain_heads(veil_ledger *l, const veil_merkle_frontier *f, veil_sth *head,
                               bool *heads_done, uint64_t *covered)
{
    while (!*heads_done && head->tree_size == f->size) {
        VEIL_GUARD(check_head(l, head, f));
        *covered = f->size;
        VEIL_GUARD(veil_ledger_store_scan_head(l->store, heads_done, head));
    }
    VEIL_ENSURE(*heads_done || head->tree_size > f->size, VEIL_E_INTERNAL,
                "ledger: tree heads are not in size order");
    return VEIL_OK;
}

veil_result veil_ledger_verify_all(veil_ledger *l)
{
    veil_merkle_frontier f;
    veil_sth head;
    uint64_t size, n_entries, n_leaves, n_subtrees, idx, covered = 0;
    const uint8_t *body;
    size_t len;
    uint8_t stored_leaf[HASH_LEN], leaf[HASH_LEN];
    bool entries_done = false, heads_done = false, has_leaf, scanning = false;
    veil_result res = VEIL_OK;
    memset(&f, 0, sizeof f);

    VEIL_TRY(res, veil_ledger_store_begin_read(l->store));
    VEIL_TRY(res, veil_ledger_store_size(l->store, &size));
    VEIL_TRY(res, veil_ledger_store_counts(l->store, &n_entries, &n_leaves, &n_subtrees));
    VEIL_ENSURE_GOTO(res, n_entries == size, VEIL_E_PROTOCOL,
                     "ledger: entry indices are not contiguous from 0");
    VEIL_ENSURE_GOTO(res, n_leaves == size, VEIL_E_PROTOCOL,
                     "ledger: the number of leaf hashes differs from the number of entries");
    /* a tree of n leaves has n - popcount(n) complete subtrees above the leaves */
    VEIL_ENSURE_GOTO(res, n_subtrees == size - (uint64_t)__builtin_popcountll(size),
                     VEIL_E_PROTOCOL,
                     "ledger: the number of subtree hashes differs from what the size implies");
    VEIL_TRY(res, veil_ledger_store_scan_open(l->store));
    scanning = true;
    VEIL_TRY(res, veil_ledger_store_scan_head(l->store, &heads_done, &head));
    VEIL_TRY(res, drain_heads(l, &f, &head, &heads_done, &covered));
    for (;;) {
        VEIL_TRY(res, veil_ledger_store_scan_entry(l->store, &entries_done, &idx, &body, &len,
                                                   stored_leaf, &has_leaf));
        if (entries_done)
            break;
        VEIL_ENSURE_GOTO(res, idx == f.size, VEIL_E_PROTOCOL,
                         "ledger: entry indices are not contiguous from 0");
        VEIL_TRY(res, veil_ledger_entry_check(body, len, idx));
        VEIL_TRY(res, veil_merkle_leaf_hash(body, len, leaf));
        VEIL_ENSURE_GOTO(res, has_leaf && veil_ct_equal(leaf, stored_leaf, HASH_LEN), VEIL_E_CRYPTO,
                         "ledger: a stored leaf hash does not match its entry");
        VEIL_TRY(res, veil_merkle_frontier_push(&f, leaf, check_node, l->store));
        VEIL_TRY(res, drain_heads(l, &f, &head, &heads_done, &covered));
    }
    VEIL_ENSURE_GOTO(res, f.size == size, VEIL_E_PROTOCOL,
                     "ledger: entry indices are not contiguous from 0");
    VEIL_ENSURE_GOTO(res, heads_done, VEIL_E_PROTOCOL,
                     "ledger: a stored tree head is larger than the log");
    /* every append signs the head of its new size, so the last one is there */
    VEIL_ENSURE_GOTO(res, covered == size, VEIL_E_PROTOCOL,
                     "ledger: no stored tree head covers the latest entries");
out:
    if (scanning)
        veil_ledger_store_scan_close(l->store);
    veil_ledger_store_rollback(l->store);
    return res;
}
