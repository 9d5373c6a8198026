/* The KMS's root wrapping key: PKCS#11 token, key file, or the simulator's
 * derived key (see hsm.h). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/primitives.h"
#include "kms/hsm.h"
#include "kms/pkcs11.h"
#include "veil/attester.h"
#include "veil/hpke.h"
#include "veil/mem.h"
#include "veil/rand.h"

#define PIN_MAX 256
#define MAX_SLOTS 64

struct veil_kms_root {
    veil_kms_root_kind kind;
    pthread_mutex_t lock;
    /* file / sim */
    uint8_t key[VEIL_KMS_ROOT_KEY_LEN];
    /* pkcs11 */
    struct p11_module *mod;
    CK_SESSION_HANDLE session;
    CK_OBJECT_HANDLE obj;
    char desc[768];
};

/* ---- PKCS#11 modules: loaded once per path, initialised once --------------
 * C_Initialize/C_Finalize are process-wide, so two root handles on the same
 * module (tests, a CLI that opens the state twice) share one registration
 * and the last one out finalises. Modules stay mapped once loaded: many
 * (SoftHSM2 among them) register atexit handlers of their own. */

struct p11_module {
    char path[VEIL_KMS_PATH_MAX];
    void *dl;
    CK_FUNCTION_LIST *fl;
    int refs;
    bool initialised_by_us;
};

#define MAX_MODULES 4
static struct p11_module g_modules[MAX_MODULES];
static pthread_mutex_t g_modules_lock = PTHREAD_MUTEX_INITIALIZER;

static veil_result module_get(const char *path, struct p11_module **out)
{
    veil_result r = VEIL_OK;
    struct p11_module *m = NULL;
    *out = NULL;
    pthread_mutex_lock(&g_modules_lock);
    for (size_t i = 0; i < MAX_MODULES && !m; i++)
        if (g_modules[i].dl && !strcmp(g_modules[i].path, path))
            m = &g_modules[i];
    if (!m) {
        for (size_t i = 0; i < MAX_MODULES && !m; i++)
            if (!g_modules[i].dl)
                m = &g_modules[i];
        VEIL_ENSURE_GOTO(r, m != NULL, VEIL_E_INTERNAL, "hsm: too many PKCS#11 modules loaded");
        void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        VEIL_ENSURE_GOTO(r, dl != NULL, VEIL_E_USAGE,
                         "hsm: cannot load the PKCS#11 module (check --hsm-module; Debian's "
                         "SoftHSM2 is /usr/lib/softhsm/libsofthsm2.so from package softhsm2)");
        CK_C_GetFunctionList gfl;
        *(void **)&gfl = dlsym(dl, "C_GetFunctionList");
        CK_FUNCTION_LIST *fl = NULL;
        if (!gfl || gfl(&fl) != CKR_OK || !fl) {
            dlclose(dl);
            r = VEIL_ERR(VEIL_E_USAGE, "hsm: the module has no usable C_GetFunctionList");
            goto out;
        }
        if (fl->version.major != 2) {
            dlclose(dl);
            r = VEIL_ERR(VEIL_E_UNSUPPORTED, "hsm: the module is not a PKCS#11 v2.x module");
            goto out;
        }
        memset(m, 0, sizeof *m);
        snprintf(m->path, sizeof m->path, "%s", path);
        m->dl = dl;
        m->fl = fl;
    }
    if (m->refs == 0) {
        /* We use the token from several threads only under our own lock,
         * but let the module use OS locking anyway. */
        CK_C_INITIALIZE_ARGS args;
        memset(&args, 0, sizeof args);
        args.flags = CKF_OS_LOCKING_OK;
        CK_RV rv = m->fl->C_Initialize(&args);
        VEIL_ENSURE_GOTO(r, rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED, VEIL_E_INTERNAL,
                         "hsm: C_Initialize failed (for SoftHSM2: is SOFTHSM2_CONF set and its "
                         "token directory readable?)");
        m->initialised_by_us = rv == CKR_OK;
    }
    m->refs++;
    *out = m;
out:
    pthread_mutex_unlock(&g_modules_lock);
    return r;
}

