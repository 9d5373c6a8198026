/* The KMS's HTTP API (docs/kms.md, "HTTP API") on include/veil/http.h.
 *
 * Public listener:
 *   POST /v1/attest/nonce                         -> {"nonce","expires","ttl"}
 *   POST /v1/keys/{name}/release                  {"nonce","public_key","evidence"}
 *   GET  /ohttp-keys[?name=]                      application/ohttp-keys
 *   GET  /v1/keys/{name}/config                   config + release policy + receipts
 *   GET  /v1/kms/public-keys                      ledger and EAR verification keys
 *   GET  /v1/ledger/sth
 *   GET  /v1/ledger/entry?index=
 *   GET  /v1/ledger/proof/inclusion?index=&size=
 *   GET  /v1/ledger/proof/consistency?from=&to=
 * Admin listener (Authorization: Bearer <token>):
 *   PUT  /admin/keys/{name}            key spec
 *   PUT  /admin/keys/{name}/policy     release policy
 *   PUT  /admin/refvalues              reference values
 *   POST /admin/keys/{name}/rotate
 * Nonce requests and release attempts are rate-limited per client address
 * (429 with Retry-After; a successful release gives its token back).
 * Errors are RFC 9457 problem+json whose "check" member names the check that
 * failed; release refusals also carry "ledger_index" (where the refusal was
 * recorded) and "ear" (the signed attestation result) when there is one. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json_util.h"
#include "common/ratelimit.h"
#include "kms/kms_internal.h"
#include "veil/base64.h"
#include "veil/http.h"
#include "veil/ledger.h"
#include "veil/mem.h"
#include "veil/rand.h"

#define DEFAULT_MAX_AGE 300
#define PUBLIC_MAX_BODY ((size_t)3 << 20) /* a 1 MiB bundle, base64 inside JSON */
#define ADMIN_MAX_BODY ((size_t)512 << 10)
#define RL_SETS 1024 /* 8 192 client buckets */

typedef struct listener {
    struct veil_kms_service *svc;
    bool admin;
    veil_http_server *srv;
} listener;

struct veil_kms_service {
    veil_kms *k;
    pthread_mutex_t lock; /* one request at a time in the KMS */
    veil_kms_service_config cfg;
    char ohttp_name[VEIL_KMS_NAME_MAX + 1];
    listener pub, adm;
    bool rl_ready;
    veil_ratelimit rl; /* nonces and release attempts, per client address */
};

/* ---- helpers ------------------------------------------------------------------ */

static void log_event(struct veil_kms_service *s, json_t *ev)
{
    if (s->cfg.log && ev) {
        char *t = veil_json_dump(ev);
        if (t)
            s->cfg.log(s->cfg.log_ctx, t);
        veil_free(t);
    }
    json_decref(ev);
}

static void send_json(veil_http_response *resp, unsigned status, json_t *doc)
{
    char *t = doc ? veil_json_dump(doc) : NULL;
    if (!t) {
        veil_http_problem(resp, 500, "internal", NULL, "cannot build the response");
    } else {
        veil_http_resp_set(resp, status, VEIL_HTTP_MT_JSON, t, strlen(t));
        veil_http_resp_header(resp, "Cache-Control", "no-store");
    }
    veil_free(t);
    json_decref(doc);
}

/* problem+json with "check" and optional extension members (taken). */
static void problem(veil_http_response *resp, unsigned status, const char *check, const char *title,
                    const char *detail, json_t *ext)
{
    char slug[40];
    size_t i = 0;
    for (; check[i] && i < sizeof slug - 1; i++)
        slug[i] = check[i] == '_' ? '-' : check[i];
    slug[i] = 0;
    veil_buf b;
    veil_buf_init(&b, 0);
    json_t *doc = NULL;
    if (veil_ok(veil_http_problem_encode(status, slug[0] ? slug : NULL, title, detail, &b)))
        doc = json_loadb((const char *)b.data, b.len, 0, NULL);
    veil_buf_free(&b);
    if (!doc) {
        veil_http_problem(resp, status, NULL, title, NULL);
        json_decref(ext);
        return;
    }
    json_object_set_new(doc, "check", json_string(check));
    if (ext)
        json_object_update(doc, ext);
    json_decref(ext);
    char *t = veil_json_dump(doc);
    json_decref(doc);
    if (t)
        veil_http_resp_set(resp, status, VEIL_HTTP_MT_PROBLEM, t, strlen(t));
    else
        veil_http_problem(resp, 500, NULL, NULL, NULL);
    veil_free(t);
}

