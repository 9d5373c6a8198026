/* The KMS handle: state creation and opening, admin changes, rotation, the
 * published key configurations.
 *
 * Crash safety. The state (STATE/kms.db) and the ledger (STATE/ledger.db)
 * are two SQLite files, each committing with synchronous=FULL. An admin
 * change (new key, rotation, policy, reference values) goes in three steps:
 *   1. one kms.db transaction stages it: new keys are inserted as 'pending'
 *      (never published or released, but their ids are held) and a row in
 *      `pending` records the ledger entries to write, an op id carried by
 *      every one of them, and the ledger size at that moment ("mark");
 *   2. the entries are appended to the ledger (one transaction);
 *   3. one kms.db transaction applies the change (keys become active with
 *      their ledger indices; old keys get retired_at; a policy or reference
 *      values take effect) and deletes the pending row.
 * A crash between any two steps is completed at the next open: the ledger is
 * searched from the mark for an entry with the op id; if absent the entries
 * are appended now; then step 3 runs. So a change is in effect only once it
 * is in the ledger, a ledger entry is never written twice, and a key id is
 * held from the moment it is staged. Releases change no kms.db state other
 * than consuming their nonce, which happens before anything else; the
 * release entry is committed to the ledger before the key leaves. */
#define _DEFAULT_SOURCE /* flock */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/json_util.h"
#include "crypto/digest.h"
#include "kms/kms_internal.h"
#include "veil/http.h"
#include "veil/appraise.h"
#include "veil/base64.h"
#include "veil/composite.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/rand.h"
#include "veil/release_policy.h"

#define FORMAT "veil-kms-v1"
#define TOKEN_PREFIX "veil-admin-"
#define AAD_LEDGER_KEY "veil-kms ledger-key v1"
#define AAD_EAR_KEY "veil-kms ear-key v1"
#define AAD_ROOT_CHECK "veil-kms root-check v1"
#define MAX_PERIOD ((int64_t)10 * 366 * 86400)
#define DEFAULT_GRACE 3600
#define DEFAULT_QUARANTINE 86400
#define MAX_SPEC 4096
#define MAX_REFVALUES ((size_t)256 << 10)

void kms_problem(veil_kms_problem *pb, const char *check, const char *fmt, ...)
{
    if (!pb)
        return;
    snprintf(pb->check, sizeof pb->check, "%s", check);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pb->detail, sizeof pb->detail, fmt, ap);
    va_end(ap);
}

bool kms_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > VEIL_KMS_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

veil_result kms_new_op_id(char op[KMS_OP_ID_LEN + 1])
{
    uint8_t r[KMS_OP_ID_LEN / 2];
    VEIL_GUARD(veil_random_bytes(r, sizeof r));
    veil_hex_encode(r, sizeof r, op);
    return VEIL_OK;
}

int64_t veil_kms_now(const veil_kms *k)
{
    return k && k->clock ? k->clock(k->clock_arg) : (int64_t)time(NULL);
}

void veil_kms_set_key_defaults(veil_kms *k, int64_t rotate_interval, int64_t grace)
{
    if (rotate_interval >= 0 && rotate_interval <= MAX_PERIOD)
        k->default_rotate_interval = rotate_interval;
    if (grace >= 0 && grace <= MAX_PERIOD)
        k->default_grace = grace;
}

void veil_kms_set_max_nonces(veil_kms *k, unsigned max) { k->max_nonces = max; }

static bool copy_str(char *dst, size_t cap, const char *src)
{
    return (size_t)snprintf(dst, cap, "%s", src ? src : "") < cap;
}

veil_result veil_kms_set_kds(veil_kms *k, const veil_kds_config *cfg)
{
    VEIL_ENSURE(k != NULL, VEIL_E_USAGE, "kms: missing handle");
    k->kds_on = false;
    if (!cfg)
        return VEIL_OK;
    VEIL_ENSURE(cfg->cache_dir && cfg->cache_dir[0], VEIL_E_USAGE,
                "kms: the KDS needs a cache dir");
    const char *url = cfg->base_url && cfg->base_url[0] ? cfg->base_url : VEIL_KDS_DEFAULT_URL;
    VEIL_GUARD(veil_http_url_check(url));
    VEIL_ENSURE(copy_str(k->kds_url, sizeof k->kds_url, url) &&
                    copy_str(k->kds_cache, sizeof k->kds_cache, cfg->cache_dir) &&
                    copy_str(k->kds_ca, sizeof k->kds_ca, cfg->ca_file),
                VEIL_E_USAGE, "kms: KDS URL or path too long");
    k->kds = *cfg;
    k->kds.base_url = k->kds_url;
    k->kds.cache_dir = k->kds_cache;
    k->kds.ca_file = k->kds_ca[0] ? k->kds_ca : NULL;
    k->kds_on = true;
    return VEIL_OK;
}

void veil_kms_set_clock(veil_kms *k, int64_t (*clock)(void *), void *arg)
{
    k->clock = clock;
    k->clock_arg = arg;
}

const veil_sign_key *veil_kms_ledger_key(const veil_kms *k) { return k->ledger_key; }
const veil_sign_key *veil_kms_ear_key(const veil_kms *k) { return k->ear_key; }
struct veil_ledger *veil_kms_ledger(veil_kms *k) { return k->ledger; }

void veil_kms_root_description(const veil_kms *k, char *out, size_t cap)
{
    veil_kms_root_describe(k ? k->root : NULL, out, cap);
}

/* ---- paths, lock, root config ------------------------------------------------------ */

static veil_result path_in(const char *dir, const char *file, char *out, size_t cap)
{
    VEIL_ENSURE((size_t)snprintf(out, cap, "%s/%s", dir, file) < cap, VEIL_E_USAGE,
                "kms: the state directory path is too long");
    return VEIL_OK;
}

static veil_result take_lock(const char *dir, int *fd_out)
{
    char path[VEIL_KMS_PATH_MAX + 16];
    *fd_out = -1;
    VEIL_GUARD(path_in(dir, "lock", path, sizeof path));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    VEIL_ENSURE(fd >= 0, VEIL_E_USAGE, "kms: cannot open the state's lock file");
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return VEIL_ERR(VEIL_E_USAGE, "kms: the state is in use by another process (another "
                                      "`veil kms serve` on the same --state?)");
    }
    *fd_out = fd;
    return VEIL_OK;
}

