/* Audio decoding for speech-to-text: any container/codec libsndfile reads
 * (WAV of any rate, channel count and sample format, FLAC, Ogg Vorbis/Opus,
 * MP3, AIFF...) from memory, to mono 16 kHz signed 16-bit PCM, resampled with
 * libsoxr at high quality. The only file that includes libsndfile or soxr. */
#ifndef VEIL_GATEWAY_AUDIO_INTERNAL_H
#define VEIL_GATEWAY_AUDIO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "veil/cursor.h"
#include "veil/result.h"

#define VEIL_AUDIO_RATE 16000u

/* Mono VEIL_AUDIO_RATE samples; user data, wiped when freed. */
typedef struct veil_pcm {
    int16_t *s;
    size_t n;
} veil_pcm;

/* Decode p[0..n). Errors (messages start "audio: "):
 *   VEIL_E_UNSUPPORTED  not audio libsndfile recognises, or a rate/channel
 *                       count outside what is accepted (the app's 415)
 *   VEIL_E_NOMEM        longer than max_seconds (the app's 413)
 *   VEIL_E_PROTOCOL     recognised but corrupt, or no samples (400)
 *   VEIL_E_INTERNAL     the resampler failed
 * On failure out is empty. */
VEIL_MUST_USE veil_result veil_audio_decode(const uint8_t *p, size_t n, unsigned max_seconds,
                                            veil_pcm *out);
void veil_pcm_free(veil_pcm *pcm);

/* Seconds of audio in pcm. */
double veil_pcm_seconds(const veil_pcm *pcm);

/* Append pcm as a canonical 44-byte-header RIFF/WAVE file (PCM, 16-bit,
 * mono, VEIL_AUDIO_RATE), e.g. for an upstream that wants WAV. */
VEIL_MUST_USE veil_result veil_audio_wav(const veil_pcm *pcm, veil_buf *out);

#endif
