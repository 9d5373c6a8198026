/* SEV-SNP launch digest of an OVMF guest (veil/measure.h;
 * notes/attestation-formats.md §1.8; virtee/sev-snp-measure gctx.py,
 * guest.py, vmsa.py, sev_hashes.py, vcpu_types.py). */
#include <string.h>

#include "crypto/digest.h"
#include "veil/measure.h"
#include "veil/mem.h"

#define PAGE VEIL_MEASURE_PAGE
#define PAGE_MASK 0xFFFull
#define FOUR_GIB 0x100000000ull
#define PAGE_INFO_LEN 0x70
#define BSP_EIP 0xFFFFFFF0u

/* ----- PAGE_INFO chaining (SNP ABI SNP_LAUNCH_UPDATE PAGE_INFO; gctx.py) -- */

void veil_snp_gctx_init(veil_snp_gctx *g, const uint8_t *seed)
{
    if (seed != NULL)
        memcpy(g->ld, seed, VEIL_MEASUREMENT_LEN);
    else
        memset(g->ld, 0, VEIL_MEASUREMENT_LEN);
}

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

veil_result veil_snp_gctx_update(veil_snp_gctx *g, veil_snp_page_type type, uint64_t gpa,
                                 const uint8_t contents[VEIL_MEASUREMENT_LEN])
{
    uint8_t info[PAGE_INFO_LEN] = {0};

    memcpy(info + 0x00, g->ld, VEIL_MEASUREMENT_LEN);    /* DIGEST_CUR */
    memcpy(info + 0x30, contents, VEIL_MEASUREMENT_LEN); /* CONTENTS */
    put_le(info + 0x60, PAGE_INFO_LEN, 2);               /* LENGTH */
    info[0x62] = (uint8_t)type;                          /* PAGE_TYPE */
    /* 0x63 IMI_PAGE, 0x64..0x66 VMPL3..1 perms, 0x67 reserved: all zero. */
    put_le(info + 0x68, gpa, 8); /* GPA */
    return veil_sha384(info, sizeof info, g->ld);
}

veil_result veil_snp_gctx_normal_pages(veil_snp_gctx *g, uint64_t gpa, const uint8_t *data,
                                       size_t len)
{
    uint8_t last[PAGE], h[VEIL_MEASUREMENT_LEN];

    VEIL_ENSURE((gpa & PAGE_MASK) == 0, VEIL_E_USAGE, "measured region is not page aligned");
    VEIL_ENSURE(data != NULL || len == 0, VEIL_E_USAGE, "measured region has no data");
    for (size_t off = 0; off < len; off += PAGE, gpa += PAGE) {
        const uint8_t *page = data + off;
        if (len - off < PAGE) { /* zero-pad the final partial page */
            memset(last, 0, sizeof last);
            memcpy(last, page, len - off);
            page = last;
        }
        VEIL_GUARD(veil_sha384(page, PAGE, h));
        VEIL_GUARD(veil_snp_gctx_update(g, VEIL_SNP_PAGE_NORMAL, gpa, h));
    }
    return VEIL_OK;
}

veil_result veil_snp_gctx_empty_pages(veil_snp_gctx *g, veil_snp_page_type type, uint64_t gpa,
                                      uint64_t npages)
{
    static const uint8_t zeros[VEIL_MEASUREMENT_LEN];
    VEIL_ENSURE(type != VEIL_SNP_PAGE_NORMAL && type != VEIL_SNP_PAGE_VMSA, VEIL_E_USAGE,
                "NORMAL and VMSA pages have contents");
    for (uint64_t i = 0; i < npages; i++, gpa += PAGE)
        VEIL_GUARD(veil_snp_gctx_update(g, type, gpa, zeros));
    return VEIL_OK;
}

veil_result veil_snp_gctx_vmsa_page(veil_snp_gctx *g, const uint8_t page[VEIL_MEASURE_PAGE])
{
    uint8_t h[VEIL_MEASUREMENT_LEN];
    VEIL_GUARD(veil_sha384(page, PAGE, h));
    return veil_snp_gctx_update(g, VEIL_SNP_PAGE_VMSA, VEIL_SNP_VMSA_GPA, h);
}

