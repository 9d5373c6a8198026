/* Release policies (include/veil/release_policy.h): a strict parser into a
 * small node array, and an evaluator over the EAR's submodules that reports
 * the first leaf that failed. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/json_util.h"
#include "veil/mem.h"
#include "veil/release_policy.h"

#define MAX_MATCHES 64
#define PTR_MAX 192 /* VEIL_RELEASE_POLICY_MAX_DEPTH steps of "/anyOf/NNN" fit */

typedef enum node_kind { N_ALL = 1, N_ANY, N_LEAF } node_kind;
typedef enum leaf_op { OP_EQUALS = 1, OP_IN, OP_GTE, OP_LTE, OP_EXISTS } leaf_op;

typedef struct node {
    node_kind kind;
    size_t first, next; /* children / siblings as indices + 1; 0 = none */
    char ptr[PTR_MAX];  /* JSON pointer of this node in the policy */
    /* leaves */
    char path[VEIL_RELEASE_POLICY_MAX_PATH + 1];
    leaf_op op;
    json_t *value; /* equals: the value; in: the array; gte/lte: the number */
    bool exists;
} node;

struct veil_release_policy {
    size_t n;
    node nodes[VEIL_RELEASE_POLICY_MAX_NODES];
};

static void say(char *detail, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(char *detail, const char *fmt, ...)
{
    if (!detail)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, VEIL_RELEASE_POLICY_DETAIL, fmt, ap);
    va_end(ap);
}

/* A short rendering of a (public) JSON value for messages. */
static void show(const json_t *v, char *out, size_t cap)
{
    if (!v) {
        snprintf(out, cap, "(absent)");
        return;
    }
    size_t n = json_dumpb(v, out, cap - 1, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    if (n == 0 || n >= cap - 1)
        snprintf(out, cap, "%s", n == 0 ? "(unprintable)" : "(long value)");
    else
        out[n] = 0;
}

/* ---- parsing ---------------------------------------------------------------- */

static const char *const k_ops[] = {"equals", "in", "gte", "lte", "exists"};

static bool path_ok(const char *p, size_t n)
{
    if (n == 0 || n > VEIL_RELEASE_POLICY_MAX_PATH || p[0] == '.' || p[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7F || (c == '.' && i + 1 < n && p[i + 1] == '.'))
            return false;
    }
    return true;
}

static veil_result parse_node(veil_release_policy *p, const json_t *j, const char *ptr,
                              unsigned depth, size_t *index, char *detail);

static veil_result parse_list(veil_release_policy *p, node *nd, const json_t *arr, const char *name,
                              unsigned depth, char *detail)
{
    char ptr[PTR_MAX];
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        say(detail, "%s/%s: must be a non-empty array of policy nodes", nd->ptr, name);
        return VEIL_ERR(VEIL_E_PROTOCOL, "release policy: an allOf/anyOf is not a non-empty array");
    }
    size_t prev = 0, i;
    const json_t *child;
    json_array_foreach (arr, i, child) {
        size_t ci = 0;
        if ((size_t)snprintf(ptr, sizeof ptr, "%s/%s/%zu", nd->ptr, name, i) >= sizeof ptr) {
            say(detail, "%s: nested too deeply", nd->ptr);
            return VEIL_ERR(VEIL_E_PROTOCOL, "release policy: nested too deeply");
        }
        VEIL_GUARD(parse_node(p, child, ptr, depth + 1, &ci, detail));
        if (prev)
            p->nodes[prev - 1].next = ci + 1;
        else
            nd->first = ci + 1;
        prev = ci + 1;
    }
    return VEIL_OK;
}

