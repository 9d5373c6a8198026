/* RTMR replay from the TD event log (notes §2.6): the TCG crypto-agile CCEL
 * log (go-tdx-guest rtmr/ccel.go; TCG PC Client Platform Firmware Profile
 * §10.2) and dstack's JSON form (Dstack-TEE/dstack cc-eventlog TdxEvent).
 *
 * RTMR[i] = SHA-384(RTMR[i] || digest), from 48 zero bytes, for every event
 * but EV_NO_ACTION. Both parsers run in two passes over bounded cursors (or
 * the parsed JSON): the first validates and sizes, the second copies the
 * events and their data into one allocation owned by the log. */
#include <jansson.h>
#include <string.h>

#include "crypto/digest.h"
#include "veil/cursor.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/tdx.h"

#define ALG_SHA384 0x000C
#define MAX_ALGS 16
#define SPEC_ID_SIGNATURE "Spec ID Event03"

/* ---- shared: allocation and replay ------------------------------------------------------ */

static veil_result log_alloc(veil_tdx_eventlog *log, size_t n_events, size_t data_len)
{
    VEIL_ENSURE(n_events <= VEIL_TDX_MAX_EVENTS, VEIL_E_PROTOCOL,
                "tdx event log: more than 16384 events");
    if (n_events) {
        log->events = veil_calloc(n_events, sizeof *log->events);
        VEIL_ENSURE(log->events != NULL, VEIL_E_NOMEM, "tdx event log: out of memory");
    }
    if (data_len) {
        log->storage = veil_calloc(1, data_len);
        VEIL_ENSURE(log->storage != NULL, VEIL_E_NOMEM, "tdx event log: out of memory");
        log->storage_len = data_len;
    }
    return VEIL_OK;
}

static veil_result replay(veil_tdx_eventlog *log)
{
    uint8_t buf[96];
    memset(log->rtmr, 0, sizeof log->rtmr);
    for (size_t i = 0; i < log->n_events; i++) {
        const veil_tdx_event *e = &log->events[i];
        if (e->rtmr == VEIL_TDX_NO_RTMR)
            continue;
        memcpy(buf, log->rtmr[e->rtmr], 48);
        memcpy(buf + 48, e->digest, 48);
        VEIL_GUARD(veil_sha384(buf, sizeof buf, log->rtmr[e->rtmr]));
    }
    return VEIL_OK;
}

void veil_tdx_eventlog_free(veil_tdx_eventlog *log)
{
    if (!log)
        return;
    veil_free(log->events);
    veil_free(log->storage);
    memset(log, 0, sizeof *log);
}

/* ---- CCEL (TCG crypto-agile) ------------------------------------------------------------------
 */

typedef struct spec_algs {
    size_t n;
    uint16_t id[MAX_ALGS];
    uint16_t size[MAX_ALGS];
} spec_algs;

static veil_result need(veil_result r, const char *msg)
{
    return veil_ok(r) ? r : VEIL_ERR(VEIL_E_PROTOCOL, msg);
}

/* The first event: TCG_PCClientPCREvent (SHA-1 format) carrying the
 * TCG_EfiSpecIDEvent that lists the digest algorithms of every later event. */
