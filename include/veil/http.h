/* veil — HTTP server and client: the one module that touches libmicrohttpd
 * and libcurl (STYLE.md rule 9). The KMS, the gateway, the relay and the
 * client all speak HTTP through this header.
 *
 * Server: thread-per-connection (libmicrohttpd), bound to one explicit
 * address; a handler gets a request view and fills a response builder.
 * Either direction may stream: a `begin` hook can ask for the request body
 * piece by piece (nothing buffered), and a response body can come from a
 * blocking reader (sent as HTTP/1.1 chunks as it is produced).
 *
 * Client: libcurl, one transfer per call; buffered, or streamed both ways.
 * Redirects are not followed and environment proxies are ignored unless the
 * options say otherwise.
 *
 * Privacy: this module never logs anything, least of all client addresses
 * or bodies. Handlers may read the client's address (for rate limiting);
 * what they do with it is theirs to answer for. */
#ifndef VEIL_HTTP_H
#define VEIL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "veil/cursor.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_HTTP_MT_PROBLEM "application/problem+json" /* RFC 9457 */
#define VEIL_HTTP_MT_JSON "application/json"
#define VEIL_HTTP_PROBLEM_BASE "https://veil.dev/problems/" /* + slug = problem type */
#define VEIL_HTTP_CONTENT_TYPE_MAX 256                      /* longest Content-Type kept */
#define VEIL_HTTP_ADDR_MAX 46                               /* INET6_ADDRSTRLEN */

/* ---- streaming callbacks (both directions, server and client) ------------ */

/* Produces the next piece of a body into buf[0..cap). It may block until data
 * is ready (server: it runs on the connection's own thread; client: on the
 * caller's). Returns the number of bytes written (1..cap), 0 at the end of
 * the body, or VEIL_HTTP_STREAM_ERROR to abandon it (the peer then sees a
 * truncated chunked body or a reset, never a clean end). */
typedef ssize_t (*veil_http_read_fn)(void *ctx, uint8_t *buf, size_t cap);
#define VEIL_HTTP_STREAM_ERROR ((ssize_t)-1)

/* Consumes one piece of a body, in order, as it arrives. Returns 0 to go on,
 * anything else to abort the exchange. */
typedef int (*veil_http_write_fn)(void *ctx, const uint8_t *p, size_t n);

/* ---- server ---------------------------------------------------------------- */

typedef struct veil_http_server veil_http_server;
typedef struct veil_http_request veil_http_request;   /* view, valid during callbacks */
typedef struct veil_http_response veil_http_response; /* builder, valid during callbacks */

/* Called once per request when the headers are complete, before any of the
 * body is read. It may:
 *  - build a response (an early error: 405, 415, 429...): it is sent at once
 *    and the body, if any, is never read (the connection then closes);
 *  - call veil_http_req_stream_body(): body pieces go to its callback as they
 *    arrive and nothing is buffered; `handler` is called after the last one;
 *  - do neither: the body is buffered (up to max_body) for `handler`. */
typedef void (*veil_http_begin_fn)(void *ctx, veil_http_request *req, veil_http_response *resp);
/* Called once the whole request has been received; must build a response
 * (if it does not, or a builder call fails, the client gets a 500 problem). */
typedef void (*veil_http_handler_fn)(void *ctx, veil_http_request *req, veil_http_response *resp);

typedef struct veil_http_server_config {
    const char *address;          /* literal IPv4 or IPv6 address ("::1", "[::1]");
                                     NULL = "127.0.0.1". No host names. */
    uint16_t port;                /* 0 = the OS picks; see veil_http_server_port */
    bool dual_stack;              /* IPv6 address only: also accept IPv4 (MHD_USE_DUAL_STACK) */
    unsigned max_connections;     /* concurrent connections; 0 = 64 */
    unsigned max_per_client;      /* concurrent connections from one address; 0 = no limit */
    unsigned timeout_s;           /* idle timeout per connection; 0 = 30 */
    size_t max_body;              /* request body limit, buffered or streamed; 0 = 1 MiB.
                                     A declared Content-Length above it gets 413 before
                                     any byte is read; a chunked body that grows past
                                     it gets 413 if it ends within 64 KiB more, else
                                     the connection is closed. */
    unsigned stop_grace_ms;       /* how long stop waits for in-flight requests; 0 = 5000 */
    veil_http_begin_fn begin;     /* optional */
    veil_http_handler_fn handler; /* required */
    /* Optional: called once by veil_http_server_stop when the grace period ran
     * out with requests still in flight. It must make every handler and
     * response reader that may be blocked return promptly (they run on
     * connection threads that stop joins). */
    void (*on_abort)(void *ctx);
    void *ctx; /* passed to begin, handler and on_abort; shared by all threads */
} veil_http_server_config;

