/* The simulated ARK -> ASK -> VCEK chain and SNP-format ECDSA signing (see
 * sim_pki.h). Everything OpenSSL-specific of `veil sim` lives here. */
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>

#include "crypto/sim_pki.h"
#include "veil/mem.h"

#define DAY_SECONDS 86400L
#define ROOT_DAYS (25 * 365)
#define VCEK_DAYS (7 * 365)
#define PSS_SALT 48
#define SNP_SIG_FIELD 72 /* R and S are each 72 bytes in the SNP layout */

/* AMD's VCEK extension OIDs (go-sev-guest kds.go), in the order AMD's KDS
 * emits them (checked on a real Milan VCEK). */
#define OID_STRUCT_VERSION "1.3.6.1.4.1.3704.1.1"
#define OID_PRODUCT_NAME "1.3.6.1.4.1.3704.1.2"
#define OID_BL_SPL "1.3.6.1.4.1.3704.1.3.1"
#define OID_TEE_SPL "1.3.6.1.4.1.3704.1.3.2"
#define OID_SPL_4 "1.3.6.1.4.1.3704.1.3.4"
#define OID_SPL_5 "1.3.6.1.4.1.3704.1.3.5"
#define OID_SPL_6 "1.3.6.1.4.1.3704.1.3.6"
#define OID_SPL_7 "1.3.6.1.4.1.3704.1.3.7"
#define OID_SNP_SPL "1.3.6.1.4.1.3704.1.3.3"
#define OID_UCODE_SPL "1.3.6.1.4.1.3704.1.3.8"
#define OID_HWID "1.3.6.1.4.1.3704.1.4"

#define SIM_ORG "veil simulated secure processor (SIMULATED, not AMD)"
#define ARK_CN "SIMULATED ARK-Milan (not an AMD key)"
#define ASK_CN "SIMULATED SEV-Milan (not an AMD key)"
#define VCEK_CN "SIMULATED SEV-VCEK"

void veil_sim_pki_init(veil_sim_pki *p)
{
    veil_buf_init(&p->ark_der, VEIL_SIM_PKI_MAX_DER);
    veil_buf_init(&p->ask_der, VEIL_SIM_PKI_MAX_DER);
    veil_buf_init(&p->vcek_der, VEIL_SIM_PKI_MAX_DER);
    veil_buf_init(&p->ark_key, VEIL_SIM_PKI_MAX_KEY);
    veil_buf_init(&p->ask_key, VEIL_SIM_PKI_MAX_KEY);
    veil_buf_init(&p->vcek_key, VEIL_SIM_PKI_MAX_KEY);
}

void veil_sim_pki_free(veil_sim_pki *p)
{
    if (!p)
        return;
    veil_buf_free(&p->ark_der);
    veil_buf_free(&p->ask_der);
    veil_buf_free(&p->vcek_der);
    veil_buf_free(&p->ark_key);
    veil_buf_free(&p->ask_key);
    veil_buf_free(&p->vcek_key);
}

/* ---- building blocks ------------------------------------------------------ */

static X509_NAME *sim_name(const char *cn)
{
    X509_NAME *n = X509_NAME_new();
    if (!n)
        return NULL;
    if (!X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)SIM_ORG, -1, -1,
                                    0) ||
        !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0)) {
        X509_NAME_free(n);
        return NULL;
    }
    return n;
}

/* A standard extension from its OpenSSL config string. */
static int add_conf_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    int ok = ext && X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

/* A private extension whose extnValue holds exactly `der` (for hwID: the raw
 * CHIP_ID, as AMD's KDS does; for the others: a DER INTEGER / IA5String). */
static int add_raw_ext(X509 *cert, const char *oid, const uint8_t *der, size_t len)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    int ok = obj && os && ASN1_OCTET_STRING_set(os, der, (int)len) &&
             (ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) != NULL &&
             X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    return ok;
}

/* DER INTEGER of a value 0..255 (02 01 v, or 02 02 00 v when the top bit is
 * set, as AMD encodes ucodeSPL >= 128). */