static veil_result ccel_header(veil_cursor *c, spec_algs *a)
{
    const char *bad = "tdx event log: truncated or malformed Spec ID header event";
    uint32_t index, type, size, n_algs;
    uint8_t sig[16], vendor_len;
    veil_cursor ev;
    VEIL_GUARD(need(veil_cursor_u32le(c, &index), bad));
    VEIL_GUARD(need(veil_cursor_u32le(c, &type), bad));
    VEIL_GUARD(need(veil_cursor_skip(c, 20), bad)); /* SHA-1 digest field */
    VEIL_GUARD(need(veil_cursor_u32le(c, &size), bad));
    VEIL_GUARD(need(veil_cursor_sub(c, size, &ev), bad));
    VEIL_ENSURE(type == VEIL_TDX_EV_NO_ACTION, VEIL_E_PROTOCOL,
                "tdx event log: the first event is not the EV_NO_ACTION Spec ID header");
    VEIL_GUARD(need(veil_cursor_copy(&ev, sig, sizeof sig), bad));
    VEIL_ENSURE(veil_public_equal(sig, sizeof sig, SPEC_ID_SIGNATURE, sizeof sig), VEIL_E_PROTOCOL,
                "tdx event log: the header signature is not \"Spec ID Event03\"");
    /* platformClass u32, specVersionMinor/Major, specErrata, uintnSize */
    VEIL_GUARD(need(veil_cursor_skip(&ev, 8), bad));
    VEIL_GUARD(need(veil_cursor_u32le(&ev, &n_algs), bad));
    VEIL_ENSURE(n_algs >= 1 && n_algs <= MAX_ALGS, VEIL_E_PROTOCOL,
                "tdx event log: the header lists no or too many digest algorithms");
    a->n = n_algs;
    bool sha384 = false;
    for (size_t i = 0; i < a->n; i++) {
        VEIL_GUARD(need(veil_cursor_u16le(&ev, &a->id[i]), bad));
        VEIL_GUARD(need(veil_cursor_u16le(&ev, &a->size[i]), bad));
        VEIL_ENSURE(a->size[i] >= 1 && a->size[i] <= 64, VEIL_E_PROTOCOL,
                    "tdx event log: a digest size in the header is not 1..64");
        if (a->id[i] == ALG_SHA384) {
            VEIL_ENSURE(a->size[i] == 48, VEIL_E_PROTOCOL,
                        "tdx event log: the header gives SHA-384 a size other than 48");
            sha384 = true;
        }
    }
    VEIL_ENSURE(sha384, VEIL_E_PROTOCOL, "tdx event log: the header does not list SHA-384");
    VEIL_GUARD(need(veil_cursor_u8(&ev, &vendor_len), bad));
    VEIL_GUARD(need(veil_cursor_skip(&ev, vendor_len), bad));
    return veil_cursor_expect_end(&ev, "tdx event log: bytes after the Spec ID header's vendor "
                                       "info");
}

static bool rest_is(const veil_cursor *c, uint8_t fill)
{
    const uint8_t *p = veil_cursor_peek_ptr(c);
    for (size_t i = 0; i < veil_cursor_remaining(c); i++)
        if (p[i] != fill)
            return false;
    return true;
}

/* End of log: the 0xFFFFFFFF fill, the end of the input, or only zeros left. */
static bool ccel_at_end(const veil_cursor *c)
{
    uint32_t index;
    veil_cursor peek = *c;
    if (veil_cursor_remaining(c) < 4 || rest_is(c, 0))
        return true;
    return veil_ok(veil_cursor_u32le(&peek, &index)) && index == 0xFFFFFFFFu;
}

/* One TCG_PCR_EVENT2; `e` (pass 2) receives it, *data_len its data size. */
static veil_result ccel_event(veil_cursor *c, const spec_algs *a, veil_tdx_event *e,
                              uint8_t *storage, size_t *data_len)
{
    const char *bad = "tdx event log: an event is truncated";
    uint32_t index, type, count, size;
    bool have = false;
    uint8_t digest[48] = {0};
    const uint8_t *data;
    VEIL_GUARD(need(veil_cursor_u32le(c, &index), bad));
    VEIL_GUARD(need(veil_cursor_u32le(c, &type), bad));
    VEIL_GUARD(need(veil_cursor_u32le(c, &count), bad));
    VEIL_ENSURE(index <= 4, VEIL_E_PROTOCOL,
                "tdx event log: an event's MR index is not 0..4 (MRTD, RTMR0..3)");
    VEIL_ENSURE(count >= 1 && count <= a->n, VEIL_E_PROTOCOL,
                "tdx event log: an event's digest count is not 1..(algorithms in the header)");
    for (uint32_t i = 0; i < count; i++) {
        uint16_t alg;
        size_t k = 0;
        VEIL_GUARD(need(veil_cursor_u16le(c, &alg), bad));
        while (k < a->n && a->id[k] != alg)
            k++;
        VEIL_ENSURE(k < a->n, VEIL_E_PROTOCOL,
                    "tdx event log: an event uses a digest algorithm the header does not list");
        if (alg == ALG_SHA384) {
            VEIL_ENSURE(!have, VEIL_E_PROTOCOL, "tdx event log: an event has two SHA-384 digests");
            VEIL_GUARD(need(veil_cursor_copy(c, digest, 48), bad));
            have = true;
        } else {
            VEIL_GUARD(need(veil_cursor_skip(c, a->size[k]), bad));
        }
    }
    VEIL_ENSURE(have, VEIL_E_PROTOCOL, "tdx event log: an event has no SHA-384 digest");
    VEIL_GUARD(need(veil_cursor_u32le(c, &size), bad));
    VEIL_GUARD(need(veil_cursor_view(c, size, &data), bad));
    *data_len = size;
    if (e) {
        e->mr_index = index;
        e->type = type;
        /* CC MR index 1..4 is RTMR0..3; 0 is MRTD, which the log never extends */
        e->rtmr = index >= 1 && type != VEIL_TDX_EV_NO_ACTION ? (uint8_t)(index - 1)
                                                              : (uint8_t)VEIL_TDX_NO_RTMR;
        memcpy(e->digest, digest, 48);
        if (size)
            memcpy(storage, data, size);
        e->data = storage;
        e->data_len = size;
    }
    return VEIL_OK;
}

