/* veil — Intel TDX evidence: the DCAP quote (versions 4 and 5, TD report
 * body types 2 and 3), its QE report and PCK certificate chain, the Intel
 * PCS collateral (TCB info, QE identity, CRLs) and TCB evaluation, RTMR
 * replay from the TD event log (CCEL or dstack JSON), the appraisal policy
 * and the attestation result.
 *
 * References (shared/notes/attestation-formats.md §2): Intel
 * SGXDataCenterAttestationPrimitives sgx_quote_4.h / sgx_quote_5.h,
 * google/go-tdx-guest abi/abi.go, Phala-Network/dcap-qvl src/verify.rs,
 * Intel QVL TcbLevelCheck.cpp / TdxModuleCheck.cpp.
 *
 * As for SEV-SNP, the verifier (veil_tdx_verify) decides only whether the
 * quote is AUTHENTIC and, given collateral, what Intel says about the
 * platform's TCB. Whether it is ACCEPTABLE (MRTD, RTMRs, DEBUG, minimum TCB
 * status, REPORTDATA) is the appraisal's job (veil_tdx_appraise). */
#ifndef VEIL_TDX_H
#define VEIL_TDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/attest.h"
#include "veil/ear.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- quote layout ----------------------------------------------------------------------
 * Header (48 bytes, sgx_quote4_header_t), little-endian integers. */
#define VEIL_TDX_HDR_VERSION 0       /* u16: 4 or 5 */
#define VEIL_TDX_HDR_ATT_KEY_TYPE 2  /* u16: 2 = ECDSA-256-with-P-256 */
#define VEIL_TDX_HDR_TEE_TYPE 4      /* u32: 0x81 = TDX */
#define VEIL_TDX_HDR_RESERVED 8      /* 4 bytes */
#define VEIL_TDX_HDR_QE_VENDOR_ID 12 /* 16 bytes */
#define VEIL_TDX_HDR_USER_DATA 28    /* 20 bytes */
#define VEIL_TDX_HEADER_SIZE 48
/* v5 only: u16 body type and u32 body size between the header and the body. */
#define VEIL_TDX_V5_DESCRIPTOR_SIZE 6

/* TD report body, offsets from its start (sgx_report2_body_t / TDX 1.5). */
#define VEIL_TDX_BODY_TEE_TCB_SVN 0
#define VEIL_TDX_BODY_MR_SEAM 16
#define VEIL_TDX_BODY_MR_SIGNER_SEAM 64
#define VEIL_TDX_BODY_SEAM_ATTRIBUTES 112
#define VEIL_TDX_BODY_TD_ATTRIBUTES 120
#define VEIL_TDX_BODY_XFAM 128
#define VEIL_TDX_BODY_MR_TD 136
#define VEIL_TDX_BODY_MR_CONFIG_ID 184
#define VEIL_TDX_BODY_MR_OWNER 232
#define VEIL_TDX_BODY_MR_OWNER_CONFIG 280
#define VEIL_TDX_BODY_RTMR0 328 /* 4 x 48 bytes */
#define VEIL_TDX_BODY_REPORT_DATA 520
#define VEIL_TDX_BODY_TEE_TCB_SVN2 584 /* body type 3 only */
#define VEIL_TDX_BODY_MR_SERVICETD 600 /* body type 3 only */
#define VEIL_TDX_BODY10_SIZE 584       /* body type 2: TDX 1.0 TD report */
#define VEIL_TDX_BODY15_SIZE 648       /* body type 3: TDX 1.5 TD report */

/* Signed region: v4 header+body = [0, 632); v5 header+descriptor+body = [0, 54+size). */
#define VEIL_TDX_SIGNED_V4 (VEIL_TDX_HEADER_SIZE + VEIL_TDX_BODY10_SIZE)

