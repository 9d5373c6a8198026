/* EAR attestation results as ES384 JWTs. Tokens from the network are
 * untrusted: the header is checked before the signature, the signature
 * before anything in the payload is believed. */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "common/json_util.h"
#include "veil/base64.h"
#include "veil/ear.h"
#include "veil/mem.h"

static const char *const tv_names[8] = {
    "instance-identity", "configuration",  "executables",    "file-system",
    "hardware",          "runtime-opaque", "storage-opaque", "sourced-data",
};

static int *tv_slot(veil_ear_vector *tv, size_t i)
{
    int *slots[8] = {&tv->instance_identity, &tv->configuration, &tv->executables,
                     &tv->file_system,       &tv->hardware,      &tv->runtime_opaque,
                     &tv->storage_opaque,    &tv->sourced_data};
    return slots[i];
}

const char *veil_ear_status_name(veil_ear_status s)
{
    switch (s) {
    case VEIL_EAR_AFFIRMING: return "affirming";
    case VEIL_EAR_WARNING: return "warning";
    case VEIL_EAR_CONTRAINDICATED: return "contraindicated";
    default: return "none";
    }
}

static veil_ear_status status_from_name(const char *s)
{
    if (!strcmp(s, "affirming"))
        return VEIL_EAR_AFFIRMING;
    if (!strcmp(s, "warning"))
        return VEIL_EAR_WARNING;
    if (!strcmp(s, "contraindicated"))
        return VEIL_EAR_CONTRAINDICATED;
    return VEIL_EAR_NONE;
}

veil_ear_status veil_ear_tier(int v)
{
    if (v >= 96 || v < -1) /* negative values are reserved: treat as contraindicated */
        return VEIL_EAR_CONTRAINDICATED;
    if (v >= 32)
        return VEIL_EAR_WARNING;
    if (v >= 2)
        return VEIL_EAR_AFFIRMING;
    return VEIL_EAR_NONE;
}

veil_ear_status veil_ear_vector_status(const veil_ear_vector *tv)
{
    veil_ear_status worst = VEIL_EAR_NONE;
    for (size_t i = 0; i < 8; i++) {
        veil_ear_status t = veil_ear_tier(*tv_slot((veil_ear_vector *)tv, i));
        if (t > worst)
            worst = t;
    }
    return worst;
}

static json_t *submod_json(const veil_ear *ear)
{
    json_t *tv = json_object();
    for (size_t i = 0; i < 8; i++) {
        int v = *tv_slot((veil_ear_vector *)&ear->tv, i);
        if (v)
            json_object_set_new(tv, tv_names[i], json_integer(v));
    }
    json_t *claims = ear->claims_json ? json_loads(ear->claims_json, 0, NULL) : json_object();
    json_t *sm =
        json_pack("{s:s,s:o,s:s,s:b,s:o}", "ear.status", veil_ear_status_name(ear->status),
                  "ear.trustworthiness-vector", tv, "ear.appraisal-policy-id", ear->policy_id,
                  "veil.simulated", ear->simulated, "veil.claims", claims ? claims : json_object());
    if (sm && ear->failed_check[0])
        json_object_set_new(sm, "veil.failed-check", json_string(ear->failed_check));
    return sm;
}

static veil_result dump(json_t *j, veil_buf *out)
{
    size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS);
    VEIL_ENSURE(n > 0, VEIL_E_INTERNAL, "ear: JSON serialisation failed");
    VEIL_GUARD(veil_buf_reserve(out, n));
    json_dumpb(j, (char *)out->data + out->len, n, JSON_COMPACT | JSON_SORT_KEYS);
    out->len += n;
    return VEIL_OK;
}

/* The payload for one or more submodules; iat and eat_nonce come from the first. */
static json_t *payload_json(const veil_ear *subs, size_t n)
{
    const veil_ear *ear = &subs[0];
    json_t *sm = json_object();
    for (size_t i = 0; sm && i < n; i++) {
        json_t *one = submod_json(&subs[i]);
        if (!one || json_object_set_new(sm, subs[i].submod[0] ? subs[i].submod : "tee", one)) {
            json_decref(sm);
            sm = NULL;
        }
    }
    if (!sm)
        return NULL;
    json_t *p =
        json_pack("{s:s,s:I,s:{s:s,s:s},s:o}", "eat_profile", VEIL_EAR_PROFILE, "iat",
                  (json_int_t)(ear->iat ? ear->iat : (int64_t)time(NULL)), "ear.verifier-id",
                  "developer", "veil", "build", "veil " VEIL_BUILD, "submods", sm);
    if (p && ear->nonce_len) {
        veil_buf b;
        veil_buf_init(&b, 0);
        if (veil_ok(veil_base64url_encode(ear->nonce, ear->nonce_len, &b)))
            json_object_set_new(p, "eat_nonce", json_stringn((char *)b.data, b.len));
        veil_buf_free(&b);
    }
    return p;
}

