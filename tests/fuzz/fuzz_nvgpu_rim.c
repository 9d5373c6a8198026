/* libFuzzer target for the NVIDIA RIM (SWID tag) parser and, for a share of
 * the inputs, the XML-DSig verification path (libxml2 + libxmlsec1).
 *
 * Any input either fails to parse with a protocol error naming the RIM (and
 * an empty result) or yields 1..256 Resources with unique indexes, 1..16
 * alternatives each, a non-empty colloquialVersion, and verified = false.
 * Inputs that parse and whose length is a multiple of 4 are also verified
 * (at 2024-06-01, when the real RIMs in the corpus are valid): that must
 * record exactly one RIM check, set `verified` only when the check passed,
 * and keep the parsed result equal to the unverified parse. Any violation
 * aborts; leaks fail under LSan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "veil/mem.h"
#include "veil/nvgpu.h"

#define T_2024_06_01 1717200000

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_parsed(const veil_nvgpu_rim *r)
{
    check(r->n_entries >= 1 && r->n_entries <= VEIL_NVGPU_RIM_MAX_ENTRIES && r->entries);
    check(r->colloquial_version[0] != '\0' && r->tag_id[0] != '\0' && !r->verified);
    for (size_t i = 0; i < r->n_entries; i++) {
        check(r->entries[i].n_alts >= 1 && r->entries[i].n_alts <= VEIL_NVGPU_RIM_MAX_ALTS);
        check(r->entries[i].index <= 65535);
        for (size_t k = 0; k < i; k++)
            check(r->entries[k].index != r->entries[i].index);
    }
}

static bool same_entries(const veil_nvgpu_rim *a, const veil_nvgpu_rim *b)
{
    return a->n_entries == b->n_entries &&
           veil_public_equal(a->entries, a->n_entries * sizeof *a->entries, b->entries,
                             b->n_entries * sizeof *b->entries) &&
           !strcmp(a->colloquial_version, b->colloquial_version);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    veil_nvgpu_rim rim, verified;
    veil_nvgpu_rim_init(&rim);
    veil_nvgpu_rim_init(&verified);
    veil_result res = veil_nvgpu_rim_parse(data, size, &rim);
    if (!veil_ok(res)) {
        check(res.cls == VEIL_E_PROTOCOL && res.msg != NULL);
        check(!strncmp(res.msg, "nvgpu rim: ", 11));
        check(rim.n_entries == 0 && rim.entries == NULL);
        return 0;
    }
    check_parsed(&rim);
    if (size % 4 == 0) {
        veil_verdict v;
        veil_nvgpu_trust t = {T_2024_06_01, NULL, NULL, 0};
        veil_verdict_init(&v);
        check(veil_ok(veil_nvgpu_rim_verify(data, size, "fuzz RIM", &t, &verified, &v)));
        check(v.n_trace == 1 && v.trace[0].check == VEIL_CHECK_RIM);
        check(verified.verified == v.trace[0].passed);
        check(same_entries(&rim, &verified));
    }
    veil_nvgpu_rim_free(&rim);
    veil_nvgpu_rim_free(&verified);
    return 0;
}