/* HTTP status for a problem's check. */
static unsigned status_for(const char *check)
{
    if (!strcmp(check, "request") || !strcmp(check, "public_key") || !strcmp(check, "format"))
        return 400;
    if (!strcmp(check, "key"))
        return 404;
    if (!strcmp(check, "policy") || !strcmp(check, "refvalues") || !strcmp(check, "key_id"))
        return 409;
    if (!strcmp(check, "internal"))
        return 500;
    if (!strcmp(check, "kds"))
        return 503; /* the KDS (or the way to it) is down: try again later */
    return 403;
}

static void kms_problem_resp(veil_http_response *resp, const veil_kms_problem *pb, veil_result r)
{
    if (pb->check[0])
        problem(resp, status_for(pb->check), pb->check, NULL, pb->detail, NULL);
    else
        problem(resp, r.cls == VEIL_E_USAGE || r.cls == VEIL_E_PROTOCOL ? 400 : 500,
                r.cls == VEIL_E_USAGE || r.cls == VEIL_E_PROTOCOL ? "request" : "internal", NULL,
                r.msg, NULL);
}

static bool b64_member(json_t *o, const char *name, veil_buf *out)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s && veil_ok(veil_base64_decode(s, strlen(s), out));
}

static json_t *b64_json(const uint8_t *p, size_t n)
{
    veil_buf b;
    veil_buf_init(&b, 0);
    json_t *j = NULL;
    if (veil_ok(veil_base64_encode(p, n, &b)))
        j = json_stringn((const char *)b.data, b.len);
    veil_buf_free(&b);
    return j;
}

/* "/v1/keys/NAME/SUFFIX" -> NAME when the path has exactly that shape. */
static bool path_name(const char *path, const char *prefix, const char *suffix, char *name)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), n = strlen(path);
    if (n <= pl + sl || strncmp(path, prefix, pl) != 0 || strcmp(path + n - sl, suffix) != 0)
        return false;
    size_t nl = n - pl - sl;
    if (nl > VEIL_KMS_NAME_MAX)
        return false;
    memcpy(name, path + pl, nl);
    name[nl] = 0;
    return kms_name_ok(name);
}

static bool query_u64(const veil_http_request *req, const char *name, uint64_t *out)
{
    const char *v = veil_http_req_query_param(req, name);
    char *end;
    if (!v || !*v || *v == '-' || *v == '+')
        return false;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || errno || x >= VEIL_LEDGER_MAX_SIZE)
        return false;
    *out = x;
    return true;
}

static bool method_is(const veil_http_request *req, veil_http_response *resp, const char *m)
{
    if (!strcmp(veil_http_req_method(req), m))
        return true;
    problem(resp, 405, "request", NULL, "method not allowed on this path", NULL);
    veil_http_resp_header(resp, "Allow", m);
    return false;
}

static bool json_body(const veil_http_request *req, veil_http_response *resp, json_t **out)
{
    size_t len = 0;
    const uint8_t *body = veil_http_req_body(req, &len);
    const char *ct = veil_http_req_header(req, "Content-Type");
    *out = NULL;
    if (!ct || !veil_http_content_type_is(ct, VEIL_HTTP_MT_JSON)) {
        problem(resp, 415, "request", NULL, "send the body as application/json", NULL);
        return false;
    }
    json_error_t err;
    *out = body ? json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &err) : NULL;
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        problem(resp, 400, "request", NULL, "the body must be a JSON object", NULL);
        return false;
    }
    return true;
}

/* ---- public endpoints ------------------------------------------------------------ */

static void h_nonce(struct veil_kms_service *s, veil_http_response *resp)
{
    uint8_t nonce[VEIL_KMS_NONCE_LEN];
    int64_t expires = 0;
    veil_result r = veil_kms_nonce(s->k, nonce, &expires);
    if (!veil_ok(r)) {
        problem(resp, r.cls == VEIL_E_NOMEM ? 503 : 500, "nonce", NULL, r.msg, NULL);
        return;
    }
    send_json(resp, 200,
              json_pack("{s:o,s:I,s:i}", "nonce", b64_json(nonce, sizeof nonce), "expires",
                        (json_int_t)expires, "ttl", VEIL_KMS_NONCE_TTL));
}