static json_t *root_config_json(const veil_kms_root_config *c)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "kind", veil_kms_root_kind_name(c->kind),
                     "module", c->module, "token", c->token, "key_label", c->key_label, "pin_env",
                     c->pin_env, "pin_file", c->pin_file, "key_file", c->key_file, "sim_socket",
                     c->sim_socket);
}

static void copy_member(json_t *o, const char *name, char *out, size_t cap)
{
    const char *v = json_string_value(json_object_get(o, name));
    if (v)
        snprintf(out, cap, "%s", v);
}

static veil_result root_config_from(const uint8_t *text, size_t len, veil_kms_root_config *c)
{
    json_t *o = json_loadb((const char *)text, len, 0, NULL);
    VEIL_ENSURE(json_is_object(o), VEIL_E_PROTOCOL, "kms: the stored root-key config is damaged");
    veil_kms_root_config_default(c);
    const char *kind = json_string_value(json_object_get(o, "kind"));
    c->kind = VEIL_KMS_ROOT_NONE;
    for (int k = VEIL_KMS_ROOT_PKCS11; kind && k <= VEIL_KMS_ROOT_SIM; k++)
        if (!strcmp(kind, veil_kms_root_kind_name((veil_kms_root_kind)k)))
            c->kind = (veil_kms_root_kind)k;
    copy_member(o, "module", c->module, sizeof c->module);
    copy_member(o, "token", c->token, sizeof c->token);
    copy_member(o, "key_label", c->key_label, sizeof c->key_label);
    copy_member(o, "pin_env", c->pin_env, sizeof c->pin_env);
    copy_member(o, "pin_file", c->pin_file, sizeof c->pin_file);
    copy_member(o, "key_file", c->key_file, sizeof c->key_file);
    copy_member(o, "sim_socket", c->sim_socket, sizeof c->sim_socket);
    json_decref(o);
    VEIL_ENSURE(c->kind != VEIL_KMS_ROOT_NONE, VEIL_E_PROTOCOL,
                "kms: the stored root-key config names no provider");
    return VEIL_OK;
}

/* Stored config, overridden field by field by what the caller passes. */
static veil_result merge_root_config(veil_kms_root_config *stored, const veil_kms_root_config *over)
{
    if (!over)
        return VEIL_OK;
    VEIL_ENSURE(over->kind == VEIL_KMS_ROOT_NONE || over->kind == stored->kind, VEIL_E_USAGE,
                "kms: the state was created with another root-key provider");
#define OVER(f)                                                                                    \
    if (over->f[0])                                                                                \
    snprintf(stored->f, sizeof stored->f, "%s", over->f)
    OVER(module);
    OVER(token);
    OVER(key_label);
    OVER(key_file);
    OVER(sim_socket);
#undef OVER
    if (over->pin_env[0] || over->pin_file[0]) {
        snprintf(stored->pin_env, sizeof stored->pin_env, "%s", over->pin_env);
        snprintf(stored->pin_file, sizeof stored->pin_file, "%s", over->pin_file);
    }
    return VEIL_OK;
}

/* ---- wrapped signing keys ------------------------------------------------------------ */

static veil_result store_wrapped_key(veil_kms *k, const char *meta, const char *aad,
                                     const veil_sign_key *key)
{
    veil_result r = VEIL_OK;
    veil_buf pem, wrapped;
    veil_buf_init(&pem, 0);
    veil_buf_init(&wrapped, 0);
    VEIL_TRY(r, veil_sign_key_private_pem(key, &pem));
    VEIL_TRY(r, veil_kms_root_wrap(k->root, (const uint8_t *)aad, strlen(aad), pem.data, pem.len,
                                   &wrapped));
    VEIL_TRY(r, veil_kms_store_meta_put(k->store, meta, wrapped.data, wrapped.len));
out:
    veil_buf_free(&pem);
    veil_buf_free(&wrapped);
    return r;
}

static veil_result load_wrapped_key(veil_kms *k, const char *meta, const char *aad,
                                    veil_sign_key **out)
{
    veil_result r = VEIL_OK;
    veil_buf wrapped, pem;
    bool found = false;
    veil_buf_init(&wrapped, 0);
    veil_buf_init(&pem, 0);
    VEIL_TRY(r, veil_kms_store_meta_get(k->store, meta, &wrapped, &found));
    VEIL_ENSURE_GOTO(r, found, VEIL_E_PROTOCOL, "kms: the state lacks a signing key");
    VEIL_TRY(r, veil_kms_root_unwrap(k->root, (const uint8_t *)aad, strlen(aad), wrapped.data,
                                     wrapped.len, &pem));
    VEIL_TRY(r, veil_sign_key_from_pem(pem.data, pem.len, out));
out:
    veil_buf_free(&wrapped);
    veil_buf_free(&pem);
    return r;
}

/* ---- init / open / close ----------------------------------------------------------------- */

