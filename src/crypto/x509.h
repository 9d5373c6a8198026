/* Internal X.509 and signature helpers on OpenSSL 3.0, for every evidence
 * verifier (AMD SEV-SNP, Intel TDX/DCAP, NVIDIA): certificates, CRLs and
 * public keys behind opaque reference-counted handles, chain verification
 * to caller-supplied roots at an explicit time, extension lookup by dotted
 * OID, digests, and ECDSA verification from raw big-endian r/s.
 *
 * Everything handled here is public data: nothing is wiped, but every path
 * frees what it allocated. Handles are immutable after parsing and may be
 * shared between threads (take a reference with *_ref for each holder).
 *
 * Errors: malformed input is VEIL_E_PROTOCOL; a signature that does not
 * verify is VEIL_E_CRYPTO; an OpenSSL failure is VEIL_E_INTERNAL. A chain
 * that does not verify is not an error: veil_x509_verify_chain reports it in
 * its status with a detail line. */
#ifndef VEIL_CRYPTO_X509_H
#define VEIL_CRYPTO_X509_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/result.h"

typedef struct veil_x509 veil_x509;         /* one certificate */
typedef struct veil_x509_crl veil_x509_crl; /* one CRL */
typedef struct veil_pubkey veil_pubkey;     /* a public key */

/* ---- digests --------------------------------------------------------------- */

typedef enum veil_digest_alg {
    VEIL_DIGEST_SHA256 = 1, /* 32 bytes */
    VEIL_DIGEST_SHA384 = 2, /* 48 bytes */
    VEIL_DIGEST_SHA512 = 3  /* 64 bytes */
} veil_digest_alg;

#define VEIL_DIGEST_MAX 64

/* Output size of alg, 0 if unknown. */
size_t veil_digest_len(veil_digest_alg alg);
/* out_len must equal veil_digest_len(alg). p may be NULL when n is 0. */
VEIL_MUST_USE veil_result veil_digest(veil_digest_alg alg, const uint8_t *p, size_t n, uint8_t *out,
                                      size_t out_len);

/* ---- certificates ---------------------------------------------------------- */

#define VEIL_X509_MAX_INPUT ((size_t)256 << 10) /* larger inputs are rejected */

/* One certificate: DER (the whole input, no trailing bytes) or PEM (the
 * first CERTIFICATE block). */
VEIL_MUST_USE veil_result veil_x509_parse(const uint8_t *p, size_t n, veil_x509 **out);
/* Every certificate of a PEM bundle (or the one DER certificate), in order,
 * at most `max`; *count receives how many. Free each with veil_x509_free. */
VEIL_MUST_USE veil_result veil_x509_parse_all(const uint8_t *p, size_t n, veil_x509 **out,
                                              size_t max, size_t *count);
veil_x509 *veil_x509_ref(veil_x509 *c); /* another reference; returns c */
void veil_x509_free(veil_x509 *c);      /* drop a reference; NULL is a no-op */

/* DER encoding (i2d); *der is freed with veil_x509_der_free. */
VEIL_MUST_USE veil_result veil_x509_der(const veil_x509 *c, uint8_t **der, size_t *len);
void veil_x509_der_free(uint8_t *der);
/* SHA-256 of the DER encoding (the usual certificate fingerprint). */
VEIL_MUST_USE veil_result veil_x509_fingerprint(const veil_x509 *c, uint8_t out[32]);
/* Same certificate (DER-equal). */
bool veil_x509_equal(const veil_x509 *a, const veil_x509 *b);

/* Subject / issuer commonName into buf (NUL-terminated, truncated to fit);
 * "" when there is none. */
void veil_x509_subject_cn(const veil_x509 *c, char *buf, size_t cap);
void veil_x509_issuer_cn(const veil_x509 *c, char *buf, size_t cap);
/* notBefore / notAfter as unix seconds. */
VEIL_MUST_USE veil_result veil_x509_validity(const veil_x509 *c, int64_t *not_before,
                                             int64_t *not_after);

/* Extension by dotted OID ("1.3.6.1.4.1.3704.1.2"): *val and *len view the raw
 * extnValue contents (the bytes inside the OCTET STRING), valid while c is.
 * *found = false (and VEIL_OK) when absent; VEIL_E_PROTOCOL when the OID is
 * malformed or the extension occurs twice. */
VEIL_MUST_USE veil_result veil_x509_ext(const veil_x509 *c, const char *oid, bool *found,
                                        const uint8_t **val, size_t *len);