/* ----- Names ------------------------------------------------------------- */

static const struct {
    const char *name;
    uint32_t sig;
} vcpu_types[] = {
    /* CPUID(1).EAX = ext family << 20 | ext model << 16 | family << 8 |
     * model << 4 | stepping (AMD pub. 25481); vcpu_types.py CPU_SIGS. */
    {"EPYC", 0x00800f12},          {"EPYC-v1", 0x00800f12},      {"EPYC-v2", 0x00800f12},
    {"EPYC-IBPB", 0x00800f12},     {"EPYC-v3", 0x00800f12},      {"EPYC-v4", 0x00800f12},
    {"EPYC-Rome", 0x00830f10},     {"EPYC-Rome-v1", 0x00830f10}, {"EPYC-Rome-v2", 0x00830f10},
    {"EPYC-Rome-v3", 0x00830f10},  {"EPYC-Milan", 0x00a00f11},   {"EPYC-Milan-v1", 0x00a00f11},
    {"EPYC-Milan-v2", 0x00a00f11}, {"EPYC-Genoa", 0x00a10f10},   {"EPYC-Genoa-v1", 0x00a10f10},
    {"EPYC-Turin", 0x00b00f00},
};

veil_result veil_snp_vcpu_sig_from_name(const char *name, uint32_t *sig)
{
    VEIL_ENSURE(name != NULL && sig != NULL, VEIL_E_USAGE, "no vCPU type name");
    for (size_t i = 0; i < sizeof vcpu_types / sizeof vcpu_types[0]; i++) {
        if (strcmp(name, vcpu_types[i].name) == 0) {
            *sig = vcpu_types[i].sig;
            return VEIL_OK;
        }
    }
    return VEIL_ERR(VEIL_E_USAGE, "unknown vCPU type (see veil measure --help for the list)");
}

const char *veil_snp_vcpu_type_name(size_t i)
{
    return i < sizeof vcpu_types / sizeof vcpu_types[0] ? vcpu_types[i].name : NULL;
}

veil_result veil_snp_vmm_from_name(const char *name, veil_snp_vmm *out)
{
    VEIL_ENSURE(name != NULL && out != NULL, VEIL_E_USAGE, "no VMM name");
    if (strcmp(name, "qemu") == 0)
        *out = VEIL_SNP_VMM_QEMU;
    else if (strcmp(name, "ec2") == 0)
        *out = VEIL_SNP_VMM_EC2;
    else if (strcmp(name, "gce") == 0)
        *out = VEIL_SNP_VMM_GCE;
    else
        return VEIL_ERR(VEIL_E_USAGE, "unknown VMM type (want qemu, ec2 or gce)");
    return VEIL_OK;
}

/* ----- VMSA page (vmsa.py SevEsSaveArea / build_save_area) ---------------- */

/* Offsets into the SEV-ES save area (AMD APM vol. 2 table B-4). */
enum {
    VMSA_ES = 0x00, /* ES, CS, SS, DS, FS, GS, GDTR, LDTR, IDTR, TR: 16 bytes each */
    VMSA_CS = 0x10,
    VMSA_SS = 0x20,
    VMSA_DS = 0x30,
    VMSA_FS = 0x40,
    VMSA_GS = 0x50,
    VMSA_GDTR = 0x60,
    VMSA_LDTR = 0x70,
    VMSA_IDTR = 0x80,
    VMSA_TR = 0x90,
    VMSA_EFER = 0xD0,
    VMSA_CR4 = 0x148,
    VMSA_CR0 = 0x158,
    VMSA_DR7 = 0x160,
    VMSA_DR6 = 0x168,
    VMSA_RFLAGS = 0x170,
    VMSA_RIP = 0x178,
    VMSA_G_PAT = 0x268,
    VMSA_RDX = 0x310,
    VMSA_SEV_FEATURES = 0x3B0,
    VMSA_XCR0 = 0x3E8,
    VMSA_MXCSR = 0x408,
    VMSA_X87_FCW = 0x410,
};

