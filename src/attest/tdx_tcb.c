/* TCB evaluation of a TDX quote against authenticated collateral
 * (notes §2.5; go-tdx-guest testing/testdata/README.md; dcap-qvl
 * src/verify.rs; Intel QVL TcbLevelCheck.cpp and TdxModuleCheck.cpp):
 *
 *  1. Platform: the first tcbLevel (Intel lists them best first) whose 16
 *     sgxtcbcomponents are all <= the PCK's comp SVNs, pcesvn <= the PCK's
 *     PCESVN, and tdxtcbcomponents <= TEE_TCB_SVN byte by byte. When
 *     TEE_TCB_SVN[1] (the module's major version) is not 0, components 0 and 1
 *     are the TDX module's own SVN and are graded by its identity instead
 *     (Intel QVL isTdxTcbHigherOrEqual starts at index 2).
 *  2. TDX module: TEE_TCB_SVN[1] > 0 selects tdxModuleIdentities "TDX_%02X";
 *     MRSIGNERSEAM must equal its mrsigner and SEAMATTRIBUTES & mask its
 *     attributes & mask; its status is the first level with isvsvn <=
 *     TEE_TCB_SVN[0]. Major version 0: the tdxModule mrsigner/attributes only.
 *  3. QE identity: MRSIGNER and ISVPRODID equal, MISCSELECT and ATTRIBUTES
 *     equal under their masks; status of the first level with isvsvn <= ISVSVN.
 *  The result is the most severe of the three statuses; advisory IDs are the
 *  union of the matched levels'. No matching level, or Revoked, fails. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "attest/tdx_internal.h"
#include "veil/hex.h"
#include "veil/mem.h"

/* A failed step's reason, kept until every step has run. */
typedef struct why {
    char msg[VEIL_VERDICT_DETAIL];
} why;

