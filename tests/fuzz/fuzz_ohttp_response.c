/* Client side of RFC 9458: decapsulate an arbitrary message/ohttp-res for the
 * Appendix A request (so the RFC's response in the corpus decrypts). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static veil_ohttp_client_ctx *cc;
    if (!cc) {
        veil_ohttp_keyconfig cfg;
        fuzz_config(RFC9458_CONFIG, &cfg);
        veil_hpke_key *eph = fuzz_key(RFC9458_SKE);
        veil_hpke_suite suite = {cfg.kem, cfg.algs[0].kdf, cfg.algs[0].aead};
        veil_buf req;
        veil_buf_init(&req, 0);
        const uint8_t get[] = {0x00, 0x03, 'G', 'E', 'T', 0x05, 'h', 't', 't', 'p', 's'};
        if (!veil_ok(veil_ohttp_client_encap_with(&cfg, &suite, eph, get, sizeof get, &req, &cc)))
            fuzz_die("client fixture");
        veil_hpke_key_free(eph);
        veil_buf_free(&req);
    }
    veil_buf out;
    veil_buf_init(&out, 1 << 20);
    veil_result r = veil_ohttp_client_decap(cc, data, size, &out);
    /* success releases exactly the plaintext; failure releases nothing */
    if (veil_ok(r) ? out.len + 16 + 16 != size : out.len != 0)
        abort();
    veil_buf_free(&out);
    return 0;
}