static veil_result init_state(veil_kms *k, const veil_kms_root_config *root,
                              char token[VEIL_KMS_ADMIN_TOKEN_LEN + 1])
{
    veil_result r = VEIL_OK;
    uint8_t secret[32], check[32];
    veil_buf tok, wrapped;
    json_t *cfg = NULL;
    char *cfg_text = NULL;
    veil_buf_init(&tok, 0);
    veil_buf_init(&wrapped, 0);

    VEIL_TRY(r, veil_sign_key_generate(&k->ledger_key));
    VEIL_TRY(r, veil_sign_key_generate(&k->ear_key));
    /* admin token: shown once; only its SHA-256 is kept */
    VEIL_TRY(r, veil_random_bytes(secret, sizeof secret));
    VEIL_TRY(r, veil_buf_append(&tok, TOKEN_PREFIX, strlen(TOKEN_PREFIX)));
    VEIL_TRY(r, veil_base64url_encode(secret, sizeof secret, &tok));
    VEIL_ENSURE_GOTO(r, tok.len == VEIL_KMS_ADMIN_TOKEN_LEN, VEIL_E_INTERNAL,
                     "kms: unexpected admin token length");
    VEIL_TRY(r, veil_sha256(tok.data, tok.len, k->admin_hash));
    VEIL_TRY(r, veil_random_bytes(check, sizeof check));
    VEIL_TRY(r, veil_kms_root_wrap(k->root, (const uint8_t *)AAD_ROOT_CHECK, strlen(AAD_ROOT_CHECK),
                                   check, sizeof check, &wrapped));
    cfg = root_config_json(root);
    VEIL_ENSURE_GOTO(r, cfg != NULL, VEIL_E_NOMEM, "kms: out of memory");
    cfg_text = veil_json_dump(cfg);
    VEIL_ENSURE_GOTO(r, cfg_text != NULL, VEIL_E_NOMEM, "kms: out of memory");

    VEIL_TRY(r, veil_kms_store_begin(k->store));
    VEIL_TRY(r, veil_kms_store_meta_put(k->store, "root", cfg_text, strlen(cfg_text)));
    VEIL_TRY(r, veil_kms_store_meta_put(k->store, "root_check", wrapped.data, wrapped.len));
    VEIL_TRY(r, store_wrapped_key(k, "ledger_key", AAD_LEDGER_KEY, k->ledger_key));
    VEIL_TRY(r, store_wrapped_key(k, "ear_key", AAD_EAR_KEY, k->ear_key));
    VEIL_TRY(r, veil_kms_store_meta_put(k->store, "admin_sha256", k->admin_hash, 32));
    /* written last: a state with "format" is complete */
    VEIL_TRY(r, veil_kms_store_meta_put(k->store, "format", FORMAT, strlen(FORMAT)));
    VEIL_TRY(r, veil_kms_store_commit(k->store));
    memcpy(token, tok.data, tok.len);
    token[tok.len] = 0;
out:
    veil_kms_store_rollback(k->store);
    veil_wipe(secret, sizeof secret);
    veil_wipe(check, sizeof check);
    veil_buf_free(&tok);
    veil_buf_free(&wrapped);
    veil_free(cfg_text);
    json_decref(cfg);
    return r;
}

static veil_result remove_partial_ledger(const char *dir)
{
    static const char *const files[] = {"ledger.db", "ledger.db-wal", "ledger.db-shm",
                                        "ledger.db-journal"};
    char path[VEIL_KMS_PATH_MAX + 32];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        VEIL_GUARD(path_in(dir, files[i], path, sizeof path));
        VEIL_ENSURE(unlink(path) == 0 || errno == ENOENT, VEIL_E_INTERNAL,
                    "kms: cannot remove the ledger of an unfinished init");
    }
    return VEIL_OK;
}

static veil_result open_ledger(veil_kms *k)
{
    char path[VEIL_KMS_PATH_MAX + 16];
    VEIL_GUARD(path_in(k->dir, "ledger.db", path, sizeof path));
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    VEIL_ENSURE(fd >= 0, VEIL_E_USAGE, "kms: cannot open the ledger file");
    close(fd);
    return veil_ledger_open(path, k->ledger_key, &k->ledger);
}

veil_result veil_kms_init(const char *dir, const veil_kms_root_config *root,
                          char admin_token[VEIL_KMS_ADMIN_TOKEN_LEN + 1])
{
    veil_result r = VEIL_OK;
    veil_kms *k = NULL;
    veil_buf fmt;
    bool found = false;
    char path[VEIL_KMS_PATH_MAX + 16];
    struct stat st;
    veil_buf_init(&fmt, 0);
    admin_token[0] = 0;
    VEIL_ENSURE(dir && root, VEIL_E_USAGE, "kms: missing argument");
    VEIL_ENSURE(strlen(dir) < VEIL_KMS_PATH_MAX, VEIL_E_USAGE, "kms: state path too long");
    VEIL_ENSURE(mkdir(dir, 0700) == 0 || errno == EEXIST, VEIL_E_USAGE,
                "kms: cannot create the state directory");
    VEIL_ENSURE(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), VEIL_E_USAGE,
                "kms: the state path is not a directory");
    VEIL_ENSURE((st.st_mode & 077) == 0, VEIL_E_USAGE,
                "kms: the state directory is accessible to group or others; chmod 700 it");
    k = veil_calloc(1, sizeof *k);
    VEIL_ENSURE(k != NULL, VEIL_E_NOMEM, "kms: out of memory");
    k->lock_fd = -1;
    snprintf(k->dir, sizeof k->dir, "%s", dir);
    VEIL_TRY(r, take_lock(dir, &k->lock_fd));
    VEIL_TRY(r, path_in(dir, "kms.db", path, sizeof path));
    VEIL_TRY(r, veil_kms_store_open(path, &k->store));
    VEIL_TRY(r, veil_kms_store_meta_get(k->store, "format", &fmt, &found));
    VEIL_ENSURE_GOTO(r, !found, VEIL_E_USAGE,
                     "kms: the state directory already holds a KMS (use a new --state)");
    VEIL_TRY(r, remove_partial_ledger(dir));
    k->root_cfg = *root;
    VEIL_TRY(r, veil_kms_root_open(root, true, &k->root));
    VEIL_TRY(r, init_state(k, root, admin_token));
    VEIL_TRY(r, open_ledger(k));
out:
    if (!veil_ok(r))
        veil_wipe(admin_token, VEIL_KMS_ADMIN_TOKEN_LEN + 1);
    veil_buf_free(&fmt);
    veil_kms_close(k);
    return r;
}

