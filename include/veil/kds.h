/* veil — AMD Key Distribution Service (KDS) client: the hardware identity
 * of SEV-SNP evidence that carries no VCEK/VLEK (the "THIM" step).
 *
 * URL scheme (AMD KDS interface spec 57230; go-sev-guest kds/kds.go):
 *   {base}/vcek/v1/{Milan|Genoa}/{CHIP_ID, 64 bytes hex}
 *        ?blSPL=B&teeSPL=T&snpSPL=S&ucodeSPL=U
 *   {base}/vcek/v1/Turin/{CHIP_ID[0..8) hex}?fmcSPL=F&blSPL=B&teeSPL=T&snpSPL=S&ucodeSPL=U
 *   {base}/vcek/v1/{product}/cert_chain        PEM: ASK, then ARK
 *   {base}/vcek/v1/{product}/crl               DER CRL issued by the ARK
 * The SPLs are those of REPORTED_TCB (the TCB the VCEK is issued for).
 *
 * Everything fetched is untrusted: it is only put into the evidence, and the
 * verifier then chains it to the pinned AMD roots as it would certificates
 * the TEE sent. Only certificates that pass the chain and VCEK checks for the
 * report are written to the disk cache, so a wrong answer is never kept.
 *
 * Disk cache (cache_dir, created 0700), one directory per product:
 *   {product}/vcek-{CHIP_ID hex}-{REPORTED_TCB as 16 hex digits}.der
 *   {product}/cert_chain.pem
 *   {product}/crl.der           refetched once its nextUpdate has passed */
#ifndef VEIL_KDS_H
#define VEIL_KDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/evidence.h"
#include "veil/result.h"
#include "veil/snp.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_KDS_DEFAULT_URL "https://kdsintf.amd.com"
#define VEIL_KDS_URL_MAX 512
#define VEIL_KDS_PATH_MAX 1024

typedef struct veil_kds_config {
    const char *base_url;  /* NULL = VEIL_KDS_DEFAULT_URL (AMD's); a cloud cache or mirror */
    const char *cache_dir; /* required */
    bool crl_optional;     /* go on without a CRL when none can be fetched or is cached */
    unsigned timeout_ms;   /* per request; 0 = 10 000 */
    const char *ca_file;   /* https trust anchors (PEM); NULL = the system store */
} veil_kds_config;

typedef struct veil_kds_outcome {
    bool needed;                     /* SEV-SNP evidence without VCEK/VLEK */
    bool vcek_cached, chain_cached;  /* taken from the disk cache */
    bool have_crl, crl_cached;       /* a CRL was added (from the cache) */
    veil_snp_product product;        /* the product whose URL answered */
    char vcek_url[VEIL_KDS_URL_MAX]; /* the last VCEK URL tried */
    bool cached_now;                 /* what was fetched passed and is now cached */
    char detail[640];                /* on failure: what failed and what to do */
} veil_kds_outcome;

/* The VCEK URL for a chip and REPORTED_TCB; VEIL_E_USAGE for an unknown
 * product or a URL longer than cap. */
VEIL_MUST_USE veil_result veil_kds_vcek_url(const char *base, veil_snp_product product,
                                            const uint8_t chip_id[64], uint64_t reported_tcb,
                                            char *out, size_t cap);

/* When `ev` is SEV-SNP evidence with a plain "report" and no VCEK/VLEK (in
 * "certs" or the certificate table), add the VCEK, the ASK/ARK bundle and
 * (when available) the CRL from the cache or the KDS; otherwise do nothing
 * (out->needed = false). The product comes from the report's CPUID (v3+);
 * a v2 report, which has none, tries Milan, then Genoa. `now` decides CRL
 * freshness. A report with a masked CHIP_ID, or a VLEK-signed one, cannot be
 * fetched (VLEKs are not public). On an error (VEIL_E_PROTOCOL: the KDS
 * has no such VCEK or the report cannot name one; VEIL_E_INTERNAL: the KDS
 * is unreachable and the cache has nothing) out->detail says what failed
 * and what to do. */
VEIL_MUST_USE veil_result veil_kds_complete(const veil_kds_config *cfg, veil_evidence *ev,
                                            int64_t now, veil_kds_outcome *out);

#ifdef __cplusplus
}
#endif
#endif
