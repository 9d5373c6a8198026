/* DHKEM (RFC 9180 §4.1) over P-256, P-384, P-521, X25519 and X448: key
 * generation, (de)serialisation with validation, DeriveKeyPair (§7.1.3),
 * Encap/AuthEncap and Decap/AuthDecap with ExtractAndExpand.
 *
 * A veil_hpke_key keeps the OpenSSL key next to its serialised public key,
 * so encapsulation never re-encodes. The private key lives only inside the
 * EVP_PKEY (OpenSSL wipes it on free); SerializePrivateKey reads it out on
 * demand.
 *
 * Public-key validation (§7.1.4): NIST points must be uncompressed, on the
 * curve and not the identity (the curves have cofactor 1, so that is full
 * validation); X25519/X448 accept any string, and an all-zero DH output (a
 * low-order peer) fails the DH step: OpenSSL's EVP_PKEY_derive returns 0 for
 * it, and we check the output ourselves as well. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <string.h>

#include "crypto/hpke_internal.h"
#include "veil/mem.h"

#define EC_SLOTS 3
#define MAX_NDH 66

struct veil_hpke_key {
    const veil_hpke_kem_desc *kem;
    EVP_PKEY *pkey;
    size_t pk_len;
    int has_private; /* 0 for a public key alone */
    uint8_t pk[VEIL_HPKE_MAX_PK];
};

/* Curve groups, built once: for scalar range checks, computing a public key
 * from a private one, and decoding points. Used read-only afterwards. */
static EC_GROUP *g_groups[EC_SLOTS];
static pthread_once_t g_groups_once = PTHREAD_ONCE_INIT;

static void groups_build(void)
{
    static const uint16_t ids[] = {VEIL_HPKE_KEM_P256, VEIL_HPKE_KEM_P384, VEIL_HPKE_KEM_P521};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const veil_hpke_kem_desc *k = veil_hpke_kem_find(ids[i]);
        if (k && k->slot < EC_SLOTS)
            g_groups[k->slot] = EC_GROUP_new_by_curve_name(EC_curve_nist2nid(k->ossl_name));
    }
}

static veil_result group_for(const veil_hpke_kem_desc *kem, const EC_GROUP **out)
{
    pthread_once(&g_groups_once, groups_build);
    VEIL_ENSURE(kem->slot < EC_SLOTS && g_groups[kem->slot] != NULL, VEIL_E_INTERNAL,
                "OpenSSL lacks the curve");
    *out = g_groups[kem->slot];
    return VEIL_OK;
}

static veil_result kem_lookup(uint16_t kem_id, const veil_hpke_kem_desc **out)
{
    *out = veil_hpke_kem_find(kem_id);
    VEIL_ENSURE(*out != NULL, VEIL_E_UNSUPPORTED, "unsupported HPKE KEM id");
    return VEIL_OK;
}

/* suite_id = "KEM" || I2OSP(kem_id, 2) (§4.1). */
static void kem_suite_id(const veil_hpke_kem_desc *kem, uint8_t sid[5])
{
    sid[0] = 'K', sid[1] = 'E', sid[2] = 'M';
    sid[3] = (uint8_t)(kem->id >> 8), sid[4] = (uint8_t)kem->id;
}

/* Release what a (possibly stack) key holds and wipe it. */
static void key_clear(veil_hpke_key *k)
{
    EVP_PKEY_free(k->pkey);
    veil_wipe(k, sizeof *k);
}

/* ---- NIST curves ------------------------------------------------------- */

/* 1 when the big-endian scalar s (Nsk bytes) is in [1, order-1]. */
static veil_result ec_scalar_in_range(const veil_hpke_kem_desc *kem, const uint8_t *s, int *ok)
{
    const EC_GROUP *g = NULL;
    BIGNUM *d = NULL;
    veil_result res = VEIL_OK;
    *ok = 0;
    VEIL_TRY(res, group_for(kem, &g));
    d = BN_secure_new();
    VEIL_ENSURE_GOTO(res, d && BN_bin2bn(s, (int)kem->info.n_sk, d), VEIL_E_NOMEM,
                     "cannot allocate a scalar");
    *ok = !BN_is_zero(d) && BN_cmp(d, EC_GROUP_get0_order(g)) < 0;
out:
    BN_clear_free(d);
    return res;
}

