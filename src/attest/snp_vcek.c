/* What a VCEK/VLEK certifies, and whether it binds to a report (the VCEK
 * check). Extensions per go-sev-guest kds/kds.go (Oid*, VcekCertificate-
 * Extensions, VlekCertificateExtensions) and trustee snp/mod.rs
 * verify_report_tcb; notes/attestation-formats.md §1.6:
 *   - the TCB the certificate names must equal REPORTED_TCB (not CURRENT_TCB),
 *     decoded with the product's layout (Turin adds fmcSPL);
 *   - a VCEK names the chip (hwID == CHIP_ID: 64 bytes, 8 on Turin), a VLEK
 *     names the cloud provider (cspID) and no chip;
 *   - SIGNING_KEY in the report must name the kind of key that signed it. */
#include <stdio.h>
#include <string.h>

#include "attest/snp_internal.h"
#include "veil/cursor.h"
#include "veil/hex.h"
#include "veil/mem.h"

enum { HWID_LEN = 64, HWID_LEN_TURIN = 8, DER_OCTET_STRING = 0x04 };

veil_snp_product snp_product_from_issuer_cn(const char *cn)
{
    static const char vlek[] = "SEV-VLEK-", vcek[] = "SEV-";
    if (strncmp(cn, vlek, sizeof vlek - 1) == 0)
        cn += sizeof vlek - 1;
    else if (strncmp(cn, vcek, sizeof vcek - 1) == 0)
        cn += sizeof vcek - 1;
    else
        return VEIL_SNP_PRODUCT_UNKNOWN;
    /* The CA names carry no stepping: exactly the product name. */
    veil_snp_product p = veil_snp_product_from_name(cn);
    return p != VEIL_SNP_PRODUCT_UNKNOWN && !strchr(cn, '-') ? p : VEIL_SNP_PRODUCT_UNKNOWN;
}

static void ext_fail(snp_leaf_info *info, const char *what, veil_result r)
{
    if (!info->ext_error[0])
        snprintf(info->ext_error, sizeof info->ext_error, "%s: %s", what, r.msg);
}

static void read_spl(const veil_x509 *leaf, const char *oid, const char *name, snp_spl *out,
                     snp_leaf_info *info)
{
    veil_result r = veil_x509_ext_integer(leaf, oid, &out->present, &out->value);
    if (!veil_ok(r)) {
        out->present = false;
        ext_fail(info, name, r);
    } else if (out->present && (out->value < 0 || out->value > 255)) {
        if (!info->ext_error[0])
            snprintf(info->ext_error, sizeof info->ext_error, "%s=%lld is outside 0..255", name,
                     (long long)out->value);
    }
}

/* hwID: KDS writes the raw bytes as the extnValue (kds.go asn1OctetString:
 * "the KDS doesn't add that for the HWID"); a DER OCTET STRING form exists
 * too (trustee test-vcek-invalid-new.der). A value of exactly 64 or 8 bytes
 * is raw; otherwise it must be one complete OCTET STRING of 64 or 8 bytes. */
static void read_hwid(const veil_x509 *leaf, snp_leaf_info *info)
{
    const uint8_t *val, *body;
    size_t len;
    uint8_t tag, blen;
    veil_result r = veil_x509_ext(leaf, SNP_OID_HWID, &info->has_hwid, &val, &len);
    if (!veil_ok(r)) {
        info->has_hwid = false;
        ext_fail(info, "hwID", r);
        return;
    }
    if (!info->has_hwid)
        return;
    if (len == HWID_LEN || len == HWID_LEN_TURIN) {
        memcpy(info->hwid, val, len);
        info->hwid_len = len;
        return;
    }
    veil_cursor c = veil_cursor_init(val, len);
    if (veil_ok(veil_cursor_u8(&c, &tag)) && tag == DER_OCTET_STRING &&
        veil_ok(veil_cursor_u8(&c, &blen)) && (blen == HWID_LEN || blen == HWID_LEN_TURIN) &&
        veil_ok(veil_cursor_view(&c, blen, &body)) && veil_cursor_at_end(&c)) {
        memcpy(info->hwid, body, blen);
        info->hwid_len = blen;
        return;
    }
    if (!info->ext_error[0])
        snprintf(info->ext_error, sizeof info->ext_error,
                 "hwID is %zu bytes (expected 64, or 8 on Turin, raw or as a DER OCTET STRING)",
                 len);
}

