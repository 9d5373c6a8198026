/* Offline checks for the KMS shell tests (tests/kms/e2e.sh and crash.sh); links veil_lib.
 *
 *   kms_check ledger STATE_DIR   verify STATE_DIR/ledger.db from its first
 *                                entry (veil_ledger_verify_all) with the
 *                                public key in STATE_DIR/ledger.pub, then
 *                                print every entry, one canonical JSON per line
 *   kms_check keys FILE          decode a key set written by `veil kms fetch
 *                                --out` and print "NAME KEY_ID PUBKEY_HEX"
 *                                per key
 *   kms_check keysets FILE...    the same for many files (one process for a
 *                                long crash run): "FILE NAME KEY_ID PUBKEY_HEX"
 * Run `ledger` only while no KMS holds the state. Exit 0 on success, 1 on a
 * failed check (named on stderr), 2 on usage errors. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "veil/hex.h"
#include "veil/kms.h"
#include "veil/ledger.h"
#include "veil/sign.h"

static int read_file(const char *path, veil_buf *out)
{
    FILE *f = fopen(path, "rb");
    uint8_t tmp[4096];
    size_t n;
    if (!f) {
        fprintf(stderr, "kms_check: cannot open %s\n", path);
        return -1;
    }
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (!veil_ok(veil_buf_append(out, tmp, n))) {
            fclose(f);
            return -1;
        }
    fclose(f);
    return 0;
}

static int check_ledger(const char *dir)
{
    char path[4096];
    veil_buf pem;
    veil_sign_key *key = NULL;
    veil_ledger *l = NULL;
    uint64_t size = 0;
    int rc = 1;
    veil_buf_init(&pem, 0);
    snprintf(path, sizeof path, "%s/ledger.pub", dir);
    if (read_file(path, &pem) != 0)
        goto out;
    veil_result r = veil_sign_key_from_pem(pem.data, pem.len, &key);
    if (veil_ok(r)) {
        snprintf(path, sizeof path, "%s/ledger.db", dir);
        r = veil_ledger_open(path, key, &l);
    }
    if (veil_ok(r))
        r = veil_ledger_verify_all(l);
    if (veil_ok(r))
        r = veil_ledger_size(l, &size);
    if (!veil_ok(r)) {
        fprintf(stderr, "kms_check: ledger: %s\n", r.msg);
        goto out;
    }
    for (uint64_t i = 0; i < size; i++) {
        veil_buf e;
        veil_buf_init(&e, 0);
        r = veil_ledger_entry(l, i, &e);
        if (!veil_ok(r)) {
            fprintf(stderr, "kms_check: entry %llu: %s\n", (unsigned long long)i, r.msg);
            veil_buf_free(&e);
            goto out;
        }
        fwrite(e.data, 1, e.len, stdout);
        putchar('\n');
        veil_buf_free(&e);
    }
    fprintf(stderr, "kms_check: ledger of %llu entries verifies from the first\n",
            (unsigned long long)size);
    rc = 0;
out:
    veil_ledger_close(l);
    veil_sign_key_free(key);
    veil_buf_free(&pem);
    return rc;
}

static int print_keys(const char *file, bool with_file)
{
    veil_buf b;
    veil_release_keys *k = calloc(1, sizeof *k);
    int rc = 1;
    veil_buf_init(&b, 0);
    if (!k || read_file(file, &b) != 0)
        goto out;
    veil_result r = veil_release_keys_decode(b.data, b.len, k);
    if (!veil_ok(r)) {
        fprintf(stderr, "kms_check: %s: %s\n", file, r.msg);
        goto out;
    }
    for (size_t i = 0; i < k->n; i++) {
        const veil_ohttp_keyconfig *c = &k->keys[i].config;
        if (with_file)
            printf("%s ", file);
        printf("%s %u ", k->name, c->key_id);
        for (size_t j = 0; j < c->public_key_len; j++)
            printf("%02x", c->public_key[j]);
        printf("\n");
    }
    rc = 0;
out:
    if (k) {
        veil_release_keys_wipe(k);
        free(k);
    }
    veil_buf_free(&b);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "ledger"))
        return check_ledger(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "keys"))
        return print_keys(argv[2], false);
    if (argc >= 3 && !strcmp(argv[1], "keysets")) {
        for (int i = 2; i < argc; i++)
            if (print_keys(argv[i], true) != 0)
                return 1;
        return 0;
    }
    fprintf(
        stderr,
        "usage: kms_check ledger STATE_DIR | kms_check keys FILE | kms_check keysets FILE...\n");
    return 2;
}
