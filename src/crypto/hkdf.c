/* HKDF (RFC 5869) on OpenSSL's EVP_KDF "HKDF", and HPKE's LabeledExtract /
 * LabeledExpand (RFC 9180 §4) on top of it.
 *
 * The EVP_KDF is fetched once (pthread_once) and shared; each call uses its
 * own EVP_KDF_CTX, which OpenSSL frees with OPENSSL_clear_free on its copies
 * of key and salt. Labeled inputs are assembled in a stack buffer and spill to
 * the heap only for long info/ikm (HPKE info, psk, exporter_context). */
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <pthread.h>
#include <string.h>

#include "crypto/hpke_internal.h"
#include "crypto/primitives.h"
#include "veil/mem.h"

/* OpenSSL 3.0 HKDF rejects info longer than 32,768 bytes. */
#define HKDF_MAX_INFO 32768
/* Labeled inputs up to this size stay on the stack. */
#define LABELED_STACK 256

static const char hpke_v1[7] = {'H', 'P', 'K', 'E', '-', 'v', '1'};

static EVP_KDF *g_hkdf;
static pthread_once_t g_hkdf_once = PTHREAD_ONCE_INIT;

static void hkdf_fetch(void) { g_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL); }

/* One EVP_KDF_derive in the given mode. key must be non-empty or a dummy
 * pointer: OpenSSL refuses a NULL octet-string param. */
static veil_result hkdf_run(const veil_hpke_kdf_desc *kdf, int mode, const uint8_t *key,
                            size_t key_len, const uint8_t *salt, size_t salt_len,
                            const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
    static const uint8_t empty[1] = {0};
    OSSL_PARAM params[6], *p = params;
    EVP_KDF_CTX *kctx = NULL;
    veil_result res = VEIL_OK;

    pthread_once(&g_hkdf_once, hkdf_fetch);
    VEIL_ENSURE_GOTO(res, g_hkdf != NULL, VEIL_E_INTERNAL, "OpenSSL has no HKDF");
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)kdf->md_name, 0);
    *p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)(key_len ? key : empty),
                                             key_len);
    if (salt_len)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    if (info_len)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    *p = OSSL_PARAM_construct_end();

    kctx = EVP_KDF_CTX_new(g_hkdf);
    VEIL_ENSURE_GOTO(res, kctx != NULL, VEIL_E_NOMEM, "cannot allocate an HKDF context");
    VEIL_ENSURE_GOTO(res, EVP_KDF_derive(kctx, out, out_len, params) > 0, VEIL_E_INTERNAL,
                     "HKDF derivation failed");
out:
    EVP_KDF_CTX_free(kctx);
    if (!veil_ok(res))
        veil_wipe(out, out_len);
    return res;
}

veil_result veil_hkdf_extract(uint16_t kdf_id, const uint8_t *salt, size_t salt_len,
                              const uint8_t *ikm, size_t ikm_len, uint8_t *out, size_t out_len)
{
    const veil_hpke_kdf_desc *kdf = veil_hpke_kdf_find(kdf_id);
    VEIL_ENSURE(kdf != NULL, VEIL_E_UNSUPPORTED, "unsupported HPKE KDF id");
    VEIL_ENSURE(out != NULL && out_len == kdf->nh, VEIL_E_USAGE,
                "HKDF-Extract output must be Nh bytes");
    VEIL_ENSURE(salt_len == 0 || salt != NULL, VEIL_E_USAGE, "HKDF salt is NULL");
    VEIL_ENSURE(ikm_len == 0 || ikm != NULL, VEIL_E_USAGE, "HKDF input keying material is NULL");
    return hkdf_run(kdf, EVP_KDF_HKDF_MODE_EXTRACT_ONLY, ikm, ikm_len, salt, salt_len, NULL, 0, out,
                    out_len);
}

veil_result veil_hkdf_expand(uint16_t kdf_id, const uint8_t *prk, size_t prk_len,
                             const uint8_t *info, size_t info_len, uint8_t *out, size_t L)
{
    const veil_hpke_kdf_desc *kdf = veil_hpke_kdf_find(kdf_id);
    VEIL_ENSURE(kdf != NULL, VEIL_E_UNSUPPORTED, "unsupported HPKE KDF id");
    VEIL_ENSURE(prk != NULL && prk_len >= kdf->nh, VEIL_E_USAGE,
                "HKDF-Expand PRK must be at least Nh bytes");
    VEIL_ENSURE(out != NULL && L >= 1 && L <= 255 * kdf->nh, VEIL_E_USAGE,
                "HKDF-Expand length must be 1..255*Nh");
    VEIL_ENSURE(info_len == 0 || info != NULL, VEIL_E_USAGE, "HKDF info is NULL");
    VEIL_ENSURE(info_len <= HKDF_MAX_INFO, VEIL_E_USAGE, "HKDF info is longer than 32768 bytes");
    return hkdf_run(kdf, EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, prk_len, NULL, 0, info, info_len, out,
                    L);
}