static veil_result open_state(veil_kms *k, const veil_kms_root_config *over)
{
    veil_result r = VEIL_OK;
    veil_buf b, pt;
    bool found = false;
    veil_buf_init(&b, 0);
    veil_buf_init(&pt, 0);
    VEIL_TRY(r, veil_kms_store_meta_get(k->store, "format", &b, &found));
    VEIL_ENSURE_GOTO(r, found, VEIL_E_USAGE,
                     "kms: no KMS state here (run `veil kms init --state DIR` first)");
    VEIL_ENSURE_GOTO(r, veil_public_equal(b.data, b.len, FORMAT, strlen(FORMAT)),
                     VEIL_E_UNSUPPORTED, "kms: the state has an unknown format version");
    veil_buf_clear(&b);
    b.len = 0;
    VEIL_TRY(r, veil_kms_store_meta_get(k->store, "root", &b, &found));
    VEIL_ENSURE_GOTO(r, found, VEIL_E_PROTOCOL, "kms: the state lacks its root-key config");
    VEIL_TRY(r, root_config_from(b.data, b.len, &k->root_cfg));
    VEIL_TRY(r, merge_root_config(&k->root_cfg, over));
    VEIL_TRY(r, veil_kms_root_open(&k->root_cfg, false, &k->root));
    veil_buf_clear(&b);
    b.len = 0;
    VEIL_TRY(r, veil_kms_store_meta_get(k->store, "root_check", &b, &found));
    VEIL_ENSURE_GOTO(r, found, VEIL_E_PROTOCOL, "kms: the state lacks its root-key check");
    r = veil_kms_root_unwrap(k->root, (const uint8_t *)AAD_ROOT_CHECK, strlen(AAD_ROOT_CHECK),
                             b.data, b.len, &pt);
    VEIL_ENSURE_GOTO(r, r.cls != VEIL_E_CRYPTO, VEIL_E_CRYPTO,
                     "kms: the root key is not the one this state was created with (another "
                     "token, key label, key file or simulator image?)");
    if (!veil_ok(r))
        goto out;
    VEIL_TRY(r, load_wrapped_key(k, "ledger_key", AAD_LEDGER_KEY, &k->ledger_key));
    VEIL_TRY(r, load_wrapped_key(k, "ear_key", AAD_EAR_KEY, &k->ear_key));
    veil_buf_clear(&b);
    b.len = 0;
    VEIL_TRY(r, veil_kms_store_meta_get(k->store, "admin_sha256", &b, &found));
    VEIL_ENSURE_GOTO(r, found && b.len == 32, VEIL_E_PROTOCOL,
                     "kms: the state lacks its admin token hash");
    memcpy(k->admin_hash, b.data, 32);
out:
    veil_buf_free(&b);
    veil_buf_free(&pt);
    return r;
}

veil_result veil_kms_open(const char *dir, const veil_kms_root_config *root, veil_kms **out)
{
    veil_result r = VEIL_OK;
    veil_kms *k = NULL;
    char path[VEIL_KMS_PATH_MAX + 16];
    struct stat st;
    *out = NULL;
    VEIL_ENSURE(dir != NULL, VEIL_E_USAGE, "kms: missing state directory");
    VEIL_ENSURE(strlen(dir) < VEIL_KMS_PATH_MAX, VEIL_E_USAGE, "kms: state path too long");
    VEIL_ENSURE(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), VEIL_E_USAGE,
                "kms: no state directory (run `veil kms init --state DIR` first)");
    VEIL_ENSURE((st.st_mode & 077) == 0, VEIL_E_USAGE,
                "kms: the state directory is accessible to group or others; chmod 700 it");
    k = veil_calloc(1, sizeof *k);
    VEIL_ENSURE(k != NULL, VEIL_E_NOMEM, "kms: out of memory");
    k->lock_fd = -1;
    k->default_grace = DEFAULT_GRACE;
    snprintf(k->dir, sizeof k->dir, "%s", dir);
    VEIL_TRY(r, take_lock(dir, &k->lock_fd));
    VEIL_TRY(r, path_in(dir, "kms.db", path, sizeof path));
    VEIL_ENSURE_GOTO(r, stat(path, &st) == 0, VEIL_E_USAGE,
                     "kms: no KMS state here (run `veil kms init --state DIR` first)");
    VEIL_TRY(r, veil_kms_store_open(path, &k->store));
    VEIL_TRY(r, open_state(k, root));
    VEIL_TRY(r, open_ledger(k));
    VEIL_TRY(r, kms_complete_pending(k));
    *out = k;
    k = NULL;
out:
    veil_kms_close(k);
    return r;
}

void veil_kms_close(veil_kms *k)
{
    if (!k)
        return;
    veil_ledger_close(k->ledger);
    veil_kms_store_close(k->store);
    veil_kms_root_free(k->root);
    veil_sign_key_free(k->ledger_key);
    veil_sign_key_free(k->ear_key);
    if (k->lock_fd >= 0)
        close(k->lock_fd);
    veil_free_wiped(k, sizeof *k);
}

bool veil_kms_admin_ok(const veil_kms *k, const char *token, size_t len)
{
    uint8_t h[32];
    if (!k || !token || len == 0 || len > 4096 || !veil_ok(veil_sha256(token, len, h)))
        return false;
    bool ok = veil_ct_equal(h, k->admin_hash, sizeof h);
    veil_wipe(h, sizeof h);
    return ok;
}

/* ---- staged admin changes -------------------------------------------------------------- */

veil_result kms_stage(veil_kms *k, const char *kind, const char *name, json_t *entries,
                      json_t *payload, const char *op, int64_t now)
{
    veil_result r = VEIL_OK;
    kstore_pending p;
    memset(&p, 0, sizeof p);
    snprintf(p.op, sizeof p.op, "%s", op);
    snprintf(p.kind, sizeof p.kind, "%s", kind);
    snprintf(p.name, sizeof p.name, "%s", name);
    p.at = now;
    VEIL_TRY(r, veil_ledger_size(k->ledger, &p.mark));
    p.entries = veil_json_dump(entries);
    p.payload = veil_json_dump(payload);
    VEIL_ENSURE_GOTO(r, p.entries && p.payload, VEIL_E_NOMEM, "kms: out of memory");
    VEIL_TRY(r, veil_kms_store_pending_add(k->store, &p));
out:
    veil_free(p.entries);
    veil_free(p.payload);
    return r;
}

/* The index of the first ledger entry at or after `mark` carrying op id `op`. */
static veil_result find_op(veil_kms *k, uint64_t mark, const char *op, bool *found, uint64_t *index)
{
    veil_result r = VEIL_OK;
    uint64_t size = 0;
    veil_buf e;
    veil_buf_init(&e, 0);
    *found = false;
    VEIL_TRY(r, veil_ledger_size(k->ledger, &size));
    for (uint64_t i = mark; i < size && !*found; i++) {
        e.len = 0;
        VEIL_TRY(r, veil_ledger_entry(k->ledger, i, &e));
        json_t *j = json_loadb((const char *)e.data, e.len, 0, NULL);
        const char *v = json_string_value(json_object_get(j, "op"));
        if (v && !strcmp(v, op)) {
            *found = true;
            *index = i;
        }
        json_decref(j);
    }
out:
    veil_buf_free(&e);
    return r;
}

