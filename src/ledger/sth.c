/* Signed tree heads: the signed bytes are the JCS encoding of
 *   {"log_id","root_hash","timestamp","tree_size","version":"veil-sth-v1"}
 * (veil/ledger.h); verification rebuilds exactly those bytes from the parsed
 * fields and checks the ES384 signature over them. */
#include <string.h>

#include "ledger/ledger_internal.h"
#include "veil/mem.h"

#define STH_VERSION "veil-sth-v1"

static bool log_id_valid(const char *s, size_t n)
{
    if (n != VEIL_LEDGER_LOG_ID_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* The five signed members, without the signature. */
static json_t *signed_object(const veil_sth *sth)
{
    return json_pack("{s:s,s:o,s:I,s:I,s:s}", "log_id", sth->log_id, "root_hash",
                     veil_ledger_json_b64_new(sth->root_hash, HASH_LEN), "timestamp",
                     (json_int_t)sth->timestamp_ms, "tree_size", (json_int_t)sth->tree_size,
                     "version", STH_VERSION);
}

veil_result veil_sth_signed_bytes(const veil_sth *sth, veil_buf *out)
{
    VEIL_ENSURE(sth->tree_size < VEIL_LEDGER_MAX_SIZE && sth->timestamp_ms < VEIL_LEDGER_MAX_SIZE,
                VEIL_E_USAGE, "ledger: tree size or timestamp is not below 2^53");
    VEIL_ENSURE(log_id_valid(sth->log_id, strnlen(sth->log_id, sizeof sth->log_id)), VEIL_E_USAGE,
                "ledger: tree head log_id is not a 43-character key thumbprint");
    json_t *o = signed_object(sth);
    VEIL_ENSURE(o != NULL, VEIL_E_NOMEM, "ledger: out of memory encoding a tree head");
    veil_result r = veil_jcs_serialize(o, out);
    json_decref(o);
    return r;
}

veil_result veil_sth_sign(veil_sth *sth, const veil_sign_key *key)
{
    veil_buf msg;
    veil_result res = VEIL_OK;
    veil_buf_init(&msg, 0);
    VEIL_TRY(res, veil_sign_key_thumbprint(key, sth->log_id));
    VEIL_TRY(res, veil_sth_signed_bytes(sth, &msg));
    VEIL_TRY(res, veil_es384_sign(key, msg.data, msg.len, sth->signature));
out:
    veil_buf_free(&msg);
    return res;
}

veil_result veil_sth_verify(const veil_sth *sth, const veil_sign_key *log_key)
{
    char want[VEIL_LEDGER_LOG_ID_LEN + 1];
    veil_buf msg;
    veil_result res = VEIL_OK;
    veil_buf_init(&msg, 0);
    VEIL_ENSURE_GOTO(res, sth && log_key, VEIL_E_USAGE, "ledger: tree head check lacks inputs");
    VEIL_TRY(res, veil_sign_key_thumbprint(log_key, want));
    VEIL_ENSURE_GOTO(res,
                     veil_public_equal(want, VEIL_LEDGER_LOG_ID_LEN, sth->log_id,
                                       strnlen(sth->log_id, sizeof sth->log_id)),
                     VEIL_E_CRYPTO,
                     "ledger: tree head is from another log (log_id is not the pinned key's)");
    VEIL_TRY(res, veil_sth_signed_bytes(sth, &msg));
    res = veil_es384_verify(log_key, msg.data, msg.len, sth->signature, VEIL_ES384_SIG_LEN);
    if (!veil_ok(res))
        res = VEIL_ERR(VEIL_E_CRYPTO,
                       "ledger: tree head signature does not verify under the log key");
out:
    veil_buf_free(&msg);
    return res;
}

json_t *veil_sth_json(const veil_sth *sth)
{
    json_t *o = signed_object(sth);
    if (o &&
        json_object_set_new(o, "signature",
                            veil_ledger_json_b64_new(sth->signature, VEIL_ES384_SIG_LEN)) != 0) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

veil_result veil_sth_to_json(const veil_sth *sth, veil_buf *out)
{
    VEIL_ENSURE(sth->tree_size < VEIL_LEDGER_MAX_SIZE && sth->timestamp_ms < VEIL_LEDGER_MAX_SIZE,
                VEIL_E_USAGE, "ledger: tree size or timestamp is not below 2^53");
    json_t *o = veil_sth_json(sth);
    VEIL_ENSURE(o != NULL, VEIL_E_NOMEM, "ledger: out of memory encoding a tree head");
    veil_result r = veil_jcs_serialize(o, out);
    json_decref(o);
    return r;
}

veil_result veil_sth_from_object(const json_t *obj, veil_sth *out)
{
    static const char *const names[] = {"log_id",    "root_hash", "signature",
                                        "timestamp", "tree_size", "version"};
    memset(out, 0, sizeof *out);
    VEIL_GUARD(veil_ledger_json_only(obj, names, 6,
                                     "ledger: tree head must have exactly log_id, root_hash, "
                                     "signature, timestamp, tree_size and version"));
    const json_t *ver = json_object_get(obj, "version"), *id = json_object_get(obj, "log_id");
    VEIL_ENSURE(json_is_string(ver) &&
                    veil_public_equal(json_string_value(ver), json_string_length(ver), STH_VERSION,
                                      strlen(STH_VERSION)),
                VEIL_E_PROTOCOL, "ledger: tree head version is not veil-sth-v1");
    VEIL_ENSURE(json_is_string(id) && log_id_valid(json_string_value(id), json_string_length(id)),
                VEIL_E_PROTOCOL, "ledger: tree head log_id is not a 43-character key thumbprint");
    memcpy(out->log_id, json_string_value(id), VEIL_LEDGER_LOG_ID_LEN);
    veil_result r =
        veil_ledger_json_u53(json_object_get(obj, "tree_size"), &out->tree_size,
                             "ledger: tree head tree_size is not an integer in [0, 2^53)");
    if (veil_ok(r))
        r = veil_ledger_json_u53(json_object_get(obj, "timestamp"), &out->timestamp_ms,
                                 "ledger: tree head timestamp is not an integer in [0, 2^53)");
    if (veil_ok(r))
        r = veil_ledger_json_b64(json_object_get(obj, "root_hash"), out->root_hash, HASH_LEN,
                                 "ledger: tree head root_hash is not a base64 SHA-256 hash");
    if (veil_ok(r))
        r = veil_ledger_json_b64(json_object_get(obj, "signature"), out->signature,
                                 VEIL_ES384_SIG_LEN,
                                 "ledger: tree head signature is not 96 bytes of base64");
    if (!veil_ok(r))
        memset(out, 0, sizeof *out);
    return r;
}

veil_result veil_sth_from_json(const uint8_t *json, size_t len, veil_sth *out)
{
    json_t *o = NULL;
    memset(out, 0, sizeof *out);
    VEIL_GUARD(
        veil_ledger_json_parse_object(json, len, &o, "ledger: tree head is not a JSON object"));
    veil_result r = veil_sth_from_object(o, out);
    json_decref(o);
    return r;
}
