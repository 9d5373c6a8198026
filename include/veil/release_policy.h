/* veil — key release policies: which attestation results may receive a key.
 *
 * A policy is one JSON node (docs/kms.md has the full language):
 *   {"allOf": [node, ...]}            every node holds (at least one node)
 *   {"anyOf": [node, ...]}            some node holds (at least one node)
 *   {"claim": PATH, OP: VALUE}        a leaf with exactly one operator:
 *      "equals": v     the claim equals v (JSON equality; 1 and 1.0 differ)
 *      "in": [v, ...]  the claim equals one of the values (1..64 of them)
 *      "gte": n        the claim is a number >= n
 *      "lte": n        the claim is a number <= n
 *      "exists": b     the claim is present (true) or absent (false)
 *
 * PATH addresses the attestation result's submodules, i.e. the EAR's
 * "submods" object ({"sev-snp": {"ear.status": ..., "veil.claims": {...}}}):
 * a dotted path whose steps match member names, longest name first, so
 * "sev-snp.ear.status" reaches member "ear.status" of submodule "sev-snp", and
 * "sev-snp.veil.claims.tcb.snp" reaches the TCB's SNP SVN. A step with '*'
 * matches every member it globs ("gpu*.ear.status"): the leaf then holds only
 * if at least one member matches and the leaf holds for every match (a policy
 * that asks every GPU to affirm fails when there is no GPU).
 *
 * Parsing is strict: unknown members or operators, a leaf with zero or two
 * operators, empty lists, wrong value types, nesting deeper than
 * VEIL_RELEASE_POLICY_MAX_DEPTH or more than VEIL_RELEASE_POLICY_MAX_NODES
 * nodes are errors whose detail names the offending place (a JSON pointer
 * into the policy). Evaluation fails closed: a missing claim fails every
 * operator but "exists": false, and a type mismatch fails the leaf. */
#ifndef VEIL_RELEASE_POLICY_H
#define VEIL_RELEASE_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "veil/ear.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_RELEASE_POLICY_MAX_LEN ((size_t)64 << 10)
#define VEIL_RELEASE_POLICY_MAX_DEPTH 16
#define VEIL_RELEASE_POLICY_MAX_NODES 256
#define VEIL_RELEASE_POLICY_MAX_IN 64
#define VEIL_RELEASE_POLICY_MAX_PATH 256
#define VEIL_RELEASE_POLICY_DETAIL 320

typedef struct veil_release_policy veil_release_policy;

/* Parse; on error *out is NULL and `detail` (may be NULL) says what and
 * where ("/allOf/1: unknown operator \"greater\""). */
VEIL_MUST_USE veil_result veil_release_policy_parse(const char *json, size_t len,
                                                    veil_release_policy **out,
                                                    char detail[VEIL_RELEASE_POLICY_DETAIL]);
void veil_release_policy_free(veil_release_policy *p);

/* Evaluate on a "submods" JSON object. Returns an error only when the
 * document itself cannot be read; the decision is in *allowed and, when it
 * is false, `detail` names the leaf that failed ("/allOf/2: claim
 * sev-snp.veil.claims.tcb.snp gte 9: got 8"). */
VEIL_MUST_USE veil_result veil_release_policy_eval_json(const veil_release_policy *p,
                                                        const char *submods, size_t len,
                                                        bool *allowed,
                                                        char detail[VEIL_RELEASE_POLICY_DETAIL]);
/* Evaluate on attestation results, one submodule each (named by ear->submod). */
VEIL_MUST_USE veil_result veil_release_policy_eval(const veil_release_policy *p,
                                                   const veil_ear *const *ears, size_t n,
                                                   bool *allowed,
                                                   char detail[VEIL_RELEASE_POLICY_DETAIL]);
/* The submods object evaluation sees for these results (compact JSON). */
VEIL_MUST_USE veil_result veil_release_policy_submods(const veil_ear *const *ears, size_t n,
                                                      veil_buf *out);

#ifdef __cplusplus
}
#endif
#endif