/* Bind, listen and start serving. Errors name the cause (address in use, not
 * a local address, permission). */
VEIL_MUST_USE veil_result veil_http_server_start(const veil_http_server_config *cfg,
                                                 veil_http_server **out);
/* The port actually bound (the OS's choice when the config said 0). */
uint16_t veil_http_server_port(const veil_http_server *s);
/* Graceful stop, then free: stop accepting connections at once; answer new
 * requests on kept-alive connections with 503; wait up to stop_grace_ms for
 * in-flight requests (streamed responses included) to finish; then call
 * on_abort if some remain, close every connection and join its thread.
 * NULL is a no-op. */
void veil_http_server_stop(veil_http_server *s);

/* Request view. Strings are NUL-terminated and live until the request ends. */
const char *veil_http_req_method(const veil_http_request *req); /* "GET", "POST"... */
/* Path exactly as sent (percent-encoding kept), without the query: "/v1/keys/a". */
const char *veil_http_req_path(const veil_http_request *req);
/* Raw query string after '?', "" when none. */
const char *veil_http_req_query(const veil_http_request *req);
/* One decoded query parameter, NULL when absent. */
const char *veil_http_req_query_param(const veil_http_request *req, const char *name);
/* Header value by case-insensitive name, NULL when absent. */
const char *veil_http_req_header(const veil_http_request *req, const char *name);
/* Every request header in arrival order; stops when fn returns false. */
void veil_http_req_headers(const veil_http_request *req,
                           bool (*fn)(void *ctx, const char *name, const char *value), void *ctx);
/* The client's address as text ("127.0.0.1", "::1"; IPv4-mapped IPv6
 * addresses are given as IPv4). Never logged by this module. */
const char *veil_http_req_client_addr(const veil_http_request *req);
/* The buffered body (handler only; NULL and 0 when empty or streamed). */
const uint8_t *veil_http_req_body(const veil_http_request *req, size_t *len);
/* begin only: deliver the body to fn piece by piece instead of buffering it.
 * A nonzero return from fn closes the connection without a response. */
void veil_http_req_stream_body(veil_http_request *req, veil_http_write_fn fn, void *ctx);
/* Attach per-request state. free_state (may be NULL) is called exactly once,
 * after the request is over AND any streamed response body has been released,
 * even when the client went away or the server stopped; so the state may also
 * serve as a stream reader's and body callback's ctx. Setting again replaces
 * the pointer without freeing the old one. */
void veil_http_req_set_state(veil_http_request *req, void *state, void (*free_state)(void *));
void *veil_http_req_state(const veil_http_request *req);

/* Response builder. Calls never fail outright: an invalid argument or an
 * allocation failure is remembered and turns the response into a 500 problem.
 * Status codes are 200..599. A later body or stream replaces an earlier one. */
/* A body copied from p[0..n); content_type may be NULL (no Content-Type). */
void veil_http_resp_set(veil_http_response *resp, unsigned status, const char *content_type,
                        const void *p, size_t n);
/* The same, taking over body's contents (left empty), no copy. */
void veil_http_resp_take(veil_http_response *resp, unsigned status, const char *content_type,
                         veil_buf *body);
/* A body produced by `reader` on the connection thread after the handler
 * returns, sent with chunked transfer encoding, each piece as it comes. ctx
 * must stay valid until the request ends: make it the request's state. */
void veil_http_resp_stream(veil_http_response *resp, unsigned status, const char *content_type,
                           veil_http_read_fn reader, void *ctx);
/* An extra header (at most 16). Content-Length, Transfer-Encoding and
 * Connection are the module's, Content-Type the body setters': all refused,
 * as are control characters in the value. */
void veil_http_resp_header(veil_http_response *resp, const char *name, const char *value);

/* ---- problem details (RFC 9457) -------------------------------------------- */

/* The response becomes `status` with an application/problem+json body:
 * {"type": VEIL_HTTP_PROBLEM_BASE slug | "about:blank", "title", "status",
 *  "detail"}. slug is [a-z0-9-]+ or NULL (about:blank); title NULL = the
 * status's reason phrase; detail NULL = omitted. Strings are JSON-escaped. */
void veil_http_problem(veil_http_response *resp, unsigned status, const char *slug,
                       const char *title, const char *detail);
/* The same JSON document into `out` (appended), e.g. for an inner response. */
VEIL_MUST_USE veil_result veil_http_problem_encode(unsigned status, const char *slug,
                                                   const char *title, const char *detail,
                                                   veil_buf *out);

/* True when a Content-Type value names media_type ("type/subtype"), compared
 * case-insensitively, ignoring parameters and surrounding whitespace. */
bool veil_http_content_type_is(const char *value, const char *media_type);

/* ---- client ---------------------------------------------------------------- */

