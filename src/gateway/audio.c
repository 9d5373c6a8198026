/* Audio decoding: libsndfile reads the container and codec from memory
 * through a virtual I/O over a bounded cursor, channels are averaged to mono
 * in float, libsoxr resamples to 16 kHz (SOXR_HQ), and the result is rounded
 * to int16. The pipeline streams block by block, so memory is bounded by
 * the output (max_seconds at 16 kHz), never by a header's claims.
 *
 * Integer PCM at 16 kHz comes out bit-exact: libsndfile scales int16 by
 * 2^-15 to float and we scale back by 2^15, both exact. */
#include "gateway/audio_internal.h"

#include <sndfile.h>
#include <soxr.h>
#include <string.h>

#include "veil/mem.h"

#define BLOCK_FRAMES 4096
#define MAX_CHANNELS 16
#define MIN_RATE 4000
#define MAX_RATE 384000

/* ---- libsndfile virtual I/O over a cursor ---------------------------------- */

static sf_count_t vio_len(void *u) { return (sf_count_t)((veil_cursor *)u)->len; }

static sf_count_t vio_seek(sf_count_t off, int whence, void *u)
{
    veil_cursor *c = u;
    sf_count_t base = whence == SEEK_CUR   ? (sf_count_t)c->off
                      : whence == SEEK_END ? (sf_count_t)c->len
                                           : 0;
    if ((off < 0 && -off > base) || (off > 0 && off > (sf_count_t)c->len - base))
        return -1;
    c->off = (size_t)(base + off);
    return (sf_count_t)c->off;
}

static sf_count_t vio_read(void *ptr, sf_count_t count, void *u)
{
    veil_cursor *c = u;
    if (count <= 0)
        return 0;
    size_t n = veil_cursor_remaining(c);
    if ((uint64_t)count < n)
        n = (size_t)count;
    if (!veil_ok(veil_cursor_copy(c, ptr, n)))
        return 0;
    return (sf_count_t)n;
}

static sf_count_t vio_write(const void *ptr, sf_count_t count, void *u) { return 0; }

static sf_count_t vio_tell(void *u) { return (sf_count_t)((veil_cursor *)u)->off; }

/* ---- sample helpers -------------------------------------------------------------- */

static int16_t to_s16(float x)
{
    float y = x * 32768.0f;
    if (!(y == y))
        return 0; /* NaN from a float file */
    if (y >= 32767.0f)
        return 32767;
    if (y <= -32768.0f)
        return -32768;
    return (int16_t)(y >= 0.0f ? y + 0.5f : y - 0.5f);
}

static veil_result append_s16(veil_buf *out, const float *x, size_t n)
{
    int16_t tmp[BLOCK_FRAMES];
    veil_result res = VEIL_OK;
    for (size_t i = 0; i < n && veil_ok(res); i += BLOCK_FRAMES) {
        size_t k = n - i < BLOCK_FRAMES ? n - i : BLOCK_FRAMES;
        for (size_t j = 0; j < k; j++)
            tmp[j] = to_s16(x[i + j]);
        res = veil_buf_append(out, tmp, k * sizeof tmp[0]);
    }
    veil_wipe(tmp, sizeof tmp);
    if (!veil_ok(res) && res.cls == VEIL_E_NOMEM)
        res = VEIL_ERR(VEIL_E_NOMEM, "audio: longer than the configured limit");
    return res;
}

/* Push mono input (NULL, 0 = flush) through the resampler, or straight
 * through at 16 kHz, converting to int16 into out. */
