/* Encrypted RAG in the gateway's inner app (docs/rag.md, "In the gateway"):
 * POST /v1/rag/search, and chat requests with a "veil_rag" extension field,
 * whose top passages are retrieved and decrypted inside the TEE and added to
 * the messages before the model sees them. */
#ifndef VEIL_GATEWAY_RAG_INTERNAL_H
#define VEIL_GATEWAY_RAG_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "veil/app.h"
#include "veil/bhttp.h"

#define APP_RAG_DEFAULT_TOP_K 4
#define APP_RAG_MAX_CHAT_TOP_K 20

/* A request the app must refuse (status 0: none): OpenAI error fields. */
typedef struct app_rag_refusal {
    unsigned status;
    const char *code, *param, *msg;
    char buf[192]; /* msg may point here */
} app_rag_refusal;

/* POST /v1/rag/search: {"collection","query","top_k"} -> the top passages
 * with their scores and text. Answers through w. */
VEIL_MUST_USE veil_result app_rag_search(const veil_app_rag *cols, size_t n,
                                         const veil_bhttp_msg *rq, size_t max_body,
                                         const veil_app_writer *w);

/* If the checked chat body j has "veil_rag": {"collection", "top_k"}, take
 * the field out, retrieve the top passages for the last user message, and
 * insert them as a system message before it (*augmented). Refused for
 * external models (passages never leave the TEE) and for unknown
 * collections, through *ref. An error only for memory failures. */
VEIL_MUST_USE veil_result app_rag_augment_chat(const veil_app_rag *cols, size_t n, bool external,
                                               json_t *j, bool *augmented, app_rag_refusal *ref);

#endif
