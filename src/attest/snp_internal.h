/* Internal to the SEV-SNP verifier: the pinned AMD roots, what a VCEK/VLEK
 * certifies (read once from its extensions and cached with the chain), and
 * the chain cache. Not public API. */
#ifndef VEIL_ATTEST_SNP_INTERNAL_H
#define VEIL_ATTEST_SNP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/x509.h"
#include "veil/snp.h"

/* ---- pinned AMD roots (snp_roots.c; DER in amd_roots.inc) ------------------------- */

typedef struct snp_pinned {
    veil_x509 *ark;  /* ARK-<Product>, self-signed */
    veil_x509 *ask;  /* SEV-<Product>, signs VCEKs */
    veil_x509 *asvk; /* SEV-VLEK-<Product>, signs VLEKs */
} snp_pinned;

/* The parsed roots of a known product (parsed once, shared, never freed). */
VEIL_MUST_USE veil_result snp_pinned_roots(veil_snp_product p, const snp_pinned **out);

/* ---- what the leaf certificate says (snp_vcek.c) -------------------------------- */

/* OIDs of the AMD VCEK/VLEK extensions (go-sev-guest kds/kds.go). */
#define SNP_OID_STRUCT_VERSION "1.3.6.1.4.1.3704.1.1"
#define SNP_OID_PRODUCT_NAME "1.3.6.1.4.1.3704.1.2"
#define SNP_OID_BL_SPL "1.3.6.1.4.1.3704.1.3.1"
#define SNP_OID_TEE_SPL "1.3.6.1.4.1.3704.1.3.2"
#define SNP_OID_SNP_SPL "1.3.6.1.4.1.3704.1.3.3"
#define SNP_OID_UCODE_SPL "1.3.6.1.4.1.3704.1.3.8"
#define SNP_OID_FMC_SPL "1.3.6.1.4.1.3704.1.3.9"
#define SNP_OID_HWID "1.3.6.1.4.1.3704.1.4"
#define SNP_OID_CSP_ID "1.3.6.1.4.1.3704.1.5"

typedef enum snp_leaf_kind { SNP_LEAF_UNKNOWN = 0, SNP_LEAF_VCEK, SNP_LEAF_VLEK } snp_leaf_kind;

typedef struct snp_spl {
    bool present;
    int64_t value;
} snp_spl;

typedef struct snp_leaf_info {
    snp_leaf_kind kind;       /* from hwID / cspID presence */
    veil_snp_product product; /* from productName, else the issuer CN */
    char product_name[32];    /* productName as written ("" if absent) */
    char subject_cn[64];
    char issuer_cn[64];
    snp_spl struct_version;
    snp_spl bl, tee, snp, ucode, fmc;
    bool has_hwid;
    uint8_t hwid[64];
    size_t hwid_len;
    bool has_csp_id;
    char csp_id[96];
    char ext_error[96]; /* set when an extension is malformed; the VCEK check fails */
    /* From the verified chain: */
    bool amd_rooted;          /* ends in a pinned AMD ARK */
    bool simulated;           /* ends in an extra (simulated) root */
    char intermediate_cn[64]; /* the ASK/ASVK (or simulated intermediate); "" if none */
    char root_cn[64];
    bool key_p384; /* the subject key is ECDSA P-384 */
} snp_leaf_info;

/* Read the leaf's identity and AMD extensions; malformed extensions go to
 * info->ext_error (not an error return). */
VEIL_MUST_USE veil_result snp_leaf_info_read(const veil_x509 *leaf, snp_leaf_info *info);
/* Product named by an issuer CN "SEV-<P>" / "SEV-VLEK-<P>"; UNKNOWN otherwise. */
veil_snp_product snp_product_from_issuer_cn(const char *cn);
/* The VCEK check: the certificate binds to this report. */
void snp_check_vcek(const snp_leaf_info *info, const veil_snp_report *r, veil_verdict *v);

/* ---- chain cache (snp_cache.c) ------------------------------------------------------ */

#define SNP_CACHE_KEY_LEN 32
#define SNP_CACHE_SLOTS 64

/* A hit needs the same key and not_before <= at <= not_after. On a hit *info
 * is filled and *key_out holds a new reference (release with
 * veil_pubkey_free). */
bool snp_cache_get(const uint8_t key[SNP_CACHE_KEY_LEN], int64_t at, snp_leaf_info *info,
                   veil_pubkey **key_out);
/* Store (replacing the same key, else the least recently used slot); takes
 * its own reference to pub. */
void snp_cache_put(const uint8_t key[SNP_CACHE_KEY_LEN], int64_t not_before, int64_t not_after,
                   const snp_leaf_info *info, veil_pubkey *pub);

#endif
