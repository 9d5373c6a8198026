/* Cache of verified SEV-SNP certificate chains: once a VCEK/VLEK has been
 * chained to a root, a later report signed by the same certificate needs
 * only the ECDSA check. An entry holds what the leaf certifies and its
 * public key, and is valid only inside the window in which every
 * certificate (and CRL) of the chain was valid; outside it the chain is
 * verified again. Keys are SHA-256 over every input that decided the
 * chain (see snp_verify.c). Fixed size, least recently used entry evicted;
 * one mutex; nothing secret is held. */
#include <pthread.h>
#include <string.h>

#include "attest/snp_internal.h"
#include "veil/mem.h"

typedef struct slot {
    bool used;
    uint8_t key[SNP_CACHE_KEY_LEN];
    int64_t not_before, not_after;
    uint64_t last_use;
    snp_leaf_info info;
    veil_pubkey *pub;
} slot;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static slot slots[SNP_CACHE_SLOTS];
static uint64_t clock_tick;

static slot *find(const uint8_t key[SNP_CACHE_KEY_LEN])
{
    for (size_t i = 0; i < SNP_CACHE_SLOTS; i++)
        if (slots[i].used &&
            veil_public_equal(slots[i].key, SNP_CACHE_KEY_LEN, key, SNP_CACHE_KEY_LEN))
            return &slots[i];
    return NULL;
}

bool snp_cache_get(const uint8_t key[SNP_CACHE_KEY_LEN], int64_t at, snp_leaf_info *info,
                   veil_pubkey **key_out)
{
    bool hit = false;
    *key_out = NULL;
    pthread_mutex_lock(&lock);
    slot *s = find(key);
    if (s && at >= s->not_before && at <= s->not_after) {
        s->last_use = ++clock_tick;
        *info = s->info;
        *key_out = veil_pubkey_ref(s->pub);
        hit = true;
    }
    pthread_mutex_unlock(&lock);
    return hit;
}

void snp_cache_put(const uint8_t key[SNP_CACHE_KEY_LEN], int64_t not_before, int64_t not_after,
                   const snp_leaf_info *info, veil_pubkey *pub)
{
    veil_pubkey *old = NULL;
    pthread_mutex_lock(&lock);
    slot *s = find(key);
    for (size_t i = 0; !s && i < SNP_CACHE_SLOTS; i++)
        if (!slots[i].used)
            s = &slots[i];
    if (!s) { /* full: evict the least recently used slot */
        s = &slots[0];
        for (size_t i = 1; i < SNP_CACHE_SLOTS; i++)
            if (slots[i].last_use < s->last_use)
                s = &slots[i];
    }
    old = s->pub;
    s->used = true;
    memcpy(s->key, key, SNP_CACHE_KEY_LEN);
    s->not_before = not_before;
    s->not_after = not_after;
    s->info = *info;
    s->pub = veil_pubkey_ref(pub);
    s->last_use = ++clock_tick;
    pthread_mutex_unlock(&lock);
    veil_pubkey_free(old);
}

void veil_snp_cache_clear(void)
{
    veil_pubkey *old[SNP_CACHE_SLOTS];
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < SNP_CACHE_SLOTS; i++) {
        old[i] = slots[i].pub;
        memset(&slots[i], 0, sizeof slots[i]);
    }
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < SNP_CACHE_SLOTS; i++)
        veil_pubkey_free(old[i]);
}
