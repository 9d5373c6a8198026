/* Internal: the KMS's SQLite state (the only KMS code that includes
 * sqlite3.h). One file, STATE/kms.db, WAL journal, synchronous=FULL: a
 * commit is on disk when it returns.
 *
 * Schema:
 *   meta(k TEXT PK, v BLOB)                 format, root-key config, root check,
 *                                           wrapped ledger/EAR keys, admin token hash,
 *                                           refvalues (+ their ledger index)
 *   names(name PK, type, suites, rotate_interval, grace, quarantine, created,
 *         policy TEXT NULL, policy_index INTEGER NULL)
 *   keys(uid PK, name, key_id 0..255, kem, config BLOB, wrapped BLOB, created,
 *        not_after, retired_at NULL, grace, quarantine, state, ledger_index NULL)
 *        state: 'pending' (not yet in the ledger: never published or released)
 *               or 'active'
 *   nonces(value BLOB[32] PK, expires, used 0/1)
 *   pending(op PK, kind, name, entries TEXT (JSON array), payload TEXT, mark, at)
 *        an admin change staged here before its ledger entries are appended
 *        (see docs/kms.md, "Crash safety")
 *
 * The ledger lives in its own file (STATE/ledger.db, src/ledger), with its
 * own transactions; the ordering rules that keep the two consistent across a
 * crash are in kms.c. */
#ifndef VEIL_KMS_STORE_H
#define VEIL_KMS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/kms.h"
#include "veil/result.h"

typedef struct veil_kms_store veil_kms_store;

#define KSTORE_SUITES_MAX 64
#define KSTORE_MAX_KEYS_PER_NAME 1024
#define KSTORE_MAX_NONCES 100000

VEIL_MUST_USE veil_result veil_kms_store_open(const char *path, veil_kms_store **out);
void veil_kms_store_close(veil_kms_store *s);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK (rollback: no-op without a transaction). */
VEIL_MUST_USE veil_result veil_kms_store_begin(veil_kms_store *s);
VEIL_MUST_USE veil_result veil_kms_store_commit(veil_kms_store *s);
void veil_kms_store_rollback(veil_kms_store *s);

VEIL_MUST_USE veil_result veil_kms_store_meta_get(veil_kms_store *s, const char *k, veil_buf *out,
                                                  bool *found);
VEIL_MUST_USE veil_result veil_kms_store_meta_put(veil_kms_store *s, const char *k, const void *v,
                                                  size_t n);

typedef struct kstore_name {
    char name[VEIL_KMS_NAME_MAX + 1];
    veil_kms_key_type type;
    char suites[KSTORE_SUITES_MAX]; /* comma-separated suite names */
    int64_t rotate_interval, grace, quarantine, created;
} kstore_name;

VEIL_MUST_USE veil_result veil_kms_store_name_get(veil_kms_store *s, const char *name,
                                                  kstore_name *out, bool *found);
VEIL_MUST_USE veil_result veil_kms_store_name_put(veil_kms_store *s, const kstore_name *n);
/* Every name (of `type`, 0 = all), in name order; free with veil_free. */
VEIL_MUST_USE veil_result veil_kms_store_names(veil_kms_store *s, int type, kstore_name **out,
                                               size_t *n);
/* The policy text (appended to out) and its ledger index. */
VEIL_MUST_USE veil_result veil_kms_store_policy_get(veil_kms_store *s, const char *name,
                                                    veil_buf *out, uint64_t *index, bool *found);
VEIL_MUST_USE veil_result veil_kms_store_policy_put(veil_kms_store *s, const char *name,
                                                    const char *json, size_t len, uint64_t index);

typedef enum kstore_key_state { KSTORE_PENDING = 1, KSTORE_ACTIVE = 2 } kstore_key_state;

typedef struct kstore_key {
    int64_t uid;
    char name[VEIL_KMS_NAME_MAX + 1];
    uint8_t key_id;
    uint16_t kem;
    kstore_key_state state;
    uint8_t config[512];
    size_t config_len;
    uint8_t wrapped[256];
    size_t wrapped_len;
    int64_t created, not_after, retired_at; /* retired_at 0: still current */
    int64_t grace, quarantine;
    bool has_index;
    uint64_t ledger_index;
} kstore_key;

VEIL_MUST_USE veil_result veil_kms_store_next_uid(veil_kms_store *s, int64_t *uid);
VEIL_MUST_USE veil_result veil_kms_store_key_insert(veil_kms_store *s, const kstore_key *k);
/* Every key of `name` (uid order); free with veil_free_wiped(*out, *n * sizeof **out). */
VEIL_MUST_USE veil_result veil_kms_store_keys(veil_kms_store *s, const char *name, kstore_key **out,
                                              size_t *n);
VEIL_MUST_USE veil_result veil_kms_store_key_activate(veil_kms_store *s, int64_t uid,
                                                      uint64_t ledger_index);
VEIL_MUST_USE veil_result veil_kms_store_key_retire(veil_kms_store *s, int64_t uid,
                                                    int64_t retired_at);

typedef enum kstore_nonce_status {
    KSTORE_NONCE_OK = 0, /* was fresh; now marked used */
    KSTORE_NONCE_UNKNOWN,
    KSTORE_NONCE_USED,
    KSTORE_NONCE_EXPIRED,
} kstore_nonce_status;

/* Store a fresh nonce; drops nonces expired before now - 3600 first, and
 * when max_outstanding (<= 0 or above KSTORE_MAX_NONCES: KSTORE_MAX_NONCES)
 * unused unexpired nonces are already out, expires the oldest of them. */
VEIL_MUST_USE veil_result veil_kms_store_nonce_put(veil_kms_store *s,
                                                   const uint8_t nonce[VEIL_KMS_NONCE_LEN],
                                                   int64_t now, int64_t expires,
                                                   int64_t max_outstanding);
/* Check and consume a nonce in one transaction (its own). */
VEIL_MUST_USE veil_result veil_kms_store_nonce_consume(veil_kms_store *s,
                                                       const uint8_t nonce[VEIL_KMS_NONCE_LEN],
                                                       int64_t now, kstore_nonce_status *st);

typedef struct kstore_pending {
    char op[33];
    char kind[16];
    char name[VEIL_KMS_NAME_MAX + 1];
    char *entries; /* JSON array of the ledger entries (veil_calloc'ed) */
    char *payload; /* kind-specific JSON (veil_calloc'ed) */
    uint64_t mark; /* ledger size when staged */
    int64_t at;
} kstore_pending;

VEIL_MUST_USE veil_result veil_kms_store_pending_add(veil_kms_store *s, const kstore_pending *p);
/* All pending ops in staging order; free with veil_kms_store_pending_free. */
VEIL_MUST_USE veil_result veil_kms_store_pending_list(veil_kms_store *s, kstore_pending **out,
                                                      size_t *n);
VEIL_MUST_USE veil_result veil_kms_store_pending_delete(veil_kms_store *s, const char *op);
void veil_kms_store_pending_free(kstore_pending *p, size_t n);

#endif