/* SGX report body (the QE report), 384 bytes; offsets from its start. */
#define VEIL_TDX_QE_CPUSVN 0x00       /* 16 bytes */
#define VEIL_TDX_QE_MISCSELECT 0x10   /* u32 */
#define VEIL_TDX_QE_ATTRIBUTES 0x30   /* 16 bytes */
#define VEIL_TDX_QE_MRENCLAVE 0x40    /* 32 bytes */
#define VEIL_TDX_QE_MRSIGNER 0x80     /* 32 bytes */
#define VEIL_TDX_QE_ISVPRODID 0x100   /* u16 */
#define VEIL_TDX_QE_ISVSVN 0x102      /* u16 */
#define VEIL_TDX_QE_REPORT_DATA 0x140 /* 64 bytes */
#define VEIL_TDX_QE_REPORT_SIZE 384

#define VEIL_TDX_ECDSA_SIG_SIZE 64 /* P-256 r || s, big-endian */
#define VEIL_TDX_ATT_KEY_SIZE 64   /* P-256 x || y, big-endian */

#define VEIL_TDX_VERSION_4 4
#define VEIL_TDX_VERSION_5 5
#define VEIL_TDX_ATT_KEY_ECDSA_P256 2
#define VEIL_TDX_TEE_TYPE_TDX 0x00000081u
#define VEIL_TDX_BODY_TYPE_TD10 2
#define VEIL_TDX_BODY_TYPE_TD15 3
#define VEIL_TDX_CERT_TYPE_PCK_CHAIN 5 /* concatenated PEM: PCK, PCK CA, root */
#define VEIL_TDX_CERT_TYPE_QE_REPORT 6 /* QE report + signature + auth data + type 5 */

/* TDATTRIBUTES (u64 little-endian at body offset 120). */
#define VEIL_TDX_ATTR_DEBUG (1ull << 0)
#define VEIL_TDX_ATTR_SEPT_VE_DISABLE (1ull << 28)
#define VEIL_TDX_ATTR_PKS (1ull << 30)
#define VEIL_TDX_ATTR_KL (1ull << 31)
#define VEIL_TDX_ATTR_PERFMON (1ull << 63)
/* Reserved: TUD bits 7:1, SEC bits 27:8 and 29, OTHER bits 62:32 (dcap-qvl validate_td10). */
#define VEIL_TDX_ATTR_RESERVED_MASK (0xFEull | 0x0FFFFF00ull | (1ull << 29) | 0x7FFFFFFF00000000ull)

/* Inputs larger than these are rejected before parsing. */
#define VEIL_TDX_MAX_QUOTE ((size_t)1 << 20)
#define VEIL_TDX_MAX_COLLATERAL ((size_t)1 << 20)

/* ---- decoded quote ------------------------------------------------------------------- */

typedef struct veil_tdx_header {
    uint16_t version;
    uint16_t att_key_type;
    uint32_t tee_type;
    uint8_t reserved[4];
    uint8_t qe_vendor_id[16];
    uint8_t user_data[20];
} veil_tdx_header;

typedef struct veil_tdx_td_report {
    uint8_t tee_tcb_svn[16]; /* [0] TDX module ISVSVN, [1] module major version */
    uint8_t mr_seam[48];
    uint8_t mr_signer_seam[48];
    uint8_t seam_attributes[8];
    uint8_t td_attributes[8]; /* VEIL_TDX_ATTR_*, see veil_tdx_td_attributes */
    uint8_t xfam[8];
    uint8_t mr_td[48];
    uint8_t mr_config_id[48];
    uint8_t mr_owner[48];
    uint8_t mr_owner_config[48];
    uint8_t rtmr[4][48];
    uint8_t report_data[64];
    uint8_t tee_tcb_svn2[16]; /* body type 3 only (zero otherwise) */
    uint8_t mr_servicetd[48]; /* body type 3 only (zero otherwise) */
} veil_tdx_td_report;

typedef struct veil_tdx_qe_report {
    uint8_t cpusvn[16];
    uint32_t miscselect;
    uint8_t attributes[16];
    uint8_t mrenclave[32];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    uint16_t isvsvn;
    uint8_t report_data[64];
    uint8_t raw[VEIL_TDX_QE_REPORT_SIZE]; /* the signed bytes */
} veil_tdx_qe_report;