/* Why an exchange failed. Any complete HTTP response, 4xx and 5xx included,
 * is a success at this level. */
typedef enum veil_http_failure {
    VEIL_HTTP_FAIL_NONE = 0,
    VEIL_HTTP_FAIL_CONNECT,   /* name did not resolve, refused, reset before a response */
    VEIL_HTTP_FAIL_TIMEOUT,   /* connect or overall timeout */
    VEIL_HTTP_FAIL_TLS,       /* handshake or certificate verification failed */
    VEIL_HTTP_FAIL_TOO_LARGE, /* response body over max_response */
    VEIL_HTTP_FAIL_ABORTED,   /* a callback asked to stop, or cancelled() said so */
    VEIL_HTTP_FAIL_PROTOCOL,  /* malformed response, or the connection broke mid-response */
    VEIL_HTTP_FAIL_USAGE,     /* bad URL, method or header */
} veil_http_failure;

const char *veil_http_failure_name(veil_http_failure f); /* "connect", "timeout"... */

#define VEIL_HTTP_NO_TIMEOUT UINT32_MAX

typedef struct veil_http_client_opts {
    unsigned connect_timeout_ms; /* 0 = 10 000 */
    unsigned timeout_ms;         /* the whole exchange; 0 = 60 000; VEIL_HTTP_NO_TIMEOUT */
    size_t max_response;         /* response body limit; 0 = 16 MiB */
    unsigned max_redirects;      /* 0 = never follow (default); veil_http_fetch only */
    const char *ca_file;         /* https trust anchors (PEM); NULL = system store */
    const char *proxy;           /* NULL = no proxy (environment ignored) */
} veil_http_client_opts;

typedef struct veil_http_header {
    const char *name;
    const char *value;
} veil_http_header;

typedef struct veil_http_client_request {
    const char *method;              /* NULL: POST when there is a body, else GET */
    const char *url;                 /* http:// or https:// */
    const char *content_type;        /* of the body, or NULL */
    const veil_http_header *headers; /* extra request headers, or NULL */
    size_t n_headers;
    /* The body: held in memory... */
    const void *body;
    size_t body_len;
    /* ...or produced by a blocking reader (read_body != NULL). read_len is
     * its exact length, sent as Content-Length; 0 = unknown, sent chunked. */
    veil_http_read_fn read_body;
    void *read_ctx;
    uint64_t read_len;
} veil_http_client_request;

/* Only Host, framing (Content-Length or Transfer-Encoding), Content-Type and
 * the caller's headers are sent: no Accept, User-Agent or Expect. */

typedef struct veil_http_client_response {
    long status;                                   /* final status; 0 if none received */
    char content_type[VEIL_HTTP_CONTENT_TYPE_MAX]; /* "" when absent */
    veil_buf body;                                 /* veil_http_fetch only */
    veil_http_failure failure;                     /* set when the call fails */
} veil_http_client_response;

/* One exchange with the body buffered in out->body (bounded by max_response).
 * opts may be NULL. out is reset on entry; free it with
 * veil_http_client_response_free whatever the result. */
VEIL_MUST_USE veil_result veil_http_fetch(const veil_http_client_request *req,
                                          const veil_http_client_opts *opts,
                                          veil_http_client_response *out);
VEIL_MUST_USE veil_result veil_http_get(const char *url, const veil_http_client_opts *opts,
                                        veil_http_client_response *out);
VEIL_MUST_USE veil_result veil_http_post(const char *url, const char *content_type,
                                         const void *body, size_t len,
                                         const veil_http_client_opts *opts,
                                         veil_http_client_response *out);
void veil_http_client_response_free(veil_http_client_response *r);

/* Where a streamed response goes. All callbacks run on the caller's thread. */
typedef struct veil_http_client_sink {
    /* Once, when the final response head has arrived (before any body, also
     * for an empty body); nonzero aborts. May be NULL. */
    int (*on_head)(void *ctx, long status, const char *content_type);
    veil_http_write_fn on_body;   /* each piece as it arrives; may be NULL (discard) */
    bool (*cancelled)(void *ctx); /* polled at least every 100 ms; true aborts; may be NULL */
    void *ctx;
} veil_http_client_sink;

/* One exchange with the response body delivered piece by piece (its total
 * still bounded by max_response). Never follows redirects. out->status and
 * out->content_type are filled as for veil_http_fetch; out->body stays empty. */
VEIL_MUST_USE veil_result veil_http_fetch_stream(const veil_http_client_request *req,
                                                 const veil_http_client_opts *opts,
                                                 const veil_http_client_sink *sink,
                                                 veil_http_client_response *out);

/* An absolute http:// or https:// URL with a host and without user info. */
VEIL_MUST_USE veil_result veil_http_url_check(const char *url);

#ifdef __cplusplus
}
#endif
#endif
