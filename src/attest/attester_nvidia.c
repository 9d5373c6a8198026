/* The "nvidia" attester (veil/nvgpu_attester.h): NVML loaded at run time.
 *
 * No NVIDIA header is packaged for Debian, so the few types used are defined
 * here from NVIDIA's nvml.h (r535+; checked against go-nvml and nvidia-ml-py):
 *   nvmlReturn_t                  int-sized enum, 0 = NVML_SUCCESS
 *   nvmlDevice_t                  opaque pointer
 *   nvmlConfComputeSystemState_t  { unsigned environment, ccFeature, devToolsMode }
 *   nvmlConfComputeGpuCertificate_t
 *       { unsigned certChainSize, attestationCertChainSize;
 *         unsigned char certChain[0x1000], attestationCertChain[0x1400] }
 *   nvmlConfComputeGpuAttestationReport_t
 *       { unsigned isCecAttestationReportPresent, attestationReportSize,
 *         cecAttestationReportSize; unsigned char nonce[32],
 *         attestationReport[0x2000], cecAttestationReport[0x1000] }
 * The nonce goes in the report structure; NVML fills the rest. */
#include <dlfcn.h>
#include <string.h>

#include "veil/mem.h"
#include "veil/nvgpu_attester.h"

#define NVML_SUCCESS 0
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_NO_PERMISSION 4
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_GPU_IS_LOST 15
#define NVML_CC_SYSTEM_FEATURE_ENABLED 1
#define NVML_CC_SYSTEM_DEVTOOLS_MODE_ON 1
#define NVML_GPU_CERT_CHAIN_SIZE 0x1000
#define NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE 0x1400
#define NVML_CC_GPU_CEC_NONCE_SIZE 0x20
#define NVML_CC_GPU_ATTESTATION_REPORT_SIZE 0x2000
#define NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE 0x1000

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;

typedef struct nvmlConfComputeSystemState_t {
    unsigned int environment;
    unsigned int ccFeature;
    unsigned int devToolsMode;
} nvmlConfComputeSystemState_t;

typedef struct nvmlConfComputeGpuCertificate_t {
    unsigned int certChainSize;
    unsigned int attestationCertChainSize;
    unsigned char certChain[NVML_GPU_CERT_CHAIN_SIZE];
    unsigned char attestationCertChain[NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE];
} nvmlConfComputeGpuCertificate_t;

typedef struct nvmlConfComputeGpuAttestationReport_t {
    unsigned int isCecAttestationReportPresent;
    unsigned int attestationReportSize;
    unsigned int cecAttestationReportSize;
    unsigned char nonce[NVML_CC_GPU_CEC_NONCE_SIZE];
    unsigned char attestationReport[NVML_CC_GPU_ATTESTATION_REPORT_SIZE];
    unsigned char cecAttestationReport[NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE];
} nvmlConfComputeGpuAttestationReport_t;

_Static_assert(VEIL_NVGPU_MAX_REPORT == NVML_CC_GPU_ATTESTATION_REPORT_SIZE,
               "the evidence buffer holds NVML's largest report");
_Static_assert(VEIL_NVGPU_MAX_CHAIN_PEM == NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE,
               "the evidence buffer holds NVML's largest chain");

typedef struct nvml {
    void *lib;
    nvmlReturn_t (*init)(void);
    nvmlReturn_t (*shutdown)(void);
    nvmlReturn_t (*count)(unsigned int *);
    nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t *);
    nvmlReturn_t (*cc_state)(nvmlConfComputeSystemState_t *);
    nvmlReturn_t (*report)(nvmlDevice_t, nvmlConfComputeGpuAttestationReport_t *);
    nvmlReturn_t (*cert)(nvmlDevice_t, nvmlConfComputeGpuCertificate_t *);
    bool initialised;
} nvml;

/* A static message per call and the NVML errors a user can act on. */
#define NVML_FAIL(rc, call, unsupported)                                                           \
    VEIL_ERR(VEIL_E_INTERNAL,                                                                      \
             (rc) == NVML_ERROR_NOT_SUPPORTED       ? call ": not supported (" unsupported ")"     \
             : (rc) == NVML_ERROR_NO_PERMISSION     ? call ": permission denied (run as root)"     \
             : (rc) == NVML_ERROR_DRIVER_NOT_LOADED ? call ": the NVIDIA kernel driver is not "    \
                                                           "loaded"                                \
             : (rc) == NVML_ERROR_GPU_IS_LOST       ? call ": the GPU is lost (fell off the bus)"  \
                                                    : call " failed")

