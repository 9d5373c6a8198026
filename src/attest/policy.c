/* SEV-SNP appraisal policies (veil/appraise.h) from JSON. Strict: unknown
 * members, wrong types and bad hex are errors naming the member. */
#include <jansson.h>
#include <string.h>

#include "crypto/digest.h"
#include "veil/appraise.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/timeutil.h"

void veil_snp_policy_default(veil_snp_policy *p)
{
    memset(p, 0, sizeof *p);
    p->allow_smt = true;
    p->vmpl_mask = 0xF;
    snprintf(p->id, sizeof p->id, "default");
}

static veil_result hex_exact(json_t *v, uint8_t *out, size_t n, const char *bad)
{
    VEIL_ENSURE(json_is_string(v) && json_string_length(v) == 2 * n, VEIL_E_PROTOCOL, bad);
    veil_buf b;
    veil_buf_init(&b, n);
    veil_result r = veil_hex_decode(json_string_value(v), 2 * n, &b);
    if (veil_ok(r))
        memcpy(out, b.data, n);
    veil_buf_free(&b);
    VEIL_ENSURE(veil_ok(r), VEIL_E_PROTOCOL, bad);
    return VEIL_OK;
}

static veil_result hex_list(json_t *arr, uint8_t *out, size_t width, size_t *count, const char *bad)
{
    VEIL_ENSURE(json_is_array(arr) && json_array_size(arr) <= VEIL_POLICY_MAX_VALUES,
                VEIL_E_PROTOCOL, bad);
    size_t i;
    json_t *v;
    json_array_foreach (arr, i, v) {
        VEIL_GUARD(hex_exact(v, out + i * width, width, bad));
    }
    *count = json_array_size(arr);
    return VEIL_OK;
}

static veil_result read_bool(json_t *v, bool *out, const char *bad)
{
    VEIL_ENSURE(json_is_boolean(v), VEIL_E_PROTOCOL, bad);
    *out = json_is_true(v);
    return VEIL_OK;
}

static veil_result read_tcb(json_t *o, veil_snp_tcb *t)
{
    static const char *const names[] = {"bootloader", "tee", "snp", "microcode", "fmc"};
    uint8_t *slots[] = {&t->bootloader, &t->tee, &t->snp, &t->microcode, &t->fmc};
    VEIL_ENSURE(json_is_object(o), VEIL_E_PROTOCOL, "policy: \"min_tcb\" must be an object");
    const char *key;
    json_t *v;
    json_object_foreach (o, key, v) {
        size_t i = 0;
        while (i < 5 && strcmp(key, names[i]))
            i++;
        VEIL_ENSURE(i < 5, VEIL_E_PROTOCOL,
                    "policy: \"min_tcb\" members are bootloader, tee, snp, microcode, fmc");
        VEIL_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0 &&
                        json_integer_value(v) <= 255,
                    VEIL_E_PROTOCOL, "policy: a \"min_tcb\" value is not an integer 0..255");
        *slots[i] = (uint8_t)json_integer_value(v);
        if (i == 4)
            t->has_fmc = true;
    }
    return VEIL_OK;
}

static veil_result read_vmpls(json_t *arr, uint32_t *mask)
{
    VEIL_ENSURE(json_is_array(arr), VEIL_E_PROTOCOL, "policy: \"vmpl\" must be an array of 0..3");
    *mask = 0;
    size_t i;
    json_t *v;
    json_array_foreach (arr, i, v) {
        VEIL_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 3,
                    VEIL_E_PROTOCOL, "policy: \"vmpl\" must be an array of 0..3");
        *mask |= 1u << json_integer_value(v);
    }
    return VEIL_OK;
}

static veil_result read_time(json_t *v, int64_t *out)
{
    VEIL_ENSURE(json_is_string(v) && veil_ok(veil_time_parse(json_string_value(v), out)),
                VEIL_E_PROTOCOL, "policy: \"verification_time\" must be like 2025-06-01T00:00:00Z");
    return VEIL_OK;
}