static void module_put(struct p11_module *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&g_modules_lock);
    if (m->refs > 0 && --m->refs == 0 && m->initialised_by_us) {
        m->fl->C_Finalize(NULL);
        m->initialised_by_us = false;
    }
    pthread_mutex_unlock(&g_modules_lock);
}

/* ---- PIN and key-file sources ---------------------------------------------- */

/* Read a small secret file: regular, ours, no group/other permissions. */
static veil_result read_private_file(const char *path, uint8_t *buf, size_t cap, size_t *len,
                                     const char *what_mode)
{
    veil_result r = VEIL_OK;
    struct stat st;
    *len = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    VEIL_ENSURE(fd >= 0, VEIL_E_USAGE, what_mode);
    VEIL_ENSURE_GOTO(r, fstat(fd, &st) == 0 && S_ISREG(st.st_mode), VEIL_E_USAGE,
                     "hsm: a secret file is not a regular file");
    VEIL_ENSURE_GOTO(r, (st.st_mode & 077) == 0, VEIL_E_USAGE,
                     "hsm: a secret file (root key or PIN) is readable by group or others: "
                     "refusing it; chmod 600 it");
    VEIL_ENSURE_GOTO(r, st.st_uid == geteuid(), VEIL_E_USAGE,
                     "hsm: a secret file (root key or PIN) belongs to another user");
    VEIL_ENSURE_GOTO(r, (size_t)st.st_size <= cap, VEIL_E_USAGE, "hsm: a secret file is too long");
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        VEIL_ENSURE_GOTO(r, n > 0, VEIL_E_INTERNAL, "hsm: cannot read a secret file");
        got += (size_t)n;
    }
    *len = got;
out:
    close(fd);
    if (!veil_ok(r))
        veil_wipe(buf, cap);
    return r;
}

static veil_result read_pin(const veil_kms_root_config *cfg, uint8_t pin[PIN_MAX], size_t *len)
{
    *len = 0;
    if (cfg->pin_env[0]) {
        const char *v = getenv(cfg->pin_env);
        VEIL_ENSURE(v != NULL && v[0], VEIL_E_USAGE,
                    "hsm: the PIN variable named by --hsm-pin-env is not set");
        size_t n = strlen(v);
        VEIL_ENSURE(n < PIN_MAX, VEIL_E_USAGE, "hsm: the PIN is too long");
        memcpy(pin, v, n);
        *len = n;
    } else if (cfg->pin_file[0]) {
        VEIL_GUARD(read_private_file(cfg->pin_file, pin, PIN_MAX, len,
                                     "hsm: cannot open the PIN file named by --hsm-pin-file"));
    } else {
        return VEIL_ERR(VEIL_E_USAGE, "hsm: no PIN source: give --hsm-pin-env VAR or "
                                      "--hsm-pin-file FILE");
    }
    while (*len > 0 && (pin[*len - 1] == '\n' || pin[*len - 1] == '\r'))
        pin[--*len] = 0;
    VEIL_ENSURE(*len > 0, VEIL_E_USAGE, "hsm: the PIN is empty");
    return VEIL_OK;
}

/* ---- PKCS#11 provider ---------------------------------------------------------- */

static bool label_is(const CK_BYTE label[32], const char *want)
{
    size_t n = 32;
    while (n > 0 && (label[n - 1] == ' ' || label[n - 1] == 0))
        n--;
    return veil_public_equal(label, n, want, strlen(want));
}