/* vmcb_seg: u16 selector | u16 attrib | u32 limit | u64 base */
static void put_seg(uint8_t *page, size_t off, uint16_t sel, uint16_t attrib, uint32_t limit,
                    uint64_t base)
{
    put_le(page + off, sel, 2);
    put_le(page + off + 2, attrib, 2);
    put_le(page + off + 4, limit, 4);
    put_le(page + off + 8, base, 8);
}

static void build_vmsa(uint8_t page[PAGE], uint32_t eip, const veil_snp_measure_params *p)
{
    /* QEMU/KVM values; EC2 and GCE differ where noted (§1.8.5). */
    uint16_t cs_attr = 0x9b, ss_attr = 0x93, tr_attr = 0x8b, fcw = 0x37f;
    uint64_t rdx = p->vcpu_sig, g_pat = 0x0007040600070406ull;
    uint32_t mxcsr = 0x1f80;

    if (p->vmm == VEIL_SNP_VMM_EC2) {
        cs_attr = eip == BSP_EIP ? 0x9a : 0x9b;
        ss_attr = 0x92;
        tr_attr = 0x83;
        rdx = 0x600;
        mxcsr = 0;
        fcw = 0;
    } else if (p->vmm == VEIL_SNP_VMM_GCE) {
        g_pat = 0x00070106;
        rdx = 0x600;
        mxcsr = 0;
        fcw = 0;
    }

    memset(page, 0, PAGE);
    put_seg(page, VMSA_ES, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_CS, 0xf000, cs_attr, 0xffff, eip & 0xffff0000u);
    put_seg(page, VMSA_SS, 0, ss_attr, 0xffff, 0);
    put_seg(page, VMSA_DS, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_FS, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_GS, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_GDTR, 0, 0, 0xffff, 0);
    put_seg(page, VMSA_LDTR, 0, 0x82, 0xffff, 0);
    put_seg(page, VMSA_IDTR, 0, 0, 0xffff, 0);
    put_seg(page, VMSA_TR, 0, tr_attr, 0xffff, 0);
    put_le(page + VMSA_EFER, 0x1000, 8); /* KVM sets EFER.SVME */
    put_le(page + VMSA_CR4, 0x40, 8);    /* CR4.MCE */
    put_le(page + VMSA_CR0, 0x10, 8);
    put_le(page + VMSA_DR7, 0x400, 8);
    put_le(page + VMSA_DR6, 0xffff0ff0, 8);
    put_le(page + VMSA_RFLAGS, 0x2, 8);
    put_le(page + VMSA_RIP, eip & 0xffffu, 8);
    put_le(page + VMSA_G_PAT, g_pat, 8);
    put_le(page + VMSA_RDX, rdx, 8);
    put_le(page + VMSA_SEV_FEATURES, p->guest_features, 8);
    put_le(page + VMSA_XCR0, 0x1, 8);
    put_le(page + VMSA_MXCSR, mxcsr, 4);
    put_le(page + VMSA_X87_FCW, fcw, 2);
}

/* ----- Kernel hashes page (sev_hashes.py; QEMU sev_add_kernel_loader_hashes) */

#define HT_ENTRY_LEN 50                    /* GUID | u16 len | SHA-256 */
#define HT_LEN (16 + 2 + 3 * HT_ENTRY_LEN) /* 168 */
#define HT_PADDED_LEN 176                  /* rounded up to 16 */

static const uint8_t guid_ht_header[16] = {/* 9438d606-4f22-4cc9-b479-a793d411fd21 */
                                           0x06, 0xd6, 0x38, 0x94, 0x22, 0x4f, 0xc9, 0x4c,
                                           0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd, 0x21};
