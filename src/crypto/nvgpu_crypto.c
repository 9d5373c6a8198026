/* OpenSSL helpers of the NVIDIA GPU verifier and the simulated GPU (see
 * nvgpu_crypto.h). */
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "crypto/nvgpu_crypto.h"
#include "veil/mem.h"

#define DAY_SECONDS 86400L
#define NOT_AFTER "99991231235959Z" /* like NVIDIA's device certificates */
#define COMPONENT 48                /* P-384 r and s */
#define FWID_OID "2.23.133.5.4.1"

#define SIM_ORG "veil simulated GPU (SIMULATED, not NVIDIA)"
static const char *const chain_cns[] = {
    /* leaf first */
    "SIMULATED GH100 A01 GSP FMC LF",
    "SIMULATED GH100 A01 GSP BROM",
    "SIMULATED NVIDIA GH100 Provisioner ICA 1",
    "SIMULATED NVIDIA GH100 Identity",
    "SIMULATED NVIDIA Device Identity CA \xe2\x80\x94 not an NVIDIA key",
};
#define CHAIN_LEN (sizeof chain_cns / sizeof chain_cns[0])

/* ---- certificate facts ------------------------------------------------------------ */

static X509 *parse_der(const uint8_t *der, size_t len)
{
    const unsigned char *q = der;
    if (!der || len == 0 || len > (size_t)1 << 20)
        return NULL;
    X509 *c = d2i_X509(NULL, &q, (long)len);
    if (c && q != der + len) {
        X509_free(c);
        c = NULL;
    }
    return c;
}

veil_result veil_nvgpu_cert_serial(const uint8_t *der, size_t len, uint8_t *out, size_t cap,
                                   size_t *n)
{
    veil_result res = VEIL_OK;
    BIGNUM *bn = NULL;
    X509 *c = parse_der(der, len);
    *n = 0;
    VEIL_ENSURE_GOTO(res, c != NULL, VEIL_E_PROTOCOL, "certificate does not parse");
    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), NULL);
    VEIL_ENSURE_GOTO(res, bn != NULL, VEIL_E_PROTOCOL, "certificate serial number is malformed");
    VEIL_ENSURE_GOTO(res, !BN_is_negative(bn) && (size_t)BN_num_bytes(bn) <= cap, VEIL_E_PROTOCOL,
                     "certificate serial number is negative or too long");
    *n = (size_t)BN_bn2bin(bn, out);
out:
    BN_free(bn);
    X509_free(c);
    ERR_clear_error();
    return res;
}

veil_result veil_nvgpu_cert_spki(const uint8_t *der, size_t len, veil_buf *out)
{
    veil_result res = VEIL_OK;
    unsigned char *spki = NULL;
    X509 *c = parse_der(der, len);
    VEIL_ENSURE_GOTO(res, c != NULL, VEIL_E_PROTOCOL, "certificate does not parse");
    EVP_PKEY *k = X509_get0_pubkey(c);
    int n = k ? i2d_PUBKEY(k, &spki) : -1;
    VEIL_ENSURE_GOTO(res, n > 0, VEIL_E_PROTOCOL, "certificate public key cannot be encoded");
    VEIL_TRY(res, veil_buf_append(out, spki, (size_t)n));
out:
    OPENSSL_free(spki);
    X509_free(c);
    ERR_clear_error();
    return res;
}

/* ---- the simulated chain ------------------------------------------------------------- */

void veil_nvgpu_sim_pki_init(veil_nvgpu_sim_pki *p)
{
    veil_buf_init(&p->root_der, VEIL_NVGPU_SIM_MAX_DER);
    veil_buf_init(&p->chain_pem, VEIL_NVGPU_SIM_MAX_PEM);
    veil_buf_init(&p->leaf_key, VEIL_NVGPU_SIM_MAX_KEY);
}

void veil_nvgpu_sim_pki_free(veil_nvgpu_sim_pki *p)
{
    if (!p)
        return;
    veil_buf_free(&p->root_der);
    veil_buf_free(&p->chain_pem);
    veil_buf_free(&p->leaf_key);
}

static X509_NAME *sim_name(const char *cn)
{
    X509_NAME *n = X509_NAME_new();
    if (n &&
        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *)SIM_ORG, -1, -1,
                                   0) &&
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0))
        return n;
    X509_NAME_free(n);
    return NULL;
}

