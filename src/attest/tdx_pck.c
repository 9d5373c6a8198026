/* The PCK certificate's Intel SGX extension, 1.2.840.113741.1.13.1
 * (notes §2.4; dcap-qvl src/oids.rs; Intel PCK Certificate and CRL Profile):
 *
 *   SEQUENCE OF SEQUENCE { OID, value }:
 *     .1 PPID                OCTET STRING (16)
 *     .2 TCB                 SEQUENCE OF SEQUENCE { OID .2.k, value }:
 *                              .2.1 .. .2.16 comp SVN INTEGER, .2.17 PCESVN INTEGER,
 *                              .2.18 CPUSVN OCTET STRING (16)
 *     .3 PCE-ID              OCTET STRING (2)
 *     .4 FMSPC               OCTET STRING (6)
 *     .5 SGX Type            ENUMERATED (0 Standard, 1 Scalable, 2 Scalable with Integrity)
 *     .6 PlatformInstanceID  OCTET STRING (16)          (Platform CA PCKs only)
 *     .7 Configuration       SEQUENCE OF { OID .7.k, BOOLEAN }   (Platform CA PCKs only)
 *
 * A small strict DER reader over the bounded cursor: single-byte tags,
 * definite minimal lengths, every constructed value consumed exactly.
 * OIDs are compared as their encoded bytes. */
#include <string.h>

#include "attest/tdx_internal.h"
#include "veil/cursor.h"
#include "veil/mem.h"

enum {
    DER_BOOLEAN = 0x01,
    DER_INTEGER = 0x02,
    DER_OCTET_STRING = 0x04,
    DER_OID = 0x06,
    DER_ENUMERATED = 0x0A,
    DER_SEQUENCE = 0x30,
};

/* 1.2.840.113741.1.13.1 encoded: 2A 86 48 86 F8 4D 01 0D 01 */
static const uint8_t sgx_oid[] = {0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01};
#define SGX_OID_LEN sizeof sgx_oid

enum { ARC_PPID = 1, ARC_TCB, ARC_PCEID, ARC_FMSPC, ARC_SGX_TYPE, ARC_PIID, ARC_CONFIG };
enum { TCB_PCESVN = 17, TCB_CPUSVN = 18 };

static const char *const too_long = "pck extension: element longer than its container";

/* One TLV with the expected tag; *body covers exactly its contents. */
static veil_result der_next(veil_cursor *c, uint8_t tag, veil_cursor *body, const char *what)
{
    uint8_t t, l0;
    size_t len = 0;
    VEIL_ENSURE(veil_ok(veil_cursor_u8(c, &t)) && veil_ok(veil_cursor_u8(c, &l0)), VEIL_E_PROTOCOL,
                too_long);
    VEIL_ENSURE(t == tag, VEIL_E_PROTOCOL, what);
    if (l0 < 0x80) {
        len = l0;
    } else {
        size_t nb = l0 & 0x7F;
        /* 0x80 (indefinite) and lengths beyond 3 bytes never occur in a PCK certificate */
        VEIL_ENSURE(nb >= 1 && nb <= 3, VEIL_E_PROTOCOL, "pck extension: unsupported DER length");
        for (size_t i = 0; i < nb; i++) {
            uint8_t b;
            VEIL_ENSURE(veil_ok(veil_cursor_u8(c, &b)), VEIL_E_PROTOCOL, too_long);
            VEIL_ENSURE(i > 0 || b != 0, VEIL_E_PROTOCOL, "pck extension: non-minimal DER length");
            len = (len << 8) | b;
        }
        VEIL_ENSURE(len >= 0x80, VEIL_E_PROTOCOL, "pck extension: non-minimal DER length");
    }
    VEIL_ENSURE(veil_ok(veil_cursor_sub(c, len, body)), VEIL_E_PROTOCOL, too_long);
    return VEIL_OK;
}

/* A non-negative INTEGER (or ENUMERATED) in minimal form, at most `max`. */
static veil_result der_uint(veil_cursor *c, uint8_t tag, uint32_t max, uint32_t *out,
                            const char *what)
{
    veil_cursor b;
    VEIL_GUARD(der_next(c, tag, &b, what));
    size_t n = veil_cursor_remaining(&b);
    const uint8_t *p = veil_cursor_peek_ptr(&b);
    VEIL_ENSURE(n >= 1 && n <= 4, VEIL_E_PROTOCOL, what);
    VEIL_ENSURE(!(p[0] & 0x80), VEIL_E_PROTOCOL, what);                       /* negative */
    VEIL_ENSURE(n == 1 || p[0] != 0 || (p[1] & 0x80), VEIL_E_PROTOCOL, what); /* non-minimal */
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    VEIL_ENSURE(v <= max, VEIL_E_PROTOCOL, what);
    *out = v;
    return VEIL_OK;
}

