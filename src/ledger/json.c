/* Strict JSON field helpers for the ledger's wire formats, and proofs as
 * JSON arrays of base64 hashes. */
#include <string.h>
#include <time.h>

#include "ledger/ledger_internal.h"
#include "veil/base64.h"
#include "veil/mem.h"

/* Largest JSON document the ledger parses (a receipt with a 1 MiB entry,
 * escaped, fits). */
#define JSON_MAX ((size_t)8 << 20)

veil_result veil_ledger_json_u53(const json_t *v, uint64_t *out, const char *msg)
{
    *out = 0;
    VEIL_ENSURE(json_is_integer(v), VEIL_E_PROTOCOL, msg);
    json_int_t i = json_integer_value(v);
    VEIL_ENSURE(i >= 0 && (uint64_t)i < VEIL_LEDGER_MAX_SIZE, VEIL_E_PROTOCOL, msg);
    *out = (uint64_t)i;
    return VEIL_OK;
}

veil_result veil_ledger_json_b64(const json_t *v, uint8_t *out, size_t n, const char *msg)
{
    veil_buf b;
    veil_result res = VEIL_OK;
    veil_buf_init(&b, n + 3);
    VEIL_ENSURE_GOTO(res, json_is_string(v) && json_string_length(v) == (n + 2) / 3 * 4,
                     VEIL_E_PROTOCOL, msg);
    VEIL_ENSURE_GOTO(res,
                     veil_ok(veil_base64_decode(json_string_value(v), json_string_length(v), &b)) &&
                         b.len == n,
                     VEIL_E_PROTOCOL, msg);
    memcpy(out, b.data, n);
out:
    veil_buf_free(&b);
    return res;
}

veil_result veil_ledger_json_only(const json_t *obj, const char *const *names, size_t n,
                                  const char *msg)
{
    VEIL_ENSURE(json_is_object(obj) && json_object_size(obj) == n, VEIL_E_PROTOCOL, msg);
    for (size_t i = 0; i < n; i++)
        VEIL_ENSURE(json_object_get(obj, names[i]) != NULL, VEIL_E_PROTOCOL, msg);
    return VEIL_OK;
}

json_t *veil_ledger_json_b64_new(const uint8_t *p, size_t n)
{
    veil_buf b;
    veil_buf_init(&b, 0);
    json_t *s = NULL;
    if (veil_ok(veil_base64_encode(p, n, &b)))
        s = json_stringn((const char *)b.data, b.len);
    veil_buf_free(&b);
    return s;
}

veil_result veil_ledger_json_parse_object(const uint8_t *json, size_t len, json_t **out,
                                          const char *msg)
{
    *out = NULL;
    VEIL_ENSURE(json != NULL && len <= JSON_MAX, VEIL_E_PROTOCOL, msg);
    json_t *v = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(v)) {
        json_decref(v);
        return VEIL_ERR(VEIL_E_PROTOCOL, msg);
    }
    *out = v;
    return VEIL_OK;
}

uint64_t veil_ledger_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

veil_result veil_merkle_proof_to_json(const veil_merkle_proof *p, veil_buf *out)
{
    veil_result res = VEIL_OK;
    json_t *arr = json_array();
    VEIL_ENSURE_GOTO(res, arr != NULL, VEIL_E_NOMEM, "ledger: out of memory writing a proof");
    VEIL_ENSURE_GOTO(res, p->len <= VEIL_MERKLE_MAX_PROOF, VEIL_E_USAGE,
                     "ledger: proof longer than 64 hashes");
    for (size_t i = 0; i < p->len; i++)
        VEIL_ENSURE_GOTO(
            res, json_array_append_new(arr, veil_ledger_json_b64_new(p->hash[i], HASH_LEN)) == 0,
            VEIL_E_NOMEM, "ledger: out of memory writing a proof");
    VEIL_TRY(res, veil_jcs_serialize(arr, out));
out:
    json_decref(arr);
    return res;
}

veil_result veil_ledger_proof_from_array(const json_t *arr, veil_merkle_proof *out)
{
    out->len = 0;
    VEIL_ENSURE(json_is_array(arr), VEIL_E_PROTOCOL, "ledger: proof is not a JSON array");
    VEIL_ENSURE(json_array_size(arr) <= VEIL_MERKLE_MAX_PROOF, VEIL_E_PROTOCOL,
                "ledger: proof has more than 64 hashes");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        veil_result r = veil_ledger_json_b64(json_array_get(arr, i), out->hash[i], HASH_LEN,
                                             "ledger: proof step is not a base64 SHA-256 hash");
        if (!veil_ok(r)) {
            out->len = 0;
            return r;
        }
    }
    out->len = json_array_size(arr);
    return VEIL_OK;
}

veil_result veil_merkle_proof_from_json(const uint8_t *json, size_t len, veil_merkle_proof *out)
{
    out->len = 0;
    VEIL_ENSURE(json != NULL && len <= JSON_MAX, VEIL_E_PROTOCOL,
                "ledger: proof is not a JSON array");
    json_t *arr = json_loadb((const char *)json, len, 0, NULL);
    veil_result r = veil_ledger_proof_from_array(arr, out);
    json_decref(arr);
    return r;
}
