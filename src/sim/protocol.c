/* The guest socket protocol (sim.h): one JSON request line in, one JSON
 * reply line out. Parsing is strict: an unknown op, a missing or mistyped
 * member, or an unauthorised peer gets {"error": ...} and nothing is signed
 * or derived. */
#include <jansson.h>
#include <string.h>

#include "sim/sim.h"
#include "sim/sim_internal.h"
#include "veil/base64.h"
#include "veil/hex.h"
#include "veil/mem.h"

#define REPLY_MAX ((size_t)64 << 10)
#define DEFAULT_KEY_LEN 32

static const char refused[] = "refused: only the guest launched by this simulator (or a process "
                              "it started) may request reports and keys";

static veil_result reply_error(const char *msg, veil_buf *reply)
{
    json_t *doc = json_pack("{s:s}", "error", msg);
    veil_result r = veil_sim_json_dump(doc, JSON_COMPACT, reply);
    json_decref(doc);
    VEIL_GUARD(r);
    return veil_buf_u8(reply, '\n');
}

/* Set key to the base64 of p (as a JSON string). */
static veil_result set_base64(json_t *obj, const char *key, const uint8_t *p, size_t n)
{
    veil_buf b;
    veil_buf_init(&b, REPLY_MAX);
    veil_result r = veil_base64_encode(p, n, &b);
    if (veil_ok(r) && json_object_set_new(obj, key, json_stringn((const char *)b.data, b.len)))
        r = VEIL_ERR(VEIL_E_NOMEM, "cannot build the reply");
    veil_buf_free(&b);
    return r;
}

static veil_result op_report(const veil_sim_state *s, const veil_sim_guest *g, json_t *req,
                             json_t *reply)
{
    uint8_t report_data[64], report[VEIL_SNP_REPORT_SIZE];
    veil_buf table;
    veil_result res = VEIL_OK;

    veil_buf_init(&table, REPLY_MAX);
    json_t *rd = json_object_get(req, "report_data");
    VEIL_TRY(res, veil_sim_hex_exact(json_string_value(rd), json_string_length(rd), report_data,
                                     sizeof report_data,
                                     "\"report_data\" must be 128 hex digits (64 bytes)"));
    json_t *vmpl = json_object_get(req, "vmpl");
    VEIL_ENSURE_GOTO(res,
                     !vmpl || (json_is_integer(vmpl) && json_integer_value(vmpl) >= 0 &&
                               json_integer_value(vmpl) <= 3),
                     VEIL_E_PROTOCOL, "\"vmpl\" must be an integer 0..3");
    uint32_t level = vmpl ? (uint32_t)json_integer_value(vmpl) : 0;
    VEIL_TRY(res, veil_sim_report(s, g, report_data, level, report));
    VEIL_TRY(res, veil_sim_cert_table(s, &table));
    VEIL_TRY(res, set_base64(reply, "report", report, sizeof report));
    VEIL_TRY(res, set_base64(reply, "cert_table", table.data, table.len));
out:
    veil_buf_free(&table);
    return res;
}

static veil_result op_derived_key(const veil_sim_state *s, const veil_sim_guest *g, json_t *req,
                                  json_t *reply)
{
    uint8_t key[VEIL_SIM_KEY_MAX];
    char hex[2 * VEIL_SIM_KEY_MAX + 1];
    veil_result res = VEIL_OK;

    json_t *ctx = json_object_get(req, "context");
    VEIL_ENSURE(json_is_string(ctx) && json_string_length(ctx) <= VEIL_SIM_MAX_CONTEXT,
                VEIL_E_PROTOCOL, "\"context\" must be a string of at most 256 bytes");
    json_t *len = json_object_get(req, "length");
    VEIL_ENSURE(!len || (json_is_integer(len) && json_integer_value(len) >= VEIL_SIM_KEY_MIN &&
                         json_integer_value(len) <= VEIL_SIM_KEY_MAX),
                VEIL_E_PROTOCOL, "\"length\" must be an integer 16..64");
    size_t key_len = len ? (size_t)json_integer_value(len) : DEFAULT_KEY_LEN;
    VEIL_TRY(res, veil_sim_derive_key(s, g, (const uint8_t *)json_string_value(ctx),
                                      json_string_length(ctx), key, key_len));
    veil_hex_encode(key, key_len, hex);
    VEIL_ENSURE_GOTO(res, json_object_set_new(reply, "key", json_string(hex)) == 0, VEIL_E_NOMEM,
                     "cannot build the reply");
out:
    veil_wipe(key, sizeof key);
    veil_wipe(hex, sizeof hex);
    return res;
}

veil_result veil_sim_handle_request(const veil_sim_state *s, const veil_sim_guest *g,
                                    bool authorized, const uint8_t *req, size_t req_len,
                                    veil_buf *reply)
{
    json_t *doc = NULL, *out = NULL;
    veil_result res = VEIL_OK, op = VEIL_OK;

    if (!authorized)
        return reply_error(refused, reply);
    if (req_len > VEIL_SIM_MAX_REQUEST)
        return reply_error("request too large", reply);
    doc = json_loadb((const char *)req, req_len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(doc)) {
        res = reply_error("request is not a JSON object", reply);
        goto out;
    }
    json_t *name = json_object_get(doc, "op");
    out = json_object();
    VEIL_ENSURE_GOTO(res, out != NULL, VEIL_E_NOMEM, "cannot build the reply");
    if (json_is_string(name) && !strcmp(json_string_value(name), "report"))
        op = op_report(s, g, doc, out);
    else if (json_is_string(name) && !strcmp(json_string_value(name), "derived_key"))
        op = op_derived_key(s, g, doc, out);
    else
        op = VEIL_ERR(VEIL_E_PROTOCOL, "unknown \"op\" (expected \"report\" or \"derived_key\")");
    if (!veil_ok(op)) {
        res = reply_error(op.msg, reply);
        goto out;
    }
    VEIL_TRY(res, veil_sim_json_dump(out, JSON_COMPACT, reply));
    VEIL_TRY(res, veil_buf_u8(reply, '\n'));
out:
    /* The reply object may hold a derived key: jansson frees it unwiped, so
     * keep derived keys short-lived and process-local (the simulator's
     * memory is not protected anyway). */
    json_decref(out);
    json_decref(doc);
    return res;
}