static veil_result der_octets(veil_cursor *c, uint8_t *out, size_t n, const char *what)
{
    veil_cursor b;
    VEIL_GUARD(der_next(c, DER_OCTET_STRING, &b, what));
    VEIL_ENSURE(veil_cursor_remaining(&b) == n, VEIL_E_PROTOCOL, what);
    return veil_cursor_copy(&b, out, n);
}

/* The OID of an entry: the SGX arc followed by `depth` (1 or 2) small arcs. */
static veil_result der_sgx_oid(veil_cursor *c, size_t depth, uint8_t arcs[2])
{
    veil_cursor b;
    const char *bad = "pck extension: an entry's OID is not under 1.2.840.113741.1.13.1";
    VEIL_GUARD(der_next(c, DER_OID, &b, bad));
    size_t n = veil_cursor_remaining(&b);
    const uint8_t *p = veil_cursor_peek_ptr(&b);
    VEIL_ENSURE(n == SGX_OID_LEN + depth && veil_public_equal(p, SGX_OID_LEN, sgx_oid, SGX_OID_LEN),
                VEIL_E_PROTOCOL, bad);
    for (size_t i = 0; i < depth; i++) {
        VEIL_ENSURE(p[SGX_OID_LEN + i] < 0x80, VEIL_E_PROTOCOL, bad);
        arcs[i] = p[SGX_OID_LEN + i];
    }
    return VEIL_OK;
}

static bool seen_once(uint32_t *seen, unsigned bit)
{
    if (*seen & (1u << bit))
        return false;
    *seen |= 1u << bit;
    return true;
}

/* .2 TCB: 16 comp SVNs, PCESVN and CPUSVN, each exactly once. */
static veil_result decode_tcb(veil_cursor *c, veil_tdx_pck *out)
{
    veil_cursor seq;
    uint32_t seen = 0;
    VEIL_GUARD(der_next(c, DER_SEQUENCE, &seq, "pck extension: TCB is not a SEQUENCE"));
    while (!veil_cursor_at_end(&seq)) {
        veil_cursor e;
        uint8_t arcs[2];
        uint32_t v;
        VEIL_GUARD(der_next(&seq, DER_SEQUENCE, &e, "pck extension: TCB entry is not a SEQUENCE"));
        VEIL_GUARD(der_sgx_oid(&e, 2, arcs));
        VEIL_ENSURE(arcs[0] == ARC_TCB && arcs[1] >= 1 && arcs[1] <= TCB_CPUSVN, VEIL_E_PROTOCOL,
                    "pck extension: unknown TCB component OID");
        VEIL_ENSURE(seen_once(&seen, arcs[1]), VEIL_E_PROTOCOL,
                    "pck extension: a TCB component occurs twice");
        if (arcs[1] == TCB_CPUSVN) {
            VEIL_GUARD(der_octets(&e, out->cpusvn, 16, "pck extension: CPUSVN is not 16 octets"));
        } else if (arcs[1] == TCB_PCESVN) {
            VEIL_GUARD(der_uint(&e, DER_INTEGER, 0xFFFF, &v,
                                "pck extension: PCESVN is not an INTEGER 0..65535"));
            out->pcesvn = (uint16_t)v;
        } else {
            VEIL_GUARD(der_uint(&e, DER_INTEGER, 0xFF, &v,
                                "pck extension: a TCB comp SVN is not an INTEGER 0..255"));
            out->comp_svn[arcs[1] - 1] = (uint8_t)v;
        }
        VEIL_GUARD(veil_cursor_expect_end(&e, "pck extension: TCB entry has extra elements"));
    }
    VEIL_ENSURE(seen == 0x7FFFEu, VEIL_E_PROTOCOL,
                "pck extension: TCB lacks a comp SVN, PCESVN or CPUSVN");
    return VEIL_OK;
}

/* .7 Configuration: .7.1 dynamic platform, .7.2 cached keys, .7.3 SMT enabled
 * (QvE isDynamicPlatform / isCachedKeys); other BOOLEANs are skipped. */
static veil_result decode_config(veil_cursor *c, veil_tdx_pck *out)
{
    veil_cursor seq;
    uint32_t seen = 0;
    VEIL_GUARD(der_next(c, DER_SEQUENCE, &seq, "pck extension: Configuration is not a SEQUENCE"));
    while (!veil_cursor_at_end(&seq)) {
        veil_cursor e, b;
        uint8_t arcs[2];
        VEIL_GUARD(der_next(&seq, DER_SEQUENCE, &e, "pck extension: Configuration entry"));
        VEIL_GUARD(der_sgx_oid(&e, 2, arcs));
        VEIL_ENSURE(arcs[0] == ARC_CONFIG, VEIL_E_PROTOCOL,
                    "pck extension: Configuration entry OID is not under .7");
        VEIL_GUARD(der_next(&e, DER_BOOLEAN, &b, "pck extension: Configuration is not BOOLEAN"));
        VEIL_ENSURE(veil_cursor_remaining(&b) == 1, VEIL_E_PROTOCOL,
                    "pck extension: Configuration BOOLEAN is not one octet");
        /* DER BOOLEAN: 0x00 false, 0xFF true */
        uint8_t val = *veil_cursor_peek_ptr(&b);
        VEIL_ENSURE(val == 0x00 || val == 0xFF, VEIL_E_PROTOCOL,
                    "pck extension: Configuration BOOLEAN is not 0x00 or 0xFF");
        VEIL_ENSURE(arcs[1] >= 32 || seen_once(&seen, arcs[1]), VEIL_E_PROTOCOL,
                    "pck extension: a Configuration entry occurs twice");
        if (arcs[1] == 1)
            out->dynamic_platform = val != 0;
        else if (arcs[1] == 2)
            out->cached_keys = val != 0;
        else if (arcs[1] == 3)
            out->smt_enabled = val != 0;
        VEIL_GUARD(veil_cursor_expect_end(&e, "pck extension: Configuration entry has extra "
                                              "elements"));
    }
    return VEIL_OK;
}

