/* veil keygen: generate an OHTTP key pair and its key configuration.
 *
 * Writes PREFIX.key (the private key and its config, JSON, mode 0600) and
 * PREFIX.ohttp-keys (the application/ohttp-keys body a gateway serves). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/ohttp.h"

typedef struct kem_choice {
    const char *name;
    uint16_t kem;
    veil_ohttp_symalg algs[2];
    size_t n_algs;
} kem_choice;

/* Each KEM offers the AEADs that match its strength. */
static const kem_choice kems[] = {
    {"x25519",
     VEIL_HPKE_KEM_X25519,
     {{VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_AES128GCM},
      {VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_CHACHA20POLY1305}},
     2},
    {"p256", VEIL_HPKE_KEM_P256, {{VEIL_HPKE_KDF_SHA256, VEIL_HPKE_AEAD_AES128GCM}}, 1},
    {"p384", VEIL_HPKE_KEM_P384, {{VEIL_HPKE_KDF_SHA384, VEIL_HPKE_AEAD_AES256GCM}}, 1},
};

static int usage(FILE *f, int code)
{
    fprintf(f, "usage: veil keygen --kem x25519|p256|p384 [--key-id N] [--out PREFIX] [--json]\n"
               "Writes PREFIX.key (private key, mode 0600) and PREFIX.ohttp-keys\n"
               "(application/ohttp-keys). PREFIX defaults to 'ohttp'; key id to 1.\n");
    return code;
}

static json_t *key_json(const veil_ohttp_keyconfig *cfg, const char *kem_name, const char *sk_hex,
                        const char *cfg_hex)
{
    char pk_hex[2 * VEIL_HPKE_MAX_PK + 1];
    veil_hex_encode(cfg->public_key, cfg->public_key_len, pk_hex);
    json_t *algs = json_array();
    for (size_t i = 0; i < cfg->n_algs; i++)
        json_array_append_new(algs,
                              json_pack("{s:s,s:s}", "kdf", veil_hpke_kdf_name(cfg->algs[i].kdf),
                                        "aead", veil_hpke_aead_name(cfg->algs[i].aead)));
    json_t *o = json_pack("{s:i,s:s,s:s,s:o,s:s}", "key_id", (int)cfg->key_id, "kem", kem_name,
                          "public_key", pk_hex, "algorithms", algs, "key_config", cfg_hex);
    if (sk_hex)
        json_object_set_new(o, "private_key", json_string(sk_hex));
    return o;
}

static int write_outputs(const char *prefix, const veil_ohttp_keyconfig *cfg, const kem_choice *k,
                         const uint8_t *sk, size_t sk_len, int as_json)
{
    int rc = VEIL_EXIT_INTERNAL;
    veil_buf cfg_bytes, list;
    veil_buf_init(&cfg_bytes, 0);
    veil_buf_init(&list, 0);
    char sk_hex[2 * VEIL_HPKE_MAX_SK + 1], path[4096];
    char *cfg_hex = NULL, *text = NULL;
    size_t text_len = 0;
    json_t *doc = NULL;
    veil_result r = veil_ohttp_keyconfig_encode(cfg, &cfg_bytes);
    if (veil_ok(r))
        r = veil_ohttp_keys_encode(cfg, 1, &list);
    if (!veil_ok(r) || !(cfg_hex = veil_calloc(2 * cfg_bytes.len + 1, 1))) {
        cli_error("keygen", r);
        goto out;
    }
    veil_hex_encode(cfg_bytes.data, cfg_bytes.len, cfg_hex);
    veil_hex_encode(sk, sk_len, sk_hex);
    doc = key_json(cfg, k->name, sk_hex, cfg_hex);
    text_len = json_dumpb(doc, NULL, 0, JSON_INDENT(2));
    text = veil_calloc(text_len + 1, 1);
    snprintf(path, sizeof path, "%s.key", prefix);
    if (!text || json_dumpb(doc, text, text_len, JSON_INDENT(2)) != text_len ||
        cli_write_file(path, text, text_len, 0600) != 0)
        goto out;
    snprintf(path, sizeof path, "%s.ohttp-keys", prefix);
    if (cli_write_file(path, list.data, list.len, 0644) != 0)
        goto out;
    json_object_del(doc, "private_key");
    if (as_json) {
        json_object_set_new(doc, "files",
                            json_pack("{s:s+,s:s+}", "private_key", prefix, ".key", "ohttp_keys",
                                      prefix, ".ohttp-keys"));
        json_dumpf(doc, stdout, JSON_INDENT(2));
        printf("\n");
    } else {
        printf("key id %u, %s, public key %s\nwrote %s.key (private, mode 0600) and "
               "%s.ohttp-keys\n",
               cfg->key_id, veil_hpke_kem_info_get(cfg->kem)->name,
               json_string_value(json_object_get(doc, "public_key")), prefix, prefix);
    }
    rc = VEIL_EXIT_OK;
out:
    veil_wipe(sk_hex, sizeof sk_hex);
    veil_free_wiped(text, text_len + 1);
    json_decref(doc);
    veil_free(cfg_hex);
    veil_buf_free(&cfg_bytes);
    veil_buf_free(&list);
    return rc;
}

int cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"kem", required_argument, NULL, 'k'}, {"key-id", required_argument, NULL, 'i'},
        {"out", required_argument, NULL, 'o'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0}};
    const kem_choice *k = NULL;
    const char *prefix = "ohttp";
    long key_id = 1;
    int as_json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            for (size_t i = 0; i < sizeof kems / sizeof kems[0]; i++)
                if (!strcmp(optarg, kems[i].name))
                    k = &kems[i];
            if (!k) {
                fprintf(stderr, "veil keygen: unknown KEM '%s'\n", optarg);
                return usage(stderr, VEIL_EXIT_USAGE);
            }
            break;
        case 'i': {
            char *end;
            key_id = strtol(optarg, &end, 0);
            if (*end || key_id < 0 || key_id > 255) {
                fprintf(stderr, "veil keygen: --key-id must be 0..255\n");
                return VEIL_EXIT_USAGE;
            }
            break;
        }
        case 'o': prefix = optarg; break;
        case 'j': as_json = 1; break;
        case 'h': return usage(stdout, VEIL_EXIT_OK);
        default: return usage(stderr, VEIL_EXIT_USAGE);
        }
    }
    if (!k || optind != argc)
        return usage(stderr, VEIL_EXIT_USAGE);

    veil_hpke_key *key = NULL;
    veil_ohttp_keyconfig cfg;
    uint8_t sk[VEIL_HPKE_MAX_SK];
    size_t sk_len = 0;
    veil_result r = veil_hpke_key_generate(k->kem, &key);
    if (veil_ok(r))
        r = veil_ohttp_keyconfig_for_key((uint8_t)key_id, key, k->algs, k->n_algs, &cfg);
    if (veil_ok(r))
        r = veil_hpke_key_private(key, sk, sizeof sk, &sk_len);
    veil_hpke_key_free(key);
    int rc = veil_ok(r) ? write_outputs(prefix, &cfg, k, sk, sk_len, as_json) : cli_exit_for(r);
    if (!veil_ok(r))
        cli_error("keygen", r);
    veil_wipe(sk, sizeof sk);
    return rc;
}