/* What the PCK certificate's SGX extension (OID 1.2.840.113741.1.13.1) says;
 * filled by veil_tdx_verify once the PCK certificate parses. */
typedef struct veil_tdx_pck {
    bool present;
    uint8_t ppid[16];
    uint8_t comp_svn[16]; /* SGX TCB component SVNs .2.1 .. .2.16 */
    uint16_t pcesvn;
    uint8_t cpusvn[16];
    uint8_t pceid[2];
    uint8_t fmspc[6];
    int sgx_type; /* 0 Standard, 1 Scalable, 2 Scalable with Integrity */
    bool has_platform_instance_id;
    uint8_t platform_instance_id[16];
    bool has_configuration; /* .7: Platform CA PCKs */
    bool dynamic_platform;  /* .7.1 */
    bool cached_keys;       /* .7.2 */
    bool smt_enabled;       /* .7.3 */
    char ca[16];            /* "platform" or "processor" (from the issuer CN), "" if unknown */
} veil_tdx_pck;

/* TCB statuses in dcap-qvl's severity order (src/tcb_info.rs). */
typedef enum veil_tdx_tcb_status {
    VEIL_TDX_TCB_UP_TO_DATE = 0,
    VEIL_TDX_TCB_SW_HARDENING_NEEDED = 1,
    VEIL_TDX_TCB_CONFIGURATION_NEEDED = 2,
    VEIL_TDX_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED = 3,
    VEIL_TDX_TCB_OUT_OF_DATE = 4,
    VEIL_TDX_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED = 5,
    VEIL_TDX_TCB_REVOKED = 6,
    VEIL_TDX_TCB_UNKNOWN = 7 /* not evaluated (no collateral) or not matched */
} veil_tdx_tcb_status;

/* Intel's spelling ("UpToDate", "SWHardeningNeeded", ...; "Unknown"). */
const char *veil_tdx_tcb_status_name(veil_tdx_tcb_status s);
/* VEIL_TDX_TCB_UNKNOWN when the name is not one of Intel's seven. */
veil_tdx_tcb_status veil_tdx_tcb_status_from_name(const char *name);

#define VEIL_TDX_MAX_ADVISORIES 64
#define VEIL_TDX_ADVISORY_LEN 24

/* The TCB evaluation against the collateral (veil_tdx_verify). */
typedef struct veil_tdx_tcb {
    bool evaluated;             /* collateral authentic and every level matched */
    veil_tdx_tcb_status status; /* most severe of platform, module and QE */
    veil_tdx_tcb_status platform, module, qe;
    bool module_identity; /* TEE_TCB_SVN[1] > 0: a tdxModuleIdentities entry was used */
    char module_id[8];    /* "TDX_01" (when module_identity) */
    size_t level_index;   /* which tcbLevels entry matched the platform */
    char tcb_date[24];    /* the platform level's tcbDate */
    uint32_t tcb_evaluation_data_number;
    size_t n_advisories; /* union over the matched levels, in order of first appearance */
    char advisories[VEIL_TDX_MAX_ADVISORIES][VEIL_TDX_ADVISORY_LEN];
} veil_tdx_tcb;

typedef struct veil_tdx_quote {
    veil_tdx_header header;
    uint16_t body_type; /* 2 or 3 (v4 quotes: 2) */
    uint32_t body_size; /* 584 or 648 */
    veil_tdx_td_report body;
    size_t signed_len;     /* bytes the quote signature covers: 632 (v4) or 54 + body_size */
    uint32_t sig_data_len; /* signature data length field */
    uint8_t signature[VEIL_TDX_ECDSA_SIG_SIZE];
    uint8_t attest_key[VEIL_TDX_ATT_KEY_SIZE];
    uint16_t cert_type; /* outer certification data type: 6 */
    uint32_t cert_size;
    veil_tdx_qe_report qe_report;
    uint8_t qe_report_sig[VEIL_TDX_ECDSA_SIG_SIZE];
    /* Views into the decoded bytes (valid while they are). */
    const uint8_t *qe_auth_data;
    size_t qe_auth_data_len;
    uint16_t pck_cert_type; /* inner certification data type: 5 */
    uint32_t pck_cert_size;
    const uint8_t *pck_chain; /* PEM, trailing NUL bytes stripped */
    size_t pck_chain_len;
    const uint8_t *raw; /* the quote: header .. end of the signature data */
    size_t quote_len;
    size_t trailing_len; /* bytes after the quote in the input (ignored) */
    bool trailing_zero;  /* ... and they are all zero (buffer padding) */
    /* Filled by veil_tdx_verify (zero after a plain decode). */
    veil_tdx_pck pck;
    veil_tdx_tcb tcb;
} veil_tdx_quote;