/* Walk the log; pass 1 (log == NULL) counts events and data bytes. */
static veil_result ccel_walk(const uint8_t *p, size_t n, veil_tdx_eventlog *log, size_t *n_events,
                             size_t *data_len, size_t *end)
{
    veil_cursor c = veil_cursor_init(p, n);
    spec_algs a;
    size_t count = 0, total = 0;
    memset(&a, 0, sizeof a);
    VEIL_GUARD(ccel_header(&c, &a));
    while (!ccel_at_end(&c)) {
        size_t len = 0;
        VEIL_ENSURE(count < VEIL_TDX_MAX_EVENTS, VEIL_E_PROTOCOL,
                    "tdx event log: more than 16384 events");
        veil_tdx_event *e = log ? &log->events[count] : NULL;
        /* no storage at all when every event's data is empty */
        uint8_t *dst = log && log->storage ? log->storage + total : NULL;
        VEIL_GUARD(ccel_event(&c, &a, e, dst, &len));
        count++;
        total += len;
    }
    *n_events = count;
    *data_len = total;
    *end = c.off;
    return VEIL_OK;
}

veil_result veil_tdx_eventlog_parse_ccel(const uint8_t *p, size_t n, veil_tdx_eventlog *out)
{
    veil_result res = VEIL_OK;
    size_t n_events = 0, data_len = 0, end = 0;
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "tdx event log: NULL output");
    memset(out, 0, sizeof *out);
    VEIL_ENSURE(p != NULL || n == 0, VEIL_E_USAGE, "tdx event log: NULL input with a length");
    VEIL_ENSURE(n <= VEIL_TDX_EVENTLOG_MAX, VEIL_E_PROTOCOL, "tdx event log: larger than 16 MiB");
    VEIL_TRY(res, ccel_walk(p, n, NULL, &n_events, &data_len, &end));
    VEIL_TRY(res, log_alloc(out, n_events, data_len));
    VEIL_TRY(res, ccel_walk(p, n, out, &n_events, &data_len, &end));
    out->format = VEIL_TDX_EVENTLOG_CCEL;
    out->n_events = n_events;
    out->log_len = end;
    VEIL_TRY(res, replay(out));
out:
    if (!veil_ok(res))
        veil_tdx_eventlog_free(out);
    return res;
}

/* ---- dstack JSON -------------------------------------------------------------------------------
 */

/* A hex member of at most `max` bytes (absent: empty) appended to out. */
static veil_result json_hex(json_t *e, const char *key, size_t max, veil_buf *out, const char *bad)
{
    json_t *v = json_object_get(e, key);
    if (!v)
        return VEIL_OK;
    VEIL_ENSURE(json_is_string(v) && json_string_length(v) <= 2 * max, VEIL_E_PROTOCOL, bad);
    veil_result r = veil_hex_decode(json_string_value(v), json_string_length(v), out);
    VEIL_ENSURE(r.cls != VEIL_E_PROTOCOL, VEIL_E_PROTOCOL, bad);
    return r;
}

