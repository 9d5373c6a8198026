/* ES384 keys and signatures on OpenSSL 3.0. OpenSSL speaks DER ECDSA
 * signatures; JOSE (RFC 7518 §3.4) wants fixed-width r||s, so we convert. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <string.h>

#include "crypto/digest.h"
#include "veil/base64.h"
#include "veil/mem.h"
#include "veil/sign.h"

struct veil_sign_key {
    EVP_PKEY *pkey;
    int has_private;
};

static veil_result wrap(EVP_PKEY *pkey, int has_private, veil_sign_key **out)
{
    *out = NULL;
    if (!pkey)
        return VEIL_ERR(VEIL_E_INTERNAL, "sign: key creation failed");
    char group[32] = {0};
    size_t glen = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &glen) != 1 ||
        strcmp(group, "secp384r1") != 0) {
        EVP_PKEY_free(pkey);
        return VEIL_ERR(VEIL_E_USAGE, "sign: the key is not an EC P-384 key");
    }
    veil_sign_key *k = veil_calloc(1, sizeof *k);
    if (!k) {
        EVP_PKEY_free(pkey);
        return VEIL_ERR(VEIL_E_NOMEM, "out of memory");
    }
    k->pkey = pkey;
    k->has_private = has_private;
    *out = k;
    return VEIL_OK;
}

veil_result veil_sign_key_generate(veil_sign_key **out)
{
    return wrap(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"), 1, out);
}

veil_result veil_sign_key_from_pem(const uint8_t *pem, size_t len, veil_sign_key **out)
{
    *out = NULL;
    VEIL_ENSURE(len <= INT32_MAX, VEIL_E_USAGE, "sign: PEM too large");
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    VEIL_ENSURE(bio != NULL, VEIL_E_NOMEM, "out of memory");
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    int priv = pkey != NULL;
    if (!pkey) {
        (void)BIO_reset(bio);
        pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    }
    BIO_free(bio);
    VEIL_ENSURE(pkey != NULL, VEIL_E_PROTOCOL, "sign: not a PEM private or public key");
    return wrap(pkey, priv, out);
}

static veil_result bio_to_buf(BIO *bio, veil_buf *out)
{
    char *p;
    long n = BIO_get_mem_data(bio, &p);
    return n > 0 ? veil_buf_append(out, p, (size_t)n)
                 : VEIL_ERR(VEIL_E_INTERNAL, "sign: PEM encoding failed");
}

veil_result veil_sign_key_private_pem(const veil_sign_key *k, veil_buf *out)
{
    VEIL_ENSURE(k->has_private, VEIL_E_USAGE, "sign: this is a public key");
    BIO *bio = BIO_new(BIO_s_mem());
    VEIL_ENSURE(bio != NULL, VEIL_E_NOMEM, "out of memory");
    veil_result r = PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) == 1
                        ? bio_to_buf(bio, out)
                        : VEIL_ERR(VEIL_E_INTERNAL, "sign: PEM encoding failed");
    /* the memory BIO held the private key: clear it before freeing */
    char *p;
    long n = BIO_get_mem_data(bio, &p);
    if (n > 0)
        veil_wipe(p, (size_t)n);
    BIO_free(bio);
    return r;
}

veil_result veil_sign_key_public_pem(const veil_sign_key *k, veil_buf *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    VEIL_ENSURE(bio != NULL, VEIL_E_NOMEM, "out of memory");
    veil_result r = PEM_write_bio_PUBKEY(bio, k->pkey) == 1
                        ? bio_to_buf(bio, out)
                        : VEIL_ERR(VEIL_E_INTERNAL, "sign: PEM encoding failed");
    BIO_free(bio);
    return r;
}

int veil_sign_key_has_private(const veil_sign_key *k) { return k->has_private; }

/* Uncompressed point 04||x||y, 97 bytes for P-384. */
static veil_result public_point(const veil_sign_key *k, uint8_t pt[97])
{
    size_t n = 0;
    VEIL_ENSURE(EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, pt, 97, &n) ==
                        1 &&
                    n == 97 && pt[0] == 0x04,
                VEIL_E_INTERNAL, "sign: cannot read the public key");
    return VEIL_OK;
}

