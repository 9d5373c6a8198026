/* One-shot SHA-2 digests on OpenSSL's EVP_Digest (see digest.h). */
#include <openssl/evp.h>
#include <pthread.h>

#include "crypto/digest.h"
#include "veil/mem.h"

enum { MD_SHA256, MD_SHA384, MD_SHA512, MD_COUNT };

static EVP_MD *g_md[MD_COUNT];
static pthread_once_t g_md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
    g_md[MD_SHA256] = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    g_md[MD_SHA384] = EVP_MD_fetch(NULL, "SHA2-384", NULL);
    g_md[MD_SHA512] = EVP_MD_fetch(NULL, "SHA2-512", NULL);
}

static veil_result digest(int which, const void *data, size_t len, uint8_t *out, size_t out_len)
{
    static const uint8_t empty[1] = {0};
    unsigned int got = 0;
    veil_result res = VEIL_OK;

    pthread_once(&g_md_once, md_fetch);
    VEIL_ENSURE_GOTO(res, g_md[which] != NULL, VEIL_E_INTERNAL, "OpenSSL lacks a SHA-2 digest");
    VEIL_ENSURE_GOTO(res, data != NULL || len == 0, VEIL_E_USAGE, "digest input is NULL");
    VEIL_ENSURE_GOTO(res,
                     EVP_Digest(len ? data : empty, len, out, &got, g_md[which], NULL) == 1 &&
                         got == out_len,
                     VEIL_E_INTERNAL, "SHA-2 digest failed");
out:
    if (!veil_ok(res))
        veil_wipe(out, out_len);
    return res;
}

veil_result veil_sha256(const void *data, size_t len, uint8_t out[VEIL_SHA256_LEN])
{
    return digest(MD_SHA256, data, len, out, VEIL_SHA256_LEN);
}

veil_result veil_sha384(const void *data, size_t len, uint8_t out[VEIL_SHA384_LEN])
{
    return digest(MD_SHA384, data, len, out, VEIL_SHA384_LEN);
}

veil_result veil_sha512(const void *data, size_t len, uint8_t out[VEIL_SHA512_LEN])
{
    return digest(MD_SHA512, data, len, out, VEIL_SHA512_LEN);
}
