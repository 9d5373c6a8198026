/* veil — transparency ledger: an append-only Merkle log of key
 * configurations, release policies, reference-value changes and key releases,
 * with signed tree heads, receipts and client-side fork detection.
 *
 * Merkle tree: RFC 9162 §2.1 exactly. Leaf hash SHA-256(0x00 || entry),
 * interior node SHA-256(0x01 || left || right), MTH split at the largest power
 * of two below n, MTH of the empty tree SHA-256(""). Inclusion proofs (PATH,
 * §2.1.3.1) and consistency proofs (PROOF/SUBPROOF, §2.1.4.1) are generated
 * and verified (§2.1.3.2, §2.1.4.2) by the RFC's algorithms; proof hashes are
 * listed in the RFC's order (deepest first).
 *
 * Entries (the leaves) are RFC 8785 canonical JSON (JCS) objects:
 *   {"seq":<leaf index>,"type":"refvalues"|"policy"|"keyconfig"|"release",...}
 * The KMS chooses the other members; the ledger requires only "type", sets
 * "seq" itself (an entry handed to append must not carry one) and stores the
 * canonical bytes, which are exactly the bytes hashed into the leaf.
 *
 * Signed tree head (STH). The signed message is the JCS encoding of
 *   {"log_id":L,"root_hash":R,"timestamp":T,"tree_size":N,"version":"veil-sth-v1"}
 * i.e. these five members in this order with no whitespace, where L is the RFC
 * 7638 JWK thumbprint (base64url, 43 characters) of the log's P-384 key, R is
 * the 32-byte root hash in base64 (RFC 4648 §4, padded), T is milliseconds
 * since the Unix epoch and N the number of entries (both integers < 2^53).
 * The signature is ES384 (ECDSA P-384 over SHA-384, raw r||s, 96 bytes). On
 * the wire an STH is that object plus "signature": base64 of the 96 bytes.
 * Parsers are strict: exactly these members, no others, no duplicates.
 *
 * Receipt (what the KMS hands out with a key configuration):
 *   {"entry":"<the canonical entry text>","inclusion_proof":["<b64>",...],
 *    "leaf_index":I,"sth":{STH as above},"version":"veil-receipt-v1"}
 * written in JCS form; hashes are base64 (padded). A receipt is valid only if
 * the STH's log_id is the pinned key's thumbprint and its signature verifies,
 * the entry is canonical with "seq" equal to leaf_index, the inclusion proof
 * leads from SHA-256(0x00 || entry) to the STH's root, and the entry is what
 * the caller expects (exact bytes, or a set of members). Everything else fails.
 *
 * Storage: one SQLite file per log (WAL, synchronous=FULL), tables for
 * entries, leaf hashes, the hash of every complete power-of-two subtree (so a
 * root or a proof at any size costs O(log n) hash reads) and tree heads.
 * Every append (one entry or a batch) is one transaction that also signs and
 * stores the tree head of the new size, so each committed size has an STH and
 * a crash leaves the log at one of them.
 *
 * Limits: tree sizes, indices and timestamps below 2^53 (exact in JSON);
 * entries up to 1 MiB. Handles are not thread-safe; use one per thread. */
#ifndef VEIL_LEDGER_H
#define VEIL_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/result.h"
#include "veil/sign.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_t; /* jansson */

#define VEIL_MERKLE_HASH_LEN 32
/* More than any tree below 2^63 entries needs (inclusion: ceil(log2 n);
 * consistency: ceil(log2 n) + 1). */
#define VEIL_MERKLE_MAX_PROOF 64
#define VEIL_LEDGER_MAX_SIZE ((uint64_t)1 << 53)
#define VEIL_LEDGER_MAX_ENTRY ((size_t)1 << 20)
#define VEIL_LEDGER_LOG_ID_LEN 43

/* ---- RFC 8785 canonical JSON -------------------------------------------- */

/* Deepest nesting of arrays/objects the canonicaliser accepts. */
#define VEIL_JCS_MAX_DEPTH 128
/* Longest ECMAScript number text plus NUL ("-1.2345678901234567e-308"). */
#define VEIL_JCS_NUMBER_MAX 32