/* RFC 7638: SHA-256 of {"crv":"P-384","kty":"EC","x":"..","y":".."}. */
veil_result veil_sign_key_thumbprint(const veil_sign_key *k, char out[44])
{
    uint8_t pt[97], digest[32];
    veil_buf jwk, b64;
    veil_buf_init(&jwk, 0);
    veil_buf_init(&b64, 0);
    veil_result r = public_point(k, pt);
    static const char *parts[] = {"{\"crv\":\"P-384\",\"kty\":\"EC\",\"x\":\"", "\",\"y\":\"",
                                  "\"}"};
    if (veil_ok(r))
        r = veil_buf_append(&jwk, parts[0], strlen(parts[0]));
    if (veil_ok(r))
        r = veil_base64url_encode(pt + 1, 48, &jwk);
    if (veil_ok(r))
        r = veil_buf_append(&jwk, parts[1], strlen(parts[1]));
    if (veil_ok(r))
        r = veil_base64url_encode(pt + 49, 48, &jwk);
    if (veil_ok(r))
        r = veil_buf_append(&jwk, parts[2], strlen(parts[2]));
    if (veil_ok(r)) {
        r = veil_sha256(jwk.data, jwk.len, digest);
        if (veil_ok(r))
            r = veil_base64url_encode(digest, sizeof digest, &b64);
    }
    if (veil_ok(r) && b64.len == 43) {
        memcpy(out, b64.data, 43);
        out[43] = '\0';
    } else if (veil_ok(r)) {
        r = VEIL_ERR(VEIL_E_INTERNAL, "sign: thumbprint has an unexpected length");
    }
    veil_buf_free(&jwk);
    veil_buf_free(&b64);
    return r;
}

veil_result veil_es384_sign(const veil_sign_key *k, const uint8_t *msg, size_t len,
                            uint8_t sig[VEIL_ES384_SIG_LEN])
{
    veil_result r = VEIL_OK;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ECDSA_SIG *es = NULL;
    unsigned char der[128];
    size_t der_len = sizeof der;
    VEIL_ENSURE_GOTO(r, k->has_private, VEIL_E_USAGE, "sign: a public key cannot sign");
    VEIL_ENSURE_GOTO(
        r,
        md && EVP_DigestSignInit_ex(md, NULL, "SHA384", NULL, NULL, k->pkey, NULL) == 1 &&
            EVP_DigestSign(md, der, &der_len, msg, len) == 1,
        VEIL_E_INTERNAL, "sign: ECDSA signing failed");
    const unsigned char *p = der;
    es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    VEIL_ENSURE_GOTO(r, es != NULL, VEIL_E_INTERNAL, "sign: bad ECDSA signature encoding");
    VEIL_ENSURE_GOTO(r,
                     BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 48) == 48 &&
                         BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 48, 48) == 48,
                     VEIL_E_INTERNAL, "sign: signature component too large");
out:
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    return r;
}

veil_result veil_es384_verify(const veil_sign_key *k, const uint8_t *msg, size_t len,
                              const uint8_t *sig, size_t sig_len)
{
    veil_result r = VEIL_OK;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *br = NULL, *bs = NULL;
    unsigned char *der = NULL;
    VEIL_ENSURE_GOTO(r, sig_len == VEIL_ES384_SIG_LEN, VEIL_E_CRYPTO,
                     "sign: ES384 signature must be 96 bytes");
    br = BN_bin2bn(sig, 48, NULL);
    bs = BN_bin2bn(sig + 48, 48, NULL);
    VEIL_ENSURE_GOTO(r, md && es && br && bs && ECDSA_SIG_set0(es, br, bs) == 1, VEIL_E_NOMEM,
                     "out of memory");
    br = bs = NULL; /* owned by es */
    int der_len = i2d_ECDSA_SIG(es, &der);
    VEIL_ENSURE_GOTO(r, der_len > 0, VEIL_E_INTERNAL, "sign: cannot encode the signature");
    VEIL_ENSURE_GOTO(r, EVP_DigestVerifyInit_ex(md, NULL, "SHA384", NULL, NULL, k->pkey, NULL) == 1,
                     VEIL_E_INTERNAL, "sign: verifier setup failed");
    VEIL_ENSURE_GOTO(r, EVP_DigestVerify(md, der, (size_t)der_len, msg, len) == 1, VEIL_E_CRYPTO,
                     "sign: ES384 signature does not verify");
out:
    OPENSSL_free(der);
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    return r;
}

void veil_sign_key_free(veil_sign_key *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    veil_free(k);
}
