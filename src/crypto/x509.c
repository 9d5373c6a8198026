/* X.509 certificates, CRLs, chains, digests and raw-r/s ECDSA on OpenSSL 3.0.
 *
 * The opaque handles are the OpenSSL objects themselves (veil_x509 is an
 * X509, veil_x509_crl an X509_CRL, veil_pubkey an EVP_PKEY), so taking a
 * reference is the object's own up-ref and nothing is copied. */
#include "crypto/x509.h"

#include <limits.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "veil/mem.h"
#include "veil/timeutil.h"

static X509 *X(const veil_x509 *c) { return (X509 *)c; }
static X509_CRL *XC(const veil_x509_crl *c) { return (X509_CRL *)c; }
static EVP_PKEY *PK(const veil_pubkey *k) { return (EVP_PKEY *)k; }

/* ---- digests (algorithms fetched once, shared read-only) ------------------------- */

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_sha256, *md_sha384, *md_sha512;

static void md_fetch(void)
{
    md_sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    md_sha384 = EVP_MD_fetch(NULL, "SHA2-384", NULL);
    md_sha512 = EVP_MD_fetch(NULL, "SHA2-512", NULL);
}

static const EVP_MD *md_of(veil_digest_alg alg)
{
    pthread_once(&md_once, md_fetch);
    switch (alg) {
    case VEIL_DIGEST_SHA256: return md_sha256;
    case VEIL_DIGEST_SHA384: return md_sha384;
    case VEIL_DIGEST_SHA512: return md_sha512;
    }
    return NULL;
}

size_t veil_digest_len(veil_digest_alg alg)
{
    switch (alg) {
    case VEIL_DIGEST_SHA256: return 32;
    case VEIL_DIGEST_SHA384: return 48;
    case VEIL_DIGEST_SHA512: return 64;
    }
    return 0;
}

veil_result veil_digest(veil_digest_alg alg, const uint8_t *p, size_t n, uint8_t *out,
                        size_t out_len)
{
    static const uint8_t empty[1] = {0};
    const EVP_MD *md = md_of(alg);
    unsigned int got = 0;
    VEIL_ENSURE(veil_digest_len(alg) != 0, VEIL_E_USAGE, "digest: unknown algorithm");
    VEIL_ENSURE(out_len == veil_digest_len(alg), VEIL_E_USAGE, "digest: wrong output length");
    VEIL_ENSURE(p != NULL || n == 0, VEIL_E_USAGE, "digest: NULL input");
    VEIL_ENSURE(md != NULL, VEIL_E_INTERNAL, "digest: OpenSSL has no such digest");
    if (EVP_Digest(p ? p : empty, n, out, &got, md, NULL) != 1 || got != out_len) {
        ERR_clear_error();
        return VEIL_ERR(VEIL_E_INTERNAL, "digest: EVP_Digest failed");
    }
    return VEIL_OK;
}

/* ---- time -------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil), so no timegm() is needed. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static veil_result asn1_time_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) {
        ERR_clear_error();
        return VEIL_ERR(VEIL_E_PROTOCOL, "x509: malformed time");
    }
    *out = days_from_civil((int64_t)tm.tm_year + 1900, (int64_t)tm.tm_mon + 1, tm.tm_mday) * 86400 +
           (int64_t)tm.tm_hour * 3600 + (int64_t)tm.tm_min * 60 + tm.tm_sec;
    return VEIL_OK;
}

/* ---- parsing ----------------------------------------------------------------------- */

static bool looks_der(const uint8_t *p, size_t n) { return n > 0 && p[0] == 0x30; }

static veil_result check_input(const uint8_t *p, size_t n)
{
    VEIL_ENSURE(p != NULL && n > 0, VEIL_E_PROTOCOL, "x509: empty input");
    VEIL_ENSURE(n <= VEIL_X509_MAX_INPUT, VEIL_E_PROTOCOL, "x509: input too large");
    return VEIL_OK;
}