static veil_result parse_leaf(node *nd, const json_t *j, char *detail)
{
    const char *key;
    const json_t *v;
    const json_t *claim = json_object_get(j, "claim");
    if (!json_is_string(claim) || !path_ok(json_string_value(claim), json_string_length(claim))) {
        say(detail, "%s/claim: must be a dotted path of at most %d characters", nd->ptr,
            VEIL_RELEASE_POLICY_MAX_PATH);
        return VEIL_ERR(VEIL_E_PROTOCOL, "release policy: a leaf's claim path is invalid");
    }
    snprintf(nd->path, sizeof nd->path, "%s", json_string_value(claim));
    json_object_foreach ((json_t *)j, key, v) {
        if (!strcmp(key, "claim"))
            continue;
        leaf_op op = 0;
        for (size_t i = 0; i < sizeof k_ops / sizeof k_ops[0]; i++)
            if (!strcmp(key, k_ops[i]))
                op = (leaf_op)(i + 1);
        if (!op) {
            say(detail,
                "%s: unknown operator or member \"%.64s\" (operators: equals, in, gte, "
                "lte, exists)",
                nd->ptr, key);
            return VEIL_ERR(VEIL_E_PROTOCOL, "release policy: unknown operator");
        }
        if (nd->op) {
            say(detail, "%s: a leaf takes exactly one operator (has %s and %s)", nd->ptr,
                k_ops[nd->op - 1], key);
            return VEIL_ERR(VEIL_E_PROTOCOL, "release policy: a leaf has two operators");
        }
        nd->op = op;
        bool ok = true;
        switch (op) {
        case OP_EQUALS: ok = v != NULL; break;
        case OP_IN: {
            size_t n = json_array_size(v);
            ok = json_is_array(v) && n > 0 && n <= VEIL_RELEASE_POLICY_MAX_IN;
            break;
        }
        case OP_GTE:
        case OP_LTE: ok = json_is_number(v); break;
        case OP_EXISTS: ok = json_is_boolean(v); break;
        }
        if (!ok) {
            say(detail, "%s/%s: %s", nd->ptr, key,
                op == OP_IN       ? "must be an array of 1 to 64 values"
                : op == OP_EXISTS ? "must be true or false"
                                  : "must be a number");
            return VEIL_ERR(VEIL_E_PROTOCOL, "release policy: an operator's value has the "
                                             "wrong type");
        }
        nd->exists = op == OP_EXISTS && json_is_true(v);
        nd->value = json_incref((json_t *)v);
    }
    if (!nd->op) {
        say(detail, "%s: a leaf needs one operator (equals, in, gte, lte, exists)", nd->ptr);
        return VEIL_ERR(VEIL_E_PROTOCOL, "release policy: a leaf has no operator");
    }
    return VEIL_OK;
}

static veil_result parse_node(veil_release_policy *p, const json_t *j, const char *ptr,
                              unsigned depth, size_t *index, char *detail)
{
    if (depth > VEIL_RELEASE_POLICY_MAX_DEPTH) {
        say(detail, "%s: nested deeper than %d levels", ptr[0] ? ptr : "/",
            VEIL_RELEASE_POLICY_MAX_DEPTH);
        return VEIL_ERR(VEIL_E_PROTOCOL, "release policy: nested too deeply");
    }
    if (p->n >= VEIL_RELEASE_POLICY_MAX_NODES) {
        say(detail, "%s: more than %d nodes", ptr[0] ? ptr : "/", VEIL_RELEASE_POLICY_MAX_NODES);
        return VEIL_ERR(VEIL_E_PROTOCOL, "release policy: too many nodes");
    }
    *index = p->n;
    node *nd = &p->nodes[p->n++];
    memset(nd, 0, sizeof *nd);
    snprintf(nd->ptr, sizeof nd->ptr, "%s", ptr);
    if (!json_is_object(j)) {
        say(detail, "%s: a policy node must be an object", ptr[0] ? ptr : "/");
        return VEIL_ERR(VEIL_E_PROTOCOL, "release policy: a node is not an object");
    }
    const json_t *all = json_object_get(j, "allOf"), *any = json_object_get(j, "anyOf");
    if (all || any) {
        if (json_object_size(j) != 1) {
            const char *key;
            const json_t *v;
            const char *extra = "";
            json_object_foreach ((json_t *)j, key, v) {
                if (strcmp(key, all ? "allOf" : "anyOf") != 0) {
                    extra = key;
                    break;
                }
            }
            say(detail, "%s: unexpected member \"%.64s\" beside %s", ptr[0] ? ptr : "/", extra,
                all ? "allOf" : "anyOf");
            return VEIL_ERR(VEIL_E_PROTOCOL, "release policy: unknown member in an allOf/anyOf");
        }
        nd->kind = all ? N_ALL : N_ANY;
        return parse_list(p, nd, all ? all : any, all ? "allOf" : "anyOf", depth, detail);
    }
    if (!json_object_get(j, "claim")) {
        const char *key;
        const json_t *v;
        const char *first = "";
        json_object_foreach ((json_t *)j, key, v) {
            first = key;
            break;
        }
        say(detail,
            "%s: a node is {\"allOf\":[..]}, {\"anyOf\":[..]} or {\"claim\":..,OP:..}; "
            "found \"%.64s\"",
            ptr[0] ? ptr : "/", first);
        return VEIL_ERR(VEIL_E_PROTOCOL, "release policy: a node is neither allOf, anyOf nor a "
                                         "leaf");
    }
    nd->kind = N_LEAF;
    return parse_leaf(nd, j, detail);
}

