/* The "tsm" attester: Linux configfs-tsm (Documentation/ABI/testing/
 * configfs-tsm; drivers/virt/coco/tsm.c). One report = one entry directory:
 *
 *   mkdir DIR/ENTRY                     the kernel creates the attributes
 *   read generation -> g0
 *   [write privlevel = VMPL]            only for VMPL > 0 (generation + 1)
 *   write inblob = REPORT_DATA[64]      (generation + 1)
 *   read generation -> g1, must be g0 + writes (else another writer raced)
 *   read provider ("sev_guest": outblob is an SNP report; "tdx_guest": a TDX quote)
 *   read outblob (the SNP report), auxblob (the certificate table, may be empty)
 *   read generation -> g2, must equal g1 (else the blobs may mix requests)
 *   rmdir DIR/ENTRY
 *
 * Attributes are opened without O_CREAT (the kernel's always exist) and read
 * to EOF with a bound (configfs reports a fixed st_size). Two waits are
 * bounded and never taken on real configfs, where everything is synchronous:
 * for `generation` to appear after mkdir and for it to reach g0 + writes;
 * they let the emulated tree of `veil sim tsm` (filled by inotify) run this
 * same code path. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attest/attester_internal.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/rand.h"
#include "veil/snp.h"

#define SMALL_ATTR_MAX 64
#define WAIT_TOTAL_MS 10000
#define WAIT_STEP_MS 5

static const char *const attrs[] = {"inblob",
                                    "privlevel",
                                    "privlevel_floor",
                                    "provider",
                                    "outblob",
                                    "auxblob",
                                    "generation",
                                    "manifestblob",
                                    "service_provider",
                                    "service_guid",
                                    "service_manifest_version"};

veil_result veil_tsm_check_dir(const char *dir)
{
    struct stat st;
    VEIL_ENSURE(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), VEIL_E_UNSUPPORTED,
                "configfs-tsm is not available: not in a confidential VM, or the kernel lacks "
                "CONFIG_TSM_REPORTS (or configfs is not mounted)");
    return VEIL_OK;
}

static veil_result attr_path(char *out, size_t cap, const char *entry, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", entry, name);
    VEIL_ENSURE(n > 0 && (size_t)n < cap, VEIL_E_USAGE, "configfs-tsm path too long");
    return VEIL_OK;
}

/* Read an attribute to EOF, at most max bytes. ENOENT is reported as
 * VEIL_E_UNSUPPORTED so the caller can tell "not there (yet)". */