static bool fail(why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool fail(why *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
    return false;
}

static bool masked_equal(const uint8_t *have, const uint8_t *want, const uint8_t *mask, size_t n)
{
    uint8_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (uint8_t)((have[i] ^ want[i]) & mask[i]);
    return diff == 0;
}

static void add_advisories(veil_tdx_tcb *t, const json_t *ids)
{
    size_t i;
    json_t *id;
    if (!ids)
        return;
    json_array_foreach ((json_t *)ids, i, id) {
        const char *s = json_string_value(id);
        bool dup = false;
        for (size_t k = 0; k < t->n_advisories && !dup; k++)
            dup = !strcmp(t->advisories[k], s);
        if (!dup && t->n_advisories < VEIL_TDX_MAX_ADVISORIES)
            snprintf(t->advisories[t->n_advisories++], VEIL_TDX_ADVISORY_LEN, "%s", s);
    }
}

static veil_tdx_tcb_status worst(veil_tdx_tcb_status a, veil_tdx_tcb_status b)
{
    return a > b ? a : b;
}

/* Step 1 */
static bool platform_matches(const tdx_tcb_level *l, const veil_tdx_pck *pck, const uint8_t *tee)
{
    for (size_t i = 0; i < 16; i++)
        if (pck->comp_svn[i] < l->sgx[i])
            return false;
    if (pck->pcesvn < l->pcesvn)
        return false;
    for (size_t i = tee[1] > 0 ? 2 : 0; i < 16; i++)
        if (tee[i] < l->tdx[i])
            return false;
    return true;
}

static const tdx_isv_level *isv_level(const tdx_isv_level *levels, size_t n, uint16_t svn)
{
    for (size_t i = 0; i < n; i++)
        if (svn >= levels[i].isvsvn)
            return &levels[i];
    return NULL;
}

static void hex_prefix(const uint8_t *p, size_t n, char out[20])
{
    char full[2 * 64 + 1];
    veil_hex_encode(p, n, full);
    snprintf(out, 20, "%.16s", full);
}

/* Step 2; false with the reason in *w on a mismatch. */
static bool evaluate_module(const tdx_collateral *c, veil_tdx_quote *q, why *w)
{
    const veil_tdx_td_report *b = &q->body;
    veil_tdx_tcb *t = &q->tcb;
    char h[20];
    if (b->tee_tcb_svn[1] == 0) {
        bool ok = veil_public_equal(b->mr_signer_seam, 48, c->tcb.module_mrsigner, 48) &&
                  masked_equal(b->seam_attributes, c->tcb.module_attributes,
                               c->tcb.module_attributes_mask, 8);
        if (!ok) {
            hex_prefix(b->mr_signer_seam, 48, h);
            return fail(w,
                        "TDX module MRSIGNERSEAM %s.../SEAMATTRIBUTES differ from the TCB "
                        "info's tdxModule",
                        h);
        }
        t->module = VEIL_TDX_TCB_UP_TO_DATE; /* graded with the platform's tdxtcbcomponents */
        return true;
    }
    snprintf(t->module_id, sizeof t->module_id, "TDX_%02X", b->tee_tcb_svn[1]);
    t->module_identity = true;
    const tdx_module_identity *m = NULL;
    for (size_t i = 0; i < c->tcb.n_modules && !m; i++)
        if (!strcmp(c->tcb.modules[i].id, t->module_id))
            m = &c->tcb.modules[i];
    if (!m) {
        return fail(w, "the TCB info has no tdxModuleIdentities entry %s (TEE_TCB_SVN[1] = %u)",
                    t->module_id, b->tee_tcb_svn[1]);
    }
    if (!veil_public_equal(b->mr_signer_seam, 48, m->mrsigner, 48) ||
        !masked_equal(b->seam_attributes, m->attributes, m->attributes_mask, 8)) {
        hex_prefix(b->mr_signer_seam, 48, h);
        return fail(w, "TDX module MRSIGNERSEAM %s.../SEAMATTRIBUTES differ from %s", h,
                    t->module_id);
    }
    const tdx_isv_level *l = isv_level(m->levels, m->n_levels, b->tee_tcb_svn[0]);
    if (!l) {
        return fail(w, "TDX module ISVSVN %u (TEE_TCB_SVN[0]) is below every level of %s",
                    b->tee_tcb_svn[0], t->module_id);
    }
    if (l->status == VEIL_TDX_TCB_UNKNOWN) {
        return fail(w, "%s level has an unknown tcbStatus \"%s\"", t->module_id, l->status_text);
    }
    t->module = l->status;
    add_advisories(t, l->advisories);
    return true;
}

/* Step 3 */
static bool evaluate_qe(const tdx_collateral *c, veil_tdx_quote *q, why *w)
{
    const veil_tdx_qe_report *r = &q->qe_report;
    const tdx_qe_identity *id = &c->qe;
    uint32_t misc = (uint32_t)id->miscselect[0] << 24 | (uint32_t)id->miscselect[1] << 16 |
                    (uint32_t)id->miscselect[2] << 8 | id->miscselect[3];
    uint32_t mask = (uint32_t)id->miscselect_mask[0] << 24 |
                    (uint32_t)id->miscselect_mask[1] << 16 | (uint32_t)id->miscselect_mask[2] << 8 |
                    id->miscselect_mask[3];
    char h[20];
    hex_prefix(r->mrsigner, 32, h);
    if (!veil_public_equal(r->mrsigner, 32, id->mrsigner, 32) || r->isvprodid != id->isvprodid) {
        return fail(w, "QE MRSIGNER %s.../ISVPRODID %u is not the TD_QE identity's", h,
                    r->isvprodid);
    }
    if ((r->miscselect & mask) != (misc & mask) ||
        !masked_equal(r->attributes, id->attributes, id->attributes_mask, 16)) {
        return fail(w,
                    "QE MISCSELECT 0x%08x or ATTRIBUTES differ from the TD_QE identity "
                    "under its masks",
                    r->miscselect);
    }
    const tdx_isv_level *l = isv_level(id->levels, id->n_levels, r->isvsvn);
    if (!l) {
        return fail(w, "QE ISVSVN %u is below every level of the TD_QE identity", r->isvsvn);
    }
    if (l->status == VEIL_TDX_TCB_UNKNOWN) {
        return fail(w, "QE level has an unknown tcbStatus \"%s\"", l->status_text);
    }
    q->tcb.qe = l->status;
    add_advisories(&q->tcb, l->advisories);
    return true;
}

/* Step 1; fills platform, tcb_date and the level's advisories. */
static bool evaluate_platform(const tdx_collateral *c, veil_tdx_quote *q, why *w)
{
    veil_tdx_tcb *t = &q->tcb;
    const veil_tdx_pck *pck = &q->pck;
    const uint8_t *tee = q->body.tee_tcb_svn;
    char svns[4 * 16 + 1], tees[2 * 16 + 1];
    const tdx_tcb_level *l = NULL;
    for (size_t i = 0; i < c->tcb.n_levels && !l; i++)
        if (platform_matches(&c->tcb.levels[i], pck, tee)) {
            l = &c->tcb.levels[i];
            t->level_index = i;
        }
    if (!l) {
        size_t k = 0;
        for (size_t i = 0; i < 8 && k < sizeof svns; i++)
            k +=
                (size_t)snprintf(svns + k, sizeof svns - k, "%s%u", i ? "," : "", pck->comp_svn[i]);
        veil_hex_encode(tee, 16, tees);
        return fail(w,
                    "no matching TCB level: PCK comp SVNs [%s,...], PCESVN %u, TEE_TCB_SVN %s are "
                    "below every one of the %zu levels (TCB level not supported)",
                    svns, pck->pcesvn, tees, c->tcb.n_levels);
    }
    if (l->status == VEIL_TDX_TCB_UNKNOWN)
        return fail(w, "the matching TCB level has an unknown tcbStatus \"%s\"", l->status_text);
    t->platform = l->status;
    snprintf(t->tcb_date, sizeof t->tcb_date, "%s", l->date);
    add_advisories(t, l->advisories);
    return true;
}

void tdx_tcb_evaluate(const tdx_collateral *c, veil_tdx_quote *q, veil_verdict *v)
{
    veil_tdx_tcb *t = &q->tcb;
    why wp, wm, wq;
    memset(t, 0, sizeof *t);
    t->status = t->platform = t->module = t->qe = VEIL_TDX_TCB_UNKNOWN;
    t->tcb_evaluation_data_number = c->tcb.tcb_evaluation_data_number;
    /* every step runs, so a failure still shows what the others found */
    bool ok_p = evaluate_platform(c, q, &wp);
    bool ok_m = evaluate_module(c, q, &wm);
    bool ok_q = evaluate_qe(c, q, &wq);
    if (!ok_p || !ok_m || !ok_q) {
        veil_verdict_record(v, VEIL_CHECK_TCB, false, "%s",
                            !ok_p   ? wp.msg
                            : !ok_m ? wm.msg
                                    : wq.msg);
        return;
    }
    t->status = worst(worst(t->platform, t->module), t->qe);
    t->evaluated = true;
    bool ok = t->status != VEIL_TDX_TCB_REVOKED;
    veil_verdict_record(v, VEIL_CHECK_TCB, ok,
                        "%s: platform %s (tcbDate %s), module %s %s, QE ISVSVN %u %s; %zu "
                        "advisories%s",
                        veil_tdx_tcb_status_name(t->status), veil_tdx_tcb_status_name(t->platform),
                        t->tcb_date, t->module_identity ? t->module_id : "(major 0)",
                        veil_tdx_tcb_status_name(t->module), q->qe_report.isvsvn,
                        veil_tdx_tcb_status_name(t->qe), t->n_advisories,
                        ok ? "" : " (the platform is REVOKED)");
}
