/* The tsm attester on a TDX guest: a thread plays configfs-tsm's tdx_guest
 * provider (what the kernel does on a real TD) and answers with the real
 * TDX v5 quote from ../shared/testdata; the attester must return a "tdx"
 * bundle carrying that quote whole, which the TDX verifier accepts. */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attest/attester_internal.h"
#include "testutil.h"
#include "veil/mem.h"
#include "veil/tdx.h"
#include "veil/timeutil.h"

#define QUOTE "attestation/tdx-v5-go-tdx-guest/quote.bin"

typedef struct emulator {
    char dir[512];
    const char *quote;
    size_t quote_len;
    int ok;
} emulator;

static void put(const char *entry, const char *name, const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", entry, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Find the attester's entry, offer the attributes, wait for a 64-byte
 * inblob, then answer. Every wait is bounded (10 s). */
static void *emulate(void *arg)
{
    emulator *e = arg;
    char entry[1024] = "";
    for (int i = 0; i < 1000 && !entry[0]; i++, sleep_ms(10)) {
        DIR *d = opendir(e->dir);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL)
            if (de->d_name[0] != '.')
                snprintf(entry, sizeof entry, "%s/%s", e->dir, de->d_name);
        if (d)
            closedir(d);
    }
    if (!entry[0])
        return NULL;
    put(entry, "inblob", "", 0);
    put(entry, "provider", "tdx_guest\n", 10);
    put(entry, "outblob", "", 0);
    put(entry, "generation", "0\n", 2);
    char path[1100];
    snprintf(path, sizeof path, "%s/inblob", entry);
    struct stat st;
    for (int i = 0; i < 1000; i++, sleep_ms(10)) {
        if (stat(path, &st) == 0 && st.st_size == 64) {
            put(entry, "outblob", e->quote, e->quote_len);
            put(entry, "generation", "1\n", 2);
            e->ok = 1;
            return NULL;
        }
    }
    return NULL;
}

static void test_tdx_quote_through_configfs_tsm(void **state)
{
    emulator e = {0};
    snprintf(e.dir, sizeof e.dir, "/tmp/veil-tsm-tdx-%ld", (long)getpid());
    assert_int_equal(mkdir(e.dir, 0700), 0);
    e.quote = tu_read_testdata(QUOTE, &e.quote_len);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, emulate, &e), 0);
    uint8_t rd[64] = {0};
    veil_evidence ev;
    veil_evidence_init(&ev);
    veil_result r = veil_tsm_evidence(e.dir, rd, 0, &ev);
    pthread_join(t, NULL);
    tu_ok(r);
    assert_true(e.ok);
    assert_string_equal(ev.tee, "tdx");
    assert_string_equal(ev.attester, "tsm");
    tu_assert_bytes(ev.quote.data, ev.quote.len, (const uint8_t *)e.quote, e.quote_len);
    assert_int_equal(ev.report.len, 0);
    /* the quote the attester returned decodes as the TDX verifier expects */
    veil_tdx_quote q;
    tu_ok(veil_tdx_quote_decode(ev.quote.data, ev.quote.len, &q));
    veil_evidence_free(&ev);
    tu_free((void *)e.quote);
    rmdir(e.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tdx_quote_through_configfs_tsm),
    };
    return cmocka_run_group_tests_name("tsm_tdx", tests, NULL, NULL);
}