static const uint8_t guid_ht_cmdline[16] = {/* 97d02dd8-bd20-4c94-aa78-e7714d36ab2a */
                                            0xd8, 0x2d, 0xd0, 0x97, 0x20, 0xbd, 0x94, 0x4c,
                                            0xaa, 0x78, 0xe7, 0x71, 0x4d, 0x36, 0xab, 0x2a};
static const uint8_t guid_ht_initrd[16] = {/* 44baf731-3a2f-4bd7-9af1-41e29169781d */
                                           0x31, 0xf7, 0xba, 0x44, 0x2f, 0x3a, 0xd7, 0x4b,
                                           0x9a, 0xf1, 0x41, 0xe2, 0x91, 0x69, 0x78, 0x1d};
static const uint8_t guid_ht_kernel[16] = {/* 4de79437-abd2-427f-b835-d5b172d2045b */
                                           0x37, 0x94, 0xe7, 0x4d, 0xd2, 0xab, 0x7f, 0x42,
                                           0xb8, 0x35, 0xd5, 0xb1, 0x72, 0xd2, 0x04, 0x5b};

static veil_result put_ht_entry(uint8_t *e, const uint8_t guid[16], const void *data, size_t len)
{
    memcpy(e, guid, 16);
    put_le(e + 16, HT_ENTRY_LEN, 2);
    return veil_sha256(data, len, e + 18);
}

/* The 4 KiB page holding the hashes table at `offset`. */
static veil_result build_hashes_page(uint8_t page[PAGE], size_t offset,
                                     const veil_snp_measure_params *p)
{
    static const uint8_t nul = 0;
    uint8_t *t = page + offset;
    const char *cmd = p->cmdline != NULL ? p->cmdline : "";

    memset(page, 0, PAGE);
    VEIL_ENSURE(offset <= PAGE - HT_PADDED_LEN, VEIL_E_PROTOCOL,
                "OVMF SEV hash table does not fit in its page");
    memcpy(t, guid_ht_header, 16);
    put_le(t + 16, HT_LEN, 2);
    /* cmdline is hashed with its terminating NUL; an empty one is one NUL. */
    VEIL_GUARD(put_ht_entry(t + 18, guid_ht_cmdline, *cmd ? (const void *)cmd : &nul,
                            *cmd ? strlen(cmd) + 1 : 1));
    VEIL_GUARD(put_ht_entry(t + 18 + HT_ENTRY_LEN, guid_ht_initrd, p->initrd,
                            p->initrd != NULL ? p->initrd_len : 0));
    VEIL_GUARD(put_ht_entry(t + 18 + 2 * HT_ENTRY_LEN, guid_ht_kernel, p->kernel, p->kernel_len));
    return VEIL_OK;
}

/* ----- The launch digest (guest.py snp_calc_launch_digest) --------------- */

static veil_result check_params(const veil_snp_measure_params *p, const veil_ovmf_info *info)
{
    bool has_hashes_section = false;

    VEIL_ENSURE(p->vcpus >= 1 && p->vcpus <= VEIL_SNP_MAX_VCPUS, VEIL_E_USAGE,
                "vCPU count must be between 1 and 4096");
    VEIL_ENSURE(p->vmm == VEIL_SNP_VMM_QEMU || p->vmm == VEIL_SNP_VMM_EC2 ||
                    p->vmm == VEIL_SNP_VMM_GCE,
                VEIL_E_USAGE, "unknown VMM type");
    VEIL_ENSURE(p->kernel != NULL || p->kernel_len == 0, VEIL_E_USAGE,
                "kernel length without data");
    VEIL_ENSURE(p->initrd != NULL || p->initrd_len == 0, VEIL_E_USAGE,
                "initrd length without data");
    VEIL_ENSURE(p->kernel != NULL || (p->initrd == NULL && p->cmdline == NULL), VEIL_E_USAGE,
                "an initrd or command line needs a kernel");
    VEIL_ENSURE(info->has_reset_eip, VEIL_E_PROTOCOL,
                "OVMF footer table has no SEV-ES reset block (AP entry point)");
    VEIL_ENSURE(info->has_metadata, VEIL_E_PROTOCOL, "OVMF footer table has no SEV metadata");
    for (size_t i = 0; i < info->n_sections; i++) {
        if (info->sections[i].type == VEIL_OVMF_SEC_SNP_KERNEL_HASHES)
            has_hashes_section = true;
    }
    if (p->kernel != NULL) {
        VEIL_ENSURE(has_hashes_section, VEIL_E_PROTOCOL,
                    "a kernel was given but the OVMF SEV metadata has no SNP_KERNEL_HASHES "
                    "section (this firmware does not measure kernels)");
        VEIL_ENSURE(info->has_hash_table && info->hash_table_gpa != 0, VEIL_E_PROTOCOL,
                    "a kernel was given but OVMF has no SEV hash table entry");
        VEIL_ENSURE(info->hash_table_size >= HT_PADDED_LEN, VEIL_E_PROTOCOL,
                    "OVMF SEV hash table area is too small");
    }
    return VEIL_OK;
}

