/* Speech-to-text benchmark: pocketsphinx decoding the 7-second LibriVox
 * sample of pocketsphinx-testdata in-process (model already loaded, samples
 * already in memory), beside the same audio sent through veil_app_handle as
 * a multipart/form-data WAV upload (form parsing, audio decoding, decoder
 * checkout and reset, JSON response), so the app's overhead shows as a
 * ratio. The two sides alternate run by run; each reports its median and
 * best, in wall time and in this thread's CPU time (steadier on a shared
 * machine). The texts must agree, or the benchmark fails.
 *
 * usage: stt [--runs N] [--max-seconds S] [--file WAV] [--json]
 *   --runs         runs per side (default 5, at most 100)
 *   --max-seconds  stop starting new runs after this long (default 120)
 *   --file         a 16 kHz mono 16-bit WAV (default: the LibriVox sample) */
#include <pocketsphinx.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/audio_internal.h"
#include "veil/app.h"
#include "veil/bhttp.h"
#include "veil/mem.h"

#define DEFAULT_FILE                                                                               \
    "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav"
#define BOUNDARY "veil-bench-boundary"
#define MAX_RUNS 100

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this thread: the app decodes on the caller's thread, so this
 * counts all its work and none of the waiting when the machine is busy. */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- the direct side ---------------------------------------------------------------- */

static char *direct(ps_decoder_t *ps, const int16_t *s, size_t n)
{
    int32 score;
    if (ps_start_stream(ps) < 0 || ps_start_utt(ps) < 0 ||
        ps_process_raw(ps, s, n, FALSE, TRUE) < 0 || ps_end_utt(ps) < 0)
        return NULL;
    const char *h = ps_get_hyp(ps, &score);
    return strdup(h ? h : "");
}

/* ---- the app side ---------------------------------------------------------------------- */

typedef struct sink {
    unsigned status;
    veil_buf body;
} sink;

static veil_result s_head(void *arg, unsigned status, const veil_app_header *h, size_t n)
{
    ((sink *)arg)->status = status;
    return VEIL_OK;
}

static veil_result s_body(void *arg, const uint8_t *p, size_t n)
{
    return veil_buf_append(&((sink *)arg)->body, p, n);
}

static veil_result s_end(void *arg) { return veil_buf_u8(&((sink *)arg)->body, 0); }

static veil_bhttp_msg *upload(const uint8_t *wav, size_t len)
{
    veil_buf b;
    veil_bhttp_msg *m = NULL;
    static const char head[] = "--" BOUNDARY "\r\nContent-Disposition: form-data; name=\"file\"; "
                               "filename=\"sample.wav\"\r\nContent-Type: audio/wav\r\n\r\n";
    static const char tail[] = "\r\n--" BOUNDARY "\r\nContent-Disposition: form-data; "
                               "name=\"model\"\r\n\r\nwhisper-1\r\n--" BOUNDARY "--\r\n";
    static const char ct[] = "multipart/form-data; boundary=" BOUNDARY;
    veil_buf_init(&b, 0);
    if (!veil_ok(veil_buf_append(&b, head, sizeof head - 1)) ||
        !veil_ok(veil_buf_append(&b, wav, len)) ||
        !veil_ok(veil_buf_append(&b, tail, sizeof tail - 1)) ||
        !veil_ok(
            veil_bhttp_request_new("POST", "https", "gateway", "/v1/audio/transcriptions", &m)) ||
        !veil_ok(veil_bhttp_add_header(m, "content-type", 12, ct, sizeof ct - 1)) ||
        !veil_ok(veil_bhttp_set_content(m, b.data, b.len))) {
        veil_bhttp_msg_free(m);
        m = NULL;
    }
    veil_buf_free(&b);
    return m;
}

/* The "text" of {"text":"..."} (no escapes in pocketsphinx output). */
static char *via_app(veil_app *app, const veil_bhttp_msg *rq)
{
    sink s = {0};
    veil_buf_init(&s.body, 0);
    veil_app_writer w = {s_head, s_body, s_end, &s};
    char *out = NULL;
    if (veil_ok(veil_app_handle(app, rq, &w)) && s.status == 200) {
        const char *t = strstr((const char *)s.body.data, "\"text\":\"");
        const char *e = t ? strchr(t + 8, '"') : NULL;
        if (e)
            out = strndup(t + 8, (size_t)(e - t - 8));
    }
    veil_buf_free(&s.body);
    return out;
}

