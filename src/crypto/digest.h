/* Internal one-shot message digests (SHA-256, SHA-384, SHA-512) for code
 * outside src/crypto/ that must not include OpenSSL headers: launch
 * measurements, report and certificate digests, kernel hashes.
 *
 * The EVP_MD objects are fetched once (pthread_once) and shared read-only, so
 * every function is thread-safe. data may be NULL when len is 0. On failure
 * (an OpenSSL error: VEIL_E_INTERNAL, or VEIL_E_NOMEM) `out` is zeroed. */
#ifndef VEIL_CRYPTO_DIGEST_H
#define VEIL_CRYPTO_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "veil/result.h"

#define VEIL_SHA256_LEN 32
#define VEIL_SHA384_LEN 48
#define VEIL_SHA512_LEN 64

VEIL_MUST_USE veil_result veil_sha256(const void *data, size_t len, uint8_t out[VEIL_SHA256_LEN]);
VEIL_MUST_USE veil_result veil_sha384(const void *data, size_t len, uint8_t out[VEIL_SHA384_LEN]);
VEIL_MUST_USE veil_result veil_sha512(const void *data, size_t len, uint8_t out[VEIL_SHA512_LEN]);

#endif