veil_result veil_x509_parse(const uint8_t *p, size_t n, veil_x509 **out)
{
    veil_result res = VEIL_OK;
    X509 *c = NULL;
    BIO *bio = NULL;
    *out = NULL;
    VEIL_TRY(res, check_input(p, n));
    if (looks_der(p, n)) {
        const unsigned char *q = p;
        c = d2i_X509(NULL, &q, (long)n);
        VEIL_ENSURE_GOTO(res, c != NULL, VEIL_E_PROTOCOL, "x509: malformed DER certificate");
        VEIL_ENSURE_GOTO(res, q == p + n, VEIL_E_PROTOCOL,
                         "x509: trailing bytes after the DER certificate");
    } else {
        bio = BIO_new_mem_buf(p, (int)n);
        VEIL_ENSURE_GOTO(res, bio != NULL, VEIL_E_NOMEM, "x509: out of memory");
        c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        VEIL_ENSURE_GOTO(res, c != NULL, VEIL_E_PROTOCOL,
                         "x509: neither a DER certificate nor a PEM CERTIFICATE block");
    }
    *out = (veil_x509 *)c;
    c = NULL;
out:
    X509_free(c);
    BIO_free(bio);
    ERR_clear_error();
    return res;
}

veil_result veil_x509_parse_all(const uint8_t *p, size_t n, veil_x509 **out, size_t max,
                                size_t *count)
{
    veil_result res = VEIL_OK;
    BIO *bio = NULL;
    size_t k = 0;
    *count = 0;
    VEIL_TRY(res, check_input(p, n));
    VEIL_ENSURE_GOTO(res, max > 0, VEIL_E_USAGE, "x509: no room for certificates");
    if (looks_der(p, n)) {
        VEIL_TRY(res, veil_x509_parse(p, n, &out[0]));
        k = 1;
        goto out;
    }
    bio = BIO_new_mem_buf(p, (int)n);
    VEIL_ENSURE_GOTO(res, bio != NULL, VEIL_E_NOMEM, "x509: out of memory");
    for (;;) {
        X509 *c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!c) {
            /* The loop ends at "no start line"; anything else is a bad block. */
            unsigned long e = ERR_peek_last_error();
            bool end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
            VEIL_ENSURE_GOTO(res, end, VEIL_E_PROTOCOL, "x509: malformed PEM certificate");
            break;
        }
        if (k == max) {
            X509_free(c);
            res = VEIL_ERR(VEIL_E_PROTOCOL, "x509: too many certificates in the bundle");
            goto out;
        }
        out[k++] = (veil_x509 *)c;
    }
    VEIL_ENSURE_GOTO(res, k > 0, VEIL_E_PROTOCOL,
                     "x509: neither a DER certificate nor a PEM CERTIFICATE block");
out:
    if (!veil_ok(res)) {
        for (size_t i = 0; i < k; i++)
            veil_x509_free(out[i]);
        k = 0;
    }
    *count = k;
    BIO_free(bio);
    ERR_clear_error();
    return res;
}

veil_x509 *veil_x509_ref(veil_x509 *c)
{
    if (c)
        X509_up_ref(X(c));
    return c;
}

void veil_x509_free(veil_x509 *c) { X509_free(X(c)); }

veil_result veil_x509_der(const veil_x509 *c, uint8_t **der, size_t *len)
{
    unsigned char *buf = NULL;
    int n = i2d_X509(X(c), &buf);
    *der = NULL;
    *len = 0;
    if (n <= 0) {
        ERR_clear_error();
        return VEIL_ERR(VEIL_E_INTERNAL, "x509: cannot encode the certificate");
    }
    *der = buf;
    *len = (size_t)n;
    return VEIL_OK;
}

void veil_x509_der_free(uint8_t *der) { OPENSSL_free(der); }