static veil_result apply_keys(veil_kms *k, const kstore_pending *p, json_t *payload, uint64_t first)
{
    json_t *act = json_object_get(payload, "activate"), *ret = json_object_get(payload, "retire");
    size_t i;
    json_t *v;
    VEIL_ENSURE(json_is_array(act) && json_is_array(ret), VEIL_E_PROTOCOL,
                "kms: a pending key change is damaged");
    json_array_foreach (act, i, v) {
        VEIL_GUARD(veil_kms_store_key_activate(k->store, json_integer_value(v), first + i));
    }
    json_array_foreach (ret, i, v) {
        VEIL_GUARD(veil_kms_store_key_retire(k->store, json_integer_value(v), p->at));
    }
    return VEIL_OK;
}

static veil_result apply(veil_kms *k, const kstore_pending *p, uint64_t first)
{
    veil_result r = VEIL_OK;
    char idx[24];
    json_t *payload = json_loads(p->payload, 0, NULL);
    VEIL_ENSURE(payload != NULL, VEIL_E_PROTOCOL, "kms: a pending change is damaged");
    const char *text = json_string_value(json_object_get(payload, "text"));
    if (!strcmp(p->kind, "keys")) {
        VEIL_TRY(r, apply_keys(k, p, payload, first));
    } else if (!strcmp(p->kind, "policy")) {
        VEIL_ENSURE_GOTO(r, text != NULL, VEIL_E_PROTOCOL, "kms: a pending policy is damaged");
        VEIL_TRY(r, veil_kms_store_policy_put(k->store, p->name, text, strlen(text), first));
    } else if (!strcmp(p->kind, "refvalues")) {
        VEIL_ENSURE_GOTO(r, text != NULL, VEIL_E_PROTOCOL, "kms: pending refvalues are damaged");
        VEIL_TRY(r, veil_kms_store_meta_put(k->store, "refvalues", text, strlen(text)));
        snprintf(idx, sizeof idx, "%llu", (unsigned long long)first);
        VEIL_TRY(r, veil_kms_store_meta_put(k->store, "refvalues_index", idx, strlen(idx)));
    } else {
        r = VEIL_ERR(VEIL_E_PROTOCOL, "kms: a pending change of unknown kind");
        goto out;
    }
    VEIL_TRY(r, veil_kms_store_pending_delete(k->store, p->op));
out:
    json_decref(payload);
    return r;
}

static veil_result complete_one(veil_kms *k, const kstore_pending *p)
{
    veil_result r = VEIL_OK;
    bool found = false;
    uint64_t first = 0;
    json_t *entries = json_loads(p->entries, 0, NULL);
    VEIL_ENSURE(json_is_array(entries) && json_array_size(entries) > 0 &&
                    json_array_size(entries) <= 64,
                VEIL_E_PROTOCOL, "kms: a pending change is damaged");
    VEIL_TRY(r, find_op(k, p->mark, p->op, &found, &first));
    if (!found) {
        const json_t *list[64];
        size_t n = json_array_size(entries);
        for (size_t i = 0; i < n; i++)
            list[i] = json_array_get(entries, i);
        VEIL_TRY(r, veil_ledger_append_values(k->ledger, list, n, &first));
    }
    VEIL_TRY(r, veil_kms_store_begin(k->store));
    VEIL_TRY(r, apply(k, p, first));
    VEIL_TRY(r, veil_kms_store_commit(k->store));
out:
    veil_kms_store_rollback(k->store);
    json_decref(entries);
    return r;
}

veil_result kms_complete_pending(veil_kms *k)
{
    veil_result r = VEIL_OK;
    kstore_pending *list = NULL;
    size_t n = 0;
    VEIL_TRY(r, veil_kms_store_pending_list(k->store, &list, &n));
    for (size_t i = 0; i < n; i++)
        VEIL_TRY(r, complete_one(k, &list[i]));
out:
    veil_kms_store_pending_free(list, n);
    return r;
}

/* ---- admin: keys --------------------------------------------------------------------- */

static veil_result period(json_t *spec, const char *name, int64_t dflt, int64_t *out,
                          veil_kms_problem *pb)
{
    json_t *v = json_object_get(spec, name);
    *out = dflt;
    if (!v)
        return VEIL_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > MAX_PERIOD) {
        kms_problem(pb, "request", "\"%s\" must be a number of seconds from 0 to %lld", name,
                    (long long)MAX_PERIOD);
        return VEIL_ERR(VEIL_E_PROTOCOL, "kms: a key spec period is invalid");
    }
    *out = json_integer_value(v);
    return VEIL_OK;
}

static veil_result parse_spec(const char *name, const char *text, size_t len, int64_t now,
                              int64_t dflt_interval, int64_t dflt_grace, kstore_name *nm,
                              veil_kms_problem *pb)
{
    veil_result r = VEIL_OK;
    json_error_t err;
    const char *key;
    json_t *v, *spec = NULL;
    const kms_suite *suites[KMS_MAX_SUITES];
    size_t n_suites = 0;
    memset(nm, 0, sizeof *nm);
    snprintf(nm->name, sizeof nm->name, "%s", name);
    nm->created = now;
    VEIL_ENSURE(len <= MAX_SPEC, VEIL_E_PROTOCOL, "kms: key spec too long");
    spec = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(spec)) {
        kms_problem(pb, "request", "the key spec must be a JSON object: %s", err.text);
        r = VEIL_ERR(VEIL_E_PROTOCOL, "kms: the key spec is not a JSON object");
        goto out;
    }
    json_object_foreach (spec, key, v) {
        if (strcmp(key, "type") && strcmp(key, "suites") && strcmp(key, "rotate_interval") &&
            strcmp(key, "grace") && strcmp(key, "quarantine")) {
            kms_problem(pb, "request",
                        "unknown member \"%.64s\" in the key spec (type, suites, "
                        "rotate_interval, grace, quarantine)",
                        key);
            r = VEIL_ERR(VEIL_E_PROTOCOL, "kms: unknown member in the key spec");
            goto out;
        }
    }
    const char *type = json_string_value(json_object_get(spec, "type"));
    if (!type || (strcmp(type, "ohttp") && strcmp(type, "hpke"))) {
        kms_problem(pb, "request", "\"type\" must be \"ohttp\" or \"hpke\"");
        r = VEIL_ERR(VEIL_E_PROTOCOL, "kms: the key spec lacks a valid type");
        goto out;
    }
    nm->type = strcmp(type, "ohttp") ? VEIL_KMS_KEY_HPKE : VEIL_KMS_KEY_OHTTP;
    json_t *sl = json_object_get(spec, "suites");
    if (!sl) {
        snprintf(nm->suites, sizeof nm->suites, "x25519");
    } else {
        size_t i;
        size_t o = 0;
        VEIL_ENSURE_GOTO(r, json_is_array(sl) && json_array_size(sl) > 0, VEIL_E_PROTOCOL,
                         "kms: \"suites\" must be a non-empty array");
        json_array_foreach (sl, i, v) {
            const char *s = json_string_value(v);
            const kms_suite *su = s ? kms_suite_find(s, strlen(s)) : NULL;
            if (!su) {
                kms_problem(pb, "request", "unknown suite in \"suites\" (x25519, p384)");
                r = VEIL_ERR(VEIL_E_PROTOCOL, "kms: unknown suite");
                goto out;
            }
            o += (size_t)snprintf(nm->suites + o, sizeof nm->suites - o, "%s%s", i ? "," : "",
                                  su->name);
            VEIL_ENSURE_GOTO(r, o < sizeof nm->suites, VEIL_E_PROTOCOL, "kms: too many suites");
        }
    }
    r = kms_suites_parse(nm->suites, suites, &n_suites);
    if (!veil_ok(r)) {
        kms_problem(pb, "request", "%s", r.msg);
        goto out;
    }
    VEIL_TRY(r, period(spec, "rotate_interval", dflt_interval, &nm->rotate_interval, pb));
    VEIL_TRY(r, period(spec, "grace", dflt_grace, &nm->grace, pb));
    VEIL_TRY(r, period(spec, "quarantine", DEFAULT_QUARANTINE, &nm->quarantine, pb));
