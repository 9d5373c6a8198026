/* veil — expected launch measurements: the SEV-SNP launch digest of an OVMF
 * guest, the measurement of a guest launched by veil's simulated secure
 * processor, and SNP ID/author key digests.
 *
 * Every function writes a 48-byte SHA-384 value. Outputs are zeroed on entry
 * and stay zero on failure. Inputs are public (firmware, kernels, manifests),
 * so nothing here is wiped.
 *
 * ---------------------------------------------------------------------------
 * PAGE_INFO chaining (AMD SEV-SNP ABI, SNP_LAUNCH_UPDATE, "PAGE_INFO" table;
 * virtee/sev-snp-measure gctx.py). Both measurements below use it unchanged:
 *
 *   LD starts as 48 zero bytes (or a supplied starting digest). For each 4 KiB
 *   page, LD = SHA-384(PAGE_INFO), PAGE_INFO being these 0x70 bytes:
 *     0x00 LD_prev[48] | 0x30 CONTENTS[48] | 0x60 u16le LENGTH = 0x70 |
 *     0x62 u8 PAGE_TYPE | 0x63 u8 IMI_PAGE = 0 | 0x64 u8 VMPL3_PERMS = 0 |
 *     0x65 u8 VMPL2_PERMS = 0 | 0x66 u8 VMPL1_PERMS = 0 | 0x67 u8 0 |
 *     0x68 u64le GPA
 *   PAGE_TYPE / CONTENTS: 0x01 NORMAL = SHA-384(the 4096-byte page);
 *   0x02 VMSA = SHA-384(the VMSA page), GPA 0xFFFFFFFFF000; 0x03 ZERO,
 *   0x04 UNMEASURED, 0x05 SECRETS, 0x06 CPUID = 48 zero bytes.
 *   The final LD is the MEASUREMENT.
 * ---------------------------------------------------------------------------
 */
#ifndef VEIL_MEASURE_H
#define VEIL_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_MEASUREMENT_LEN 48 /* SHA-384 */
#define VEIL_MEASURE_PAGE 4096

/* ===== PAGE_INFO chaining (the launch-digest state) ======================== */

typedef enum veil_snp_page_type {
    VEIL_SNP_PAGE_NORMAL = 0x01,
    VEIL_SNP_PAGE_VMSA = 0x02,
    VEIL_SNP_PAGE_ZERO = 0x03,
    VEIL_SNP_PAGE_UNMEASURED = 0x04,
    VEIL_SNP_PAGE_SECRETS = 0x05,
    VEIL_SNP_PAGE_CPUID = 0x06
} veil_snp_page_type;

#define VEIL_SNP_VMSA_GPA 0xFFFFFFFFF000ull

typedef struct veil_snp_gctx {
    uint8_t ld[VEIL_MEASUREMENT_LEN]; /* the running launch digest */
} veil_snp_gctx;

/* LD = seed (48 bytes), or 48 zero bytes when seed is NULL. */
void veil_snp_gctx_init(veil_snp_gctx *g, const uint8_t *seed);
/* One PAGE_INFO step with the given CONTENTS (48 bytes). */
VEIL_MUST_USE veil_result veil_snp_gctx_update(veil_snp_gctx *g, veil_snp_page_type type,
                                               uint64_t gpa,
                                               const uint8_t contents[VEIL_MEASUREMENT_LEN]);
/* NORMAL pages over data[0..len) at gpa, gpa+4096, ...; a partial last page
 * is zero-padded to 4096 bytes; len 0 measures nothing. gpa must be page
 * aligned (VEIL_E_USAGE otherwise). */
VEIL_MUST_USE veil_result veil_snp_gctx_normal_pages(veil_snp_gctx *g, uint64_t gpa,
                                                     const uint8_t *data, size_t len);
/* `npages` pages of a CONTENTS-less type (ZERO, UNMEASURED, SECRETS, CPUID)
 * at gpa, gpa+4096, ... */
VEIL_MUST_USE veil_result veil_snp_gctx_empty_pages(veil_snp_gctx *g, veil_snp_page_type type,
                                                    uint64_t gpa, uint64_t npages);
/* One VMSA page (4096 bytes) at VEIL_SNP_VMSA_GPA. */
VEIL_MUST_USE veil_result veil_snp_gctx_vmsa_page(veil_snp_gctx *g,
                                                  const uint8_t page[VEIL_MEASURE_PAGE]);

/* ===== SEV-SNP launch digest of an OVMF guest ============================= */

typedef enum veil_snp_vmm {
    VEIL_SNP_VMM_QEMU = 0, /* QEMU/KVM: VMSA RDX = the vCPU signature */
    VEIL_SNP_VMM_EC2 = 1,  /* AWS EC2: CPUID page last, own VMSA register values */
    VEIL_SNP_VMM_GCE = 2   /* Google Compute Engine: SNP_SEC_MEM unmeasured */
} veil_snp_vmm;

/* Parse "qemu", "ec2" or "gce" (exact, lower case); VEIL_E_USAGE otherwise. */
VEIL_MUST_USE veil_result veil_snp_vmm_from_name(const char *name, veil_snp_vmm *out);

