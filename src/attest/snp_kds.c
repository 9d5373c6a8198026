/* The AMD KDS client (include/veil/kds.h): fetch the VCEK, the ASK/ARK
 * bundle and the CRL of a chip at its REPORTED_TCB, keep them on disk, and
 * hand them to the verifier as if the TEE had sent them. Nothing fetched is
 * trusted: veil_snp_verify chains it to the pinned roots, and only what
 * passes the chain and VCEK checks is cached. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/x509.h"
#include "veil/hex.h"
#include "veil/http.h"
#include "veil/kds.h"
#include "veil/mem.h"

#define MAX_CERT ((size_t)16 << 10) /* a VCEK is ~1.3 KB, the bundle ~4.6 KB */
#define MAX_CRL ((size_t)256 << 10) /* AMD's CRLs are ~1 KB */
#define HWID_LEN 64
#define HWID_LEN_TURIN 8

typedef enum got { GOT_OK, GOT_ABSENT, GOT_DOWN } got;

/* What one lookup pass needs. */
typedef struct kds_ctx {
    const veil_kds_config *cfg;
    const veil_snp_report *r;
    int64_t now;
    veil_kds_outcome *out;
    char base[VEIL_KDS_URL_MAX]; /* {base}/vcek/v1/{product} */
    char dir[VEIL_KDS_PATH_MAX]; /* {cache}/{product} */
    veil_buf vcek, chain, crl;
    bool vcek_fetched, chain_fetched, crl_fetched;
} kds_ctx;

static const char *base_url(const veil_kds_config *cfg)
{
    return cfg->base_url && cfg->base_url[0] ? cfg->base_url : VEIL_KDS_DEFAULT_URL;
}

static void set_detail(veil_kds_outcome *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_detail(veil_kds_outcome *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->detail, sizeof o->detail, fmt, ap);
    va_end(ap);
}

/* ---- URLs ----------------------------------------------------------------------------- */

static veil_result product_url(const char *base, veil_snp_product p, char *out, size_t cap)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    VEIL_ENSURE(p != VEIL_SNP_PRODUCT_UNKNOWN, VEIL_E_USAGE, "kds: unknown product");
    int w = snprintf(out, cap, "%.*s/vcek/v1/%s", (int)n, base, veil_snp_product_name(p));
    VEIL_ENSURE(w > 0 && (size_t)w < cap, VEIL_E_USAGE, "kds: base URL too long");
    return VEIL_OK;
}

veil_result veil_kds_vcek_url(const char *base, veil_snp_product product, const uint8_t chip_id[64],
                              uint64_t reported_tcb, char *out, size_t cap)
{
    veil_snp_tcb t;
    char pre[VEIL_KDS_URL_MAX], hex[2 * HWID_LEN + 1], fmc[24] = "";
    VEIL_ENSURE(base && chip_id && out && cap > 0, VEIL_E_USAGE, "kds: missing argument");
    VEIL_GUARD(product_url(base, product, pre, sizeof pre));
    VEIL_GUARD(veil_snp_tcb_decode(reported_tcb, product, &t));
    bool turin = product == VEIL_SNP_TURIN;
    veil_hex_encode(chip_id, turin ? HWID_LEN_TURIN : HWID_LEN, hex);
    if (turin)
        snprintf(fmc, sizeof fmc, "fmcSPL=%u&", t.fmc);
    int w = snprintf(out, cap, "%s/%s?%sblSPL=%u&teeSPL=%u&snpSPL=%u&ucodeSPL=%u", pre, hex, fmc,
                     t.bootloader, t.tee, t.snp, t.microcode);
    VEIL_ENSURE(w > 0 && (size_t)w < cap, VEIL_E_USAGE, "kds: URL too long");
    return VEIL_OK;
}

/* ---- files ------------------------------------------------------------------------------ */

static bool read_file(const char *path, size_t max, veil_buf *out)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool ok = false;
    out->len = 0;
    if (fd < 0)
        return false;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && (size_t)st.st_size <= max &&
        veil_ok(veil_buf_reserve(out, (size_t)st.st_size))) {
        ssize_t n = read(fd, out->data, (size_t)st.st_size);
        ok = n == st.st_size;
        out->len = ok ? (size_t)n : 0;
    }
    close(fd);
    return ok;
}

/* Write through a temporary file and rename, so a reader never sees half. */
static bool write_file(const char *path, const veil_buf *b)
{
    char tmp[VEIL_KDS_PATH_MAX + 8];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return false;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    bool ok = write(fd, b->data, b->len) == (ssize_t)b->len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok)
        unlink(tmp);
    return ok;
}