out:
    if (!veil_ok(r) && pb && !pb->check[0])
        kms_problem(pb, "request", "%s", r.msg);
    json_decref(spec);
    return r;
}

static bool same_spec(const kstore_name *a, const kstore_name *b)
{
    return a->type == b->type && !strcmp(a->suites, b->suites) &&
           a->rotate_interval == b->rotate_interval && a->grace == b->grace &&
           a->quarantine == b->quarantine;
}

/* Stage and complete new keys for nm (retiring its current keys when
 * `rotate`); the caller has checked everything else. */
static veil_result new_keys(veil_kms *k, const kstore_name *nm, bool create_name, bool rotate,
                            veil_kms_problem *pb)
{
    veil_result r = VEIL_OK;
    char op[KMS_OP_ID_LEN + 1];
    int64_t now = veil_kms_now(k);
    kstore_key *keys = NULL;
    size_t n = 0;
    json_t *entries = json_array(), *uids = json_array(), *retire = json_array(),
           *retire_ids = json_array(), *payload = NULL;
    VEIL_ENSURE_GOTO(r, entries && uids && retire && retire_ids, VEIL_E_NOMEM,
                     "kms: out of memory");
    VEIL_TRY(r, kms_new_op_id(op));
    VEIL_TRY(r, veil_kms_store_begin(k->store));
    if (create_name)
        VEIL_TRY(r, veil_kms_store_name_put(k->store, nm));
    if (rotate) {
        VEIL_TRY(r, veil_kms_store_keys(k->store, nm->name, &keys, &n));
        for (size_t i = 0; i < n; i++) {
            if (keys[i].state == KSTORE_ACTIVE && keys[i].retired_at == 0) {
                json_array_append_new(retire, json_integer(keys[i].uid));
                json_array_append_new(retire_ids, json_integer(keys[i].key_id));
            }
        }
    }
    r = kms_keys_stage(k, nm, now, op, retire_ids, entries, uids);
    if (!veil_ok(r)) {
        kms_problem(pb, r.cls == VEIL_E_NOMEM ? "key_id" : "key", "%s", r.msg);
        goto out;
    }
    payload = json_pack("{s:O,s:O}", "activate", uids, "retire", retire);
    VEIL_ENSURE_GOTO(r, payload != NULL, VEIL_E_NOMEM, "kms: out of memory");
    VEIL_TRY(r, kms_stage(k, "keys", nm->name, entries, payload, op, now));
    VEIL_TRY(r, veil_kms_store_commit(k->store));
    VEIL_TRY(r, kms_complete_pending(k));
out:
    veil_kms_store_rollback(k->store);
    veil_free_wiped(keys, n * sizeof *keys);
    json_decref(entries);
    json_decref(uids);
    json_decref(retire);
    json_decref(retire_ids);
    json_decref(payload);
    return r;
}

veil_result veil_kms_key_create(veil_kms *k, const char *name, const char *spec, size_t spec_len,
                                veil_kms_problem *pb)
{
    kstore_name nm, old;
    bool found = false;
    if (pb)
        memset(pb, 0, sizeof *pb);
    if (!kms_name_ok(name)) {
        kms_problem(pb, "request",
                    "a key name is 1 to 64 characters from A-Z a-z 0-9 . _ - "
                    "and starts with a letter or digit");
        return VEIL_ERR(VEIL_E_USAGE, "kms: invalid key name");
    }
    VEIL_GUARD(parse_spec(name, spec, spec_len, veil_kms_now(k), k->default_rotate_interval,
                          k->default_grace, &nm, pb));
    VEIL_GUARD(veil_kms_store_name_get(k->store, name, &old, &found));
    if (found) {
        if (same_spec(&old, &nm))
            return VEIL_OK;
        kms_problem(pb, "key", "key \"%s\" exists with another spec; choose a new name", name);
        return VEIL_ERR(VEIL_E_USAGE, "kms: the key exists with another spec");
    }
    return new_keys(k, &nm, true, false, pb);
}

static veil_result need_name(veil_kms *k, const char *name, kstore_name *nm, veil_kms_problem *pb)
{
    bool found = false;
    if (!kms_name_ok(name)) {
        kms_problem(pb, "request", "invalid key name");
        return VEIL_ERR(VEIL_E_USAGE, "kms: invalid key name");
    }
    VEIL_GUARD(veil_kms_store_name_get(k->store, name, nm, &found));
    if (!found) {
        kms_problem(pb, "key", "no key named \"%s\" (create it with PUT /admin/keys/%s)", name,
                    name);
        return VEIL_ERR(VEIL_E_USAGE, "kms: no such key");
    }
    return VEIL_OK;
}

