/* What the simulated secure processor signs and derives: the
 * ATTESTATION_REPORT (SEV-SNP ABI, version 3, as a Milan part produces it),
 * the extended-report certificate table, and measurement-bound derived keys
 * (formulas in sim.h). */
#include <string.h>

#include "crypto/primitives.h"
#include "crypto/sim_pki.h"
#include "sim/sim.h"
#include "sim/sim_internal.h"
#include "veil/mem.h"
#include "veil/rand.h"

/* Milan: CPUID family 0x19, model 0x01, stepping 0x01 (what real Milan v3
 * reports carry). Firmware 1.55 build 0. */
#define SIM_REPORT_VERSION 3
#define SIM_CPUID_FAM 0x19
#define SIM_CPUID_MOD 0x01
#define SIM_CPUID_STEP 0x01
#define SIM_FW_MAJOR 1
#define SIM_FW_MINOR 55
#define SIM_FW_BUILD 0
#define SIM_MAX_VMPL 3

#define KDF_SHA384 0x0002 /* HPKE registry id of HKDF-SHA384 (primitives.h) */
#define KDF_NH 48
static const char derive_label[] = "veil-sim derived-key v1";

bool veil_sim_policy_valid(uint64_t policy)
{
    return (policy & VEIL_SNP_POLICY_RESERVED17) && !(policy & VEIL_SNP_POLICY_MBZ_MASK);
}

