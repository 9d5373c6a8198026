/* Embedded speech-to-text: pocketsphinx (0.8+5prealpha) with a model loaded
 * once, decoding through a fixed pool of decoders (a decoder is not
 * thread-safe; each request checks one out under a mutex). The only file
 * that includes pocketsphinx is stt_pocketsphinx.c. */
#ifndef VEIL_GATEWAY_STT_INTERNAL_H
#define VEIL_GATEWAY_STT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "veil/result.h"

typedef struct veil_stt veil_stt;

typedef struct veil_stt_config {
    const char *hmm;   /* acoustic model directory */
    const char *lm;    /* language model (.lm.bin or ARPA) */
    const char *dict;  /* pronunciation dictionary */
    unsigned decoders; /* pool size; 0 = 1 */
    unsigned wait_ms;  /* longest wait for a free decoder; 0 = 30 000 */
} veil_stt_config;

/* Load the model into every decoder of the pool. Switches pocketsphinx's
 * process-wide logging off first (it would print transcripts). */
VEIL_MUST_USE veil_result veil_stt_new(const veil_stt_config *cfg, veil_stt **out);
void veil_stt_free(veil_stt *stt);

typedef struct veil_stt_word {
    const char *text;  /* NUL-terminated, inside the result */
    double start, end; /* seconds */
} veil_stt_word;

/* Words [first, first + count) spoken without a pause of PAUSE_SPLIT_S. */
typedef struct veil_stt_segment {
    double start, end;
    size_t first, count;
} veil_stt_segment;

/* User data: every string is wiped by veil_stt_result_free. */
typedef struct veil_stt_result {
    char *text; /* the decoder's hypothesis (words joined by spaces); "" for silence */
    size_t text_len;
    veil_stt_word *words; /* fillers (<s>, <sil>, [NOISE]...) left out */
    size_t n_words;
    veil_stt_segment *segments;
    size_t n_segments;
    char *store; /* the words' text */
    size_t store_len;
    double duration; /* seconds of audio decoded */
} veil_stt_result;

/* Decode one utterance of mono 16 kHz int16 samples. The decoder is reset
 * first (noise and cepstral-mean statistics), so the result depends only on
 * the audio. *busy (may be NULL) is set when no decoder became free within
 * wait_ms (the call then fails with VEIL_E_INTERNAL). */
VEIL_MUST_USE veil_result veil_stt_transcribe(veil_stt *stt, const int16_t *pcm, size_t n,
                                              veil_stt_result *out, bool *busy);
void veil_stt_result_free(veil_stt_result *r);

#endif