veil_result veil_ear_sign_multi(const veil_ear *subs, size_t n, const veil_sign_key *key,
                                veil_buf *token)
{
    veil_result r = VEIL_OK;
    veil_buf hdr, body;
    veil_buf_init(&hdr, 0);
    veil_buf_init(&body, 0);
    char kid[44];
    uint8_t sig[VEIL_ES384_SIG_LEN];
    json_t *payload = NULL, *header = NULL;
    VEIL_ENSURE_GOTO(r, subs && n > 0 && n <= VEIL_EAR_MAX_SUBMODS && key && token, VEIL_E_USAGE,
                     "ear: 1..32 submodules, a key and a token buffer are required");
    payload = payload_json(subs, n);
    VEIL_ENSURE_GOTO(r, payload != NULL, VEIL_E_NOMEM,
                     "ear: cannot build the payload (or a submodule name repeats)");
    VEIL_ENSURE_GOTO(r, json_object_size(json_object_get(payload, "submods")) == n, VEIL_E_USAGE,
                     "ear: submodule names must be distinct");
    VEIL_TRY(r, veil_sign_key_thumbprint(key, kid));
    header = json_pack("{s:s,s:s,s:s}", "alg", "ES384", "typ", "JWT", "kid", kid);
    VEIL_ENSURE_GOTO(r, header != NULL, VEIL_E_NOMEM, "ear: cannot build the header");
    VEIL_TRY(r, dump(header, &hdr));
    VEIL_TRY(r, dump(payload, &body));
    size_t start = token->len;
    VEIL_TRY(r, veil_base64url_encode(hdr.data, hdr.len, token));
    VEIL_TRY(r, veil_buf_u8(token, '.'));
    VEIL_TRY(r, veil_base64url_encode(body.data, body.len, token));
    VEIL_TRY(r, veil_es384_sign(key, token->data + start, token->len - start, sig));
    VEIL_TRY(r, veil_buf_u8(token, '.'));
    VEIL_TRY(r, veil_base64url_encode(sig, sizeof sig, token));
out:
    json_decref(header);
    json_decref(payload);
    veil_buf_free(&hdr);
    veil_buf_free(&body);
    return r;
}

veil_result veil_ear_sign(const veil_ear *ear, const veil_sign_key *key, veil_buf *token)
{
    return veil_ear_sign_multi(ear, 1, key, token);
}

/* Split header.payload.signature; all three non-empty, no further dots. */
static veil_result split(const char *t, size_t len, size_t dots[2])
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (t[i] != '.')
            continue;
        VEIL_ENSURE(n < 2, VEIL_E_PROTOCOL, "ear: token has more than three parts");
        dots[n++] = i;
    }
    VEIL_ENSURE(n == 2 && dots[0] > 0 && dots[1] > dots[0] + 1 && dots[1] + 1 < len,
                VEIL_E_PROTOCOL, "ear: token is not a compact JWS (header.payload.signature)");
    return VEIL_OK;
}

static veil_result decode_json_part(const char *s, size_t n, json_t **out)
{
    veil_buf b;
    veil_buf_init(&b, 64 << 10);
    veil_result r = veil_base64url_decode(s, n, &b);
    if (veil_ok(r)) {
        *out = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
        if (!*out || !json_is_object(*out))
            r = VEIL_ERR(VEIL_E_PROTOCOL, "ear: token part is not a JSON object");
    }
    veil_buf_free(&b);
    return r;
}

static veil_result check_header(const char *t, size_t n)
{
    json_t *h = NULL;
    VEIL_GUARD(decode_json_part(t, n, &h));
    json_t *alg = json_object_get(h, "alg");
    bool ok = json_is_string(alg) && !strcmp(json_string_value(alg), "ES384");
    json_decref(h);
    VEIL_ENSURE(ok, VEIL_E_CRYPTO, "ear: token algorithm is not ES384 (refused)");
    return VEIL_OK;
}

static void copy_str(json_t *v, char *out, size_t cap)
{
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    snprintf(out, cap, "%s", s);
}