/* Append the canonical form of a jansson value: members sorted by the UTF-16
 * code units of their names, strings escaped as §3.2.2.2 says, numbers as
 * ECMAScript Number.prototype.toString (§3.2.2.3). Integers must lie within
 * ±2^53 (beyond that JSON numbers are not exact doubles), and so must any
 * double whose canonical text is a bare integer (integral, below 10^21): so
 * canonical text always parses back to itself. NaN and infinities are
 * refused; strings must be valid UTF-8. */
VEIL_MUST_USE veil_result veil_jcs_serialize(const struct json_t *v, veil_buf *out);
/* Parse JSON text (duplicate names refused, any top-level value) and append
 * its canonical form. */
VEIL_MUST_USE veil_result veil_jcs_canonicalize(const uint8_t *json, size_t len, veil_buf *out);
/* ECMAScript Number::toString of a finite double ("1e+21", "0.000001"). */
VEIL_MUST_USE veil_result veil_jcs_number(double v, char out[VEIL_JCS_NUMBER_MAX]);

/* ---- Merkle tree (RFC 9162 §2.1) ---------------------------------------- */

typedef struct veil_merkle_proof {
    size_t len;
    uint8_t hash[VEIL_MERKLE_MAX_PROOF][VEIL_MERKLE_HASH_LEN];
} veil_merkle_proof;

/* SHA-256(0x00 || entry) */
VEIL_MUST_USE veil_result veil_merkle_leaf_hash(const uint8_t *entry, size_t len,
                                                uint8_t out[VEIL_MERKLE_HASH_LEN]);
/* SHA-256(0x01 || left || right) */
VEIL_MUST_USE veil_result veil_merkle_node_hash(const uint8_t left[VEIL_MERKLE_HASH_LEN],
                                                const uint8_t right[VEIL_MERKLE_HASH_LEN],
                                                uint8_t out[VEIL_MERKLE_HASH_LEN]);
/* RFC 9162 §2.1.3.2. VEIL_E_CRYPTO naming the failed check otherwise. */
VEIL_MUST_USE veil_result veil_merkle_verify_inclusion(
    uint64_t index, uint64_t tree_size, const uint8_t leaf_hash[VEIL_MERKLE_HASH_LEN],
    const veil_merkle_proof *proof, const uint8_t root[VEIL_MERKLE_HASH_LEN]);
/* RFC 9162 §2.1.4.2 for 0 < first < second. first == second needs an empty
 * proof and equal roots; first == 0 needs an empty proof (every tree extends
 * the empty one); first > second always fails. */
VEIL_MUST_USE veil_result veil_merkle_verify_consistency(
    uint64_t first, uint64_t second, const uint8_t first_root[VEIL_MERKLE_HASH_LEN],
    const uint8_t second_root[VEIL_MERKLE_HASH_LEN], const veil_merkle_proof *proof);
/* A proof as a JSON array of base64 hashes: ["<b64>",...]. */
VEIL_MUST_USE veil_result veil_merkle_proof_to_json(const veil_merkle_proof *p, veil_buf *out);
VEIL_MUST_USE veil_result veil_merkle_proof_from_json(const uint8_t *json, size_t len,
                                                      veil_merkle_proof *out);

/* An in-memory tree (a mirror, a test oracle): every complete subtree is kept,
 * so roots and proofs at any size cost O(log n). */
typedef struct veil_merkle_tree veil_merkle_tree;

VEIL_MUST_USE veil_result veil_merkle_tree_new(veil_merkle_tree **out);
VEIL_MUST_USE veil_result veil_merkle_tree_append(veil_merkle_tree *t, const uint8_t *entry,
                                                  size_t len);
VEIL_MUST_USE veil_result
veil_merkle_tree_append_hash(veil_merkle_tree *t, const uint8_t leaf_hash[VEIL_MERKLE_HASH_LEN]);
uint64_t veil_merkle_tree_size(const veil_merkle_tree *t);
/* MTH of the first tree_size leaves (tree_size <= size). */
VEIL_MUST_USE veil_result veil_merkle_tree_root(const veil_merkle_tree *t, uint64_t tree_size,
                                                uint8_t out[VEIL_MERKLE_HASH_LEN]);
