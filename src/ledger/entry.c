/* Ledger entries: canonical JSON objects with a "type" of one of the four
 * kinds the KMS records and a "seq" equal to their leaf index. */
#include <string.h>

#include "ledger/ledger_internal.h"
#include "veil/mem.h"

static const char *const kinds[] = {"refvalues", "policy", "keyconfig", "release"};

static veil_result check_type(const json_t *entry)
{
    VEIL_ENSURE(json_is_object(entry), VEIL_E_PROTOCOL, "ledger: entry is not a JSON object");
    const json_t *t = json_object_get(entry, "type");
    VEIL_ENSURE(json_is_string(t), VEIL_E_PROTOCOL, "ledger: entry has no \"type\" string");
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (veil_public_equal(json_string_value(t), json_string_length(t), kinds[i],
                              strlen(kinds[i])))
            return VEIL_OK;
    return VEIL_ERR(VEIL_E_PROTOCOL,
                    "ledger: entry type is not refvalues, policy, keyconfig or release");
}

veil_result veil_ledger_entry_encode(const json_t *entry, uint64_t index, veil_buf *out)
{
    json_t *copy = NULL;
    veil_buf tmp;
    veil_result res = VEIL_OK;
    veil_buf_init(&tmp, VEIL_LEDGER_MAX_ENTRY);

    VEIL_TRY(res, check_type(entry));
    VEIL_ENSURE_GOTO(res, json_object_get(entry, "seq") == NULL, VEIL_E_USAGE,
                     "ledger: entry must not carry \"seq\"; the ledger assigns it");
    VEIL_ENSURE_GOTO(res, index < VEIL_LEDGER_MAX_SIZE, VEIL_E_NOMEM,
                     "ledger: the log is full (2^53)");
    /* a shallow copy: the caller's object is left as it was */
    copy = json_copy((json_t *)entry);
    VEIL_ENSURE_GOTO(res,
                     copy && json_object_set_new(copy, "seq", json_integer((json_int_t)index)) == 0,
                     VEIL_E_NOMEM, "ledger: out of memory encoding an entry");
    res = veil_jcs_serialize(copy, &tmp);
    if (res.cls == VEIL_E_NOMEM)
        res = VEIL_ERR(VEIL_E_USAGE, "ledger: entry is larger than 1 MiB");
    if (!veil_ok(res))
        goto out;
    VEIL_TRY(res, veil_buf_append(out, tmp.data, tmp.len));
out:
    json_decref(copy);
    veil_buf_free(&tmp);
    return res;
}

veil_result veil_ledger_entry_check(const uint8_t *entry, size_t len, uint64_t index)
{
    json_t *v = NULL;
    veil_buf canon;
    uint64_t seq;
    veil_result res = VEIL_OK;
    veil_buf_init(&canon, 0);

    VEIL_ENSURE_GOTO(res, len <= VEIL_LEDGER_MAX_ENTRY, VEIL_E_PROTOCOL,
                     "ledger: entry is larger than 1 MiB");
    VEIL_TRY(res,
             veil_ledger_json_parse_object(entry, len, &v, "ledger: entry is not a JSON object"));
    VEIL_TRY(res, check_type(v));
    VEIL_TRY(res, veil_ledger_json_u53(json_object_get(v, "seq"), &seq,
                                       "ledger: entry has no integer \"seq\""));
    VEIL_ENSURE_GOTO(res, seq == index, VEIL_E_PROTOCOL,
                     "ledger: entry \"seq\" is not its leaf index");
    VEIL_TRY(res, veil_jcs_serialize(v, &canon));
    VEIL_ENSURE_GOTO(res, veil_public_equal(canon.data, canon.len, entry, len), VEIL_E_PROTOCOL,
                     "ledger: entry is not in RFC 8785 canonical form");
out:
    json_decref(v);
    veil_buf_free(&canon);
    return res;
}