/* EVP_PKEY from an encoded point and, for a key pair, the private scalar.
 * OSSL_PARAM integers are native-endian, hence BN_bn2nativepad. */
static veil_result ec_pkey_build(const veil_hpke_kem_desc *kem, const uint8_t *pub, size_t pub_len,
                                 const BIGNUM *priv, EVP_PKEY **out)
{
    uint8_t d_native[VEIL_HPKE_MAX_SK];
    const int n_sk = (int)kem->info.n_sk;
    OSSL_PARAM params[4], *p = params;
    EVP_PKEY_CTX *pctx = NULL;
    veil_result res = VEIL_OK;

    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)kem->ossl_name, 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pub, pub_len);
    if (priv) {
        VEIL_ENSURE_GOTO(res, BN_bn2nativepad(priv, d_native, n_sk) == n_sk, VEIL_E_INTERNAL,
                         "cannot encode the EC private key");
        *p++ = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, d_native, (size_t)n_sk);
    }
    *p = OSSL_PARAM_construct_end();
    pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    VEIL_ENSURE_GOTO(res, pctx && EVP_PKEY_fromdata_init(pctx) > 0, VEIL_E_INTERNAL,
                     "cannot create an EC key context");
    VEIL_ENSURE_GOTO(
        res,
        EVP_PKEY_fromdata(pctx, out, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) > 0,
        VEIL_E_PROTOCOL, "invalid EC key");
out:
    EVP_PKEY_CTX_free(pctx);
    veil_wipe(d_native, sizeof d_native);
    return res;
}

/* DeserializePrivateKey for NIST curves: sk is Nsk big-endian bytes in
 * [1, order-1]; pk = sk*G via EC_POINT_mul (OpenSSL 3.0's fromdata does not
 * compute it). */
static veil_result ec_from_private(veil_hpke_key *k, const uint8_t *sk)
{
    const veil_hpke_kem_desc *kem = k->kem;
    const EC_GROUP *g = NULL;
    BIGNUM *d = NULL;
    EC_POINT *pt = NULL;
    veil_result res = VEIL_OK;

    VEIL_TRY(res, group_for(kem, &g));
    d = BN_secure_new();
    VEIL_ENSURE_GOTO(res, d && BN_bin2bn(sk, (int)kem->info.n_sk, d), VEIL_E_NOMEM,
                     "cannot allocate a scalar");
    VEIL_ENSURE_GOTO(res, !BN_is_zero(d) && BN_cmp(d, EC_GROUP_get0_order(g)) < 0, VEIL_E_PROTOCOL,
                     "EC private key out of range");
    pt = EC_POINT_new(g);
    VEIL_ENSURE_GOTO(res, pt && EC_POINT_mul(g, pt, d, NULL, NULL, NULL), VEIL_E_INTERNAL,
                     "cannot compute the EC public key");
    k->pk_len = EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, k->pk, sizeof k->pk, NULL);
    VEIL_ENSURE_GOTO(res, k->pk_len == kem->info.n_pk, VEIL_E_INTERNAL,
                     "cannot encode the EC public key");
    VEIL_TRY(res, ec_pkey_build(kem, k->pk, k->pk_len, d, &k->pkey));
    k->has_private = 1;
out:
    EC_POINT_free(pt);
    BN_clear_free(d);
    return res;
}

/* DeserializePublicKey for NIST curves: an uncompressed SEC1 point that is on
 * the curve and not the identity. */
