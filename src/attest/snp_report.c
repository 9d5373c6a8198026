/* SEV-SNP ATTESTATION_REPORT (AMD SEV-SNP ABI spec 56860, Table 22) and
 * TCB_VERSION: decoded field by field through a bounded cursor, encoded at
 * the same named offsets. Layout per go-sev-guest abi/abi.go ReportToProto
 * and virtee/sev snp.rs (notes/attestation-formats.md §1.1, §1.3). */
#include <string.h>

#include "veil/cursor.h"
#include "veil/mem.h"
#include "veil/snp.h"

/* Byte offsets (all integers little-endian). */
enum {
    OFF_VERSION = 0x000,
    OFF_GUEST_SVN = 0x004,
    OFF_POLICY = 0x008,
    OFF_FAMILY_ID = 0x010,
    OFF_IMAGE_ID = 0x020,
    OFF_VMPL = 0x030,
    OFF_SIG_ALGO = 0x034,
    OFF_CURRENT_TCB = 0x038,
    OFF_PLATFORM_INFO = 0x040,
    OFF_SIGNER_INFO = 0x048,
    OFF_RSVD_04C = 0x04C, /* 4 bytes MBZ */
    OFF_REPORT_DATA = 0x050,
    OFF_MEASUREMENT = 0x090,
    OFF_HOST_DATA = 0x0C0,
    OFF_ID_KEY_DIGEST = 0x0E0,
    OFF_AUTHOR_KEY_DIGEST = 0x110,
    OFF_REPORT_ID = 0x140,
    OFF_REPORT_ID_MA = 0x160,
    OFF_REPORTED_TCB = 0x180,
    OFF_CPUID_FAM_ID = 0x188, /* v3+; reserved from here to 0x1A0 in v2 */
    OFF_CPUID_MOD_ID = 0x189,
    OFF_CPUID_STEP = 0x18A,
    OFF_RSVD_18B = 0x18B, /* MBZ to 0x1A0 (v3+) */
    OFF_CHIP_ID = 0x1A0,
    OFF_COMMITTED_TCB = 0x1E0,
    OFF_CURRENT_BUILD = 0x1E8,
    OFF_CURRENT_MINOR = 0x1E9,
    OFF_CURRENT_MAJOR = 0x1EA,
    OFF_RSVD_1EB = 0x1EB,
    OFF_COMMITTED_BUILD = 0x1EC,
    OFF_COMMITTED_MINOR = 0x1ED,
    OFF_COMMITTED_MAJOR = 0x1EE,
    OFF_RSVD_1EF = 0x1EF,
    OFF_LAUNCH_TCB = 0x1F0,
    OFF_LAUNCH_MIT_VECTOR = 0x1F8, /* v5; reserved from here to 0x2A0 before */
    OFF_CURRENT_MIT_VECTOR = 0x200,
    OFF_RSVD_208 = 0x208, /* MBZ to 0x2A0 (v5) */
    OFF_SIG_R = 0x2A0,
    OFF_SIG_S = 0x2E8,
    OFF_SIG_RSVD = 0x330, /* MBZ to 0x4A0 */
};

_Static_assert(OFF_SIG_R == VEIL_SNP_SIGNED_SIZE, "signature follows the signed part");
_Static_assert(OFF_SIG_S == OFF_SIG_R + VEIL_SNP_SIG_COMPONENT_SIZE, "S follows R");
_Static_assert(OFF_SIG_RSVD == OFF_SIG_S + VEIL_SNP_SIG_COMPONENT_SIZE, "reserved follows S");

/* ---- products ------------------------------------------------------------------------ */

static const char *const product_names[] = {
    [VEIL_SNP_PRODUCT_UNKNOWN] = "unknown",
    [VEIL_SNP_MILAN] = "Milan",
    [VEIL_SNP_GENOA] = "Genoa",
    [VEIL_SNP_TURIN] = "Turin",
};

const char *veil_snp_product_name(veil_snp_product p)
{
    return (unsigned)p <= VEIL_SNP_TURIN ? product_names[p] : "unknown";
}