static veil_result read_attr(const char *entry, const char *name, size_t max, veil_buf *out)
{
    char path[VEIL_ATTESTER_PATH_MAX];
    veil_result res = VEIL_OK;
    VEIL_GUARD(attr_path(path, sizeof path, entry, name));
    veil_buf_clear(out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return VEIL_ERR(VEIL_E_UNSUPPORTED, "configfs-tsm attribute missing");
    VEIL_ENSURE(fd >= 0, VEIL_E_INTERNAL, "cannot open a configfs-tsm attribute");
    for (;;) {
        uint8_t chunk[4096];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        /* The provider reports its failures (no report, bad privlevel) as
         * read errors on outblob. */
        VEIL_ENSURE_GOTO(res, n >= 0, VEIL_E_INTERNAL,
                         "reading a configfs-tsm attribute failed (the TEE provider refused "
                         "the request; see the kernel log)");
        if (n == 0)
            break;
        VEIL_ENSURE_GOTO(res, out->len + (size_t)n <= max, VEIL_E_PROTOCOL,
                         "a configfs-tsm attribute is larger than expected");
        VEIL_TRY(res, veil_buf_append(out, chunk, (size_t)n));
    }
out:
    close(fd);
    return res;
}

static veil_result write_attr(const char *entry, const char *name, const void *p, size_t n)
{
    char path[VEIL_ATTESTER_PATH_MAX];
    VEIL_GUARD(attr_path(path, sizeof path, entry, name));
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    VEIL_ENSURE(fd >= 0, VEIL_E_INTERNAL, "cannot open a configfs-tsm attribute for writing");
    ssize_t w;
    do
        w = write(fd, p, n); /* one write: binary attributes take the whole value at once */
    while (w < 0 && errno == EINTR);
    int closed = close(fd); /* configfs binary attributes commit on close */
    VEIL_ENSURE(w == (ssize_t)n && closed == 0, VEIL_E_PROTOCOL,
                "writing a configfs-tsm attribute failed (the provider rejected the value)");
    return VEIL_OK;
}

static veil_result parse_u64(const veil_buf *b, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    VEIL_ENSURE(b->len > 0, VEIL_E_PROTOCOL, "configfs-tsm generation is empty");
    for (; i < b->len && b->data[i] != '\n'; i++) {
        VEIL_ENSURE(b->data[i] >= '0' && b->data[i] <= '9' && v < UINT64_MAX / 10, VEIL_E_PROTOCOL,
                    "configfs-tsm generation is not a number");
        v = v * 10 + (uint64_t)(b->data[i] - '0');
    }
    VEIL_ENSURE(i > 0 && (i == b->len || i + 1 == b->len), VEIL_E_PROTOCOL,
                "configfs-tsm generation is not a number");
    *out = v;
    return VEIL_OK;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static veil_result read_generation(const char *entry, uint64_t *gen)
{
    veil_buf b;
    veil_buf_init(&b, SMALL_ATTR_MAX);
    veil_result r = read_attr(entry, "generation", SMALL_ATTR_MAX, &b);
    if (veil_ok(r))
        r = parse_u64(&b, gen);
    veil_buf_free(&b);
    return r;
}

/* generation, waiting (bounded) until it exists and is at least `min`. */
static veil_result await_generation(const char *entry, uint64_t min, uint64_t *gen)
{
    for (long waited = 0;; waited += WAIT_STEP_MS) {
        veil_result r = read_generation(entry, gen);
        if (veil_ok(r) && *gen >= min)
            return VEIL_OK;
        if (!veil_ok(r) && r.cls != VEIL_E_UNSUPPORTED)
            return r;
        VEIL_ENSURE(waited < WAIT_TOTAL_MS, VEIL_E_INTERNAL,
                    "configfs-tsm entry did not become ready (no `generation` attribute, or "
                    "it did not advance after our writes)");
        sleep_ms(WAIT_STEP_MS);
    }
}

/* Remove the entry. On configfs rmdir alone works; an emulated entry is a
 * plain directory that must be emptied first (on configfs the unlinks fail
 * harmlessly with EPERM, and are not reached). Best effort. */
static void remove_entry(const char *entry)
{
    if (rmdir(entry) == 0 || errno != ENOTEMPTY)
        return;
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
        char path[VEIL_ATTESTER_PATH_MAX];
        if (veil_ok(attr_path(path, sizeof path, entry, attrs[i])))
            unlink(path);
    }
    rmdir(entry);
}

/* Which TEE answered: SEV-SNP's sev_guest or TDX's tdx_guest. */
static veil_result check_provider(const char *entry, bool *tdx)
{
    veil_buf b;
    veil_buf_init(&b, SMALL_ATTR_MAX);
    veil_result r = read_attr(entry, "provider", SMALL_ATTR_MAX, &b);
    if (veil_ok(r)) {
        size_t n = b.len;
        while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == '\0'))
            n--;
        *tdx = veil_public_equal(b.data, n, "tdx_guest", 9);
        if (!*tdx && !veil_public_equal(b.data, n, "sev_guest", 9))
            r = VEIL_ERR(VEIL_E_UNSUPPORTED,
                         "configfs-tsm provider is neither sev_guest nor tdx_guest");
    }
    veil_buf_free(&b);
    return r;
}

/* outblob: an SEV-SNP report (padding dropped) or a TDX quote (kept whole:
 * the verifier parses it by its own length fields). */
