/* The in-memory Merkle tree: level L holds the root of every complete
 * subtree of 2^L leaves, in order, so it is its own node source (about 2n
 * hashes for n leaves). */
#include <string.h>

#include "ledger/ledger_internal.h"
#include "veil/mem.h"

typedef struct level {
    uint8_t (*hash)[HASH_LEN];
    uint64_t count, cap;
} level;

struct veil_merkle_tree {
    veil_merkle_frontier frontier;
    level levels[64];
};

veil_result veil_merkle_tree_new(veil_merkle_tree **out)
{
    *out = veil_calloc(1, sizeof **out);
    VEIL_ENSURE(*out != NULL, VEIL_E_NOMEM, "ledger: out of memory for a Merkle tree");
    return VEIL_OK;
}

void veil_merkle_tree_free(veil_merkle_tree *t)
{
    if (!t)
        return;
    for (unsigned i = 0; i < 64; i++)
        veil_free(t->levels[i].hash);
    veil_free(t);
}

uint64_t veil_merkle_tree_size(const veil_merkle_tree *t) { return t->frontier.size; }

static veil_result store_node(void *ctx, unsigned lv, uint64_t index, const uint8_t h[HASH_LEN])
{
    veil_merkle_tree *t = ctx;
    level *l = &t->levels[lv];
    VEIL_ENSURE(index == l->count, VEIL_E_INTERNAL, "ledger: tree level out of order (bug)");
    if (l->count == l->cap) {
        uint64_t cap = l->cap ? l->cap * 2 : 16;
        uint8_t(*grown)[HASH_LEN] = veil_calloc(cap, HASH_LEN);
        VEIL_ENSURE(grown != NULL, VEIL_E_NOMEM, "ledger: out of memory growing a Merkle tree");
        if (l->count)
            memcpy(grown, l->hash, l->count * HASH_LEN);
        veil_free(l->hash);
        l->hash = grown;
        l->cap = cap;
    }
    memcpy(l->hash[l->count++], h, HASH_LEN);
    return VEIL_OK;
}

static veil_result read_node(void *ctx, unsigned lv, uint64_t index, uint8_t out[HASH_LEN])
{
    const veil_merkle_tree *t = ctx;
    VEIL_ENSURE(lv < 64 && index < t->levels[lv].count, VEIL_E_INTERNAL,
                "ledger: Merkle tree node missing (bug)");
    memcpy(out, t->levels[lv].hash[index], HASH_LEN);
    return VEIL_OK;
}

veil_result veil_merkle_tree_append_hash(veil_merkle_tree *t, const uint8_t leaf_hash[HASH_LEN])
{
    /* On failure a level may hold one node more than the frontier says;
     * keep the two in step by trimming back to the frontier's size. */
    veil_merkle_frontier f = t->frontier;
    veil_result r = veil_merkle_frontier_push(&f, leaf_hash, store_node, t);
    if (veil_ok(r)) {
        t->frontier = f;
        return r;
    }
    for (unsigned i = 0; i < 64; i++)
        t->levels[i].count = t->frontier.size >> i;
    return r;
}

veil_result veil_merkle_tree_append(veil_merkle_tree *t, const uint8_t *entry, size_t len)
{
    uint8_t h[HASH_LEN];
    VEIL_GUARD(veil_merkle_leaf_hash(entry, len, h));
    return veil_merkle_tree_append_hash(t, h);
}

static veil_merkle_src source(const veil_merkle_tree *t)
{
    return (veil_merkle_src){read_node, (void *)t};
}

veil_result veil_merkle_tree_root(const veil_merkle_tree *t, uint64_t tree_size,
                                  uint8_t out[HASH_LEN])
{
    VEIL_ENSURE(tree_size <= t->frontier.size, VEIL_E_USAGE,
                "ledger: tree size is larger than the tree");
    if (tree_size == t->frontier.size)
        return veil_merkle_frontier_root(&t->frontier, out);
    veil_merkle_src s = source(t);
    return veil_merkle_src_root(&s, tree_size, out);
}

veil_result veil_merkle_tree_inclusion_proof(const veil_merkle_tree *t, uint64_t index,
                                             uint64_t tree_size, veil_merkle_proof *out)
{
    out->len = 0;
    VEIL_ENSURE(tree_size <= t->frontier.size, VEIL_E_USAGE,
                "ledger: tree size is larger than the tree");
    veil_merkle_src s = source(t);
    return veil_merkle_src_inclusion(&s, index, tree_size, out);
}

veil_result veil_merkle_tree_consistency_proof(const veil_merkle_tree *t, uint64_t first,
                                               uint64_t second, veil_merkle_proof *out)
{
    out->len = 0;
    VEIL_ENSURE(second <= t->frontier.size, VEIL_E_USAGE,
                "ledger: tree size is larger than the tree");
    veil_merkle_src s = source(t);
    return veil_merkle_src_consistency(&s, first, second, out);
}