veil_snp_product veil_snp_product_from_name(const char *name)
{
    if (!name)
        return VEIL_SNP_PRODUCT_UNKNOWN;
    for (int p = VEIL_SNP_MILAN; p <= VEIL_SNP_TURIN; p++) {
        size_t n = strlen(product_names[p]);
        /* "Milan" or "Milan-<stepping>" */
        if (strncmp(name, product_names[p], n) == 0 && (name[n] == '\0' || name[n] == '-'))
            return (veil_snp_product)p;
    }
    return VEIL_SNP_PRODUCT_UNKNOWN;
}

veil_snp_product veil_snp_product_from_cpuid(uint8_t family, uint8_t model)
{
    if (family == 0x19 && model <= 0x0F)
        return VEIL_SNP_MILAN;
    if (family == 0x19 && ((model >= 0x10 && model <= 0x1F) || (model >= 0xA0 && model <= 0xAF)))
        return VEIL_SNP_GENOA;
    if (family == 0x1A && model <= 0x11)
        return VEIL_SNP_TURIN;
    return VEIL_SNP_PRODUCT_UNKNOWN;
}

veil_snp_product veil_snp_report_product(const veil_snp_report *r)
{
    if (r->version < 3)
        return VEIL_SNP_PRODUCT_UNKNOWN;
    return veil_snp_product_from_cpuid(r->cpuid_fam_id, r->cpuid_mod_id);
}

/* ---- TCB_VERSION ---------------------------------------------------------------------- */

/* Byte positions within the little-endian u64. */
enum { TCB_LEGACY_BL = 0, TCB_LEGACY_TEE = 1, TCB_LEGACY_SNP = 6, TCB_UCODE = 7 };
enum { TCB_TURIN_FMC = 0, TCB_TURIN_BL = 1, TCB_TURIN_TEE = 2, TCB_TURIN_SNP = 3 };

static uint8_t tcb_byte(uint64_t raw, unsigned i) { return (uint8_t)(raw >> (8 * i)); }
static uint64_t tcb_put(uint8_t v, unsigned i) { return (uint64_t)v << (8 * i); }

veil_result veil_snp_tcb_decode(uint64_t raw, veil_snp_product product, veil_snp_tcb *out)
{
    memset(out, 0, sizeof *out);
    switch (product) {
    case VEIL_SNP_MILAN:
    case VEIL_SNP_GENOA:
        out->bootloader = tcb_byte(raw, TCB_LEGACY_BL);
        out->tee = tcb_byte(raw, TCB_LEGACY_TEE);
        out->snp = tcb_byte(raw, TCB_LEGACY_SNP);
        out->microcode = tcb_byte(raw, TCB_UCODE);
        return VEIL_OK;
    case VEIL_SNP_TURIN:
        out->has_fmc = true;
        out->fmc = tcb_byte(raw, TCB_TURIN_FMC);
        out->bootloader = tcb_byte(raw, TCB_TURIN_BL);
        out->tee = tcb_byte(raw, TCB_TURIN_TEE);
        out->snp = tcb_byte(raw, TCB_TURIN_SNP);
        out->microcode = tcb_byte(raw, TCB_UCODE);
        return VEIL_OK;
    case VEIL_SNP_PRODUCT_UNKNOWN: break;
    }
    return VEIL_ERR(VEIL_E_USAGE, "snp tcb: the product is needed to choose the TCB layout");
}

uint64_t veil_snp_tcb_encode(const veil_snp_tcb *t, veil_snp_product product)
{
    if (product == VEIL_SNP_TURIN)
        return tcb_put(t->fmc, TCB_TURIN_FMC) | tcb_put(t->bootloader, TCB_TURIN_BL) |
               tcb_put(t->tee, TCB_TURIN_TEE) | tcb_put(t->snp, TCB_TURIN_SNP) |
               tcb_put(t->microcode, TCB_UCODE);
    return tcb_put(t->bootloader, TCB_LEGACY_BL) | tcb_put(t->tee, TCB_LEGACY_TEE) |
           tcb_put(t->snp, TCB_LEGACY_SNP) | tcb_put(t->microcode, TCB_UCODE);
}