/* dstack runtime event digest v1: SHA-384(u32le type || ":" || event || ":" || payload). */
static veil_result runtime_digest(uint32_t type, const char *name, size_t name_len,
                                  const uint8_t *payload, size_t payload_len, uint8_t out[48])
{
    veil_buf b;
    veil_result res = VEIL_OK;
    uint8_t t[4] = {(uint8_t)type, (uint8_t)(type >> 8), (uint8_t)(type >> 16),
                    (uint8_t)(type >> 24)};
    veil_buf_init(&b, VEIL_TDX_EVENTLOG_MAX);
    VEIL_TRY(res, veil_buf_append(&b, t, 4));
    VEIL_TRY(res, veil_buf_append(&b, ":", 1));
    VEIL_TRY(res, veil_buf_append(&b, name, name_len));
    VEIL_TRY(res, veil_buf_append(&b, ":", 1));
    VEIL_TRY(res, veil_buf_append(&b, payload, payload_len));
    VEIL_TRY(res, veil_sha384(b.data, b.len, out));
out:
    veil_buf_free(&b);
    return res;
}

/* One entry: validated in pass 1 (e == NULL), copied in pass 2. The data
 * of an event is its payload, followed by its name and a NUL. */
static veil_result json_event(json_t *j, veil_tdx_event *e, uint8_t *storage, size_t *used)
{
    veil_result res = VEIL_OK;
    veil_buf digest, payload;
    json_t *imr = json_object_get(j, "imr"), *type = json_object_get(j, "event_type");
    json_t *name = json_object_get(j, "event"), *ver = json_object_get(j, "version");
    uint8_t computed[48];
    veil_buf_init(&digest, 48);
    veil_buf_init(&payload, VEIL_TDX_EVENTLOG_MAX);
    VEIL_ENSURE_GOTO(res, json_is_object(j), VEIL_E_PROTOCOL,
                     "tdx event log: an entry is not a JSON object");
    VEIL_ENSURE_GOTO(
        res, json_is_integer(imr) && json_integer_value(imr) >= 0 && json_integer_value(imr) <= 3,
        VEIL_E_PROTOCOL, "tdx event log: an entry's \"imr\" is not 0..3");
    VEIL_ENSURE_GOTO(res,
                     json_is_integer(type) && json_integer_value(type) >= 0 &&
                         json_integer_value(type) <= (json_int_t)UINT32_MAX,
                     VEIL_E_PROTOCOL, "tdx event log: an entry's \"event_type\" is not a u32");
    VEIL_ENSURE_GOTO(res, !name || json_is_string(name), VEIL_E_PROTOCOL,
                     "tdx event log: an entry's \"event\" is not a string");
    VEIL_ENSURE_GOTO(res, !ver || json_is_integer(ver), VEIL_E_PROTOCOL,
                     "tdx event log: an entry's \"version\" is not an integer");
    VEIL_TRY(res, json_hex(j, "digest", 48, &digest,
                           "tdx event log: an entry's \"digest\" is not 96 hex digits"));
    VEIL_TRY(res, json_hex(j, "event_payload", VEIL_TDX_EVENTLOG_MAX / 2, &payload,
                           "tdx event log: an entry's \"event_payload\" is not hex"));
    VEIL_ENSURE_GOTO(res, digest.len == 0 || digest.len == 48, VEIL_E_PROTOCOL,
                     "tdx event log: an entry's \"digest\" is not 96 hex digits");
    uint32_t t = (uint32_t)json_integer_value(type);
    const char *nm = name ? json_string_value(name) : "";
    size_t nm_len = name ? json_string_length(name) : 0;
    bool runtime_v1 = t == VEIL_TDX_EV_DSTACK_RUNTIME && (!ver || json_integer_value(ver) == 1);
    if (runtime_v1) {
        /* the payload is what a policy reads: it must be what was measured */
        VEIL_TRY(res, runtime_digest(t, nm, nm_len, payload.data, payload.len, computed));
        VEIL_ENSURE_GOTO(res, digest.len == 0 || veil_public_equal(digest.data, 48, computed, 48),
                         VEIL_E_PROTOCOL,
                         "tdx event log: a dstack runtime event's digest does not match its "
                         "event and payload");
    } else {
        VEIL_ENSURE_GOTO(res, digest.len == 48, VEIL_E_PROTOCOL,
                         "tdx event log: an entry has no \"digest\"");
    }
    *used = payload.len + nm_len + 1;
    if (e) {
        e->mr_index = (uint32_t)json_integer_value(imr);
        e->type = t;
        e->rtmr = t == VEIL_TDX_EV_NO_ACTION ? (uint8_t)VEIL_TDX_NO_RTMR : (uint8_t)e->mr_index;
        memcpy(e->digest, digest.len ? digest.data : computed, 48);
        if (payload.len)
            memcpy(storage, payload.data, payload.len);
        e->data = storage;
        e->data_len = payload.len;
        memcpy(storage + payload.len, nm, nm_len);
        storage[payload.len + nm_len] = '\0';
        e->name = name ? (const char *)(storage + payload.len) : NULL;
    }
out:
    veil_buf_free(&digest);
    veil_buf_free(&payload);
    return res;
}

