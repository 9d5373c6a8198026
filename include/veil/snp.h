/* veil — AMD SEV-SNP evidence: the ATTESTATION_REPORT (versions 2..5), its
 * TCB_VERSION encoding, the extended-report certificate table, the Azure HCL
 * wrapper, and the authenticity verifier (ARK -> ASK/ASVK -> VCEK/VLEK chain,
 * certificate-to-report binding, report signature).
 *
 * References (see shared/notes/attestation-formats.md §1): AMD SEV-SNP ABI
 * spec 56860 Table 22 (report layout), google/go-sev-guest abi/abi.go and
 * kds/kds.go, virtee/sev src/firmware/guest/types/snp.rs.
 *
 * The verifier decides only whether the evidence is AUTHENTIC. Whether it is
 * ACCEPTABLE (measurement, DEBUG, minimum TCB, REPORT_DATA/nonce, VMPL) is
 * the appraisal's job, done on the decoded report that veil_snp_verify
 * returns. */
#ifndef VEIL_SNP_H
#define VEIL_SNP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/attest.h"
#include "veil/cursor.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- sizes ---------------------------------------------------------------- */

#define VEIL_SNP_REPORT_SIZE 0x4A0     /* 1184 bytes */
#define VEIL_SNP_SIGNED_SIZE 0x2A0     /* the signature covers report[0 .. 0x2A0) */
#define VEIL_SNP_SIG_COMPONENT_SIZE 72 /* R and S, little-endian, zero-padded */
#define VEIL_SNP_REPORT_VERSION_MIN 2
#define VEIL_SNP_REPORT_VERSION_MAX 5
#define VEIL_SNP_SIG_ALGO_ECDSA_P384_SHA384 1

/* ---- guest POLICY (u64 at 0x08) -------------------------------------------- */

#define VEIL_SNP_POLICY_ABI_MINOR_MASK 0xFFull        /* bits 7:0 */
#define VEIL_SNP_POLICY_ABI_MAJOR_SHIFT 8             /* bits 15:8 */
#define VEIL_SNP_POLICY_ABI_MAJOR_MASK (0xFFull << 8) /* bits 15:8 */
#define VEIL_SNP_POLICY_SMT (1ull << 16)
#define VEIL_SNP_POLICY_RESERVED17 (1ull << 17) /* must be 1 */
#define VEIL_SNP_POLICY_MIGRATE_MA (1ull << 18)
#define VEIL_SNP_POLICY_DEBUG (1ull << 19)
#define VEIL_SNP_POLICY_SINGLE_SOCKET (1ull << 20)
#define VEIL_SNP_POLICY_CXL_ALLOW (1ull << 21)
#define VEIL_SNP_POLICY_MEM_AES_256_XTS (1ull << 22)
#define VEIL_SNP_POLICY_RAPL_DIS (1ull << 23)
#define VEIL_SNP_POLICY_CIPHERTEXT_HIDING (1ull << 24)
#define VEIL_SNP_POLICY_PAGE_SWAP_DISABLE (1ull << 25)
#define VEIL_SNP_POLICY_MBZ_MASK (~((1ull << 26) - 1)) /* bits 63:26 */

/* ---- PLATFORM_INFO (u64 at 0x40); informational, not checked ------------- */

#define VEIL_SNP_PLATFORM_SMT_EN (1ull << 0)
#define VEIL_SNP_PLATFORM_TSME_EN (1ull << 1)
#define VEIL_SNP_PLATFORM_ECC_EN (1ull << 2)
#define VEIL_SNP_PLATFORM_RAPL_DIS (1ull << 3)
#define VEIL_SNP_PLATFORM_CIPHERTEXT_HIDING_EN (1ull << 4)
#define VEIL_SNP_PLATFORM_ALIAS_CHECK_COMPLETE (1ull << 5)
#define VEIL_SNP_PLATFORM_TIO_EN (1ull << 7)

/* ---- SIGNER_INFO / KEY_INFO (u32 at 0x48) ------------------------------------ */

