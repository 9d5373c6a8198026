/* RFC 9292 examples JSON (shared/testdata/bhttp/rfc9292-examples.json): for
 * every entry of "examples" and "extra_not_in_rfc9292", decode the hex, check
 * the message against the "decoded" annotation, re-encode it in the same
 * framing and compare byte for byte. One example = one pass or one failure.
 * The whole file's shape is checked first, so a file that is not in this
 * format is an error rather than a row of failures. */
#include <jansson.h>
#include <string.h>

#include "veil/bhttp.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/selftest.h"

static bool has_string(json_t *o, const char *key)
{
    return json_is_string(json_object_get(o, key));
}

static bool has_int(json_t *o, const char *key) { return json_is_integer(json_object_get(o, key)); }

/* [[name, value], ...] */
static bool fields_shape_ok(json_t *a)
{
    size_t i;
    json_t *f;
    if (!json_is_array(a))
        return false;
    json_array_foreach (a, i, f) {
        if (!json_is_array(f) || json_array_size(f) != 2 || !json_is_string(json_array_get(f, 0)) ||
            !json_is_string(json_array_get(f, 1)))
            return false;
    }
    return true;
}

static bool response_shape_ok(json_t *d)
{
    size_t i;
    json_t *info, *list = json_object_get(d, "informational");
    if (!has_int(d, "status") || !json_is_array(list))
        return false;
    json_array_foreach (list, i, info) {
        if (!json_is_object(info) || !has_int(info, "status") ||
            !fields_shape_ok(json_object_get(info, "fields")))
            return false;
    }
    return true;
}

static bool example_shape_ok(json_t *ex)
{
    json_t *d = json_object_get(ex, "decoded");
    json_t *len = json_object_get(ex, "length");
    if (!json_is_object(ex) || !has_string(ex, "id") || !has_string(ex, "hex") ||
        (len && !json_is_integer(len)) || !json_is_object(d) || !has_int(d, "framing_indicator") ||
        !fields_shape_ok(json_object_get(d, "header")) ||
        !fields_shape_ok(json_object_get(d, "trailer")) || !has_string(d, "content") ||
        !has_int(d, "padding_bytes"))
        return false;
    json_int_t fi = json_integer_value(json_object_get(d, "framing_indicator"));
    if (fi < 0 || fi > 3)
        return false;
    if (fi & 1)
        return response_shape_ok(d);
    return has_string(d, "method") && has_string(d, "scheme") && has_string(d, "authority") &&
           has_string(d, "path");
}

static bool str_is(json_t *s, const void *p, size_t n)
{
    return veil_public_equal(json_string_value(s), json_string_length(s), p, n);
}

static bool cstr_is(json_t *o, const char *key, const char *s)
{
    return str_is(json_object_get(o, key), s, strlen(s));
}

static bool int_is(json_t *o, const char *key, uint64_t v)
{
    json_int_t j = json_integer_value(json_object_get(o, key));
    return j >= 0 && (uint64_t)j == v;
}

static bool fields_match(veil_bhttp_fields f, json_t *a)
{
    if (f.n != json_array_size(a))
        return false;
    for (size_t i = 0; i < f.n; i++) {
        json_t *pair = json_array_get(a, i);
        if (!str_is(json_array_get(pair, 0), f.v[i].name, f.v[i].name_len) ||
            !str_is(json_array_get(pair, 1), f.v[i].value, f.v[i].value_len))
            return false;
    }
    return true;
}

static const char *check_response(const veil_bhttp_msg *m, json_t *d)
{
    json_t *list = json_object_get(d, "informational");
    if (!int_is(d, "status", veil_bhttp_status(m)))
        return "final status differs from the annotation";
    if (veil_bhttp_informational_count(m) != json_array_size(list))
        return "number of informational responses differs from the annotation";
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *info = json_array_get(list, i);
        if (!int_is(info, "status", veil_bhttp_informational_status(m, i)) ||
            !fields_match(veil_bhttp_informational_fields(m, i), json_object_get(info, "fields")))
            return "an informational response differs from the annotation";
    }
    return NULL;
}

static const char *check_request(const veil_bhttp_msg *m, json_t *d)
{
    if (!cstr_is(d, "method", veil_bhttp_method(m)))
        return "method differs from the annotation";
    if (!cstr_is(d, "scheme", veil_bhttp_scheme(m)))
        return "scheme differs from the annotation";
    if (!cstr_is(d, "authority", veil_bhttp_authority(m)))
        return "authority differs from the annotation";
    if (!cstr_is(d, "path", veil_bhttp_path(m)))
        return "path differs from the annotation";
    return NULL;
}