static veil_result read_outblob(const char *entry, bool tdx, veil_evidence *out)
{
    veil_buf *dst = tdx ? &out->quote : &out->report;
    VEIL_GUARD(read_attr(entry, "outblob", VEIL_EVIDENCE_MAX_PART, dst));
    if (tdx) {
        VEIL_ENSURE(
            dst->len >= 48, VEIL_E_PROTOCOL,
            "configfs-tsm outblob is shorter than a TDX quote header (the provider failed)");
        return VEIL_OK;
    }
    VEIL_ENSURE(dst->len >= VEIL_SNP_REPORT_SIZE, VEIL_E_PROTOCOL,
                "configfs-tsm outblob is shorter than an SEV-SNP report (the provider failed)");
    dst->len = VEIL_SNP_REPORT_SIZE;
    return VEIL_OK;
}

/* Everything between mkdir and rmdir. */
static veil_result run_entry(const char *entry, const uint8_t report_data[64], unsigned vmpl,
                             veil_evidence *out)
{
    uint64_t g0 = 0, g1 = 0, g2 = 0, writes = 0;
    char level[8];

    VEIL_GUARD(await_generation(entry, 0, &g0));
    if (vmpl > 0) {
        int n = snprintf(level, sizeof level, "%u\n", vmpl);
        VEIL_GUARD(write_attr(entry, "privlevel", level, (size_t)n));
        writes++;
    }
    VEIL_GUARD(write_attr(entry, "inblob", report_data, 64));
    writes++;
    VEIL_GUARD(await_generation(entry, g0 + writes, &g1));
    VEIL_ENSURE(g1 == g0 + writes, VEIL_E_INTERNAL,
                "another process wrote to our configfs-tsm entry: retry");
    bool tdx = false;
    VEIL_GUARD(check_provider(entry, &tdx));
    VEIL_GUARD(read_outblob(entry, tdx, out));
    if (!tdx) { /* TDX quotes carry their PCK chain inside; SNP's certificates are in auxblob */
        veil_result r = read_attr(entry, "auxblob", VEIL_EVIDENCE_MAX_PART, &out->cert_table);
        if (!veil_ok(r) && r.cls != VEIL_E_UNSUPPORTED) /* no auxblob: certificates come later */
            return r;
    }
    VEIL_GUARD(read_generation(entry, &g2));
    VEIL_ENSURE(g2 == g1, VEIL_E_INTERNAL,
                "configfs-tsm generation changed while reading: another writer raced; retry");
    return VEIL_OK;
}

veil_result veil_tsm_evidence(const char *dir, const uint8_t report_data[64], unsigned vmpl,
                              veil_evidence *out)
{
    char entry[VEIL_ATTESTER_PATH_MAX], hex[17];
    uint8_t rnd[8];
    veil_result res = VEIL_OK;

    veil_evidence_free(out);
    veil_evidence_init(out);
    VEIL_GUARD(veil_tsm_check_dir(dir));
    VEIL_GUARD(veil_random_bytes(rnd, sizeof rnd));
    veil_hex_encode(rnd, sizeof rnd, hex);
    int n = snprintf(entry, sizeof entry, "%s/veil-%ld-%s", dir, (long)getpid(), hex);
    VEIL_ENSURE(n > 0 && (size_t)n < sizeof entry, VEIL_E_USAGE, "configfs-tsm path too long");
    VEIL_ENSURE(mkdir(entry, 0700) == 0, VEIL_E_INTERNAL,
                "cannot create a configfs-tsm report entry (permission denied? try as root)");
    res = run_entry(entry, report_data, vmpl, out);
    remove_entry(entry);
    if (veil_ok(res)) {
        if (out->quote.len)
            memcpy(out->tee, "tdx", sizeof "tdx");
        else
            memcpy(out->tee, "sev-snp", sizeof "sev-snp");
        memcpy(out->attester, "tsm", sizeof "tsm");
        out->claims_simulated = false;
    } else {
        veil_evidence_free(out);
        veil_evidence_init(out);
    }
    return res;
}
