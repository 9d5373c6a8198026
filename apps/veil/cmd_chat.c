/* veil chat: one chat completion through the verified, encrypted path.
 *
 *   veil chat "PROMPT" --relay URL --gateway URL [--policy FILE] [--model M]
 *             [--stream] [--json]
 *
 * With --stream the request and response travel as chunked OHTTP and every
 * server-sent event is decrypted and printed the moment it arrives. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/json_util.h"
#include "veil/app.h"
#include "veil/client.h"
#include "veil/mem.h"

#define MAX_SSE_EVENT ((size_t)1 << 20)

static int usage(FILE *f, int code)
{
    fprintf(f, "usage: veil chat PROMPT --relay URL (--gateway URL | --kms URL --ledger-key F)\n"
               "                 [--policy FILE] [--model M]\n"
               "                 [--stream] [--json]\n"
               "\n"
               "Verifies the gateway (as veil transcribe does), then asks the model. --stream\n"
               "prints tokens as they arrive (chunked OHTTP, server-sent events). Without\n"
               "--model the gateway's first chat model is used (GET /v1/models, encrypted).\n"
               "\n" CLI_CLIENT_KMS_USAGE
               "Exit: 0 ok, 1 refused or an error answer, 2 usage, 3 protocol failure.\n");
    return code;
}

/* Server-sent events, re-assembled from decrypted pieces; prints each
 * delta's content as soon as its event is complete. */
struct sse {
    veil_buf pending;
    bool done, as_json;
    unsigned status;
    veil_buf all; /* the whole text, for --json and errors */
};

/* Keep text for the summary; past the buffer's limit it is cut, not fatal. */
static void text_add(veil_buf *b, const void *p, size_t n)
{
    veil_result r = veil_buf_append(b, p, n);
    (void)r;
}

static int sse_head(void *ctx, const veil_bhttp_msg *head)
{
    ((struct sse *)ctx)->status = veil_bhttp_status(head);
    return 0;
}

static void sse_event(struct sse *s, const char *ev, size_t n)
{
    for (size_t i = 0; i < n;) { /* each "data:" line */
        size_t e = i;
        while (e < n && ev[e] != '\n')
            e++;
        if (e - i > 5 && !strncmp(ev + i, "data:", 5)) {
            const char *d = ev + i + 5;
            size_t dl = e - i - 5;
            while (dl && *d == ' ')
                d++, dl--;
            if (dl == 6 && !strncmp(d, "[DONE]", 6)) {
                s->done = true;
            } else {
                json_t *j = json_loadb(d, dl, 0, NULL);
                json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
                const char *t =
                    json_string_value(json_object_get(json_object_get(c0, "delta"), "content"));
                if (t) {
                    if (!s->as_json) {
                        fputs(t, stdout);
                        fflush(stdout);
                    }
                    text_add(&s->all, t, strlen(t));
                }
                json_decref(j);
            }
        }
        i = e + 1;
    }
}

static int sse_data(void *ctx, const uint8_t *p, size_t n)
{
    struct sse *s = ctx;
    if (s->status != 200) /* an error body: kept whole */
        return veil_ok(veil_buf_append(&s->all, p, n)) ? 0 : 1;
    if (!veil_ok(veil_buf_append(&s->pending, p, n)))
        return 1;
    for (int guard = 0; guard < 100000; guard++) {
        const uint8_t *end = NULL;
        for (size_t i = 0; i + 1 < s->pending.len; i++)
            if (s->pending.data[i] == '\n' && s->pending.data[i + 1] == '\n') {
                end = s->pending.data + i;
                break;
            }
        if (!end)
            break;
        size_t len = (size_t)(end - s->pending.data);
        sse_event(s, (const char *)s->pending.data, len);
        memmove(s->pending.data, end + 2, s->pending.len - len - 2);
        s->pending.len -= len + 2;
    }
    return 0;
}

/* The first model that is not a speech-to-text one. */
static int pick_model(veil_client *c, char *out, size_t cap)
{
    veil_bhttp_msg *req = NULL, *resp = NULL;
    int rc = VEIL_EXIT_FAILED;
    veil_result r = veil_client_build_request(c, "GET", "/v1/models", NULL, NULL, 0, &req);
    if (veil_ok(r))
        r = veil_client_request(c, req, &resp);
    if (!veil_ok(r)) {
        cli_error("chat: models", r);
        rc = cli_exit_for(r);
        goto out;
    }
    size_t n = 0;
    const uint8_t *p = veil_bhttp_content(resp, &n);
    json_t *j = p ? json_loadb((const char *)p, n, 0, NULL) : NULL;
    json_t *data = json_object_get(j, "data");
    for (size_t i = 0; i < json_array_size(data); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(data, i), "id"));
        if (id && strcmp(id, VEIL_APP_STT_MODEL) && strcmp(id, VEIL_APP_WHISPER_ALIAS)) {
            snprintf(out, cap, "%s", id);
            rc = VEIL_EXIT_OK;
            break;
        }
    }
    json_decref(j);
    if (rc)
        fprintf(stderr, "veil chat: the gateway offers no chat model; name one with --model\n");
