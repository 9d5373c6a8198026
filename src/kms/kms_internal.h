/* Internal: the KMS handle and what its files share.
 *
 *   kms.c      init/open/close, admin changes and their crash-safe completion
 *   keys.c     suites, key generation, key-id allocation, key states, rotation
 *   release.c  nonces, the release steps, the key-set format, the TEE side
 *   policy.c   release policies
 *   store.c    SQLite state;  hsm.c  root-key providers */
#ifndef VEIL_KMS_INTERNAL_H
#define VEIL_KMS_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "kms/hsm.h"
#include "kms/store.h"
#include "veil/kms.h"
#include "veil/ledger.h"
#include "veil/ohttp.h"

#define KMS_OP_ID_LEN 32 /* hex of 16 random bytes */
#define KMS_MAX_SUITES 4

struct veil_kms {
    char dir[VEIL_KMS_PATH_MAX];
    int lock_fd;
    veil_kms_store *store;
    veil_kms_root *root;
    veil_ledger *ledger;
    veil_sign_key *ledger_key;
    veil_sign_key *ear_key;
    uint8_t admin_hash[32];
    veil_kms_root_config root_cfg;
    int64_t (*clock)(void *);
    void *clock_arg;
    int64_t default_rotate_interval, default_grace;
    int64_t max_nonces; /* outstanding unused nonces; 0 = KSTORE_MAX_NONCES */
    bool kds_on;        /* veil_kms_set_kds */
    char kds_url[VEIL_KDS_URL_MAX];
    char kds_cache[VEIL_KDS_PATH_MAX];
    char kds_ca[VEIL_KMS_PATH_MAX];
    veil_kds_config kds; /* points into the strings above */
};

/* ---- suites (keys.c) ---- */

typedef struct kms_suite {
    const char *name; /* "x25519", "p384" */
    uint16_t kem;
    size_t n_algs;
    veil_ohttp_symalg algs[2];
} kms_suite;

const kms_suite *kms_suite_find(const char *name, size_t len);
/* Parse "x25519,p384" (the stored form) into suites; VEIL_E_PROTOCOL on an
 * unknown name or a repeat. */
VEIL_MUST_USE veil_result kms_suites_parse(const char *list, const kms_suite **out, size_t *n);

/* ---- key states (keys.c) ---- */

/* Advertised in /ohttp-keys now. */
bool kms_key_current(const kstore_key *key, int64_t now);
/* Released to an attested TEE now (current, in grace, or any active hpke key). */
bool kms_key_releasable(const kstore_key *key, veil_kms_key_type type, int64_t now);
/* The end of decryption use (0: none yet). */
int64_t kms_key_decrypt_until(const kstore_key *key, veil_kms_key_type type);

/* Stage new keys for every suite of `nm` inside an open store transaction:
 * generate, wrap under the root key, insert as pending with fresh ids, and
 * append their ledger entries (JSON objects) to `entries` and their uids to
 * `uids`. `retire` lists the ledger ids the new keys replace (recorded in
 * each entry). */
VEIL_MUST_USE veil_result kms_keys_stage(veil_kms *k, const kstore_name *nm, int64_t now,
                                         const char *op, json_t *retire_ids, json_t *entries,
                                         json_t *uids);
/* Wrapped-key AAD: "veil-kms key v1" 0x00 name 0x00 key_id u64be(uid). */
size_t kms_key_aad(const char *name, uint8_t key_id, int64_t uid, uint8_t *out, size_t cap);

/* ---- admin changes (kms.c) ---- */

/* Stage an admin change (inside an open store transaction): records it as
 * pending with the ledger's current size; kms_complete appends its entries
 * (unless a crash left them already appended) and applies it. */
VEIL_MUST_USE veil_result kms_stage(veil_kms *k, const char *kind, const char *name,
                                    json_t *entries, json_t *payload, const char *op, int64_t now);
VEIL_MUST_USE veil_result kms_complete_pending(veil_kms *k);
VEIL_MUST_USE veil_result kms_new_op_id(char op[KMS_OP_ID_LEN + 1]);

void kms_problem(veil_kms_problem *pb, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool kms_name_ok(const char *name);

#endif