static veil_result emit(soxr_t rs, const float *in, size_t n, float *tmp, size_t tmp_cap,
                        veil_buf *out)
{
    if (!rs)
        return in ? append_s16(out, in, n) : VEIL_OK;
    size_t used = 0;
    for (;;) {
        size_t idone = 0, odone = 0;
        soxr_error_t e = soxr_process(rs, in ? in + used : NULL, in ? n - used : 0, &idone, tmp,
                                      tmp_cap, &odone);
        VEIL_ENSURE(e == NULL, VEIL_E_INTERNAL, "audio: the resampler failed");
        VEIL_ENSURE(!in || used >= n || idone || odone, VEIL_E_INTERNAL,
                    "audio: the resampler stalled");
        used += idone;
        VEIL_GUARD(append_s16(out, tmp, odone));
        if (in ? used >= n && odone < tmp_cap : odone == 0)
            return VEIL_OK;
    }
}

/* ---- decode -------------------------------------------------------------------------- */

static veil_result check_info(const SF_INFO *info, uint64_t max_frames_in)
{
    VEIL_ENSURE(info->channels >= 1 && info->channels <= MAX_CHANNELS, VEIL_E_UNSUPPORTED,
                "audio: more channels than the 16 accepted");
    VEIL_ENSURE(info->samplerate >= MIN_RATE && info->samplerate <= MAX_RATE, VEIL_E_UNSUPPORTED,
                "audio: sample rate outside 4 kHz .. 384 kHz");
    /* A declared length is only a claim (the read loop enforces the limit),
     * but it lets an honest long file fail before any decoding. */
    VEIL_ENSURE(info->frames < 0 || (uint64_t)info->frames <= max_frames_in, VEIL_E_NOMEM,
                "audio: longer than the configured limit");
    return VEIL_OK;
}

veil_result veil_audio_decode(const uint8_t *p, size_t n, unsigned max_seconds, veil_pcm *out)
{
    veil_result res = VEIL_OK;
    SF_VIRTUAL_IO vio = {vio_len, vio_seek, vio_read, vio_write, vio_tell};
    veil_cursor c = veil_cursor_init(p, n);
    SF_INFO info;
    SNDFILE *sf = NULL;
    soxr_t rs = NULL;
    float *frames = NULL, *mono = NULL, *tmp = NULL;
    size_t frames_len = 0, tmp_cap = 0;
    veil_buf pcm;
    /* +1 s of slack for the resampler's edges */
    veil_buf_init(&pcm, ((size_t)max_seconds + 1) * VEIL_AUDIO_RATE * sizeof(int16_t));

    out->s = NULL;
    out->n = 0;
    memset(&info, 0, sizeof info);
    VEIL_ENSURE_GOTO(res, p && n > 0, VEIL_E_PROTOCOL, "audio: the file is empty");
    sf = sf_open_virtual(&vio, SFM_READ, &info, &c);
    VEIL_ENSURE_GOTO(res, sf, VEIL_E_UNSUPPORTED,
                     "audio: not a recognised audio format (WAV, FLAC, Ogg, MP3, AIFF...)");
    uint64_t max_in = (uint64_t)max_seconds * (uint64_t)info.samplerate;
    VEIL_TRY(res, check_info(&info, max_in));
    size_t ch = (size_t)info.channels;

    frames_len = BLOCK_FRAMES * ch;
    frames = veil_calloc(frames_len, sizeof *frames);
    mono = veil_calloc(BLOCK_FRAMES, sizeof *mono);
    VEIL_ENSURE_GOTO(res, frames && mono, VEIL_E_NOMEM, "audio: out of memory");
    if ((unsigned)info.samplerate != VEIL_AUDIO_RATE) {
        soxr_error_t e = NULL;
        soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
        soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
        rs = soxr_create((double)info.samplerate, VEIL_AUDIO_RATE, 1, &e, &io, &q, NULL);
        VEIL_ENSURE_GOTO(res, rs && !e, VEIL_E_INTERNAL, "audio: cannot create the resampler");
        tmp_cap = BLOCK_FRAMES * (VEIL_AUDIO_RATE / MIN_RATE) + 64;
        tmp = veil_calloc(tmp_cap, sizeof *tmp);
        VEIL_ENSURE_GOTO(res, tmp, VEIL_E_NOMEM, "audio: out of memory");
    }

    uint64_t total = 0;
    for (;;) {
        sf_count_t got = sf_readf_float(sf, frames, BLOCK_FRAMES);
        if (got <= 0)
            break;
        total += (uint64_t)got;
        VEIL_ENSURE_GOTO(res, total <= max_in, VEIL_E_NOMEM,
                         "audio: longer than the configured limit");
        for (sf_count_t i = 0; i < got; i++) {
            float sum = 0.0f;
            for (size_t k = 0; k < ch; k++)
                sum += frames[(size_t)i * ch + k];
            mono[i] = sum / (float)ch;
        }
        VEIL_TRY(res, emit(rs, mono, (size_t)got, tmp, tmp_cap, &pcm));
    }
    VEIL_ENSURE_GOTO(res, sf_error(sf) == SF_ERR_NO_ERROR, VEIL_E_PROTOCOL,
                     "audio: the data is corrupt");
    VEIL_TRY(res, emit(rs, NULL, 0, tmp, tmp_cap, &pcm));
    VEIL_ENSURE_GOTO(res, pcm.len >= sizeof(int16_t), VEIL_E_PROTOCOL,
                     "audio: the file holds no samples");
    size_t bytes;
    out->s = (int16_t *)veil_buf_detach(&pcm, &bytes);
    out->n = bytes / sizeof(int16_t);
out:
    if (sf)
        sf_close(sf);
    if (rs)
        soxr_delete(rs);
    veil_free_wiped(frames, frames_len * sizeof *frames);
    veil_free_wiped(mono, BLOCK_FRAMES * sizeof *mono);
    veil_free_wiped(tmp, tmp_cap * sizeof *tmp);
    veil_buf_free(&pcm);
    return res;
}