bool veil_snp_tcb_at_least(const veil_snp_tcb *have, const veil_snp_tcb *min)
{
    /* go-sev-guest kds.TCBPartsLE: component-wise. */
    if (have->has_fmc && min->has_fmc && have->fmc < min->fmc)
        return false;
    if (!have->has_fmc && min->has_fmc && min->fmc > 0)
        return false;
    return have->bootloader >= min->bootloader && have->tee >= min->tee && have->snp >= min->snp &&
           have->microcode >= min->microcode;
}

/* ---- decode ------------------------------------------------------------------------------ */

/* Read `n` reserved bytes that must be zero. */
static veil_result mbz(veil_cursor *c, size_t n, const char *msg)
{
    const uint8_t *p;
    VEIL_GUARD(veil_cursor_view(c, n, &p));
    for (size_t i = 0; i < n; i++)
        VEIL_ENSURE(p[i] == 0, VEIL_E_PROTOCOL, msg);
    return VEIL_OK;
}

/* Sanity: the cursor sits at the documented offset of the next field. */
static veil_result at(const veil_cursor *c, size_t off)
{
    VEIL_ENSURE(c->off == off, VEIL_E_INTERNAL, "snp report: decoder offset mismatch");
    return VEIL_OK;
}

static veil_result decode_header(veil_cursor *c, veil_snp_report *r)
{
    VEIL_GUARD(at(c, OFF_VERSION));
    VEIL_GUARD(veil_cursor_u32le(c, &r->version));
    VEIL_ENSURE(r->version >= VEIL_SNP_REPORT_VERSION_MIN &&
                    r->version <= VEIL_SNP_REPORT_VERSION_MAX,
                VEIL_E_PROTOCOL, "snp report: unsupported VERSION (supported: 2..5)");
    VEIL_GUARD(veil_cursor_u32le(c, &r->guest_svn));
    VEIL_GUARD(at(c, OFF_POLICY));
    VEIL_GUARD(veil_cursor_u64le(c, &r->policy));
    VEIL_ENSURE(r->policy & VEIL_SNP_POLICY_RESERVED17, VEIL_E_PROTOCOL,
                "snp report: POLICY bit 17 (reserved, must be 1) is clear");
    VEIL_ENSURE(!(r->policy & VEIL_SNP_POLICY_MBZ_MASK), VEIL_E_PROTOCOL,
                "snp report: POLICY reserved bits 63:26 are not zero");
    VEIL_GUARD(veil_cursor_copy(c, r->family_id, sizeof r->family_id));
    VEIL_GUARD(at(c, OFF_IMAGE_ID));
    VEIL_GUARD(veil_cursor_copy(c, r->image_id, sizeof r->image_id));
    VEIL_GUARD(at(c, OFF_VMPL));
    VEIL_GUARD(veil_cursor_u32le(c, &r->vmpl));
    VEIL_GUARD(at(c, OFF_SIG_ALGO));
    VEIL_GUARD(veil_cursor_u32le(c, &r->signature_algo));
    VEIL_ENSURE(r->signature_algo == VEIL_SNP_SIG_ALGO_ECDSA_P384_SHA384, VEIL_E_PROTOCOL,
                "snp report: SIGNATURE_ALGO is not 1 (ECDSA P-384 with SHA-384)");
    VEIL_GUARD(at(c, OFF_CURRENT_TCB));
    VEIL_GUARD(veil_cursor_u64le(c, &r->current_tcb));
    VEIL_GUARD(at(c, OFF_PLATFORM_INFO));
    VEIL_GUARD(veil_cursor_u64le(c, &r->platform_info));
    VEIL_GUARD(at(c, OFF_SIGNER_INFO));
    VEIL_GUARD(veil_cursor_u32le(c, &r->signer_info));
    VEIL_ENSURE(!(r->signer_info & VEIL_SNP_SIGNER_MBZ_MASK), VEIL_E_PROTOCOL,
                "snp report: SIGNER_INFO reserved bits 31:5 are not zero");
    unsigned key = veil_snp_signing_key(r);
    VEIL_ENSURE(key == VEIL_SNP_SIGNING_KEY_VCEK || key == VEIL_SNP_SIGNING_KEY_VLEK ||
                    key == VEIL_SNP_SIGNING_KEY_NONE,
                VEIL_E_PROTOCOL, "snp report: SIGNING_KEY is a reserved value (2..6)");
    VEIL_GUARD(at(c, OFF_RSVD_04C));
    return mbz(c, OFF_REPORT_DATA - OFF_RSVD_04C,
               "snp report: reserved bytes 0x04C..0x050 are not zero");
}

