/* examples/transcribe.c: confidential speech-to-text with the veil client
 * library, using only include/veil/client.h.
 *
 *   transcribe GATEWAY_URL RELAY_URL POLICY.json AUDIO.wav
 *
 * Verifies the gateway's attestation against the policy (the measurement and
 * roots you accept), refuses to send anything if that fails, then sends the
 * audio encrypted to the attested key through the relay and prints the
 * transcript (the JSON the OpenAI-compatible endpoint returns). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veil/client.h"

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *p = NULL;
    long n;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < (64L << 20) &&
        fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)n + 1)) != NULL &&
        fread(p, 1, (size_t)n, f) == (size_t)n) {
        p[n] = 0;
        *len = (size_t)n;
    } else {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s GATEWAY_URL RELAY_URL POLICY.json AUDIO.wav\n", argv[0]);
        return 2;
    }
    size_t policy_len = 0, audio_len = 0;
    unsigned char *policy = slurp(argv[3], &policy_len);
    unsigned char *audio = slurp(argv[4], &audio_len);
    veil_client *c = NULL;
    veil_client_report report;
    veil_bhttp_msg *resp = NULL;
    veil_buf text = {0};
    int rc = 1;
    if (!policy || !audio) {
        fprintf(stderr, "cannot read %s or %s\n", argv[3], argv[4]);
        goto out;
    }

    veil_client_opts opts = {.gateway_url = argv[1],
                             .relay_url = argv[2],
                             .policy_json = (const char *)policy,
                             .policy_len = policy_len};
    veil_result r = veil_client_new(&opts, &c);
    if (!veil_ok(r)) {
        fprintf(stderr, "client: %s\n", r.msg);
        goto out;
    }

    /* 1. Verify: fresh nonce, evidence, the policy, the key binding. */
    r = veil_client_verify(c, &report);
    if (veil_ok(veil_client_report_text(&report, &text)))
        fprintf(stderr, "%.*s", (int)text.len, (const char *)text.data);
    if (!veil_ok(r)) {
        fprintf(stderr, "refusing to send the audio: %s\n", r.msg);
        goto out;
    }

    /* 2. Send the audio, encrypted to the attested key, through the relay. */
    veil_client_transcription t = {.audio = audio, .audio_len = audio_len, .filename = argv[4]};
    r = veil_client_transcribe(c, &t, &resp);
    if (!veil_ok(r)) {
        fprintf(stderr, "transcription failed: %s\n", r.msg);
        goto out;
    }
    size_t n = 0;
    const uint8_t *body = veil_bhttp_content(resp, &n);
    printf("HTTP %u: %.*s\n", veil_bhttp_status(resp), (int)n, body ? (const char *)body : "");
    rc = veil_bhttp_status(resp) == 200 ? 0 : 1;
out:
    veil_buf_free(&text);
    veil_bhttp_msg_free(resp);
    veil_client_free(c);
    free(policy);
    free(audio);
    return rc;
}
