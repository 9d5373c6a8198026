/* Internal: the attester backends behind veil/attester.h. */
#ifndef VEIL_ATTEST_ATTESTER_INTERNAL_H
#define VEIL_ATTEST_ATTESTER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "veil/evidence.h"
#include "veil/result.h"

#define VEIL_ATTESTER_PATH_MAX 4096

/* configfs-tsm (attester_tsm.c). `dir` is the report directory. */
VEIL_MUST_USE veil_result veil_tsm_check_dir(const char *dir);
VEIL_MUST_USE veil_result veil_tsm_evidence(const char *dir, const uint8_t report_data[64],
                                            unsigned vmpl, veil_evidence *out);

/* The simulator's guest socket (attester_sim.c). */
VEIL_MUST_USE veil_result veil_simsock_check(const char *path);
VEIL_MUST_USE veil_result veil_simsock_evidence(const char *path, const uint8_t report_data[64],
                                                unsigned vmpl, veil_evidence *out);
VEIL_MUST_USE veil_result veil_simsock_derived_key(const char *path, const char *context,
                                                   uint8_t *key, size_t key_len);

#endif