static veil_result decode_body(veil_cursor *c, veil_snp_report *r)
{
    VEIL_GUARD(at(c, OFF_REPORT_DATA));
    VEIL_GUARD(veil_cursor_copy(c, r->report_data, sizeof r->report_data));
    VEIL_GUARD(veil_cursor_copy(c, r->measurement, sizeof r->measurement));
    VEIL_GUARD(at(c, OFF_HOST_DATA));
    VEIL_GUARD(veil_cursor_copy(c, r->host_data, sizeof r->host_data));
    VEIL_GUARD(veil_cursor_copy(c, r->id_key_digest, sizeof r->id_key_digest));
    VEIL_GUARD(at(c, OFF_AUTHOR_KEY_DIGEST));
    VEIL_GUARD(veil_cursor_copy(c, r->author_key_digest, sizeof r->author_key_digest));
    VEIL_GUARD(veil_cursor_copy(c, r->report_id, sizeof r->report_id));
    VEIL_GUARD(at(c, OFF_REPORT_ID_MA));
    VEIL_GUARD(veil_cursor_copy(c, r->report_id_ma, sizeof r->report_id_ma));
    VEIL_GUARD(at(c, OFF_REPORTED_TCB));
    VEIL_GUARD(veil_cursor_u64le(c, &r->reported_tcb));
    VEIL_GUARD(at(c, OFF_CPUID_FAM_ID));
    if (r->version >= 3) {
        VEIL_GUARD(veil_cursor_u8(c, &r->cpuid_fam_id));
        VEIL_GUARD(veil_cursor_u8(c, &r->cpuid_mod_id));
        VEIL_GUARD(veil_cursor_u8(c, &r->cpuid_step));
        VEIL_GUARD(at(c, OFF_RSVD_18B));
        VEIL_GUARD(mbz(c, OFF_CHIP_ID - OFF_RSVD_18B,
                       "snp report: reserved bytes 0x18B..0x1A0 are not zero"));
    } else {
        VEIL_GUARD(mbz(c, OFF_CHIP_ID - OFF_CPUID_FAM_ID,
                       "snp report: reserved bytes 0x188..0x1A0 are not zero (v2 has no CPUID "
                       "fields)"));
    }
    VEIL_GUARD(at(c, OFF_CHIP_ID));
    return veil_cursor_copy(c, r->chip_id, sizeof r->chip_id);
}