static inline uint64_t veil_tdx_td_attributes(const veil_tdx_quote *q)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | q->body.td_attributes[i];
    return v;
}

/* Decode a quote from the start of p, by its length fields: bytes after the
 * signature data are ignored and reported in trailing_len / trailing_zero.
 * VEIL_E_PROTOCOL naming the field on: truncation anywhere, version not 4/5,
 * attestation key type not 2, TEE type not TDX, a v5 body type other than
 * 2/3 or a body size that does not match its type, certification data type
 * not 6 (QE report) wrapping type 5 (PCK chain), or lengths that do not
 * consume their sections exactly. `out` is zeroed first (and on failure). */
VEIL_MUST_USE veil_result veil_tdx_quote_decode(const uint8_t *p, size_t n, veil_tdx_quote *out);

/* ---- verification ---------------------------------------------------------------------- */

typedef struct veil_tdx_trust {
    int64_t at; /* verification time, unix seconds; 0 = now */
} veil_tdx_trust;

/* Verify a quote's authenticity and, with collateral, its TCB status.
 * `collateral_json` is the dcap-qvl QuoteCollateralV3 JSON (tcb_info /
 * qe_identity as the exact signed JSON text, *_signature hex r||s, CRLs hex
 * DER, issuer chains PEM); NULL/0 for none. `trust` may be NULL (now).
 * Records in order into v (does NOT call veil_verdict_finish):
 *   FORMAT     the quote decodes (veil_tdx_quote_decode)
 *   CHAIN      PCK -> PCK Platform/Processor CA -> the pinned Intel SGX Root CA at `at`,
 *              with the collateral's root and PCK CRLs when the collateral is authentic;
 *              a root inside the quote must be the pinned one; the PCK's SGX extension
 *   QE         QE report signature by the PCK key; REPORTDATA[0:32] ==
 *              SHA-256(attestation key || QE auth data), REPORTDATA[32:64] zero
 *   SIGNATURE  ECDSA P-256/SHA-256 over header+body by the attestation key
 *   COLLATERAL (collateral given) issuer chains to the pinned root with the root CRL,
 *              the PCK CRL's issuer chain, TCB info and QE identity signatures over
 *              their exact text, every item current at `at`, TCB info for TDX with
 *              this PCK's FMSPC and PCE-ID, QE identity of TD_QE
 *   TCB        (collateral authentic) platform level (PCK comp SVNs, PCESVN,
 *              TEE_TCB_SVN), TDX module identity, QE identity: the most severe status
 *              and the advisories into out->tcb; no matching level or Revoked fails
 * Stops after a failed FORMAT. Returns VEIL_OK whenever the checks could be
 * run (a failed check is in the verdict); an error only for bad arguments,
 * OOM or an internal failure. `out` (required) receives the decoded quote,
 * its PCK extension and the TCB evaluation; its views point into `quote`. */
VEIL_MUST_USE veil_result veil_tdx_verify(const uint8_t *quote, size_t n,
                                          const uint8_t *collateral_json, size_t cn,
                                          const veil_tdx_trust *trust, veil_tdx_quote *out,
                                          veil_verdict *v);