static veil_result ec_from_public(veil_hpke_key *k, const uint8_t *pk, size_t pk_len)
{
    const veil_hpke_kem_desc *kem = k->kem;
    const EC_GROUP *g = NULL;
    EC_POINT *pt = NULL;
    veil_result res = VEIL_OK;

    VEIL_ENSURE_GOTO(res, pk_len == kem->info.n_pk && pk[0] == 0x04, VEIL_E_PROTOCOL,
                     "EC public key is not an uncompressed point of the right length");
    VEIL_TRY(res, group_for(kem, &g));
    pt = EC_POINT_new(g);
    VEIL_ENSURE_GOTO(res, pt != NULL, VEIL_E_NOMEM, "cannot allocate an EC point");
    VEIL_ENSURE_GOTO(res,
                     EC_POINT_oct2point(g, pt, pk, pk_len, NULL) == 1 &&
                         EC_POINT_is_on_curve(g, pt, NULL) == 1 && !EC_POINT_is_at_infinity(g, pt),
                     VEIL_E_PROTOCOL, "EC public key is not a valid curve point");
    VEIL_TRY(res, ec_pkey_build(kem, pk, pk_len, NULL, &k->pkey));
    memcpy(k->pk, pk, pk_len);
    k->pk_len = pk_len;
out:
    EC_POINT_free(pt);
    return res;
}

static veil_result ec_generate(veil_hpke_key *k)
{
    const veil_hpke_kem_desc *kem = k->kem;
    k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", kem->ossl_name);
    VEIL_ENSURE(k->pkey != NULL, VEIL_E_INTERNAL, "EC key generation failed");
    VEIL_ENSURE(EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, k->pk,
                                                sizeof k->pk, &k->pk_len) > 0 &&
                    k->pk_len == kem->info.n_pk && k->pk[0] == 0x04,
                VEIL_E_INTERNAL, "cannot encode the EC public key");
    k->has_private = 1;
    return VEIL_OK;
}

/* SerializePrivateKey for NIST curves: the scalar as Nsk big-endian bytes. */
static veil_result ec_private(const veil_hpke_key *k, uint8_t *out)
{
    BIGNUM *d = NULL;
    veil_result res = VEIL_OK;
    const int n = (int)k->kem->info.n_sk;
    VEIL_ENSURE_GOTO(res, EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) > 0,
                     VEIL_E_INTERNAL, "cannot read the EC private key");
    VEIL_ENSURE_GOTO(res, BN_bn2binpad(d, out, n) == n, VEIL_E_INTERNAL,
                     "cannot encode the EC private key");
out:
    BN_clear_free(d);
    return res;
}

/* ---- X25519 / X448 ----------------------------------------------------- */

static veil_result x_from_private(veil_hpke_key *k, const uint8_t *sk)
{
    const veil_hpke_kem_desc *kem = k->kem;
    k->pkey = EVP_PKEY_new_raw_private_key_ex(NULL, kem->ossl_name, NULL, sk, kem->info.n_sk);
    VEIL_ENSURE(k->pkey != NULL, VEIL_E_PROTOCOL, "invalid X25519/X448 private key");
    k->pk_len = sizeof k->pk;
    VEIL_ENSURE(EVP_PKEY_get_raw_public_key(k->pkey, k->pk, &k->pk_len) > 0 &&
                    k->pk_len == kem->info.n_pk,
                VEIL_E_INTERNAL, "cannot encode the X25519/X448 public key");
    k->has_private = 1;
    return VEIL_OK;
}

static veil_result x_from_public(veil_hpke_key *k, const uint8_t *pk, size_t pk_len)
{
    const veil_hpke_kem_desc *kem = k->kem;
    VEIL_ENSURE(pk_len == kem->info.n_pk, VEIL_E_PROTOCOL,
                "X25519/X448 public key has the wrong length");
    k->pkey = EVP_PKEY_new_raw_public_key_ex(NULL, kem->ossl_name, NULL, pk, pk_len);
    VEIL_ENSURE(k->pkey != NULL, VEIL_E_PROTOCOL, "invalid X25519/X448 public key");
    memcpy(k->pk, pk, pk_len);
    k->pk_len = pk_len;
    return VEIL_OK;
}