/* ---- the release request body (public: the fuzz target calls it) ------------------------ */

void veil_kms_release_body_free(veil_kms_release_body *b)
{
    if (!b)
        return;
    veil_buf_free(&b->nonce);
    veil_buf_free(&b->public_key);
    veil_buf_free(&b->evidence);
}

veil_result veil_kms_release_body_parse(const uint8_t *body, size_t len, veil_kms_release_body *out)
{
    veil_result r = VEIL_OK;
    json_error_t err;
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "release body: NULL output");
    veil_buf_init(&out->nonce, 0);
    veil_buf_init(&out->public_key, 0);
    veil_buf_init(&out->evidence, 0);
    VEIL_ENSURE(body != NULL || len == 0, VEIL_E_USAGE, "release body: NULL input");
    json_t *doc = body ? json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &err) : NULL;
    VEIL_ENSURE_GOTO(r, json_is_object(doc), VEIL_E_PROTOCOL, "the body must be a JSON object");
    json_t *ev = json_object_get(doc, "evidence");
    VEIL_ENSURE_GOTO(r,
                     b64_member(doc, "nonce", &out->nonce) &&
                         b64_member(doc, "public_key", &out->public_key) && json_is_object(ev) &&
                         veil_ok(veil_jcs_serialize(ev, &out->evidence)),
                     VEIL_E_PROTOCOL,
                     "the body is {\"nonce\": base64, \"public_key\": base64 (32-byte X25519), "
                     "\"evidence\": {evidence bundle}}");
out:
    json_decref(doc);
    if (!veil_ok(r))
        veil_kms_release_body_free(out);
    return r;
}

static void h_release(struct veil_kms_service *s, const veil_http_request *req,
                      veil_http_response *resp, const char *name)
{
    json_t *out = NULL;
    veil_kms_release_body b;
    veil_kms_release_response rr;
    size_t len = 0;
    const uint8_t *body = veil_http_req_body(req, &len);
    const char *ct = veil_http_req_header(req, "Content-Type");
    veil_buf_init(&b.nonce, 0);
    veil_buf_init(&b.public_key, 0);
    veil_buf_init(&b.evidence, 0);
    memset(&rr, 0, sizeof rr);
    if (!ct || !veil_http_content_type_is(ct, VEIL_HTTP_MT_JSON)) {
        problem(resp, 415, "request", NULL, "send the body as application/json", NULL);
        goto out;
    }
    veil_result pr = veil_kms_release_body_parse(body, len, &b);
    if (!veil_ok(pr)) {
        problem(resp, 400, "request", NULL, pr.msg, NULL);
        goto out;
    }
    veil_kms_release_request q = {name,        b.evidence.data,   b.evidence.len,  b.nonce.data,
                                  b.nonce.len, b.public_key.data, b.public_key.len};
    veil_result r = veil_kms_release(s->k, &q, &rr);
    log_event(s, json_pack("{s:s,s:s,s:s,s:s,s:I}", "event", "release", "name", name, "outcome",
                           rr.released ? "released" : "refused", "check",
                           rr.released ? "" : rr.problem.check, "ledger_index",
                           rr.recorded ? (json_int_t)rr.ledger_index : (json_int_t)-1));
    if (!veil_ok(r)) {
        problem(resp, 500, "internal", NULL, "the KMS failed; nothing was released", NULL);
        goto out;
    }
    if (!rr.released) {
        json_t *ext = json_object();
        if (rr.recorded)
            json_object_set_new(ext, "ledger_index", json_integer((json_int_t)rr.ledger_index));
        if (rr.ear.len)
            json_object_set_new(ext, "ear", json_stringn((const char *)rr.ear.data, rr.ear.len));
        char detail[sizeof rr.problem.detail];
        snprintf(detail, sizeof detail, "%s", rr.problem.detail);
        char title[80];
        snprintf(title, sizeof title, "Release refused: the %s check failed", rr.problem.check);
        problem(resp, status_for(rr.problem.check), rr.problem.check, title, detail, ext);
        goto out;
    }
    if (s->rl_ready) /* only refusals count against the address */
        veil_rl_refund(&s->rl, veil_http_req_client_addr(req));
    json_t *ids = json_array();
    for (size_t i = 0; ids && i < rr.n_key_ids; i++)
        json_array_append_new(ids, json_integer(rr.key_ids[i]));
    veil_buf receipt;
    veil_buf_init(&receipt, 0);
    json_t *rj = NULL;
    if (veil_ok(veil_ledger_receipt(veil_kms_ledger(s->k), rr.ledger_index, &receipt)))
        rj = json_loadb((const char *)receipt.data, receipt.len, 0, NULL);
    veil_buf_free(&receipt);
    out = json_pack("{s:s,s:o,s:{s:i,s:i,s:i},s:s,s:o,s:o,s:s#,s:I,s:o}", "name", name, "key_ids",
                    ids, "suite", "kem", VEIL_HPKE_KEM_X25519, "kdf", VEIL_HPKE_KDF_SHA256, "aead",
                    VEIL_HPKE_AEAD_AES128GCM, "info", VEIL_RELEASE_HPKE_INFO, "enc",
                    b64_json(rr.enc, rr.enc_len), "sealed", b64_json(rr.sealed.data, rr.sealed.len),
                    "ear", (const char *)rr.ear.data, (int)rr.ear.len, "ledger_index",
                    (json_int_t)rr.ledger_index, "receipt", rj ? rj : json_null());
    send_json(resp, 200, out);
out:
    veil_kms_release_response_free(&rr);
    veil_kms_release_body_free(&b);
}