veil_result veil_x509_fingerprint(const veil_x509 *c, uint8_t out[32])
{
    unsigned int n = 0;
    const EVP_MD *md = md_of(VEIL_DIGEST_SHA256);
    if (!md || X509_digest(X(c), md, out, &n) != 1 || n != 32) {
        ERR_clear_error();
        return VEIL_ERR(VEIL_E_INTERNAL, "x509: cannot compute the fingerprint");
    }
    return VEIL_OK;
}

bool veil_x509_equal(const veil_x509 *a, const veil_x509 *b)
{
    return a && b && X509_cmp(X(a), X(b)) == 0;
}

static void name_cn(const X509_NAME *name, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    buf[0] = '\0';
    int idx = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    if (idx < 0)
        return;
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    const unsigned char *d = ASN1_STRING_get0_data(s);
    size_t len = (size_t)ASN1_STRING_length(s);
    size_t o = 0;
    /* Printable ASCII only: the name ends up in logs and verdict details. */
    for (size_t i = 0; i < len && o + 1 < cap; i++)
        buf[o++] = (d[i] >= 0x20 && d[i] < 0x7F) ? (char)d[i] : '?';
    buf[o] = '\0';
}

void veil_x509_subject_cn(const veil_x509 *c, char *buf, size_t cap)
{
    name_cn(X509_get_subject_name(X(c)), buf, cap);
}

void veil_x509_issuer_cn(const veil_x509 *c, char *buf, size_t cap)
{
    name_cn(X509_get_issuer_name(X(c)), buf, cap);
}

veil_result veil_x509_validity(const veil_x509 *c, int64_t *not_before, int64_t *not_after)
{
    VEIL_GUARD(asn1_time_unix(X509_get0_notBefore(X(c)), not_before));
    return asn1_time_unix(X509_get0_notAfter(X(c)), not_after);
}

/* ---- extensions ----------------------------------------------------------------- */

veil_result veil_x509_ext(const veil_x509 *c, const char *oid, bool *found, const uint8_t **val,
                          size_t *len)
{
    veil_result res = VEIL_OK;
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    *found = false;
    *val = NULL;
    *len = 0;
    VEIL_ENSURE_GOTO(res, obj != NULL, VEIL_E_USAGE, "x509: malformed extension OID");
    int idx = X509_get_ext_by_OBJ(X(c), obj, -1);
    if (idx < 0)
        goto out;
    VEIL_ENSURE_GOTO(res, X509_get_ext_by_OBJ(X(c), obj, idx) < 0, VEIL_E_PROTOCOL,
                     "x509: extension occurs more than once");
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_get_ext(X(c), idx));
    VEIL_ENSURE_GOTO(res, v != NULL, VEIL_E_PROTOCOL, "x509: extension without a value");
    *val = ASN1_STRING_get0_data(v);
    *len = (size_t)ASN1_STRING_length(v);
    *found = true;
out:
    ASN1_OBJECT_free(obj);
    ERR_clear_error();
    return res;
}

veil_result veil_x509_ext_integer(const veil_x509 *c, const char *oid, bool *found, int64_t *out)
{
    veil_result res = VEIL_OK;
    const uint8_t *val;
    size_t len;
    ASN1_INTEGER *ai = NULL;
    *out = 0;
    VEIL_TRY(res, veil_x509_ext(c, oid, found, &val, &len));
    if (!*found)
        goto out;
    const unsigned char *q = val;
    ai = d2i_ASN1_INTEGER(NULL, &q, (long)len);
    VEIL_ENSURE_GOTO(res, ai != NULL && q == val + len, VEIL_E_PROTOCOL,
                     "x509: extension value is not a DER INTEGER");
    VEIL_ENSURE_GOTO(res, ASN1_INTEGER_get_int64(out, ai) == 1, VEIL_E_PROTOCOL,
                     "x509: INTEGER extension out of range");
out:
    ASN1_INTEGER_free(ai);
    ERR_clear_error();
    return res;
}

