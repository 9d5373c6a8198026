/* veil — multipart/form-data (RFC 7578 over the RFC 2046 §5.1 multipart
 * syntax), as OpenAI-compatible clients send audio for transcription.
 *
 * Body layout (CRLF line endings required):
 *
 *   preamble (ignored)
 *   "--" boundary  transport-padding  CRLF          opening delimiter
 *   part:  header-line* CRLF  content                (header-line = name ":" value CRLF)
 *   CRLF "--" boundary  transport-padding  CRLF      next part follows
 *   ...
 *   CRLF "--" boundary "--"                          close delimiter
 *   epilogue (ignored)
 *
 * Each part must carry `Content-Disposition: form-data; name="..."` and may
 * carry `filename="..."` and a Content-Type. Parameter values are tokens or
 * quoted-strings (backslash escapes honoured); RFC 7578 §4.2 says senders do
 * not use `filename*`, so it is ignored. Content-Transfer-Encoding other than
 * 7bit, 8bit or binary is refused (RFC 7578 §4.7 deprecates it). Obsolete
 * header folding, NUL and control characters in headers are refused.
 *
 * Part contents are views into the caller's body (no copy: an audio file can
 * be megabytes), so the body must outlive the form. Names, filenames and
 * content types are copies, wiped when the form is freed (they are user
 * data). Every malformed input is a VEIL_E_PROTOCOL error and every exceeded
 * limit a VEIL_E_NOMEM error; messages start with "multipart: ". */
#ifndef VEIL_MULTIPART_H
#define VEIL_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VEIL_MULTIPART_BOUNDARY_MAX 70 /* RFC 2046 §5.1.1 */

/* A member left 0 takes its default. */
typedef struct veil_multipart_limits {
    size_t max_parts;        /* default 32 */
    size_t max_header_bytes; /* one part's header block, default 8 KiB */
    size_t max_part_bytes;   /* one part's content, default unlimited (the body bounds it) */
    size_t max_field_bytes;  /* content of a part without filename, default 64 KiB */
} veil_multipart_limits;

#define VEIL_MULTIPART_DEFAULT_MAX_PARTS ((size_t)32)
#define VEIL_MULTIPART_DEFAULT_MAX_HEADER_BYTES ((size_t)8 << 10)
#define VEIL_MULTIPART_DEFAULT_MAX_FIELD_BYTES ((size_t)64 << 10)

typedef struct veil_multipart_part {
    const char *name;         /* Content-Disposition name; NUL-terminated, may be "" */
    const char *filename;     /* NULL when absent; may be "" (a browser's empty file input) */
    const char *content_type; /* NULL when absent; trimmed, parameters kept */
    const uint8_t *data;      /* view into the body; NULL when len == 0 */
    size_t len;
} veil_multipart_part;

typedef struct veil_multipart veil_multipart;

/* The boundary parameter of a multipart/form-data Content-Type value
 * ("multipart/form-data; boundary=xyz", quoted or not; type and parameter
 * names case-insensitive). out gets the boundary, NUL-terminated. */
VEIL_MUST_USE veil_result veil_multipart_boundary(const char *content_type,
                                                  char out[VEIL_MULTIPART_BOUNDARY_MAX + 1]);

/* Parse body[0..len) sent with the given Content-Type value. limits may be
 * NULL for the defaults. On success *out is a new form (free with
 * veil_multipart_free) whose parts point into body; on failure *out is NULL. */
VEIL_MUST_USE veil_result veil_multipart_parse(const char *content_type, const uint8_t *body,
                                               size_t len, const veil_multipart_limits *limits,
                                               veil_multipart **out);

size_t veil_multipart_count(const veil_multipart *m);
/* Part i (< count), in body order; NULL when out of range. */
const veil_multipart_part *veil_multipart_get(const veil_multipart *m, size_t i);
/* First part named `name` (exact, case-sensitive as RFC 7578 §5.2 implies);
 * NULL when absent. */
const veil_multipart_part *veil_multipart_find(const veil_multipart *m, const char *name);

/* Wipe the copied names and free the form (not the body). NULL is a no-op. */
void veil_multipart_free(veil_multipart *m);

#ifdef __cplusplus
}
#endif
#endif