/* NULL when the decoded message says what the annotation says. */
static const char *check_decoded(const veil_bhttp_msg *m, json_t *d)
{
    bool indet = veil_bhttp_framing_of(m) == VEIL_BHTTP_INDETERMINATE;
    unsigned fi = (veil_bhttp_is_request(m) ? 0u : 1u) | (indet ? 2u : 0u);
    size_t clen;
    const uint8_t *content = veil_bhttp_content(m, &clen);
    if (!int_is(d, "framing_indicator", fi))
        return "framing indicator differs from the annotation";
    const char *why = veil_bhttp_is_request(m) ? check_request(m, d) : check_response(m, d);
    if (why)
        return why;
    if (!fields_match(veil_bhttp_headers(m), json_object_get(d, "header")))
        return "header fields differ from the annotation";
    if (!str_is(json_object_get(d, "content"), content, clen))
        return "content differs from the annotation";
    if (!fields_match(veil_bhttp_trailers(m), json_object_get(d, "trailer")))
        return "trailer fields differ from the annotation";
    if (!int_is(d, "padding_bytes", veil_bhttp_padding(m)))
        return "padding length differs from the annotation";
    return NULL;
}

/* Decode, compare with the annotation, re-encode, compare with the bytes. */
static const char *run_example(json_t *ex)
{
    const char *why = NULL;
    veil_bhttp_msg *m = NULL;
    veil_buf in, enc;
    json_t *hex = json_object_get(ex, "hex"), *len = json_object_get(ex, "length");
    veil_buf_init(&in, 0);
    veil_buf_init(&enc, 0);
    if (!veil_ok(veil_hex_decode(json_string_value(hex), json_string_length(hex), &in))) {
        why = "hex does not decode";
        goto out;
    }
    if (len && (json_integer_value(len) < 0 || (uint64_t)json_integer_value(len) != in.len)) {
        why = "hex holds a different number of bytes than \"length\" says";
        goto out;
    }
    veil_result r = veil_bhttp_decode(in.data, in.len, NULL, &m);
    if (!veil_ok(r)) {
        why = r.msg;
        goto out;
    }
    why = check_decoded(m, json_object_get(ex, "decoded"));
    if (why)
        goto out;
    r = veil_bhttp_encode(m, veil_bhttp_framing_of(m), &enc);
    if (!veil_ok(r))
        why = r.msg;
    else if (!veil_public_equal(enc.data, enc.len, in.data, in.len))
        why = "re-encoding differs from the example bytes";
out:
    veil_bhttp_msg_free(m);
    veil_buf_free(&in);
    veil_buf_free(&enc);
    return why;
}

veil_result veil_selftest_bhttp_json(const char *json, size_t len, veil_selftest_report *rep)
{
    veil_result res = VEIL_OK;
    json_error_t err;
    json_t *root = NULL, *ex;
    size_t i;
    VEIL_ENSURE(json != NULL && rep != NULL, VEIL_E_USAGE, "bhttp vectors: no input or report");
    root = json_loadb(json, len, 0, &err);
    VEIL_ENSURE_GOTO(res, root != NULL, VEIL_E_PROTOCOL, "bhttp vectors: file is not valid JSON");
    json_t *lists[2] = {json_object_get(root, "examples"),
                        json_object_get(root, "extra_not_in_rfc9292")};
    VEIL_ENSURE_GOTO(res, json_is_array(lists[0]) && json_array_size(lists[0]) > 0, VEIL_E_PROTOCOL,
                     "bhttp vectors: no \"examples\" array (not an RFC 9292 examples file)");
    VEIL_ENSURE_GOTO(res, lists[1] == NULL || json_is_array(lists[1]), VEIL_E_PROTOCOL,
                     "bhttp vectors: \"extra_not_in_rfc9292\" is not an array");
    for (int l = 0; l < 2; l++) {
        json_array_foreach (lists[l], i, ex) {
            VEIL_ENSURE_GOTO(res, example_shape_ok(ex), VEIL_E_PROTOCOL,
                             "bhttp vectors: an example lacks id, hex or a complete "
                             "\"decoded\" annotation");
        }
    }
    for (int l = 0; l < 2; l++) {
        json_array_foreach (lists[l], i, ex) {
            veil_selftest_record(rep, json_string_value(json_object_get(ex, "id")),
                                 run_example(ex));
        }
    }
out:
    json_decref(root);
    return res;
}