out:
    veil_bhttp_msg_free(req);
    veil_bhttp_msg_free(resp);
    return rc;
}

int cmd_chat(int argc, char **argv)
{
    static const struct option opts[] = {{"relay", required_argument, NULL, 'r'},
                                         {"gateway", required_argument, NULL, 'g'},
                                         {"policy", required_argument, NULL, 'p'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"stream", no_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         CLI_CLIENT_KMS_OPTIONS,
                                         {NULL, 0, NULL, 0}};
    struct cli_client_args ca = {0};
    const char *model = NULL;
    bool stream = false, as_json = false;
    char picked[128];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r': ca.relay = optarg; break;
        case 'g': ca.gateway = optarg; break;
        case 'p': ca.policy_path = optarg; break;
        case 'm': model = optarg; break;
        case 's': stream = true; break;
        case 'j': as_json = true; break;
        case 'h': return usage(stdout, VEIL_EXIT_OK);
        default:
            if (!cli_client_kms_opt(c, optarg, &ca))
                return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (optind + 1 != argc || !ca.relay || !(ca.gateway || ca.kms)) {
        fprintf(stderr, "veil chat: need PROMPT, --relay URL and --gateway URL (or --kms)\n");
        return usage(stderr, VEIL_EXIT_USAGE);
    }
    veil_client *cl = NULL;
    veil_client_report *rep = veil_calloc(1, sizeof *rep);
    veil_bhttp_msg *req = NULL, *resp = NULL;
    char *body = NULL;
    json_t *j = NULL;
    struct sse s = {.as_json = as_json};
    veil_buf_init(&s.pending, MAX_SSE_EVENT);
    veil_buf_init(&s.all, 0);
    int rc = rep ? cli_client_open_args(&ca, as_json, &cl, rep) : VEIL_EXIT_INTERNAL;
    if (rc)
        goto out;
    if (!model) {
        if ((rc = pick_model(cl, picked, sizeof picked)) != 0)
            goto out;
        model = picked;
    }
    j = json_pack("{s:s,s:[{s:s,s:s}],s:b}", "model", model, "messages", "role", "user", "content",
                  argv[optind], "stream", stream);
    body = j ? veil_json_dump(j) : NULL;
    veil_result r = body ? veil_client_build_request(cl, "POST", "/v1/chat/completions",
                                                     "application/json", body, strlen(body), &req)
                         : VEIL_ERR(VEIL_E_NOMEM, "out of memory");
    if (veil_ok(r) && stream) {
        veil_client_sink sink = {sse_head, sse_data, &s};
        r = veil_client_request_stream(cl, req, &sink);
        if (!as_json && s.status == 200)
            printf("\n");
    } else if (veil_ok(r)) {
        r = veil_client_request(cl, req, &resp);
        if (veil_ok(r)) {
            size_t n = 0;
            const uint8_t *p = veil_bhttp_content(resp, &n);
            s.status = veil_bhttp_status(resp);
            json_t *a = p ? json_loadb((const char *)p, n, 0, NULL) : NULL;
            json_t *c0 = json_array_get(json_object_get(a, "choices"), 0);
            const char *t =
                json_string_value(json_object_get(json_object_get(c0, "message"), "content"));
            if (s.status == 200 && t)
                text_add(&s.all, t, strlen(t));
            else if (p)
                text_add(&s.all, p, n);
            if (!as_json && s.status == 200)
                printf("%s\n", t ? t : "");
            json_decref(a);
        }
    }
    if (!veil_ok(r)) {
        cli_error("chat", r);
        rc = VEIL_EXIT_INPUT;
        goto out;
    }
    if (s.status != 200 && !as_json)
        fprintf(stderr, "veil chat: the gateway answered %u: %.*s\n", s.status, (int)s.all.len,
                (const char *)s.all.data);
    if (as_json) {
        json_t *o = json_pack("{s:i,s:s,s:s%}", "status", (int)s.status, "model", model,
                              s.status == 200 ? "content" : "error",
                              s.all.data ? (const char *)s.all.data : "", s.all.len);
        if (o) {
            json_dumpf(o, stdout, JSON_INDENT(2));
            printf("\n");
        }
        json_decref(o);
    }
    rc = s.status == 200 ? VEIL_EXIT_OK : VEIL_EXIT_FAILED;
out:
    cli_progress_done();
    json_decref(j);
    veil_free_wiped(body, body ? strlen(body) : 0);
    veil_bhttp_msg_free(req);
    veil_bhttp_msg_free(resp);
    veil_buf_free(&s.pending);
    veil_buf_free(&s.all);
    veil_client_free(cl);
    veil_free(rep);
    return rc;
}
