/* veil — attestation framework shared by every TEE type: the named checks a
 * verdict reports, the verdict itself, and the per-check trace a user sees.
 *
 * A verdict starts at REJECT (`failed` = VEIL_CHECK_UNCHECKED) and is raised
 * only by checks that pass; the first check that fails is recorded with a
 * message naming what was seen and what was expected. */
#ifndef VEIL_ATTEST_H
#define VEIL_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The named checks. Their names (veil_check_name) are stable API: they are
 * printed, put in JSON and EAR tokens, and matched by scripts. */
typedef enum veil_check {
    VEIL_CHECK_NONE = 0,    /* no failure: every check passed */
    VEIL_CHECK_UNCHECKED,   /* nothing has been verified yet (initial state) */
    VEIL_CHECK_FORMAT,      /* "format": evidence malformed or of an unsupported version */
    VEIL_CHECK_CHAIN,       /* "chain": certificate chain to a pinned root (incl. validity, CRL) */
    VEIL_CHECK_VCEK,        /* "vcek": cert-to-report binding (hwID, TCB extensions, key kind) */
    VEIL_CHECK_SIGNATURE,   /* "signature": the report signature */
    VEIL_CHECK_SIMULATED,   /* "simulated": evidence rests on a simulated root the policy does not
                               trust */
    VEIL_CHECK_MEASUREMENT, /* "measurement": launch measurement not in the accepted set */
    VEIL_CHECK_TCB,         /* "tcb": TCB below the policy minimum */
    VEIL_CHECK_DEBUG,       /* "debug": debugging allowed by the guest policy */
    VEIL_CHECK_POLICY,      /* "policy": other guest-policy bits (migration agent, SMT, reserved) */
    VEIL_CHECK_VMPL,        /* "vmpl": report requested from a VMPL the policy does not accept */
    VEIL_CHECK_REPORT_DATA, /* "report_data": REPORT_DATA differs from the expected value */
    VEIL_CHECK_HOST_DATA,   /* "host_data" */
    VEIL_CHECK_ID_KEY,      /* "id_key": ID key digest not accepted */
    VEIL_CHECK_AUTHOR_KEY,  /* "author_key": author key digest not accepted */
    VEIL_CHECK_NONCE,       /* "nonce": freshness (unknown, reused or expired nonce) */
    VEIL_CHECK_PRODUCT,     /* "product": CPU product not accepted / inconsistent */
    VEIL_CHECK_RUNTIME_DATA, /* "runtime_data": wrapper claims not bound by REPORT_DATA (Azure HCL)
                              */
    /* Intel TDX (include/veil/tdx.h):
     * "qe": the QE report is signed by the PCK key and binds the attestation key;
     * "collateral": TCB info, QE identity and CRLs authentic and current;
     * "rtmr": RTMRs differ from the policy's values or the event-log replay;
     * "mrtd", "mrconfigid", "mrowner": value not in the policy's accepted set;
     * "td_attributes": reserved TDATTRIBUTES bits set, or a required bit clear. */
    VEIL_CHECK_QE,
    VEIL_CHECK_COLLATERAL,
    VEIL_CHECK_RTMR,
    VEIL_CHECK_MRTD,
    VEIL_CHECK_TD_ATTRIBUTES,
    VEIL_CHECK_MRCONFIGID,
    VEIL_CHECK_MROWNER,
    /* NVIDIA GPU (include/veil/nvgpu.h):
     * "gpu_measurement": a GPU measurement differs from the RIMs' / policy's golden values;
     * "fwid": the device certificate's FWID extension is missing or differs from the report's;
     * "rim": a reference manifest is unsigned, badly signed, untrusted or for another version;
     * "gpu_cc_mode": the GPU is not in confidential-computing mode (NVML state);
     * "gpu_version": driver / VBIOS version not the one the policy requires. */
    VEIL_CHECK_GPU_MEASUREMENT,
    VEIL_CHECK_FWID,
    VEIL_CHECK_RIM,
    VEIL_CHECK_GPU_CC_MODE,
    VEIL_CHECK_GPU_VERSION,
    VEIL_CHECK_COUNT
} veil_check;

const char *veil_check_name(veil_check c);
/* VEIL_CHECK_COUNT when the name is unknown. */
veil_check veil_check_from_name(const char *name);

#define VEIL_VERDICT_MAX_TRACE 40
#define VEIL_VERDICT_DETAIL 200

typedef struct veil_check_record {
    veil_check check;
    bool passed;
    char detail[VEIL_VERDICT_DETAIL]; /* what was seen (and expected, on failure) */
} veil_check_record;

typedef struct veil_verdict {
    veil_check failed; /* first failed check; VEIL_CHECK_NONE once all passed */
    char reason[VEIL_VERDICT_DETAIL];
    bool simulated; /* rests on a simulated root (accepted only by explicit policy) */
    size_t n_trace;
    veil_check_record trace[VEIL_VERDICT_MAX_TRACE];
} veil_verdict;

/* Start at reject. */
void veil_verdict_init(veil_verdict *v);
/* Record a check. The first failure is kept in `failed`/`reason`; later
 * records are still traced so a user sees everything that was looked at.
 * `fmt` is printf-style; never pass secrets. */
void veil_verdict_record(veil_verdict *v, veil_check c, bool passed, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Raise the verdict to accept: only if no check has failed and at least one
 * passed. Returns true when the verdict is now accepting. */
bool veil_verdict_finish(veil_verdict *v);
bool veil_verdict_accepted(const veil_verdict *v);

#ifdef __cplusplus
}
#endif
#endif
