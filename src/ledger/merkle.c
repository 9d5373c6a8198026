/* RFC 9162 §2.1: Merkle tree hashes, inclusion and consistency proofs, and
 * their verification. Generation runs over a source of complete-subtree
 * hashes (ledger_internal.h), so the same code serves the SQLite store and
 * the in-memory tree at O(log n) node reads per root or proof. */
#include <string.h>

#include "crypto/digest.h"
#include "ledger/ledger_internal.h"
#include "veil/mem.h"

/* Largest power of two strictly below n (n >= 2): the RFC's split point k. */
static uint64_t split_point(uint64_t n) { return (uint64_t)1 << (63 - __builtin_clzll(n - 1)); }

static bool is_pow2(uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

static unsigned log2_exact(uint64_t n) { return (unsigned)__builtin_ctzll(n); }

veil_result veil_merkle_leaf_hash(const uint8_t *entry, size_t len, uint8_t out[HASH_LEN])
{
    /* RFC 9162 §2.1.1: MTH({d(0)}) = HASH(0x00 || d(0)) */
    uint8_t small[512];
    uint8_t *buf = small;
    veil_result res = VEIL_OK;

    VEIL_ENSURE_GOTO(res, entry != NULL || len == 0, VEIL_E_USAGE, "ledger: leaf entry is NULL");
    VEIL_ENSURE_GOTO(res, len < VEIL_LEDGER_MAX_ENTRY + 1, VEIL_E_USAGE,
                     "ledger: entry is larger than 1 MiB");
    if (len + 1 > sizeof small) {
        buf = veil_calloc(len + 1, 1);
        VEIL_ENSURE_GOTO(res, buf != NULL, VEIL_E_NOMEM, "ledger: out of memory hashing a leaf");
    }
    buf[0] = 0x00;
    if (len)
        memcpy(buf + 1, entry, len);
    res = veil_sha256(buf, len + 1, out);
out:
    if (buf != small)
        veil_free(buf);
    return res;
}

veil_result veil_merkle_node_hash(const uint8_t left[HASH_LEN], const uint8_t right[HASH_LEN],
                                  uint8_t out[HASH_LEN])
{
    /* RFC 9162 §2.1.1: MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])) */
    uint8_t buf[1 + 2 * HASH_LEN];
    buf[0] = 0x01;
    memcpy(buf + 1, left, HASH_LEN);
    memcpy(buf + 1 + HASH_LEN, right, HASH_LEN);
    return veil_sha256(buf, sizeof buf, out);
}

/* MTH(D[start:start+n]) for a subtree the RFC recursion reaches: start is a
 * multiple of the smallest power of two >= n, so the left part of every
 * split is a complete subtree the source holds. */
static veil_result subtree_root(const veil_merkle_src *s, uint64_t start, uint64_t n,
                                uint8_t out[HASH_LEN])
{
    if (n == 0)
        return veil_sha256(NULL, 0, out); /* MTH({}) = HASH() */
    if (is_pow2(n)) {
        unsigned level = log2_exact(n);
        VEIL_ENSURE((start & (n - 1)) == 0, VEIL_E_INTERNAL,
                    "ledger: subtree request is not aligned (bug)");
        return s->node(s->ctx, level, start >> level, out);
    }
    uint64_t k = split_point(n);
    uint8_t left[HASH_LEN], right[HASH_LEN];
    VEIL_GUARD(subtree_root(s, start, k, left));
    VEIL_GUARD(subtree_root(s, start + k, n - k, right));
    return veil_merkle_node_hash(left, right, out);
}

veil_result veil_merkle_src_root(const veil_merkle_src *s, uint64_t n, uint8_t out[HASH_LEN])
{
    return subtree_root(s, 0, n, out);
}

static veil_result proof_push(veil_merkle_proof *p)
{
    VEIL_ENSURE(p->len < VEIL_MERKLE_MAX_PROOF, VEIL_E_INTERNAL,
                "ledger: proof longer than 64 hashes (bug)");
    p->len++;
    return VEIL_OK;
}

/* RFC 9162 §2.1.3.1: PATH(m, D[start:start+n]), siblings deepest first. */
static veil_result path(const veil_merkle_src *s, uint64_t m, uint64_t start, uint64_t n,
                        veil_merkle_proof *p)
{
    if (n == 1)
        return VEIL_OK; /* PATH(0, {d(0)}) = {} */
    uint64_t k = split_point(n);
    if (m < k) {
        /* PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) */
        VEIL_GUARD(path(s, m, start, k, p));
        VEIL_GUARD(proof_push(p));
        return subtree_root(s, start + k, n - k, p->hash[p->len - 1]);
    }
    /* PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k]) */
    VEIL_GUARD(path(s, m - k, start + k, n - k, p));
    VEIL_GUARD(proof_push(p));
    return subtree_root(s, start, k, p->hash[p->len - 1]);
}

veil_result veil_merkle_src_inclusion(const veil_merkle_src *s, uint64_t m, uint64_t n,
                                      veil_merkle_proof *out)
{
    out->len = 0;
    VEIL_ENSURE(m < n, VEIL_E_USAGE, "ledger: leaf index is not below the tree size");
    veil_result r = path(s, m, 0, n, out);
    if (!veil_ok(r))
        out->len = 0;
    return r;
}

/* RFC 9162 §2.1.4.1: SUBPROOF(m, D[start:start+n], b). */
static veil_result subproof(const veil_merkle_src *s, uint64_t m, uint64_t start, uint64_t n,
                            bool b, veil_merkle_proof *p)
{
    if (m == n) {
        /* SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])} */
        if (b)
            return VEIL_OK;
        VEIL_GUARD(proof_push(p));
        return subtree_root(s, start, n, p->hash[p->len - 1]);
    }
    uint64_t k = split_point(n);
    if (m <= k) {
        /* SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) */
        VEIL_GUARD(subproof(s, m, start, k, b, p));
        VEIL_GUARD(proof_push(p));
        return subtree_root(s, start + k, n - k, p->hash[p->len - 1]);
    }
    /* SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]) */
    VEIL_GUARD(subproof(s, m - k, start + k, n - k, false, p));
    VEIL_GUARD(proof_push(p));
    return subtree_root(s, start, k, p->hash[p->len - 1]);
}

veil_result veil_merkle_src_consistency(const veil_merkle_src *s, uint64_t m, uint64_t n,
                                        veil_merkle_proof *out)
{
    out->len = 0;
    VEIL_ENSURE(m <= n, VEIL_E_USAGE, "ledger: consistency proof asked from a larger tree");
    if (m == 0 || m == n)
        return VEIL_OK; /* nothing to prove: see veil_merkle_verify_consistency */
    /* PROOF(m, D[n]) = SUBPROOF(m, D[n], true) */
    veil_result r = subproof(s, m, 0, n, true, out);
    if (!veil_ok(r))
        out->len = 0;
    return r;
}

veil_result veil_merkle_verify_inclusion(uint64_t index, uint64_t tree_size,
                                         const uint8_t leaf_hash[HASH_LEN],
                                         const veil_merkle_proof *proof,
                                         const uint8_t root[HASH_LEN])
{
    VEIL_ENSURE(leaf_hash && proof && root, VEIL_E_USAGE, "ledger: inclusion check lacks inputs");
    VEIL_ENSURE(proof->len <= VEIL_MERKLE_MAX_PROOF, VEIL_E_USAGE,
                "ledger: inclusion proof longer than 64 hashes");
    /* RFC 9162 §2.1.3.2 step 1 */
    VEIL_ENSURE(index < tree_size, VEIL_E_CRYPTO,
                "ledger: inclusion proof leaf index is not below the tree size");
    /* steps 2-3 */
    uint64_t fn = index, sn = tree_size - 1;
    uint8_t r[HASH_LEN];
    memcpy(r, leaf_hash, HASH_LEN);
    /* step 4 */
    for (size_t i = 0; i < proof->len; i++) {
        const uint8_t *p = proof->hash[i];
        VEIL_ENSURE(sn != 0, VEIL_E_CRYPTO,
                    "ledger: inclusion proof has more steps than the tree has levels");
        if ((fn & 1) || fn == sn) {
            VEIL_GUARD(veil_merkle_node_hash(p, r, r));
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            VEIL_GUARD(veil_merkle_node_hash(r, p, r));
        }
        fn >>= 1;
        sn >>= 1;
    }
    /* step 5 */
    VEIL_ENSURE(sn == 0, VEIL_E_CRYPTO,
                "ledger: inclusion proof has fewer steps than the tree has levels");
    VEIL_ENSURE(veil_ct_equal(r, root, HASH_LEN), VEIL_E_CRYPTO,
                "ledger: inclusion proof does not lead to the signed root");
    return VEIL_OK;
}

veil_result veil_merkle_verify_consistency(uint64_t first, uint64_t second,
                                           const uint8_t first_root[HASH_LEN],
                                           const uint8_t second_root[HASH_LEN],
                                           const veil_merkle_proof *proof)
{
    VEIL_ENSURE(first_root && second_root && proof, VEIL_E_USAGE,
                "ledger: consistency check lacks inputs");
    VEIL_ENSURE(proof->len <= VEIL_MERKLE_MAX_PROOF, VEIL_E_USAGE,
                "ledger: consistency proof longer than 64 hashes");
    VEIL_ENSURE(first <= second, VEIL_E_CRYPTO,
                "ledger: consistency proof goes from a larger tree to a smaller one");
    if (first == second) {
        VEIL_ENSURE(proof->len == 0, VEIL_E_CRYPTO,
                    "ledger: consistency proof between equal sizes must be empty");
        VEIL_ENSURE(veil_ct_equal(first_root, second_root, HASH_LEN), VEIL_E_CRYPTO,
                    "ledger: two different roots for the same tree size");
        return VEIL_OK;
    }
    if (first == 0) {
        VEIL_ENSURE(proof->len == 0, VEIL_E_CRYPTO,
                    "ledger: consistency proof from the empty tree must be empty");
        return VEIL_OK;
    }
    /* RFC 9162 §2.1.4.2 step 1 */
    VEIL_ENSURE(proof->len != 0, VEIL_E_CRYPTO, "ledger: consistency proof is empty");
    /* step 2: a power-of-two first tree is a complete subtree of the second,
     * and its root is the proof's implicit first element. */
    size_t pre = is_pow2(first) ? 1 : 0, count = proof->len + pre;
#define ELEM(i) ((i) < pre ? first_root : proof->hash[(i)-pre])
    /* steps 3-4 */
    uint64_t fn = first - 1, sn = second - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    /* step 5 */
    uint8_t fr[HASH_LEN], sr[HASH_LEN];
    memcpy(fr, ELEM(0), HASH_LEN);
    memcpy(sr, ELEM(0), HASH_LEN);
    /* step 6 */
    for (size_t i = 1; i < count; i++) {
        const uint8_t *c = ELEM(i);
        VEIL_ENSURE(sn != 0, VEIL_E_CRYPTO,
                    "ledger: consistency proof has more steps than the tree has levels");
        if ((fn & 1) || fn == sn) {
            VEIL_GUARD(veil_merkle_node_hash(c, fr, fr));
            VEIL_GUARD(veil_merkle_node_hash(c, sr, sr));
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            VEIL_GUARD(veil_merkle_node_hash(sr, c, sr));
        }
        fn >>= 1;
        sn >>= 1;
    }
#undef ELEM
    /* step 7 */
    VEIL_ENSURE(sn == 0, VEIL_E_CRYPTO,
                "ledger: consistency proof has fewer steps than the tree has levels");
    VEIL_ENSURE(veil_ct_equal(fr, first_root, HASH_LEN), VEIL_E_CRYPTO,
                "ledger: consistency proof does not lead to the old root");
    VEIL_ENSURE(veil_ct_equal(sr, second_root, HASH_LEN), VEIL_E_CRYPTO,
                "ledger: consistency proof does not lead to the new root");
    return VEIL_OK;
}

veil_result veil_merkle_frontier_push(veil_merkle_frontier *f, const uint8_t leaf[HASH_LEN],
                                      veil_merkle_emit_fn emit, void *ctx)
{
    VEIL_ENSURE(f->size < VEIL_LEDGER_MAX_SIZE, VEIL_E_NOMEM, "ledger: the log is full (2^53)");
    uint8_t h[HASH_LEN];
    uint64_t index = f->size;
    unsigned level = 0;
    memcpy(h, leaf, HASH_LEN);
    if (emit)
        VEIL_GUARD(emit(ctx, 0, index, h));
    /* While the new node is a right child, its left sibling is the frontier's
     * complete subtree at this level: combine them one level up. */
    while (index & 1) {
        VEIL_GUARD(veil_merkle_node_hash(f->hash[level], h, h));
        index >>= 1;
        level++;
        if (emit)
            VEIL_GUARD(emit(ctx, level, index, h));
    }
    memcpy(f->hash[level], h, HASH_LEN);
    f->size++;
    return VEIL_OK;
}

veil_result veil_merkle_frontier_root(const veil_merkle_frontier *f, uint8_t out[HASH_LEN])
{
    if (f->size == 0)
        return veil_sha256(NULL, 0, out);
    /* MTH folds the complete subtrees from the smallest (rightmost) up:
     * n = 2^a + 2^b + 2^c (a > b > c) gives H(T_a, H(T_b, T_c)). */
    unsigned low = (unsigned)__builtin_ctzll(f->size);
    uint8_t r[HASH_LEN];
    memcpy(r, f->hash[low], HASH_LEN);
    for (unsigned level = low + 1; level < 64; level++)
        if (f->size & ((uint64_t)1 << level))
            VEIL_GUARD(veil_merkle_node_hash(f->hash[level], r, r));
    memcpy(out, r, HASH_LEN);
    return VEIL_OK;
}

veil_result veil_merkle_frontier_load(veil_merkle_frontier *f, const veil_merkle_src *s,
                                      uint64_t size)
{
    memset(f, 0, sizeof *f);
    for (unsigned level = 0; level < 64; level++)
        if (size & ((uint64_t)1 << level))
            VEIL_GUARD(s->node(s->ctx, level, (size >> level) - 1, f->hash[level]));
    f->size = size;
    return VEIL_OK;
}