static veil_result read_submod(const char *name, json_t *sm, veil_ear *out)
{
    VEIL_ENSURE(json_is_object(sm), VEIL_E_PROTOCOL, "ear: submodule is not an object");
    snprintf(out->submod, sizeof out->submod, "%s", name);
    json_t *st = json_object_get(sm, "ear.status");
    VEIL_ENSURE(json_is_string(st), VEIL_E_PROTOCOL, "ear: submodule lacks ear.status");
    out->status = status_from_name(json_string_value(st));
    json_t *tv = json_object_get(sm, "ear.trustworthiness-vector");
    for (size_t i = 0; i < 8 && json_is_object(tv); i++) {
        json_t *v = json_object_get(tv, tv_names[i]);
        *tv_slot(&out->tv, i) = json_is_integer(v) ? (int)json_integer_value(v) : 0;
    }
    out->simulated = json_is_true(json_object_get(sm, "veil.simulated"));
    copy_str(json_object_get(sm, "veil.failed-check"), out->failed_check, sizeof out->failed_check);
    copy_str(json_object_get(sm, "ear.appraisal-policy-id"), out->policy_id, sizeof out->policy_id);
    json_t *claims = json_object_get(sm, "veil.claims");
    out->claims_json = claims ? veil_json_dump(claims) : NULL;
    return VEIL_OK;
}

static veil_result read_payload(json_t *p, int64_t now, int64_t max_age, veil_ear *out)
{
    json_t *prof = json_object_get(p, "eat_profile");
    VEIL_ENSURE(json_is_string(prof) && !strcmp(json_string_value(prof), VEIL_EAR_PROFILE),
                VEIL_E_PROTOCOL, "ear: eat_profile is not the EAR profile");
    json_t *iat = json_object_get(p, "iat");
    VEIL_ENSURE(json_is_integer(iat), VEIL_E_PROTOCOL, "ear: token lacks iat");
    out->iat = json_integer_value(iat);
    VEIL_ENSURE(out->iat <= now + 60, VEIL_E_PROTOCOL, "ear: token issued in the future");
    VEIL_ENSURE(max_age <= 0 || now - out->iat <= max_age, VEIL_E_PROTOCOL,
                "ear: token is older than the accepted maximum age");
    json_t *nonce = json_object_get(p, "eat_nonce");
    if (json_is_string(nonce)) {
        veil_buf b;
        /* the decoder reserves a little slack; the length is checked below */
        veil_buf_init(&b, sizeof out->nonce + 4);
        veil_result r =
            veil_base64url_decode(json_string_value(nonce), json_string_length(nonce), &b);
        if (veil_ok(r) && b.len > sizeof out->nonce)
            r = VEIL_ERR(VEIL_E_PROTOCOL, "ear: eat_nonce longer than 64 bytes");
        if (veil_ok(r)) {
            memcpy(out->nonce, b.data, b.len);
            out->nonce_len = b.len;
        }
        veil_buf_free(&b);
        VEIL_ENSURE(veil_ok(r), VEIL_E_PROTOCOL, "ear: eat_nonce is not base64url of <= 64 bytes");
    }
    json_t *subs = json_object_get(p, "submods");
    VEIL_ENSURE(json_is_object(subs) && json_object_size(subs) >= 1, VEIL_E_PROTOCOL,
                "ear: token has no submodule");
    const char *name;
    json_t *sm;
    json_object_foreach (subs, name, sm) {
        return read_submod(name, sm, out);
    }
    return VEIL_ERR(VEIL_E_PROTOCOL, "ear: token has no submodule");
}

veil_result veil_ear_verify(const char *t, size_t len, const veil_sign_key *pub, int64_t now,
                            int64_t max_age, veil_ear *out)
{
    memset(out, 0, sizeof *out);
    size_t dots[2];
    veil_buf sig;
    veil_buf_init(&sig, 128);
    json_t *payload = NULL;
    veil_result r = VEIL_OK;
    VEIL_ENSURE(len <= (256u << 10), VEIL_E_PROTOCOL, "ear: token larger than 256 KiB");
    VEIL_TRY(r, split(t, len, dots));
    VEIL_TRY(r, check_header(t, dots[0]));
    VEIL_TRY(r, veil_base64url_decode(t + dots[1] + 1, len - dots[1] - 1, &sig));
    VEIL_TRY(r, veil_es384_verify(pub, (const uint8_t *)t, dots[1], sig.data, sig.len));
    VEIL_TRY(r, decode_json_part(t + dots[0] + 1, dots[1] - dots[0] - 1, &payload));
    VEIL_TRY(r, read_payload(payload, now ? now : (int64_t)time(NULL), max_age, out));
out:
    json_decref(payload);
    veil_buf_free(&sig);
    if (!veil_ok(r))
        veil_ear_free(out);
    return r;
}

void veil_ear_free(veil_ear *ear)
{
    if (!ear)
        return;
    veil_free(ear->claims_json);
    ear->claims_json = NULL;
}
