/* veil — Binary HTTP messages (RFC 9292).
 *
 * A veil_bhttp_msg is one request or response: control data (method, scheme,
 * authority, path; or informational responses and a final status), a header
 * section, content, a trailer section and padding. It owns every byte it
 * holds, and freeing it wipes them all (headers and content carry user data).
 *
 * Wire layout (RFC 9292 §3), every integer a QUIC varint:
 *
 *   framing indicator   0 known-length request    1 known-length response
 *                       2 indeterminate request   3 indeterminate response
 *   request control     len method | len scheme | len authority | len path
 *   response control    (status 100..199, field section)* then status 200..599
 *   field section       known: len, then lines; indeterminate: lines, then 0
 *   field line          len name (>= 1) | len value
 *   content             known: len bytes; indeterminate: (len>0 bytes)*, then 0
 *   trailer             a field section
 *   padding             any number of 0x00 bytes
 *
 * §3.8: a message may end early where only empty sections follow (the trailer;
 * then the content; then the header section); a missing section is empty.
 *
 * Validity, enforced by the decoder and (as usage errors) by the builders, so
 * that whatever the encoder writes, the decoder accepts:
 *   - field names: RFC 9110 §5.1 tokens in lowercase (RFC 9113 §8.2.1, which
 *     RFC 9292 §3.6 adopts); the builders lowercase names for the caller;
 *   - field values: no NUL, CR or LF; no SP or HTAB at either end (RFC 9113
 *     §8.2.1);
 *   - pseudo-fields (":name"): never :method, :scheme, :authority, :path or
 *     :status, never in trailers, always before the regular fields (§3.6);
 *   - method a token; scheme, authority and path free of control characters,
 *     SP and DEL (stricter than RFC 9292: it keeps a gateway that replays the
 *     request over HTTP/1.1 from splitting it);
 *   - padding bytes all zero.
 * Since control data and field lines hold no NUL byte, every string this API
 * hands out is also NUL-terminated. */
#ifndef VEIL_BHTTP_H
#define VEIL_BHTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/result.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct veil_bhttp_msg veil_bhttp_msg;

typedef enum veil_bhttp_framing {
    VEIL_BHTTP_KNOWN_LENGTH = 0,
    VEIL_BHTTP_INDETERMINATE = 1
} veil_bhttp_framing;

/* One field line; name and value are NUL-terminated (the NUL not counted). */
typedef struct veil_bhttp_field {
    const uint8_t *name;
    size_t name_len;
    const uint8_t *value;
    size_t value_len;
} veil_bhttp_field;

/* A read-only view of a field section, in wire order, duplicates kept. */
typedef struct veil_bhttp_fields {
    const veil_bhttp_field *v;
    size_t n;
} veil_bhttp_fields;

/* Decoder limits against resource exhaustion (RFC 9292 §7). A member left 0
 * takes its default; SIZE_MAX lifts it. */
typedef struct veil_bhttp_limits {
    size_t max_fields;        /* field lines in all sections together */
    size_t max_field_bytes;   /* name and value bytes in all sections together */
    size_t max_content;       /* content bytes */
    size_t max_informational; /* informational (1xx) responses */
} veil_bhttp_limits;

#define VEIL_BHTTP_DEFAULT_MAX_FIELDS ((size_t)512)
#define VEIL_BHTTP_DEFAULT_MAX_FIELD_BYTES ((size_t)256 << 10)
#define VEIL_BHTTP_DEFAULT_MAX_CONTENT ((size_t)64 << 20)
#define VEIL_BHTTP_DEFAULT_MAX_INFORMATIONAL ((size_t)32)

/* ---- decoding ------------------------------------------------------------ */

/* Decode one whole message from p[0..n). `limits` may be NULL for the
 * defaults. On success *out is a new message (free with veil_bhttp_msg_free)
 * holding copies, so `p` may be released afterwards; it records the framing,
 * how many of the header/content/trailer sections were present and the
 * padding length, so that veil_bhttp_encode in the same framing reproduces
 * any input that used minimal varints and one content chunk. Every malformed
 * or over-limit input is a VEIL_E_PROTOCOL error whose message starts with
 * "bhttp: " and names the problem; *out is then NULL. */
VEIL_MUST_USE veil_result veil_bhttp_decode(const uint8_t *p, size_t n,
                                            const veil_bhttp_limits *limits, veil_bhttp_msg **out);

/* ---- building ------------------------------------------------------------ */

/* A request with empty sections. The strings are NUL-terminated; authority may
 * be "" (RFC 9292 §3.4: then a Host header usually names the target). */
VEIL_MUST_USE veil_result veil_bhttp_request_new(const char *method, const char *scheme,
                                                 const char *authority, const char *path,
                                                 veil_bhttp_msg **out);
/* A response with final status 200..599 and empty sections. */
VEIL_MUST_USE veil_result veil_bhttp_response_new(unsigned status, veil_bhttp_msg **out);
/* Append an informational response (status 100..199) to a response. */
VEIL_MUST_USE veil_result veil_bhttp_add_informational(veil_bhttp_msg *m, unsigned status);
/* Append a field line to the last informational response / the header
 * section / the trailer section. Uppercase ASCII in the name is lowercased;
 * any other invalid name or value is a VEIL_E_USAGE error. */
