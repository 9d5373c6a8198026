/* Relay internals shared with its unit test: the keyed hash and the
 * per-client token buckets. */
#ifndef VEIL_RELAY_INTERNAL_H
#define VEIL_RELAY_INTERNAL_H

/* The keyed hash and the token buckets moved to src/common/ratelimit.h (the
 * KMS uses them too); this header keeps the relay test's include working. */
#include "common/ratelimit.h"

#endif