static veil_result x_generate(veil_hpke_key *k)
{
    const veil_hpke_kem_desc *kem = k->kem;
    k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, kem->ossl_name);
    VEIL_ENSURE(k->pkey != NULL, VEIL_E_INTERNAL, "X25519/X448 key generation failed");
    k->pk_len = sizeof k->pk;
    VEIL_ENSURE(EVP_PKEY_get_raw_public_key(k->pkey, k->pk, &k->pk_len) > 0 &&
                    k->pk_len == kem->info.n_pk,
                VEIL_E_INTERNAL, "cannot encode the X25519/X448 public key");
    k->has_private = 1;
    return VEIL_OK;
}

/* ---- Deserialisation into a caller-owned struct ------------------------- */

static veil_result key_load_private(veil_hpke_key *k, const veil_hpke_kem_desc *kem,
                                    const uint8_t *sk, size_t sk_len)
{
    k->kem = kem;
    VEIL_ENSURE(sk != NULL && sk_len == kem->info.n_sk, VEIL_E_PROTOCOL,
                "HPKE private key has the wrong length");
    return kem->kind == VEIL_HPKE_KEM_KIND_EC ? ec_from_private(k, sk) : x_from_private(k, sk);
}

static veil_result key_load_public(veil_hpke_key *k, const veil_hpke_kem_desc *kem,
                                   const uint8_t *pk, size_t pk_len)
{
    k->kem = kem;
    VEIL_ENSURE(pk != NULL && pk_len == kem->info.n_pk, VEIL_E_PROTOCOL,
                "HPKE public key has the wrong length");
    return kem->kind == VEIL_HPKE_KEM_KIND_EC ? ec_from_public(k, pk, pk_len)
                                              : x_from_public(k, pk, pk_len);
}

/* Move a loaded stack key to the heap for the caller. */
static veil_result key_publish(veil_hpke_key *k, veil_hpke_key **out)
{
    veil_hpke_key *h = veil_calloc(1, sizeof *h);
    VEIL_ENSURE(h != NULL, VEIL_E_NOMEM, "cannot allocate an HPKE key");
    *h = *k;
    veil_wipe(k, sizeof *k); /* ownership of pkey moved to h */
    *out = h;
    return VEIL_OK;
}

/* ---- Public key API ----------------------------------------------------- */

veil_result veil_hpke_key_generate(uint16_t kem_id, veil_hpke_key **out)
{
    const veil_hpke_kem_desc *kem = NULL;
    veil_hpke_key k = {0};
    veil_result res = VEIL_OK;

    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "output key pointer is NULL");
    *out = NULL;
    VEIL_TRY(res, kem_lookup(kem_id, &kem));
    k.kem = kem;
    VEIL_TRY(res, kem->kind == VEIL_HPKE_KEM_KIND_EC ? ec_generate(&k) : x_generate(&k));
    VEIL_TRY(res, key_publish(&k, out));
out:
    key_clear(&k);
    return res;
}

veil_result veil_hpke_key_from_private(uint16_t kem_id, const uint8_t *sk, size_t sk_len,
                                       veil_hpke_key **out)
{
    const veil_hpke_kem_desc *kem = NULL;
    veil_hpke_key k = {0};
    veil_result res = VEIL_OK;

    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "output key pointer is NULL");
    *out = NULL;
    VEIL_TRY(res, kem_lookup(kem_id, &kem));
    VEIL_TRY(res, key_load_private(&k, kem, sk, sk_len));
    VEIL_TRY(res, key_publish(&k, out));
out:
    key_clear(&k);
    return res;
}

veil_result veil_hpke_key_from_public(uint16_t kem_id, const uint8_t *pk, size_t pk_len,
                                      veil_hpke_key **out)
{
    const veil_hpke_kem_desc *kem = NULL;
    veil_hpke_key k = {0};
    veil_result res = VEIL_OK;

    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "output key pointer is NULL");
    *out = NULL;
    VEIL_TRY(res, kem_lookup(kem_id, &kem));
    VEIL_TRY(res, key_load_public(&k, kem, pk, pk_len));
    VEIL_TRY(res, key_publish(&k, out));
out:
    key_clear(&k);
    return res;
}

