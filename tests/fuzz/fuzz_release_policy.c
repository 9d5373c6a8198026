/* Release policies (include/veil/release_policy.h). The input is a policy,
 * optionally followed by a NUL byte and a "submods" document to evaluate it
 * on (else a fixed one with a CPU and two GPUs). Whatever parses must
 * evaluate without crashing and give the same answer twice; a refusal must
 * say why. */
#include <stdlib.h>
#include <string.h>

#include "veil/release_policy.h"

static const char k_doc[] =
    "{\"sev-snp\":{\"ear.status\":\"warning\",\"veil.simulated\":true,"
    "\"ear.trustworthiness-vector\":{\"hardware\":32,\"executables\":2},"
    "\"veil.claims\":{\"debug\":false,\"measurement\":\"aa\",\"tcb\":{\"snp\":8,\"tee\":0},"
    "\"vmpl\":0,\"policy\":\"0x30000\"}},"
    "\"gpu0\":{\"ear.status\":\"affirming\"},\"gpu1\":{\"ear.status\":\"affirming\","
    "\"x.y\":{\"z\":[1,2]}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    const char *doc = nul ? (const char *)nul + 1 : k_doc;
    size_t dlen = nul ? size - plen - 1 : strlen(k_doc);
    char detail[VEIL_RELEASE_POLICY_DETAIL];
    veil_release_policy *p = NULL;
    if (!veil_ok(veil_release_policy_parse(text, plen, &p, detail))) {
        if (p || !detail[0])
            abort();
        return 0;
    }
    bool a = false, b = true;
    veil_result r1 = veil_release_policy_eval_json(p, doc, dlen, &a, detail);
    if (veil_ok(r1) && !a && !detail[0])
        abort();
    veil_result r2 = veil_release_policy_eval_json(p, doc, dlen, &b, detail);
    if (veil_ok(r1) != veil_ok(r2) || (veil_ok(r1) && a != b))
        abort();
    veil_release_policy_free(p);
    return 0;
}