static void h_ohttp_keys(struct veil_kms_service *s, const veil_http_request *req,
                         veil_http_response *resp)
{
    veil_buf body, names;
    veil_kms_problem pb;
    int64_t not_after = 0;
    char name[VEIL_KMS_NAME_MAX + 1];
    json_t *list = NULL;
    veil_buf_init(&body, 0);
    veil_buf_init(&names, 0);
    memset(&pb, 0, sizeof pb);
    const char *q = veil_http_req_query_param(req, "name");
    if (q) {
        snprintf(name, sizeof name, "%s", q);
    } else if (s->ohttp_name[0]) {
        snprintf(name, sizeof name, "%s", s->ohttp_name);
    } else {
        /* the only ohttp key there is */
        if (veil_ok(veil_kms_key_names(s->k, "ohttp", &names)))
            list = json_loadb((const char *)names.data, names.len, 0, NULL);
        if (json_array_size(list) != 1) {
            problem(resp, 404, "key", NULL,
                    "name the key: GET /ohttp-keys?name=NAME (there is not exactly one ohttp key)",
                    NULL);
            goto out;
        }
        snprintf(name, sizeof name, "%s", json_string_value(json_array_get(list, 0)));
    }
    veil_result r = veil_kms_ohttp_keys(s->k, name, &body, &not_after, &pb);
    if (!veil_ok(r)) {
        kms_problem_resp(resp, &pb, r);
        goto out;
    }
    /* max-age: the configured lifetime, never past the current keys' end,
     * minus up to 10% jitter so caches do not all refresh at once */
    int64_t age = s->cfg.keys_max_age ? s->cfg.keys_max_age : DEFAULT_MAX_AGE;
    int64_t now = veil_kms_now(s->k);
    if (not_after > 0 && not_after - now < age)
        age = not_after - now > 0 ? not_after - now : 0;
    uint8_t rnd[2] = {0, 0};
    if (veil_ok(veil_random_bytes(rnd, sizeof rnd)) && age >= 10)
        age -= (int64_t)(((unsigned)rnd[0] << 8 | rnd[1]) % (unsigned)(age / 10 + 1));
    char cc[48];
    snprintf(cc, sizeof cc, "max-age=%lld", (long long)age);
    veil_http_resp_take(resp, 200, VEIL_OHTTP_MT_KEYS, &body);
    veil_http_resp_header(resp, "Cache-Control", cc);
out:
    json_decref(list);
    veil_buf_free(&body);
    veil_buf_free(&names);
}

static void h_key_config(struct veil_kms_service *s, veil_http_response *resp, const char *name)
{
    veil_buf out;
    veil_kms_problem pb;
    veil_buf_init(&out, 0);
    memset(&pb, 0, sizeof pb);
    veil_result r = veil_kms_key_config(s->k, name, &out, &pb);
    if (!veil_ok(r))
        kms_problem_resp(resp, &pb, r);
    else
        veil_http_resp_take(resp, 200, VEIL_HTTP_MT_JSON, &out);
    veil_buf_free(&out);
}

