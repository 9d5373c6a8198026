/* Per-client token buckets (the relay's and the KMS's), keyed by SipHash-2-4 of the
 * address under a random key: a set-associative table of fixed size, so a
 * flood of addresses costs no memory and cannot aim at one bucket. */
#include <arpa/inet.h>
#include <string.h>

#include "common/ratelimit.h"
#include "veil/mem.h"
#include "veil/rand.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t veil_siphash24(const uint8_t key[16], const uint8_t *m, size_t n)
{
    uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
    size_t full = n - n % 8;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t w = load_le64(m + i);
        v3 ^= w;
        SIPROUND;
        SIPROUND;
        v0 ^= w;
    }
    /* Last block: the remaining bytes, then the length's low byte on top. */
    uint64_t b = (uint64_t)n << 56;
    for (size_t i = 0; i < n % 8; i++)
        b |= (uint64_t)m[full + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

veil_result veil_rl_init(veil_ratelimit *rl, unsigned rate, unsigned burst, size_t n_sets)
{
    memset(rl, 0, sizeof *rl);
    VEIL_ENSURE(n_sets > 0, VEIL_E_USAGE, "rate limiter needs at least one set");
    rl->rate = rate;
    rl->burst = burst ? burst : (rate ? rate : 1);
    rl->n_sets = n_sets;
    VEIL_GUARD(veil_random_bytes(rl->key, sizeof rl->key));
    rl->slots = veil_calloc(n_sets * VEIL_RL_WAYS, sizeof *rl->slots);
    VEIL_ENSURE(rl->slots, VEIL_E_NOMEM, "out of memory");
    if (pthread_mutex_init(&rl->mu, NULL) != 0) {
        veil_free(rl->slots);
        rl->slots = NULL;
        return VEIL_ERR(VEIL_E_INTERNAL, "pthread_mutex_init failed");
    }
    return VEIL_OK;
}

void veil_rl_free(veil_ratelimit *rl)
{
    if (!rl || !rl->slots)
        return;
    pthread_mutex_destroy(&rl->mu);
    veil_free_wiped(rl->slots, rl->n_sets * VEIL_RL_WAYS * sizeof *rl->slots);
    veil_wipe(rl->key, sizeof rl->key);
    rl->slots = NULL;
}

/* The bucket's key: an IPv6 address's /64 prefix (one subscriber usually
 * holds a whole /64 and could otherwise rotate through it), else the text. */
static uint64_t client_hash(const veil_ratelimit *rl, const char *client)
{
    uint8_t v6[16];
    if (strchr(client, ':') && inet_pton(AF_INET6, client, v6) == 1)
        return veil_siphash24(rl->key, v6, 8);
    return veil_siphash24(rl->key, (const uint8_t *)client, strlen(client));
}

bool veil_rl_take(veil_ratelimit *rl, const char *client, int64_t now_ms, unsigned *retry_after_s)
{
    *retry_after_s = 0;
    if (rl->rate <= 0)
        return true;
    uint64_t h = client_hash(rl, client);
    uint64_t tag = h | 1; /* never 0, which marks a free slot */
    bool ok = true;
    pthread_mutex_lock(&rl->mu);
    veil_rl_entry *set = &rl->slots[(h >> 1) % rl->n_sets * VEIL_RL_WAYS], *e = NULL;
    for (size_t i = 0; i < VEIL_RL_WAYS && !e; i++)
        if (set[i].tag == tag)
            e = &set[i];
    if (!e) { /* a new client: a free slot, else the set's least recently seen */
        e = &set[0];
        for (size_t i = 1; i < VEIL_RL_WAYS && e->tag; i++)
            if (!set[i].tag || set[i].last_ms < e->last_ms)
                e = &set[i];
        *e = (veil_rl_entry){.tag = tag, .tokens = rl->burst, .last_ms = now_ms};
    }
    if (now_ms > e->last_ms) {
        e->tokens += (double)(now_ms - e->last_ms) * rl->rate / 1000.0;
        if (e->tokens > rl->burst)
            e->tokens = rl->burst;
        e->last_ms = now_ms;
    }
    if (e->tokens >= 1.0) {
        e->tokens -= 1.0;
    } else {
        ok = false;
        double wait = (1.0 - e->tokens) / rl->rate; /* seconds, rounded up below */
        unsigned s = wait > 86400.0 ? 86400u : (unsigned)wait;
        *retry_after_s = (double)s < wait ? s + 1 : (s ? s : 1);
    }
    pthread_mutex_unlock(&rl->mu);
    return ok;
}

void veil_rl_refund(veil_ratelimit *rl, const char *client)
{
    if (rl->rate <= 0)
        return;
    uint64_t h = client_hash(rl, client), tag = h | 1;
    pthread_mutex_lock(&rl->mu);
    veil_rl_entry *set = &rl->slots[(h >> 1) % rl->n_sets * VEIL_RL_WAYS];
    for (size_t i = 0; i < VEIL_RL_WAYS; i++)
        if (set[i].tag == tag)
            set[i].tokens = set[i].tokens + 1.0 > rl->burst ? rl->burst : set[i].tokens + 1.0;
    pthread_mutex_unlock(&rl->mu);
}
