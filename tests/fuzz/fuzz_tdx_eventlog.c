/* libFuzzer target for the TD event-log parsers (CCEL crypto-agile binary
 * and dstack JSON) and the RTMR replay.
 *
 * Both parsers see every input. Any input either fails with a protocol error
 * and an emptied log, or parses to a log whose events are well-formed (RTMR
 * 0..3 or none, data inside the log's own storage, names NUL-terminated) and
 * whose RTMRs equal an independent replay of its events. Any violation
 * aborts; ASan/LSan catch overruns and leaks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/digest.h"
#include "veil/mem.h"
#include "veil/tdx.h"

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_log(const veil_tdx_eventlog *log, size_t size)
{
    uint8_t rtmr[4][48], buf[96];
    memset(rtmr, 0, sizeof rtmr);
    check(log->n_events <= VEIL_TDX_MAX_EVENTS);
    check(log->n_events == 0 || log->events != NULL);
    check(log->format != VEIL_TDX_EVENTLOG_CCEL || log->log_len <= size);
    for (size_t i = 0; i < log->n_events; i++) {
        const veil_tdx_event *e = &log->events[i];
        check(e->rtmr <= 3 || e->rtmr == VEIL_TDX_NO_RTMR);
        check(e->data_len == 0 || (e->data >= log->storage &&
                                   e->data + e->data_len <= log->storage + log->storage_len));
        if (e->name)
            check(e->name + strlen(e->name) < (const char *)log->storage + log->storage_len);
        if (e->rtmr == VEIL_TDX_NO_RTMR)
            continue;
        memcpy(buf, rtmr[e->rtmr], 48);
        memcpy(buf + 48, e->digest, 48);
        check(veil_ok(veil_sha384(buf, sizeof buf, rtmr[e->rtmr])));
    }
    check(veil_public_equal(rtmr, sizeof rtmr, log->rtmr, sizeof log->rtmr));
}

static void run(veil_result (*parse)(const uint8_t *, size_t, veil_tdx_eventlog *),
                const uint8_t *data, size_t size)
{
    veil_tdx_eventlog log;
    veil_result r = parse(data, size, &log);
    if (!veil_ok(r)) {
        check(r.cls == VEIL_E_PROTOCOL && r.msg != NULL);
        check(log.events == NULL && log.storage == NULL && log.n_events == 0);
        return;
    }
    check_log(&log, size);
    veil_tdx_eventlog_free(&log);
    check(log.events == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(veil_tdx_eventlog_parse_ccel, data, size);
    run(veil_tdx_eventlog_parse_json, data, size);
    run(veil_tdx_eventlog_parse, data, size);
    return 0;
}
