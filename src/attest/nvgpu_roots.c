/* The pinned NVIDIA roots: the device identity CA (GPU certificate chains) and
 * the CoRIM signing root (RIM signatures), compiled in (nvidia_roots.inc, with
 * their source and SHA-256 fingerprints) and parsed once on first use. A root
 * is never taken from the evidence. */
#include <pthread.h>
#include <stdint.h>

#include "attest/nvgpu_internal.h"

#include "attest/nvidia_roots.inc"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static veil_x509 *roots[2];
static bool parsed_ok;

static void parse_roots(void)
{
    parsed_ok =
        veil_ok(veil_x509_parse(nvidia_device_identity_ca_der, sizeof nvidia_device_identity_ca_der,
                                &roots[NVGPU_ROOT_DEVICE])) &&
        veil_ok(veil_x509_parse(nvidia_rim_root_ca_der, sizeof nvidia_rim_root_ca_der,
                                &roots[NVGPU_ROOT_RIM]));
}

veil_result nvgpu_pinned_root(nvgpu_root_kind kind, veil_x509 **out)
{
    *out = NULL;
    VEIL_ENSURE(kind == NVGPU_ROOT_DEVICE || kind == NVGPU_ROOT_RIM, VEIL_E_USAGE,
                "nvgpu roots: unknown root");
    pthread_once(&once, parse_roots);
    VEIL_ENSURE(parsed_ok, VEIL_E_INTERNAL, "nvgpu roots: a pinned NVIDIA root does not parse");
    *out = roots[kind];
    return VEIL_OK;
}
