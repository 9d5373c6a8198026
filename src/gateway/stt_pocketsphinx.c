/* Embedded speech-to-text with pocketsphinx 0.8+5prealpha.
 *
 * The model is loaded once per decoder of a fixed pool at start; a request
 * checks a decoder out (mutex + condition variable, bounded wait), decodes
 * the whole utterance in one call (full_utt: batch cepstral mean
 * normalisation over the utterance, as feat.params asks), and returns it.
 *
 * Reset before each request: a decoder keeps noise statistics and a
 * cepstral mean from the audio it last heard. Left alone they make one
 * user's result depend on the previous user's audio (measured: the same
 * file scores differently after another one), which is both a privacy leak
 * and non-determinism. ps_start_stream resets the noise statistics; the CMN
 * vector is restored to the model's initial value (feat.params -cmninit).
 *
 * Logging: pocketsphinx logs the hypothesis at INFO level. The error
 * callback is replaced by one that drops everything and the log stream is
 * disabled, process-wide, before any configuration is parsed (parsing
 * prints the configuration). No -rawlogdir/-mfclogdir/-senlogdir is set, so
 * nothing is written to disk. */
#include "gateway/stt_internal.h"

#include <pocketsphinx.h>
#include <pthread.h>
#include <sphinxbase/cmn.h>
#include <sphinxbase/err.h>
#include <sphinxbase/feat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "veil/cursor.h"
#include "veil/mem.h"

#define PAUSE_SPLIT_S 0.5  /* a pause this long starts a new segment */
#define SEGMENT_MAX_S 30.0 /* and so does a segment this long (as Whisper's) */
#define DEFAULT_WAIT_MS 30000u

typedef struct decoder {
    cmd_ln_t *config;
    ps_decoder_t *ps;
    mfcc_t *cmn0; /* the model's initial cepstral mean */
    int32 veclen;
    bool busy;
} decoder;

struct veil_stt {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool sync_ready;
    decoder *d;
    unsigned n;
    unsigned wait_ms;
    double frate; /* frames per second */
};

/* ---- logging off --------------------------------------------------------------- */

static void drop_log(void *user_data, err_lvl_t level, const char *fmt, ...)
{
    (void)user_data;
    (void)level;
    (void)fmt;
}

static void quiet_once(void)
{
    err_set_callback(drop_log, NULL);
    err_set_logfp(NULL); /* NULL disables the stream, stderr included */
}

static pthread_once_t quiet_ctl = PTHREAD_ONCE_INIT;

/* ---- pool ------------------------------------------------------------------------- */

static veil_result readable(const char *path, const char *msg)
{
    VEIL_ENSURE(path && access(path, R_OK) == 0, VEIL_E_USAGE, msg);
    return VEIL_OK;
}

static veil_result decoder_load(const veil_stt_config *cfg, decoder *d)
{
    d->config = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", cfg->hmm, "-lm", cfg->lm, "-dict",
                            cfg->dict, NULL);
    VEIL_ENSURE(d->config, VEIL_E_INTERNAL, "stt: pocketsphinx rejected its configuration");
    d->ps = ps_init(d->config);
    VEIL_ENSURE(d->ps, VEIL_E_INTERNAL,
                "stt: pocketsphinx could not load the model (acoustic model, language model "
                "or dictionary malformed?)");
    feat_t *f = ps_get_feat(d->ps);
    if (f && f->cmn_struct) {
        d->veclen = f->cmn_struct->veclen;
        d->cmn0 = veil_calloc((size_t)d->veclen, sizeof *d->cmn0);
        VEIL_ENSURE(d->cmn0, VEIL_E_NOMEM, "stt: out of memory");
        cmn_live_get(f->cmn_struct, d->cmn0);
    }
    return VEIL_OK;
}

static void decoder_unload(decoder *d)
{
    if (d->ps)
        ps_free(d->ps);
    if (d->config)
        cmd_ln_free_r(d->config);
    veil_free(d->cmn0);
    memset(d, 0, sizeof *d);
}

