/* Raw P-256 public keys for the TDX quote's attestation key (notes §4:
 * OSSL_PARAM_BLD with the group name and the uncompressed point 0x04||x||y,
 * then EVP_PKEY_fromdata). A veil_pubkey is the EVP_PKEY itself (x509.c), so
 * the result goes straight to veil_ecdsa_verify_raw. */
#include "crypto/tdx_crypto.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

veil_result veil_p256_pubkey_from_raw(const uint8_t xy[64], veil_pubkey **out)
{
    veil_result res = VEIL_OK;
    uint8_t point[65];
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *check = NULL;
    *out = NULL;
    point[0] = 0x04; /* SEC 1 uncompressed point */
    memcpy(point + 1, xy, 64);
    bld = OSSL_PARAM_BLD_new();
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    VEIL_ENSURE_GOTO(res, bld && ctx, VEIL_E_NOMEM, "p256: out of memory");
    VEIL_ENSURE_GOTO(
        res,
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) ==
                1,
        VEIL_E_NOMEM, "p256: out of memory");
    params = OSSL_PARAM_BLD_to_param(bld);
    VEIL_ENSURE_GOTO(res, params != NULL, VEIL_E_NOMEM, "p256: out of memory");
    VEIL_ENSURE_GOTO(res, EVP_PKEY_fromdata_init(ctx) == 1, VEIL_E_INTERNAL,
                     "p256: cannot import a key");
    /* fromdata decodes the point and fails when it is not on the curve */
    VEIL_ENSURE_GOTO(res, EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1,
                     VEIL_E_PROTOCOL, "p256: the key is not a point on P-256");
    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    VEIL_ENSURE_GOTO(res, check != NULL, VEIL_E_NOMEM, "p256: out of memory");
    VEIL_ENSURE_GOTO(res, EVP_PKEY_public_check(check) == 1, VEIL_E_PROTOCOL,
                     "p256: the key is not a valid P-256 public key");
    *out = (veil_pubkey *)pkey;
    pkey = NULL;
out:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    ERR_clear_error();
    return res;
}