/* ---- main ---------------------------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: stt [--runs N] [--max-seconds S] [--file WAV] [--json]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = DEFAULT_FILE;
    int runs = 5, as_json = 0;
    double max_s = 120;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--max-seconds") && i + 1 < argc)
            max_s = atof(argv[++i]);
        else if (!strcmp(argv[i], "--file") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            as_json = 1;
        else
            return usage();
    }
    if (runs < 1 || runs > MAX_RUNS || max_s <= 0)
        return usage();

    /* the inputs, in memory */
    FILE *f = fopen(path, "rb");
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!f || !sf || info.samplerate != 16000 || info.channels != 1) {
        fprintf(stderr, "stt: %s is not a readable 16 kHz mono WAV (pocketsphinx-testdata?)\n",
                path);
        return 3;
    }
    size_t n = (size_t)info.frames;
    int16_t *samples = veil_calloc(n, sizeof *samples);
    sf_read_short(sf, samples, info.frames);
    sf_close(sf);
    fseek(f, 0, SEEK_END);
    size_t wav_len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *wav = veil_calloc(wav_len, 1);
    if (fread(wav, 1, wav_len, f) != wav_len)
        return 3;
    fclose(f);
    double audio_s = (double)n / 16000.0;

    /* both engines loaded before timing */
    double t0 = now_s();
    veil_app *app = NULL;
    veil_app_config cfg = {0};
    veil_result r = veil_app_new(&cfg, &app);
    double load_app = now_s() - t0;
    if (!veil_ok(r)) {
        fprintf(stderr, "stt: veil_app_new: %s\n", r.msg);
        return 4;
    }
    t0 = now_s();
    cmd_ln_t *pc = cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", VEIL_APP_PS_HMM, "-lm",
                               VEIL_APP_PS_LM, "-dict", VEIL_APP_PS_DICT, NULL);
    ps_decoder_t *ps = pc ? ps_init(pc) : NULL;
    double load_ps = now_s() - t0;
    veil_bhttp_msg *rq = upload(wav, wav_len);
    if (!ps || !rq)
        return 4;

    double td[MAX_RUNS], ta[MAX_RUNS], tdec[MAX_RUNS], cd[MAX_RUNS], ca[MAX_RUNS];
    int done = 0, rc = 0;
    double start = now_s();
    char *first = NULL;
    for (; done < runs && (done == 0 || now_s() - start < max_s); done++) {
        double c0 = cpu_s();
        t0 = now_s();
        char *d = direct(ps, samples, n);
        td[done] = now_s() - t0;
        cd[done] = cpu_s() - c0;
        c0 = cpu_s();
        t0 = now_s();
        char *a = via_app(app, rq);
        ta[done] = now_s() - t0;
        ca[done] = cpu_s() - c0;
        veil_pcm pcm;
        t0 = now_s();
        veil_result dr = veil_audio_decode(wav, wav_len, 600, &pcm);
        tdec[done] = now_s() - t0;
        veil_pcm_free(&pcm);
        if (!d || !a || !veil_ok(dr) || strcmp(d, a) != 0 || (first && strcmp(first, d) != 0)) {
            fprintf(stderr, "stt: results differ (direct \"%s\", app \"%s\")\n", d ? d : "?",
                    a ? a : "?");
            rc = 1;
        }
        if (!first)
            first = strdup(d ? d : "");
        free(d);
        free(a);
    }
    double best_d = td[0], best_a = ta[0];
    for (int i = 1; i < done; i++) {
        best_d = td[i] < best_d ? td[i] : best_d;
        best_a = ta[i] < best_a ? ta[i] : best_a;
    }
    double md = median(td, (size_t)done), ma = median(ta, (size_t)done);
    double mdec = median(tdec, (size_t)done);
    double mcd = median(cd, (size_t)done), mca = median(ca, (size_t)done);
    if (as_json)
        printf("{\"bench\":\"stt\",\"audio_s\":%.3f,\"runs\":%d,\"direct_median_s\":%.4f,"
               "\"app_median_s\":%.4f,\"ratio\":%.4f,\"direct_best_s\":%.4f,\"app_best_s\":%.4f,"
               "\"direct_cpu_median_s\":%.4f,\"app_cpu_median_s\":%.4f,\"cpu_ratio\":%.4f,"
               "\"audio_decode_median_ms\":%.3f,\"rtf_direct\":%.4f,\"load_app_s\":%.3f,"
               "\"load_ps_s\":%.3f,\"text\":\"%s\"}\n",
               audio_s, done, md, ma, ma / md, best_d, best_a, mcd, mca, mca / mcd, mdec * 1e3,
               mcd / audio_s, load_app, load_ps, first ? first : "");
    else
        printf("stt: %.2f s of audio, %d runs each, model loaded (app %.2f s, direct %.2f s)\n"
               "                         wall: median    best   | thread CPU: median\n"
               "  pocketsphinx direct    %9.1f ms %9.1f ms | %9.1f ms (%.3f x real time)\n"
               "  veil_app_handle        %9.1f ms %9.1f ms | %9.1f ms\n"
               "  app / direct           %9.3f    %9.3f    | %9.3f\n"
               "  audio decode alone (WAV, in the app's time): %.2f ms median\n"
               "  text: %s\n",
               audio_s, done, load_app, load_ps, md * 1e3, best_d * 1e3, mcd * 1e3, mcd / audio_s,
               ma * 1e3, best_a * 1e3, mca * 1e3, ma / md, best_a / best_d, mca / mcd, mdec * 1e3,
               first ? first : "");
    free(first);
    veil_bhttp_msg_free(rq);
    ps_free(ps);
    cmd_ln_free_r(pc);
    veil_app_free(app);
    veil_free(samples);
    veil_free_wiped(wav, wav_len);
    return rc;
}