veil_result snp_leaf_info_read(const veil_x509 *leaf, snp_leaf_info *info)
{
    veil_result r;
    bool found = false;
    memset(info, 0, sizeof *info);
    veil_x509_subject_cn(leaf, info->subject_cn, sizeof info->subject_cn);
    veil_x509_issuer_cn(leaf, info->issuer_cn, sizeof info->issuer_cn);
    read_spl(leaf, SNP_OID_STRUCT_VERSION, "structVersion", &info->struct_version, info);
    r = veil_x509_ext_ia5(leaf, SNP_OID_PRODUCT_NAME, &found, info->product_name,
                          sizeof info->product_name);
    if (!veil_ok(r))
        ext_fail(info, "productName", r);
    read_spl(leaf, SNP_OID_BL_SPL, "blSPL", &info->bl, info);
    read_spl(leaf, SNP_OID_TEE_SPL, "teeSPL", &info->tee, info);
    read_spl(leaf, SNP_OID_SNP_SPL, "snpSPL", &info->snp, info);
    read_spl(leaf, SNP_OID_UCODE_SPL, "ucodeSPL", &info->ucode, info);
    read_spl(leaf, SNP_OID_FMC_SPL, "fmcSPL", &info->fmc, info);
    read_hwid(leaf, info);
    r = veil_x509_ext_ia5(leaf, SNP_OID_CSP_ID, &info->has_csp_id, info->csp_id,
                          sizeof info->csp_id);
    if (!veil_ok(r)) {
        info->has_csp_id = false;
        ext_fail(info, "cspID", r);
    }
    if (info->has_hwid && !info->has_csp_id)
        info->kind = SNP_LEAF_VCEK;
    else if (info->has_csp_id && !info->has_hwid)
        info->kind = SNP_LEAF_VLEK;
    veil_snp_product by_name = veil_snp_product_from_name(info->product_name);
    info->product = by_name ? by_name : snp_product_from_issuer_cn(info->issuer_cn);
    return VEIL_OK;
}

/* ---- the VCEK check ------------------------------------------------------------------- */

static const char *kind_name(snp_leaf_info const *info)
{
    return info->kind == SNP_LEAF_VLEK ? "VLEK" : "VCEK";
}

/* Each step fails with a detail and returns false. */
typedef struct vcheck {
    const snp_leaf_info *info;
    const veil_snp_report *r;
    veil_verdict *v;
} vcheck;

#define VFAIL(vc, ...)                                                                             \
    do {                                                                                           \
        veil_verdict_record((vc)->v, VEIL_CHECK_VCEK, false, __VA_ARGS__);                         \
        return false;                                                                              \
    } while (0)

static bool check_kind(const vcheck *vc)
{
    const snp_leaf_info *i = vc->info;
    unsigned key = veil_snp_signing_key(vc->r);
    if (i->ext_error[0])
        VFAIL(vc, "certificate extension %s", i->ext_error);
    if (i->kind == SNP_LEAF_UNKNOWN)
        VFAIL(vc,
              "certificate is neither a VCEK (hwID, no cspID) nor a VLEK (cspID, no hwID): "
              "hwID %s, cspID %s",
              i->has_hwid ? "present" : "absent", i->has_csp_id ? "present" : "absent");
    if (key == VEIL_SNP_SIGNING_KEY_NONE)
        VFAIL(vc, "report is unsigned (SIGNING_KEY=7)");
    if ((key == VEIL_SNP_SIGNING_KEY_VLEK) != (i->kind == SNP_LEAF_VLEK))
        VFAIL(vc, "SIGNING_KEY=%u (%s) but the certificate is a %s", key,
              key == VEIL_SNP_SIGNING_KEY_VLEK ? "VLEK" : "VCEK", kind_name(i));
    if (i->amd_rooted) {
        /* AMD names: VCEK "SEV-VCEK" under ASK "SEV-<P>", VLEK "SEV-VLEK" under "SEV-VLEK-<P>". */
        bool vlek = i->kind == SNP_LEAF_VLEK;
        bool via_asvk = strncmp(i->intermediate_cn, "SEV-VLEK-", 9) == 0;
        if (strcmp(i->subject_cn, vlek ? "SEV-VLEK" : "SEV-VCEK") != 0)
            VFAIL(vc, "%s subject CN is \"%s\" (expected \"%s\")", kind_name(i), i->subject_cn,
                  vlek ? "SEV-VLEK" : "SEV-VCEK");
        if (vlek != via_asvk)
            VFAIL(vc, "%s is signed by \"%s\" (a %s must chain through the %s)", kind_name(i),
                  i->intermediate_cn, kind_name(i), vlek ? "ASVK SEV-VLEK-<product>" : "ASK");
    }
    return true;
}