static int add_int_ext(X509 *cert, const char *oid, uint8_t v)
{
    uint8_t der[4] = {0x02, 0x01, v, 0};
    if (v < 0x80)
        return add_raw_ext(cert, oid, der, 3);
    der[1] = 0x02;
    der[2] = 0x00;
    der[3] = v;
    return add_raw_ext(cert, oid, der, 4);
}

static int add_ia5_ext(X509 *cert, const char *oid, const char *s)
{
    uint8_t der[66];
    size_t n = strlen(s);
    if (n > sizeof der - 2)
        return 0;
    der[0] = 0x16; /* IA5String */
    der[1] = (uint8_t)n;
    memcpy(der + 2, s, n);
    return add_raw_ext(cert, oid, der, n + 2);
}

/* Sign with RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48 (AMD's parameters). */
static int sign_pss(X509 *cert, EVP_PKEY *issuer_key)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = mctx && EVP_DigestSignInit(mctx, &pctx, EVP_sha384(), NULL, issuer_key) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, PSS_SALT) > 0 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()) > 0 && X509_sign_ctx(cert, mctx) > 0;
    EVP_MD_CTX_free(mctx);
    return ok;
}

/* A random positive 63-bit serial (the simulated roots of two state
 * directories then differ in serial as well as in key). */
static int set_random_serial(X509 *cert)
{
    BIGNUM *bn = BN_new();
    int ok = bn && BN_rand(bn, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
             BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
    BN_free(bn);
    return ok;
}

/* The parts every certificate shares: version 3, names, validity, key. */
static X509 *new_cert(EVP_PKEY *subject_key, const char *subject_cn, const char *issuer_cn,
                      long days)
{
    X509 *cert = X509_new();
    X509_NAME *subj = sim_name(subject_cn);
    X509_NAME *iss = sim_name(issuer_cn);
    int ok = cert && subj && iss && X509_set_version(cert, 2) &&
             X509_set_subject_name(cert, subj) && X509_set_issuer_name(cert, iss) &&
             X509_gmtime_adj(X509_getm_notBefore(cert), -DAY_SECONDS) &&
             X509_time_adj_ex(X509_getm_notAfter(cert), (int)days, 0, NULL) &&
             X509_set_pubkey(cert, subject_key);
    X509_NAME_free(subj);
    X509_NAME_free(iss);
    if (!ok) {
        X509_free(cert);
        return NULL;
    }
    return cert;
}

static veil_result cert_to_der(X509 *cert, veil_buf *out)
{
    unsigned char *der = NULL;
    int n = i2d_X509(cert, &der);
    VEIL_ENSURE(n > 0, VEIL_E_INTERNAL, "cannot encode a simulated certificate");
    veil_result r = veil_buf_append(out, der, (size_t)n);
    OPENSSL_free(der);
    return r;
}

static veil_result key_to_pem(EVP_PKEY *key, veil_buf *out)
{
    BIO *bio = BIO_new(BIO_s_secmem());
    BUF_MEM *mem = NULL;
    veil_result res = VEIL_OK;

    VEIL_ENSURE_GOTO(res, bio != NULL, VEIL_E_NOMEM, "cannot allocate a BIO");
    VEIL_ENSURE_GOTO(res, PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1,
                     VEIL_E_INTERNAL, "cannot encode a simulated private key");
    VEIL_ENSURE_GOTO(res, BIO_get_mem_ptr(bio, &mem) == 1 && mem != NULL, VEIL_E_INTERNAL,
                     "cannot read back a simulated private key");
    VEIL_TRY(res, veil_buf_append(out, mem->data, mem->length));
out:
    BIO_free(bio);
    return res;
}

static EVP_PKEY *key_from_pem(const uint8_t *pem, size_t len)
{
    if (len > VEIL_SIM_PKI_MAX_KEY)
        return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return key;
}

static int is_p384(EVP_PKEY *key)
{
    char group[32];
    size_t glen = 0;
    return EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &glen) == 1 &&
           !strcmp(group, "secp384r1");
}

/* ---- the three certificates ----------------------------------------------- */