/* One SEV metadata section (guest.py snp_update_section). */
static veil_result measure_section(veil_snp_gctx *g, const veil_ovmf_section *s,
                                   const veil_snp_measure_params *p, const veil_ovmf_info *info)
{
    uint8_t page[PAGE];
    uint64_t npages = s->size / PAGE;

    switch (s->type) {
    case VEIL_OVMF_SEC_SNP_SEC_MEM:
        return veil_snp_gctx_empty_pages(
            g, p->vmm == VEIL_SNP_VMM_GCE ? VEIL_SNP_PAGE_UNMEASURED : VEIL_SNP_PAGE_ZERO, s->gpa,
            npages);
    case VEIL_OVMF_SEC_SNP_SECRETS:
        return veil_snp_gctx_empty_pages(g, VEIL_SNP_PAGE_SECRETS, s->gpa, 1);
    case VEIL_OVMF_SEC_CPUID:
        if (p->vmm == VEIL_SNP_VMM_EC2)
            return VEIL_OK; /* EC2 measures the CPUID page after all sections */
        return veil_snp_gctx_empty_pages(g, VEIL_SNP_PAGE_CPUID, s->gpa, 1);
    case VEIL_OVMF_SEC_SVSM_CAA:
        return veil_snp_gctx_empty_pages(g, VEIL_SNP_PAGE_ZERO, s->gpa, npages);
    case VEIL_OVMF_SEC_SNP_KERNEL_HASHES:
        if (p->kernel == NULL)
            return veil_snp_gctx_empty_pages(g, VEIL_SNP_PAGE_ZERO, s->gpa, npages);
        VEIL_ENSURE(s->size == PAGE, VEIL_E_PROTOCOL,
                    "OVMF SNP_KERNEL_HASHES section is not exactly one page");
        VEIL_GUARD(build_hashes_page(page, info->hash_table_gpa & PAGE_MASK, p));
        return veil_snp_gctx_normal_pages(g, s->gpa, page, PAGE);
    default: return VEIL_ERR(VEIL_E_PROTOCOL, "OVMF SEV metadata has an unknown section type");
    }
}

static veil_result measure_image_pages(veil_snp_gctx *g, const uint8_t *ovmf, size_t len)
{
    VEIL_ENSURE(len > 0 && len % PAGE == 0, VEIL_E_PROTOCOL,
                "OVMF image size is not a non-zero multiple of 4096 bytes");
    VEIL_ENSURE(len <= FOUR_GIB, VEIL_E_PROTOCOL, "OVMF image is larger than 4 GiB");
    return veil_snp_gctx_normal_pages(g, FOUR_GIB - len, ovmf, len);
}

veil_result veil_snp_ovmf_hash(const uint8_t *ovmf, size_t ovmf_len,
                               uint8_t out[VEIL_MEASUREMENT_LEN])
{
    veil_snp_gctx g;
    veil_result res;

    memset(out, 0, VEIL_MEASUREMENT_LEN);
    VEIL_ENSURE(ovmf != NULL, VEIL_E_USAGE, "no OVMF image");
    veil_snp_gctx_init(&g, NULL);
    res = measure_image_pages(&g, ovmf, ovmf_len);
    if (veil_ok(res))
        memcpy(out, g.ld, VEIL_MEASUREMENT_LEN);
    return res;
}