/* RFC 9180 §7.1.3 DeriveKeyPair(ikm):
 *   dkp_prk = LabeledExtract("", "dkp_prk", ikm)
 *   X25519/X448: sk = LabeledExpand(dkp_prk, "sk", "", Nsk)
 *   NIST curves: for counter 0..255:
 *     bytes = LabeledExpand(dkp_prk, "candidate", I2OSP(counter, 1), Nsk)
 *     bytes[0] &= bitmask; sk = OS2IP(bytes); stop when 0 < sk < order. */
veil_result veil_hpke_key_derive(uint16_t kem_id, const uint8_t *ikm, size_t ikm_len,
                                 veil_hpke_key **out)
{
    const veil_hpke_kem_desc *kem = NULL;
    uint8_t sid[5];
    uint8_t dkp_prk[VEIL_HPKE_MAX_NH];
    uint8_t sk[VEIL_HPKE_MAX_SK];
    veil_result res = VEIL_OK;

    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "output key pointer is NULL");
    *out = NULL;
    VEIL_TRY(res, kem_lookup(kem_id, &kem));
    VEIL_ENSURE_GOTO(res, ikm != NULL && ikm_len >= kem->info.n_sk, VEIL_E_USAGE,
                     "DeriveKeyPair input keying material is shorter than Nsk");
    kem_suite_id(kem, sid);
    VEIL_TRY(res, veil_hpke_labeled_extract(kem->kdf, sid, sizeof sid, NULL, 0, "dkp_prk", ikm,
                                            ikm_len, dkp_prk));
    size_t nh = veil_hpke_kdf_nh(kem->kdf);
    if (kem->kind == VEIL_HPKE_KEM_KIND_X) {
        VEIL_TRY(res, veil_hpke_labeled_expand(kem->kdf, sid, sizeof sid, dkp_prk, nh, "sk", NULL,
                                               0, sk, kem->info.n_sk));
    } else {
        int found = 0;
        for (unsigned counter = 0; counter < 256 && !found; counter++) {
            const uint8_t c = (uint8_t)counter;
            VEIL_TRY(res, veil_hpke_labeled_expand(kem->kdf, sid, sizeof sid, dkp_prk, nh,
                                                   "candidate", &c, 1, sk, kem->info.n_sk));
            sk[0] &= kem->bitmask;
            VEIL_TRY(res, ec_scalar_in_range(kem, sk, &found));
        }
        VEIL_ENSURE_GOTO(res, found, VEIL_E_CRYPTO, "DeriveKeyPair found no valid scalar");
    }
    VEIL_TRY(res, veil_hpke_key_from_private(kem_id, sk, kem->info.n_sk, out));
out:
    veil_wipe(dkp_prk, sizeof dkp_prk);
    veil_wipe(sk, sizeof sk);
    return res;
}

uint16_t veil_hpke_key_kem(const veil_hpke_key *key) { return key ? key->kem->id : 0; }

int veil_hpke_key_has_private(const veil_hpke_key *key) { return key && key->has_private; }

veil_result veil_hpke_key_public(const veil_hpke_key *key, uint8_t *out, size_t cap, size_t *len)
{
    VEIL_ENSURE(key != NULL && out != NULL && len != NULL, VEIL_E_USAGE, "NULL argument");
    VEIL_ENSURE(cap >= key->pk_len, VEIL_E_USAGE, "public key buffer too small");
    memcpy(out, key->pk, key->pk_len);
    *len = key->pk_len;
    return VEIL_OK;
}

veil_result veil_hpke_key_private(const veil_hpke_key *key, uint8_t *out, size_t cap, size_t *len)
{
    VEIL_ENSURE(key != NULL && out != NULL && len != NULL, VEIL_E_USAGE, "NULL argument");
    VEIL_ENSURE(key->has_private, VEIL_E_USAGE, "HPKE key has no private part");
    const size_t n_sk = key->kem->info.n_sk;
    VEIL_ENSURE(cap >= n_sk, VEIL_E_USAGE, "private key buffer too small");
    *len = 0;
    if (key->kem->kind == VEIL_HPKE_KEM_KIND_EC) {
        VEIL_GUARD(ec_private(key, out));
    } else {
        size_t got = n_sk;
        if (EVP_PKEY_get_raw_private_key(key->pkey, out, &got) <= 0 || got != n_sk) {
            veil_wipe(out, n_sk);
            return VEIL_ERR(VEIL_E_INTERNAL, "cannot encode the X25519/X448 private key");
        }
    }
    *len = n_sk;
    return VEIL_OK;
}