static int add_conf_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    int ok = ext && X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/* 2.23.133.5.4.1 = SEQUENCE { INTEGER 1, SEQUENCE { OID sha384, OCTET STRING fwid } } */
static int add_fwid_ext(X509 *cert, const uint8_t fwid[VEIL_NVGPU_SIM_FWID_LEN])
{
    static const uint8_t head[] = {0x30, 0x42, 0x02, 0x01, 0x01, 0x30, 0x3d, 0x06, 0x09, 0x60,
                                   0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x04, 0x30};
    uint8_t der[sizeof head + VEIL_NVGPU_SIM_FWID_LEN];
    memcpy(der, head, sizeof head);
    memcpy(der + sizeof head, fwid, VEIL_NVGPU_SIM_FWID_LEN);
    ASN1_OBJECT *obj = OBJ_txt2obj(FWID_OID, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    int ok = obj && os && ASN1_OCTET_STRING_set(os, der, (int)sizeof der) &&
             (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) != NULL &&
             X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    return ok;
}

/* A positive serial of exactly `bits` bits (159: 20 bytes, like NVIDIA's leaf). */
static int set_serial(X509 *cert, int bits)
{
    BIGNUM *bn = BN_new();
    int ok = bn && BN_rand(bn, bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) &&
             BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
    BN_free(bn);
    return ok;
}

/* Certificate i of the chain (0 = leaf), issued by issuer_cert/issuer_key
 * (NULL for the self-signed root). */
static X509 *make_cert(size_t i, EVP_PKEY *key, X509 *issuer_cert, EVP_PKEY *issuer_key,
                       const uint8_t *fwid)
{
    bool root = issuer_cert == NULL;
    X509 *c = X509_new();
    X509_NAME *subj = sim_name(chain_cns[i]);
    int ok = c && subj && X509_set_version(c, 2) && set_serial(c, i == 0 ? 159 : 127) &&
             X509_set_subject_name(c, subj) &&
             X509_set_issuer_name(c, root ? subj : X509_get_subject_name(issuer_cert)) &&
             X509_gmtime_adj(X509_getm_notBefore(c), -DAY_SECONDS) &&
             ASN1_TIME_set_string_X509(X509_getm_notAfter(c), NOT_AFTER) &&
             X509_set_pubkey(c, key) &&
             add_conf_ext(c, root ? c : issuer_cert, NID_subject_key_identifier, "hash");
    if (ok && !root)
        ok = add_conf_ext(c, issuer_cert, NID_authority_key_identifier, "keyid:always");
    if (ok && i == 0)
        ok = add_conf_ext(c, issuer_cert, NID_key_usage, "critical,digitalSignature") &&
             add_fwid_ext(c, fwid);
    else if (ok)
        ok = add_conf_ext(c, root ? c : issuer_cert, NID_basic_constraints, "critical,CA:TRUE") &&
             add_conf_ext(c, root ? c : issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    ok = ok && X509_sign(c, root ? key : issuer_key, EVP_sha384()) > 0;
    X509_NAME_free(subj);
    if (!ok) {
        X509_free(c);
        return NULL;
    }
    return c;
}

static veil_result append_bio(BIO *bio, veil_buf *out, const char *what)
{
    BUF_MEM *mem = NULL;
    VEIL_ENSURE(BIO_get_mem_ptr(bio, &mem) == 1 && mem != NULL, VEIL_E_INTERNAL, what);
    return veil_buf_append(out, mem->data, mem->length);
}

static veil_result write_outputs(X509 *const *certs, EVP_PKEY *leaf_key, veil_nvgpu_sim_pki *out)
{
    veil_result res = VEIL_OK;
    unsigned char *der = NULL;
    BIO *pem = BIO_new(BIO_s_mem());
    BIO *key = BIO_new(BIO_s_secmem());
    VEIL_ENSURE_GOTO(res, pem && key, VEIL_E_NOMEM, "simulated GPU PKI: out of memory");
    for (size_t i = 0; i < CHAIN_LEN; i++)
        VEIL_ENSURE_GOTO(res, PEM_write_bio_X509(pem, certs[i]) == 1, VEIL_E_INTERNAL,
                         "simulated GPU PKI: cannot encode a certificate");
    VEIL_TRY(res, append_bio(pem, &out->chain_pem, "simulated GPU PKI: cannot read the chain"));
    int n = i2d_X509(certs[CHAIN_LEN - 1], &der);
    VEIL_ENSURE_GOTO(res, n > 0, VEIL_E_INTERNAL, "simulated GPU PKI: cannot encode the root");
    VEIL_TRY(res, veil_buf_append(&out->root_der, der, (size_t)n));
    VEIL_ENSURE_GOTO(res, PEM_write_bio_PrivateKey(key, leaf_key, NULL, NULL, 0, NULL, NULL) == 1,
                     VEIL_E_INTERNAL, "simulated GPU PKI: cannot encode the leaf key");
    VEIL_TRY(res, append_bio(key, &out->leaf_key, "simulated GPU PKI: cannot read the leaf key"));
out:
    OPENSSL_free(der);
    BIO_free(pem);
    BIO_free(key);
    return res;
}

veil_result veil_nvgpu_sim_pki_generate(const uint8_t fwid[VEIL_NVGPU_SIM_FWID_LEN],
                                        veil_nvgpu_sim_pki *out)
{
    EVP_PKEY *keys[CHAIN_LEN] = {0};
    X509 *certs[CHAIN_LEN] = {0};
    veil_result res = VEIL_OK;

    veil_nvgpu_sim_pki_free(out);
    VEIL_ENSURE_GOTO(res, fwid != NULL, VEIL_E_USAGE, "simulated GPU PKI: no FWID");
    for (size_t i = 0; i < CHAIN_LEN; i++) {
        keys[i] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        VEIL_ENSURE_GOTO(res, keys[i] != NULL, VEIL_E_INTERNAL,
                         "simulated GPU PKI: key generation failed");
    }
    /* From the root down: certificate i is issued by certificate i+1. */
    for (size_t k = CHAIN_LEN; k-- > 0;) {
        bool root = k == CHAIN_LEN - 1;
        certs[k] =
            make_cert(k, keys[k], root ? NULL : certs[k + 1], root ? NULL : keys[k + 1], fwid);
        VEIL_ENSURE_GOTO(res, certs[k] != NULL, VEIL_E_INTERNAL,
                         "simulated GPU PKI: cannot build the certificate chain");
    }
    VEIL_TRY(res, write_outputs(certs, keys[0], out));
out:
    for (size_t i = 0; i < CHAIN_LEN; i++) {
        X509_free(certs[i]);
        EVP_PKEY_free(keys[i]);
    }
    ERR_clear_error();
    if (!veil_ok(res))
        veil_nvgpu_sim_pki_free(out);
    return res;
}

/* ---- keys and signatures ----------------------------------------------------------------- */

static EVP_PKEY *key_from_pem(const uint8_t *pem, size_t len)
{
    if (!pem || len == 0 || len > VEIL_NVGPU_SIM_MAX_KEY)
        return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return key;
}

static bool is_p384(EVP_PKEY *key)
{
    char group[32];
    size_t glen = 0;
    return EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &glen) == 1 &&
           !strcmp(group, "secp384r1");
}

veil_result veil_nvgpu_sim_check_pair(const uint8_t *key_pem, size_t key_len,
                                      const uint8_t *chain_pem, size_t chain_len)
{
    veil_result res = VEIL_OK;
    BIO *bio = NULL;
    X509 *leaf = NULL;
    EVP_PKEY *key = key_from_pem(key_pem, key_len);
    VEIL_ENSURE_GOTO(res, key != NULL && is_p384(key), VEIL_E_PROTOCOL,
                     "simulated GPU: the leaf key is not an EC P-384 PEM key");
    VEIL_ENSURE_GOTO(res, chain_pem && chain_len > 0 && chain_len <= VEIL_NVGPU_SIM_MAX_PEM,
                     VEIL_E_PROTOCOL, "simulated GPU: the chain has a bad size");
    bio = BIO_new_mem_buf(chain_pem, (int)chain_len);
    leaf = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    VEIL_ENSURE_GOTO(res, leaf != NULL, VEIL_E_PROTOCOL,
                     "simulated GPU: the chain does not start with a PEM certificate");
    VEIL_ENSURE_GOTO(res, EVP_PKEY_eq(X509_get0_pubkey(leaf), key) == 1, VEIL_E_PROTOCOL,
                     "simulated GPU: the leaf key does not match the leaf certificate");
out:
    X509_free(leaf);
    BIO_free(bio);
    EVP_PKEY_free(key);
    ERR_clear_error();
    return res;
}

veil_result veil_nvgpu_sim_sign(const uint8_t *key_pem, size_t key_len, const uint8_t *msg,
                                size_t msg_len, uint8_t sig[VEIL_NVGPU_SIM_SIG_LEN])
{
    veil_result res = VEIL_OK;
    EVP_MD_CTX *mctx = NULL;
    ECDSA_SIG *es = NULL;
    unsigned char der[160];
    size_t der_len = sizeof der;
    EVP_PKEY *key = key_from_pem(key_pem, key_len);

    memset(sig, 0, VEIL_NVGPU_SIM_SIG_LEN);
    VEIL_ENSURE_GOTO(res, key != NULL && is_p384(key), VEIL_E_PROTOCOL,
                     "simulated GPU: the leaf key is not an EC P-384 PEM key");
    mctx = EVP_MD_CTX_new();
    VEIL_ENSURE_GOTO(res, mctx != NULL, VEIL_E_NOMEM, "cannot allocate a digest context");
    VEIL_ENSURE_GOTO(res,
                     EVP_DigestSignInit(mctx, NULL, EVP_sha384(), NULL, key) == 1 &&
                         EVP_DigestSign(mctx, der, &der_len, msg, msg_len) == 1,
                     VEIL_E_INTERNAL, "ECDSA signing failed");
    const unsigned char *q = der;
    es = d2i_ECDSA_SIG(NULL, &q, (long)der_len);
    VEIL_ENSURE_GOTO(res, es != NULL, VEIL_E_INTERNAL, "cannot decode the ECDSA signature");
    /* SPDM / nvtrust: r then s, 48 bytes each, big-endian. */
    VEIL_ENSURE_GOTO(res,
                     BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, COMPONENT) == COMPONENT &&
                         BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + COMPONENT, COMPONENT) ==
                             COMPONENT,
                     VEIL_E_INTERNAL, "cannot lay out the ECDSA signature");
out:
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_free(key);
    veil_wipe(der, sizeof der);
    ERR_clear_error();
    if (!veil_ok(res))
        memset(sig, 0, VEIL_NVGPU_SIM_SIG_LEN);
    return res;
}