static veil_result find_slot(CK_FUNCTION_LIST *fl, const char *token, CK_SLOT_ID *slot)
{
    CK_SLOT_ID slots[MAX_SLOTS];
    CK_ULONG n = MAX_SLOTS;
    VEIL_ENSURE(fl->C_GetSlotList(CK_TRUE, slots, &n) == CKR_OK, VEIL_E_INTERNAL,
                "hsm: C_GetSlotList failed");
    bool found = false;
    for (CK_ULONG i = 0; i < n && i < MAX_SLOTS; i++) {
        CK_TOKEN_INFO ti;
        memset(&ti, 0, sizeof ti);
        if (fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        if (!(ti.flags & CKF_TOKEN_INITIALIZED) || !label_is(ti.label, token))
            continue;
        VEIL_ENSURE(!found, VEIL_E_USAGE, "hsm: two tokens carry the configured label");
        *slot = slots[i];
        found = true;
    }
    VEIL_ENSURE(found, VEIL_E_USAGE,
                "hsm: no initialised token with the configured label (check --hsm-token; for "
                "SoftHSM2 check SOFTHSM2_CONF, or run scripts/softhsm-setup.sh)");
    return VEIL_OK;
}

static bool attr_bool(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
                      CK_ATTRIBUTE_TYPE t, bool *val)
{
    CK_BBOOL b = CK_FALSE;
    CK_ATTRIBUTE a = {t, &b, sizeof b};
    if (fl->C_GetAttributeValue(s, o, &a, 1) != CKR_OK || a.ulValueLen != sizeof b)
        return false;
    *val = b == CK_TRUE;
    return true;
}

/* An existing key must be what we would have created: refuse a key that
 * could leave the token. */
static veil_result check_key(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o)
{
    bool sensitive = false, extractable = true, enc = false, dec = false;
    CK_ULONG vlen = 0;
    CK_ATTRIBUTE a = {CKA_VALUE_LEN, &vlen, sizeof vlen};
    VEIL_ENSURE(attr_bool(fl, s, o, CKA_SENSITIVE, &sensitive) &&
                    attr_bool(fl, s, o, CKA_EXTRACTABLE, &extractable) &&
                    attr_bool(fl, s, o, CKA_ENCRYPT, &enc) &&
                    attr_bool(fl, s, o, CKA_DECRYPT, &dec) &&
                    fl->C_GetAttributeValue(s, o, &a, 1) == CKR_OK,
                VEIL_E_INTERNAL, "hsm: cannot read the root key's attributes");
    VEIL_ENSURE(sensitive && !extractable, VEIL_E_USAGE,
                "hsm: the token's key with the root-key label is extractable or not sensitive: "
                "refusing it (create a new one with another --hsm-key-label)");
    VEIL_ENSURE(vlen == VEIL_KMS_ROOT_KEY_LEN, VEIL_E_USAGE,
                "hsm: the token's key with the root-key label is not AES-256");
    VEIL_ENSURE(enc && dec, VEIL_E_USAGE,
                "hsm: the token's root key does not allow encrypt and decrypt");
    return VEIL_OK;
}

static veil_result find_or_create_key(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, const char *label,
                                      bool create, CK_OBJECT_HANDLE *out)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},
                           {CKA_KEY_TYPE, &kt, sizeof kt},
                           {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 0;
    VEIL_ENSURE(fl->C_FindObjectsInit(s, tmpl, 3) == CKR_OK, VEIL_E_INTERNAL,
                "hsm: C_FindObjectsInit failed");
    CK_RV rv = fl->C_FindObjects(s, found, 2, &n);
    fl->C_FindObjectsFinal(s);
    VEIL_ENSURE(rv == CKR_OK, VEIL_E_INTERNAL, "hsm: C_FindObjects failed");
    VEIL_ENSURE(n < 2, VEIL_E_USAGE, "hsm: two keys in the token carry the root-key label");
    if (n == 1) {
        VEIL_GUARD(check_key(fl, s, found[0]));
        *out = found[0];
        return VEIL_OK;
    }
    VEIL_ENSURE(create, VEIL_E_USAGE,
                "hsm: the token has no root key with the configured label (was `veil kms init` "
                "run against this token?)");
    CK_ULONG vlen = VEIL_KMS_ROOT_KEY_LEN;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE gen[] = {
        {CKA_CLASS, &cls, sizeof cls},       {CKA_KEY_TYPE, &kt, sizeof kt},
        {CKA_VALUE_LEN, &vlen, sizeof vlen}, {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},     {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &no, sizeof no},   {CKA_ENCRYPT, &yes, sizeof yes},
        {CKA_DECRYPT, &yes, sizeof yes},     {CKA_WRAP, &no, sizeof no},
        {CKA_UNWRAP, &no, sizeof no},        {CKA_LABEL, (void *)label, strlen(label)},
    };
    CK_MECHANISM mech = {CKM_AES_KEY_GEN, NULL, 0};
    VEIL_ENSURE(fl->C_GenerateKey(s, &mech, gen, sizeof gen / sizeof gen[0], out) == CKR_OK,
                VEIL_E_INTERNAL, "hsm: C_GenerateKey (AES-256, non-extractable) failed");
    return check_key(fl, s, *out);
}