/* The vCPU signature (CPUID Fn0000_0001 EAX) of a QEMU CPU model name, as in
 * virtee/sev-snp-measure vcpu_types.py: EPYC, EPYC-v1..v4, EPYC-IBPB
 * (0x00800f12), EPYC-Rome[-v1..v3] (0x00830f10), EPYC-Milan[-v1,-v2]
 * (0x00a00f11), EPYC-Genoa[-v1] (0x00a10f10), EPYC-Turin (0x00b00f00).
 * Names are matched exactly; an unknown name is VEIL_E_USAGE. */
VEIL_MUST_USE veil_result veil_snp_vcpu_sig_from_name(const char *name, uint32_t *sig);
/* The i-th known vCPU type name (for --help listings); NULL past the end. */
const char *veil_snp_vcpu_type_name(size_t i);

/* Inputs of veil_snp_measure. All pointers are borrowed for the call. */
typedef struct veil_snp_measure_params {
    /* The whole OVMF image (required even with ovmf_hash: its footer table
     * gives the SEV metadata sections, the AP reset EIP and the kernel-hashes
     * table address). Its length must be a non-zero multiple of 4096; it is
     * mapped so that it ends at 4 GiB. */
    const uint8_t *ovmf;
    size_t ovmf_len;
    /* NULL: LD starts at zero and the OVMF pages are measured first.
     * Otherwise 48 bytes used as the starting LD instead (a precomputed OVMF
     * hash, i.e. veil_snp_ovmf_hash of the same image). */
    const uint8_t *ovmf_hash;
    uint32_t vcpus;          /* 1..VEIL_SNP_MAX_VCPUS */
    uint32_t vcpu_sig;       /* VMSA RDX for QEMU; EC2 and GCE use 0x600 */
    veil_snp_vmm vmm;        /* QEMU, EC2 or GCE */
    uint64_t guest_features; /* VMSA SEV_FEATURES, e.g. 0x1 or 0x21 */
    /* Direct kernel boot (QEMU "kernel-hashes=on"). kernel == NULL means no
     * kernel hashes: the SNP_KERNEL_HASHES section is measured as ZERO pages.
     * An empty kernel is a non-NULL pointer with kernel_len 0. initrd NULL is
     * an empty initrd; cmdline NULL is an empty command line (hashed as one
     * NUL byte; otherwise its bytes plus a NUL). A kernel with an OVMF that
     * has no SNP_KERNEL_HASHES section is a VEIL_E_PROTOCOL error. */
    const uint8_t *kernel;
    size_t kernel_len;
    const uint8_t *initrd;
    size_t initrd_len;
    const char *cmdline;
} veil_snp_measure_params;

#define VEIL_SNP_MAX_VCPUS 4096u

/* The SNP launch digest (notes/attestation-formats.md §1.8):
 *   (a) unless ovmf_hash is given, the OVMF image as NORMAL pages at GPA
 *       4 GiB - ovmf_len;
 *   (b) each SEV metadata section in table order: SNP_SEC_MEM (1) ZERO pages
 *       (GCE: UNMEASURED pages), SNP_SECRETS (2) one SECRETS page, CPUID (3)
 *       one CPUID page (EC2: measured after all other sections),
 *       SVSM_CAA (4) ZERO pages, SNP_KERNEL_HASHES (0x10) one NORMAL page
 *       holding the kernel-hashes table (with a kernel) or ZERO pages;
 *   (c) one VMSA page per vCPU, the BSP (EIP 0xFFFFFFF0) first, then the APs
 *       (EIP from the SEV-ES reset block).
 * A malformed OVMF footer table or SEV metadata, an unknown section type, a
 * missing reset block, or a section that is not page aligned is
 * VEIL_E_PROTOCOL; bad parameters are VEIL_E_USAGE. `out` must not overlap
 * p->ovmf_hash (it is zeroed on entry). */
VEIL_MUST_USE veil_result veil_snp_measure(const veil_snp_measure_params *p,
                                           uint8_t out[VEIL_MEASUREMENT_LEN]);

/* LD after only step (a) above (sev-snp-measure's "OVMF hash"), suitable as
 * veil_snp_measure_params.ovmf_hash. The image must be a non-zero multiple of
 * 4096 bytes; its tables are not parsed. */
VEIL_MUST_USE veil_result veil_snp_ovmf_hash(const uint8_t *ovmf, size_t ovmf_len,
                                             uint8_t out[VEIL_MEASUREMENT_LEN]);

/* ----- OVMF footer table and SEV metadata (exposed for tests and fuzzing) --
 * The GUIDed footer table ends 32 bytes before the end of the image; its last
 * 18 bytes are {u16le size, GUID 96b582de-1fb2-45f7-baea-a366c55a082d}, where
 * size counts the whole table. Entries before it are walked backwards, each
 * `data | u16le size | GUID` (size includes the 18-byte trailer). Entries
 * used: SEV metadata dc886566-984a-4798-a75e-5585a7bf67cc (u32le offset of
 * the "ASEV" header from the end of the image), SEV-ES reset block
 * 00f771de-1a7e-4fcb-890e-68c77e2fb44e (u32le AP EIP), SEV hash table
 * 7255371f-3a3b-4b04-927b-1da6efa8d454 (u32le GPA, u32le size). Unknown
 * entries are skipped; a known GUID that appears twice is an error. */

