/* veil — attesters: how code inside a TEE obtains evidence about itself.
 *
 *   "tsm"  Linux configfs-tsm (/sys/kernel/config/tsm/report), which real
 *          SEV-SNP and TDX guests expose; the root directory is configurable.
 *   "sim"  the simulated AMD secure processor of `veil sim launch`, reached
 *          over the unix socket named by $VEIL_SIM_SOCKET.
 */
#ifndef VEIL_ATTESTER_H
#define VEIL_ATTESTER_H

#include <stddef.h>
#include <stdint.h>

#include "veil/evidence.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_TSM_DEFAULT_DIR "/sys/kernel/config/tsm/report"
#define VEIL_SIM_SOCKET_ENV "VEIL_SIM_SOCKET"

typedef struct veil_attester veil_attester;

/* kind: "tsm" or "sim". where: the configfs-tsm report directory or the sim
 * socket path; NULL picks the default (VEIL_TSM_DEFAULT_DIR, $VEIL_SIM_SOCKET).
 * Fails with a message saying plainly what is missing (no configfs-tsm, not
 * launched under `veil sim launch`, ...). */
VEIL_MUST_USE veil_result veil_attester_open(const char *kind, const char *where,
                                             veil_attester **out);
/* Evidence whose REPORT_DATA is exactly `report_data`; privilege level vmpl
 * (SEV-SNP; ignored elsewhere). */
VEIL_MUST_USE veil_result veil_attester_evidence(veil_attester *a, const uint8_t report_data[64],
                                                 unsigned vmpl, veil_evidence *out);
/* A key bound to the guest's launch measurement (SNP MSG_KEY_REQ), for
 * sealing: the same guest gets the same key, another guest a different one.
 * `context` separates uses. Only the sim attester implements it today. */
VEIL_MUST_USE veil_result veil_attester_derived_key(veil_attester *a, const char *context,
                                                    uint8_t *key, size_t key_len);
const char *veil_attester_kind(const veil_attester *a);
void veil_attester_free(veil_attester *a);

#ifdef __cplusplus
}
#endif
#endif