/* ---- RTMR replay from the TD event log ---------------------------------------------------
 * Two forms:
 *  - CCEL: the TCG crypto-agile log from the ACPI CCEL table's log area. First
 *    a SHA-1-format TCG_PCClientPCREvent "Spec ID Event03" listing the digest
 *    algorithms, then TCG_PCR_EVENT2 records {u32 mr_index, u32 type,
 *    u32 digest_count, (u16 alg, digest)*, u32 size, data}. MR index 1..4 is
 *    RTMR0..3 (0 is MRTD, never extended). The log ends at a 0xFFFFFFFF index,
 *    at the end of the input, or where only zero bytes remain.
 *  - JSON (dstack): an array of {"imr": 0..3, "event_type": u32, "digest":
 *    "<96 hex>", "event": "<name>", "event_payload": "<hex>"}, or an object with
 *    "event_log" holding that array (or that array as a JSON string). dstack
 *    runtime events (type 0x08000001) may omit the digest; it is then
 *    SHA-384(u32le type || ":" || event || ":" || payload), and a given digest
 *    must equal that unless "version" is 2.
 * Every event except EV_NO_ACTION (type 3) extends its RTMR:
 * RTMR = SHA-384(RTMR || digest), from 48 zero bytes. */

#define VEIL_TDX_EVENTLOG_MAX ((size_t)16 << 20) /* larger logs are rejected */
#define VEIL_TDX_MAX_EVENTS 16384
#define VEIL_TDX_EV_NO_ACTION 3
#define VEIL_TDX_EV_DSTACK_RUNTIME 0x08000001u
#define VEIL_TDX_NO_RTMR 0xFFu

typedef enum veil_tdx_eventlog_format {
    VEIL_TDX_EVENTLOG_CCEL = 1,
    VEIL_TDX_EVENTLOG_JSON = 2
} veil_tdx_eventlog_format;

typedef struct veil_tdx_event {
    uint32_t mr_index; /* as logged (CCEL 0..4, JSON imr 0..3) */
    uint8_t rtmr;      /* 0..3, or VEIL_TDX_NO_RTMR when not extended */
    uint32_t type;
    uint8_t digest[48];  /* the SHA-384 digest extended */
    const char *name;    /* JSON "event" (NUL-terminated), NULL for CCEL */
    const uint8_t *data; /* CCEL event data / JSON event_payload (owned by the log) */
    size_t data_len;
} veil_tdx_event;

typedef struct veil_tdx_eventlog {
    veil_tdx_eventlog_format format;
    size_t n_events; /* excluding the CCEL Spec ID header */
    veil_tdx_event *events;
    uint8_t rtmr[4][48]; /* the replayed RTMR0..3 */
    size_t log_len;      /* CCEL: bytes up to the end of the last event */
    uint8_t *storage;    /* private: the copied event data */
    size_t storage_len;
} veil_tdx_eventlog;

/* Parse and replay: a first non-blank '[' or '{' selects JSON, anything else
 * CCEL. VEIL_E_PROTOCOL naming the event and field on malformed input; `out`
 * is emptied first and freed on failure. Free with veil_tdx_eventlog_free. */
VEIL_MUST_USE veil_result veil_tdx_eventlog_parse(const uint8_t *p, size_t n,
                                                  veil_tdx_eventlog *out);
VEIL_MUST_USE veil_result veil_tdx_eventlog_parse_ccel(const uint8_t *p, size_t n,
                                                       veil_tdx_eventlog *out);
VEIL_MUST_USE veil_result veil_tdx_eventlog_parse_json(const uint8_t *p, size_t n,
                                                       veil_tdx_eventlog *out);
void veil_tdx_eventlog_free(veil_tdx_eventlog *log);

/* ---- appraisal policy ----------------------------------------------------------------------
 *   {
 *     "mrtd": ["<96 hex>", ...],           accepted MRTDs (absent: any, a warning)
 *     "rtmr0": "<96 hex>", ... "rtmr3":    expected RTMR values
 *     "replay": true,                      an event log must be given and reproduce
 *                                          RTMR0..3 (a given log is always checked)
 *     "event_digests": ["<96 hex>", ...],  events that must appear in the replayed log
 *     "mrconfigid": [...], "mrowner": [...] accepted values (absent: any)
 *     "mrservicetd": [...],                accepted MRSERVICETD (TDX 1.5); absent: zero
 *     "allow_debug": false,                TDATTRIBUTES.DEBUG (bit 0), default false
 *     "require_sept_ve_disable": false,    TDATTRIBUTES bit 28, default false
 *     "min_tcb_status": "UpToDate",        worst acceptable TCB status (needs collateral)
 *     "report_data": "<128 hex>",          expected REPORTDATA
 *     "verification_time": "2026-03-01T00:00:00Z"
 *   }
 * Strict: unknown members, wrong types and bad hex are errors naming the
 * member ("comment" and "$schema" are ignored). */