#define VEIL_OVMF_MAX_SECTIONS 64

typedef enum veil_ovmf_section_type {
    VEIL_OVMF_SEC_SNP_SEC_MEM = 1,
    VEIL_OVMF_SEC_SNP_SECRETS = 2,
    VEIL_OVMF_SEC_CPUID = 3,
    VEIL_OVMF_SEC_SVSM_CAA = 4,
    VEIL_OVMF_SEC_SNP_KERNEL_HASHES = 0x10
} veil_ovmf_section_type;

typedef struct veil_ovmf_section {
    uint32_t gpa;
    uint32_t size;
    uint32_t type; /* a veil_ovmf_section_type */
} veil_ovmf_section;

typedef struct veil_ovmf_info {
    bool has_reset_eip;
    uint32_t reset_eip; /* AP entry point, from the SEV-ES reset block */
    bool has_hash_table;
    uint32_t hash_table_gpa; /* where OVMF expects the kernel-hashes table */
    uint32_t hash_table_size;
    bool has_metadata;
    size_t n_sections;
    veil_ovmf_section sections[VEIL_OVMF_MAX_SECTIONS];
} veil_ovmf_info;

/* Parse the footer table and the SEV metadata through a bounded cursor.
 * Every inconsistency (bad footer, entry sizes, "ASEV" signature, version,
 * header size, item count, more than VEIL_OVMF_MAX_SECTIONS sections, an
 * unknown section type) is VEIL_E_PROTOCOL; *out is zeroed first. */
VEIL_MUST_USE veil_result veil_ovmf_parse(const uint8_t *img, size_t len, veil_ovmf_info *out);

/* ===== SNP ID / author key digest ========================================= */

#define VEIL_SNP_PUBKEY_LEN 0x404

/* SHA-384 of the 0x404-byte SNP public-key structure (SNP ABI; go-sev-guest
 * abi.go): u32le curve = 2 (P-384) | Qx as 72 bytes little-endian | Qy as
 * 72 bytes little-endian | zeros to 0x404. qx and qy are the usual
 * big-endian 48-byte affine coordinates (as OpenSSL or SEC1 give them); the
 * point is not validated. This is the report's ID_KEY_DIGEST /
 * AUTHOR_KEY_DIGEST. */
VEIL_MUST_USE veil_result veil_snp_id_key_digest(const uint8_t qx[48], const uint8_t qy[48],
                                                 uint8_t out[VEIL_MEASUREMENT_LEN]);

/* ===== The simulator's launch measurement ================================= *
 *
 * The simulated secure processor (`veil sim launch`) measures a guest made of
 * one executable and its declared configuration files. `veil measure --sim`
 * computes the same value with this function. Algorithm (PAGE_INFO chaining
 * exactly as above, all pages NORMAL, LD starting at 48 zero bytes):
 *
 *  1. Manifest. Encode the file list, in the given order:
 *       for each file: u32le name length | name bytes | u64le size |
 *                      SHA-384(contents)[48]
 *     (no count, no separators: the encoding is prefix-free). Zero-pad it to
 *     a multiple of 4096 bytes (an empty encoding is impossible: n >= 1) and
 *     measure it as consecutive NORMAL pages at GPA 0x1000, 0x2000, ...; at
 *     most VEIL_SIM_MANIFEST_MAX_PAGES pages (so it stays below 0x100000),
 *     more is VEIL_E_USAGE.
 *  2. Contents. Starting at GPA 0x100000, each file in order: its contents as
 *     NORMAL pages, the last one zero-padded to 4096 bytes; the next file
 *     starts on the next page. An empty file contributes no page (its size
 *     and hash are in the manifest).
 *  The final LD is the measurement.
 *
 * files[0] is the guest executable, files[1..n-1] its configuration files;
 * n >= 1. Names are hashed exactly as given (the simulator and the CLI pass
 * each path's basename), so the same contents under another name or in
 * another order measure differently. name must be non-NULL (it may be
 * empty); data may be NULL only when len is 0. */

#define VEIL_SIM_MANIFEST_GPA 0x1000u
#define VEIL_SIM_MANIFEST_MAX_PAGES 255u
#define VEIL_SIM_CONTENT_GPA 0x100000u

typedef struct veil_sim_image {
    const char *name; /* role/name string, e.g. the file's basename */
    const uint8_t *data;
    size_t len;
} veil_sim_image;

VEIL_MUST_USE veil_result veil_sim_measure(const veil_sim_image *files, size_t n,
                                           uint8_t out[VEIL_MEASUREMENT_LEN]);

#ifdef __cplusplus
}
#endif
#endif
