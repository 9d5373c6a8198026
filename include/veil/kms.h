/* veil — the key management service (KMS): key custody under a root key
 * held in an HSM, attested key release, and the TEE-side helpers that ask
 * for and open a release. docs/kms.md describes the protocol in full.
 *
 * Release protocol (DESIGN.md flow 1):
 *   1. The TEE gets a nonce: 32 random bytes, single use, valid 60 s.
 *   2. It makes an ephemeral X25519 key pair (pk, sk) and asks its attester
 *      for evidence with
 *        REPORT_DATA = SHA-512( "veil-release-v1" || nonce || SHA-256(pk) )
 *      where "veil-release-v1" is the 15 ASCII bytes without a terminator,
 *      nonce the 32 raw bytes and pk the raw HPKE public key (RFC 9180
 *      SerializePublicKey: 32 bytes for X25519). 15 + 32 + 32 = 79 bytes are
 *      hashed; the 64-byte digest fills REPORT_DATA exactly.
 *   3. It sends {name, evidence, nonce, pk} to the KMS, which checks, in
 *      order: the key exists and has a release policy ("key", "policy"); the
 *      nonce is known, unused and unexpired, then marks it used ("nonce");
 *      the evidence is authentic and its claims meet the reference values
 *      with REPORT_DATA as above (the attestation checks: "chain",
 *      "signature", "measurement", "debug", "tcb", "report_data", ...); the
 *      key's release policy holds on the attestation result
 *      ("release_policy"). It then appends a "release" entry to the ledger
 *      and COMMITS it before answering (refusals are recorded too).
 *   4. The answer: the key set HPKE-sealed to pk (base mode,
 *      DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM,
 *      info = "veil-release-v1 key", aad = the nonce), and the attestation
 *      result as an EAR signed with the KMS's ES384 key.
 *
 * Sealed plaintext (the "key set"), all integers big-endian:
 *   "VKS1"                       4-byte magic
 *   u8  type                     1 = ohttp, 2 = hpke
 *   u8  name_len, name           the key's name (1..64 bytes)
 *   u8  count                    1..VEIL_KMS_MAX_RELEASE_KEYS
 *   count times:
 *     u16 config_len, config     RFC 9458 §3.1 key configuration (key id,
 *                                KEM, public key, symmetric algorithms)
 *     u16 sk_len, sk             RFC 9180 SerializePrivateKey of that KEM
 *     u64 not_after              unix seconds: advertised to clients until then
 *     u64 decrypt_until          unix seconds: use for decryption until then
 *                                (0: no end set yet)
 * The reader consumes it exactly (no trailing bytes) and checks that every
 * private key matches its configuration's public key. */
#ifndef VEIL_KMS_H
#define VEIL_KMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/hpke.h"
#include "veil/kds.h"
#include "veil/ohttp.h"
#include "veil/result.h"
#include "veil/sign.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_KMS_NONCE_LEN 32
#define VEIL_KMS_NONCE_TTL 60 /* seconds */
#define VEIL_RELEASE_LABEL "veil-release-v1"
#define VEIL_RELEASE_LABEL_LEN 15
#define VEIL_RELEASE_HPKE_INFO "veil-release-v1 key"
#define VEIL_KMS_NAME_MAX 64
#define VEIL_KMS_MAX_RELEASE_KEYS 32
/* "veil-admin-" followed by 32 random bytes in base64url (43 characters) */
#define VEIL_KMS_ADMIN_TOKEN_LEN 54
#define VEIL_KMS_MAX_EVIDENCE ((size_t)1 << 20)

/* ---- the TEE side ---------------------------------------------------------- */

/* REPORT_DATA for a release request (see the top of this file). */
VEIL_MUST_USE veil_result veil_release_report_data(const uint8_t nonce[VEIL_KMS_NONCE_LEN],
                                                   const uint8_t *pk, size_t pk_len,
                                                   uint8_t out[64]);

typedef enum veil_kms_key_type {
    VEIL_KMS_KEY_OHTTP = 1, /* OHTTP gateway keys (RFC 9458 key configurations) */
    VEIL_KMS_KEY_HPKE = 2,  /* collection keys for encrypted data */
} veil_kms_key_type;

typedef struct veil_release_key {
    veil_ohttp_keyconfig config;
    uint8_t sk[VEIL_HPKE_MAX_SK];
    size_t sk_len;
    int64_t not_after;
    int64_t decrypt_until; /* 0: no end set */
} veil_release_key;

typedef struct veil_release_keys {
    veil_kms_key_type type;
    char name[VEIL_KMS_NAME_MAX + 1];
    size_t n;
    veil_release_key keys[VEIL_KMS_MAX_RELEASE_KEYS];
} veil_release_keys;