veil_result veil_x509_ext_ia5(const veil_x509 *c, const char *oid, bool *found, char *buf,
                              size_t cap)
{
    veil_result res = VEIL_OK;
    const uint8_t *val;
    size_t len;
    ASN1_IA5STRING *s = NULL;
    if (cap > 0)
        buf[0] = '\0';
    VEIL_TRY(res, veil_x509_ext(c, oid, found, &val, &len));
    if (!*found)
        goto out;
    const unsigned char *q = val;
    s = d2i_ASN1_IA5STRING(NULL, &q, (long)len);
    VEIL_ENSURE_GOTO(res, s != NULL && q == val + len, VEIL_E_PROTOCOL,
                     "x509: extension value is not a DER IA5String");
    size_t sl = (size_t)ASN1_STRING_length(s);
    const unsigned char *d = ASN1_STRING_get0_data(s);
    VEIL_ENSURE_GOTO(res, sl < cap, VEIL_E_PROTOCOL, "x509: IA5String extension too long");
    VEIL_ENSURE_GOTO(res, memchr(d, 0, sl) == NULL, VEIL_E_PROTOCOL,
                     "x509: IA5String extension contains a NUL");
    memcpy(buf, d, sl);
    buf[sl] = '\0';
out:
    ASN1_IA5STRING_free(s);
    ERR_clear_error();
    return res;
}

/* ---- CRLs ------------------------------------------------------------------------ */

veil_result veil_x509_crl_parse(const uint8_t *p, size_t n, veil_x509_crl **out)
{
    veil_result res = VEIL_OK;
    X509_CRL *crl = NULL;
    BIO *bio = NULL;
    *out = NULL;
    VEIL_TRY(res, check_input(p, n));
    if (looks_der(p, n)) {
        const unsigned char *q = p;
        crl = d2i_X509_CRL(NULL, &q, (long)n);
        VEIL_ENSURE_GOTO(res, crl != NULL && q == p + n, VEIL_E_PROTOCOL,
                         "x509: malformed DER CRL");
    } else {
        bio = BIO_new_mem_buf(p, (int)n);
        VEIL_ENSURE_GOTO(res, bio != NULL, VEIL_E_NOMEM, "x509: out of memory");
        crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
        VEIL_ENSURE_GOTO(res, crl != NULL, VEIL_E_PROTOCOL,
                         "x509: neither a DER CRL nor a PEM X509 CRL block");
    }
    *out = (veil_x509_crl *)crl;
    crl = NULL;
out:
    X509_CRL_free(crl);
    BIO_free(bio);
    ERR_clear_error();
    return res;
}

void veil_x509_crl_free(veil_x509_crl *crl) { X509_CRL_free(XC(crl)); }

veil_result veil_x509_crl_next_update(const veil_x509_crl *crl, int64_t *out)
{
    *out = 0;
    VEIL_ENSURE(crl != NULL, VEIL_E_USAGE, "x509: NULL CRL");
    const ASN1_TIME *t = X509_CRL_get0_nextUpdate(XC(crl));
    VEIL_ENSURE(t != NULL, VEIL_E_PROTOCOL, "x509: the CRL has no nextUpdate");
    return asn1_time_unix(t, out);
}

/* ---- chains ---------------------------------------------------------------------- */

void veil_x509_chain_clear(veil_x509_chain_status *st)
{
    for (size_t i = 0; i < VEIL_X509_CHAIN_MAX; i++) {
        veil_x509_free(st->chain[i]);
        st->chain[i] = NULL;
    }
    st->len = 0;
}