#define VEIL_SNP_SIGNER_AUTHOR_KEY_EN (1u << 0)
#define VEIL_SNP_SIGNER_MASK_CHIP_KEY (1u << 1)
#define VEIL_SNP_SIGNER_KEY_SHIFT 2
#define VEIL_SNP_SIGNER_KEY_MASK (7u << 2)
#define VEIL_SNP_SIGNER_MBZ_MASK (~0x1Fu) /* bits 31:5 */
/* SIGNING_KEY values (bits 4:2); 2..6 are reserved and rejected. */
#define VEIL_SNP_SIGNING_KEY_VCEK 0
#define VEIL_SNP_SIGNING_KEY_VLEK 1
#define VEIL_SNP_SIGNING_KEY_NONE 7
/* Compose a SIGNER_INFO word. */
#define VEIL_SNP_SIGNER_INFO(signing_key, mask_chip_key, author_key_en)                            \
    ((((uint32_t)(signing_key)&7u) << VEIL_SNP_SIGNER_KEY_SHIFT) |                                 \
     ((mask_chip_key) ? VEIL_SNP_SIGNER_MASK_CHIP_KEY : 0u) |                                      \
     ((author_key_en) ? VEIL_SNP_SIGNER_AUTHOR_KEY_EN : 0u))

/* ---- products ------------------------------------------------------------------- */

typedef enum veil_snp_product {
    VEIL_SNP_PRODUCT_UNKNOWN = 0,
    VEIL_SNP_MILAN, /* Zen 3, family 0x19 */
    VEIL_SNP_GENOA, /* Zen 4, family 0x19 (incl. Bergamo/Siena) */
    VEIL_SNP_TURIN  /* Zen 5, family 0x1A */
} veil_snp_product;

/* "Milan", "Genoa", "Turin" or "unknown". */
const char *veil_snp_product_name(veil_snp_product p);
/* Parse a KDS product name ("Milan", "Milan-B0", "Genoa-B1", "Turin", case as
 * AMD writes it); UNKNOWN when it names none of them. */
veil_snp_product veil_snp_product_from_name(const char *name);
/* From CPUID family/model (virtee/sev Generation::identify_cpu):
 * 0x19/0x00-0x0F Milan, 0x19/0x10-0x1F,0xA0-0xAF Genoa, 0x1A/0x00-0x11 Turin. */
veil_snp_product veil_snp_product_from_cpuid(uint8_t family, uint8_t model);

/* ---- TCB_VERSION -------------------------------------------------------------------
 * u64, little-endian in the report. Byte layout depends on the product:
 *   Milan/Genoa: byte0 BOOT_LOADER, byte1 TEE, bytes2-5 reserved, byte6 SNP, byte7 MICROCODE
 *   Turin:       byte0 FMC, byte1 BOOT_LOADER, byte2 TEE, byte3 SNP, bytes4-6 reserved,
 *                byte7 MICROCODE
 * Reserved bytes are not represented here: compare raw values when exactness
 * matters. */
typedef struct veil_snp_tcb {
    uint8_t fmc; /* Turin only (has_fmc) */
    uint8_t bootloader;
    uint8_t tee;
    uint8_t snp;
    uint8_t microcode;
    bool has_fmc;
} veil_snp_tcb;

/* VEIL_E_USAGE when the product is UNKNOWN (the layout cannot be chosen). */
VEIL_MUST_USE veil_result veil_snp_tcb_decode(uint64_t raw, veil_snp_product product,
                                              veil_snp_tcb *out);
/* Reserved bytes encode as zero; fmc is ignored unless product is Turin.
 * UNKNOWN product encodes the Milan/Genoa layout. */
uint64_t veil_snp_tcb_encode(const veil_snp_tcb *tcb, veil_snp_product product);
/* Every component of `have` >= the same component of `min` (fmc only when
 * both have it). Never compare TCBs as integers. */
bool veil_snp_tcb_at_least(const veil_snp_tcb *have, const veil_snp_tcb *min);

/* ---- the ATTESTATION_REPORT -------------------------------------------------------- */

