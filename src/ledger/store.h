/* The ledger's SQLite store (the only code that includes sqlite3.h).
 *
 * Schema (one file per log; WAL journal, synchronous=FULL so a commit is on
 * disk when it returns; every CHECK is enforced by SQLite):
 *   meta(name TEXT PK, value TEXT)               format = veil-ledger-v1, log_id
 *   entries(idx INTEGER PK, body BLOB)           canonical entry bytes
 *   leaves(idx INTEGER PK, hash BLOB[32])        SHA-256(0x00 || body)
 *   subtrees(level, idx, hash BLOB[32])          root of leaves
 *                                                [idx*2^level, (idx+1)*2^level),
 *                                                level >= 1, written when complete
 *   heads(tree_size INTEGER PK, timestamp_ms, root_hash, log_id, signature)
 * Writes happen inside veil_ledger_store_begin_write .. commit; a failed
 * transaction is rolled back whole. */
#ifndef VEIL_LEDGER_STORE_H
#define VEIL_LEDGER_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "veil/ledger.h"

typedef struct veil_ledger_store veil_ledger_store;

veil_result veil_ledger_store_open(const char *path, veil_ledger_store **out);
void veil_ledger_store_close(veil_ledger_store *s);

/* BEGIN IMMEDIATE (takes the write lock now) / BEGIN (a read snapshot). */
veil_result veil_ledger_store_begin_write(veil_ledger_store *s);
veil_result veil_ledger_store_begin_read(veil_ledger_store *s);
veil_result veil_ledger_store_commit(veil_ledger_store *s);
/* Roll back any open transaction (no-op without one). */
void veil_ledger_store_rollback(veil_ledger_store *s);

/* value gets a NUL-terminated copy (truncated to cap - 1); *found says
 * whether the name exists. */
veil_result veil_ledger_store_meta_get(veil_ledger_store *s, const char *name, char *value,
                                       size_t cap, bool *found);
veil_result veil_ledger_store_meta_put(veil_ledger_store *s, const char *name, const char *value);

/* Number of entries: one more than the largest index (0 when empty). */
veil_result veil_ledger_store_size(veil_ledger_store *s, uint64_t *out);
veil_result veil_ledger_store_counts(veil_ledger_store *s, uint64_t *entries, uint64_t *leaves,
                                     uint64_t *subtrees);

veil_result veil_ledger_store_put_entry(veil_ledger_store *s, uint64_t idx, const uint8_t *body,
                                        size_t len);
veil_result veil_ledger_store_get_entry(veil_ledger_store *s, uint64_t idx, veil_buf *out);
/* Level 0 is the leaf hash (leaves), higher levels are subtrees. */
veil_result veil_ledger_store_put_node(veil_ledger_store *s, unsigned level, uint64_t idx,
                                       const uint8_t hash[VEIL_MERKLE_HASH_LEN]);
veil_result veil_ledger_store_get_node(veil_ledger_store *s, unsigned level, uint64_t idx,
                                       uint8_t out[VEIL_MERKLE_HASH_LEN]);

veil_result veil_ledger_store_put_head(veil_ledger_store *s, const veil_sth *sth);
/* The head of exactly tree_size, or with latest the largest one. */
veil_result veil_ledger_store_get_head(veil_ledger_store *s, bool latest, uint64_t tree_size,
                                       veil_sth *out, bool *found);

/* Full scans for verification, in index / tree-size order. Open both, step
 * each until *done, close. Each row is valid until the next step. */
veil_result veil_ledger_store_scan_open(veil_ledger_store *s);
veil_result veil_ledger_store_scan_entry(veil_ledger_store *s, bool *done, uint64_t *idx,
                                         const uint8_t **body, size_t *len,
                                         uint8_t leaf[VEIL_MERKLE_HASH_LEN], bool *has_leaf);
veil_result veil_ledger_store_scan_head(veil_ledger_store *s, bool *done, veil_sth *out);
void veil_ledger_store_scan_close(veil_ledger_store *s);

#endif