veil_result veil_sim_guest_init(veil_sim_guest *g)
{
    memset(g, 0, sizeof *g);
    g->policy = VEIL_SIM_DEFAULT_POLICY;
    return veil_random_bytes(g->report_id, sizeof g->report_id);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

veil_result veil_sim_measure_paths(const char *const *paths, size_t n,
                                   uint8_t out[VEIL_MEASUREMENT_LEN], size_t *bad_path)
{
    veil_buf *bufs = NULL;
    veil_sim_image *imgs = NULL;
    veil_result res = VEIL_OK;

    memset(out, 0, VEIL_MEASUREMENT_LEN);
    if (bad_path)
        *bad_path = n;
    VEIL_ENSURE(n >= 1, VEIL_E_USAGE, "a guest needs at least its executable");
    bufs = veil_calloc(n, sizeof *bufs);
    imgs = veil_calloc(n, sizeof *imgs);
    VEIL_ENSURE_GOTO(res, bufs && imgs, VEIL_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        veil_buf_init(&bufs[i], VEIL_SIM_MAX_FILE);
    for (size_t i = 0; i < n; i++) {
        res = veil_sim_read_file(paths[i], VEIL_SIM_MAX_FILE, &bufs[i],
                                 "cannot read a guest file (missing, not a regular file, "
                                 "unreadable, or over 1 GiB)");
        if (!veil_ok(res)) {
            if (bad_path)
                *bad_path = i;
            goto out;
        }
        imgs[i].name = base_name(paths[i]);
        imgs[i].data = bufs[i].data;
        imgs[i].len = bufs[i].len;
    }
    VEIL_TRY(res, veil_sim_measure(imgs, n, out));
out:
    if (bufs)
        for (size_t i = 0; i < n; i++)
            veil_buf_free(&bufs[i]);
    veil_free(bufs);
    veil_free(imgs);
    return res;
}

veil_result veil_sim_report(const veil_sim_state *s, const veil_sim_guest *g,
                            const uint8_t report_data[64], uint32_t vmpl,
                            uint8_t out[VEIL_SNP_REPORT_SIZE])
{
    veil_snp_report r;
    uint8_t sig[VEIL_SIM_SNP_SIG_LEN];
    veil_result res = VEIL_OK;

    memset(out, 0, VEIL_SNP_REPORT_SIZE);
    memset(&r, 0, sizeof r);
    VEIL_ENSURE(vmpl <= SIM_MAX_VMPL, VEIL_E_USAGE, "VMPL must be 0..3");
    VEIL_ENSURE(veil_sim_policy_valid(g->policy), VEIL_E_USAGE,
                "guest policy must have bit 17 set and bits 63:26 clear");
    uint64_t tcb = veil_snp_tcb_encode(&s->tcb, VEIL_SNP_MILAN);

    /* SEV-SNP ABI Table 22, field by field; everything else stays zero (MBZ,
     * or absent: no ID block, no author key, no migration agent). */
    r.version = SIM_REPORT_VERSION;
    r.policy = g->policy;
    r.vmpl = vmpl;
    r.signature_algo = VEIL_SNP_SIG_ALGO_ECDSA_P384_SHA384;
    r.current_tcb = tcb;
    r.platform_info = VEIL_SNP_PLATFORM_SMT_EN; /* no TSME: nothing is encrypted here */
    r.signer_info = VEIL_SNP_SIGNER_INFO(VEIL_SNP_SIGNING_KEY_VCEK, 0, 0);
    memcpy(r.report_data, report_data, sizeof r.report_data);
    memcpy(r.measurement, g->measurement, sizeof r.measurement);
    memcpy(r.host_data, g->host_data, sizeof r.host_data);
    memcpy(r.report_id, g->report_id, sizeof r.report_id);
    memset(r.report_id_ma, 0xFF, sizeof r.report_id_ma); /* no migration agent */
    r.reported_tcb = tcb;                                /* the TCB the VCEK is issued for */
    r.cpuid_fam_id = SIM_CPUID_FAM;
    r.cpuid_mod_id = SIM_CPUID_MOD;
    r.cpuid_step = SIM_CPUID_STEP;
    memcpy(r.chip_id, s->chip_id, sizeof r.chip_id);
    r.committed_tcb = tcb;
    r.current_build = SIM_FW_BUILD;
    r.current_minor = SIM_FW_MINOR;
    r.current_major = SIM_FW_MAJOR;
    r.committed_build = SIM_FW_BUILD;
    r.committed_minor = SIM_FW_MINOR;
    r.committed_major = SIM_FW_MAJOR;
    r.launch_tcb = tcb;

    /* Encode, sign report[0 .. 0x2A0), store R and S, encode again (snp.h). */
    VEIL_TRY(res, veil_snp_report_encode(&r, out));
    VEIL_TRY(res,
             veil_sim_sign_snp(s->vcek_key.data, s->vcek_key.len, out, VEIL_SNP_SIGNED_SIZE, sig));
    memcpy(r.sig_r, sig, VEIL_SNP_SIG_COMPONENT_SIZE);
    memcpy(r.sig_s, sig + VEIL_SNP_SIG_COMPONENT_SIZE, VEIL_SNP_SIG_COMPONENT_SIZE);
    VEIL_TRY(res, veil_snp_report_encode(&r, out));
out:
    if (!veil_ok(res))
        memset(out, 0, VEIL_SNP_REPORT_SIZE);
    return res;
}

veil_result veil_sim_cert_table(const veil_sim_state *s, veil_buf *out)
{
    veil_snp_cert_table t;
    memset(&t, 0, sizeof t);
    t.vcek = s->vcek_der.data;
    t.vcek_len = s->vcek_der.len;
    t.ask = s->ask_der.data;
    t.ask_len = s->ask_der.len;
    t.ark = s->ark_der.data;
    t.ark_len = s->ark_der.len;
    return veil_snp_cert_table_encode(&t, out);
}

veil_result veil_sim_derive_key(const veil_sim_state *s, const veil_sim_guest *g,
                                const uint8_t *context, size_t context_len, uint8_t *key,
                                size_t key_len)
{
    uint8_t prk[KDF_NH];
    uint8_t info[sizeof derive_label + VEIL_MEASUREMENT_LEN + 8 + 2 + VEIL_SIM_MAX_CONTEXT];
    size_t n = 0;
    veil_result res = VEIL_OK;

    VEIL_ENSURE(key_len >= VEIL_SIM_KEY_MIN && key_len <= VEIL_SIM_KEY_MAX, VEIL_E_USAGE,
                "derived key length must be 16..64 bytes");
    memset(key, 0, key_len);
    VEIL_ENSURE(context_len <= VEIL_SIM_MAX_CONTEXT && (context || !context_len), VEIL_E_USAGE,
                "derived key context must be at most 256 bytes");

    /* info = label || 0x00 || MEASUREMENT || u64le POLICY || u16be len || context
     * (sizeof derive_label counts the NUL, which is the 0x00 separator). */
    memcpy(info, derive_label, sizeof derive_label);
    n = sizeof derive_label;
    memcpy(info + n, g->measurement, VEIL_MEASUREMENT_LEN);
    n += VEIL_MEASUREMENT_LEN;
    for (int i = 0; i < 8; i++)
        info[n++] = (uint8_t)(g->policy >> (8 * i));
    info[n++] = (uint8_t)(context_len >> 8);
    info[n++] = (uint8_t)context_len;
    if (context_len)
        memcpy(info + n, context, context_len);
    n += context_len;

    /* RFC 5869: PRK = Extract(label, root_secret); key = Expand(PRK, info, L). */
    VEIL_TRY(res,
             veil_hkdf_extract(KDF_SHA384, (const uint8_t *)derive_label, sizeof derive_label - 1,
                               s->root_secret, sizeof s->root_secret, prk, sizeof prk));
    VEIL_TRY(res, veil_hkdf_expand(KDF_SHA384, prk, sizeof prk, info, n, key, key_len));
out:
    veil_wipe(prk, sizeof prk);
    veil_wipe(info, sizeof info);
    if (!veil_ok(res))
        veil_wipe(key, key_len);
    return res;
}
