/* The release request (POST /v1/keys/NAME/release, docs/kms.md). The body
 * goes through the parser the service itself uses,
 * veil_kms_release_body_parse (jansson with JSON_REJECT_DUPLICATES, a JSON
 * object, base64 "nonce" and "public_key", an "evidence" object re-encoded
 * as JCS). What parses goes through the public entry point veil_kms_release against a
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    veil_kms_release_body b;
    if (!g_kms)
        setup();
    /* the production parser of the HTTP body (src/kms/service.c) */
    if (!veil_ok(veil_kms_release_body_parse(data, size, &b)))
        return 0;
    uint8_t fresh[VEIL_KMS_NONCE_LEN];
    int64_t expires = 0;
    if (b.nonce.len == VEIL_KMS_NONCE_LEN) {
        veil_result r = veil_kms_nonce(g_kms, fresh, &expires);
        if (!veil_ok(r))
            die("nonce", r);
        memcpy(b.nonce.data, fresh, sizeof fresh);
    }
    veil_kms_release_request q = {"gw",        b.evidence.data,   b.evidence.len,  b.nonce.data,
                                  b.nonce.len, b.public_key.data, b.public_key.len};
    veil_kms_release_response rr;
    memset(&rr, 0, sizeof rr);
    veil_result r = veil_kms_release(g_kms, &q, &rr);
    if (!veil_ok(r))
        die("release", r);
    if (rr.released || !rr.problem.check[0])
        abort();
    veil_kms_release_response_free(&rr);
    veil_kms_release_body_free(&b);
    return 0;
}
