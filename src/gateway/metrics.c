/* The gateway's counters and their Prometheus text exposition (format
 * 0.0.4). Names are veil_gateway_*; no label ever carries request data. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gateway/gateway_internal.h"

/* Upper bounds in microseconds, matching the "le" labels below. */
static const uint64_t k_bounds_us[GW_LAT_BUCKETS] = {
    5000,    10000,   25000,   50000,    100000,   250000,   500000,
    1000000, 2500000, 5000000, 10000000, 30000000, 60000000, 120000000};
static const char *const k_bounds_txt[GW_LAT_BUCKETS] = {"0.005", "0.01", "0.025", "0.05", "0.1",
                                                         "0.25",  "0.5",  "1",     "2.5",  "5",
                                                         "10",    "30",   "60",    "120"};

const char *gw_endpoint_name(gw_endpoint e)
{
    static const char *const names[GW_EP_COUNT] = {"gateway", "ohttp_keys", "attestation",
                                                   "healthz", "metrics",    "other"};
    return (unsigned)e < GW_EP_COUNT ? names[e] : "other";
}

const char *gw_error_name(gw_error e)
{
    static const char *const names[GW_ERR_COUNT] = {
        "key_id",    "decapsulation", "media_type",    "busy",        "not_found", "method",
        "bad_nonce", "attestation",   "inner_request", "app_aborted", "internal"};
    return (unsigned)e < GW_ERR_COUNT ? names[e] : "internal";
}

void gw_metrics_init(gw_metrics *m)
{
    for (size_t i = 0; i < GW_EP_COUNT; i++)
        atomic_init(&m->requests[i], 0);
    for (size_t i = 0; i < GW_ERR_COUNT; i++)
        atomic_init(&m->errors[i], 0);
    for (size_t i = 0; i <= GW_LAT_BUCKETS; i++)
        atomic_init(&m->lat_bucket[i], 0);
    atomic_init(&m->ohttp_single, 0);
    atomic_init(&m->ohttp_chunked, 0);
    atomic_init(&m->answered, 0);
    atomic_init(&m->attestations, 0);
    atomic_init(&m->lat_count, 0);
    atomic_init(&m->lat_sum_us, 0);
    atomic_init(&m->in_flight, 0);
}

void gw_metrics_request(gw_metrics *m, gw_endpoint e)
{
    atomic_fetch_add(&m->requests[(unsigned)e < GW_EP_COUNT ? e : GW_EP_OTHER], 1);
}

void gw_metrics_error(gw_metrics *m, gw_error e)
{
    atomic_fetch_add(&m->errors[(unsigned)e < GW_ERR_COUNT ? e : GW_ERR_INTERNAL], 1);
}

void gw_metrics_observe(gw_metrics *m, uint64_t micros)
{
    size_t i = 0;
    while (i < GW_LAT_BUCKETS && micros > k_bounds_us[i])
        i++;
    atomic_fetch_add(&m->lat_bucket[i], 1); /* i == GW_LAT_BUCKETS: only +Inf */
    atomic_fetch_add(&m->lat_count, 1);
    atomic_fetch_add(&m->lat_sum_us, micros);
}

/* printf into out (lines are short and static). */
__attribute__((format(printf, 2, 3))) static veil_result put(veil_buf *out, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    VEIL_ENSURE(n > 0 && (size_t)n < sizeof line, VEIL_E_INTERNAL, "metrics: line too long");
    return veil_buf_append(out, line, (size_t)n);
}

static uint64_t ld(atomic_uint_fast64_t *v) { return (uint64_t)atomic_load(v); }

veil_result gw_metrics_render(gw_metrics *m, unsigned max_concurrent, veil_buf *out)
{
    veil_result r = VEIL_OK;
    VEIL_TRY(r, put(out, "# HELP veil_gateway_requests_total Requests received, by endpoint.\n"
                         "# TYPE veil_gateway_requests_total counter\n"));
    for (size_t i = 0; i < GW_EP_COUNT; i++)
        VEIL_TRY(r, put(out, "veil_gateway_requests_total{endpoint=\"%s\"} %" PRIu64 "\n",
                        gw_endpoint_name((gw_endpoint)i), ld(&m->requests[i])));
    VEIL_TRY(r, put(out,
                    "# HELP veil_gateway_ohttp_requests_total Encapsulated requests, by "
                    "framing.\n# TYPE veil_gateway_ohttp_requests_total counter\n"
                    "veil_gateway_ohttp_requests_total{framing=\"single\"} %" PRIu64 "\n"
                    "veil_gateway_ohttp_requests_total{framing=\"chunked\"} %" PRIu64 "\n",
                    ld(&m->ohttp_single), ld(&m->ohttp_chunked)));
    VEIL_TRY(r, put(out,
                    "# HELP veil_gateway_responses_total Encrypted responses completed.\n"
                    "# TYPE veil_gateway_responses_total counter\n"
                    "veil_gateway_responses_total %" PRIu64 "\n"
                    "# HELP veil_gateway_attestations_total Fresh evidence bundles served.\n"
                    "# TYPE veil_gateway_attestations_total counter\n"
                    "veil_gateway_attestations_total %" PRIu64 "\n",
                    ld(&m->answered), ld(&m->attestations)));
    VEIL_TRY(r, put(out, "# HELP veil_gateway_errors_total Errors, by class.\n"
                         "# TYPE veil_gateway_errors_total counter\n"));
    for (size_t i = 0; i < GW_ERR_COUNT; i++)
        VEIL_TRY(r, put(out, "veil_gateway_errors_total{class=\"%s\"} %" PRIu64 "\n",
                        gw_error_name((gw_error)i), ld(&m->errors[i])));
    VEIL_TRY(r, put(out,
                    "# HELP veil_gateway_in_flight Encapsulated requests being handled.\n"
                    "# TYPE veil_gateway_in_flight gauge\nveil_gateway_in_flight %u\n"
                    "# HELP veil_gateway_max_concurrent The in-flight limit.\n"
                    "# TYPE veil_gateway_max_concurrent gauge\nveil_gateway_max_concurrent %u\n",
                    atomic_load(&m->in_flight), max_concurrent));
    VEIL_TRY(r, put(out, "# HELP veil_gateway_request_duration_seconds POST /gateway, head to "
                         "end of response.\n"
                         "# TYPE veil_gateway_request_duration_seconds histogram\n"));
    uint64_t cum = 0;
    for (size_t i = 0; i < GW_LAT_BUCKETS; i++) {
        cum += ld(&m->lat_bucket[i]);
        VEIL_TRY(r,
                 put(out, "veil_gateway_request_duration_seconds_bucket{le=\"%s\"} %" PRIu64 "\n",
                     k_bounds_txt[i], cum));
    }
    cum += ld(&m->lat_bucket[GW_LAT_BUCKETS]);
    uint64_t sum = ld(&m->lat_sum_us);
    VEIL_TRY(r, put(out,
                    "veil_gateway_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
                    "veil_gateway_request_duration_seconds_sum %" PRIu64 ".%06" PRIu64 "\n"
                    "veil_gateway_request_duration_seconds_count %" PRIu64 "\n",
                    cum, sum / 1000000, sum % 1000000, ld(&m->lat_count)));
out:
    return r;
}