static bool ensure_dir(const char *path) { return mkdir(path, 0700) == 0 || errno == EEXIST; }

static bool cache_path(const kds_ctx *c, const char *file, char *out, size_t cap)
{
    int w = snprintf(out, cap, "%s/%s", c->dir, file);
    return w > 0 && (size_t)w < cap;
}

/* ---- HTTP --------------------------------------------------------------------------------- */

static got fetch(kds_ctx *c, const char *url, size_t max, veil_buf *out)
{
    veil_http_client_opts o = {.connect_timeout_ms =
                                   c->cfg->timeout_ms ? c->cfg->timeout_ms : 10000,
                               .timeout_ms = c->cfg->timeout_ms ? c->cfg->timeout_ms : 10000,
                               .max_response = max,
                               .ca_file = c->cfg->ca_file};
    veil_http_client_response resp;
    memset(&resp, 0, sizeof resp);
    veil_result r = veil_http_get(url, &o, &resp);
    got g = GOT_DOWN;
    if (!veil_ok(r)) {
        set_detail(c->out, "GET %s failed (%s)", url, veil_http_failure_name(resp.failure));
    } else if (resp.status == 200 && resp.body.len > 0) {
        out->len = 0;
        g = veil_ok(veil_buf_append(out, resp.body.data, resp.body.len)) ? GOT_OK : GOT_DOWN;
    } else if (resp.status >= 400 && resp.status < 500 && resp.status != 429) {
        set_detail(c->out, "GET %s answered %ld", url, resp.status);
        g = GOT_ABSENT;
    } else {
        set_detail(c->out, "GET %s answered %ld", url, resp.status);
    }
    veil_http_client_response_free(&resp);
    return g;
}

/* ---- the three pieces ------------------------------------------------------------------------ */

static got get_vcek(kds_ctx *c)
{
    char name[2 * HWID_LEN + 48], path[VEIL_KDS_PATH_MAX], hex[2 * HWID_LEN + 1];
    bool turin = c->out->product == VEIL_SNP_TURIN;
    veil_hex_encode(c->r->chip_id, turin ? HWID_LEN_TURIN : HWID_LEN, hex);
    snprintf(name, sizeof name, "vcek-%s-%016llx.der", hex, (unsigned long long)c->r->reported_tcb);
    if (cache_path(c, name, path, sizeof path) && read_file(path, MAX_CERT, &c->vcek)) {
        c->out->vcek_cached = true;
        return GOT_OK;
    }
    if (!veil_ok(veil_kds_vcek_url(base_url(c->cfg), c->out->product, c->r->chip_id,
                                   c->r->reported_tcb, c->out->vcek_url, sizeof c->out->vcek_url)))
        return GOT_DOWN;
    got g = fetch(c, c->out->vcek_url, MAX_CERT, &c->vcek);
    c->vcek_fetched = g == GOT_OK;
    return g;
}

static got get_chain(kds_ctx *c)
{
    char path[VEIL_KDS_PATH_MAX], url[VEIL_KDS_URL_MAX + 16];
    if (cache_path(c, "cert_chain.pem", path, sizeof path) &&
        read_file(path, MAX_CERT, &c->chain)) {
        c->out->chain_cached = true;
        return GOT_OK;
    }
    snprintf(url, sizeof url, "%s/cert_chain", c->base);
    got g = fetch(c, url, MAX_CERT, &c->chain);
    c->chain_fetched = g == GOT_OK;
    return g;
}

/* A CRL that parses and whose nextUpdate is still ahead of `now`. */
static bool crl_current(const veil_buf *b, int64_t now)
{
    veil_x509_crl *crl = NULL;
    int64_t next = 0;
    bool ok = veil_ok(veil_x509_crl_parse(b->data, b->len, &crl)) &&
              veil_ok(veil_x509_crl_next_update(crl, &next)) && next >= now;
    veil_x509_crl_free(crl);
    return ok;
}

/* The cached CRL while current, else a fresh one; false when none can be had. */
static bool get_crl(kds_ctx *c)
{
    char path[VEIL_KDS_PATH_MAX], url[VEIL_KDS_URL_MAX + 16];
    if (cache_path(c, "crl.der", path, sizeof path) && read_file(path, MAX_CRL, &c->crl) &&
        crl_current(&c->crl, c->now)) {
        c->out->crl_cached = true;
        return true;
    }
    c->crl.len = 0;
    snprintf(url, sizeof url, "%s/crl", c->base);
    if (fetch(c, url, MAX_CRL, &c->crl) == GOT_OK && crl_current(&c->crl, c->now)) {
        c->crl_fetched = true;
        return true;
    }
    c->crl.len = 0;
    return false;
}

