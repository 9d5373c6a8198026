/* veil — the CSPRNG every module draws from (OpenSSL's RAND_bytes). */
#ifndef VEIL_RAND_H
#define VEIL_RAND_H

#include <stddef.h>
#include <stdint.h>

#include "veil/result.h"

VEIL_MUST_USE veil_result veil_random_bytes(uint8_t *out, size_t n);

#endif
