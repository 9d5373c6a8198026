/* Per-client token buckets keyed by SipHash-2-4 of the client address
 * under a random key: shared by the relay and the KMS's public endpoints. */
#ifndef VEIL_COMMON_RATELIMIT_H
#define VEIL_COMMON_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/result.h"

/* SipHash-2-4 (Aumasson and Bernstein, 2012) of m[0..n) under a 16-byte key. */
uint64_t veil_siphash24(const uint8_t key[16], const uint8_t *m, size_t n);

#define VEIL_RL_WAYS 8 /* entries per set; a new client evicts its set's stalest */

typedef struct veil_rl_entry {
    uint64_t tag; /* keyed hash of the address, never 0; 0 = free slot */
    double tokens;
    int64_t last_ms;
} veil_rl_entry;

/* Token buckets keyed by a keyed hash of the client address: memory is fixed
 * (n_sets * VEIL_RL_WAYS entries) and holds no address. */
typedef struct veil_ratelimit {
    pthread_mutex_t mu;
    uint8_t key[16];
    double rate;  /* tokens per second; 0 = unlimited */
    double burst; /* bucket capacity */
    size_t n_sets;
    veil_rl_entry *slots;
} veil_ratelimit;

VEIL_MUST_USE veil_result veil_rl_init(veil_ratelimit *rl, unsigned rate, unsigned burst,
                                       size_t n_sets);
void veil_rl_free(veil_ratelimit *rl);
/* Take one token for `client` (an address as text; IPv6 addresses share the
 * bucket of their /64) at time now_ms. False when the bucket is empty;
 * *retry_after_s then says when the next token arrives (at least 1). */
bool veil_rl_take(veil_ratelimit *rl, const char *client, int64_t now_ms, unsigned *retry_after_s);
/* Give back one token taken by veil_rl_take (capped at the burst), e.g. when
 * what it paid for turned out to be a success that should not count. */
void veil_rl_refund(veil_ratelimit *rl, const char *client);

#endif