veil_result veil_kms_rotate(veil_kms *k, const char *name, veil_kms_problem *pb)
{
    kstore_name nm;
    if (pb)
        memset(pb, 0, sizeof *pb);
    VEIL_GUARD(need_name(k, name, &nm, pb));
    return new_keys(k, &nm, false, true, pb);
}

veil_result veil_kms_rotate_due(veil_kms *k, unsigned *rotated)
{
    veil_result r = VEIL_OK;
    kstore_name *names = NULL;
    kstore_key *keys = NULL;
    size_t n_names = 0, n = 0;
    int64_t now = veil_kms_now(k);
    if (rotated)
        *rotated = 0;
    VEIL_TRY(r, veil_kms_store_names(k->store, 0, &names, &n_names));
    for (size_t i = 0; i < n_names; i++) {
        if (names[i].rotate_interval <= 0)
            continue;
        VEIL_TRY(r, veil_kms_store_keys(k->store, names[i].name, &keys, &n));
        int64_t newest = -1;
        for (size_t j = 0; j < n; j++)
            if (kms_key_current(&keys[j], now) && keys[j].created > newest)
                newest = keys[j].created;
        veil_free_wiped(keys, n * sizeof *keys);
        keys = NULL;
        n = 0;
        if (newest >= 0 && now < newest + names[i].rotate_interval)
            continue;
        VEIL_TRY(r, new_keys(k, &names[i], false, true, NULL));
        if (rotated)
            (*rotated)++;
    }
out:
    veil_free_wiped(keys, n * sizeof *keys);
    veil_free(names);
    return r;
}

/* ---- admin: policies and reference values --------------------------------------------- */

static veil_result stage_document(veil_kms *k, const char *kind, const char *name, json_t *doc,
                                  veil_kms_problem *pb)
{
    veil_result r = VEIL_OK;
    char op[KMS_OP_ID_LEN + 1];
    json_t *entry = NULL, *entries = NULL, *payload = NULL;
    char *text = veil_json_dump(doc);
    VEIL_ENSURE_GOTO(r, text != NULL, VEIL_E_NOMEM, "kms: out of memory");
    VEIL_TRY(r, kms_new_op_id(op));
    if (!strcmp(kind, "policy"))
        entry =
            json_pack("{s:s,s:s,s:O,s:s}", "type", "policy", "name", name, "policy", doc, "op", op);
    else
        entry = json_pack("{s:s,s:O,s:s}", "type", "refvalues", "refvalues", doc, "op", op);
    entries = json_array();
    payload = json_pack("{s:s}", "text", text);
    VEIL_ENSURE_GOTO(r, entry && entries && payload && json_array_append(entries, entry) == 0,
                     VEIL_E_NOMEM, "kms: out of memory");
    VEIL_TRY(r, veil_kms_store_begin(k->store));
    VEIL_TRY(r, kms_stage(k, kind, name, entries, payload, op, veil_kms_now(k)));
    VEIL_TRY(r, veil_kms_store_commit(k->store));
    VEIL_TRY(r, kms_complete_pending(k));
out:
    if (!veil_ok(r) && pb && !pb->check[0])
        kms_problem(pb, "internal", "%s", r.msg);
    veil_kms_store_rollback(k->store);
    veil_free(text);
    json_decref(entry);
    json_decref(entries);
    json_decref(payload);
    return r;
}

veil_result veil_kms_set_policy(veil_kms *k, const char *name, const char *json, size_t len,
                                veil_kms_problem *pb)
{
    veil_result r = VEIL_OK;
    kstore_name nm;
    veil_release_policy *pol = NULL;
    char detail[VEIL_RELEASE_POLICY_DETAIL];
    json_t *doc = NULL;
    if (pb)
        memset(pb, 0, sizeof *pb);
    VEIL_GUARD(need_name(k, name, &nm, pb));
    r = veil_release_policy_parse(json, len, &pol, detail);
    if (!veil_ok(r)) {
        kms_problem(pb, "request", "release policy: %s", detail[0] ? detail : r.msg);
        goto out;
    }
    doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    VEIL_ENSURE_GOTO(r, doc != NULL, VEIL_E_PROTOCOL, "kms: the policy is not JSON");
    VEIL_TRY(r, stage_document(k, "policy", name, doc, pb));
out:
    veil_release_policy_free(pol);
    json_decref(doc);
    return r;
}

veil_result veil_kms_set_refvalues(veil_kms *k, const char *json, size_t len, veil_kms_problem *pb)
{
    veil_result r = VEIL_OK;
    json_t *doc = NULL;
    if (pb)
        memset(pb, 0, sizeof *pb);
    VEIL_ENSURE(len <= MAX_REFVALUES, VEIL_E_PROTOCOL, "kms: reference values too long");
    doc = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(doc)) {
        kms_problem(pb, "request", "reference values must be a JSON object (docs/policy.md)");
        r = VEIL_ERR(VEIL_E_PROTOCOL, "kms: reference values are not a JSON object");
        goto out;
    }
    json_t *cpu = json_object_get(doc, "cpu"); /* a composite policy's CPU part */
    if (json_object_get(doc, "report_data") || json_object_get(doc, "verification_time") ||
        json_object_get(cpu, "report_data") || json_object_get(cpu, "verification_time")) {
        kms_problem(pb, "request",
                    "reference values must not set \"report_data\" (the KMS binds it to each "
                    "request's nonce and key) or \"verification_time\" (releases are judged now)");
        r = VEIL_ERR(VEIL_E_PROTOCOL, "kms: reference values set a per-request member");
        goto out;
    }
    /* a plain SEV-SNP or TDX policy, or a composite one with "cpu"/"gpu"/"gpus" */
    r = veil_composite_policy_check(json, len, NULL);
    if (!veil_ok(r)) {
        kms_problem(pb, "request", "reference values: %s", r.msg);
        goto out;
    }
    VEIL_TRY(r, stage_document(k, "refvalues", "", doc, pb));
out:
    json_decref(doc);
    return r;
}

/* ---- published configurations ------------------------------------------------------------- */

