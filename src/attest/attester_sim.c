/* The "sim" attester: asks the simulated secure processor of
 * `veil sim launch` over its unix socket (protocol in src/sim/sim.h): one
 * JSON request line, one JSON reply line, bounded in size and time. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "attest/attester_internal.h"
#include "veil/base64.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/snp.h"

#define REPLY_MAX ((size_t)256 << 10)
#define IO_TIMEOUT_MS 30000
#define KEY_MAX 64

veil_result veil_simsock_check(const char *path)
{
    struct stat st;
    struct sockaddr_un addr;
    VEIL_ENSURE(strlen(path) < sizeof addr.sun_path, VEIL_E_USAGE,
                "the simulator socket path is too long for a unix socket");
    VEIL_ENSURE(stat(path, &st) == 0, VEIL_E_USAGE,
                "the simulator socket does not exist (has `veil sim launch` exited?)");
    VEIL_ENSURE(S_ISSOCK(st.st_mode), VEIL_E_USAGE, "$VEIL_SIM_SOCKET does not name a unix socket");
    return VEIL_OK;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool wait_fd(int fd, short events, long deadline)
{
    for (;;) {
        long left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        return n > 0 && (p.revents & (events | POLLHUP)) != 0;
    }
}

/* Connect, send `req` (one line), read one reply line into `reply`. */
static veil_result exchange(const char *path, const veil_buf *req, veil_buf *reply)
{
    struct sockaddr_un addr;
    veil_result res = VEIL_OK;
    long deadline = now_ms() + IO_TIMEOUT_MS;

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    VEIL_ENSURE(fd >= 0, VEIL_E_INTERNAL, "cannot create a unix socket");
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path) + 1); /* length checked at open */
    struct timeval tv = {IO_TIMEOUT_MS / 1000, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds connect too */
    VEIL_ENSURE_GOTO(res, connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0, VEIL_E_INTERNAL,
                     "cannot connect to the simulator socket (has `veil sim launch` exited?)");
    /* A refused peer is answered without being read: if the send fails,
     * the refusal may still be waiting to be read. */
    for (size_t done = 0; done < req->len;) {
        ssize_t n = send(fd, req->data + done, req->len - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    for (;;) {
        uint8_t chunk[4096];
        VEIL_ENSURE_GOTO(res, wait_fd(fd, POLLIN, deadline), VEIL_E_INTERNAL,
                         "the simulator did not answer in time");
        ssize_t n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        VEIL_ENSURE_GOTO(res, n >= 0, VEIL_E_INTERNAL, "cannot read the simulator's reply");
        if (n == 0)
            break;
        res = veil_buf_append(reply, chunk, (size_t)n);
        veil_wipe(chunk, sizeof chunk);
        VEIL_ENSURE_GOTO(res, veil_ok(res), VEIL_E_PROTOCOL, "the simulator's reply is too large");
        if (memchr(reply->data, '\n', reply->len))
            break;
    }
    VEIL_ENSURE_GOTO(res, reply->len > 0, VEIL_E_PROTOCOL,
                     "the simulator closed the connection without a reply");
out:
    close(fd);
    return res;
}

/* Parse a reply; an {"error": ...} becomes a plain failure. */
static veil_result parse_reply(const veil_buf *reply, json_t **out)
{
    *out = NULL;
    json_t *doc = json_loadb((const char *)reply->data, reply->len, JSON_DISABLE_EOF_CHECK, NULL);
    VEIL_ENSURE(json_is_object(doc), VEIL_E_PROTOCOL, "the simulator's reply is not JSON");
    json_t *err = json_object_get(doc, "error");
    if (err) {
        const char *msg = json_string_value(err);
        bool refused = msg && !strncmp(msg, "refused", 7);
        json_decref(doc);
        VEIL_ENSURE(!refused, VEIL_E_PROTOCOL,
                    "the simulator refused: this process was not launched by `veil sim launch` "
                    "(only the guest and the processes it starts may ask)");
        return VEIL_ERR(VEIL_E_PROTOCOL, "the simulator rejected the request");
    }
    *out = doc;
    return VEIL_OK;
}

static veil_result request(const char *path, json_t *req_doc, json_t **reply_doc)
{
    veil_buf req, reply;
    veil_result res = VEIL_OK;
    veil_buf_init(&req, 8192);
    veil_buf_init(&reply, REPLY_MAX);
    *reply_doc = NULL;
    VEIL_ENSURE_GOTO(res, req_doc != NULL, VEIL_E_USAGE,
                     "cannot encode the request (is the context valid UTF-8?)");
    size_t n = json_dumpb(req_doc, NULL, 0, JSON_COMPACT);
    VEIL_TRY(res, veil_buf_reserve(&req, n + 1));
    VEIL_ENSURE_GOTO(res, n > 0 && json_dumpb(req_doc, (char *)req.data, n, JSON_COMPACT) == n,
                     VEIL_E_INTERNAL, "cannot encode the request");
    req.len = n;
    VEIL_TRY(res, veil_buf_u8(&req, '\n'));
    VEIL_TRY(res, exchange(path, &req, &reply));
    VEIL_TRY(res, parse_reply(&reply, reply_doc));
out:
    veil_buf_free(&req);
    veil_buf_free(&reply);
    return res;
}

static veil_result get_base64(json_t *doc, const char *key, veil_buf *out, const char *msg)
{
    json_t *v = json_object_get(doc, key);
    VEIL_ENSURE(json_is_string(v), VEIL_E_PROTOCOL, msg);
    veil_result r = veil_base64_decode(json_string_value(v), json_string_length(v), out);
    VEIL_ENSURE(veil_ok(r), VEIL_E_PROTOCOL, msg);
    return VEIL_OK;
}

veil_result veil_simsock_evidence(const char *path, const uint8_t report_data[64], unsigned vmpl,
                                  veil_evidence *out)
{
    char rd_hex[129];
    json_t *reply = NULL;
    veil_result res = VEIL_OK;

    veil_evidence_free(out);
    veil_evidence_init(out);
    veil_hex_encode(report_data, 64, rd_hex);
    json_t *req =
        json_pack("{s:s,s:s,s:i}", "op", "report", "report_data", rd_hex, "vmpl", (int)vmpl);
    res = request(path, req, &reply);
    json_decref(req);
    if (!veil_ok(res))
        goto out;
    VEIL_TRY(res, get_base64(reply, "report", &out->report,
                             "the simulator's reply has no valid \"report\""));
    VEIL_ENSURE_GOTO(res, out->report.len == VEIL_SNP_REPORT_SIZE, VEIL_E_PROTOCOL,
                     "the simulator's report is not 1184 bytes");
    VEIL_TRY(res, get_base64(reply, "cert_table", &out->cert_table,
                             "the simulator's reply has no valid \"cert_table\""));
    memcpy(out->tee, "sev-snp", sizeof "sev-snp");
    memcpy(out->attester, "sim", sizeof "sim");
    out->claims_simulated = true;
out:
    json_decref(reply);
    if (!veil_ok(res)) {
        veil_evidence_free(out);
        veil_evidence_init(out);
    }
    return res;
}

veil_result veil_simsock_derived_key(const char *path, const char *context, uint8_t *key,
                                     size_t key_len)
{
    json_t *reply = NULL;
    veil_buf k;
    veil_result res = VEIL_OK;

    veil_buf_init(&k, KEY_MAX);
    memset(key, 0, key_len);
    VEIL_ENSURE(key_len >= 16 && key_len <= KEY_MAX, VEIL_E_USAGE,
                "derived key length must be 16..64 bytes");
    json_t *req =
        json_pack("{s:s,s:s,s:i}", "op", "derived_key", "context", context, "length", (int)key_len);
    res = request(path, req, &reply);
    json_decref(req);
    if (!veil_ok(res))
        goto out;
    json_t *hex = json_object_get(reply, "key");
    VEIL_ENSURE_GOTO(res, json_is_string(hex) && json_string_length(hex) == 2 * key_len,
                     VEIL_E_PROTOCOL, "the simulator's reply has no key of the requested length");
    VEIL_ENSURE_GOTO(res, veil_ok(veil_hex_decode(json_string_value(hex), 2 * key_len, &k)),
                     VEIL_E_PROTOCOL, "the simulator's key is not hex");
    memcpy(key, k.data, key_len);
out:
    json_decref(reply); /* jansson frees the hex key unwiped: see sim.h */
    veil_buf_free(&k);
    return res;
}