VEIL_MUST_USE veil_result veil_bhttp_add_informational_field(veil_bhttp_msg *m, const void *name,
                                                             size_t name_len, const void *value,
                                                             size_t value_len);
VEIL_MUST_USE veil_result veil_bhttp_add_header(veil_bhttp_msg *m, const void *name,
                                                size_t name_len, const void *value,
                                                size_t value_len);
VEIL_MUST_USE veil_result veil_bhttp_add_trailer(veil_bhttp_msg *m, const void *name,
                                                 size_t name_len, const void *value,
                                                 size_t value_len);
/* Replace / extend the content. */
VEIL_MUST_USE veil_result veil_bhttp_set_content(veil_bhttp_msg *m, const void *p, size_t n);
VEIL_MUST_USE veil_result veil_bhttp_append_content(veil_bhttp_msg *m, const void *p, size_t n);
/* Zero bytes the encoder appends after the message. */
void veil_bhttp_set_padding(veil_bhttp_msg *m, size_t n);
/* Truncation (RFC 9292 §3.8): the encoder writes the header, content and
 * trailer sections up to the last non-empty one, and at least `n` (0..3, larger
 * values mean 3) of them. Built messages start at 3 (nothing truncated, as in
 * the RFC's examples); 0 drops every trailing empty section. */
void veil_bhttp_set_min_sections(veil_bhttp_msg *m, unsigned n);

/* Wipe everything the message holds and free it. NULL is a no-op. */
void veil_bhttp_msg_free(veil_bhttp_msg *m);

/* ---- reading ------------------------------------------------------------- */

bool veil_bhttp_is_request(const veil_bhttp_msg *m);
/* The framing a decoded message arrived in (built messages: known-length). */
veil_bhttp_framing veil_bhttp_framing_of(const veil_bhttp_msg *m);
/* Request control data; "" for a response. */
const char *veil_bhttp_method(const veil_bhttp_msg *m);
const char *veil_bhttp_scheme(const veil_bhttp_msg *m);
const char *veil_bhttp_authority(const veil_bhttp_msg *m);
const char *veil_bhttp_path(const veil_bhttp_msg *m);
/* Final status of a response; 0 for a request. */
unsigned veil_bhttp_status(const veil_bhttp_msg *m);
size_t veil_bhttp_informational_count(const veil_bhttp_msg *m);
/* Status of informational response i (< count); 0 when out of range. */
unsigned veil_bhttp_informational_status(const veil_bhttp_msg *m, size_t i);
/* Fields of informational response i; empty when out of range. */
veil_bhttp_fields veil_bhttp_informational_fields(const veil_bhttp_msg *m, size_t i);
veil_bhttp_fields veil_bhttp_headers(const veil_bhttp_msg *m);
veil_bhttp_fields veil_bhttp_trailers(const veil_bhttp_msg *m);
/* First header field whose name equals `name` ignoring ASCII case; NULL when
 * absent. */
const veil_bhttp_field *veil_bhttp_header_find(const veil_bhttp_msg *m, const char *name);
/* The content (NULL when empty). */
const uint8_t *veil_bhttp_content(const veil_bhttp_msg *m, size_t *len);
size_t veil_bhttp_padding(const veil_bhttp_msg *m);
/* Decoded messages: how many of header/content/trailer were present (0..3). */
unsigned veil_bhttp_min_sections(const veil_bhttp_msg *m);

/* Same kind, control data, informational responses, header and trailer fields
 * and content. Framing, padding and truncation are representation, not
 * meaning, and are not compared. */
bool veil_bhttp_msg_equal(const veil_bhttp_msg *a, const veil_bhttp_msg *b);

/* ---- encoding ------------------------------------------------------------ */

/* Append the whole message to `out` in the given framing, with minimal
 * varints, content as one chunk, truncation per veil_bhttp_set_min_sections
 * and the padding. */
VEIL_MUST_USE veil_result veil_bhttp_encode(const veil_bhttp_msg *m, veil_bhttp_framing framing,
                                            veil_buf *out);

/* Incremental indeterminate-length encoding, for streaming a message whose
 * content is produced piece by piece:
 *   veil_bhttp_encode_head      framing 2 or 3, control data (with any
 *                               informational responses), header section;
 *                               m's content and trailers are ignored
 *   veil_bhttp_encode_chunk     one content chunk (n == 0 writes nothing: a
 *                               zero-length chunk would end the content)
 *   veil_bhttp_encode_end       content terminator, then the trailer section
 *                               of `trailers` (NULL: empty) and its padding
 * The concatenation is a message veil_bhttp_decode accepts. */
VEIL_MUST_USE veil_result veil_bhttp_encode_head(const veil_bhttp_msg *m, veil_buf *out);
VEIL_MUST_USE veil_result veil_bhttp_encode_chunk(const uint8_t *p, size_t n, veil_buf *out);
VEIL_MUST_USE veil_result veil_bhttp_encode_end(const veil_bhttp_msg *trailers, veil_buf *out);

#ifdef __cplusplus
}
#endif
#endif
