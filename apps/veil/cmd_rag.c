/* veil rag: encrypted retrieval collections (docs/rag.md).
 *
 *   veil rag ingest --collection NAME --store FILE
 *                   (--kms URL --ledger-key FILE --state FILE | --public-key FILE) FILES...
 *       on the data owner's machine: split, index and encrypt the files to
 *       the collection's public key (with --kms: the KMS key NAME of type
 *       hpke, its configuration and release policy verified through ledger
 *       receipts first, rag_kms.c); the store holds only ciphertext.
 *   veil rag search --store FILE --key FILE [--top-k K] QUERY
 *       for a holder of the collection private key (tests, audits).
 *   veil rag verify --store FILE --key FILE
 *       decrypt and check every record; names the first bad one.
 *
 * Key files are those of `veil keygen`: PREFIX.key (JSON with the private key
 * and its key configuration) and PREFIX.ohttp-keys (application/ohttp-keys;
 * the first configuration is used). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "rag_kms.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/ohttp.h"
#include "veil/rag.h"

#define MAX_DOC_BYTES ((size_t)256 << 20)
#define MAX_KEY_FILE ((size_t)64 << 10)

static int usage(FILE *f, int code)
{
    fprintf(f, "usage: veil rag ingest --collection NAME --store FILE\n"
               "                       (--kms URL --ledger-key FILE --state FILE | --public-key "
               "FILE)\n"
               "                       [--max-passage BYTES] [--json] [--quiet] FILES...\n"
               "       veil rag search --store FILE --key FILE [--collection NAME] [--top-k K]\n"
               "                       [--json] QUERY\n"
               "       veil rag verify --store FILE --key FILE [--json]\n"
               "Key files come from `veil keygen`: --public-key takes PREFIX.ohttp-keys or\n"
               "PREFIX.key, --key takes PREFIX.key. See docs/rag.md.\n");
    return code;
}

/* ---- key files ----------------------------------------------------------------- */

/* The key configuration in a keygen .key file or an ohttp-keys file; *sk
 * (optional) gets the private key of a .key file. */
static veil_result load_keyfile(const char *path, veil_ohttp_keyconfig *cfg, veil_buf *sk)
{
    size_t n = 0;
    char *text = cli_read_file(path, &n, MAX_KEY_FILE);
    VEIL_ENSURE(text, VEIL_E_PROTOCOL, "cannot read the key file");
    veil_result r =
        VEIL_ERR(VEIL_E_PROTOCOL, "the key file is neither a .key nor .ohttp-keys file");
    json_t *doc = n > 0 && text[0] == '{' ? json_loadb(text, n, 0, NULL) : NULL;
    veil_buf b;
    veil_buf_init(&b, 0);
    if (doc) {
        const char *ch = json_string_value(json_object_get(doc, "key_config"));
        const char *skh = json_string_value(json_object_get(doc, "private_key"));
        if (ch && veil_ok(veil_hex_decode(ch, strlen(ch), &b)))
            r = veil_ohttp_keyconfig_decode(b.data, b.len, cfg);
        if (veil_ok(r) && sk)
            r = skh ? veil_hex_decode(skh, strlen(skh), sk)
                    : VEIL_ERR(VEIL_E_PROTOCOL, "the key file holds no private key");
    } else if (!sk) {
        size_t count = 0, skipped = 0;
        r = veil_ohttp_keys_decode((const uint8_t *)text, n, cfg, 1, &count, &skipped);
        if (veil_ok(r) && count == 0)
            r = VEIL_ERR(VEIL_E_PROTOCOL, "the ohttp-keys file holds no usable configuration");
    }
    json_decref(doc);
    veil_buf_free(&b);
    veil_free_wiped(text, n + 1);
    return r;
}

/* The first (KDF, AEAD) pair of the configuration that can seal. */
static veil_result pick_suite(const veil_ohttp_keyconfig *cfg, veil_hpke_suite *out)
{
    for (size_t i = 0; i < cfg->n_algs; i++) {
        veil_hpke_suite s = {cfg->kem, cfg->algs[i].kdf, cfg->algs[i].aead};
        if (s.aead != VEIL_HPKE_AEAD_EXPORT_ONLY && veil_ok(veil_hpke_suite_check(&s))) {
            *out = s;
            return VEIL_OK;
        }
    }
    return VEIL_ERR(VEIL_E_UNSUPPORTED, "the key configuration offers no usable HPKE suite");
}