typedef struct veil_snp_report {
    uint32_t version;              /* 0x000: 2..5 */
    uint32_t guest_svn;            /* 0x004 */
    uint64_t policy;               /* 0x008: VEIL_SNP_POLICY_* */
    uint8_t family_id[16];         /* 0x010 */
    uint8_t image_id[16];          /* 0x020 */
    uint32_t vmpl;                 /* 0x030 */
    uint32_t signature_algo;       /* 0x034: 1 = ECDSA P-384 with SHA-384 */
    uint64_t current_tcb;          /* 0x038: raw TCB_VERSION */
    uint64_t platform_info;        /* 0x040: VEIL_SNP_PLATFORM_* */
    uint32_t signer_info;          /* 0x048: VEIL_SNP_SIGNER_* (author_key_en, mask_chip_key,
                                      signing_key); see the accessors below */
    uint8_t report_data[64];       /* 0x050 */
    uint8_t measurement[48];       /* 0x090 */
    uint8_t host_data[32];         /* 0x0C0 */
    uint8_t id_key_digest[48];     /* 0x0E0 */
    uint8_t author_key_digest[48]; /* 0x110 */
    uint8_t report_id[32];         /* 0x140 */
    uint8_t report_id_ma[32];      /* 0x160 */
    uint64_t reported_tcb;         /* 0x180: the TCB the VCEK/VLEK is issued for */
    uint8_t cpuid_fam_id;          /* 0x188: v3+ (0 in v2) */
    uint8_t cpuid_mod_id;          /* 0x189: v3+ (0 in v2) */
    uint8_t cpuid_step;            /* 0x18A: v3+ (0 in v2) */
    uint8_t chip_id[64];           /* 0x1A0: zero when MASK_CHIP_ID; Turin uses 8 bytes */
    uint64_t committed_tcb;        /* 0x1E0 */
    uint8_t current_build;         /* 0x1E8 */
    uint8_t current_minor;         /* 0x1E9 */
    uint8_t current_major;         /* 0x1EA */
    uint8_t committed_build;       /* 0x1EC */
    uint8_t committed_minor;       /* 0x1ED */
    uint8_t committed_major;       /* 0x1EE */
    uint64_t launch_tcb;           /* 0x1F0 */
    uint64_t launch_mit_vector;    /* 0x1F8: v5 only (0 before) */
    uint64_t current_mit_vector;   /* 0x200: v5 only (0 before) */
    uint8_t sig_r[VEIL_SNP_SIG_COMPONENT_SIZE]; /* 0x2A0: little-endian, as in the report */
    uint8_t sig_s[VEIL_SNP_SIG_COMPONENT_SIZE]; /* 0x2E8: little-endian */
    uint8_t raw[VEIL_SNP_REPORT_SIZE];          /* the decoded bytes (decode only) */
} veil_snp_report;

static inline unsigned veil_snp_signing_key(const veil_snp_report *r)
{
    return (r->signer_info & VEIL_SNP_SIGNER_KEY_MASK) >> VEIL_SNP_SIGNER_KEY_SHIFT;
}
static inline bool veil_snp_mask_chip_key(const veil_snp_report *r)
{
    return (r->signer_info & VEIL_SNP_SIGNER_MASK_CHIP_KEY) != 0;
}
static inline bool veil_snp_author_key_en(const veil_snp_report *r)
{
    return (r->signer_info & VEIL_SNP_SIGNER_AUTHOR_KEY_EN) != 0;
}

/* Decode the first VEIL_SNP_REPORT_SIZE bytes of p. n < 0x4A0 is a
 * VEIL_E_PROTOCOL "snp report: truncated ..."; bytes beyond 0x4A0 are
 * IGNORED (configfs-tsm and some wrappers hand out zero-padded buffers; the
 * signature covers only the report itself), so callers that must reject
 * trailing data check n themselves. Rejected (VEIL_E_PROTOCOL, naming the
 * field): VERSION outside 2..5, SIGNATURE_ALGO != 1, POLICY bit 17 clear or
 * bits 63:26 set, SIGNER_INFO bits 31:5 set or SIGNING_KEY 2..6, any
 * reserved (MBZ) byte non-zero (0x04C, 0x188/0x18B..0x1A0, 0x1EB, 0x1EF,
 * 0x1F8 (v2-4)/0x208 (v5)..0x2A0, 0x330..0x4A0). Every accepted report
 * re-encodes to exactly the same 0x4A0 bytes. `out` is zeroed first. */