veil_result veil_release_policy_parse(const char *json, size_t len, veil_release_policy **out,
                                      char detail[VEIL_RELEASE_POLICY_DETAIL])
{
    veil_result r = VEIL_OK;
    json_t *j = NULL;
    json_error_t err;
    veil_release_policy *p = NULL;
    size_t root = 0;
    *out = NULL;
    say(detail, "%s", "");
    VEIL_ENSURE(json || !len, VEIL_E_USAGE, "release policy: missing input");
    if (len > VEIL_RELEASE_POLICY_MAX_LEN) {
        say(detail, "the policy is longer than %zu bytes", VEIL_RELEASE_POLICY_MAX_LEN);
        return VEIL_ERR(VEIL_E_PROTOCOL, "release policy: too long");
    }
    j = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        say(detail, "not JSON: %s (line %d, column %d)", err.text, err.line, err.column);
        return VEIL_ERR(VEIL_E_PROTOCOL, "release policy: not valid JSON");
    }
    p = veil_calloc(1, sizeof *p);
    VEIL_ENSURE_GOTO(r, p != NULL, VEIL_E_NOMEM, "release policy: out of memory");
    VEIL_TRY(r, parse_node(p, j, "", 1, &root, detail));
    *out = p;
    p = NULL;
out:
    veil_release_policy_free(p);
    json_decref(j);
    return r;
}

void veil_release_policy_free(veil_release_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        json_decref(p->nodes[i].value);
    veil_free(p);
}

/* ---- evaluation ------------------------------------------------------------ */

