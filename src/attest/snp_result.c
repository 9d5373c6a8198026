/* One-call verification of an evidence bundle: authenticity (veil_snp_verify),
 * the Azure HCL binding when present, appraisal, and the EAR claims. */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "common/json_util.h"
#include "crypto/digest.h"
#include "veil/appraise.h"
#include "veil/hex.h"
#include "veil/mem.h"

/* The certificates, from the extended-report table or from the bundle. */
typedef struct cert_set {
    const uint8_t *leaf, *ask, *ark, *crl;
    size_t leaf_len, ask_len, ark_len, crl_len;
} cert_set;

static veil_result pick_certs(const veil_evidence *ev, unsigned signing_key, cert_set *cs)
{
    memset(cs, 0, sizeof *cs);
    veil_snp_cert_table t = {0};
    if (ev->cert_table.len)
        VEIL_GUARD(veil_snp_cert_table_decode(ev->cert_table.data, ev->cert_table.len, &t));
    bool vlek = signing_key == VEIL_SNP_SIGNING_KEY_VLEK;
    const uint8_t *leaf = vlek ? t.vlek : t.vcek;
    size_t leaf_len = vlek ? t.vlek_len : t.vcek_len;
    const veil_buf *bleaf = vlek ? &ev->vlek : &ev->vcek;
    cs->leaf = leaf ? leaf : bleaf->data;
    cs->leaf_len = leaf ? leaf_len : bleaf->len;
    cs->ask = t.ask ? t.ask : ev->ask.data;
    cs->ask_len = t.ask ? t.ask_len : ev->ask.len;
    cs->ark = t.ark ? t.ark : ev->ark.data;
    cs->ark_len = t.ark ? t.ark_len : ev->ark.len;
    cs->crl = ev->crl.data;
    cs->crl_len = ev->crl.len;
    return VEIL_OK;
}

/* A simulated ARK is trusted only when the policy names its fingerprint. */
static bool sim_root_trusted(const cert_set *cs, const veil_snp_policy *p)
{
    uint8_t fp[32];
    if (!cs->ark || p->n_sim_roots == 0 || !veil_ok(veil_sha256(cs->ark, cs->ark_len, fp)))
        return false;
    for (size_t i = 0; i < p->n_sim_roots; i++)
        if (veil_public_equal(fp, 32, p->sim_roots[i], 32))
            return true;
    return false;
}

static void set_hex(json_t *o, const char *key, const uint8_t *p, size_t n)
{
    char hex[2 * 64 + 1];
    veil_hex_encode(p, n, hex);
    json_object_set_new(o, key, json_string(hex));
}

static json_t *claims_json(const veil_snp_report *r, const uint8_t *runtime, size_t runtime_len)
{
    veil_snp_product prod = veil_snp_report_product(r);
    veil_snp_tcb tcb = {0};
    bool tcb_ok = veil_ok(veil_snp_tcb_decode(
        r->reported_tcb, prod == VEIL_SNP_PRODUCT_UNKNOWN ? VEIL_SNP_MILAN : prod, &tcb));
    char policy[24];
    snprintf(policy, sizeof policy, "0x%llx", (unsigned long long)r->policy);
    json_t *c = json_pack("{s:s,s:i,s:s,s:s,s:b,s:b,s:b,s:i,s:i,s:s}", "tee", "sev-snp",
                          "report_version", (int)r->version, "product", veil_snp_product_name(prod),
                          "policy", policy, "debug", (r->policy & VEIL_SNP_POLICY_DEBUG) != 0,
                          "migrate_ma", (r->policy & VEIL_SNP_POLICY_MIGRATE_MA) != 0, "smt",
                          (r->policy & VEIL_SNP_POLICY_SMT) != 0, "vmpl", (int)r->vmpl, "guest_svn",
                          (int)r->guest_svn, "signing_key",
                          veil_snp_signing_key(r) == VEIL_SNP_SIGNING_KEY_VLEK ? "vlek" : "vcek");
    if (!c)
        return NULL;
    set_hex(c, "measurement", r->measurement, 48);
    set_hex(c, "report_data", r->report_data, 64);
    set_hex(c, "host_data", r->host_data, 32);
    set_hex(c, "id_key_digest", r->id_key_digest, 48);
    set_hex(c, "author_key_digest", r->author_key_digest, 48);
    set_hex(c, "chip_id", r->chip_id, 64);
    if (tcb_ok)
        json_object_set_new(c, "tcb",
                            json_pack("{s:i,s:i,s:i,s:i,s:i}", "bootloader", tcb.bootloader, "tee",
                                      tcb.tee, "snp", tcb.snp, "microcode", tcb.microcode, "fmc",
                                      tcb.fmc));
    if (runtime) {
        json_t *rt = json_loadb((const char *)runtime, runtime_len, 0, NULL);
        if (rt)
            json_object_set_new(c, "runtime_claims", rt);
    }
    return c;
}

