/* veil/attester.h: pick a backend, hold where it lives, dispatch. */
#include <stdlib.h>
#include <string.h>

#include "attest/attester_internal.h"
#include "veil/attester.h"
#include "veil/mem.h"

typedef enum attester_kind { KIND_TSM, KIND_SIM } attester_kind;

struct veil_attester {
    attester_kind kind;
    char where[VEIL_ATTESTER_PATH_MAX];
};

veil_result veil_attester_open(const char *kind, const char *where, veil_attester **out)
{
    veil_attester *a = NULL;
    veil_result res = VEIL_OK;

    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "attester: no output pointer");
    *out = NULL;
    VEIL_ENSURE(kind != NULL, VEIL_E_USAGE, "attester: no kind given (\"tsm\" or \"sim\")");
    a = veil_calloc(1, sizeof *a);
    VEIL_ENSURE(a != NULL, VEIL_E_NOMEM, "out of memory");
    if (!strcmp(kind, "tsm")) {
        a->kind = KIND_TSM;
        if (!where || !*where)
            where = VEIL_TSM_DEFAULT_DIR;
    } else if (!strcmp(kind, "sim")) {
        a->kind = KIND_SIM;
        if (!where || !*where)
            where = getenv(VEIL_SIM_SOCKET_ENV);
        VEIL_ENSURE_GOTO(res, where && *where, VEIL_E_USAGE,
                         "not running under `veil sim launch`: $VEIL_SIM_SOCKET is not set");
    } else {
        res = VEIL_ERR(VEIL_E_USAGE, "attester: unknown kind (expected \"tsm\" or \"sim\")");
        goto out;
    }
    VEIL_ENSURE_GOTO(res, strlen(where) < sizeof a->where, VEIL_E_USAGE, "attester: path too long");
    memcpy(a->where, where, strlen(where) + 1);
    VEIL_TRY(res,
             a->kind == KIND_TSM ? veil_tsm_check_dir(a->where) : veil_simsock_check(a->where));
    *out = a;
    a = NULL;
out:
    veil_free(a);
    return res;
}

veil_result veil_attester_evidence(veil_attester *a, const uint8_t report_data[64], unsigned vmpl,
                                   veil_evidence *out)
{
    VEIL_ENSURE(a && report_data && out, VEIL_E_USAGE, "attester: missing argument");
    VEIL_ENSURE(vmpl <= 3, VEIL_E_USAGE, "attester: VMPL must be 0..3");
    if (a->kind == KIND_TSM)
        return veil_tsm_evidence(a->where, report_data, vmpl, out);
    return veil_simsock_evidence(a->where, report_data, vmpl, out);
}

veil_result veil_attester_derived_key(veil_attester *a, const char *context, uint8_t *key,
                                      size_t key_len)
{
    VEIL_ENSURE(a && context && key, VEIL_E_USAGE, "attester: missing argument");
    if (a->kind == KIND_TSM) {
        memset(key, 0, key_len);
        return VEIL_ERR(VEIL_E_UNSUPPORTED,
                        "configfs-tsm offers no derived keys (SNP MSG_KEY_REQ needs "
                        "/dev/sev-guest, which veil does not use yet)");
    }
    return veil_simsock_derived_key(a->where, context, key, key_len);
}

const char *veil_attester_kind(const veil_attester *a)
{
    if (!a)
        return "";
    return a->kind == KIND_TSM ? "tsm" : "sim";
}

void veil_attester_free(veil_attester *a) { veil_free(a); }
