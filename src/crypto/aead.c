/* One-shot AEAD seal/open (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305) with
 * an explicit key and 12-byte nonce, on EVP_CIPHERs fetched once.
 *
 * Layout: ct = ciphertext || 16-byte tag. Open verifies the tag in
 * EVP_DecryptFinal_ex; until it passes, the plaintext written so far is not
 * released: on failure the whole output is zeroed (libsodium's rule). */
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#include "crypto/hpke_internal.h"
#include "crypto/primitives.h"
#include "veil/mem.h"

#define AEAD_SLOTS 3
/* EVP update lengths are ints: feed long inputs in 1 GiB pieces. */
#define EVP_CHUNK ((size_t)1 << 30)

static EVP_CIPHER *g_ciphers[AEAD_SLOTS];
static pthread_once_t g_ciphers_once = PTHREAD_ONCE_INIT;

static void ciphers_fetch(void)
{
    static const uint16_t ids[] = {VEIL_HPKE_AEAD_AES128GCM, VEIL_HPKE_AEAD_AES256GCM,
                                   VEIL_HPKE_AEAD_CHACHA20POLY1305};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const veil_hpke_aead_desc *d = veil_hpke_aead_find(ids[i]);
        if (d && d->cipher_name && d->slot < AEAD_SLOTS)
            g_ciphers[d->slot] = EVP_CIPHER_fetch(NULL, d->cipher_name, NULL);
    }
}

/* The fetched cipher for aead_id, or an error. */
static veil_result cipher_for(uint16_t aead_id, const EVP_CIPHER **out)
{
    const veil_hpke_aead_desc *d = veil_hpke_aead_find(aead_id);
    VEIL_ENSURE(d != NULL, VEIL_E_UNSUPPORTED, "unsupported HPKE AEAD id");
    VEIL_ENSURE(d->cipher_name != NULL, VEIL_E_USAGE,
                "export-only HPKE suite: seal and open are not available");
    pthread_once(&g_ciphers_once, ciphers_fetch);
    VEIL_ENSURE(d->slot < AEAD_SLOTS && g_ciphers[d->slot] != NULL, VEIL_E_INTERNAL,
                "OpenSSL lacks the AEAD cipher");
    *out = g_ciphers[d->slot];
    return VEIL_OK;
}

/* EVP_CipherUpdate over any length; out NULL feeds AAD. Stream ciphers
 * (GCM, ChaCha20) emit exactly as many bytes as they take. */
static int update_all(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t n)
{
    while (n > 0) {
        size_t piece = n < EVP_CHUNK ? n : EVP_CHUNK;
        int outl = 0;
        if (EVP_CipherUpdate(ctx, out, &outl, in, (int)piece) <= 0 || (size_t)outl != piece)
            return 0;
        in += piece;
        if (out)
            out += piece;
        n -= piece;
    }
    return 1;
}

veil_result veil_aead_seal(uint16_t aead_id, const uint8_t *key, const uint8_t *nonce,
                           const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t pt_len,
                           uint8_t *ct_out)
{
    const EVP_CIPHER *cipher = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    veil_result res = VEIL_OK;
    int outl = 0;

    VEIL_GUARD(cipher_for(aead_id, &cipher));
    VEIL_ENSURE(key != NULL && nonce != NULL && ct_out != NULL, VEIL_E_USAGE,
                "AEAD key, nonce or output is NULL");
    VEIL_ENSURE((aad_len == 0 || aad != NULL) && (pt_len == 0 || pt != NULL), VEIL_E_USAGE,
                "AEAD input is NULL");
    VEIL_ENSURE(pt_len <= SIZE_MAX - VEIL_AEAD_TAG_LEN, VEIL_E_USAGE, "AEAD input too long");

    ctx = EVP_CIPHER_CTX_new();
    VEIL_ENSURE_GOTO(res, ctx != NULL, VEIL_E_NOMEM, "cannot allocate a cipher context");
    VEIL_ENSURE_GOTO(res, EVP_EncryptInit_ex2(ctx, cipher, key, nonce, NULL) > 0, VEIL_E_INTERNAL,
                     "AEAD init failed");
    VEIL_ENSURE_GOTO(res, update_all(ctx, NULL, aad, aad_len), VEIL_E_INTERNAL,
                     "AEAD associated data failed");
    VEIL_ENSURE_GOTO(res, update_all(ctx, ct_out, pt, pt_len), VEIL_E_INTERNAL,
                     "AEAD encryption failed");
    VEIL_ENSURE_GOTO(res, EVP_EncryptFinal_ex(ctx, ct_out + pt_len, &outl) > 0 && outl == 0,
                     VEIL_E_INTERNAL, "AEAD finalisation failed");
    VEIL_ENSURE_GOTO(
        res,
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, VEIL_AEAD_TAG_LEN, ct_out + pt_len) > 0,
        VEIL_E_INTERNAL, "AEAD tag failed");
out:
    EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
    if (!veil_ok(res) && ct_out)
        veil_wipe(ct_out, pt_len + VEIL_AEAD_TAG_LEN);
    return res;
}

veil_result veil_aead_open(uint16_t aead_id, const uint8_t *key, const uint8_t *nonce,
                           const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                           uint8_t *pt_out)
{
    const EVP_CIPHER *cipher = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    veil_result res = VEIL_OK;
    uint8_t tag[VEIL_AEAD_TAG_LEN];
    size_t n = 0;
    int outl = 0;

    VEIL_GUARD(cipher_for(aead_id, &cipher));
    VEIL_ENSURE(key != NULL && nonce != NULL && ct != NULL, VEIL_E_USAGE,
                "AEAD key, nonce or input is NULL");
    VEIL_ENSURE(aad_len == 0 || aad != NULL, VEIL_E_USAGE, "AEAD associated data is NULL");
    VEIL_ENSURE(ct_len >= VEIL_AEAD_TAG_LEN, VEIL_E_CRYPTO,
                "AEAD ciphertext is shorter than its tag");
    n = ct_len - VEIL_AEAD_TAG_LEN;
    VEIL_ENSURE(n == 0 || pt_out != NULL, VEIL_E_USAGE, "AEAD output is NULL");
    memcpy(tag, ct + n, sizeof tag); /* before an in-place decrypt can touch it */

    ctx = EVP_CIPHER_CTX_new();
    VEIL_ENSURE_GOTO(res, ctx != NULL, VEIL_E_NOMEM, "cannot allocate a cipher context");
    VEIL_ENSURE_GOTO(res, EVP_DecryptInit_ex2(ctx, cipher, key, nonce, NULL) > 0, VEIL_E_INTERNAL,
                     "AEAD init failed");
    VEIL_ENSURE_GOTO(res, update_all(ctx, NULL, aad, aad_len), VEIL_E_INTERNAL,
                     "AEAD associated data failed");
    VEIL_ENSURE_GOTO(res, update_all(ctx, pt_out, ct, n), VEIL_E_INTERNAL,
                     "AEAD decryption failed");
    VEIL_ENSURE_GOTO(res, EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, sizeof tag, tag) > 0,
                     VEIL_E_INTERNAL, "AEAD tag failed");
    /* The tag is checked here; nothing before this line is trusted. */
    VEIL_ENSURE_GOTO(res, EVP_DecryptFinal_ex(ctx, pt_out ? pt_out + n : tag, &outl) > 0,
                     VEIL_E_CRYPTO, "AEAD authentication failed");
out:
    EVP_CIPHER_CTX_free(ctx);
    if (!veil_ok(res) && pt_out)
        veil_wipe(pt_out, n);
    return res;
}