/* Open a sealed key set with the ephemeral key pair whose public key went
 * into REPORT_DATA and the nonce of the request. Fails closed: on any error
 * `out` is wiped. Wipe it with veil_release_keys_wipe after use. */
VEIL_MUST_USE veil_result veil_release_open(const veil_hpke_key *ephemeral,
                                            const uint8_t nonce[VEIL_KMS_NONCE_LEN],
                                            const uint8_t *enc, size_t enc_len,
                                            const uint8_t *sealed, size_t sealed_len,
                                            veil_release_keys *out);
/* Parse the plaintext key set (the inverse of what the KMS seals). */
VEIL_MUST_USE veil_result veil_release_keys_decode(const uint8_t *p, size_t n,
                                                   veil_release_keys *out);
VEIL_MUST_USE veil_result veil_release_keys_encode(const veil_release_keys *k, veil_buf *out);
void veil_release_keys_wipe(veil_release_keys *k);
/* Add the keys still usable at `now` (decrypt_until 0 or later than now) of
 * an ohttp key set to a gateway key set. */
VEIL_MUST_USE veil_result veil_release_keys_to_gateway(const veil_release_keys *k, int64_t now,
                                                       veil_ohttp_gateway *gw);

/* ---- root-key providers ---------------------------------------------------- */

typedef enum veil_kms_root_kind {
    VEIL_KMS_ROOT_NONE = 0,
    VEIL_KMS_ROOT_PKCS11 = 1, /* a non-extractable AES-256 key in a PKCS#11 token */
    VEIL_KMS_ROOT_FILE = 2,   /* 32 bytes in a file of mode 0600 (no HSM) */
    VEIL_KMS_ROOT_SIM = 3,    /* the simulator's measurement-bound derived key */
} veil_kms_root_kind;

#define VEIL_KMS_DEFAULT_PKCS11_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define VEIL_KMS_DEFAULT_TOKEN "veil-kms"
#define VEIL_KMS_DEFAULT_KEY_LABEL "veil-kms-root"
#define VEIL_KMS_PATH_MAX 512

typedef struct veil_kms_root_config {
    veil_kms_root_kind kind;
    char module[VEIL_KMS_PATH_MAX];     /* pkcs11: the module to dlopen */
    char token[33];                     /* pkcs11: token label */
    char key_label[64];                 /* pkcs11: the root key's CKA_LABEL */
    char pin_env[64];                   /* pkcs11: name of the variable holding the PIN, or */
    char pin_file[VEIL_KMS_PATH_MAX];   /* pkcs11: a file holding it (mode 0600) */
    char key_file[VEIL_KMS_PATH_MAX];   /* file: the 32-byte key file */
    char sim_socket[VEIL_KMS_PATH_MAX]; /* sim: the socket ("" = $VEIL_SIM_SOCKET) */
} veil_kms_root_config;

/* kind NONE with the PKCS#11 defaults filled in. */
void veil_kms_root_config_default(veil_kms_root_config *c);
const char *veil_kms_root_kind_name(veil_kms_root_kind k); /* "pkcs11", "file", "sim" */

/* ---- the service core ------------------------------------------------------ */

typedef struct veil_kms veil_kms;

/* Why a request was refused, for problem+json: `check` is a stable name
 * ("nonce", "report_data", "measurement", "debug", "chain", "simulated",
 * "release_policy", "key", "policy", "refvalues", "public_key", "request",
 * "admin", ...), `detail` says what was seen and what to do. */
typedef struct veil_kms_problem {
    char check[32];
    char detail[640];
} veil_kms_problem;

/* Create the state in `dir` (created 0700; must not hold a KMS yet): the
 * root key (find-or-create in the token, or the file, or the simulator's
 * derived key), the ledger and EAR signing keys (ES384, stored wrapped by
 * the root key), an admin token (only its SHA-256 is stored), the ledger.
 * `admin_token` receives the token, which is shown once. */
VEIL_MUST_USE veil_result veil_kms_init(const char *dir, const veil_kms_root_config *root,
                                        char admin_token[VEIL_KMS_ADMIN_TOKEN_LEN + 1]);
/* Open an existing state. `root` may be NULL (use the provider recorded by
 * init) or override where it is (another module path, PIN source, ...), but
 * not its kind. Takes an exclusive lock on the state: one process at a time.
 * Completes any admin change a crash interrupted (docs/kms.md). */
VEIL_MUST_USE veil_result veil_kms_open(const char *dir, const veil_kms_root_config *root,
                                        veil_kms **out);
