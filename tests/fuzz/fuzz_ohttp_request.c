/* Gateway side of RFC 9458: decapsulate an arbitrary message/ohttp-req with
 * the Appendix A key; whatever decrypts must be answerable. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static veil_ohttp_gateway *gw;
    if (!gw)
        gw = fuzz_gateway(RFC9458_SKR, RFC9458_CONFIG);
    veil_buf req, res;
    veil_buf_init(&req, 1 << 20);
    veil_buf_init(&res, 0);
    veil_ohttp_server_ctx *sc = NULL;
    veil_ohttp_decap_error why = VEIL_OHTTP_DECAP_OK;
    veil_result r = veil_ohttp_server_decap(gw, data, size, &req, &sc, &why);
    if (veil_ok(r) != (why == VEIL_OHTTP_DECAP_OK) || veil_ok(r) != (sc != NULL))
        abort();
    if (sc && !veil_ok(veil_ohttp_server_encap(sc, req.data, req.len, &res)))
        abort();
    veil_ohttp_server_ctx_free(sc);
    veil_buf_free(&req);
    veil_buf_free(&res);
    return 0;
}
