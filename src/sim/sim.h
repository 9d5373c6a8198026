/* Internal: the simulated AMD secure processor behind `veil sim`.
 *
 * It gives NO confidentiality and claims none: it exists so the evidence,
 * verification and key-release code paths run on machines without SEV-SNP.
 * Its roots are named SIMULATED and are trusted only where a policy passes
 * the simulated ARK explicitly (veil_snp_trust.extra_roots_der).
 *
 * State directory (mode 0700, created by veil_sim_state_open):
 *   sim.json       {"version":1,"product":"Milan-B0","chip_id":HEX128,
 *                   "tcb":{"bootloader":3,"tee":0,"snp":8,"microcode":115},
 *                   "ark_sha256":HEX64}  -- written last: it marks a complete state
 *   root_secret    32 random bytes (0600): the IKM of every derived key
 *   ark.der ask.der vcek.der        the simulated chain (DER)
 *   ark.key ask.key vcek.key        PKCS#8 PEM private keys (0600)
 *   lock           serialises concurrent `veil sim init`
 *   guest-*.sock   one socket per running `veil sim launch`
 *
 * Guest socket protocol (one connection = one request line, one reply line,
 * both JSON objects ending in '\n'; requests are bounded to
 * VEIL_SIM_MAX_REQUEST bytes and must arrive within VEIL_SIM_IO_TIMEOUT_MS):
 *   {"op":"report","report_data":"<128 hex>","vmpl":0}
 *       -> {"report":"<base64 ATTESTATION_REPORT>","cert_table":"<base64>"}
 *   {"op":"derived_key","context":"<string>","length":32}
 *       -> {"key":"<hex>"}
 *   anything else, or a peer that is not the launched guest or one of its
 *   descendants -> {"error":"<message>"}
 *
 * Derived keys (the simulator's MSG_KEY_REQ), HKDF-SHA384 (RFC 5869):
 *   PRK  = HKDF-Extract(salt = "veil-sim derived-key v1", IKM = root_secret)
 *   info = "veil-sim derived-key v1" || 0x00 || MEASUREMENT[48] ||
 *          u64le POLICY || u16be len(context) || context
 *   key  = HKDF-Expand(PRK, info, length)    (length 16..64, context <= 256 bytes)
 * so a guest with another measurement or policy, or another context, gets an
 * unrelated key; the same guest on the same simulated chip gets the same key
 * across launches. */
#ifndef VEIL_SIM_SIM_H
#define VEIL_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "veil/cursor.h"
#include "veil/measure.h"
#include "veil/result.h"
#include "veil/snp.h"

#define VEIL_SIM_ROOT_SECRET_LEN 32
#define VEIL_SIM_CHIP_ID_BYTES 64
#define VEIL_SIM_PRODUCT "Milan-B0"
#define VEIL_SIM_DEFAULT_POLICY 0x30000ull /* SMT allowed, reserved bit 17 */
#define VEIL_SIM_MAX_REQUEST 4096
#define VEIL_SIM_IO_TIMEOUT_MS 5000
#define VEIL_SIM_MAX_CONTEXT 256
#define VEIL_SIM_KEY_MIN 16
#define VEIL_SIM_KEY_MAX 64
#define VEIL_SIM_MAX_FILE ((size_t)1 << 30) /* bound on one measured file */
#define VEIL_SIM_PATH_MAX 4096

/* The simulated platform TCB: bl 3, tee 0, snp 8, ucode 115 (a plausible Milan). */
#define VEIL_SIM_TCB_BL 3
#define VEIL_SIM_TCB_TEE 0
#define VEIL_SIM_TCB_SNP 8
#define VEIL_SIM_TCB_UCODE 115

/* ---- the simulated chip ------------------------------------------------------ */

typedef struct veil_sim_state {
    char dir[VEIL_SIM_PATH_MAX];
    uint8_t chip_id[VEIL_SIM_CHIP_ID_BYTES];
    veil_snp_tcb tcb;
    uint8_t root_secret[VEIL_SIM_ROOT_SECRET_LEN];
    uint8_t ark_sha256[32];
    veil_buf ark_der, ask_der, vcek_der;
    veil_buf vcek_key; /* PEM */
} veil_sim_state;

void veil_sim_state_init(veil_sim_state *s);
/* Wipes the root secret and the VCEK key. */
void veil_sim_state_free(veil_sim_state *s);
/* Create the state directory and a new simulated chip, unless a complete
 * one is already there (then load it; *created = false). */
VEIL_MUST_USE veil_result veil_sim_state_create(const char *dir, bool *created,
                                                veil_sim_state *out);
/* Load an existing state directory, checking it is consistent (ARK
 * fingerprint, VCEK key matching its certificate, sizes) and private. */
VEIL_MUST_USE veil_result veil_sim_state_load(const char *dir, veil_sim_state *out);

/* ---- one launched guest -------------------------------------------------------- */

typedef struct veil_sim_guest {
    uint8_t measurement[VEIL_MEASUREMENT_LEN];
    uint64_t policy;
    uint8_t host_data[32];
    uint8_t report_id[32]; /* random per launch */
} veil_sim_guest;

/* policy = VEIL_SIM_DEFAULT_POLICY, random REPORT_ID, zero measurement and host data. */
VEIL_MUST_USE veil_result veil_sim_guest_init(veil_sim_guest *g);
/* A policy the report format accepts (bit 17 set, bits 63:26 clear). */
bool veil_sim_policy_valid(uint64_t policy);

