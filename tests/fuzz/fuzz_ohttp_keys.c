/* application/ohttp-keys lists and single key configurations: decode, and
 * what decodes must re-encode to bytes that decode to the same configs. */
#include <stdlib.h>
#include <string.h>

#include "veil/mem.h"
#include "veil/ohttp.h"

static int same(const veil_ohttp_keyconfig *a, const veil_ohttp_keyconfig *b)
{
    return a->key_id == b->key_id && a->kem == b->kem && a->n_algs == b->n_algs &&
           a->public_key_len == b->public_key_len &&
           veil_public_equal(a->public_key, a->public_key_len, b->public_key, b->public_key_len) &&
           veil_public_equal(a->algs, a->n_algs * sizeof a->algs[0], b->algs,
                             b->n_algs * sizeof b->algs[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static veil_ohttp_keyconfig cfgs[8], again[8];
    size_t n, skipped, n2, skipped2;
    if (veil_ok(veil_ohttp_keys_decode(data, size, cfgs, 8, &n, &skipped))) {
        veil_buf out;
        veil_buf_init(&out, 0);
        if (!veil_ok(veil_ohttp_keys_encode(cfgs, n, &out)))
            abort();
        if (n > 0) {
            if (!veil_ok(veil_ohttp_keys_decode(out.data, out.len, again, 8, &n2, &skipped2)) ||
                n2 != n || skipped2 != 0)
                abort();
            for (size_t i = 0; i < n; i++)
                if (!same(&cfgs[i], &again[i]))
                    abort();
        }
        veil_buf_free(&out);
    }
    veil_ohttp_keyconfig one;
    if (veil_ok(veil_ohttp_keyconfig_decode(data, size, &one))) {
        veil_buf out;
        veil_buf_init(&out, 0);
        if (!veil_ok(veil_ohttp_keyconfig_encode(&one, &out)) ||
            !veil_public_equal(out.data, out.len, data, size))
            abort(); /* the key config encoding is canonical */
        veil_buf_free(&out);
    }
    return 0;
}