static veil_result pkcs11_open(veil_kms_root *r, const veil_kms_root_config *cfg, bool create)
{
    veil_result res = VEIL_OK;
    uint8_t pin[PIN_MAX];
    size_t pin_len = 0;
    CK_SLOT_ID slot = 0;
    const char *module = cfg->module[0] ? cfg->module : VEIL_KMS_DEFAULT_PKCS11_MODULE;
    const char *token = cfg->token[0] ? cfg->token : VEIL_KMS_DEFAULT_TOKEN;
    const char *label = cfg->key_label[0] ? cfg->key_label : VEIL_KMS_DEFAULT_KEY_LABEL;
    memset(pin, 0, sizeof pin);

    VEIL_TRY(res, read_pin(cfg, pin, &pin_len));
    VEIL_TRY(res, module_get(module, &r->mod));
    CK_FUNCTION_LIST *fl = r->mod->fl;
    VEIL_TRY(res, find_slot(fl, token, &slot));
    VEIL_ENSURE_GOTO(res,
                     fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                                       &r->session) == CKR_OK,
                     VEIL_E_INTERNAL, "hsm: C_OpenSession failed");
    CK_RV rv = fl->C_Login(r->session, CKU_USER, pin, (CK_ULONG)pin_len);
    VEIL_ENSURE_GOTO(res, rv != CKR_PIN_INCORRECT, VEIL_E_USAGE,
                     "hsm: the token refused the PIN (CKR_PIN_INCORRECT)");
    VEIL_ENSURE_GOTO(res, rv != CKR_PIN_LOCKED, VEIL_E_USAGE,
                     "hsm: the token's user PIN is locked");
    VEIL_ENSURE_GOTO(res, rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN, VEIL_E_INTERNAL,
                     "hsm: C_Login failed");
    VEIL_TRY(res, find_or_create_key(fl, r->session, label, create, &r->obj));
    snprintf(r->desc, sizeof r->desc, "pkcs11 token '%s' key '%s' (module %s)", token, label,
             module);
out:
    veil_wipe(pin, sizeof pin);
    return res;
}