veil_result veil_stt_new(const veil_stt_config *cfg, veil_stt **out)
{
    veil_result res = VEIL_OK;
    veil_stt *s = NULL;
    *out = NULL;
    pthread_once(&quiet_ctl, quiet_once);
    VEIL_TRY(res, readable(cfg->hmm, "stt: cannot read the acoustic model directory (hmm)"));
    VEIL_TRY(res, readable(cfg->lm, "stt: cannot read the language model file (lm)"));
    VEIL_TRY(res, readable(cfg->dict, "stt: cannot read the dictionary file (dict)"));
    s = veil_calloc(1, sizeof *s);
    VEIL_ENSURE_GOTO(res, s, VEIL_E_NOMEM, "stt: out of memory");
    s->n = cfg->decoders ? cfg->decoders : 1;
    s->wait_ms = cfg->wait_ms ? cfg->wait_ms : DEFAULT_WAIT_MS;
    VEIL_ENSURE_GOTO(res, s->n <= 64, VEIL_E_USAGE, "stt: more than 64 decoders");
    pthread_condattr_t ca;
    VEIL_ENSURE_GOTO(res, pthread_condattr_init(&ca) == 0, VEIL_E_INTERNAL, "stt: condattr");
    bool cond_ok =
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&s->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    VEIL_ENSURE_GOTO(res, cond_ok, VEIL_E_INTERNAL, "stt: cannot create a condition variable");
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        pthread_cond_destroy(&s->cv);
        VEIL_ENSURE_GOTO(res, false, VEIL_E_INTERNAL, "stt: cannot create a mutex");
    }
    s->sync_ready = true;
    s->d = veil_calloc(s->n, sizeof *s->d);
    VEIL_ENSURE_GOTO(res, s->d, VEIL_E_NOMEM, "stt: out of memory");
    for (unsigned i = 0; i < s->n; i++)
        VEIL_TRY(res, decoder_load(cfg, &s->d[i]));
    s->frate = (double)cmd_ln_int32_r(s->d[0].config, "-frate");
    VEIL_ENSURE_GOTO(res, s->frate > 0, VEIL_E_INTERNAL, "stt: model has no frame rate");
    *out = s;
    s = NULL;
out:
    veil_stt_free(s);
    return res;
}

void veil_stt_free(veil_stt *s)
{
    if (!s)
        return;
    for (unsigned i = 0; s->d && i < s->n; i++)
        decoder_unload(&s->d[i]);
    veil_free(s->d);
    if (s->sync_ready) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
    }
    veil_free(s);
}

static decoder *acquire(veil_stt *s)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += s->wait_ms / 1000;
    deadline.tv_nsec += (long)(s->wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    decoder *d = NULL;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        for (unsigned i = 0; i < s->n && !d; i++)
            if (!s->d[i].busy)
                d = &s->d[i];
        if (d || pthread_cond_timedwait(&s->cv, &s->mu, &deadline) != 0)
            break;
    }
    if (!d) /* timed out: one last look */
        for (unsigned i = 0; i < s->n && !d; i++)
            if (!s->d[i].busy)
                d = &s->d[i];
    if (d)
        d->busy = true;
    pthread_mutex_unlock(&s->mu);
    return d;
}