/* '*' matches any run of characters (including none); nothing else is special. */
static bool glob(const char *pat, size_t plen, const char *s)
{
    size_t pi = 0, si = 0, star = (size_t)-1, mark = 0, slen = strlen(s);
    while (si < slen) {
        if (pi < plen && pat[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (pi < plen && pat[pi] == s[si]) {
            pi++;
            si++;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < plen && pat[pi] == '*')
        pi++;
    return pi == plen;
}

typedef struct matches {
    size_t n;
    bool wild, overflow;
    const json_t *v[MAX_MATCHES];
} matches;

static void resolve(const json_t *v, const char *path, size_t plen, matches *m)
{
    if (plen == 0) {
        if (m->n < MAX_MATCHES)
            m->v[m->n++] = v;
        else
            m->overflow = true;
        return;
    }
    if (!json_is_object(v))
        return;
    const char *dot = memchr(path, '.', plen);
    size_t slen = dot ? (size_t)(dot - path) : plen;
    const char *key;
    const json_t *sub;
    if (memchr(path, '*', slen)) {
        m->wild = true;
        json_object_foreach ((json_t *)v, key, sub) {
            if (glob(path, slen, key))
                resolve(sub, path + slen + (dot ? 1 : 0), plen - slen - (dot ? 1 : 0), m);
        }
        return;
    }
    /* the longest member name that is the path or a dotted prefix of it */
    const json_t *best = NULL;
    size_t best_len = 0;
    json_object_foreach ((json_t *)v, key, sub) {
        size_t klen = strlen(key);
        if (klen > best_len && klen <= plen && veil_public_equal(path, klen, key, klen) &&
            (klen == plen || path[klen] == '.')) {
            best = sub;
            best_len = klen;
        }
    }
    if (best)
        resolve(best, path + best_len + (best_len < plen ? 1 : 0),
                plen - best_len - (best_len < plen ? 1 : 0), m);
}

/* Numbers compare exactly when both are integers. */
static int num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y;
    }
    double x = json_number_value(a), y = json_number_value(b);
    return x < y ? -1 : x > y;
}

static bool leaf_holds(const node *nd, const json_t *v)
{
    switch (nd->op) {
    case OP_EQUALS: return json_equal(v, nd->value);
    case OP_IN: {
        size_t i;
        const json_t *e;
        json_array_foreach (nd->value, i, e) {
            if (json_equal(v, e))
                return true;
        }
        return false;
    }
    case OP_GTE: return json_is_number(v) && num_cmp(v, nd->value) >= 0;
    case OP_LTE: return json_is_number(v) && num_cmp(v, nd->value) <= 0;
    case OP_EXISTS: return nd->exists;
    }
    return false;
}

static bool eval_leaf(const node *nd, const json_t *doc, char *detail)
{
    char want[96], got[96];
    matches m;
    memset(&m, 0, sizeof m);
    resolve(doc, nd->path, strlen(nd->path), &m);
    show(nd->value, want, sizeof want);
    const char *ptr = nd->ptr[0] ? nd->ptr : "/";
    if (m.overflow) {
        say(detail, "%s: claim %s matches more than %d values", ptr, nd->path, MAX_MATCHES);
        return false;
    }
    if (m.n == 0) {
        if (!m.wild && nd->op == OP_EXISTS && !nd->exists)
            return true;
        say(detail, "%s: claim %s %s %s: %s", ptr, nd->path, k_ops[nd->op - 1], want,
            m.wild ? "no submodule or member matches the pattern" : "the claim is absent");
        return false;
    }
    for (size_t i = 0; i < m.n; i++) {
        if (!leaf_holds(nd, m.v[i])) {
            show(m.v[i], got, sizeof got);
            say(detail, "%s: claim %s %s %s: got %s%s", ptr, nd->path, k_ops[nd->op - 1], want, got,
                m.wild ? " (in one of the matches)" : "");
            return false;
        }
    }
    return true;
}

static bool eval_node(const veil_release_policy *p, size_t i, const json_t *doc, char *detail)
{
    const node *nd = &p->nodes[i];
    if (nd->kind == N_LEAF)
        return eval_leaf(nd, doc, detail);
    bool any = false;
    for (size_t c = nd->first; c; c = p->nodes[c - 1].next) {
        bool ok = eval_node(p, c - 1, doc, detail);
        if (nd->kind == N_ALL && !ok)
            return false;
        if (nd->kind == N_ANY && ok) {
            any = true;
            break;
        }
    }
    if (nd->kind == N_ALL)
        return true;
    if (!any) {
        char first[VEIL_RELEASE_POLICY_DETAIL];
        snprintf(first, sizeof first, "%s", detail ? detail : "");
        say(detail, "%s: no alternative of anyOf holds (last: %s)", nd->ptr[0] ? nd->ptr : "/",
            first);
    }
    return any;
}

static veil_result eval_doc(const veil_release_policy *p, const json_t *doc, bool *allowed,
                            char *detail)
{
    *allowed = false;
    say(detail, "%s", "");
    VEIL_ENSURE(p && p->n > 0, VEIL_E_USAGE, "release policy: no policy");
    VEIL_ENSURE(json_is_object(doc), VEIL_E_PROTOCOL,
                "release policy: the attestation result's submodules are not an object");
    *allowed = eval_node(p, 0, doc, detail);
    if (*allowed)
        say(detail, "%s", "");
    return VEIL_OK;
}

veil_result veil_release_policy_eval_json(const veil_release_policy *p, const char *submods,
                                          size_t len, bool *allowed,
                                          char detail[VEIL_RELEASE_POLICY_DETAIL])
{
    *allowed = false;
    json_t *doc = json_loadb(submods ? submods : "", len, JSON_REJECT_DUPLICATES, NULL);
    VEIL_ENSURE(doc != NULL, VEIL_E_PROTOCOL, "release policy: the submodules are not JSON");
    veil_result r = eval_doc(p, doc, allowed, detail);
    json_decref(doc);
    return r;
}

/* The submodule object of one EAR, as the EAR token carries it. */
static json_t *submod_json(const veil_ear *ear)
{
    static const char *const names[8] = {"instance-identity", "configuration", "executables",
                                         "file-system",       "hardware",      "runtime-opaque",
                                         "storage-opaque",    "sourced-data"};
    const int vals[8] = {ear->tv.instance_identity, ear->tv.configuration, ear->tv.executables,
                         ear->tv.file_system,       ear->tv.hardware,      ear->tv.runtime_opaque,
                         ear->tv.storage_opaque,    ear->tv.sourced_data};
    json_t *tv = json_object();
    for (size_t i = 0; tv && i < 8; i++)
        if (vals[i])
            json_object_set_new(tv, names[i], json_integer(vals[i]));
    json_t *claims = ear->claims_json ? json_loads(ear->claims_json, 0, NULL) : json_object();
    json_t *sm =
        json_pack("{s:s,s:o*,s:s,s:b,s:o*}", "ear.status", veil_ear_status_name(ear->status),
                  "ear.trustworthiness-vector", tv, "ear.appraisal-policy-id", ear->policy_id,
                  "veil.simulated", ear->simulated, "veil.claims", claims);
    if (sm && ear->failed_check[0])
        json_object_set_new(sm, "veil.failed-check", json_string(ear->failed_check));
    return sm;
}

static veil_result submods_of(const veil_ear *const *ears, size_t n, json_t **out)
{
    *out = NULL;
    json_t *doc = json_object();
    VEIL_ENSURE(doc != NULL, VEIL_E_NOMEM, "release policy: out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *sm = submod_json(ears[i]);
        const char *name = ears[i]->submod[0] ? ears[i]->submod : "tee";
        if (!sm || json_object_get(doc, name) || json_object_set_new(doc, name, sm) != 0) {
            json_decref(doc);
            return VEIL_ERR(VEIL_E_USAGE,
                            "release policy: cannot build the submodules (duplicate name?)");
        }
    }
    *out = doc;
    return VEIL_OK;
}

veil_result veil_release_policy_eval(const veil_release_policy *p, const veil_ear *const *ears,
                                     size_t n, bool *allowed,
                                     char detail[VEIL_RELEASE_POLICY_DETAIL])
{
    json_t *doc = NULL;
    *allowed = false;
    VEIL_GUARD(submods_of(ears, n, &doc));
    veil_result r = eval_doc(p, doc, allowed, detail);
    json_decref(doc);
    return r;
}

veil_result veil_release_policy_submods(const veil_ear *const *ears, size_t n, veil_buf *out)
{
    json_t *doc = NULL;
    VEIL_GUARD(submods_of(ears, n, &doc));
    char *s = veil_json_dump(doc);
    json_decref(doc);
    VEIL_ENSURE(s != NULL, VEIL_E_NOMEM, "release policy: out of memory");
    veil_result r = veil_buf_append(out, s, strlen(s));
    veil_free(s);
    return r;
}