VEIL_MUST_USE veil_result veil_merkle_tree_inclusion_proof(const veil_merkle_tree *t,
                                                           uint64_t index, uint64_t tree_size,
                                                           veil_merkle_proof *out);
VEIL_MUST_USE veil_result veil_merkle_tree_consistency_proof(const veil_merkle_tree *t,
                                                             uint64_t first, uint64_t second,
                                                             veil_merkle_proof *out);
void veil_merkle_tree_free(veil_merkle_tree *t);

/* ---- signed tree heads -------------------------------------------------- */

typedef struct veil_sth {
    uint64_t tree_size;
    uint64_t timestamp_ms;
    uint8_t root_hash[VEIL_MERKLE_HASH_LEN];
    char log_id[VEIL_LEDGER_LOG_ID_LEN + 1];
    uint8_t signature[VEIL_ES384_SIG_LEN];
} veil_sth;

/* Append the exact bytes that are signed (see the top of this file). */
VEIL_MUST_USE veil_result veil_sth_signed_bytes(const veil_sth *sth, veil_buf *out);
/* Set log_id to the key's thumbprint and sign tree_size, timestamp, root. */
VEIL_MUST_USE veil_result veil_sth_sign(veil_sth *sth, const veil_sign_key *key);
/* log_id must be log_key's thumbprint and the signature must verify. */
VEIL_MUST_USE veil_result veil_sth_verify(const veil_sth *sth, const veil_sign_key *log_key);
VEIL_MUST_USE veil_result veil_sth_to_json(const veil_sth *sth, veil_buf *out);
/* Strict parse; does not verify the signature. */
VEIL_MUST_USE veil_result veil_sth_from_json(const uint8_t *json, size_t len, veil_sth *out);

/* ---- entries ------------------------------------------------------------ */

/* Is `entry` a valid leaf at `index`: canonical JSON, an object whose "type" is
 * one of the four kinds and whose "seq" equals index. */
VEIL_MUST_USE veil_result veil_ledger_entry_check(const uint8_t *entry, size_t len, uint64_t index);

/* ---- receipts ----------------------------------------------------------- */

typedef struct veil_receipt {
    veil_buf entry; /* canonical entry bytes */
    uint64_t leaf_index;
    veil_merkle_proof inclusion;
    veil_sth sth;
} veil_receipt;

/* What the client expects the entry to be; at least one must be set, both
 * may be. `entry`: the exact canonical bytes. `fields`: a JSON object each of
 * whose members must appear in the entry with the same (canonical) value,
 * e.g. {"type":"keyconfig","name":"gw","config":"<b64>"}. */
typedef struct veil_receipt_expect {
    const uint8_t *entry;
    size_t entry_len;
    const char *fields;
    size_t fields_len;
} veil_receipt_expect;

/* Strict parse (no verification). `out` is emptied first; free it with
 * veil_receipt_free whatever the result. */
VEIL_MUST_USE veil_result veil_receipt_parse(const uint8_t *json, size_t len, veil_receipt *out);
VEIL_MUST_USE veil_result veil_receipt_write(const veil_receipt *r, veil_buf *out);
void veil_receipt_free(veil_receipt *r);
/* Fails closed: parse, STH log_id and signature against the pinned key,
 * canonical entry with seq == leaf_index, inclusion proof to the signed root,
 * entry matches `expect`. On success `out` (optional) holds the receipt, whose
 * STH the caller feeds to its client state. */
VEIL_MUST_USE veil_result veil_receipt_verify(const uint8_t *json, size_t len,
                                              const veil_sign_key *log_key,
                                              const veil_receipt_expect *expect, veil_receipt *out);

/* ---- the log (server side) ---------------------------------------------- */

typedef struct veil_ledger veil_ledger;

/* Open or create the log at `path`. `key` (borrowed; must outlive the
 * handle) is the log key: a private key to append, a public key to read and
 * verify. A new log records the key's thumbprint as its log_id; an existing
 * one refuses any other key. */