static X509 *make_ark(EVP_PKEY *ark)
{
    X509 *c = new_cert(ark, ARK_CN, ARK_CN, ROOT_DAYS);
    if (c && set_random_serial(c) &&
        add_conf_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") &&
        add_conf_ext(c, c, NID_subject_key_identifier, "hash") &&
        add_conf_ext(c, c, NID_basic_constraints, "critical,CA:TRUE") && sign_pss(c, ark))
        return c;
    X509_free(c);
    return NULL;
}

static X509 *make_ask(EVP_PKEY *ask, X509 *ark_cert, EVP_PKEY *ark)
{
    X509 *c = new_cert(ask, ASK_CN, ARK_CN, ROOT_DAYS);
    if (c && set_random_serial(c) &&
        add_conf_ext(c, ark_cert, NID_subject_key_identifier, "hash") &&
        add_conf_ext(c, ark_cert, NID_authority_key_identifier, "keyid:always") &&
        add_conf_ext(c, ark_cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
        add_conf_ext(c, ark_cert, NID_key_usage, "critical,keyCertSign") && sign_pss(c, ark))
        return c;
    X509_free(c);
    return NULL;
}

/* Like AMD's VCEK: serial 0, no AKID/SKI/keyUsage, only AMD's extensions. */
static X509 *make_vcek(EVP_PKEY *vcek, EVP_PKEY *ask, const veil_sim_pki_params *p)
{
    X509 *c = new_cert(vcek, VCEK_CN, ASK_CN, VCEK_DAYS);
    if (c && ASN1_INTEGER_set(X509_get_serialNumber(c), 0) &&
        add_int_ext(c, OID_STRUCT_VERSION, 0) && add_ia5_ext(c, OID_PRODUCT_NAME, p->product) &&
        add_int_ext(c, OID_BL_SPL, p->bl_spl) && add_int_ext(c, OID_TEE_SPL, p->tee_spl) &&
        add_int_ext(c, OID_SPL_4, 0) && add_int_ext(c, OID_SPL_5, 0) &&
        add_int_ext(c, OID_SPL_6, 0) && add_int_ext(c, OID_SPL_7, 0) &&
        add_int_ext(c, OID_SNP_SPL, p->snp_spl) && add_int_ext(c, OID_UCODE_SPL, p->ucode_spl) &&
        add_raw_ext(c, OID_HWID, p->chip_id, VEIL_SIM_CHIP_ID_LEN) && sign_pss(c, ask))
        return c;
    X509_free(c);
    return NULL;
}

veil_result veil_sim_pki_generate(const veil_sim_pki_params *p, veil_sim_pki *out)
{
    EVP_PKEY *ark = NULL, *ask = NULL, *vcek = NULL;
    X509 *ark_cert = NULL, *ask_cert = NULL, *vcek_cert = NULL;
    veil_result res = VEIL_OK;

    veil_sim_pki_free(out);
    VEIL_ENSURE_GOTO(res, p && p->chip_id && p->product && strlen(p->product) <= 64, VEIL_E_USAGE,
                     "simulated PKI: missing CHIP_ID or product name");
    /* RSA-4096 as AMD's ARK and ASK; P-384 as AMD's VCEK. */
    ark = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
    ask = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
    vcek = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    VEIL_ENSURE_GOTO(res, ark && ask && vcek, VEIL_E_INTERNAL,
                     "simulated PKI: key generation failed");

    ark_cert = make_ark(ark);
    ask_cert = ark_cert ? make_ask(ask, ark_cert, ark) : NULL;
    vcek_cert = ask_cert ? make_vcek(vcek, ask, p) : NULL;
    VEIL_ENSURE_GOTO(res, vcek_cert != NULL, VEIL_E_INTERNAL,
                     "simulated PKI: cannot build the certificate chain");

    VEIL_TRY(res, cert_to_der(ark_cert, &out->ark_der));
    VEIL_TRY(res, cert_to_der(ask_cert, &out->ask_der));
    VEIL_TRY(res, cert_to_der(vcek_cert, &out->vcek_der));
    VEIL_TRY(res, key_to_pem(ark, &out->ark_key));
    VEIL_TRY(res, key_to_pem(ask, &out->ask_key));
    VEIL_TRY(res, key_to_pem(vcek, &out->vcek_key));
out:
    X509_free(ark_cert);
    X509_free(ask_cert);
    X509_free(vcek_cert);
    EVP_PKEY_free(ark);
    EVP_PKEY_free(ask);
    EVP_PKEY_free(vcek);
    if (!veil_ok(res))
        veil_sim_pki_free(out);
    return res;
}

veil_result veil_sim_pki_check_pair(const uint8_t *key_pem, size_t key_len, const uint8_t *cert_der,
                                    size_t cert_len)
{
    const unsigned char *q = cert_der;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    veil_result res = VEIL_OK;

    VEIL_ENSURE_GOTO(res, cert_len > 0 && cert_len <= VEIL_SIM_PKI_MAX_DER, VEIL_E_PROTOCOL,
                     "simulated VCEK certificate has a bad size");
    cert = d2i_X509(NULL, &q, (long)cert_len);
    VEIL_ENSURE_GOTO(res, cert != NULL && q == cert_der + cert_len, VEIL_E_PROTOCOL,
                     "simulated VCEK certificate is not one DER certificate");
    key = key_from_pem(key_pem, key_len);
    VEIL_ENSURE_GOTO(res, key != NULL, VEIL_E_PROTOCOL, "simulated VCEK key is not a PEM key");
    VEIL_ENSURE_GOTO(res, is_p384(key), VEIL_E_PROTOCOL, "simulated VCEK key is not EC P-384");
    VEIL_ENSURE_GOTO(res, EVP_PKEY_eq(X509_get0_pubkey(cert), key) == 1, VEIL_E_PROTOCOL,
                     "simulated VCEK key does not match the VCEK certificate");
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    return res;
}

veil_result veil_sim_sign_snp(const uint8_t *key_pem, size_t key_len, const uint8_t *msg,
                              size_t msg_len, uint8_t sig[VEIL_SIM_SNP_SIG_LEN])
{
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *mctx = NULL;
    ECDSA_SIG *es = NULL;
    unsigned char der[160];
    size_t der_len = sizeof der;
    veil_result res = VEIL_OK;

    memset(sig, 0, VEIL_SIM_SNP_SIG_LEN);
    key = key_from_pem(key_pem, key_len);
    VEIL_ENSURE_GOTO(res, key != NULL && is_p384(key), VEIL_E_PROTOCOL,
                     "simulated VCEK key is not an EC P-384 PEM key");
    mctx = EVP_MD_CTX_new();
    VEIL_ENSURE_GOTO(res, mctx != NULL, VEIL_E_NOMEM, "cannot allocate a digest context");
    /* SNP ABI: ECDSA P-384 over SHA-384 of the signed bytes. */
    VEIL_ENSURE_GOTO(res,
                     EVP_DigestSignInit(mctx, NULL, EVP_sha384(), NULL, key) == 1 &&
                         EVP_DigestSign(mctx, der, &der_len, msg, msg_len) == 1,
                     VEIL_E_INTERNAL, "ECDSA signing failed");
    const unsigned char *q = der;
    es = d2i_ECDSA_SIG(NULL, &q, (long)der_len);
    VEIL_ENSURE_GOTO(res, es != NULL, VEIL_E_INTERNAL, "cannot decode the ECDSA signature");
    /* R then S, 72 bytes each, little-endian (go-sev-guest abi.go). */
    VEIL_ENSURE_GOTO(res,
                     BN_bn2lebinpad(ECDSA_SIG_get0_r(es), sig, SNP_SIG_FIELD) == SNP_SIG_FIELD &&
                         BN_bn2lebinpad(ECDSA_SIG_get0_s(es), sig + SNP_SIG_FIELD, SNP_SIG_FIELD) ==
                             SNP_SIG_FIELD,
                     VEIL_E_INTERNAL, "cannot lay out the ECDSA signature");
out:
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_free(key);
    if (!veil_ok(res))
        memset(sig, 0, VEIL_SIM_SNP_SIG_LEN);
    return res;
}