static bool check_product(const vcheck *vc)
{
    const snp_leaf_info *i = vc->info;
    const veil_snp_report *r = vc->r;
    if (i->product == VEIL_SNP_PRODUCT_UNKNOWN)
        VFAIL(vc, "certificate names no known product (productName \"%s\", issuer CN \"%s\")",
              i->product_name, i->issuer_cn);
    if (r->version >= 3) {
        veil_snp_product cpu = veil_snp_report_product(r);
        if (cpu != i->product)
            VFAIL(vc, "CPUID family 0x%02x model 0x%02x is %s but the %s productName is \"%s\"",
                  r->cpuid_fam_id, r->cpuid_mod_id,
                  cpu ? veil_snp_product_name(cpu) : "no known SEV-SNP product", kind_name(i),
                  i->product_name[0] ? i->product_name : veil_snp_product_name(i->product));
    }
    int64_t want = i->product == VEIL_SNP_TURIN ? 1 : 0;
    if (!i->struct_version.present || i->struct_version.value != want)
        VFAIL(vc, "%s structVersion %s%lld, expected %lld for %s", kind_name(i),
              i->struct_version.present ? "" : "absent/", (long long)i->struct_version.value,
              (long long)want, veil_snp_product_name(i->product));
    return true;
}

static bool check_chip(const vcheck *vc)
{
    const snp_leaf_info *i = vc->info;
    const veil_snp_report *r = vc->r;
    char have[2 * 8 + 1], want[2 * 8 + 1];
    if (i->kind == SNP_LEAF_VLEK)
        return true; /* a VLEK names no chip; CHIP_ID may be masked */
    size_t need = i->product == VEIL_SNP_TURIN ? HWID_LEN_TURIN : HWID_LEN;
    if (i->hwid_len != need)
        VFAIL(vc, "VCEK hwID is %zu bytes, %s uses %zu", i->hwid_len,
              veil_snp_product_name(i->product), need);
    if (!veil_public_equal(i->hwid, need, r->chip_id, need)) {
        veil_hex_encode(i->hwid, 8, have);
        veil_hex_encode(r->chip_id, 8, want);
        VFAIL(vc, "VCEK hwID %s... != CHIP_ID %s...%s (VCEK of another chip)", have, want,
              veil_snp_mask_chip_key(r) ? " (MASK_CHIP_KEY=1: CHIP_ID masked)" : "");
    }
    return true;
}

static bool spl_eq(const vcheck *vc, const char *name, const snp_spl *cert, const char *part,
                   unsigned rep)
{
    if (!cert->present)
        VFAIL(vc, "%s has no %s extension", kind_name(vc->info), name);
    if (cert->value != (int64_t)rep)
        VFAIL(vc, "REPORTED_TCB %s=%u but %s %s=%lld", part, rep, kind_name(vc->info), name,
              (long long)cert->value);
    return true;
}

static bool check_tcb(const vcheck *vc, veil_snp_tcb *t)
{
    const snp_leaf_info *i = vc->info;
    if (!veil_ok(veil_snp_tcb_decode(vc->r->reported_tcb, i->product, t)))
        VFAIL(vc, "cannot decode REPORTED_TCB without a product");
    if (i->product == VEIL_SNP_TURIN && !spl_eq(vc, "fmcSPL", &i->fmc, "fmc", t->fmc))
        return false;
    return spl_eq(vc, "blSPL", &i->bl, "bl", t->bootloader) &&
           spl_eq(vc, "teeSPL", &i->tee, "tee", t->tee) &&
           spl_eq(vc, "snpSPL", &i->snp, "snp", t->snp) &&
           spl_eq(vc, "ucodeSPL", &i->ucode, "ucode", t->microcode);
}

void snp_check_vcek(const snp_leaf_info *info, const veil_snp_report *r, veil_verdict *v)
{
    vcheck vc = {info, r, v};
    veil_snp_tcb t;
    char fmc[16] = "";
    if (!check_kind(&vc) || !check_product(&vc) || !check_chip(&vc) || !check_tcb(&vc, &t))
        return;
    if (t.has_fmc)
        snprintf(fmc, sizeof fmc, "fmc=%u ", t.fmc);
    veil_verdict_record(v, VEIL_CHECK_VCEK, true,
                        "%s %s%s%s binds the report: %s, REPORTED_TCB %sbl=%u tee=%u snp=%u "
                        "ucode=%u",
                        kind_name(info), info->product_name[0] ? info->product_name : "",
                        info->kind == SNP_LEAF_VLEK ? " cspID " : "",
                        info->kind == SNP_LEAF_VLEK ? info->csp_id : "",
                        info->kind == SNP_LEAF_VLEK ? "no hwID" : "hwID == CHIP_ID", fmc,
                        t.bootloader, t.tee, t.snp, t.microcode);
}