void veil_kms_close(veil_kms *k);
/* "pkcs11 token 'veil-kms' key 'veil-kms-root' (module ...)", "file ...", "sim ...". */
void veil_kms_root_description(const veil_kms *k, char *out, size_t cap);
/* A clock for tests (NULL: time(NULL)). */
void veil_kms_set_clock(veil_kms *k, int64_t (*clock)(void *), void *arg);
int64_t veil_kms_now(const veil_kms *k);
const veil_sign_key *veil_kms_ledger_key(const veil_kms *k);
const veil_sign_key *veil_kms_ear_key(const veil_kms *k);
/* The ledger (borrowed; not thread-safe, like the KMS handle itself). */
struct veil_ledger *veil_kms_ledger(veil_kms *k);

/* Admin. The bearer token is compared in constant time (as SHA-256). */
bool veil_kms_admin_ok(const veil_kms *k, const char *token, size_t len);
/* Create a key from a spec
 *   {"type":"ohttp"|"hpke","suites":["x25519","p384"],
 *    "rotate_interval":S,"grace":S,"quarantine":S}
 * (suites default ["x25519"]; rotate_interval 0 = only on request; grace
 * default 3600; quarantine default 86400). The same spec again is a no-op. */
VEIL_MUST_USE veil_result veil_kms_key_create(veil_kms *k, const char *name, const char *spec,
                                              size_t spec_len, veil_kms_problem *pb);
/* Release policy (include/veil/release_policy.h). */
VEIL_MUST_USE veil_result veil_kms_set_policy(veil_kms *k, const char *name, const char *json,
                                              size_t len, veil_kms_problem *pb);
/* Reference values: an appraisal policy as in include/veil/appraise.h,
 * without "report_data" (the KMS sets it per request). */
VEIL_MUST_USE veil_result veil_kms_set_refvalues(veil_kms *k, const char *json, size_t len,
                                                 veil_kms_problem *pb);
/* New keys for every suite of `name`; the previous ones stop being
 * advertised and stay releasable for their grace period. */
VEIL_MUST_USE veil_result veil_kms_rotate(veil_kms *k, const char *name, veil_kms_problem *pb);
/* Rotate every key whose interval has passed; *rotated (may be NULL) counts. */
VEIL_MUST_USE veil_result veil_kms_rotate_due(veil_kms *k, unsigned *rotated);

/* Public side. */
VEIL_MUST_USE veil_result veil_kms_nonce(veil_kms *k, uint8_t nonce[VEIL_KMS_NONCE_LEN],
                                         int64_t *expires);

typedef struct veil_kms_release_request {
    const char *name;
    const uint8_t *evidence; /* the evidence bundle JSON (include/veil/evidence.h) */
    size_t evidence_len;
    const uint8_t *nonce;
    size_t nonce_len;
    const uint8_t *public_key; /* the ephemeral X25519 public key, 32 bytes */
    size_t public_key_len;
} veil_kms_release_request;

typedef struct veil_kms_release_response {
    bool released;
    veil_kms_problem problem; /* when refused */
    bool recorded;            /* the outcome is in the ledger at ledger_index */
    uint64_t ledger_index;
    size_t n_key_ids;
    uint8_t key_ids[VEIL_KMS_MAX_RELEASE_KEYS];
    uint8_t enc[VEIL_HPKE_MAX_ENC];
    size_t enc_len;
    veil_buf sealed; /* the sealed key set */
    veil_buf ear;    /* the signed EAR (also on refusal once evidence was verified) */
} veil_kms_release_response;

/* Run the release steps. Returns an error only when the KMS itself failed
 * (then nothing may be returned to the caller); a refusal is VEIL_OK with
 * released = false and the failed check in `problem`. Free the response with
 * veil_kms_release_response_free. */
VEIL_MUST_USE veil_result veil_kms_release(veil_kms *k, const veil_kms_release_request *req,
                                           veil_kms_release_response *resp);
void veil_kms_release_response_free(veil_kms_release_response *resp);

/* The body of POST /v1/keys/NAME/release, as the service parses it:
 * {"nonce": base64, "public_key": base64, "evidence": {bundle}} (jansson,
 * duplicate members refused); the evidence object is re-encoded as JCS
 * (RFC 8785). Nothing is checked beyond the shape: the sizes are
 * veil_kms_release's. VEIL_E_PROTOCOL says what the body must be; `out` is
 * empty then. Free with veil_kms_release_body_free. */
typedef struct veil_kms_release_body {
    veil_buf nonce, public_key, evidence;
} veil_kms_release_body;

VEIL_MUST_USE veil_result veil_kms_release_body_parse(const uint8_t *body, size_t len,
                                                      veil_kms_release_body *out);
void veil_kms_release_body_free(veil_kms_release_body *b);

/* `application/ohttp-keys` for the advertised (current) keys of an ohttp
 * key; *not_after gets the earliest end of advertisement (for max-age). */
VEIL_MUST_USE veil_result veil_kms_ohttp_keys(veil_kms *k, const char *name, veil_buf *out,
                                              int64_t *not_after, veil_kms_problem *pb);