veil_result veil_kms_ohttp_keys(veil_kms *k, const char *name, veil_buf *out, int64_t *not_after,
                                veil_kms_problem *pb)
{
    veil_result r = VEIL_OK;
    kstore_name nm;
    kstore_key *keys = NULL;
    size_t n = 0;
    int64_t now = veil_kms_now(k);
    if (pb)
        memset(pb, 0, sizeof *pb);
    *not_after = 0;
    VEIL_GUARD(need_name(k, name, &nm, pb));
    if (nm.type != VEIL_KMS_KEY_OHTTP) {
        kms_problem(pb, "key", "key \"%s\" is not an ohttp key", name);
        return VEIL_ERR(VEIL_E_USAGE, "kms: not an ohttp key");
    }
    VEIL_TRY(r, veil_kms_store_keys(k->store, name, &keys, &n));
    for (size_t i = 0; i < n; i++) {
        if (!kms_key_current(&keys[i], now))
            continue;
        /* RFC 9458 §3.2: each config with a 2-byte length */
        VEIL_TRY(r, veil_buf_u16(out, (uint16_t)keys[i].config_len));
        VEIL_TRY(r, veil_buf_append(out, keys[i].config, keys[i].config_len));
        if (keys[i].not_after && (*not_after == 0 || keys[i].not_after < *not_after))
            *not_after = keys[i].not_after;
    }
out:
    veil_free_wiped(keys, n * sizeof *keys);
    return r;
}

static json_t *receipt_json(veil_kms *k, uint64_t index)
{
    veil_buf b;
    veil_buf_init(&b, 0);
    json_t *j = NULL;
    if (veil_ok(veil_ledger_receipt(k->ledger, index, &b)))
        j = json_loadb((const char *)b.data, b.len, 0, NULL);
    veil_buf_free(&b);
    return j ? j : json_null();
}

veil_result veil_kms_key_config(veil_kms *k, const char *name, veil_buf *out, veil_kms_problem *pb)
{
    veil_result r = VEIL_OK;
    kstore_name nm;
    kstore_key *keys = NULL;
    size_t n = 0;
    uint64_t pidx = 0;
    bool found = false;
    veil_buf pol, b64, ridx;
    json_t *doc = NULL, *list = NULL;
    char *text = NULL;
    int64_t now = veil_kms_now(k);
    veil_buf_init(&pol, 0);
    veil_buf_init(&b64, 0);
    veil_buf_init(&ridx, 0);
    if (pb)
        memset(pb, 0, sizeof *pb);
    VEIL_GUARD(need_name(k, name, &nm, pb));
    VEIL_TRY(r, veil_kms_store_keys(k->store, name, &keys, &n));
    list = json_array();
    VEIL_ENSURE_GOTO(r, list != NULL, VEIL_E_NOMEM, "kms: out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!kms_key_current(&keys[i], now) || !keys[i].has_index)
            continue;
        b64.len = 0;
        VEIL_TRY(r, veil_base64_encode(keys[i].config, keys[i].config_len, &b64));
        json_t *e = json_pack("{s:i,s:i,s:s#,s:I,s:I,s:o}", "key_id", (int)keys[i].key_id, "kem",
                              (int)keys[i].kem, "config", (const char *)b64.data, (int)b64.len,
                              "not_after", (json_int_t)keys[i].not_after, "ledger_index",
                              (json_int_t)keys[i].ledger_index, "receipt",
                              receipt_json(k, keys[i].ledger_index));
        VEIL_ENSURE_GOTO(r, e && json_array_append_new(list, e) == 0, VEIL_E_NOMEM,
                         "kms: out of memory");
    }
    doc = json_pack("{s:s,s:s,s:s,s:I,s:I,s:O}", "name", name, "type",
                    nm.type == VEIL_KMS_KEY_OHTTP ? "ohttp" : "hpke", "suites", nm.suites,
                    "rotate_interval", (json_int_t)nm.rotate_interval, "grace",
                    (json_int_t)nm.grace, "keys", list);
    VEIL_ENSURE_GOTO(r, doc != NULL, VEIL_E_NOMEM, "kms: out of memory");
    VEIL_TRY(r, veil_kms_store_policy_get(k->store, name, &pol, &pidx, &found));
    json_object_set_new(doc, "policy",
                        found ? json_loadb((const char *)pol.data, pol.len, 0, NULL) : json_null());
    json_object_set_new(doc, "policy_receipt", found ? receipt_json(k, pidx) : json_null());
    found = false;
    VEIL_TRY(r, veil_kms_store_meta_get(k->store, "refvalues_index", &ridx, &found));
    if (found) {
        char tmp[24];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(ridx.len < 23 ? ridx.len : 23),
                 (const char *)ridx.data);
        json_object_set_new(doc, "refvalues_receipt",
                            receipt_json(k, (uint64_t)strtoull(tmp, NULL, 10)));
    } else {
        json_object_set_new(doc, "refvalues_receipt", json_null());
    }
    text = veil_json_dump(doc);
    VEIL_ENSURE_GOTO(r, text != NULL, VEIL_E_NOMEM, "kms: out of memory");
    VEIL_TRY(r, veil_buf_append(out, text, strlen(text)));
out:
    veil_free_wiped(keys, n * sizeof *keys);
    veil_buf_free(&pol);
    veil_buf_free(&b64);
    veil_buf_free(&ridx);
    veil_free(text);
    json_decref(list);
    json_decref(doc);
    return r;
}

veil_result veil_kms_key_names(veil_kms *k, const char *type, veil_buf *out)
{
    veil_result r = VEIL_OK;
    kstore_name *names = NULL;
    size_t n = 0;
    char *text = NULL;
    int t = !type                    ? 0
            : !strcmp(type, "ohttp") ? VEIL_KMS_KEY_OHTTP
            : !strcmp(type, "hpke")  ? VEIL_KMS_KEY_HPKE
                                     : -1;
    json_t *arr = json_array();
    VEIL_ENSURE_GOTO(r, arr != NULL, VEIL_E_NOMEM, "kms: out of memory");
    VEIL_ENSURE_GOTO(r, t >= 0, VEIL_E_USAGE, "kms: key types are ohttp and hpke");
    VEIL_TRY(r, veil_kms_store_names(k->store, t, &names, &n));
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(names[i].name));
    text = veil_json_dump(arr);
    VEIL_ENSURE_GOTO(r, text != NULL, VEIL_E_NOMEM, "kms: out of memory");
    VEIL_TRY(r, veil_buf_append(out, text, strlen(text)));
out:
    veil_free(names);
    veil_free(text);
    json_decref(arr);
    return r;
}