/* dlsym returns void *; POSIX guarantees that the object representation
 * converts to a function pointer (copied bytewise: no ISO C cast exists). */
#define RESOLVE(n, field, name)                                                                    \
    do {                                                                                           \
        void *sym_ = dlsym((n)->lib, name);                                                        \
        _Static_assert(sizeof sym_ == sizeof((n)->field), "function pointers are pointer-sized");  \
        memcpy(&(n)->field, &sym_, sizeof sym_);                                                   \
    } while (0)

static void nvml_close(nvml *n)
{
    if (n->initialised && n->shutdown)
        n->shutdown();
    if (n->lib)
        dlclose(n->lib);
    memset(n, 0, sizeof *n);
}

static veil_result nvml_open(nvml *n)
{
    veil_result res = VEIL_OK;
    memset(n, 0, sizeof *n);
    n->lib = dlopen(VEIL_NVML_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    VEIL_ENSURE(n->lib != NULL, VEIL_E_UNSUPPORTED,
                "libnvidia-ml.so.1 not found: no NVIDIA driver on this machine");
    RESOLVE(n, init, "nvmlInit_v2");
    RESOLVE(n, shutdown, "nvmlShutdown");
    RESOLVE(n, count, "nvmlDeviceGetCount_v2");
    RESOLVE(n, handle, "nvmlDeviceGetHandleByIndex_v2");
    RESOLVE(n, cc_state, "nvmlSystemGetConfComputeState");
    RESOLVE(n, report, "nvmlDeviceGetConfComputeGpuAttestationReport");
    RESOLVE(n, cert, "nvmlDeviceGetConfComputeGpuCertificate");
    VEIL_ENSURE_GOTO(res, n->init && n->shutdown && n->count && n->handle, VEIL_E_UNSUPPORTED,
                     "libnvidia-ml.so.1 lacks nvmlInit_v2 / nvmlDeviceGetCount_v2 / "
                     "nvmlDeviceGetHandleByIndex_v2: an unusable NVML");
    VEIL_ENSURE_GOTO(res, n->cc_state && n->report && n->cert, VEIL_E_UNSUPPORTED,
                     "libnvidia-ml.so.1 has no confidential-computing attestation "
                     "(nvmlDeviceGetConfComputeGpuAttestationReport): driver older than r535");
    nvmlReturn_t rc = n->init();
    VEIL_ENSURE_GOTO(res, rc == NVML_SUCCESS, VEIL_E_UNSUPPORTED,
                     rc == NVML_ERROR_DRIVER_NOT_LOADED
                         ? "nvmlInit_v2: the NVIDIA kernel driver is not loaded (no GPU?)"
                         : "nvmlInit_v2 failed: NVML cannot talk to the driver");
    n->initialised = true;
out:
    if (!veil_ok(res))
        nvml_close(n);
    return res;
}

static veil_result read_cc(const nvml *n, veil_nvgpu_cc_mode *mode)
{
    nvmlConfComputeSystemState_t st;
    memset(&st, 0, sizeof st);
    nvmlReturn_t rc = n->cc_state(&st);
    if (rc != NVML_SUCCESS)
        return NVML_FAIL(rc, "nvmlSystemGetConfComputeState", "no confidential computing");
    *mode = st.ccFeature != NVML_CC_SYSTEM_FEATURE_ENABLED       ? VEIL_NVGPU_CC_OFF
            : st.devToolsMode == NVML_CC_SYSTEM_DEVTOOLS_MODE_ON ? VEIL_NVGPU_CC_DEVTOOLS
                                                                 : VEIL_NVGPU_CC_ON;
    return VEIL_OK;
}

veil_result veil_nvgpu_attester_cc_state(veil_nvgpu_cc_mode *mode)
{
    nvml n;
    VEIL_ENSURE(mode != NULL, VEIL_E_USAGE, "nvidia attester: NULL argument");
    *mode = VEIL_NVGPU_CC_UNKNOWN;
    VEIL_GUARD(nvml_open(&n));
    veil_result res = read_cc(&n, mode);
    nvml_close(&n);
    return res;
}

/* One GPU: the report for `nonce`, then the attestation certificate chain. */
static veil_result collect_one(const nvml *n, unsigned index, const uint8_t nonce[32],
                               nvmlConfComputeGpuAttestationReport_t *rep,
                               nvmlConfComputeGpuCertificate_t *cert, veil_nvgpu_evidence *out)
{
    nvmlDevice_t dev = NULL;
    nvmlReturn_t rc = n->handle(index, &dev);
    if (rc != NVML_SUCCESS)
        return NVML_FAIL(rc, "nvmlDeviceGetHandleByIndex_v2", "GPU index");
    memset(rep, 0, sizeof *rep);
    memcpy(rep->nonce, nonce, NVML_CC_GPU_CEC_NONCE_SIZE);
    rc = n->report(dev, rep);
    if (rc != NVML_SUCCESS)
        return NVML_FAIL(rc, "nvmlDeviceGetConfComputeGpuAttestationReport",
                         "CC mode off, or a GPU without confidential computing");
    VEIL_ENSURE(rep->attestationReportSize > 0 &&
                    rep->attestationReportSize <= sizeof rep->attestationReport,
                VEIL_E_PROTOCOL, "NVML returned an attestation report size out of range");
    memset(cert, 0, sizeof *cert);
    rc = n->cert(dev, cert);
    if (rc != NVML_SUCCESS)
        return NVML_FAIL(rc, "nvmlDeviceGetConfComputeGpuCertificate",
                         "a GPU without confidential computing");
    VEIL_ENSURE(cert->attestationCertChainSize > 0 &&
                    cert->attestationCertChainSize <= sizeof cert->attestationCertChain,
                VEIL_E_PROTOCOL,
                "NVML returned an attestation certificate chain size out of range");
    out->index = index;
    out->report_len = rep->attestationReportSize;
    memcpy(out->report, rep->attestationReport, out->report_len);
    out->chain_len = cert->attestationCertChainSize;
    memcpy(out->chain_pem, cert->attestationCertChain, out->chain_len);
    return VEIL_OK;
}

veil_result veil_nvgpu_attester_collect(const uint8_t nonce[VEIL_NVGPU_NONCE_LEN],
                                        veil_nvgpu_evidence *out, size_t cap, size_t *n)
{
    veil_result res = VEIL_OK;
    nvml lib;
    nvmlConfComputeGpuAttestationReport_t *rep = NULL;
    nvmlConfComputeGpuCertificate_t *cert = NULL;
    veil_nvgpu_cc_mode mode = VEIL_NVGPU_CC_UNKNOWN;
    unsigned count = 0;
    VEIL_ENSURE(nonce && out && n && cap > 0, VEIL_E_USAGE, "nvidia attester: NULL argument");
    *n = 0;
    memset(out, 0, cap * sizeof *out);
    VEIL_GUARD(nvml_open(&lib));
    rep = veil_calloc(1, sizeof *rep);
    cert = veil_calloc(1, sizeof *cert);
    VEIL_ENSURE_GOTO(res, rep && cert, VEIL_E_NOMEM, "nvidia attester: out of memory");
    if (!veil_ok(read_cc(&lib, &mode)))
        mode = VEIL_NVGPU_CC_UNKNOWN; /* reported as unknown; appraisal decides */
    nvmlReturn_t rc = lib.count(&count);
    if (rc != NVML_SUCCESS) {
        res = NVML_FAIL(rc, "nvmlDeviceGetCount_v2", "device enumeration");
        goto out;
    }
    VEIL_ENSURE_GOTO(res, count > 0, VEIL_E_UNSUPPORTED, "NVML sees no NVIDIA GPU");
    for (unsigned i = 0; i < count && *n < cap; i++) {
        VEIL_TRY(res, collect_one(&lib, i, nonce, rep, cert, &out[*n]));
        out[*n].cc_mode = mode;
        (*n)++;
    }
out:
    veil_free(rep);
    veil_free(cert);
    nvml_close(&lib);
    if (!veil_ok(res)) {
        memset(out, 0, cap * sizeof *out);
        *n = 0;
    }
    return res;
}