/* JSON: {"name","type","suites","keys":[{"key_id","kem","config":<b64>,
 * "not_after","receipt":{...}}],"policy":{...}|null,"policy_receipt":{...}|null,
 * "refvalues_receipt":{...}|null} */
VEIL_MUST_USE veil_result veil_kms_key_config(veil_kms *k, const char *name, veil_buf *out,
                                              veil_kms_problem *pb);
/* The names of the keys of one type (NULL: all), as a JSON array. */
VEIL_MUST_USE veil_result veil_kms_key_names(veil_kms *k, const char *type, veil_buf *out);

/* Defaults for keys created without "rotate_interval" / "grace" in their
 * spec (`veil kms serve --rotate-interval S --grace S`); < 0 leaves one as is. */
void veil_kms_set_key_defaults(veil_kms *k, int64_t rotate_interval, int64_t grace);
/* The most unused, unexpired nonces out at once (0 = 100 000, the most);
 * past it each new nonce expires the oldest outstanding one. */
void veil_kms_set_max_nonces(veil_kms *k, unsigned max);
/* Fetch the VCEK, ASK/ARK and CRL of SEV-SNP evidence that carries no
 * VCEK/VLEK from an AMD KDS (include/veil/kds.h; the strings are copied);
 * NULL turns it off (the default: such evidence then fails the "chain"
 * check). A KDS that cannot help refuses the release with check "kds". */
VEIL_MUST_USE veil_result veil_kms_set_kds(veil_kms *k, const veil_kds_config *cfg);

/* ---- the HTTP service (docs/kms.md, "HTTP API") ------------------------------
 * Two listeners: the public one (nonces, releases, key configurations,
 * ledger) and the admin one (bearer token; loopback by default). Each
 * request holds the KMS for its duration (one at a time: the KMS handle and
 * its SQLite files are single-writer anyway). */

typedef struct veil_kms_service veil_kms_service;

typedef struct veil_kms_service_config {
    const char *address;       /* public listener; NULL = "127.0.0.1" */
    uint16_t port;             /* 0 = any free port */
    const char *admin_address; /* admin listener; NULL = "127.0.0.1" */
    uint16_t admin_port;
    const char *ohttp_name;   /* the key GET /ohttp-keys serves without ?name=; NULL: the
                                 only ohttp key there is */
    unsigned keys_max_age;    /* Cache-Control max-age of /ohttp-keys; 0 = 300 s */
    unsigned max_connections; /* per listener; 0 = 64 */
    /* Per client address (IPv6: per /64), a token bucket shared by
     * POST /v1/attest/nonce and refused releases: each nonce request and
     * each release attempt takes a token, a release that succeeds gives it
     * back. Empty: 429 problem+json with Retry-After. 0 = no limit. */
    unsigned nonce_rate;  /* tokens per second */
    unsigned nonce_burst; /* bucket size; 0 = 2 * nonce_rate */
    /* Optional event log: one compact JSON object per event (releases,
     * admin changes, rotations); never a client address or a key. */
    void (*log)(void *ctx, const char *json);
    void *log_ctx;
} veil_kms_service_config;

/* Start both listeners; `k` is borrowed until veil_kms_service_stop. */
VEIL_MUST_USE veil_result veil_kms_service_start(veil_kms *k, const veil_kms_service_config *cfg,
                                                 veil_kms_service **out);
uint16_t veil_kms_service_port(const veil_kms_service *s);
uint16_t veil_kms_service_admin_port(const veil_kms_service *s);
/* Rotate what is due (call about once a second). */
VEIL_MUST_USE veil_result veil_kms_service_tick(veil_kms_service *s, unsigned *rotated);
/* Stop both listeners (in-flight requests finish first) and free. */
void veil_kms_service_stop(veil_kms_service *s);

/* ---- the TEE side over HTTP ----------------------------------------------------
 * The whole release from inside a TEE: POST {base}/v1/attest/nonce, a fresh
 * ephemeral X25519 key pair, evidence from `att` with REPORT_DATA as above,
 * POST {base}/v1/keys/{name}/release, then veil_release_open. On a refusal
 * the result is an error and `pb` names the check the KMS reported. `keys`
 * is wiped on failure; `ear` (may be NULL) receives the signed EAR. */
struct veil_attester;
struct veil_http_client_opts;
VEIL_MUST_USE veil_result veil_kms_fetch_keys(const char *base_url, const char *name,
                                              struct veil_attester *att, unsigned vmpl,
                                              const struct veil_http_client_opts *opts,
                                              veil_release_keys *keys, veil_buf *ear,
                                              uint64_t *ledger_index, veil_kms_problem *pb);

#ifdef __cplusplus
}
#endif
#endif