static veil_result load_private(const char *path, veil_hpke_key **key)
{
    veil_ohttp_keyconfig cfg;
    veil_buf sk;
    veil_buf_init(&sk, 0);
    veil_result r = load_keyfile(path, &cfg, &sk);
    if (veil_ok(r))
        r = veil_hpke_key_from_private(cfg.kem, sk.data, sk.len, key);
    veil_buf_free(&sk);
    return r;
}

/* ---- ingest --------------------------------------------------------------------- */

typedef struct ingest_opts {
    const char *collection, *store, *public_key, *kms, *ledger_key, *state;
    size_t max_passage;
    int json, quiet;
} ingest_opts;

static int ingest_files(const ingest_opts *o, veil_rag_writer *w, char **files, int n,
                        uint64_t *passages, uint64_t *bytes)
{
    int progress = !o->quiet && !o->json && isatty(2);
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        char *text = cli_read_file(files[i], &len, MAX_DOC_BYTES);
        if (!text)
            return VEIL_EXIT_INPUT;
        uint32_t np = 0;
        veil_result r = veil_rag_writer_add(w, files[i], (const uint8_t *)text, len, &np);
        veil_free_wiped(text, len + 1);
        if (!veil_ok(r)) {
            fprintf(stderr, "%s", progress ? "\n" : "");
            cli_error(files[i], r);
            return cli_exit_for(r);
        }
        *passages += np;
        *bytes += len;
        if (progress)
            fprintf(stderr, "\rveil rag: %d/%d documents, %llu passages", i + 1, n,
                    (unsigned long long)*passages);
    }
    if (progress)
        fprintf(stderr, "\n");
    return VEIL_EXIT_OK;
}