static void chain_fail(veil_x509_chain_status *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void chain_fail(veil_x509_chain_status *st, const char *fmt, ...)
{
    va_list ap;
    st->ok = false;
    va_start(ap, fmt);
    vsnprintf(st->detail, sizeof st->detail, fmt, ap);
    va_end(ap);
}

/* OpenSSL's reason for a failed X509_verify_cert, naming the certificate,
 * and for validity errors the dates involved. */
static void describe_verify_error(X509_STORE_CTX *ctx, int64_t at, veil_x509_chain_status *st)
{
    int err = X509_STORE_CTX_get_error(ctx);
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
    char cn[64] = "", when[32], lim[32] = "?";
    int64_t nb = 0, na = 0;
    if (cur)
        name_cn(X509_get_subject_name(cur), cn, sizeof cn);
    veil_time_format(at, when);
    if (cur && veil_ok(veil_x509_validity((veil_x509 *)cur, &nb, &na))) {
        if (err == X509_V_ERR_CERT_HAS_EXPIRED)
            veil_time_format(na, lim);
        else if (err == X509_V_ERR_CERT_NOT_YET_VALID)
            veil_time_format(nb, lim);
    }
    st->ok = false;
    if (err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID)
        snprintf(st->detail, sizeof st->detail, "%s: CN=%s (%s %s, verified at %s)",
                 X509_verify_cert_error_string(err), cn,
                 err == X509_V_ERR_CERT_HAS_EXPIRED ? "notAfter" : "notBefore", lim, when);
    else
        snprintf(st->detail, sizeof st->detail, "%s (depth %d, CN=%s)",
                 X509_verify_cert_error_string(err), depth, cn);
}

static void narrow(veil_x509_chain_status *st, int64_t nb, int64_t na)
{
    if (nb > st->not_before)
        st->not_before = nb;
    if (na < st->not_after)
        st->not_after = na;
}

/* One CRL against the verified chain (see the header for why this is not
 * OpenSSL's X509_V_FLAG_CRL_CHECK). */
static veil_result check_crl(const X509_CRL *crl, int64_t at, veil_x509_chain_status *st)
{
    const X509_NAME *iss = X509_CRL_get_issuer(crl);
    X509 *signer = NULL;
    char cn[64] = "";
    int64_t this_up = 0, next_up = INT64_MAX;
    for (size_t i = 0; i < st->len && !signer; i++)
        if (X509_NAME_cmp(X509_get_subject_name(X(st->chain[i])), iss) == 0)
            signer = X(st->chain[i]);
    name_cn(iss, cn, sizeof cn);
    if (!signer) {
        chain_fail(st, "CRL issuer CN=%s is not in the chain", cn);
        return VEIL_OK;
    }
    EVP_PKEY *k = X509_get0_pubkey(signer);
    if (!k || X509_CRL_verify((X509_CRL *)crl, k) != 1) {
        ERR_clear_error();
        chain_fail(st, "CRL signature by CN=%s does not verify", cn);
        return VEIL_OK;
    }
    VEIL_GUARD(asn1_time_unix(X509_CRL_get0_lastUpdate(crl), &this_up));
    if (X509_CRL_get0_nextUpdate(crl))
        VEIL_GUARD(asn1_time_unix(X509_CRL_get0_nextUpdate(crl), &next_up));
    char t1[32], t2[32];
    if (at < this_up || at > next_up) {
        veil_time_format(at < this_up ? this_up : next_up, t1);
        veil_time_format(at, t2);
        /* the CN is cut to fit; the times are what the user needs */
        snprintf(st->detail, sizeof st->detail,
                 "CRL from CN=%.40s is %s (%s %.21s, verified at %.21s)", cn,
                 at < this_up ? "not yet valid" : "expired",
                 at < this_up ? "thisUpdate" : "nextUpdate", t1, t2);
        st->ok = false;
        return VEIL_OK;
    }
    for (size_t i = 0; i < st->len; i++) {
        X509 *c = X(st->chain[i]);
        X509_REVOKED *rev = NULL;
        if (X509_NAME_cmp(X509_get_issuer_name(c), iss) != 0)
            continue;
        if (X509_CRL_get0_by_cert((X509_CRL *)crl, &rev, c) == 1) {
            char sub[64];
            name_cn(X509_get_subject_name(c), sub, sizeof sub);
            chain_fail(st, "certificate CN=%s is revoked by the CRL from CN=%s", sub, cn);
            return VEIL_OK;
        }
    }
    narrow(st, this_up, next_up);
    return VEIL_OK;
}

/* Record the built chain, which root anchored it, and its validity window. */
static veil_result take_chain(X509_STORE_CTX *ctx, const veil_x509_verify_opts *o,
                              veil_x509_chain_status *st)
{
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
    int n = chain ? sk_X509_num(chain) : 0;
    VEIL_ENSURE(n > 0 && n <= VEIL_X509_CHAIN_MAX, VEIL_E_INTERNAL, "x509: unexpected chain");
    st->not_before = INT64_MIN;
    st->not_after = INT64_MAX;
    for (int i = 0; i < n; i++) {
        X509 *c = sk_X509_value(chain, i);
        int64_t nb, na;
        X509_up_ref(c);
        st->chain[st->len++] = (veil_x509 *)c;
        VEIL_GUARD(veil_x509_validity((veil_x509 *)c, &nb, &na));
        narrow(st, nb, na);
    }
    X509 *top = X(st->chain[st->len - 1]);
    for (size_t i = 0; i < o->n_roots; i++)
        if (X509_cmp(top, X(o->roots[i])) == 0) {
            st->root_index = i;
            st->ok = true;
            return VEIL_OK;
        }
    chain_fail(st, "chain does not end in a trusted root");
    return VEIL_OK;
}

veil_result veil_x509_verify_chain(const veil_x509 *leaf, const veil_x509_verify_opts *o,
                                   veil_x509_chain_status *st)
{
    veil_result res = VEIL_OK;
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    STACK_OF(X509) *untrusted = NULL;
    memset(st, 0, sizeof *st);
    st->detail[0] = '\0';
    VEIL_ENSURE(leaf && o && (o->roots || !o->n_roots) && (o->untrusted || !o->n_untrusted) &&
                    (o->crls || !o->n_crls),
                VEIL_E_USAGE, "x509: bad chain arguments");
    if (o->n_roots == 0) {
        chain_fail(st, "no trusted root for this chain");
        return VEIL_OK;
    }
    store = X509_STORE_new();
    ctx = X509_STORE_CTX_new();
    untrusted = sk_X509_new_null();
    VEIL_ENSURE_GOTO(res, store && ctx && untrusted, VEIL_E_NOMEM, "x509: out of memory");
    for (size_t i = 0; i < o->n_roots; i++)
        VEIL_ENSURE_GOTO(res, X509_STORE_add_cert(store, X(o->roots[i])) == 1, VEIL_E_INTERNAL,
                         "x509: cannot add a root to the store");
    for (size_t i = 0; i < o->n_untrusted; i++) /* the stack borrows, never frees, these */
        VEIL_ENSURE_GOTO(res, sk_X509_push(untrusted, X(o->untrusted[i])) > 0, VEIL_E_NOMEM,
                         "x509: out of memory");
    VEIL_ENSURE_GOTO(res, X509_STORE_CTX_init(ctx, store, X(leaf), untrusted) == 1, VEIL_E_INTERNAL,
                     "x509: cannot initialise the verification");
    /* Not X509_V_FLAG_X509_STRICT: AMD VCEKs have serial 0 and no AKID. */
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, (time_t)o->at);
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_CHECK_SS_SIGNATURE);
    X509_VERIFY_PARAM_set_depth(param, VEIL_X509_CHAIN_MAX - 2);
    int rc = X509_verify_cert(ctx);
    if (rc != 1) {
        describe_verify_error(ctx, o->at, st);
        goto out;
    }
    VEIL_TRY(res, take_chain(ctx, o, st));
    for (size_t i = 0; i < o->n_crls && st->ok; i++)
        VEIL_TRY(res, check_crl(XC(o->crls[i]), o->at, st));
