/* veil sanitize --policy FILE [--json] < text
 *
 * Shows what a sanitize policy (docs/sanitize.md) does to a text, for people
 * writing policies: the sanitized text on stdout and, with --json, one JSON
 * object with the text and the findings (detector, byte offsets, action,
 * placeholder). The values found are never printed. Exit 1 when the policy
 * blocks the text. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "common/json_util.h"
#include "veil/mem.h"
#include "veil/sanitize.h"

static int usage(FILE *f, int rc)
{
    fprintf(f, "usage: veil sanitize --policy FILE [--json] < TEXT\n"
               "Apply a sanitize policy to the text on stdin and print the result.\n"
               "  --policy FILE  the policy (JSON, docs/sanitize.md)\n"
               "  --json         print {\"text\", \"blocked\", \"findings\": [{\"detector\",\n"
               "                 \"start\", \"end\", \"action\", \"placeholder\"}]} instead\n"
               "Exit: 0 sanitized, 1 the policy blocks the text, 2 usage, 3 bad policy or\n"
               "input, 4 internal error.\n");
    return rc;
}

/* stdin, up to VEIL_SANITIZE_MAX_TEXT bytes. */
static int read_stdin(veil_buf *b)
{
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        if (!veil_ok(veil_buf_append(b, chunk, n))) {
            fprintf(stderr, "veil sanitize: the text is longer than %zu bytes\n",
                    VEIL_SANITIZE_MAX_TEXT);
            return VEIL_EXIT_INPUT;
        }
    if (ferror(stdin)) {
        fprintf(stderr, "veil sanitize: cannot read stdin\n");
        return VEIL_EXIT_INPUT;
    }
    return VEIL_EXIT_OK;
}

static json_t *findings_json(const veil_san_finding *f, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *o = json_pack("{s:s,s:I,s:I,s:s,s:s}", "detector", f[i].label, "start",
                              (json_int_t)f[i].start, "end", (json_int_t)f[i].end, "action",
                              veil_san_action_name(f[i].action), "placeholder", f[i].placeholder);
        if (!o || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static int print_json(const veil_buf *out, bool blocked, const veil_san_finding *f, size_t n)
{
    json_t *text = blocked ? json_null() : json_stringn((const char *)out->data, out->len);
    json_t *doc = json_pack("{s:o?,s:b,s:o?}", "text", text ? text : json_null(), "blocked",
                            blocked, "findings", findings_json(f, n));
    char *s = doc ? veil_json_dump(doc) : NULL;
    json_decref(doc);
    if (!s) {
        fprintf(stderr, "veil sanitize: cannot encode the result (text not UTF-8?)\n");
        return VEIL_EXIT_INPUT;
    }
    printf("%s\n", s);
    veil_free_wiped(s, strlen(s));
    return VEIL_EXIT_OK;
}

static int run(const veil_sanitize_policy *p, bool as_json)
{
    veil_buf in, out;
    veil_buf_init(&in, VEIL_SANITIZE_MAX_TEXT);
    veil_buf_init(&out, 0);
    veil_sanitize_session *s = NULL;
    veil_san_finding *f = NULL;
    size_t n = 0;
    int rc = read_stdin(&in);
    if (rc)
        goto out;
    veil_result r = veil_sanitize_session_new(p, &s);
    if (veil_ok(r))
        r = veil_sanitize_text(s, (const char *)in.data, in.len, &out, &f, &n);
    bool blocked = veil_sanitize_is_blocked(r);
    if (!veil_ok(r) && !blocked) {
        cli_error("sanitize", r);
        rc = cli_exit_for(r);
        goto out;
    }
    for (size_t i = 0; blocked && i < n; i++)
        if (f[i].action == VEIL_SAN_BLOCK)
            fprintf(stderr, "veil sanitize: blocked: %s at bytes %zu..%zu\n", f[i].label,
                    f[i].start, f[i].end);
    if (as_json)
        rc = print_json(&out, blocked, f, n);
    else if (!blocked)
        fwrite(out.data, 1, out.len, stdout);
    if (!rc && blocked)
        rc = VEIL_EXIT_FAILED;
out:
    veil_free(f);
    veil_sanitize_session_free(s);
    veil_buf_free(&in);
    veil_buf_free(&out);
    return rc;
}

int cmd_sanitize(int argc, char **argv)
{
    static const struct option opts[] = {{"policy", required_argument, NULL, 'p'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *path = NULL;
    bool as_json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'p': path = optarg; break;
        case 'j': as_json = true; break;
        case 'h': return usage(stdout, VEIL_EXIT_OK);
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (!path || optind != argc)
        return usage(stderr, VEIL_EXIT_USAGE);
    size_t len = 0;
    char *json = cli_read_file(path, &len, VEIL_SANITIZE_MAX_POLICY);
    if (!json)
        return VEIL_EXIT_INPUT;
    char detail[VEIL_SANITIZE_DETAIL];
    veil_sanitize_policy *p = NULL;
    veil_result r = veil_sanitize_policy_parse(json, len, &p, detail);
    veil_free_wiped(json, len + 1);
    if (!veil_ok(r)) {
        fprintf(stderr, "veil sanitize: %s: %s\n", path, detail[0] ? detail : r.msg);
        return VEIL_EXIT_INPUT;
    }
    int rc = run(p, as_json);
    veil_sanitize_policy_free(p);
    return rc;
}
