/* Appraisal of authentic SEV-SNP reports against a policy's reference values.
 * Each constrained value is one named check; the verdict stays at reject
 * until all of them (and the authenticity checks before them) pass. */
#include <stdio.h>
#include <string.h>

#include "veil/appraise.h"
#include "veil/hex.h"
#include "veil/mem.h"

static bool in_list(const uint8_t *v, size_t width, const uint8_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (veil_public_equal(v, width, list + i * width, width))
            return true;
    return false;
}

/* The first 16 bytes as hex, "..." when longer: enough to tell values apart. */
static void hex_short(const uint8_t *p, size_t n, char out[36])
{
    char full[2 * 16 + 1];
    veil_hex_encode(p, n > 16 ? 16 : n, full);
    size_t len = strlen(full);
    memcpy(out, full, len);
    memcpy(out + len, n > 16 ? "..." : "", n > 16 ? 4 : 1);
}

static void appraise_measurement(const veil_snp_report *r, const veil_snp_policy *p,
                                 veil_verdict *v)
{
    char hex[2 * 48 + 1];
    veil_hex_encode(r->measurement, 48, hex);
    if (p->n_measurements == 0) {
        veil_verdict_record(v, VEIL_CHECK_MEASUREMENT, true,
                            "%s (the policy has no allow-list: any measurement accepted)", hex);
        return;
    }
    bool ok = in_list(r->measurement, 48, &p->measurements[0][0], p->n_measurements);
    veil_verdict_record(v, VEIL_CHECK_MEASUREMENT, ok, "%s %s the %zu accepted measurement(s)", hex,
                        ok ? "is one of" : "is not one of", p->n_measurements);
}

static void appraise_tcb(const veil_snp_report *r, const veil_snp_policy *p, veil_verdict *v)
{
    if (!p->have_min_tcb)
        return;
    veil_snp_product prod = veil_snp_report_product(r);
    veil_snp_tcb have;
    /* v2 reports carry no CPUID: the Milan/Genoa layout is the only one they can have */
    if (!veil_ok(veil_snp_tcb_decode(
            r->reported_tcb, prod == VEIL_SNP_PRODUCT_UNKNOWN ? VEIL_SNP_MILAN : prod, &have))) {
        veil_verdict_record(v, VEIL_CHECK_TCB, false, "REPORTED_TCB cannot be decoded");
        return;
    }
    bool ok = veil_snp_tcb_at_least(&have, &p->min_tcb);
    veil_verdict_record(v, VEIL_CHECK_TCB, ok,
                        "REPORTED_TCB bl=%u tee=%u snp=%u ucode=%u%s minimum bl=%u tee=%u snp=%u "
                        "ucode=%u",
                        have.bootloader, have.tee, have.snp, have.microcode,
                        ok ? " meets" : " is below the", p->min_tcb.bootloader, p->min_tcb.tee,
                        p->min_tcb.snp, p->min_tcb.microcode);
}

static void appraise_guest_policy(const veil_snp_report *r, const veil_snp_policy *p,
                                  veil_verdict *v)
{
    bool debug = r->policy & VEIL_SNP_POLICY_DEBUG;
    veil_verdict_record(v, VEIL_CHECK_DEBUG, !debug || p->allow_debug,
                        "guest policy 0x%llx: DEBUG %s%s", (unsigned long long)r->policy,
                        debug ? "allowed" : "forbidden",
                        debug && !p->allow_debug ? " (the policy forbids debuggable guests)" : "");
    bool ma = r->policy & VEIL_SNP_POLICY_MIGRATE_MA, smt = r->policy & VEIL_SNP_POLICY_SMT;
    bool ok = (!ma || p->allow_migration_agent) && (!smt || p->allow_smt);
    veil_verdict_record(v, VEIL_CHECK_POLICY, ok, "migration agent %s, SMT %s%s",
                        ma ? "allowed" : "not allowed", smt ? "allowed" : "not allowed",
                        ok ? "" : " (refused by the policy)");
}

static void appraise_bytes(veil_verdict *v, veil_check c, const char *what, const uint8_t *have,
                           const uint8_t *want, size_t n)
{
    char h[36], w[36];
    hex_short(have, n, h);
    hex_short(want, n, w);
    bool ok = veil_public_equal(have, n, want, n);
    veil_verdict_record(v, c, ok, "%s %s%s%s", what, h, ok ? " as expected" : ", expected ",
                        ok ? "" : w);
}

static void appraise_key_digest(veil_verdict *v, veil_check c, const uint8_t *d,
                                const uint8_t *list, size_t n)
{
    if (n == 0)
        return;
    char h[36];
    hex_short(d, 48, h);
    bool ok = in_list(d, 48, list, n);
    veil_verdict_record(v, c, ok, "digest %s %s accepted", h, ok ? "is" : "is not");
}

void veil_snp_appraise(const veil_snp_report *r, bool simulated, const veil_snp_policy *p,
                       veil_verdict *v)
{
    if (simulated)
        veil_verdict_record(v, VEIL_CHECK_SIMULATED, p->n_sim_roots > 0,
                            "evidence rests on a SIMULATED root the policy names: no hardware "
                            "protection, for tests only");
    appraise_measurement(r, p, v);
    appraise_tcb(r, p, v);
    appraise_guest_policy(r, p, v);
    veil_verdict_record(v, VEIL_CHECK_VMPL, (p->vmpl_mask >> (r->vmpl & 31)) & 1 && r->vmpl < 4,
                        "VMPL %u%s", r->vmpl,
                        (p->vmpl_mask >> (r->vmpl & 31)) & 1 ? "" : " is not accepted");
    if (p->have_report_data)
        appraise_bytes(v, VEIL_CHECK_REPORT_DATA, "REPORT_DATA", r->report_data, p->report_data,
                       64);
    if (p->have_host_data)
        appraise_bytes(v, VEIL_CHECK_HOST_DATA, "HOST_DATA", r->host_data, p->host_data, 32);
    appraise_key_digest(v, VEIL_CHECK_ID_KEY, r->id_key_digest, &p->id_key_digests[0][0],
                        p->n_id_keys);
    appraise_key_digest(v, VEIL_CHECK_AUTHOR_KEY, r->author_key_digest,
                        &p->author_key_digests[0][0], p->n_author_keys);
}
