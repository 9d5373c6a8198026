/* Internal helpers shared by the files of src/sim/: bounded file I/O and
 * hex fields. Not used outside the simulator. */
#ifndef VEIL_SIM_INTERNAL_H
#define VEIL_SIM_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/result.h"

#define VEIL_SIM_TMP_MAX 4200 /* a state path plus a temp suffix */

/* Append the whole regular file at `path` to out; more than `max` bytes, a
 * non-regular file or a read error fail with `msg` (VEIL_E_PROTOCOL for
 * size/type, VEIL_E_INTERNAL for I/O). */
VEIL_MUST_USE veil_result veil_sim_read_file(const char *path, size_t max, veil_buf *out,
                                             const char *msg);
/* Write atomically (temp file in the same directory, fsync, rename) with
 * `mode`; failures are VEIL_E_INTERNAL with `msg`. */
VEIL_MUST_USE veil_result veil_sim_write_file(const char *path, const void *p, size_t n,
                                              unsigned mode, const char *msg);
/* out = dir "/" name; VEIL_E_USAGE when it does not fit. */
VEIL_MUST_USE veil_result veil_sim_join(char *out, size_t cap, const char *dir, const char *name);
/* Exactly 2*n hex digits into out[n]; VEIL_E_PROTOCOL with msg otherwise. */
VEIL_MUST_USE veil_result veil_sim_hex_exact(const char *hex, size_t len, uint8_t *out, size_t n,
                                             const char *msg);

/* Append the JSON text of `doc` (json_dumpb flags) to out. */
VEIL_MUST_USE veil_result veil_sim_json_dump(const json_t *doc, size_t flags, veil_buf *out);

#endif
