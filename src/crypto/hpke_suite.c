/* HPKE suites as data: the const tables of RFC 9180 §7.1 (KEMs), §7.2 (KDFs)
 * and §7.3 (AEADs), their names, and veil_hpke_suite_check. Choosing an
 * algorithm is a table lookup; no other file branches on registry ids. */
#include <stdint.h>

#include "crypto/hpke_internal.h"

static const veil_hpke_kdf_desc kdfs[] = {
    {VEIL_HPKE_KDF_SHA256, 32, "HKDF-SHA256", "SHA256"},
    {VEIL_HPKE_KDF_SHA384, 48, "HKDF-SHA384", "SHA384"},
    {VEIL_HPKE_KDF_SHA512, 64, "HKDF-SHA512", "SHA512"},
};

static const veil_hpke_aead_desc aeads[] = {
    {VEIL_HPKE_AEAD_AES128GCM, 16, 12, "AES-128-GCM", "AES-128-GCM", 0},
    {VEIL_HPKE_AEAD_AES256GCM, 32, 12, "AES-256-GCM", "AES-256-GCM", 1},
    {VEIL_HPKE_AEAD_CHACHA20POLY1305, 32, 12, "ChaCha20Poly1305", "ChaCha20-Poly1305", 2},
    {VEIL_HPKE_AEAD_EXPORT_ONLY, 0, 0, "Export-only", NULL, 3},
};

/* {name, Nsecret, Nenc, Npk, Nsk}, id, KDF, Ndh, kind, OpenSSL name,
 * DeriveKeyPair bitmask (§7.1.3), slot. */
/* clang-format off */
static const veil_hpke_kem_desc kems[] = {
    {{"DHKEM(P-256, HKDF-SHA256)",  32,  65,  65, 32}, VEIL_HPKE_KEM_P256,   VEIL_HPKE_KDF_SHA256,
     32, VEIL_HPKE_KEM_KIND_EC, "P-256",  0xFF, 0},
    {{"DHKEM(P-384, HKDF-SHA384)",  48,  97,  97, 48}, VEIL_HPKE_KEM_P384,   VEIL_HPKE_KDF_SHA384,
     48, VEIL_HPKE_KEM_KIND_EC, "P-384",  0xFF, 1},
    {{"DHKEM(P-521, HKDF-SHA512)",  64, 133, 133, 66}, VEIL_HPKE_KEM_P521,   VEIL_HPKE_KDF_SHA512,
     66, VEIL_HPKE_KEM_KIND_EC, "P-521",  0x01, 2},
    {{"DHKEM(X25519, HKDF-SHA256)", 32,  32,  32, 32}, VEIL_HPKE_KEM_X25519, VEIL_HPKE_KDF_SHA256,
     32, VEIL_HPKE_KEM_KIND_X,  "X25519", 0,    0},
    {{"DHKEM(X448, HKDF-SHA512)",   64,  56,  56, 56}, VEIL_HPKE_KEM_X448,   VEIL_HPKE_KDF_SHA512,
     56, VEIL_HPKE_KEM_KIND_X,  "X448",   0,    1},
};
/* clang-format on */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const veil_hpke_kdf_desc *veil_hpke_kdf_find(uint16_t kdf)
{
    for (size_t i = 0; i < COUNT(kdfs); i++)
        if (kdfs[i].id == kdf)
            return &kdfs[i];
    return NULL;
}

const veil_hpke_aead_desc *veil_hpke_aead_find(uint16_t aead)
{
    for (size_t i = 0; i < COUNT(aeads); i++)
        if (aeads[i].id == aead)
            return &aeads[i];
    return NULL;
}

const veil_hpke_kem_desc *veil_hpke_kem_find(uint16_t kem)
{
    for (size_t i = 0; i < COUNT(kems); i++)
        if (kems[i].id == kem)
            return &kems[i];
    return NULL;
}

const veil_hpke_kem_info *veil_hpke_kem_info_get(uint16_t kem)
{
    const veil_hpke_kem_desc *d = veil_hpke_kem_find(kem);
    return d ? &d->info : NULL;
}

size_t veil_hpke_kdf_nh(uint16_t kdf)
{
    const veil_hpke_kdf_desc *d = veil_hpke_kdf_find(kdf);
    return d ? d->nh : 0;
}

size_t veil_hpke_aead_nk(uint16_t aead)
{
    const veil_hpke_aead_desc *d = veil_hpke_aead_find(aead);
    return d ? d->nk : SIZE_MAX;
}

const char *veil_hpke_kdf_name(uint16_t kdf)
{
    const veil_hpke_kdf_desc *d = veil_hpke_kdf_find(kdf);
    return d ? d->name : "unknown KDF";
}

const char *veil_hpke_aead_name(uint16_t aead)
{
    const veil_hpke_aead_desc *d = veil_hpke_aead_find(aead);
    return d ? d->name : "unknown AEAD";
}

veil_result veil_hpke_suite_check(const veil_hpke_suite *suite)
{
    VEIL_ENSURE(suite != NULL, VEIL_E_USAGE, "HPKE suite is NULL");
    VEIL_ENSURE(veil_hpke_kem_find(suite->kem), VEIL_E_UNSUPPORTED, "unsupported HPKE KEM id");
    VEIL_ENSURE(veil_hpke_kdf_find(suite->kdf), VEIL_E_UNSUPPORTED, "unsupported HPKE KDF id");
    VEIL_ENSURE(veil_hpke_aead_find(suite->aead), VEIL_E_UNSUPPORTED, "unsupported HPKE AEAD id");
    return VEIL_OK;
}