static void h_public_keys(struct veil_kms_service *s, veil_http_response *resp)
{
    veil_buf l, e;
    char lid[44], eid[44];
    veil_buf_init(&l, 0);
    veil_buf_init(&e, 0);
    if (!veil_ok(veil_sign_key_public_pem(veil_kms_ledger_key(s->k), &l)) ||
        !veil_ok(veil_sign_key_public_pem(veil_kms_ear_key(s->k), &e)) ||
        !veil_ok(veil_sign_key_thumbprint(veil_kms_ledger_key(s->k), lid)) ||
        !veil_ok(veil_sign_key_thumbprint(veil_kms_ear_key(s->k), eid))) {
        problem(resp, 500, "internal", NULL, "cannot export the public keys", NULL);
    } else {
        send_json(resp, 200,
                  json_pack("{s:s#,s:s,s:s#,s:s}", "ledger_key", (const char *)l.data, (int)l.len,
                            "log_id", lid, "ear_key", (const char *)e.data, (int)e.len, "ear_kid",
                            eid));
    }
    veil_buf_free(&l);
    veil_buf_free(&e);
}

static void h_ledger(struct veil_kms_service *s, const veil_http_request *req,
                     veil_http_response *resp, const char *path)
{
    veil_ledger *l = veil_kms_ledger(s->k);
    veil_buf b;
    veil_merkle_proof proof;
    veil_sth sth;
    uint64_t a = 0, z = 0;
    veil_result r = VEIL_ERR(VEIL_E_USAGE, "bad query");
    veil_buf_init(&b, 0);
    if (!strcmp(path, "/v1/ledger/sth")) {
        r = veil_ledger_latest_sth(l, &sth);
        if (veil_ok(r))
            r = veil_sth_to_json(&sth, &b);
    } else if (!strcmp(path, "/v1/ledger/entry")) {
        if (query_u64(req, "index", &a))
            r = veil_ledger_entry(l, a, &b);
    } else if (!strcmp(path, "/v1/ledger/proof/inclusion")) {
        if (query_u64(req, "index", &a) && query_u64(req, "size", &z))
            r = veil_ledger_inclusion_proof(l, a, z, &proof);
        if (veil_ok(r))
            r = veil_merkle_proof_to_json(&proof, &b);
    } else if (!strcmp(path, "/v1/ledger/proof/consistency")) {
        if (query_u64(req, "from", &a) && query_u64(req, "to", &z))
            r = veil_ledger_consistency_proof(l, a, z, &proof);
        if (veil_ok(r))
            r = veil_merkle_proof_to_json(&proof, &b);
    } else {
        problem(resp, 404, "request", NULL,
                "ledger resources: sth, entry?index=I, proof/inclusion?index=I&size=N, "
                "proof/consistency?from=M&to=N",
                NULL);
        goto out;
    }
    if (!veil_ok(r)) {
        problem(resp, r.cls == VEIL_E_USAGE ? 400 : 500, "ledger", NULL, r.msg, NULL);
        goto out;
    }
    veil_http_resp_take(resp, 200, VEIL_HTTP_MT_JSON, &b);
    veil_http_resp_header(resp, "Cache-Control", "no-store");
out:
    veil_buf_free(&b);
}

static void public_handler(struct veil_kms_service *s, veil_http_request *req,
                           veil_http_response *resp)
{
    const char *path = veil_http_req_path(req);
    char name[VEIL_KMS_NAME_MAX + 1];
    if (!strcmp(path, "/v1/attest/nonce")) {
        if (method_is(req, resp, "POST"))
            h_nonce(s, resp);
    } else if (path_name(path, "/v1/keys/", "/release", name)) {
        if (method_is(req, resp, "POST"))
            h_release(s, req, resp, name);
    } else if (!strcmp(path, "/ohttp-keys")) {
        if (method_is(req, resp, "GET"))
            h_ohttp_keys(s, req, resp);
    } else if (path_name(path, "/v1/keys/", "/config", name)) {
        if (method_is(req, resp, "GET"))
            h_key_config(s, resp, name);
    } else if (!strcmp(path, "/v1/kms/public-keys")) {
        if (method_is(req, resp, "GET"))
            h_public_keys(s, resp);
    } else if (!strncmp(path, "/v1/ledger/", 11)) {
        if (method_is(req, resp, "GET"))
            h_ledger(s, req, resp, path);
    } else {
        problem(resp, 404, "request", NULL, "no such resource", NULL);
    }
}