/* AR4SI tiers: 2 affirming, 32 warning, 96 contraindicated. */
static void fill_vector(const veil_verification *out, const veil_snp_policy *p, veil_ear *ear)
{
    const veil_verdict *v = &out->verdict;
    veil_check f = v->failed;
    bool authentic = f != VEIL_CHECK_FORMAT && f != VEIL_CHECK_CHAIN && f != VEIL_CHECK_VCEK &&
                     f != VEIL_CHECK_SIGNATURE && f != VEIL_CHECK_UNCHECKED;
    veil_ear_vector *tv = &ear->tv;
    tv->instance_identity =
        !authentic || f == VEIL_CHECK_REPORT_DATA || f == VEIL_CHECK_RUNTIME_DATA ? 96 : 2;
    tv->hardware = !authentic || f == VEIL_CHECK_TCB ? 96 : v->simulated ? 32 : 2;
    tv->executables = f == VEIL_CHECK_MEASUREMENT ? 96 : p->n_measurements ? 2 : 33;
    tv->configuration = f == VEIL_CHECK_DEBUG || f == VEIL_CHECK_POLICY || f == VEIL_CHECK_VMPL ||
                                f == VEIL_CHECK_HOST_DATA || f == VEIL_CHECK_ID_KEY ||
                                f == VEIL_CHECK_AUTHOR_KEY
                            ? 96
                            : 2;
    /* the simulator encrypts no memory and never claims to */
    tv->runtime_opaque = v->simulated ? 0 : authentic ? 2 : 96;
    ear->status = veil_verdict_accepted(v) ? veil_ear_vector_status(tv) : VEIL_EAR_CONTRAINDICATED;
}

static veil_result build_ear(veil_verification *out, const veil_snp_policy *p,
                             const veil_snp_hcl *hcl)
{
    veil_ear *ear = &out->ear;
    snprintf(ear->submod, sizeof ear->submod, "sev-snp");
    snprintf(ear->policy_id, sizeof ear->policy_id, "%s", p->id);
    ear->simulated = out->verdict.simulated;
    if (!veil_verdict_accepted(&out->verdict))
        snprintf(ear->failed_check, sizeof ear->failed_check, "%s",
                 veil_check_name(out->verdict.failed));
    fill_vector(out, p, ear);
    if (!out->have_report)
        return VEIL_OK;
    json_t *c = claims_json(&out->report, hcl ? hcl->claims : NULL, hcl ? hcl->claims_len : 0);
    VEIL_ENSURE(c != NULL, VEIL_E_NOMEM, "verify: cannot build the claims");
    ear->claims_json = veil_json_dump(c);
    json_decref(c);
    VEIL_ENSURE(ear->claims_json != NULL, VEIL_E_NOMEM, "verify: cannot serialise the claims");
    return VEIL_OK;
}

veil_result veil_verify_evidence(const veil_evidence *ev, const veil_snp_policy *p, int64_t at,
                                 veil_verification *out)
{
    memset(out, 0, sizeof *out);
    veil_verdict_init(&out->verdict);
    veil_snp_hcl hcl;
    bool have_hcl = ev->hcl_report.len > 0;
    const uint8_t *report = ev->report.data;
    size_t report_len = ev->report.len;
    if (have_hcl) {
        veil_result r = veil_snp_hcl_decode(ev->hcl_report.data, ev->hcl_report.len, &hcl);
        if (!veil_ok(r)) {
            veil_verdict_record(&out->verdict, VEIL_CHECK_FORMAT, false, "%s", r.msg);
            return build_ear(out, p, NULL);
        }
        report = hcl.report;
        report_len = VEIL_SNP_REPORT_SIZE;
    }
    /* the signing-key field picks VCEK or VLEK; a bad report fails FORMAT below */
    veil_snp_report peek;
    unsigned sk = veil_ok(veil_snp_report_decode(report, report_len, &peek))
                      ? veil_snp_signing_key(&peek)
                      : VEIL_SNP_SIGNING_KEY_VCEK;
    cert_set cs;
    veil_result r = pick_certs(ev, sk, &cs);
    if (!veil_ok(r)) {
        veil_verdict_record(&out->verdict, VEIL_CHECK_CHAIN, false, "%s", r.msg);
        return build_ear(out, p, NULL);
    }
    bool trust_sim = sim_root_trusted(&cs, p);
    veil_snp_evidence sev = {report,
                             report_len,
                             cs.leaf,
                             cs.leaf_len,
                             cs.ask,
                             cs.ask_len,
                             trust_sim ? NULL : cs.ark,
                             trust_sim ? 0 : cs.ark_len,
                             cs.crl,
                             cs.crl_len};
    const uint8_t *roots[1] = {cs.ark};
    size_t root_lens[1] = {cs.ark_len};
    veil_snp_trust trust = {at ? at : p->verification_time, roots, root_lens, trust_sim ? 1 : 0};
    bool simulated = false;
    VEIL_GUARD(veil_snp_verify(&sev, &trust, &out->report, &out->verdict, &simulated));
    out->have_report = out->verdict.n_trace > 0 && out->verdict.failed != VEIL_CHECK_FORMAT;
    out->verdict.simulated = simulated;
    if (out->have_report && have_hcl)
        VEIL_GUARD(veil_snp_hcl_check_binding(&hcl, &out->report, &out->verdict));
    if (out->have_report)
        veil_snp_appraise(&out->report, simulated, p, &out->verdict);
    veil_verdict_finish(&out->verdict);
    return build_ear(out, p, have_hcl ? &hcl : NULL);
}

void veil_verification_free(veil_verification *v)
{
    if (v)
        veil_ear_free(&v->ear);
}
