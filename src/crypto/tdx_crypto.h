/* Internal OpenSSL helpers the Intel TDX verifier needs beyond crypto/x509.h:
 * importing the raw P-256 attestation key carried in a DCAP quote. */
#ifndef VEIL_CRYPTO_TDX_CRYPTO_H
#define VEIL_CRYPTO_TDX_CRYPTO_H

#include <stdint.h>

#include "crypto/x509.h"
#include "veil/result.h"

/* A P-256 public key from its raw affine coordinates x || y (32 bytes each,
 * big-endian), as the quote's attestation key field holds it
 * (sgx_ecdsa_sig_data_v4_t). The point must be on the curve: otherwise
 * VEIL_E_PROTOCOL. Release with veil_pubkey_free. */
VEIL_MUST_USE veil_result veil_p256_pubkey_from_raw(const uint8_t xy[64], veil_pubkey **out);

#endif