out:
    if (!veil_ok(res) || !st->ok) {
        st->ok = false;
        veil_x509_chain_clear(st);
    }
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    ERR_clear_error();
    return res;
}

/* ---- keys and ECDSA ------------------------------------------------------------- */

veil_result veil_x509_pubkey(const veil_x509 *c, veil_pubkey **out)
{
    EVP_PKEY *k = X509_get_pubkey(X(c));
    *out = (veil_pubkey *)k;
    if (!k) {
        ERR_clear_error();
        return VEIL_ERR(VEIL_E_PROTOCOL, "x509: unsupported or malformed public key");
    }
    return VEIL_OK;
}

veil_pubkey *veil_pubkey_ref(veil_pubkey *k)
{
    if (k)
        EVP_PKEY_up_ref(PK(k));
    return k;
}

void veil_pubkey_free(veil_pubkey *k) { EVP_PKEY_free(PK(k)); }

static int group_nid(const char *name)
{
    int nid = EC_curve_nist2nid(name);
    if (nid == NID_undef)
        nid = OBJ_sn2nid(name);
    if (nid == NID_undef)
        nid = OBJ_ln2nid(name);
    return nid;
}

bool veil_pubkey_is_ec(const veil_pubkey *k, const char *group)
{
    char have[64];
    size_t len = 0;
    if (!k || !EVP_PKEY_is_a(PK(k), "EC") ||
        EVP_PKEY_get_group_name(PK(k), have, sizeof have, &len) != 1) {
        ERR_clear_error();
        return false;
    }
    int want = group_nid(group);
    return want != NID_undef && group_nid(have) == want;
}