#define VEIL_TDX_POLICY_MAX_VALUES 32

typedef struct veil_tdx_policy {
    size_t n_mrtd;
    uint8_t mrtd[VEIL_TDX_POLICY_MAX_VALUES][48];
    bool have_rtmr[4];
    uint8_t rtmr[4][48];
    bool replay;
    size_t n_event_digests;
    uint8_t event_digests[VEIL_TDX_POLICY_MAX_VALUES][48];
    size_t n_mrconfigid;
    uint8_t mrconfigid[VEIL_TDX_POLICY_MAX_VALUES][48];
    size_t n_mrowner;
    uint8_t mrowner[VEIL_TDX_POLICY_MAX_VALUES][48];
    size_t n_mrservicetd;
    uint8_t mrservicetd[VEIL_TDX_POLICY_MAX_VALUES][48];
    bool allow_debug;
    bool require_sept_ve_disable;
    bool have_min_tcb_status;
    veil_tdx_tcb_status min_tcb_status;
    bool have_report_data;
    uint8_t report_data[64];
    int64_t verification_time; /* 0: now */
    char id[80];               /* "sha256:<hex>" of the policy text, or "default" */
} veil_tdx_policy;

/* The default policy (what {} means). */
void veil_tdx_policy_default(veil_tdx_policy *p);
VEIL_MUST_USE veil_result veil_tdx_policy_parse(const char *json, size_t len, veil_tdx_policy *out);

/* Appraise a quote veil_tdx_verify found authentic; `log` (may be NULL) is
 * the parsed event log. Records MRTD, RTMR (when the policy pins a value,
 * asks for replay or names events, or a log is given), MRCONFIGID, MROWNER,
 * POLICY (MRSERVICETD), DEBUG, TD_ATTRIBUTES, TCB (min_tcb_status) and
 * REPORT_DATA into v. */
void veil_tdx_appraise(const veil_tdx_quote *q, const veil_tdx_eventlog *log,
                       const veil_tdx_policy *p, veil_verdict *v);

/* The attestation result (submod "tdx"): status, AR4SI vector, failed check,
 * policy id and claims (mrtd, rtmrs, td_attributes, debug, tcb_status,
 * advisories, report_data, QE and PCK identity, event log). `q` may be NULL
 * (the quote did not decode), `log` NULL (none given). Frees nothing; `ear`
 * is overwritten (free it with veil_ear_free). */
VEIL_MUST_USE veil_result veil_tdx_result(const veil_tdx_quote *q, const veil_tdx_eventlog *log,
                                          const veil_tdx_policy *p, const veil_verdict *v,
                                          veil_ear *ear);

/* Everything in one call, for the CLI: verify the quote (with the collateral
 * when cn > 0), parse and replay the event log (when en > 0; a log that does
 * not parse fails RTMR), parse the policy (pn == 0: the default policy),
 * appraise, finish the verdict and, when ear_out is not NULL, build the EAR.
 * `at` (0: the policy's verification_time, else now) is the verification
 * time. Returns an error for an unusable policy (VEIL_E_PROTOCOL naming the
 * member), bad arguments, OOM or an internal failure; otherwise the outcome
 * is in v (and ear_out). */
VEIL_MUST_USE veil_result veil_tdx_verify_files(const uint8_t *quote, size_t n,
                                                const uint8_t *collateral_json, size_t cn,
                                                const uint8_t *event_log, size_t en,
                                                const char *policy_json, size_t pn, int64_t at,
                                                veil_verdict *v, veil_ear *ear_out);

#ifdef __cplusplus
}
#endif
#endif