/* ---- checking and caching ------------------------------------------------------------------- */

/* Whether the certificates chain to the pinned roots and bind this report;
 * only then are they worth keeping. */
static bool certs_pass(const kds_ctx *c, const veil_evidence *ev)
{
    veil_verdict v;
    veil_verdict_init(&v);
    veil_snp_evidence sev = {ev->report.data, ev->report.len, c->vcek.data, c->vcek.len,
                             c->chain.data,   c->chain.len,   NULL,         0,
                             c->crl.data,     c->crl.len};
    veil_snp_trust t = {.at = c->now};
    if (!veil_ok(veil_snp_verify(&sev, &t, NULL, &v, NULL)))
        return false;
    for (size_t i = 0; i < v.n_trace; i++) {
        veil_check k = v.trace[i].check;
        if ((k == VEIL_CHECK_FORMAT || k == VEIL_CHECK_CHAIN || k == VEIL_CHECK_VCEK) &&
            !v.trace[i].passed)
            return false;
    }
    return !v.simulated && v.n_trace > 0;
}

static void cache_store(kds_ctx *c)
{
    char path[VEIL_KDS_PATH_MAX], hex[2 * HWID_LEN + 1], name[2 * HWID_LEN + 48];
    bool turin = c->out->product == VEIL_SNP_TURIN;
    if (!ensure_dir(c->cfg->cache_dir) || !ensure_dir(c->dir))
        return;
    veil_hex_encode(c->r->chip_id, turin ? HWID_LEN_TURIN : HWID_LEN, hex);
    snprintf(name, sizeof name, "vcek-%s-%016llx.der", hex, (unsigned long long)c->r->reported_tcb);
    bool ok = true;
    if (c->vcek_fetched && cache_path(c, name, path, sizeof path))
        ok = write_file(path, &c->vcek) && ok;
    if (c->chain_fetched && cache_path(c, "cert_chain.pem", path, sizeof path))
        ok = write_file(path, &c->chain) && ok;
    if (c->crl_fetched && cache_path(c, "crl.der", path, sizeof path))
        ok = write_file(path, &c->crl) && ok;
    c->out->cached_now = ok;
}

/* ---- one product ------------------------------------------------------------------------------
 */

static void ctx_reset(kds_ctx *c)
{
    c->vcek.len = c->chain.len = c->crl.len = 0;
    c->vcek_fetched = c->chain_fetched = c->crl_fetched = false;
    c->out->vcek_cached = c->out->chain_cached = c->out->crl_cached = false;
}

static got try_product(kds_ctx *c, veil_snp_product p)
{
    ctx_reset(c);
    c->out->product = p;
    if (!veil_ok(product_url(base_url(c->cfg), p, c->base, sizeof c->base)))
        return GOT_DOWN;
    int w = snprintf(c->dir, sizeof c->dir, "%s/%s", c->cfg->cache_dir, veil_snp_product_name(p));
    if (w <= 0 || (size_t)w >= sizeof c->dir)
        return GOT_DOWN;
    got g = get_vcek(c);
    if (g != GOT_OK)
        return g;
    g = get_chain(c);
    if (g != GOT_OK)
        return g == GOT_ABSENT ? GOT_DOWN : g; /* the VCEK is there: a missing chain is an outage */
    return GOT_OK;
}

/* ---- the entry point
 * ------------------------------------------------------------------------------ */