veil_result veil_ecdsa_verify_raw(const veil_pubkey *k, veil_digest_alg alg, const uint8_t *msg,
                                  size_t msg_len, const uint8_t *r, size_t r_len, const uint8_t *s,
                                  size_t s_len)
{
    veil_result res = VEIL_OK;
    ECDSA_SIG *sig = NULL;
    BIGNUM *br = NULL, *bs = NULL;
    unsigned char *der = NULL;
    EVP_MD_CTX *mctx = NULL;
    const EVP_MD *md = md_of(alg);
    VEIL_ENSURE_GOTO(res, k && (msg || !msg_len) && r && s && r_len <= 72 && s_len <= 72,
                     VEIL_E_USAGE, "ecdsa: bad arguments");
    VEIL_ENSURE_GOTO(res, md != NULL, VEIL_E_USAGE, "ecdsa: unknown digest");
    sig = ECDSA_SIG_new();
    br = BN_bin2bn(r, (int)r_len, NULL);
    bs = BN_bin2bn(s, (int)s_len, NULL);
    mctx = EVP_MD_CTX_new();
    VEIL_ENSURE_GOTO(res, sig && br && bs && mctx, VEIL_E_NOMEM, "ecdsa: out of memory");
    VEIL_ENSURE_GOTO(res, ECDSA_SIG_set0(sig, br, bs) == 1, VEIL_E_INTERNAL,
                     "ecdsa: cannot build the signature");
    br = bs = NULL; /* owned by sig now */
    int der_len = i2d_ECDSA_SIG(sig, &der);
    VEIL_ENSURE_GOTO(res, der_len > 0, VEIL_E_INTERNAL, "ecdsa: cannot encode the signature");
    VEIL_ENSURE_GOTO(res, EVP_DigestVerifyInit(mctx, NULL, md, NULL, PK(k)) == 1, VEIL_E_CRYPTO,
                     "ecdsa: key cannot verify ECDSA signatures");
    VEIL_ENSURE_GOTO(res, EVP_DigestVerify(mctx, der, (size_t)der_len, msg, msg_len) == 1,
                     VEIL_E_CRYPTO, "ecdsa: signature does not verify");
out:
    EVP_MD_CTX_free(mctx);
    OPENSSL_free(der);
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(sig);
    ERR_clear_error();
    return res;
}