static veil_result decode_versions(veil_cursor *c, veil_snp_report *r)
{
    VEIL_GUARD(at(c, OFF_COMMITTED_TCB));
    VEIL_GUARD(veil_cursor_u64le(c, &r->committed_tcb));
    VEIL_GUARD(at(c, OFF_CURRENT_BUILD));
    VEIL_GUARD(veil_cursor_u8(c, &r->current_build));
    VEIL_GUARD(veil_cursor_u8(c, &r->current_minor));
    VEIL_GUARD(veil_cursor_u8(c, &r->current_major));
    VEIL_GUARD(at(c, OFF_RSVD_1EB));
    VEIL_GUARD(mbz(c, 1, "snp report: reserved byte 0x1EB is not zero"));
    VEIL_GUARD(at(c, OFF_COMMITTED_BUILD));
    VEIL_GUARD(veil_cursor_u8(c, &r->committed_build));
    VEIL_GUARD(veil_cursor_u8(c, &r->committed_minor));
    VEIL_GUARD(veil_cursor_u8(c, &r->committed_major));
    VEIL_GUARD(at(c, OFF_RSVD_1EF));
    VEIL_GUARD(mbz(c, 1, "snp report: reserved byte 0x1EF is not zero"));
    VEIL_GUARD(at(c, OFF_LAUNCH_TCB));
    VEIL_GUARD(veil_cursor_u64le(c, &r->launch_tcb));
    VEIL_GUARD(at(c, OFF_LAUNCH_MIT_VECTOR));
    if (r->version >= 5) {
        VEIL_GUARD(veil_cursor_u64le(c, &r->launch_mit_vector));
        VEIL_GUARD(veil_cursor_u64le(c, &r->current_mit_vector));
        VEIL_GUARD(at(c, OFF_RSVD_208));
        return mbz(c, OFF_SIG_R - OFF_RSVD_208,
                   "snp report: reserved bytes 0x208..0x2A0 are not zero");
    }
    return mbz(c, OFF_SIG_R - OFF_LAUNCH_MIT_VECTOR,
               "snp report: reserved bytes 0x1F8..0x2A0 are not zero (mitigation vectors need "
               "VERSION 5)");
}

static veil_result decode_signature(veil_cursor *c, veil_snp_report *r)
{
    VEIL_GUARD(at(c, OFF_SIG_R));
    VEIL_GUARD(veil_cursor_copy(c, r->sig_r, sizeof r->sig_r));
    VEIL_GUARD(at(c, OFF_SIG_S));
    VEIL_GUARD(veil_cursor_copy(c, r->sig_s, sizeof r->sig_s));
    VEIL_GUARD(at(c, OFF_SIG_RSVD));
    VEIL_GUARD(mbz(c, VEIL_SNP_REPORT_SIZE - OFF_SIG_RSVD,
                   "snp report: reserved signature bytes 0x330..0x4A0 are not zero"));
    return at(c, VEIL_SNP_REPORT_SIZE);
}

veil_result veil_snp_report_decode(const uint8_t *p, size_t n, veil_snp_report *out)
{
    veil_result res = VEIL_OK;
    VEIL_ENSURE(out != NULL, VEIL_E_USAGE, "snp report: NULL output");
    memset(out, 0, sizeof *out);
    VEIL_ENSURE(p != NULL || n == 0, VEIL_E_USAGE, "snp report: NULL input");
    VEIL_ENSURE(n >= VEIL_SNP_REPORT_SIZE, VEIL_E_PROTOCOL,
                "snp report: truncated (an ATTESTATION_REPORT is 1184 bytes)");
    /* Only the report itself; trailing bytes (zero padding) are ignored. */
    veil_cursor c = veil_cursor_init(p, VEIL_SNP_REPORT_SIZE);
    VEIL_TRY(res, decode_header(&c, out));
    VEIL_TRY(res, decode_body(&c, out));
    VEIL_TRY(res, decode_versions(&c, out));
    VEIL_TRY(res, decode_signature(&c, out));
    memcpy(out->raw, p, VEIL_SNP_REPORT_SIZE);
out:
    if (!veil_ok(res))
        memset(out, 0, sizeof *out);
    return res;
}

/* ---- encode ---------------------------------------------------------------------------- */