VEIL_MUST_USE veil_result veil_snp_report_decode(const uint8_t *p, size_t n, veil_snp_report *out);
/* The inverse: writes every field of r (r->raw is ignored) into out,
 * signature fields included. Fails with VEIL_E_USAGE on anything decode
 * would reject (e.g. CPUID fields set in a v2 report, mitigation vectors
 * before v5). To sign: encode, sign out[0 .. VEIL_SNP_SIGNED_SIZE), store R
 * and S little-endian in sig_r/sig_s, encode again. */
VEIL_MUST_USE veil_result veil_snp_report_encode(const veil_snp_report *r,
                                                 uint8_t out[VEIL_SNP_REPORT_SIZE]);
/* From the CPUID fields (v3+); UNKNOWN for v2 or an unlisted family/model. */
veil_snp_product veil_snp_report_product(const veil_snp_report *r);

/* ---- extended-report certificate table (GHCB spec 56421, §1.7) ------------------------
 * Entries {GUID[16] (RFC 4122 byte order), u32le offset, u32le length},
 * terminated by an all-zero entry; offsets count from the table start and
 * must point past the terminator. */

#define VEIL_SNP_CERT_TABLE_ENTRY_SIZE 24
#define VEIL_SNP_CERT_TABLE_MAX_ENTRIES 64

typedef struct veil_snp_cert_table {
    /* Views into the decoded bytes (NULL/0 when absent); each is a DER blob. */
    const uint8_t *vcek;
    size_t vcek_len;
    const uint8_t *vlek;
    size_t vlek_len;
    const uint8_t *ask; /* ASK or ASVK */
    size_t ask_len;
    const uint8_t *ark;
    size_t ark_len;
} veil_snp_cert_table;

/* Unknown GUIDs are skipped. VEIL_E_PROTOCOL on: no terminator within n
 * (or within VEIL_SNP_CERT_TABLE_MAX_ENTRIES), a non-zero terminator
 * offset/length, an offset inside the header, offset+length past n, a zero
 * length or a duplicate GUID. `out` is zeroed first. */
VEIL_MUST_USE veil_result veil_snp_cert_table_decode(const uint8_t *p, size_t n,
                                                     veil_snp_cert_table *out);
/* Append a table holding the present blobs (order VCEK, VLEK, ASK, ARK). */
VEIL_MUST_USE veil_result veil_snp_cert_table_encode(const veil_snp_cert_table *t, veil_buf *out);

/* ---- verification ------------------------------------------------------------------- */

typedef struct veil_snp_evidence {
    const uint8_t *report; /* at least VEIL_SNP_REPORT_SIZE bytes (more are ignored) */
    size_t report_len;
    const uint8_t *vcek_or_vlek; /* DER or PEM; a PEM bundle's further certificates are
                                    used as untrusted intermediates */
    size_t cert_len;
    const uint8_t *ask; /* optional DER/PEM; else the pinned ASK/ASVK for the product */
    size_t ask_len;
    const uint8_t *ark; /* optional: must EQUAL the pinned ARK, never trusted from evidence */
    size_t ark_len;
    const uint8_t *crl; /* optional DER/PEM CRL issued by a certificate of the chain */
    size_t crl_len;
} veil_snp_evidence;

typedef struct veil_snp_trust {
    int64_t at; /* verification time, unix seconds; 0 = now */
    /* Simulated roots (DER), accepted only when passed here; a chain that ends
     * in one passes CHAIN and sets *simulated_out and v->simulated. */
    const uint8_t *const *extra_roots_der;
    const size_t *extra_roots_len;
    size_t n_extra_roots;
} veil_snp_trust;