void veil_hpke_key_free(veil_hpke_key *key)
{
    if (!key)
        return;
    key_clear(key);
    veil_free_wiped(key, sizeof *key);
}

/* ---- DHKEM -------------------------------------------------------------- */

/* DH(sk, pk) into out (Ndh bytes). An all-zero result is an error (§7.1.4). */
static veil_result dh(const veil_hpke_key *sk, const veil_hpke_key *pk, uint8_t *out)
{
    const size_t ndh = sk->kem->ndh;
    EVP_PKEY_CTX *ctx = NULL;
    veil_result res = VEIL_OK;
    size_t len = ndh;
    uint8_t acc = 0;

    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, sk->pkey, NULL);
    VEIL_ENSURE_GOTO(res, ctx && EVP_PKEY_derive_init(ctx) > 0, VEIL_E_INTERNAL,
                     "cannot start a DH computation");
    /* The peer was validated when it was deserialised. */
    VEIL_ENSURE_GOTO(res, EVP_PKEY_derive_set_peer_ex(ctx, pk->pkey, 0) > 0, VEIL_E_CRYPTO,
                     "DH peer key rejected");
    VEIL_ENSURE_GOTO(res, EVP_PKEY_derive(ctx, out, &len) > 0 && len == ndh, VEIL_E_CRYPTO,
                     "DH failed (low-order or invalid public key)");
    for (size_t i = 0; i < ndh; i++)
        acc |= out[i];
    VEIL_ENSURE_GOTO(res, acc != 0, VEIL_E_CRYPTO, "DH output is all zero");
out:
    EVP_PKEY_CTX_free(ctx);
    if (!veil_ok(res))
        veil_wipe(out, ndh);
    return res;
}

/* ExtractAndExpand(dh, kem_context) (§4.1):
 *   eae_prk = LabeledExtract("", "eae_prk", dh)
 *   shared_secret = LabeledExpand(eae_prk, "shared_secret", kem_context, Nsecret) */
static veil_result extract_and_expand(const veil_hpke_kem_desc *kem, const uint8_t *dhv,
                                      size_t dh_len, const uint8_t *kem_context, size_t ctx_len,
                                      uint8_t *shared_secret)
{
    uint8_t sid[5];
    uint8_t eae_prk[VEIL_HPKE_MAX_NH];
    veil_result res = VEIL_OK;

    kem_suite_id(kem, sid);
    VEIL_TRY(res, veil_hpke_labeled_extract(kem->kdf, sid, sizeof sid, NULL, 0, "eae_prk", dhv,
                                            dh_len, eae_prk));
    VEIL_TRY(res, veil_hpke_labeled_expand(kem->kdf, sid, sizeof sid, eae_prk,
                                           veil_hpke_kdf_nh(kem->kdf), "shared_secret", kem_context,
                                           ctx_len, shared_secret, kem->info.n_secret));
out:
    veil_wipe(eae_prk, sizeof eae_prk);
    return res;
}

/* Encap(pkR) / AuthEncap(pkR, skS):
 *   dh = DH(skE, pkR) [|| DH(skS, pkR)]
 *   enc = SerializePublicKey(pkE)
 *   kem_context = enc || pkRm [|| pkSm] */