static veil_result decode_entry(veil_cursor *e, uint8_t arc, veil_tdx_pck *out)
{
    uint32_t v;
    switch (arc) {
    case ARC_PPID: return der_octets(e, out->ppid, 16, "pck extension: PPID is not 16 octets");
    case ARC_TCB: return decode_tcb(e, out);
    case ARC_PCEID: return der_octets(e, out->pceid, 2, "pck extension: PCE-ID is not 2 octets");
    case ARC_FMSPC: return der_octets(e, out->fmspc, 6, "pck extension: FMSPC is not 6 octets");
    case ARC_SGX_TYPE:
        VEIL_GUARD(der_uint(e, DER_ENUMERATED, 2, &v,
                            "pck extension: SGX Type is not an ENUMERATED 0..2"));
        out->sgx_type = (int)v;
        return VEIL_OK;
    case ARC_PIID:
        out->has_platform_instance_id = true;
        return der_octets(e, out->platform_instance_id, 16,
                          "pck extension: PlatformInstanceID is not 16 octets");
    case ARC_CONFIG: out->has_configuration = true; return decode_config(e, out);
    default: /* a later addition: skip its value */
        return veil_cursor_skip(e, veil_cursor_remaining(e));
    }
}

veil_result tdx_pck_ext_decode(const uint8_t *p, size_t n, veil_tdx_pck *out)
{
    veil_result res = VEIL_OK;
    veil_cursor c = veil_cursor_init(p, n), seq;
    uint32_t seen = 0;
    memset(out, 0, sizeof *out);
    VEIL_TRY(res, der_next(&c, DER_SEQUENCE, &seq, "pck extension: not a DER SEQUENCE"));
    VEIL_TRY(res, veil_cursor_expect_end(&c, "pck extension: bytes after the SEQUENCE"));
    while (!veil_cursor_at_end(&seq)) {
        veil_cursor e;
        uint8_t arc[2];
        VEIL_TRY(res, der_next(&seq, DER_SEQUENCE, &e, "pck extension: entry is not a SEQUENCE"));
        VEIL_TRY(res, der_sgx_oid(&e, 1, arc));
        VEIL_ENSURE_GOTO(res, arc[0] >= 32 || seen_once(&seen, arc[0]), VEIL_E_PROTOCOL,
                         "pck extension: an entry occurs twice");
        VEIL_TRY(res, decode_entry(&e, arc[0], out));
        VEIL_TRY(res, veil_cursor_expect_end(&e, "pck extension: entry has extra elements"));
    }
    unsigned required =
        1u << ARC_PPID | 1u << ARC_TCB | 1u << ARC_PCEID | 1u << ARC_FMSPC | 1u << ARC_SGX_TYPE;
    VEIL_ENSURE_GOTO(res, (seen & required) == required, VEIL_E_PROTOCOL,
                     "pck extension: lacks PPID, TCB, PCE-ID, FMSPC or SGX Type");
    out->present = true;
out:
    if (!veil_ok(res))
        memset(out, 0, sizeof *out);
    return res;
}

veil_result tdx_pck_read(const veil_x509 *pck, veil_tdx_pck *out)
{
    bool found = false;
    const uint8_t *val = NULL;
    size_t len = 0;
    char issuer[64];
    memset(out, 0, sizeof *out);
    VEIL_GUARD(veil_x509_ext(pck, TDX_OID_SGX_EXTENSION, &found, &val, &len));
    VEIL_ENSURE(found, VEIL_E_PROTOCOL,
                "pck extension: the PCK certificate has no SGX extension 1.2.840.113741.1.13.1");
    VEIL_GUARD(tdx_pck_ext_decode(val, len, out));
    veil_x509_issuer_cn(pck, issuer, sizeof issuer);
    if (!strcmp(issuer, "Intel SGX PCK Platform CA"))
        memcpy(out->ca, "platform", sizeof "platform");
    else if (!strcmp(issuer, "Intel SGX PCK Processor CA"))
        memcpy(out->ca, "processor", sizeof "processor");
    return VEIL_OK;
}