/* ---- admin endpoints ----------------------------------------------------------------- */

static bool authorised(struct veil_kms_service *s, const veil_http_request *req,
                       veil_http_response *resp)
{
    const char *h = veil_http_req_header(req, "Authorization");
    if (h && !strncmp(h, "Bearer ", 7) && veil_kms_admin_ok(s->k, h + 7, strlen(h + 7)))
        return true;
    problem(resp, 401, "admin", NULL,
            "send the admin token from `veil kms init` as Authorization: Bearer TOKEN", NULL);
    veil_http_resp_header(resp, "WWW-Authenticate", "Bearer realm=\"veil-kms-admin\"");
    return false;
}

static void admin_done(struct veil_kms_service *s, veil_http_response *resp, const char *action,
                       const char *name, veil_result r, const veil_kms_problem *pb)
{
    log_event(s, json_pack("{s:s,s:s,s:s,s:b,s:s}", "event", "admin", "action", action, "name",
                           name, "ok", veil_ok(r), "check", veil_ok(r) ? "" : pb->check));
    if (!veil_ok(r)) {
        kms_problem_resp(resp, pb, r);
        return;
    }
    if (name[0])
        h_key_config(s, resp, name);
    else
        send_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static void admin_handler(struct veil_kms_service *s, veil_http_request *req,
                          veil_http_response *resp)
{
    const char *path = veil_http_req_path(req);
    char name[VEIL_KMS_NAME_MAX + 1] = "";
    veil_kms_problem pb;
    json_t *body = NULL;
    char *text = NULL;
    veil_result r;
    memset(&pb, 0, sizeof pb);
    if (!authorised(s, req, resp))
        return;
    bool refv = !strcmp(path, "/admin/refvalues");
    bool pol = path_name(path, "/admin/keys/", "/policy", name);
    bool rot = !pol && path_name(path, "/admin/keys/", "/rotate", name);
    bool create = !refv && !pol && !rot && !strncmp(path, "/admin/keys/", 12) &&
                  strlen(path + 12) <= VEIL_KMS_NAME_MAX && kms_name_ok(path + 12);
    if (rot) {
        if (method_is(req, resp, "POST")) {
            r = veil_kms_rotate(s->k, name, &pb);
            admin_done(s, resp, "rotate", name, r, &pb);
        }
        return;
    }
    if (!refv && !pol && !create) {
        problem(resp, 404, "request", NULL,
                "admin resources: PUT /admin/keys/NAME, PUT /admin/keys/NAME/policy, PUT "
                "/admin/refvalues, POST /admin/keys/NAME/rotate",
                NULL);
        return;
    }
    if (!method_is(req, resp, "PUT") || !json_body(req, resp, &body))
        return;
    text = veil_json_dump(body);
    json_decref(body);
    if (!text) {
        problem(resp, 500, "internal", NULL, "out of memory", NULL);
        return;
    }
    if (refv) {
        r = veil_kms_set_refvalues(s->k, text, strlen(text), &pb);
        admin_done(s, resp, "refvalues", "", r, &pb);
    } else if (pol) {
        r = veil_kms_set_policy(s->k, name, text, strlen(text), &pb);
        admin_done(s, resp, "policy", name, r, &pb);
    } else {
        snprintf(name, sizeof name, "%s", path + 12);
        r = veil_kms_key_create(s->k, name, text, strlen(text), &pb);
        admin_done(s, resp, "create", name, r, &pb);
    }
    veil_free(text);
}

/* ---- rate limit ------------------------------------------------------------------------ */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Nonces and release attempts cost a token; checked before the KMS lock so
 * a flood is answered without queueing behind real work. */
static bool rate_ok(struct veil_kms_service *s, veil_http_request *req, veil_http_response *resp)
{
    const char *path = veil_http_req_path(req);
    char name[VEIL_KMS_NAME_MAX + 1], after[16];
    unsigned retry = 0;
    if (!s->rl_ready || strcmp(veil_http_req_method(req), "POST") != 0 ||
        (strcmp(path, "/v1/attest/nonce") != 0 && !path_name(path, "/v1/keys/", "/release", name)))
        return true;
    if (veil_rl_take(&s->rl, veil_http_req_client_addr(req), mono_ms(), &retry))
        return true;
    snprintf(after, sizeof after, "%u", retry);
    problem(resp, 429, "rate_limit", NULL,
            "too many nonce requests or refused releases from this address; retry after the "
            "Retry-After seconds",
            json_pack("{s:i}", "retry_after", (int)retry));
    veil_http_resp_header(resp, "Retry-After", after);
    return false;
}

static void handler(void *ctx, veil_http_request *req, veil_http_response *resp)
{
    listener *l = ctx;
    struct veil_kms_service *s = l->svc;
    if (!l->admin && !rate_ok(s, req, resp))
        return;
    pthread_mutex_lock(&s->lock);
    if (l->admin)
        admin_handler(s, req, resp);
    else
        public_handler(s, req, resp);
    pthread_mutex_unlock(&s->lock);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

veil_result veil_kms_service_start(veil_kms *k, const veil_kms_service_config *cfg,
                                   veil_kms_service **out)
{
    veil_result r = VEIL_OK;
    struct veil_kms_service *s = NULL;
    *out = NULL;
    VEIL_ENSURE(k && cfg, VEIL_E_USAGE, "kms service: missing argument");
    VEIL_ENSURE(!cfg->ohttp_name || kms_name_ok(cfg->ohttp_name), VEIL_E_USAGE,
                "kms service: invalid ohttp key name");
    s = veil_calloc(1, sizeof *s);
    VEIL_ENSURE(s != NULL, VEIL_E_NOMEM, "kms service: out of memory");
    pthread_mutex_init(&s->lock, NULL);
    s->k = k;
    s->cfg = *cfg;
    if (cfg->ohttp_name)
        snprintf(s->ohttp_name, sizeof s->ohttp_name, "%s", cfg->ohttp_name);
    s->cfg.ohttp_name = NULL;
    s->pub = (listener){s, false, NULL};
    s->adm = (listener){s, true, NULL};
    veil_http_server_config pc = {.address = cfg->address,
                                  .port = cfg->port,
                                  .max_connections = cfg->max_connections,
                                  .max_body = PUBLIC_MAX_BODY,
                                  .handler = handler,
                                  .ctx = &s->pub};
    veil_http_server_config ac = {.address = cfg->admin_address,
                                  .port = cfg->admin_port,
                                  .max_connections = cfg->max_connections,
                                  .max_body = ADMIN_MAX_BODY,
                                  .handler = handler,
                                  .ctx = &s->adm};
    if (cfg->nonce_rate) {
        unsigned burst = cfg->nonce_burst ? cfg->nonce_burst : 2 * cfg->nonce_rate;
        VEIL_TRY(r, veil_rl_init(&s->rl, cfg->nonce_rate, burst, RL_SETS));
        s->rl_ready = true;
    }
    VEIL_TRY(r, veil_http_server_start(&pc, &s->pub.srv));
    VEIL_TRY(r, veil_http_server_start(&ac, &s->adm.srv));
    *out = s;
    s = NULL;
out:
    veil_kms_service_stop(s);
    return r;
}

uint16_t veil_kms_service_port(const veil_kms_service *s)
{
    return s ? veil_http_server_port(s->pub.srv) : 0;
}

uint16_t veil_kms_service_admin_port(const veil_kms_service *s)
{
    return s ? veil_http_server_port(s->adm.srv) : 0;
}

veil_result veil_kms_service_tick(veil_kms_service *s, unsigned *rotated)
{
    unsigned n = 0;
    pthread_mutex_lock(&s->lock);
    veil_result r = veil_kms_rotate_due(s->k, &n);
    pthread_mutex_unlock(&s->lock);
    if (n)
        log_event(s,
                  json_pack("{s:s,s:i,s:b}", "event", "rotate", "keys", (int)n, "ok", veil_ok(r)));
    if (rotated)
        *rotated = n;
    return r;
}

void veil_kms_service_stop(veil_kms_service *s)
{
    if (!s)
        return;
    veil_http_server_stop(s->pub.srv);
    veil_http_server_stop(s->adm.srv);
    if (s->rl_ready)
        veil_rl_free(&s->rl);
    pthread_mutex_destroy(&s->lock);
    veil_free(s);
}