veil_result veil_snp_measure(const veil_snp_measure_params *p, uint8_t out[VEIL_MEASUREMENT_LEN])
{
    veil_ovmf_info *info = NULL;
    uint8_t *vmsa = NULL;
    veil_snp_gctx g;
    veil_result res = VEIL_OK;

    memset(out, 0, VEIL_MEASUREMENT_LEN);
    VEIL_ENSURE(p != NULL && p->ovmf != NULL, VEIL_E_USAGE, "no OVMF image");
    info = veil_calloc(1, sizeof *info);
    vmsa = veil_calloc(2, PAGE);
    VEIL_ENSURE_GOTO(res, info != NULL && vmsa != NULL, VEIL_E_NOMEM, "out of memory");
    VEIL_TRY(res, veil_ovmf_parse(p->ovmf, p->ovmf_len, info));
    VEIL_TRY(res, check_params(p, info));

    /* (a) the firmware image, or a precomputed hash of it as the start. */
    veil_snp_gctx_init(&g, p->ovmf_hash);
    if (p->ovmf_hash == NULL)
        VEIL_TRY(res, measure_image_pages(&g, p->ovmf, p->ovmf_len));

    /* (b) SEV metadata sections in table order; EC2's CPUID pages last. */
    for (size_t i = 0; i < info->n_sections; i++)
        VEIL_TRY(res, measure_section(&g, &info->sections[i], p, info));
    for (size_t i = 0; p->vmm == VEIL_SNP_VMM_EC2 && i < info->n_sections; i++) {
        if (info->sections[i].type == VEIL_OVMF_SEC_CPUID)
            VEIL_TRY(res,
                     veil_snp_gctx_empty_pages(&g, VEIL_SNP_PAGE_CPUID, info->sections[i].gpa, 1));
    }

    /* (c) VMSAs: the BSP starts at the reset vector, the APs at the reset block EIP. */
    build_vmsa(vmsa, BSP_EIP, p);
    build_vmsa(vmsa + PAGE, info->reset_eip, p);
    for (uint32_t i = 0; i < p->vcpus; i++)
        VEIL_TRY(res, veil_snp_gctx_vmsa_page(&g, i == 0 ? vmsa : vmsa + PAGE));
    memcpy(out, g.ld, VEIL_MEASUREMENT_LEN);
out:
    veil_free(info);
    veil_free(vmsa);
    return res;
}

/* ----- ID / author key digest (§1.2, §1.8.6; go-sev-guest abi.go) -------- */

#define PUBKEY_CURVE_P384 2
#define PUBKEY_QX_OFF 0x04
#define PUBKEY_QY_OFF 0x4C

veil_result veil_snp_id_key_digest(const uint8_t qx[48], const uint8_t qy[48],
                                   uint8_t out[VEIL_MEASUREMENT_LEN])
{
    uint8_t *key;
    veil_result res;

    memset(out, 0, VEIL_MEASUREMENT_LEN);
    VEIL_ENSURE(qx != NULL && qy != NULL, VEIL_E_USAGE, "no public key coordinates");
    key = veil_calloc(1, VEIL_SNP_PUBKEY_LEN);
    VEIL_ENSURE(key != NULL, VEIL_E_NOMEM, "out of memory");
    put_le(key, PUBKEY_CURVE_P384, 4);
    /* Big-endian coordinates become little-endian, zero-extended to 72 bytes. */
    for (size_t i = 0; i < 48; i++) {
        key[PUBKEY_QX_OFF + i] = qx[47 - i];
        key[PUBKEY_QY_OFF + i] = qy[47 - i];
    }
    res = veil_sha384(key, VEIL_SNP_PUBKEY_LEN, out);
    veil_free(key);
    return res;
}