VEIL_MUST_USE veil_result veil_ledger_open(const char *path, const veil_sign_key *key,
                                           veil_ledger **out);
void veil_ledger_close(veil_ledger *l);
VEIL_MUST_USE veil_result veil_ledger_size(veil_ledger *l, uint64_t *out);
/* Append entries (JSON objects, see above) in one transaction, then sign and
 * store the tree head of the new size in the same transaction. On failure
 * nothing is appended. first_index (may be NULL) gets the first new index. */
VEIL_MUST_USE veil_result veil_ledger_append(veil_ledger *l, const char *json, size_t len,
                                             uint64_t *index);
VEIL_MUST_USE veil_result veil_ledger_append_batch(veil_ledger *l, const char *const *jsons,
                                                   const size_t *lens, size_t n,
                                                   uint64_t *first_index);
VEIL_MUST_USE veil_result veil_ledger_append_values(veil_ledger *l,
                                                    const struct json_t *const *entries, size_t n,
                                                    uint64_t *first_index);
/* Canonical bytes of the entry at index (appended to out). */
VEIL_MUST_USE veil_result veil_ledger_entry(veil_ledger *l, uint64_t index, veil_buf *out);
VEIL_MUST_USE veil_result veil_ledger_root(veil_ledger *l, uint64_t tree_size,
                                           uint8_t out[VEIL_MERKLE_HASH_LEN]);
VEIL_MUST_USE veil_result veil_ledger_latest_sth(veil_ledger *l, veil_sth *out);
/* The stored STH of exactly this size (VEIL_E_USAGE when there is none). */
VEIL_MUST_USE veil_result veil_ledger_sth_at(veil_ledger *l, uint64_t tree_size, veil_sth *out);
VEIL_MUST_USE veil_result veil_ledger_inclusion_proof(veil_ledger *l, uint64_t index,
                                                      uint64_t tree_size, veil_merkle_proof *out);
VEIL_MUST_USE veil_result veil_ledger_consistency_proof(veil_ledger *l, uint64_t first,
                                                        uint64_t second, veil_merkle_proof *out);
/* Receipt JSON for the entry at index against the latest STH. */
VEIL_MUST_USE veil_result veil_ledger_receipt(veil_ledger *l, uint64_t index, veil_buf *out);
/* Recompute every leaf and subtree hash from the first entry, check every
 * entry is canonical with the right seq, and check every stored STH (root at
 * its size, log_id, signature). Names the first thing that is wrong. */
VEIL_MUST_USE veil_result veil_ledger_verify_all(veil_ledger *l);

/* ---- client tree-head state --------------------------------------------- */

/* The last STH a client accepted from a log, kept in a small JSON file
 *   {"sth":{STH},"version":"veil-client-state-v1"}
 * A new STH is accepted only if its signature verifies and it extends the
 * saved one: same size and same root, or larger with a valid consistency
 * proof from the saved size. A different root at the same size, or a smaller
 * size, is a fork (or a rollback) and is refused, naming which. */
typedef struct veil_ledger_client_state veil_ledger_client_state;

/* A missing file gives an empty state; a present one must hold an STH that
 * verifies under log_key (borrowed; must outlive the state). */
VEIL_MUST_USE veil_result veil_ledger_client_state_load(const char *path,
                                                        const veil_sign_key *log_key,
                                                        veil_ledger_client_state **out);
/* Atomic replace: temporary file, fsync, rename, fsync of the directory. */
VEIL_MUST_USE veil_result veil_ledger_client_state_save(const veil_ledger_client_state *st,
                                                        const char *path);
/* false while no STH has been accepted. */
bool veil_ledger_client_state_get(const veil_ledger_client_state *st, veil_sth *out);
/* `consistency` proves the saved size extends to sth->tree_size; it may be
 * NULL when none is needed (empty state, or the same size). */
VEIL_MUST_USE veil_result veil_ledger_client_state_update(veil_ledger_client_state *st,
                                                          const veil_sth *sth,
                                                          const veil_merkle_proof *consistency);
void veil_ledger_client_state_free(veil_ledger_client_state *st);

#ifdef __cplusplus
}
#endif
#endif
