/* Fixtures shared by the OHTTP fuzz targets: the gateway and client keys of
 * RFC 9458 Appendix A and the chunked-OHTTP draft example, so the published
 * messages in the seed corpora decrypt and the fuzzer can reach past the AEAD. */
#ifndef VEIL_FUZZ_COMMON_H
#define VEIL_FUZZ_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "crypto/hpke_internal.h"
#include "veil/hex.h"
#include "veil/ohttp.h"
#include "wire/ohttp_internal.h"

/* RFC 9458 Appendix A */
#define RFC9458_SKR "3c168975674b2fa8e465970b79c8dcf09f1c741626480bd4c6162fc5b6a98e1a"
#define RFC9458_SKE "bc51d5e930bda26589890ac7032f70ad12e4ecb37abb1b65b1256c9c48999c73"
#define RFC9458_CONFIG                                                                             \
    "01002031e1f05a740102115220e9af918f738674aec95f54db6e04eb705aae8e79815500080001000100010003"
/* draft-ietf-ohai-chunked-ohttp-08 Appendix A */
#define CHUNKED_SKR "1c190d72acdbe4dbc69e680503bb781a932c70a12c8f3754434c67d8640d8698"
#define CHUNKED_SKE "b26d565f3f875ed480d1abced3d665159650c99174fd0b124ac4bda0c64ae324"
#define CHUNKED_CONFIG                                                                             \
    "010020668eb21aace159803974a4c67f08b4152d29bed10735fd08f98ccdd6fe09570800080001000100010003"

static inline void fuzz_die(const char *what)
{
    (void)what;
    abort();
}

static inline veil_hpke_key *fuzz_key(const char *hex)
{
    veil_buf b;
    veil_buf_init(&b, 0);
    veil_hpke_key *k = NULL;
    if (!veil_ok(veil_hex_decode(hex, strlen(hex), &b)) ||
        !veil_ok(veil_hpke_key_from_private(VEIL_HPKE_KEM_X25519, b.data, b.len, &k)))
        fuzz_die("fixture key");
    veil_buf_free(&b);
    return k;
}

static inline void fuzz_config(const char *hex, veil_ohttp_keyconfig *cfg)
{
    veil_buf b;
    veil_buf_init(&b, 0);
    if (!veil_ok(veil_hex_decode(hex, strlen(hex), &b)) ||
        !veil_ok(veil_ohttp_keyconfig_decode(b.data, b.len, cfg)))
        fuzz_die("fixture config");
    veil_buf_free(&b);
}

/* A gateway holding both example keys (key id 1 each would clash, so the
 * chunked example's gateway is separate). */
static inline veil_ohttp_gateway *fuzz_gateway(const char *skr, const char *config)
{
    veil_ohttp_keyconfig cfg;
    veil_ohttp_gateway *gw = NULL;
    fuzz_config(config, &cfg);
    if (!veil_ok(veil_ohttp_gateway_new(&gw)) ||
        !veil_ok(veil_ohttp_gateway_add(gw, &cfg, fuzz_key(skr))))
        fuzz_die("fixture gateway");
    return gw;
}

#endif