static veil_result pkcs11_crypt(veil_kms_root *r, bool enc, const uint8_t iv[12],
                                const uint8_t *aad, size_t aad_len, const uint8_t *in,
                                size_t in_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
    CK_FUNCTION_LIST *fl = r->mod->fl;
    CK_GCM_PARAMS gcm = {(CK_BYTE *)iv, 12, 96, (CK_BYTE *)aad, (CK_ULONG)aad_len, 128};
    CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof gcm};
    CK_ULONG n = (CK_ULONG)out_cap;
    CK_RV rv;
    *out_len = 0;
    if (enc) {
        VEIL_ENSURE(fl->C_EncryptInit(r->session, &mech, r->obj) == CKR_OK, VEIL_E_INTERNAL,
                    "hsm: C_EncryptInit (CKM_AES_GCM) failed");
        rv = fl->C_Encrypt(r->session, (CK_BYTE *)in, (CK_ULONG)in_len, out, &n);
        VEIL_ENSURE(rv == CKR_OK, VEIL_E_INTERNAL, "hsm: C_Encrypt failed");
    } else {
        VEIL_ENSURE(fl->C_DecryptInit(r->session, &mech, r->obj) == CKR_OK, VEIL_E_INTERNAL,
                    "hsm: C_DecryptInit (CKM_AES_GCM) failed");
        rv = fl->C_Decrypt(r->session, (CK_BYTE *)in, (CK_ULONG)in_len, out, &n);
        /* Tokens report a GCM tag mismatch differently (SoftHSM2 2.6:
         * CKR_GENERAL_ERROR, the specification: CKR_ENCRYPTED_DATA_INVALID);
         * the operation was set up fine, so any failure here is treated as
         * "not authentic", which fails closed either way. */
        if (rv != CKR_OK) {
            veil_wipe(out, out_cap);
            return VEIL_ERR(VEIL_E_CRYPTO, rv == CKR_BUFFER_TOO_SMALL
                                               ? "hsm: C_Decrypt wants a larger buffer"
                                               : "hsm: a wrapped key does not authenticate under "
                                                 "the root key (wrong token or key, or tampered "
                                                 "state)");
        }
    }
    VEIL_ENSURE(n <= out_cap, VEIL_E_INTERNAL, "hsm: the token wrote past the buffer");
    *out_len = n;
    return VEIL_OK;
}

/* ---- file and sim providers -------------------------------------------------- */

static veil_result file_create(const char *path)
{
    veil_result r = VEIL_OK;
    uint8_t key[VEIL_KMS_ROOT_KEY_LEN];
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    VEIL_ENSURE(fd >= 0, VEIL_E_USAGE, "hsm: cannot create the root key file");
    VEIL_TRY(r, veil_random_bytes(key, sizeof key));
    VEIL_ENSURE_GOTO(r, write(fd, key, sizeof key) == (ssize_t)sizeof key && fsync(fd) == 0,
                     VEIL_E_INTERNAL, "hsm: cannot write the root key file");
out:
    veil_wipe(key, sizeof key);
    close(fd);
    if (!veil_ok(r))
        unlink(path);
    return r;
}

static veil_result file_open(veil_kms_root *r, const veil_kms_root_config *cfg, bool create)
{
    struct stat st;
    size_t n = 0;
    VEIL_ENSURE(cfg->key_file[0], VEIL_E_USAGE, "hsm: no root key file given (--root-key-file)");
    if (create && lstat(cfg->key_file, &st) != 0 && errno == ENOENT)
        VEIL_GUARD(file_create(cfg->key_file));
    VEIL_GUARD(read_private_file(cfg->key_file, r->key, sizeof r->key, &n,
                                 "hsm: cannot open the root key file"));
    if (n != VEIL_KMS_ROOT_KEY_LEN) {
        veil_wipe(r->key, sizeof r->key);
        return VEIL_ERR(VEIL_E_USAGE, "hsm: the root key file must hold exactly 32 bytes");
    }
    snprintf(r->desc, sizeof r->desc, "file %s (no HSM: the root key is only as safe as this file)",
             cfg->key_file);
    return VEIL_OK;
}

static veil_result sim_open(veil_kms_root *r, const veil_kms_root_config *cfg)
{
    veil_attester *a = NULL;
    veil_result res = VEIL_OK;
    VEIL_TRY(res, veil_attester_open("sim", cfg->sim_socket[0] ? cfg->sim_socket : NULL, &a));
    VEIL_TRY(res, veil_attester_derived_key(a, VEIL_KMS_SIM_CONTEXT, r->key, sizeof r->key));
    snprintf(r->desc, sizeof r->desc,
             "sim (sealed with the simulator's measurement-bound derived key; simulation "
             "gives no confidentiality)");
out:
    veil_attester_free(a);
    return res;
}

/* ---- the interface ----------------------------------------------------------- */

