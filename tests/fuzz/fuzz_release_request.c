/* The release request (POST /v1/keys/NAME/release, docs/kms.md). The body
 * is parsed the way src/kms/service.c's h_release does (that handler is
 * static): jansson with JSON_REJECT_DUPLICATES, a JSON object, base64
 * "nonce" and "public_key", an "evidence" object re-encoded as JCS. What
 * parses goes through the public entry point veil_kms_release against a
 * real KMS state (root-key file, in a temp dir made once) with a key "gw",
 * a release policy and reference values, so every release step is reached.
 * A well-formed 32-byte nonce in the input is replaced by a fresh one from
 * veil_kms_nonce (otherwise the nonce check would stop every input before
 * the evidence is parsed). Invariants: no crash; VEIL_OK unless the KMS
 * itself failed; a refusal names a check; nothing is released (no evidence
 * from a fuzzer satisfies the reference values). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "veil/base64.h"
#include "veil/kms.h"
#include "veil/ledger.h"

static veil_kms *g_kms;

static void die(const char *what, veil_result r)
{
    fprintf(stderr, "fuzz_release_request: %s: %s\n", what, r.msg);
    abort();
}

static void setup(void)
{
    static char dir[] = "/tmp/veil-fuzz-relreq.XXXXXX";
    char state[256];
    char token[VEIL_KMS_ADMIN_TOKEN_LEN + 1];
    veil_kms_root_config c;
    veil_kms_problem pb;
    if (!mkdtemp(dir))
        abort();
    veil_kms_root_config_default(&c);
    c.kind = VEIL_KMS_ROOT_FILE;
    snprintf(c.key_file, sizeof c.key_file, "%s/root.key", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    veil_result r = veil_kms_init(state, &c, token);
    if (!veil_ok(r))
        die("init", r);
    r = veil_kms_open(state, NULL, &g_kms);
    if (!veil_ok(r))
        die("open", r);
    static const char spec[] = "{\"type\":\"ohttp\",\"suites\":[\"x25519\"]}";
    static const char ref[] =
        "{\"measurements\":[\"000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000\"]}";
    static const char pol[] = "{\"claim\":\"sev-snp.veil.claims.debug\",\"equals\":false}";
    memset(&pb, 0, sizeof pb);
    if (!veil_ok(r = veil_kms_key_create(g_kms, "gw", spec, strlen(spec), &pb)) ||
        !veil_ok(r = veil_kms_set_refvalues(g_kms, ref, strlen(ref), &pb)) ||
        !veil_ok(r = veil_kms_set_policy(g_kms, "gw", pol, strlen(pol), &pb)))
        die("setup", r);
}

static bool b64_member(json_t *o, const char *name, veil_buf *out)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s && veil_ok(veil_base64_decode(s, strlen(s), out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_kms)
        setup();
    json_error_t err;
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
    veil_buf nonce, pk, evidence;
    veil_buf_init(&nonce, 0);
    veil_buf_init(&pk, 0);
    veil_buf_init(&evidence, 0);
    json_t *ev = json_object_get(body, "evidence");
    if (!json_is_object(body) || !b64_member(body, "nonce", &nonce) ||
        !b64_member(body, "public_key", &pk) || !json_is_object(ev) ||
        !veil_ok(veil_jcs_serialize(ev, &evidence)))
        goto out;
    uint8_t fresh[VEIL_KMS_NONCE_LEN];
    int64_t expires = 0;
    if (nonce.len == VEIL_KMS_NONCE_LEN) {
        veil_result r = veil_kms_nonce(g_kms, fresh, &expires);
        if (!veil_ok(r))
            die("nonce", r);
        memcpy(nonce.data, fresh, sizeof fresh);
    }
    veil_kms_release_request q = {"gw",      evidence.data, evidence.len, nonce.data,
                                  nonce.len, pk.data,       pk.len};
    veil_kms_release_response rr;
    memset(&rr, 0, sizeof rr);
    veil_result r = veil_kms_release(g_kms, &q, &rr);
    if (!veil_ok(r))
        die("release", r);
    if (rr.released || !rr.problem.check[0])
        abort();
    veil_kms_release_response_free(&rr);
out:
    json_decref(body);
    veil_buf_free(&nonce);
    veil_buf_free(&pk);
    veil_buf_free(&evidence);
    return 0;
}
