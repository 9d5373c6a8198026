/* Shared by the gateway's server (server.c) and its metrics (metrics.c).
 * Counters are atomics, written from connection and worker threads and read
 * by GET /metrics at any time. They count events and time them; nothing in
 * them depends on what a request or response contains. */
#ifndef VEIL_GATEWAY_INTERNAL_H
#define VEIL_GATEWAY_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/result.h"

/* Which endpoint a request went to (label "endpoint"). */
typedef enum gw_endpoint {
    GW_EP_GATEWAY = 0, /* POST /gateway */
    GW_EP_KEYS,        /* GET /ohttp-keys */
    GW_EP_ATTESTATION, /* GET /v1/attestation */
    GW_EP_HEALTH,      /* GET /healthz */
    GW_EP_METRICS,     /* GET /metrics */
    GW_EP_OTHER,       /* anything else (404 / 405) */
    GW_EP_COUNT
} gw_endpoint;

/* Error classes (label "class"). Only the first four are answered in the
 * clear for POST /gateway; the rest are encrypted or are about other routes. */
typedef enum gw_error {
    GW_ERR_KEY_ID = 0,    /* 422: unknown key id or unsupported suite */
    GW_ERR_DECAPSULATION, /* 400: malformed, truncated or failed to decrypt */
    GW_ERR_MEDIA_TYPE,    /* 415 */
    GW_ERR_BUSY,          /* 503: over max_concurrent */
    GW_ERR_NOT_FOUND,     /* 404 */
    GW_ERR_METHOD,        /* 405 */
    GW_ERR_BAD_NONCE,     /* 400 on /v1/attestation */
    GW_ERR_ATTESTATION,   /* 503 / 500: the attester failed or there is none */
    GW_ERR_INNER_REQUEST, /* encrypted 400: the decrypted Binary HTTP was malformed */
    GW_ERR_APP_ABORTED,   /* an encrypted stream abandoned mid-way */
    GW_ERR_INTERNAL,      /* 500: the gateway itself failed */
    GW_ERR_COUNT
} gw_error;

const char *gw_endpoint_name(gw_endpoint e);
const char *gw_error_name(gw_error e);

/* Latency histogram of POST /gateway, from the request head to the end of
 * the response (seconds); upper bounds of the buckets, +Inf implied. */
#define GW_LAT_BUCKETS 14

typedef struct gw_metrics {
    atomic_uint_fast64_t requests[GW_EP_COUNT];
    atomic_uint_fast64_t errors[GW_ERR_COUNT];
    atomic_uint_fast64_t ohttp_single, ohttp_chunked; /* POST /gateway by media type */
    atomic_uint_fast64_t answered;                    /* encrypted responses completed */
    atomic_uint_fast64_t attestations;                /* fresh evidence bundles served */
    atomic_uint_fast64_t lat_bucket[GW_LAT_BUCKETS + 1];
    atomic_uint_fast64_t lat_count, lat_sum_us;
    atomic_uint in_flight;
} gw_metrics;

void gw_metrics_init(gw_metrics *m);
void gw_metrics_request(gw_metrics *m, gw_endpoint e);
void gw_metrics_error(gw_metrics *m, gw_error e);
void gw_metrics_observe(gw_metrics *m, uint64_t micros);
/* Prometheus text exposition format 0.0.4, appended to out. */
VEIL_MUST_USE veil_result gw_metrics_render(gw_metrics *m, unsigned max_concurrent, veil_buf *out);

#endif
