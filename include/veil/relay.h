/* veil — the Oblivious HTTP relay (RFC 9458 §6.1, DESIGN.md flow 3).
 *
 * The relay sees client addresses but only ciphertext; the gateway sees
 * plaintext but never a client address. So the relay:
 *
 *   - accepts only POST with Content-Type message/ohttp-req or
 *     message/ohttp-chunked-req (405 with Allow: POST / 415 otherwise);
 *   - forwards to allow-listed gateways only, chosen by path:
 *       POST /             -> the first gateway (the default)
 *       POST /relay/<i>    -> gateway i (0-based, in configuration order)
 *     anything else is 404; the gateway URL is used exactly as configured;
 *   - sends the gateway a fresh request carrying only Content-Type (the
 *     canonical media type), Content-Length when the client sent one (else
 *     chunked framing), Incremental: ?1 for a chunked request whose client
 *     sent it, and Host: nothing from the client's request line, headers or
 *     address (no Forwarded, X-Forwarded-For or Via);
 *   - streams both bodies without holding either whole (64 KiB buffers with
 *     back-pressure), so a chunked OHTTP response reaches the client chunk by
 *     chunk;
 *   - relays the gateway's status and Content-Type only when the type is
 *     message/ohttp-res, message/ohttp-chunked-res or application/problem+json
 *     (502 otherwise); no other gateway header reaches the client;
 *   - answers 413 for a body over max_body, 429 (with Retry-After) past the
 *     per-address token bucket, 502 when the gateway is unreachable or
 *     misbehaves, 504 when it does not answer in time; every error is
 *     application/problem+json;
 *   - logs nothing; counters are its only output.
 *
 * The rate limiter keys its buckets by a keyed hash of the address (a key
 * drawn at start), so the relay's memory holds no address past a request; an
 * IPv6 client is counted by its /64, the block one subscriber usually holds. */
#ifndef VEIL_RELAY_H
#define VEIL_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_RELAY_MAX_GATEWAYS 64

typedef struct veil_relay veil_relay;

typedef struct veil_relay_config {
    const char *address;         /* listen address; NULL = "127.0.0.1" */
    uint16_t port;               /* 0 = the OS picks; see veil_relay_port */
    const char *const *gateways; /* allow-listed gateway URLs, http:// or https:// */
    size_t n_gateways;           /* 1..VEIL_RELAY_MAX_GATEWAYS */
    size_t max_body;             /* request body limit; 0 = 16 MiB */
    unsigned rate;               /* requests per second per client address; 0 = no limit */
    unsigned burst;              /* bucket size; 0 = rate (at least 1) */
    unsigned timeout_ms;         /* gateway: to connect, to start answering once the
                                    request is sent, and longest pause in either body;
                                    0 = 30 000 */
    unsigned max_connections;    /* client connections; 0 = 256 */
    unsigned max_per_client;     /* connections from one address; 0 = no limit */
    unsigned stop_grace_ms;      /* in-flight requests at stop; 0 = 5000 */
    const char *ca_file;         /* trust anchors for https gateways; NULL = system */
} veil_relay_config;

/* Counters since start; safe to read from any thread at any time. */
typedef struct veil_relay_counters {
    uint64_t requests;        /* requests that reached the relay's checks (a declared
                                 body over max_body is refused before them) */
    uint64_t forwarded;       /* passed the checks and sent to a gateway */
    uint64_t relayed;         /* gateway responses passed back (any status) */
    uint64_t not_found;       /* 404 */
    uint64_t bad_method;      /* 405 */
    uint64_t bad_media_type;  /* 415 */
    uint64_t rate_limited;    /* 429 */
    uint64_t bad_gateway;     /* 502 */
    uint64_t gateway_timeout; /* 504 */
    uint64_t bytes_up;        /* request body bytes forwarded */
    uint64_t bytes_down;      /* response body bytes received from gateways */
} veil_relay_counters;

VEIL_MUST_USE veil_result veil_relay_start(const veil_relay_config *cfg, veil_relay **out);
uint16_t veil_relay_port(const veil_relay *r);
void veil_relay_counters_get(const veil_relay *r, veil_relay_counters *out);
/* Graceful: in-flight exchanges get stop_grace_ms, then are cut. NULL is a no-op. */
void veil_relay_stop(veil_relay *r);

#ifdef __cplusplus
}
#endif
#endif
