/* Internals shared by the ledger's files: the RFC 9162 algorithms over an
 * abstract source of complete-subtree hashes, the frontier that grows a tree
 * one leaf at a time, JSON field helpers, and entry encoding. */
#ifndef VEIL_LEDGER_INTERNAL_H
#define VEIL_LEDGER_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "veil/ledger.h"

#define HASH_LEN VEIL_MERKLE_HASH_LEN

/* A source of complete-subtree hashes: node(level, index) is the root of
 * leaves [index * 2^level, (index + 1) * 2^level); level 0 is the leaf hash.
 * The RFC recursions below only ask for complete subtrees inside the tree. */
typedef veil_result (*veil_merkle_node_fn)(void *ctx, unsigned level, uint64_t index,
                                           uint8_t out[HASH_LEN]);
typedef struct veil_merkle_src {
    veil_merkle_node_fn node;
    void *ctx;
} veil_merkle_src;

/* MTH(D[0:n]) (n may be 0), PATH(m, D[0:n]) and PROOF(m, D[0:n]). */
veil_result veil_merkle_src_root(const veil_merkle_src *s, uint64_t n, uint8_t out[HASH_LEN]);
veil_result veil_merkle_src_inclusion(const veil_merkle_src *s, uint64_t m, uint64_t n,
                                      veil_merkle_proof *out);
veil_result veil_merkle_src_consistency(const veil_merkle_src *s, uint64_t m, uint64_t n,
                                        veil_merkle_proof *out);

/* The right edge of a tree of `size` leaves: hash[L] is the root of its
 * complete subtree at level L (index (size >> L) - 1) whenever bit L of size
 * is set; the other slots are stale. 64 levels bound any uint64_t size. */
typedef struct veil_merkle_frontier {
    uint64_t size;
    uint8_t hash[64][HASH_LEN];
} veil_merkle_frontier;

/* Called for every complete subtree a push completes: the leaf itself
 * (level 0) and each parent it finishes. */
typedef veil_result (*veil_merkle_emit_fn)(void *ctx, unsigned level, uint64_t index,
                                           const uint8_t hash[HASH_LEN]);

veil_result veil_merkle_frontier_push(veil_merkle_frontier *f, const uint8_t leaf[HASH_LEN],
                                      veil_merkle_emit_fn emit, void *ctx);
veil_result veil_merkle_frontier_root(const veil_merkle_frontier *f, uint8_t out[HASH_LEN]);
/* Rebuild the frontier of `size` leaves from a source (O(log size) reads). */
veil_result veil_merkle_frontier_load(veil_merkle_frontier *f, const veil_merkle_src *s,
                                      uint64_t size);

/* JSON helpers for the strict parsers: a non-negative integer below 2^53, a
 * base64 string that decodes to exactly `n` bytes, an object holding exactly
 * the `n` listed names. Messages name the field through `what`. */
veil_result veil_ledger_json_u53(const json_t *v, uint64_t *out, const char *what);
veil_result veil_ledger_json_b64(const json_t *v, uint8_t *out, size_t n, const char *what);
veil_result veil_ledger_json_only(const json_t *obj, const char *const *names, size_t n,
                                  const char *what);
/* A JSON array of base64 hashes into a proof. */
veil_result veil_ledger_proof_from_array(const json_t *arr, veil_merkle_proof *out);
/* Standard base64 of p as a JSON string value. */
json_t *veil_ledger_json_b64_new(const uint8_t *p, size_t n);
/* Parse strictly (duplicates refused) into a JSON object. */
veil_result veil_ledger_json_parse_object(const uint8_t *json, size_t len, json_t **out,
                                          const char *what);
/* Canonical bytes of `entry` (an object with a valid "type" and no "seq") as
 * the leaf at `index`. */
veil_result veil_ledger_entry_encode(const json_t *entry, uint64_t index, veil_buf *out);
/* STH <-> JSON object. */
json_t *veil_sth_json(const veil_sth *sth);
veil_result veil_sth_from_object(const json_t *obj, veil_sth *out);

/* Milliseconds since the Unix epoch. */
uint64_t veil_ledger_now_ms(void);

#endif