static veil_result read_member(const char *key, json_t *v, veil_snp_policy *p)
{
    if (!strcmp(key, "measurements"))
        return hex_list(v, &p->measurements[0][0], 48, &p->n_measurements,
                        "policy: \"measurements\" must be a list of 96-hex-digit digests");
    if (!strcmp(key, "id_key_digests"))
        return hex_list(v, &p->id_key_digests[0][0], 48, &p->n_id_keys,
                        "policy: \"id_key_digests\" must be a list of 96-hex-digit digests");
    if (!strcmp(key, "author_key_digests"))
        return hex_list(v, &p->author_key_digests[0][0], 48, &p->n_author_keys,
                        "policy: \"author_key_digests\" must be a list of 96-hex-digit digests");
    if (!strcmp(key, "trusted_simulated_roots"))
        return hex_list(v, &p->sim_roots[0][0], 32, &p->n_sim_roots,
                        "policy: \"trusted_simulated_roots\" must be a list of SHA-256 hex "
                        "fingerprints");
    if (!strcmp(key, "min_tcb")) {
        p->have_min_tcb = true;
        return read_tcb(v, &p->min_tcb);
    }
    if (!strcmp(key, "allow_debug"))
        return read_bool(v, &p->allow_debug, "policy: \"allow_debug\" must be true or false");
    if (!strcmp(key, "allow_migration_agent"))
        return read_bool(v, &p->allow_migration_agent,
                         "policy: \"allow_migration_agent\" must be true or false");
    if (!strcmp(key, "allow_smt"))
        return read_bool(v, &p->allow_smt, "policy: \"allow_smt\" must be true or false");
    if (!strcmp(key, "vmpl"))
        return read_vmpls(v, &p->vmpl_mask);
    if (!strcmp(key, "report_data")) {
        p->have_report_data = true;
        return hex_exact(v, p->report_data, 64, "policy: \"report_data\" must be 128 hex digits");
    }
    if (!strcmp(key, "host_data")) {
        p->have_host_data = true;
        return hex_exact(v, p->host_data, 32, "policy: \"host_data\" must be 64 hex digits");
    }
    if (!strcmp(key, "verification_time"))
        return read_time(v, &p->verification_time);
    if (!strcmp(key, "comment") || !strcmp(key, "$schema"))
        return VEIL_OK;
    return VEIL_ERR(VEIL_E_PROTOCOL, "policy: unknown member (see docs/policy.md for the list)");
}

veil_result veil_snp_policy_parse(const char *json, size_t len, veil_snp_policy *out)
{
    veil_snp_policy_default(out);
    VEIL_ENSURE(len <= (256u << 10), VEIL_E_PROTOCOL, "policy: larger than 256 KiB");
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    VEIL_ENSURE(root != NULL, VEIL_E_PROTOCOL, "policy: not valid JSON");
    veil_result r =
        json_is_object(root) ? VEIL_OK : VEIL_ERR(VEIL_E_PROTOCOL, "policy: not a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach (root, key, v) {
        if (veil_ok(r))
            r = read_member(key, v, out);
    }
    json_decref(root);
    uint8_t digest[32];
    if (veil_ok(r))
        r = veil_sha256(json, len, digest);
    if (veil_ok(r)) {
        char hex[65];
        veil_hex_encode(digest, sizeof digest, hex);
        snprintf(out->id, sizeof out->id, "sha256:%s", hex);
    } else {
        veil_snp_policy_default(out);
    }
    return r;
}

/* ---- containment (veil_snp_policy_within) -------------------------------------------------- */

static bool digest_listed(const uint8_t *d, size_t len, const uint8_t (*list)[48], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (veil_ct_equal(d, list[i], len))
            return true;
    return false;
}

/* Every one of inner's values is in outer's list; an empty outer list
 * constrains nothing, an empty inner list under a non-empty outer one
 * admits what outer refuses. */
static bool list_within(const uint8_t (*in)[48], size_t n_in, const uint8_t (*out)[48],
                        size_t n_out, size_t len)
{
    if (n_out == 0)
        return true;
    if (n_in == 0)
        return false;
    for (size_t i = 0; i < n_in; i++)
        if (!digest_listed(in[i], len, out, n_out))
            return false;
    return true;
}

static bool roots_within(const veil_snp_policy *in, const veil_snp_policy *out)
{
    for (size_t i = 0; i < in->n_sim_roots; i++) {
        bool found = false;
        for (size_t j = 0; j < out->n_sim_roots && !found; j++)
            found = veil_ct_equal(in->sim_roots[i], out->sim_roots[j], 32);
        if (!found)
            return false;
    }
    return true;
}

static const char *policy_looser_member(const veil_snp_policy *in, const veil_snp_policy *out)
{
    if (!list_within(in->measurements, in->n_measurements, out->measurements, out->n_measurements,
                     48))
        return "measurements";
    if (out->have_min_tcb &&
        (!in->have_min_tcb || !veil_snp_tcb_at_least(&in->min_tcb, &out->min_tcb)))
        return "min_tcb";
    if (in->allow_debug && !out->allow_debug)
        return "allow_debug";
    if (in->allow_migration_agent && !out->allow_migration_agent)
        return "allow_migration_agent";
    if (in->allow_smt && !out->allow_smt)
        return "allow_smt";
    if ((in->vmpl_mask & ~out->vmpl_mask) != 0)
        return "vmpl";
    if (out->have_host_data &&
        (!in->have_host_data || !veil_ct_equal(in->host_data, out->host_data, 32)))
        return "host_data";
    if (!list_within(in->id_key_digests, in->n_id_keys, out->id_key_digests, out->n_id_keys, 48))
        return "id_key_digests";
    if (!list_within(in->author_key_digests, in->n_author_keys, out->author_key_digests,
                     out->n_author_keys, 48))
        return "author_key_digests";
    if (!roots_within(in, out))
        return "trusted_simulated_roots";
    return NULL;
}

bool veil_snp_policy_within(const veil_snp_policy *inner, const veil_snp_policy *outer, char *why,
                            size_t why_cap)
{
    const char *m = policy_looser_member(inner, outer);
    if (m && why && why_cap)
        snprintf(why, why_cap, "%s", m);
    return m == NULL;
}
