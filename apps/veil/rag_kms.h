/* veil rag ingest --kms: the collection key configuration, verified through
 * the KMS ledger's receipts (rag_kms.c). */
#ifndef VEIL_APP_RAG_KMS_H
#define VEIL_APP_RAG_KMS_H

#include <stdint.h>

#include "veil/ohttp.h"

typedef struct rag_kms_info {
    unsigned receipts;  /* receipts verified */
    uint64_t tree_size; /* the newest tree head, now saved in the state file */
} rag_kms_info;

/* Fetch and verify; an exit code (0 ok), errors printed. */
int rag_kms_keyconfig(const char *kms, const char *name, const char *ledger_key, const char *state,
                      veil_ohttp_keyconfig *out, rag_kms_info *info);

#endif