/* Read each path (bounded by VEIL_SIM_MAX_FILE) and compute veil_sim_measure
 * over them, each named by its basename. On failure `bad_path` (may be NULL)
 * receives the index of the file that could not be read, or n. */
VEIL_MUST_USE veil_result veil_sim_measure_paths(const char *const *paths, size_t n,
                                                 uint8_t out[VEIL_MEASUREMENT_LEN],
                                                 size_t *bad_path);

/* A signed ATTESTATION_REPORT (version 3, Milan CPUID, VCEK-signed). */
VEIL_MUST_USE veil_result veil_sim_report(const veil_sim_state *s, const veil_sim_guest *g,
                                          const uint8_t report_data[64], uint32_t vmpl,
                                          uint8_t out[VEIL_SNP_REPORT_SIZE]);
/* The extended-report certificate table: VCEK, ASK, ARK. Appends to out. */
VEIL_MUST_USE veil_result veil_sim_cert_table(const veil_sim_state *s, veil_buf *out);
/* The derived key described above. */
VEIL_MUST_USE veil_result veil_sim_derive_key(const veil_sim_state *s, const veil_sim_guest *g,
                                              const uint8_t *context, size_t context_len,
                                              uint8_t *key, size_t key_len);

/* One request line -> one reply line (with '\n'), appended to reply.
 * `authorized` says whether the peer is the guest or its descendant; when
 * false every op is answered with an error and nothing is signed or derived.
 * Always VEIL_OK unless the reply itself cannot be built. */
VEIL_MUST_USE veil_result veil_sim_handle_request(const veil_sim_state *s, const veil_sim_guest *g,
                                                  bool authorized, const uint8_t *req,
                                                  size_t req_len, veil_buf *reply);

/* ---- the guest socket ------------------------------------------------------------- */

/* True when `pid` is `ancestor` or descends from it, by the ppid chain in
 * /proc/<pid>/stat (ancestor 0 or 1 never matches). The server applies it
 * to the SO_PEERCRED pid, i.e. the process that called connect(). Limits:
 * a daemon whose parent exited was reparented away from the guest and is
 * refused; a connected descriptor that the guest hands to another process
 * still speaks for the guest (that is the guest's own choice). PID-reuse
 * caveat: a pid names a process only while it
 * lives, so a peer that exits right after connecting could in principle be
 * replaced by an unrelated process with the same pid (or vice versa) before
 * the check; the simulator gives no security guarantees, and the window is
 * the few microseconds between accept and the check. */
bool veil_sim_pid_descends_from(pid_t pid, pid_t ancestor);

typedef struct veil_sim_server veil_sim_server;

/* Bind a fresh unix socket at `path` (mode 0600; an existing file there is
 * an error). s and g are borrowed for the server's life. */
VEIL_MUST_USE veil_result veil_sim_server_open(const veil_sim_state *s, const veil_sim_guest *g,
                                               const char *path, veil_sim_server **out);
/* Only this pid and its descendants get answers (0: nobody). */
void veil_sim_server_set_guest(veil_sim_server *srv, pid_t guest);
/* Wait up to timeout_ms for a connection and serve it (bounded by
 * VEIL_SIM_IO_TIMEOUT_MS). EINTR is not an error. */
VEIL_MUST_USE veil_result veil_sim_server_poll(veil_sim_server *srv, int timeout_ms);
/* Close and unlink the socket. NULL is a no-op. */
void veil_sim_server_free(veil_sim_server *srv);

/* A unique socket path in the state directory: DIR/guest-<pid>-<hex>.sock.
 * VEIL_E_USAGE when it would not fit a sockaddr_un. */
VEIL_MUST_USE veil_result veil_sim_socket_path(const veil_sim_state *s, char *out, size_t cap);

/* Run argv (argv[0] resolved by the caller: `exe`) as the guest with
 * VEIL_SIM_SOCKET set, serving the socket until it exits. *status receives
 * the guest's exit status (128+signal when killed). SIGINT/SIGTERM/SIGHUP
 * received meanwhile are forwarded to the guest. */
VEIL_MUST_USE veil_result veil_sim_run_guest(veil_sim_server *srv, const char *socket_path,
                                             const char *exe, char *const argv[], int *status);

/* Resolve a command like execvp would (PATH lookup when it has no '/'):
 * an executable regular file. VEIL_E_USAGE when none is found. */
VEIL_MUST_USE veil_result veil_sim_resolve_command(const char *cmd, char *out, size_t cap);

/* ---- configfs-tsm emulation ---------------------------------------------------------- */

/* Serve an emulated configfs-tsm report tree at `dir` (created 0700 if
 * missing) until SIGTERM/SIGINT or max_seconds (0: no bound) pass. Each entry
 * directory created there gets the attributes the kernel would provide
 * (inblob, privlevel, provider = "sev_guest", outblob, auxblob, and last
 * `generation`); writing inblob or privlevel bumps generation, and writing
 * inblob produces outblob (a report signed as by veil_sim_report for guest
 * g, REPORT_DATA = inblob zero-padded, VMPL = privlevel) and auxblob (the
 * certificate table) before generation is bumped. `ready` (may be NULL) is
 * called once the watch is in place. */
VEIL_MUST_USE veil_result veil_sim_tsm_serve(const veil_sim_state *s, const veil_sim_guest *g,
                                             const char *dir, unsigned max_seconds,
                                             void (*ready)(void *), void *ready_arg);

#endif