veil_result veil_hpke_kem_encap(const veil_hpke_key *pk_r, const veil_hpke_key *eph,
                                const veil_hpke_key *sk_s, uint8_t enc[VEIL_HPKE_MAX_ENC],
                                size_t *enc_len, uint8_t shared_secret[VEIL_HPKE_MAX_NH])
{
    uint8_t dhv[2 * MAX_NDH];
    uint8_t kem_context[3 * VEIL_HPKE_MAX_PK];
    size_t dh_len = 0, ctx_len = 0;
    veil_result res = VEIL_OK;

    VEIL_ENSURE(pk_r && eph && enc && enc_len && shared_secret, VEIL_E_USAGE, "NULL argument");
    const veil_hpke_kem_desc *kem = pk_r->kem;
    VEIL_ENSURE(eph->kem == kem && eph->has_private, VEIL_E_USAGE,
                "ephemeral key is not a key pair of the recipient's KEM");
    VEIL_ENSURE(!sk_s || (sk_s->kem == kem && sk_s->has_private), VEIL_E_USAGE,
                "sender auth key is not a key pair of the recipient's KEM");

    VEIL_TRY(res, dh(eph, pk_r, dhv));
    dh_len = kem->ndh;
    if (sk_s) {
        VEIL_TRY(res, dh(sk_s, pk_r, dhv + dh_len));
        dh_len += kem->ndh;
    }
    memcpy(kem_context, eph->pk, eph->pk_len), ctx_len = eph->pk_len;
    memcpy(kem_context + ctx_len, pk_r->pk, pk_r->pk_len), ctx_len += pk_r->pk_len;
    if (sk_s)
        memcpy(kem_context + ctx_len, sk_s->pk, sk_s->pk_len), ctx_len += sk_s->pk_len;
    VEIL_TRY(res, extract_and_expand(kem, dhv, dh_len, kem_context, ctx_len, shared_secret));
    memcpy(enc, eph->pk, eph->pk_len);
    *enc_len = eph->pk_len;
out:
    veil_wipe(dhv, sizeof dhv);
    if (!veil_ok(res) && shared_secret)
        veil_wipe(shared_secret, VEIL_HPKE_MAX_NH);
    return res;
}

/* Decap(enc, skR) / AuthDecap(enc, skR, pkS):
 *   pkE = DeserializePublicKey(enc)
 *   dh = DH(skR, pkE) [|| DH(skR, pkS)]
 *   kem_context = enc || pkRm [|| pkSm] */
veil_result veil_hpke_kem_decap(const veil_hpke_key *sk_r, const uint8_t *enc, size_t enc_len,
                                const veil_hpke_key *pk_s, uint8_t shared_secret[VEIL_HPKE_MAX_NH])
{
    uint8_t dhv[2 * MAX_NDH];
    uint8_t kem_context[3 * VEIL_HPKE_MAX_PK];
    size_t dh_len = 0, ctx_len = 0;
    veil_hpke_key pk_e = {0};
    veil_result res = VEIL_OK;

    VEIL_ENSURE(sk_r && shared_secret, VEIL_E_USAGE, "NULL argument");
    const veil_hpke_kem_desc *kem = sk_r->kem;
    VEIL_ENSURE(sk_r->has_private, VEIL_E_USAGE, "recipient key has no private part");
    VEIL_ENSURE(!pk_s || pk_s->kem == kem, VEIL_E_USAGE,
                "sender auth key is not a key of the recipient's KEM");
    VEIL_ENSURE(enc != NULL && enc_len == kem->info.n_enc, VEIL_E_PROTOCOL,
                "HPKE encapsulated key has the wrong length");

    VEIL_TRY(res, key_load_public(&pk_e, kem, enc, enc_len));
    VEIL_TRY(res, dh(sk_r, &pk_e, dhv));
    dh_len = kem->ndh;
    if (pk_s) {
        VEIL_TRY(res, dh(sk_r, pk_s, dhv + dh_len));
        dh_len += kem->ndh;
    }
    memcpy(kem_context, enc, enc_len), ctx_len = enc_len;
    memcpy(kem_context + ctx_len, sk_r->pk, sk_r->pk_len), ctx_len += sk_r->pk_len;
    if (pk_s)
        memcpy(kem_context + ctx_len, pk_s->pk, pk_s->pk_len), ctx_len += pk_s->pk_len;
    VEIL_TRY(res, extract_and_expand(kem, dhv, dh_len, kem_context, ctx_len, shared_secret));
out:
    key_clear(&pk_e);
    veil_wipe(dhv, sizeof dhv);
    if (!veil_ok(res))
        veil_wipe(shared_secret, VEIL_HPKE_MAX_NH);
    return res;
}
