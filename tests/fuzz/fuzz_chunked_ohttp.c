/* Chunked OHTTP readers on both sides. The first input byte sets the piece
 * size the stream is fed in, so every buffering path is reached; the rest is
 * a message/ohttp-chunked-req for the draft example's gateway key, and is
 * also read as a response to the draft example's request. */
#include "fuzz_common.h"

static void feed_server(veil_ohttp_gateway *gw, const uint8_t *p, size_t n, size_t piece)
{
    veil_ohttp_chunked_server *s;
    veil_buf out;
    veil_buf_init(&out, 0);
    if (!veil_ok(veil_ohttp_chunked_server_new(gw, 4096, &s)))
        fuzz_die("server");
    veil_result r = VEIL_OK;
    for (size_t at = 0; at < n && veil_ok(r); at += piece)
        r = veil_ohttp_chunked_server_read(s, p + at, n - at < piece ? n - at : piece, &out, NULL);
    if (veil_ok(r) && veil_ok(veil_ohttp_chunked_server_finish(s, &out)))
        if (!veil_ok(veil_ohttp_chunked_server_write(s, out.data, out.len, 1, &out)))
            abort();
    veil_ohttp_chunked_server_free(s);
    veil_buf_free(&out);
}

static void feed_client(const uint8_t *p, size_t n, size_t piece)
{
    static veil_ohttp_keyconfig cfg;
    static veil_hpke_key *eph;
    if (!eph) {
        fuzz_config(CHUNKED_CONFIG, &cfg);
        eph = fuzz_key(CHUNKED_SKE);
    }
    veil_hpke_suite suite = {cfg.kem, cfg.algs[0].kdf, cfg.algs[0].aead};
    veil_ohttp_chunked_client *c;
    veil_buf req, out;
    veil_buf_init(&req, 0);
    veil_buf_init(&out, 0);
    if (!veil_ok(veil_ohttp_chunked_client_new_with(&cfg, &suite, eph, 4096, &req, &c)))
        fuzz_die("client");
    veil_result r = VEIL_OK;
    for (size_t at = 0; at < n && veil_ok(r); at += piece)
        r = veil_ohttp_chunked_client_read(c, p + at, n - at < piece ? n - at : piece, &out);
    if (veil_ok(r))
        r = veil_ohttp_chunked_client_finish(c, &out);
    veil_ohttp_chunked_client_free(c);
    veil_buf_free(&req);
    veil_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static veil_ohttp_gateway *gw;
    if (!gw)
        gw = fuzz_gateway(CHUNKED_SKR, CHUNKED_CONFIG);
    if (size < 1)
        return 0;
    size_t piece = (size_t)(data[0] % 64) + 1;
    feed_server(gw, data + 1, size - 1, piece);
    feed_client(data + 1, size - 1, piece);
    return 0;
}