static bool has_leaf(const veil_evidence *ev)
{
    veil_snp_cert_table t;
    if (ev->vcek.len || ev->vlek.len)
        return true;
    return ev->cert_table.len &&
           veil_ok(veil_snp_cert_table_decode(ev->cert_table.data, ev->cert_table.len, &t)) &&
           (t.vcek || t.vlek);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* The report must be one whose VCEK the KDS can name. */
static veil_result fetchable(const veil_snp_report *r, veil_kds_outcome *out)
{
    if (veil_snp_signing_key(r) == VEIL_SNP_SIGNING_KEY_VLEK) {
        set_detail(out, "the report is VLEK-signed but carries no VLEK; VLEKs are not on the "
                        "AMD KDS: the TEE must send its VLEK in the evidence");
        return VEIL_ERR(VEIL_E_PROTOCOL, "kds: VLEK-signed report without its VLEK");
    }
    if (veil_snp_mask_chip_key(r) || all_zero(r->chip_id, HWID_LEN_TURIN)) {
        set_detail(out, "the report's CHIP_ID is masked, so its VCEK cannot be looked up: the "
                        "TEE must send its VCEK in the evidence");
        return VEIL_ERR(VEIL_E_PROTOCOL, "kds: CHIP_ID masked");
    }
    return VEIL_OK;
}

static veil_result finish(kds_ctx *c, veil_evidence *ev, got g)
{
    const char *cache = c->cfg->cache_dir;
    if (g == GOT_ABSENT) {
        char why[sizeof c->out->detail];
        snprintf(why, sizeof why, "%s", c->out->detail);
        set_detail(c->out,
                   "the KDS at %s has no VCEK for this chip and REPORTED_TCB (%s); check that "
                   "--kds-url names an AMD KDS or a mirror of it, or have the TEE send its VCEK",
                   base_url(c->cfg), why);
        return VEIL_ERR(VEIL_E_PROTOCOL, "kds: no VCEK for this chip");
    }
    if (g == GOT_DOWN) {
        char why[sizeof c->out->detail];
        snprintf(why, sizeof why, "%s", c->out->detail);
        set_detail(c->out,
                   "cannot get the VCEK or ASK/ARK from the KDS at %s (%s) and the cache %s "
                   "does not hold them: check the network and --kds-url, or have the TEE send "
                   "its VCEK in the evidence",
                   base_url(c->cfg), why, cache);
        return VEIL_ERR(VEIL_E_INTERNAL, "kds: the KDS is unreachable and nothing is cached");
    }
    c->out->have_crl = get_crl(c);
    if (!c->out->have_crl && !c->cfg->crl_optional) {
        char why[sizeof c->out->detail];
        snprintf(why, sizeof why, "%s", c->out->detail);
        set_detail(c->out,
                   "no current CRL for %s from the KDS at %s (%s) nor in the cache %s: check the "
                   "network and --kds-url, or accept evidence without a CRL (--kds-crl-optional)",
                   veil_snp_product_name(c->out->product), base_url(c->cfg), why, cache);
        return VEIL_ERR(VEIL_E_INTERNAL, "kds: no current CRL");
    }
    if ((c->vcek_fetched || c->chain_fetched || c->crl_fetched) && certs_pass(c, ev))
        cache_store(c);
    veil_buf_free(&ev->vcek);
    veil_buf_free(&ev->ask);
    veil_buf_free(&ev->crl);
    ev->vcek = c->vcek;
    ev->ask = c->chain;
    ev->crl = c->crl;
    veil_buf_init(&c->vcek, 0);
    veil_buf_init(&c->chain, 0);
    veil_buf_init(&c->crl, 0);
    c->out->detail[0] = 0;
    return VEIL_OK;
}

veil_result veil_kds_complete(const veil_kds_config *cfg, veil_evidence *ev, int64_t now,
                              veil_kds_outcome *out)
{
    veil_result res = VEIL_OK;
    veil_snp_report *r = NULL;
    kds_ctx c;
    VEIL_ENSURE(cfg && cfg->cache_dir && ev && out, VEIL_E_USAGE, "kds: missing argument");
    memset(out, 0, sizeof *out);
    if (strcmp(ev->tee, "sev-snp") != 0 || !ev->report.len || has_leaf(ev))
        return VEIL_OK; /* nothing to add (an HCL report's VCEK comes from its host) */
    out->needed = true;
    memset(&c, 0, sizeof c);
    r = veil_calloc(1, sizeof *r);
    VEIL_ENSURE(r != NULL, VEIL_E_NOMEM, "kds: out of memory");
    if (!veil_ok(veil_snp_report_decode(ev->report.data, ev->report.len, r)))
        goto out; /* the verifier reports the malformed report */
    VEIL_TRY(res, fetchable(r, out));
    c = (kds_ctx){.cfg = cfg, .r = r, .now = now, .out = out};
    veil_buf_init(&c.vcek, 0);
    veil_buf_init(&c.chain, 0);
    veil_buf_init(&c.crl, 0);
    veil_snp_product cpu = veil_snp_report_product(r);
    const veil_snp_product guess[2] = {VEIL_SNP_MILAN, VEIL_SNP_GENOA};
    got g = GOT_ABSENT;
    for (size_t i = 0; i < (cpu ? 1u : 2u) && g == GOT_ABSENT; i++)
        g = try_product(&c, cpu ? cpu : guess[i]);
    res = finish(&c, ev, g);
out:
    veil_buf_free(&c.vcek);
    veil_buf_free(&c.chain);
    veil_buf_free(&c.crl);
    veil_free(r);
    return res;
}