static void ingest_report(const ingest_opts *o, const veil_ohttp_keyconfig *cfg,
                          const veil_hpke_suite *s, int docs, uint64_t passages, uint64_t bytes,
                          const rag_kms_info *ki)
{
    if (o->json) {
        json_t *j =
            json_pack("{s:s,s:s,s:i,s:I,s:I,s:i,s:{s:s,s:s,s:s}}", "collection", o->collection,
                      "store", o->store, "documents", docs, "passages", (json_int_t)passages,
                      "bytes", (json_int_t)bytes, "key_id", (int)cfg->key_id, "suite", "kem",
                      veil_hpke_kem_info_get(s->kem)->name, "kdf", veil_hpke_kdf_name(s->kdf),
                      "aead", veil_hpke_aead_name(s->aead));
        if (o->kms)
            json_object_set_new(j, "kms",
                                json_pack("{s:s,s:i,s:I}", "url", o->kms, "receipts_verified",
                                          (int)ki->receipts, "tree_size",
                                          (json_int_t)ki->tree_size));
        json_dumpf(j, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(j);
    } else if (!o->quiet) {
        if (o->kms)
            printf("KMS key %s: %u ledger receipts verified (tree size %llu), release policy "
                   "receipted\n",
                   o->collection, ki->receipts, (unsigned long long)ki->tree_size);
        printf("collection %s: %d documents, %llu passages, %llu bytes encrypted to key id %u "
               "(%s)\nwrote %s (ciphertext only)\n",
               o->collection, docs, (unsigned long long)passages, (unsigned long long)bytes,
               cfg->key_id, veil_hpke_kem_info_get(s->kem)->name, o->store);
    }
}

static int do_ingest(const ingest_opts *o, char **files, int n)
{
    veil_ohttp_keyconfig cfg;
    veil_hpke_suite suite;
    veil_hpke_key *pk = NULL;
    veil_rag_writer *w = NULL;
    rag_kms_info ki = {0};
    veil_result r = VEIL_OK;
    if (o->kms) {
        int krc = rag_kms_keyconfig(o->kms, o->collection, o->ledger_key, o->state, &cfg, &ki);
        if (krc != VEIL_EXIT_OK)
            return krc;
    } else {
        r = load_keyfile(o->public_key, &cfg, NULL);
    }
    if (veil_ok(r))
        r = pick_suite(&cfg, &suite);
    if (veil_ok(r))
        r = veil_hpke_key_from_public(cfg.kem, cfg.public_key, cfg.public_key_len, &pk);
    if (!veil_ok(r)) {
        cli_error(o->kms ? "KMS key configuration" : o->public_key, r);
        return VEIL_EXIT_INPUT;
    }
    veil_rag_recipient to = {pk, suite, cfg.key_id};
    uint64_t passages = 0, bytes = 0;
    int rc;
    r = veil_rag_writer_open(o->store, o->collection, &to, o->max_passage, &w);
    if (!veil_ok(r)) {
        cli_error(o->store, r);
        rc = cli_exit_for(r);
        goto out;
    }
    rc = ingest_files(o, w, files, n, &passages, &bytes);
    if (rc == VEIL_EXIT_OK && !veil_ok(r = veil_rag_writer_finish(w))) {
        cli_error(o->store, r);
        rc = cli_exit_for(r);
    }
    if (rc == VEIL_EXIT_OK)
        ingest_report(o, &cfg, &suite, n, passages, bytes, &ki);
out:
    veil_rag_writer_free(w);
    veil_hpke_key_free(pk);
    return rc;
}

static int cmd_rag_ingest(int argc, char **argv)
{
    static const struct option opts[] = {{"collection", required_argument, NULL, 'c'},
                                         {"store", required_argument, NULL, 's'},
                                         {"public-key", required_argument, NULL, 'p'},
                                         {"max-passage", required_argument, NULL, 'm'},
                                         {"kms", required_argument, NULL, 'K'},
                                         {"ledger-key", required_argument, NULL, 'L'},
                                         {"state", required_argument, NULL, 'S'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    ingest_opts o = {0};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c': o.collection = optarg; break;
        case 's': o.store = optarg; break;
        case 'p': o.public_key = optarg; break;
        case 'K': o.kms = optarg; break;
        case 'L': o.ledger_key = optarg; break;
        case 'S': o.state = optarg; break;
        case 'm': o.max_passage = strtoul(optarg, NULL, 10); break;
        case 'j': o.json = 1; break;
        case 'q': o.quiet = 1; break;
        case 'h': return usage(stdout, VEIL_EXIT_OK);
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (!o.collection || !o.store || optind >= argc || (!o.public_key == !o.kms) ||
        (o.kms && (!o.ledger_key || !o.state)))
        return usage(stderr, VEIL_EXIT_USAGE);
    if (o.max_passage && (o.max_passage < 16 || o.max_passage > VEIL_RAG_PASSAGE_LIMIT)) {
        fprintf(stderr, "veil: --max-passage must be 16..%d\n", VEIL_RAG_PASSAGE_LIMIT);
        return VEIL_EXIT_USAGE;
    }
    return do_ingest(&o, argv + optind, argc - optind);
}

/* ---- search / verify ------------------------------------------------------------- */

static int open_store(const char *store, const char *key_path, const char *collection,
                      veil_rag_store **s)
{
    veil_hpke_key *sk = NULL;
    veil_result r = load_private(key_path, &sk);
    if (!veil_ok(r)) {
        cli_error(key_path, r);
        return VEIL_EXIT_INPUT;
    }
    char bad[VEIL_RAG_RECORD_NAME];
    r = veil_rag_store_open(store, collection, sk, bad, s);
    veil_hpke_key_free(sk);
    if (!veil_ok(r)) {
        cli_error(store, r);
        if (bad[0])
            fprintf(stderr, "veil: %s: bad record: %s\n", store, bad);
        return r.cls == VEIL_E_CRYPTO ? VEIL_EXIT_FAILED : cli_exit_for(r);
    }
    return VEIL_EXIT_OK;
}

static json_t *hit_json(const veil_rag_store *s, const veil_rag_hit *h, veil_buf *pt,
                        veil_result *r, char bad[VEIL_RAG_RECORD_NAME])
{
    veil_rag_passage_info pi;
    *r = veil_rag_index_passage(veil_rag_store_index(s), h->passage, &pi);
    if (veil_ok(*r))
        *r = veil_rag_store_passage(s, h->passage, pt, bad);
    if (!veil_ok(*r))
        return NULL;
    json_t *text = json_stringn_nocheck((const char *)pt->data, pt->len);
    return json_pack("{s:s,s:i,s:i,s:f,s:o}", "document", pi.doc_name, "passage", (int)pi.seq,
                     "offset", (int)pi.off, "score", h->score, "text", text);
}

static int do_search(veil_rag_store *s, const char *query, size_t top_k, int as_json)
{
    veil_rag_hit hits[VEIL_RAG_TOP_K_MAX];
    size_t n = 0;
    veil_result r =
        veil_rag_index_search(veil_rag_store_index(s), query, strlen(query), top_k, hits, &n);
    if (!veil_ok(r)) {
        cli_error("search", r);
        return cli_exit_for(r);
    }
    json_t *arr = json_array();
    char bad[VEIL_RAG_RECORD_NAME] = "";
    veil_buf pt;
    veil_buf_init(&pt, 0);
    for (size_t i = 0; i < n && veil_ok(r); i++) {
        json_t *h = hit_json(s, &hits[i], &pt, &r, bad);
        if (h && !as_json)
            printf("%zu. %.4f  %s #%d\n   %s\n", i + 1, hits[i].score,
                   json_string_value(json_object_get(h, "document")),
                   (int)json_integer_value(json_object_get(h, "passage")),
                   json_string_value(json_object_get(h, "text")));
        json_array_append_new(arr, h);
    }
    veil_buf_free(&pt);
    if (!veil_ok(r)) {
        cli_error("search", r);
        fprintf(stderr, "veil: bad record: %s\n", bad);
        json_decref(arr);
        return VEIL_EXIT_FAILED;
    }
    if (as_json) {
        json_t *doc =
            json_pack("{s:s,s:o}", "collection", veil_rag_store_collection(s), "results", arr);
        json_dumpf(doc, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(doc);
    } else {
        if (n == 0)
            printf("no passage matches\n");
        json_decref(arr);
    }
    return VEIL_EXIT_OK;
}

static int cmd_rag_search_or_verify(int argc, char **argv, int verify)
{
    static const struct option opts[] = {{"store", required_argument, NULL, 's'},
                                         {"key", required_argument, NULL, 'k'},
                                         {"collection", required_argument, NULL, 'c'},
                                         {"top-k", required_argument, NULL, 't'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *store = NULL, *key = NULL, *collection = NULL;
    size_t top_k = 5;
    int as_json = 0, c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': store = optarg; break;
        case 'k': key = optarg; break;
        case 'c': collection = optarg; break;
        case 't': top_k = strtoul(optarg, NULL, 10); break;
        case 'j': as_json = 1; break;
        case 'h': return usage(stdout, VEIL_EXIT_OK);
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (!store || !key || (verify ? optind != argc : optind != argc - 1) || top_k == 0 ||
        top_k > VEIL_RAG_TOP_K_MAX)
        return usage(stderr, VEIL_EXIT_USAGE);
    veil_rag_store *s = NULL;
    int rc = open_store(store, key, collection, &s);
    if (rc != VEIL_EXIT_OK)
        return rc;
    if (!verify) {
        rc = do_search(s, argv[optind], top_k, as_json);
    } else {
        veil_result r = veil_rag_store_verify(s);
        const veil_rag_index *ix = veil_rag_store_index(s);
        if (!veil_ok(r)) {
            cli_error(store, r);
            fprintf(stderr, "veil: %s: bad record: %s\n", store, veil_rag_store_bad_record(s));
            rc = VEIL_EXIT_FAILED;
        } else if (as_json) {
            printf("{\"collection\": \"%s\", \"documents\": %u, \"passages\": %u, \"ok\": true}\n",
                   veil_rag_store_collection(s), veil_rag_index_docs(ix),
                   veil_rag_index_passages(ix));
        } else {
            printf("ok: collection %s, %u documents, %u passages, every record authentic\n",
                   veil_rag_store_collection(s), veil_rag_index_docs(ix),
                   veil_rag_index_passages(ix));
        }
    }
    veil_rag_store_free(s);
    return rc;
}

int cmd_rag(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr, VEIL_EXIT_USAGE);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return usage(stdout, VEIL_EXIT_OK);
    if (!strcmp(argv[1], "ingest"))
        return cmd_rag_ingest(argc - 1, argv + 1);
    if (!strcmp(argv[1], "search"))
        return cmd_rag_search_or_verify(argc - 1, argv + 1, 0);
    if (!strcmp(argv[1], "verify"))
        return cmd_rag_search_or_verify(argc - 1, argv + 1, 1);
    fprintf(stderr, "veil rag: unknown subcommand '%s'\n", argv[1]);
    return usage(stderr, VEIL_EXIT_USAGE);
}