static void put32(uint8_t *out, size_t off, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        out[off + i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *out, size_t off, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        out[off + i] = (uint8_t)(v >> (8 * i));
}

static void put(uint8_t *out, size_t off, const void *p, size_t n) { memcpy(out + off, p, n); }

static void encode_fields(const veil_snp_report *r, uint8_t *o)
{
    memset(o, 0, VEIL_SNP_REPORT_SIZE);
    put32(o, OFF_VERSION, r->version);
    put32(o, OFF_GUEST_SVN, r->guest_svn);
    put64(o, OFF_POLICY, r->policy);
    put(o, OFF_FAMILY_ID, r->family_id, sizeof r->family_id);
    put(o, OFF_IMAGE_ID, r->image_id, sizeof r->image_id);
    put32(o, OFF_VMPL, r->vmpl);
    put32(o, OFF_SIG_ALGO, r->signature_algo);
    put64(o, OFF_CURRENT_TCB, r->current_tcb);
    put64(o, OFF_PLATFORM_INFO, r->platform_info);
    put32(o, OFF_SIGNER_INFO, r->signer_info);
    put(o, OFF_REPORT_DATA, r->report_data, sizeof r->report_data);
    put(o, OFF_MEASUREMENT, r->measurement, sizeof r->measurement);
    put(o, OFF_HOST_DATA, r->host_data, sizeof r->host_data);
    put(o, OFF_ID_KEY_DIGEST, r->id_key_digest, sizeof r->id_key_digest);
    put(o, OFF_AUTHOR_KEY_DIGEST, r->author_key_digest, sizeof r->author_key_digest);
    put(o, OFF_REPORT_ID, r->report_id, sizeof r->report_id);
    put(o, OFF_REPORT_ID_MA, r->report_id_ma, sizeof r->report_id_ma);
    put64(o, OFF_REPORTED_TCB, r->reported_tcb);
    o[OFF_CPUID_FAM_ID] = r->cpuid_fam_id;
    o[OFF_CPUID_MOD_ID] = r->cpuid_mod_id;
    o[OFF_CPUID_STEP] = r->cpuid_step;
    put(o, OFF_CHIP_ID, r->chip_id, sizeof r->chip_id);
    put64(o, OFF_COMMITTED_TCB, r->committed_tcb);
    o[OFF_CURRENT_BUILD] = r->current_build;
    o[OFF_CURRENT_MINOR] = r->current_minor;
    o[OFF_CURRENT_MAJOR] = r->current_major;
    o[OFF_COMMITTED_BUILD] = r->committed_build;
    o[OFF_COMMITTED_MINOR] = r->committed_minor;
    o[OFF_COMMITTED_MAJOR] = r->committed_major;
    put64(o, OFF_LAUNCH_TCB, r->launch_tcb);
    put64(o, OFF_LAUNCH_MIT_VECTOR, r->launch_mit_vector);
    put64(o, OFF_CURRENT_MIT_VECTOR, r->current_mit_vector);
    put(o, OFF_SIG_R, r->sig_r, sizeof r->sig_r);
    put(o, OFF_SIG_S, r->sig_s, sizeof r->sig_s);
}

veil_result veil_snp_report_encode(const veil_snp_report *r, uint8_t out[VEIL_SNP_REPORT_SIZE])
{
    VEIL_ENSURE(r != NULL && out != NULL, VEIL_E_USAGE, "snp report encode: NULL argument");
    VEIL_ENSURE(r->version >= 3 || (!r->cpuid_fam_id && !r->cpuid_mod_id && !r->cpuid_step),
                VEIL_E_USAGE, "snp report encode: CPUID fields need VERSION >= 3");
    VEIL_ENSURE(r->version >= 5 || (!r->launch_mit_vector && !r->current_mit_vector), VEIL_E_USAGE,
                "snp report encode: mitigation vectors need VERSION 5");
    uint8_t tmp[VEIL_SNP_REPORT_SIZE];
    encode_fields(r, tmp);
    /* Everything encode writes must decode back: the same checks, one place. */
    veil_snp_report *check = veil_calloc(1, sizeof *check);
    VEIL_ENSURE(check != NULL, VEIL_E_NOMEM, "snp report encode: out of memory");
    veil_result res = veil_snp_report_decode(tmp, sizeof tmp, check);
    veil_free(check);
    if (!veil_ok(res))
        return VEIL_ERR(VEIL_E_USAGE, res.msg);
    memcpy(out, tmp, VEIL_SNP_REPORT_SIZE);
    return VEIL_OK;
}