veil_result veil_kms_root_open(const veil_kms_root_config *cfg, bool create, veil_kms_root **out)
{
    veil_result res = VEIL_OK;
    veil_kms_root *r = NULL;
    *out = NULL;
    VEIL_ENSURE(cfg != NULL, VEIL_E_USAGE, "hsm: no root-key configuration");
    r = veil_calloc(1, sizeof *r);
    VEIL_ENSURE(r != NULL, VEIL_E_NOMEM, "hsm: out of memory");
    pthread_mutex_init(&r->lock, NULL);
    r->kind = cfg->kind;
    switch (cfg->kind) {
    case VEIL_KMS_ROOT_PKCS11: VEIL_TRY(res, pkcs11_open(r, cfg, create)); break;
    case VEIL_KMS_ROOT_FILE: VEIL_TRY(res, file_open(r, cfg, create)); break;
    case VEIL_KMS_ROOT_SIM: VEIL_TRY(res, sim_open(r, cfg)); break;
    default:
        res = VEIL_ERR(VEIL_E_USAGE, "hsm: no root-key provider chosen (pkcs11, file or sim)");
        goto out;
    }
    *out = r;
    r = NULL;
out:
    veil_kms_root_free(r);
    return res;
}

veil_result veil_kms_root_wrap(veil_kms_root *r, const uint8_t *aad, size_t aad_len,
                               const uint8_t *pt, size_t pt_len, veil_buf *out)
{
    veil_result res = VEIL_OK;
    uint8_t iv[VEIL_KMS_WRAP_IV_LEN];
    VEIL_ENSURE(r && out && (pt || !pt_len) && (aad || !aad_len), VEIL_E_USAGE,
                "hsm: missing argument");
    VEIL_ENSURE(pt_len <= ((size_t)1 << 20), VEIL_E_USAGE, "hsm: wrap input too long");
    size_t start = out->len;
    VEIL_GUARD(veil_random_bytes(iv, sizeof iv));
    VEIL_GUARD(veil_buf_reserve(out, VEIL_KMS_WRAP_OVERHEAD + pt_len));
    pthread_mutex_lock(&r->lock);
    VEIL_TRY(res, veil_buf_u8(out, VEIL_KMS_WRAP_VERSION));
    VEIL_TRY(res, veil_buf_append(out, iv, sizeof iv));
    uint8_t *ct = out->data + out->len;
    size_t ct_len = 0;
    if (r->kind == VEIL_KMS_ROOT_PKCS11) {
        VEIL_TRY(res,
                 pkcs11_crypt(r, true, iv, aad, aad_len, pt, pt_len, ct, pt_len + 16, &ct_len));
        VEIL_ENSURE_GOTO(res, ct_len == pt_len + 16, VEIL_E_INTERNAL,
                         "hsm: the token's GCM output has an unexpected length");
    } else {
        VEIL_TRY(res, veil_aead_seal(VEIL_HPKE_AEAD_AES256GCM, r->key, iv, aad, aad_len, pt, pt_len,
                                     ct));
        ct_len = pt_len + 16;
    }
    out->len += ct_len;
out:
    pthread_mutex_unlock(&r->lock);
    if (!veil_ok(res)) {
        veil_wipe(out->data + start, out->cap - start);
        out->len = start;
    }
    return res;
}