void veil_pcm_free(veil_pcm *pcm)
{
    if (!pcm)
        return;
    veil_free_wiped(pcm->s, pcm->n * sizeof *pcm->s);
    pcm->s = NULL;
    pcm->n = 0;
}

double veil_pcm_seconds(const veil_pcm *pcm) { return (double)pcm->n / VEIL_AUDIO_RATE; }

/* ---- WAV writer ------------------------------------------------------------------------ */

static veil_result le(veil_buf *b, uint32_t v, size_t n)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return veil_buf_append(b, x, n);
}

veil_result veil_audio_wav(const veil_pcm *pcm, veil_buf *out)
{
    VEIL_ENSURE(pcm->n <= (UINT32_MAX - 36) / 2, VEIL_E_NOMEM, "audio: too long for a WAV file");
    uint32_t data = (uint32_t)(pcm->n * 2);
    VEIL_GUARD(veil_buf_append(out, "RIFF", 4));
    VEIL_GUARD(le(out, 36 + data, 4));
    VEIL_GUARD(veil_buf_append(out, "WAVEfmt ", 8));
    VEIL_GUARD(le(out, 16, 4));                  /* fmt chunk size */
    VEIL_GUARD(le(out, 1, 2));                   /* WAVE_FORMAT_PCM */
    VEIL_GUARD(le(out, 1, 2));                   /* channels */
    VEIL_GUARD(le(out, VEIL_AUDIO_RATE, 4));     /* sample rate */
    VEIL_GUARD(le(out, VEIL_AUDIO_RATE * 2, 4)); /* byte rate */
    VEIL_GUARD(le(out, 2, 2));                   /* block align */
    VEIL_GUARD(le(out, 16, 2));                  /* bits per sample */
    VEIL_GUARD(veil_buf_append(out, "data", 4));
    VEIL_GUARD(le(out, data, 4));
    VEIL_GUARD(veil_buf_reserve(out, data));
    for (size_t i = 0; i < pcm->n; i++)
        VEIL_GUARD(le(out, (uint16_t)pcm->s[i], 2));
    return VEIL_OK;
}