/* Verify authenticity; `trust` may be NULL (AMD roots only, now). Records in
 * order into v (does NOT call veil_verdict_finish: the appraisal adds its
 * checks, then finishes):
 *   FORMAT    report decodes (veil_snp_report_decode)
 *   CHAIN     leaf -> ASK/ASVK -> ARK pinned for the product named by the leaf's
 *             productName (or issuer CN), ARK self-signature, RSA-PSS, validity at
 *             `at`, the CRL when given; or a chain to an extra (simulated) root
 *   VCEK      SIGNING_KEY vs certificate kind; hwID == CHIP_ID (VCEK); blSPL/teeSPL/
 *             snpSPL/ucodeSPL (+fmcSPL on Turin) == REPORTED_TCB; structVersion;
 *             VLEK has cspID and no hwID; CPUID product (v3+) == productName
 *   SIGNATURE ECDSA P-384/SHA-384 over report[0..0x2A0) with the leaf key
 * Stops after a failed FORMAT or when the certificate cannot be parsed.
 * Returns VEIL_OK whenever the checks could be run (a failed check is in the
 * verdict); an error only for bad arguments, OOM or an internal failure.
 * report_out (may be NULL) receives the decoded report when FORMAT passed;
 * simulated_out (may be NULL) is set when the chain ends in an extra root.
 *
 * A successful chain is cached (keyed by SHA-256 of the certificate, ASK,
 * ARK, CRL and extra-root bytes); a later call with the same bytes at a time
 * inside the chain's validity window skips parsing and the RSA work. Safe to
 * call from several threads. */
VEIL_MUST_USE veil_result veil_snp_verify(const veil_snp_evidence *ev, const veil_snp_trust *trust,
                                          veil_snp_report *report_out, veil_verdict *v,
                                          bool *simulated_out);
/* Drop every cached chain. */
void veil_snp_cache_clear(void);

/* ---- Azure CVM "HCL report" wrapper ---------------------------------------------------
 * 0x000 "HCLA" | u32 version | u32 report_size | u32 request_type | u32 status |
 *       12 reserved
 * 0x020 SNP ATTESTATION_REPORT (1184 bytes)
 * 0x4C0 IGVM request data: u32 data_size | u32 version | u32 report_type (2 = SNP) |
 *       u32 hash_type (1 SHA-256, 2 SHA-384, 3 SHA-512) | u32 variable_data_size
 * 0x4D4 runtime claims (JSON), variable_data_size bytes; then padding (ignored). */

#define VEIL_SNP_HCL_REPORT_OFFSET 0x20
#define VEIL_SNP_HCL_IGVM_OFFSET 0x4C0
#define VEIL_SNP_HCL_CLAIMS_OFFSET 0x4D4
#define VEIL_SNP_HCL_HASH_SHA256 1
#define VEIL_SNP_HCL_HASH_SHA384 2
#define VEIL_SNP_HCL_HASH_SHA512 3

typedef struct veil_snp_hcl {
    uint32_t version;
    uint32_t report_size; /* bytes from the start through the end of the claims */
    uint32_t request_type;
    uint32_t status;
    const uint8_t *report; /* view: VEIL_SNP_REPORT_SIZE bytes */
    uint32_t igvm_data_size;
    uint32_t igvm_version;
    uint32_t report_type;
    uint32_t hash_type;
    const uint8_t *claims; /* view: the runtime-claims JSON (not NUL-terminated) */
    size_t claims_len;     /* = variable_data_size */
} veil_snp_hcl;

/* Views point into p. VEIL_E_PROTOCOL on a bad magic, sizes that disagree
 * or exceed n, report_type != 2, or an unknown hash_type. */
VEIL_MUST_USE veil_result veil_snp_hcl_decode(const uint8_t *p, size_t n, veil_snp_hcl *out);
/* Records RUNTIME_DATA: `report` must be the report the HCL carries, and
 * REPORT_DATA must start with HASH(claims) (hash per hash_type) followed by
 * zero bytes. Run veil_snp_verify on hcl->report first (authenticity). */
VEIL_MUST_USE veil_result veil_snp_hcl_check_binding(const veil_snp_hcl *hcl,
                                                     const veil_snp_report *report,
                                                     veil_verdict *v);

#ifdef __cplusplus
}
#endif
#endif