/* Assemble prefix || "HPKE-v1" || suite_id || label || data into *buf, which
 * points at `stack` (LABELED_STACK bytes) or a fresh heap block. */
static veil_result labeled_build(uint8_t *stack, uint8_t **buf, size_t *len, const uint8_t *prefix,
                                 size_t prefix_len, const uint8_t *suite_id, size_t suite_id_len,
                                 const char *label, const uint8_t *data, size_t data_len)
{
    size_t label_len = strlen(label);
    VEIL_ENSURE(suite_id_len <= VEIL_HPKE_MAX_SUITE_ID, VEIL_E_USAGE, "HPKE suite_id too long");
    VEIL_ENSURE(data_len <= VEIL_HPKE_MAX_INFO, VEIL_E_USAGE,
                "HPKE labeled input is longer than VEIL_HPKE_MAX_INFO");
    VEIL_ENSURE(data_len == 0 || data != NULL, VEIL_E_USAGE, "HPKE labeled input is NULL");
    size_t n = prefix_len + sizeof hpke_v1 + suite_id_len + label_len + data_len;
    uint8_t *b = stack;
    if (n > LABELED_STACK) {
        b = veil_calloc(n, 1);
        VEIL_ENSURE(b != NULL, VEIL_E_NOMEM, "cannot allocate an HPKE labeled input");
    }
    size_t off = 0;
    if (prefix_len)
        memcpy(b + off, prefix, prefix_len), off += prefix_len;
    memcpy(b + off, hpke_v1, sizeof hpke_v1), off += sizeof hpke_v1;
    if (suite_id_len)
        memcpy(b + off, suite_id, suite_id_len), off += suite_id_len;
    memcpy(b + off, label, label_len), off += label_len;
    if (data_len)
        memcpy(b + off, data, data_len);
    *buf = b;
    *len = n;
    return VEIL_OK;
}

static void labeled_release(uint8_t *stack, uint8_t *buf, size_t len)
{
    if (buf == stack)
        veil_wipe(stack, len);
    else
        veil_free_wiped(buf, len);
}

/* RFC 9180 §4: LabeledExtract(salt, label, ikm) =
 *   Extract(salt, "HPKE-v1" || suite_id || label || ikm). */
veil_result veil_hpke_labeled_extract(uint16_t kdf_id, const uint8_t *suite_id, size_t suite_id_len,
                                      const uint8_t *salt, size_t salt_len, const char *label,
                                      const uint8_t *ikm, size_t ikm_len, uint8_t *out)
{
    uint8_t stack[LABELED_STACK];
    uint8_t *buf = NULL;
    size_t len = 0;
    veil_result res;
    const veil_hpke_kdf_desc *kdf = veil_hpke_kdf_find(kdf_id);
    VEIL_ENSURE(kdf != NULL, VEIL_E_UNSUPPORTED, "unsupported HPKE KDF id");
    VEIL_ENSURE(salt_len == 0 || salt != NULL, VEIL_E_USAGE, "HKDF salt is NULL");
    VEIL_GUARD(
        labeled_build(stack, &buf, &len, NULL, 0, suite_id, suite_id_len, label, ikm, ikm_len));
    res = hkdf_run(kdf, EVP_KDF_HKDF_MODE_EXTRACT_ONLY, buf, len, salt, salt_len, NULL, 0, out,
                   kdf->nh);
    labeled_release(stack, buf, len);
    return res;
}

/* RFC 9180 §4: LabeledExpand(prk, label, info, L) =
 *   Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L). */
veil_result veil_hpke_labeled_expand(uint16_t kdf_id, const uint8_t *suite_id, size_t suite_id_len,
                                     const uint8_t *prk, size_t prk_len, const char *label,
                                     const uint8_t *info, size_t info_len, uint8_t *out, size_t L)
{
    uint8_t stack[LABELED_STACK];
    uint8_t *buf = NULL;
    size_t len = 0;
    veil_result res;
    const veil_hpke_kdf_desc *kdf = veil_hpke_kdf_find(kdf_id);
    VEIL_ENSURE(kdf != NULL, VEIL_E_UNSUPPORTED, "unsupported HPKE KDF id");
    VEIL_ENSURE(prk != NULL && prk_len >= kdf->nh, VEIL_E_USAGE,
                "HKDF-Expand PRK must be at least Nh bytes");
    VEIL_ENSURE(out != NULL && L >= 1 && L <= 255 * kdf->nh, VEIL_E_USAGE,
                "HPKE LabeledExpand length must be 1..255*Nh");
    const uint8_t l2[2] = {(uint8_t)(L >> 8), (uint8_t)L};
    VEIL_GUARD(labeled_build(stack, &buf, &len, l2, sizeof l2, suite_id, suite_id_len, label, info,
                             info_len));
    res = hkdf_run(kdf, EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, prk_len, NULL, 0, buf, len, out, L);
    labeled_release(stack, buf, len);
    return res;
}