veil_result veil_kms_root_unwrap(veil_kms_root *r, const uint8_t *aad, size_t aad_len,
                                 const uint8_t *blob, size_t blob_len, veil_buf *out)
{
    veil_result res = VEIL_OK;
    VEIL_ENSURE(r && out && blob && (aad || !aad_len), VEIL_E_USAGE, "hsm: missing argument");
    VEIL_ENSURE(blob_len >= VEIL_KMS_WRAP_OVERHEAD && blob[0] == VEIL_KMS_WRAP_VERSION,
                VEIL_E_PROTOCOL, "hsm: a wrapped key is malformed");
    const uint8_t *iv = blob + 1, *ct = blob + 1 + VEIL_KMS_WRAP_IV_LEN;
    size_t ct_len = blob_len - 1 - VEIL_KMS_WRAP_IV_LEN;
    size_t start = out->len;
    /* room for ct_len bytes: some tokens want the whole ciphertext's length */
    VEIL_GUARD(veil_buf_reserve(out, ct_len));
    uint8_t *pt = out->data + start;
    size_t pt_len = 0;
    pthread_mutex_lock(&r->lock);
    if (r->kind == VEIL_KMS_ROOT_PKCS11) {
        VEIL_TRY(res, pkcs11_crypt(r, false, iv, aad, aad_len, ct, ct_len, pt, ct_len, &pt_len));
        VEIL_ENSURE_GOTO(res, pt_len == ct_len - 16, VEIL_E_INTERNAL,
                         "hsm: the token's GCM output has an unexpected length");
    } else {
        res = veil_aead_open(VEIL_HPKE_AEAD_AES256GCM, r->key, iv, aad, aad_len, ct, ct_len, pt);
        if (res.cls == VEIL_E_CRYPTO)
            res = VEIL_ERR(VEIL_E_CRYPTO, "hsm: a wrapped key does not authenticate under the "
                                          "root key (wrong key file or simulator image, or "
                                          "tampered state)");
        if (!veil_ok(res))
            goto out;
        pt_len = ct_len - 16;
    }
    out->len += pt_len;
out:
    pthread_mutex_unlock(&r->lock);
    if (!veil_ok(res)) {
        veil_wipe(out->data + start, out->cap - start);
        out->len = start;
    }
    return res;
}

veil_kms_root_kind veil_kms_root_kind_of(const veil_kms_root *r)
{
    return r ? r->kind : VEIL_KMS_ROOT_NONE;
}

void veil_kms_root_describe(const veil_kms_root *r, char *out, size_t cap)
{
    if (cap)
        snprintf(out, cap, "%s", r ? r->desc : "none");
}

veil_result veil_kms_root_probe(veil_kms_root *r, bool *readable, bool *sensitive,
                                bool *extractable)
{
    VEIL_ENSURE(r && r->kind == VEIL_KMS_ROOT_PKCS11, VEIL_E_USAGE,
                "hsm: only a PKCS#11 root key can be probed");
    CK_FUNCTION_LIST *fl = r->mod->fl;
    uint8_t value[64];
    CK_ATTRIBUTE a = {CKA_VALUE, value, sizeof value};
    pthread_mutex_lock(&r->lock);
    CK_RV rv = fl->C_GetAttributeValue(r->session, r->obj, &a, 1);
    *readable = rv == CKR_OK && a.ulValueLen != (CK_ULONG)-1;
    *sensitive = false;
    *extractable = true;
    bool ok = attr_bool(fl, r->session, r->obj, CKA_SENSITIVE, sensitive) &&
              attr_bool(fl, r->session, r->obj, CKA_EXTRACTABLE, extractable);
    pthread_mutex_unlock(&r->lock);
    veil_wipe(value, sizeof value);
    VEIL_ENSURE(ok, VEIL_E_INTERNAL, "hsm: cannot read the root key's attributes");
    return VEIL_OK;
}

void veil_kms_root_free(veil_kms_root *r)
{
    if (!r)
        return;
    if (r->mod) {
        if (r->session != CK_INVALID_HANDLE)
            r->mod->fl->C_CloseSession(r->session);
        module_put(r->mod);
    }
    pthread_mutex_destroy(&r->lock);
    veil_free_wiped(r, sizeof *r);
}

void veil_kms_root_config_default(veil_kms_root_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->module, sizeof c->module, "%s", VEIL_KMS_DEFAULT_PKCS11_MODULE);
    snprintf(c->token, sizeof c->token, "%s", VEIL_KMS_DEFAULT_TOKEN);
    snprintf(c->key_label, sizeof c->key_label, "%s", VEIL_KMS_DEFAULT_KEY_LABEL);
}

const char *veil_kms_root_kind_name(veil_kms_root_kind k)
{
    switch (k) {
    case VEIL_KMS_ROOT_PKCS11: return "pkcs11";
    case VEIL_KMS_ROOT_FILE: return "file";
    case VEIL_KMS_ROOT_SIM: return "sim";
    case VEIL_KMS_ROOT_NONE: break;
    }
    return "none";
}