/* The extension's value parsed as a DER INTEGER (must fit int64 and use the
 * whole value) / IA5String (copied NUL-terminated into buf; an embedded NUL
 * or a longer string is an error). *found as above. */
VEIL_MUST_USE veil_result veil_x509_ext_integer(const veil_x509 *c, const char *oid, bool *found,
                                                int64_t *out);
VEIL_MUST_USE veil_result veil_x509_ext_ia5(const veil_x509 *c, const char *oid, bool *found,
                                            char *buf, size_t cap);

/* ---- CRLs -------------------------------------------------------------------- */

/* DER (whole input) or PEM (first X509 CRL block). */
VEIL_MUST_USE veil_result veil_x509_crl_parse(const uint8_t *p, size_t n, veil_x509_crl **out);
void veil_x509_crl_free(veil_x509_crl *crl);
/* The CRL's nextUpdate (unix seconds); VEIL_E_PROTOCOL when it has none. */
VEIL_MUST_USE veil_result veil_x509_crl_next_update(const veil_x509_crl *crl, int64_t *out);

/* ---- chains -------------------------------------------------------------------- */

#define VEIL_X509_CHAIN_MAX 8
#define VEIL_X509_DETAIL 160

typedef struct veil_x509_verify_opts {
    int64_t at;              /* verification time, unix seconds (required) */
    veil_x509 *const *roots; /* trust anchors; their self-signatures are checked */
    size_t n_roots;
    veil_x509 *const *untrusted; /* candidate intermediates */
    size_t n_untrusted;
    const veil_x509_crl *const *crls; /* optional; each must be issued by a chain member */
    size_t n_crls;
} veil_x509_verify_opts;

typedef struct veil_x509_chain_status {
    bool ok;
    char detail[VEIL_X509_DETAIL];         /* why it failed (OpenSSL reason, depth, subject) */
    size_t root_index;                     /* which opts->roots anchored the chain (ok only) */
    size_t len;                            /* chain length, leaf first, root last (ok only) */
    veil_x509 *chain[VEIL_X509_CHAIN_MAX]; /* references; release with _clear */
    int64_t not_before;                    /* intersection of the chain's validity periods */
    int64_t not_after;
} veil_x509_chain_status;

/* Build and verify leaf -> ... -> one of roots at opts->at with OpenSSL's
 * X509_verify_cert: default (non-strict) checks, so AMD VCEKs with serial 0
 * and no AKID pass; X509_V_FLAG_CHECK_SS_SIGNATURE so the root's own
 * signature is verified too. Each CRL must be signed by a certificate of
 * the built chain, be current at `at` (thisUpdate <= at <= nextUpdate), and
 * must not list any chain certificate that its issuer issued. (Not
 * X509_V_FLAG_CRL_CHECK: AMD's CRL is issued by the ARK and covers the
 * ASK/ASVK, while OpenSSL's leaf-only mode wants a CRL from the leaf's
 * issuer.) A failure sets st->ok = false with a detail, and returns
 * VEIL_OK; errors are for bad arguments and OpenSSL failures. Call
 * veil_x509_chain_clear afterwards in every case. */
VEIL_MUST_USE veil_result veil_x509_verify_chain(const veil_x509 *leaf,
                                                 const veil_x509_verify_opts *opts,
                                                 veil_x509_chain_status *st);
void veil_x509_chain_clear(veil_x509_chain_status *st);

/* ---- public keys and signatures ---------------------------------------------- */

/* The certificate's subject public key (a new reference). */
VEIL_MUST_USE veil_result veil_x509_pubkey(const veil_x509 *c, veil_pubkey **out);
veil_pubkey *veil_pubkey_ref(veil_pubkey *k);
void veil_pubkey_free(veil_pubkey *k);
/* EC key on the named group ("P-384", "P-256"; OpenSSL aliases like
 * "secp384r1" also match). */
bool veil_pubkey_is_ec(const veil_pubkey *k, const char *group);

/* ECDSA over msg with digest alg; r and s are big-endian unsigned integers
 * (any length up to 72 bytes; leading zeros allowed). VEIL_E_CRYPTO
 * "ecdsa: signature does not verify" when it does not. */
VEIL_MUST_USE veil_result veil_ecdsa_verify_raw(const veil_pubkey *k, veil_digest_alg alg,
                                                const uint8_t *msg, size_t msg_len,
                                                const uint8_t *r, size_t r_len, const uint8_t *s,
                                                size_t s_len);

#endif