static void release(veil_stt *s, decoder *d)
{
    pthread_mutex_lock(&s->mu);
    d->busy = false;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- one utterance ------------------------------------------------------------------- */

/* Fillers (<s>, </s>, <sil>, [NOISE], ++GARBAGE++) are not words. */
static bool is_filler(const char *w) { return w[0] == '<' || w[0] == '[' || w[0] == '+'; }

/* "been(2)" names the second pronunciation of "been". */
static size_t base_len(const char *w)
{
    size_t n = strlen(w);
    if (n > 2 && w[n - 1] == ')') {
        size_t i = n - 1;
        while (i > 0 && w[i - 1] >= '0' && w[i - 1] <= '9')
            i--;
        if (i > 1 && i < n - 1 && w[i - 1] == '(')
            return i - 1;
    }
    return n;
}

static veil_result collect_words(ps_decoder_t *ps, double frate, veil_stt_result *r)
{
    veil_result res = VEIL_OK;
    veil_buf store, words;
    veil_buf_init(&store, 0);
    veil_buf_init(&words, 0);
    for (ps_seg_t *seg = ps_seg_iter(ps); seg; seg = ps_seg_next(seg)) {
        const char *w = ps_seg_word(seg);
        if (!w || is_filler(w))
            continue;
        int sf = 0, ef = 0;
        ps_seg_frames(seg, &sf, &ef);
        /* text holds the word's offset in store until the store stops moving */
        veil_stt_word word = {(const char *)(uintptr_t)store.len, sf / frate, (ef + 1) / frate};
        res = veil_buf_append(&store, w, base_len(w));
        if (veil_ok(res))
            res = veil_buf_u8(&store, 0);
        if (veil_ok(res))
            res = veil_buf_append(&words, &word, sizeof word);
        if (!veil_ok(res)) {
            ps_seg_free(seg);
            goto out;
        }
    }
    r->n_words = words.len / sizeof(veil_stt_word);
    r->words = (veil_stt_word *)veil_buf_detach(&words, &(size_t){0});
    r->store = (char *)veil_buf_detach(&store, &r->store_len);
    for (size_t i = 0; i < r->n_words; i++)
        r->words[i].text = r->store + (uintptr_t)r->words[i].text;
out:
    veil_buf_free(&store);
    veil_buf_free(&words);
    return res;
}

static veil_result segment(veil_stt_result *r)
{
    if (r->n_words == 0)
        return VEIL_OK;
    r->segments = veil_calloc(r->n_words, sizeof *r->segments); /* at most one per word */
    VEIL_ENSURE(r->segments, VEIL_E_NOMEM, "stt: out of memory");
    veil_stt_segment *cur = NULL;
    for (size_t i = 0; i < r->n_words; i++) {
        const veil_stt_word *w = &r->words[i];
        if (!cur || w->start - cur->end >= PAUSE_SPLIT_S || w->end - cur->start > SEGMENT_MAX_S) {
            cur = &r->segments[r->n_segments++];
            cur->start = w->start;
            cur->first = i;
        }
        cur->end = w->end;
        cur->count++;
    }
    return VEIL_OK;
}

static veil_result decode(decoder *d, double frate, const int16_t *pcm, size_t n,
                          veil_stt_result *r)
{
    ps_decoder_t *ps = d->ps;
    VEIL_ENSURE(ps_start_stream(ps) >= 0, VEIL_E_INTERNAL, "stt: cannot reset the decoder");
    if (d->cmn0)
        cmn_live_set(ps_get_feat(ps)->cmn_struct, d->cmn0);
    VEIL_ENSURE(ps_start_utt(ps) >= 0, VEIL_E_INTERNAL, "stt: cannot start an utterance");
    int nfr = ps_process_raw(ps, pcm, n, FALSE, TRUE);
    int end = ps_end_utt(ps);
    VEIL_ENSURE(nfr >= 0 && end >= 0, VEIL_E_INTERNAL, "stt: decoding failed");
    int32 score = 0;
    const char *hyp = ps_get_hyp(ps, &score);
    if (!hyp)
        hyp = "";
    r->text_len = strlen(hyp);
    r->text = veil_calloc(r->text_len + 1, 1);
    VEIL_ENSURE(r->text, VEIL_E_NOMEM, "stt: out of memory");
    memcpy(r->text, hyp, r->text_len);
    VEIL_GUARD(collect_words(ps, frate, r));
    return segment(r);
}

veil_result veil_stt_transcribe(veil_stt *s, const int16_t *pcm, size_t n, veil_stt_result *out,
                                bool *busy)
{
    veil_result res = VEIL_OK;
    decoder *d = NULL;
    memset(out, 0, sizeof *out);
    if (busy)
        *busy = false;
    VEIL_ENSURE_GOTO(res, s && pcm && n > 0, VEIL_E_USAGE, "stt: no audio to decode");
    d = acquire(s);
    if (!d && busy)
        *busy = true;
    VEIL_ENSURE_GOTO(res, d, VEIL_E_INTERNAL, "stt: every speech decoder is busy");
    out->duration = (double)n / 16000.0;
    VEIL_TRY(res, decode(d, s->frate, pcm, n, out));
out:
    if (d)
        release(s, d);
    if (!veil_ok(res))
        veil_stt_result_free(out);
    return res;
}

void veil_stt_result_free(veil_stt_result *r)
{
    if (!r)
        return;
    if (r->text)
        veil_free_wiped(r->text, r->text_len + 1);
    veil_free_wiped(r->words, r->n_words * sizeof *r->words);
    veil_free_wiped(r->segments, r->n_words * sizeof *r->segments);
    veil_free_wiped(r->store, r->store_len);
    memset(r, 0, sizeof *r);
}