/* The array itself, {"event_log": array}, or {"event_log": "<array as text>"}. */
static veil_result json_array_of(json_t *root, json_t **arr, json_t **owned)
{
    *owned = NULL;
    if (json_is_array(root)) {
        *arr = root;
        return VEIL_OK;
    }
    json_t *v = json_is_object(root) ? json_object_get(root, "event_log") : NULL;
    if (json_is_string(v)) {
        *owned =
            json_loadb(json_string_value(v), json_string_length(v), JSON_REJECT_DUPLICATES, NULL);
        v = *owned;
    }
    VEIL_ENSURE(json_is_array(v), VEIL_E_PROTOCOL,
                "tdx event log: JSON is neither an array of events nor {\"event_log\": [...]}");
    *arr = v;
    return VEIL_OK;
}

veil_result veil_tdx_eventlog_parse_json(const uint8_t *p, size_t n, veil_tdx_eventlog *out)
{
    veil_result res = VEIL_OK;
    json_t *root = NULL, *owned = NULL, *arr = NULL, *j;
    size_t i, total = 0, used = 0;
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "tdx event log: NULL output");
    memset(out, 0, sizeof *out);
    VEIL_ENSURE(p != NULL || n == 0, VEIL_E_USAGE, "tdx event log: NULL input with a length");
    VEIL_ENSURE(n <= VEIL_TDX_EVENTLOG_MAX, VEIL_E_PROTOCOL, "tdx event log: larger than 16 MiB");
    root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, NULL);
    VEIL_ENSURE_GOTO(res, root != NULL, VEIL_E_PROTOCOL, "tdx event log: not valid JSON");
    VEIL_TRY(res, json_array_of(root, &arr, &owned));
    VEIL_ENSURE_GOTO(res, json_array_size(arr) <= VEIL_TDX_MAX_EVENTS, VEIL_E_PROTOCOL,
                     "tdx event log: more than 16384 events");
    json_array_foreach (arr, i, j) {
        VEIL_TRY(res, json_event(j, NULL, NULL, &used));
        total += used;
    }
    VEIL_TRY(res, log_alloc(out, json_array_size(arr), total));
    total = 0;
    json_array_foreach (arr, i, j) {
        VEIL_TRY(res, json_event(j, &out->events[i], out->storage + total, &used));
        total += used;
    }
    out->format = VEIL_TDX_EVENTLOG_JSON;
    out->n_events = json_array_size(arr);
    VEIL_TRY(res, replay(out));
out:
    json_decref(owned);
    json_decref(root);
    if (!veil_ok(res))
        veil_tdx_eventlog_free(out);
    return res;
}

veil_result veil_tdx_eventlog_parse(const uint8_t *p, size_t n, veil_tdx_eventlog *out)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (i < n && (p[i] == '[' || p[i] == '{'))
        return veil_tdx_eventlog_parse_json(p, n, out);
    return veil_tdx_eventlog_parse_ccel(p, n, out);
}
