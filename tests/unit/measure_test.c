/* Launch measurements: every SEV-SNP vector of
 * shared/testdata/attestation/snp-launch-measurement-vectors reproduces (also
 * through a precomputed OVMF hash); malformed OVMF tables are protocol errors;
 * a kernel with firmware that cannot measure it fails; vCPU names; the ID-key
 * digest; and the simulator's measurement (a known answer from an independent
 * Python rendering of the documented algorithm, plus what changes it). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "veil/measure.h"
#include "veil/mem.h"

#define VEC_DIR "attestation/snp-launch-measurement-vectors/"
#define N_VECTORS 7

/* Offsets inside ovmf_AmdSev_suffix.bin (4096 bytes), as parsed by hand:
 * footer entry at 4046, entries walked back from there. */
#define SFX_LEN 4096
#define SFX_FOOTER_SIZE 4046    /* u16le table size (136) */
#define SFX_FOOTER_GUID 4048    /* footer GUID */
#define SFX_RESET_SIZE 4028     /* reset-block entry [4024, 4046) */
#define SFX_RESET_GUID 4030     /* */
#define SFX_HT_DATA 3972        /* hash-table entry [3972, 3998): u32 gpa, u32 size */
#define SFX_META_DATA 3950      /* metadata entry [3950, 3972): u32 offset from end */
#define SFX_META_GUID 3956      /* */
#define SFX_OTHER_GUID 3934     /* unknown entry [3928, 3950) with 4 data bytes */
#define SFX_ASEV (4096 - 0x554) /* "ASEV" header; items follow */
#define SFX_ITEM(i) (SFX_ASEV + 16 + 12 * (i))
#define SFX_HASHES_ITEM 5 /* {0x810000, 0x1000, 0x10} */

static uint8_t *load_ovmf(size_t *len)
{
    uint8_t *p = (uint8_t *)tu_read_testdata(VEC_DIR "ovmf_AmdSev_suffix.bin", len);
    assert_int_equal(*len, SFX_LEN);
    assert_memory_equal(p + SFX_ASEV, "ASEV", 4);
    return p;
}

static void hex48(const char *hex, uint8_t out[48])
{
    veil_buf b;
    tu_hex(&b, hex);
    assert_int_equal(b.len, 48);
    memcpy(out, b.data, 48);
    veil_buf_free(&b);
}

/* Fill params from one vectors.json entry; "" kernel/initrd = empty file. */
static void vector_params(json_t *v, const uint8_t *ovmf, size_t len, veil_snp_measure_params *p)
{
    static const uint8_t empty[1] = {0};
    const char *sig = json_string_value(json_object_get(v, "vcpu_sig"));
    const char *feat = json_string_value(json_object_get(v, "guest_features"));
    json_t *kernel = json_object_get(v, "kernel"), *initrd = json_object_get(v, "initrd");
    json_t *cmdline = json_object_get(v, "cmdline");

    memset(p, 0, sizeof *p);
    p->ovmf = ovmf;
    p->ovmf_len = len;
    tu_ok(veil_snp_vmm_from_name(json_string_value(json_object_get(v, "vmm")), &p->vmm));
    p->vcpus = (uint32_t)json_integer_value(json_object_get(v, "vcpus"));
    assert_true(p->vcpus >= 1);
    p->vcpu_sig = strncmp(sig, "0x", 2) == 0 ? (uint32_t)strtoul(sig, NULL, 16) : 0;
    assert_non_null(feat);
    p->guest_features = strtoull(feat, NULL, 16);
    if (json_is_string(kernel)) {
        assert_string_equal(json_string_value(kernel), ""); /* the vectors hash empty files */
        p->kernel = empty;
    }
    if (json_is_string(initrd)) {
        assert_string_equal(json_string_value(initrd), "");
        p->initrd = empty;
    }
    if (json_is_string(cmdline))
        p->cmdline = json_string_value(cmdline);
}

static void test_snp_vectors(void **state)
{
    size_t jlen, olen, checked = 0;
    char *text = tu_read_testdata(VEC_DIR "vectors.json", &jlen);
    uint8_t *ovmf = load_ovmf(&olen);
    uint8_t want[48], got[48], ovmf_hash[48];
    json_error_t err;
    json_t *doc = json_loadb(text, jlen, 0, &err), *vecs, *v;
    size_t i;

    assert_non_null(doc);
    vecs = json_object_get(doc, "vectors");
    assert_true(json_is_array(vecs));
    tu_ok(veil_snp_ovmf_hash(ovmf, olen, ovmf_hash));
    json_array_foreach (vecs, i, v) {
        const char *name = json_string_value(json_object_get(v, "name"));
        veil_snp_measure_params p;
        assert_string_equal(json_string_value(json_object_get(v, "ovmf")),
                            "ovmf_AmdSev_suffix.bin");
        hex48(json_string_value(json_object_get(v, "expected")), want);
        if (json_object_get(v, "vmm") == NULL) { /* the OVMF-hash-only vector */
            assert_string_equal(name, "ovmf_hash_only");
            tu_assert_bytes(ovmf_hash, 48, want, 48);
            checked++;
            continue;
        }
        vector_params(v, ovmf, olen, &p);
        tu_ok(veil_snp_measure(&p, got));
        if (!veil_public_equal(got, 48, want, 48))
            print_error("vector %s\n", name);
        tu_assert_bytes(got, 48, want, 48);
        /* The same digest when starting from the precomputed OVMF hash. */
        p.ovmf_hash = ovmf_hash;
        tu_ok(veil_snp_measure(&p, got));
        tu_assert_bytes(got, 48, want, 48);
        checked++;
    }
    assert_int_equal(checked, N_VECTORS);
    json_decref(doc);
    tu_free(text);
    tu_free(ovmf);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static veil_snp_measure_params qemu_params(const uint8_t *ovmf, size_t len, bool kernel)
{
    static const uint8_t empty[1] = {0};
    veil_snp_measure_params p = {0};
    p.ovmf = ovmf;
    p.ovmf_len = len;
    p.vcpus = 2;
    p.vcpu_sig = 0x00a00f11;
    p.vmm = VEIL_SNP_VMM_QEMU;
    p.guest_features = 0x1;
    if (kernel) {
        p.kernel = empty;
        p.cmdline = "console=ttyS0";
    }
    return p;
}

static void test_parse_suffix(void **state)
{
    size_t len;
    uint8_t *ovmf = load_ovmf(&len);
    veil_ovmf_info info;
    static const uint32_t want[7][3] = {{0x800000, 0x9000, 1}, {0x80a000, 0x3000, 1},
                                        {0x80d000, 0x1000, 2}, {0x80e000, 0x1000, 3},
                                        {0x80f000, 0x1000, 4}, {0x810000, 0x1000, 0x10},
                                        {0x811000, 0xf000, 1}};
    tu_ok(veil_ovmf_parse(ovmf, len, &info));
    assert_true(info.has_reset_eip && info.has_hash_table && info.has_metadata);
    assert_int_equal(info.reset_eip, 0x0080b004);
    assert_int_equal(info.hash_table_gpa, 0x810c00);
    assert_int_equal(info.hash_table_size, 0x400);
    assert_int_equal(info.n_sections, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(info.sections[i].gpa, want[i][0]);
        assert_int_equal(info.sections[i].size, want[i][1]);
        assert_int_equal(info.sections[i].type, want[i][2]);
    }
    tu_free(ovmf);
}

/* The must-fail case: a kernel, but firmware without an SNP_KERNEL_HASHES
 * section (upstream "Kernel specified but OVMF metadata doesn't include
 * SNP_KERNEL_HASHES section"). Without a kernel the same image measures. */
static void test_kernel_without_hashes_section(void **state)
{
    size_t len;
    uint8_t *ovmf = load_ovmf(&len), out[48];
    veil_snp_measure_params p;
    veil_result r;

    put32(ovmf + SFX_ITEM(SFX_HASHES_ITEM) + 8, VEIL_OVMF_SEC_SNP_SEC_MEM);
    p = qemu_params(ovmf, len, true);
    r = veil_snp_measure(&p, out);
    assert_int_equal(r.cls, VEIL_E_PROTOCOL);
    assert_non_null(strstr(r.msg, "SNP_KERNEL_HASHES"));
    for (size_t i = 0; i < 48; i++)
        assert_int_equal(out[i], 0);
    p = qemu_params(ovmf, len, false);
    tu_ok(veil_snp_measure(&p, out));
    tu_free(ovmf);
}

typedef struct mutation {
    const char *what;
    size_t off;
    uint32_t value;
    size_t width;  /* 1, 2 or 4 bytes, little-endian */
    bool parse_ok; /* parses, but veil_snp_measure must still fail */
} mutation;

static const mutation mutations[] = {
    {"footer GUID", SFX_FOOTER_GUID + 3, 0x00, 1, false},
    {"table size too large", SFX_FOOTER_SIZE, 0xffff, 2, false},
    {"table size below 18", SFX_FOOTER_SIZE, 17, 2, false},
    {"table size off by one", SFX_FOOTER_SIZE, 137, 2, false},
    {"entry size below 18", SFX_RESET_SIZE, 5, 2, false},
    {"entry size past the table", SFX_RESET_SIZE, 0x300, 2, false},
    {"entry size zero", SFX_RESET_SIZE, 0, 2, false},
    {"metadata offset huge", SFX_META_DATA, 0xffffffff, 4, false},
    {"metadata offset past start", SFX_META_DATA, SFX_LEN + 1, 4, false},
    {"metadata offset inside header", SFX_META_DATA, 8, 4, false},
    {"metadata offset leaves items outside", SFX_META_DATA, 20, 4, false},
    {"ASEV signature", SFX_ASEV, 'B', 1, false},
    {"metadata version", SFX_ASEV + 8, 2, 4, false},
    {"metadata size", SFX_ASEV + 4, 99, 4, false},
    {"metadata item count", SFX_ASEV + 12, 8, 4, false},
    {"metadata item count huge", SFX_ASEV + 12, 0x40000000, 4, false},
    {"unknown section type", SFX_ITEM(2) + 8, 0x11, 4, false},
    {"section type zero", SFX_ITEM(0) + 8, 0, 4, false},
    {"unaligned section gpa", SFX_ITEM(0), 0x800010, 4, false},
    {"unaligned section size", SFX_ITEM(1) + 4, 0x3001, 4, false},
    {"empty section", SFX_ITEM(1) + 4, 0, 4, false},
    {"duplicate reset block", SFX_OTHER_GUID, 0, 0, false}, /* special-cased below */
    {"no reset block", SFX_RESET_GUID + 5, 0x55, 1, true},
    {"no metadata", SFX_META_GUID + 5, 0x55, 1, true},
    {"hash table too close to page end", SFX_HT_DATA, 0x810f80, 4, true},
    {"hash table area too small", SFX_HT_DATA + 4, 0x80, 4, true},
};

static void test_malformed_ovmf(void **state)
{
    size_t len;
    uint8_t *orig = load_ovmf(&len), *img = veil_calloc(1, len), out[48];
    veil_ovmf_info info;

    for (size_t m = 0; m < sizeof mutations / sizeof mutations[0]; m++) {
        const mutation *mu = &mutations[m];
        veil_snp_measure_params p;
        veil_result r;
        memcpy(img, orig, len);
        if (mu->width == 0)
            memcpy(img + mu->off, orig + SFX_RESET_GUID, 16);
        for (size_t i = 0; i < mu->width; i++)
            img[mu->off + i] = (uint8_t)(mu->value >> (8 * i));
        r = veil_ovmf_parse(img, len, &info);
        if (mu->parse_ok != veil_ok(r))
            print_error("mutation '%s': parse gave %s\n", mu->what, r.msg ? r.msg : "ok");
        assert_int_equal(veil_ok(r), mu->parse_ok);
        if (!mu->parse_ok) {
            assert_int_equal(r.cls, VEIL_E_PROTOCOL);
            assert_int_equal(info.n_sections, 0);
        }
        p = qemu_params(img, len, true);
        r = veil_snp_measure(&p, out);
        if (r.cls != VEIL_E_PROTOCOL)
            print_error("mutation '%s': measure gave %s\n", mu->what, r.msg ? r.msg : "ok");
        assert_int_equal(r.cls, VEIL_E_PROTOCOL);
    }
    veil_free(img);
    tu_free(orig);
}

/* No prefix, suffix or single-byte corruption may crash the parser (ASan
 * watches); each is parsed or rejected as a protocol error. */
static void test_truncations_and_flips(void **state)
{
    size_t len;
    uint8_t *orig = load_ovmf(&len), *img = veil_calloc(1, len), out[48], seed[48] = {0};
    veil_ovmf_info info;

    for (size_t n = 0; n <= len; n++) {
        veil_result a = veil_ovmf_parse(orig, n, &info);
        veil_result b = veil_ovmf_parse(orig + len - n, n, &info);
        assert_true(veil_ok(a) || a.cls == VEIL_E_PROTOCOL);
        assert_true(veil_ok(b) || b.cls == VEIL_E_PROTOCOL);
        assert_true(n == len || !veil_ok(a));
    }
    for (size_t off = SFX_ASEV; off < len; off++) {
        veil_snp_measure_params p;
        veil_result r;
        if (off == SFX_ITEM(7)) /* skip the code between metadata and table */
            off = 3928;
        memcpy(img, orig, len);
        img[off] ^= 0xA5;
        r = veil_ovmf_parse(img, len, &info);
        assert_true(veil_ok(r) || r.cls == VEIL_E_PROTOCOL);
        p = qemu_params(img, len, true);
        p.ovmf_hash = seed; /* skip hashing the image pages: faster, same tables */
        r = veil_snp_measure(&p, out);
        assert_true(veil_ok(r) || r.cls == VEIL_E_PROTOCOL);
    }
    veil_free(img);
    tu_free(orig);
}

static void test_bad_params(void **state)
{
    size_t len;
    uint8_t *ovmf = load_ovmf(&len), out[48];
    static const uint8_t empty[1] = {0};
    veil_snp_measure_params p;

    p = qemu_params(ovmf, len, false);
    p.vcpus = 0;
    assert_int_equal(veil_snp_measure(&p, out).cls, VEIL_E_USAGE);
    p.vcpus = VEIL_SNP_MAX_VCPUS + 1;
    assert_int_equal(veil_snp_measure(&p, out).cls, VEIL_E_USAGE);
    p = qemu_params(ovmf, len, false);
    p.vmm = (veil_snp_vmm)7;
    assert_int_equal(veil_snp_measure(&p, out).cls, VEIL_E_USAGE);
    p = qemu_params(ovmf, len, false);
    p.initrd = empty;
    assert_int_equal(veil_snp_measure(&p, out).cls, VEIL_E_USAGE);
    p = qemu_params(ovmf, len, false);
    p.ovmf = NULL;
    assert_int_equal(veil_snp_measure(&p, out).cls, VEIL_E_USAGE);
    assert_int_equal(veil_snp_measure(NULL, out).cls, VEIL_E_USAGE);
    /* The OVMF pages themselves need a whole number of pages. */
    p = qemu_params(ovmf + 1, len - 1, false);
    assert_int_equal(veil_snp_measure(&p, out).cls, VEIL_E_PROTOCOL);
    assert_int_equal(veil_snp_ovmf_hash(ovmf, 0, out).cls, VEIL_E_PROTOCOL);
    tu_free(ovmf);
}

/* Things that must change the digest, and one that must not. */
static void test_snp_sensitivity(void **state)
{
    size_t len;
    uint8_t *ovmf = load_ovmf(&len), base[48], out[48];
    static const uint8_t k1[3] = {1, 2, 3};
    veil_snp_measure_params p = qemu_params(ovmf, len, true);

    tu_ok(veil_snp_measure(&p, base));
    p.cmdline = "console=ttyS1";
    tu_ok(veil_snp_measure(&p, out));
    assert_false(veil_public_equal(out, 48, base, 48));
    p = qemu_params(ovmf, len, true);
    p.kernel = k1;
    p.kernel_len = sizeof k1;
    tu_ok(veil_snp_measure(&p, out));
    assert_false(veil_public_equal(out, 48, base, 48));
    p = qemu_params(ovmf, len, true);
    p.vcpus = 3;
    tu_ok(veil_snp_measure(&p, out));
    assert_false(veil_public_equal(out, 48, base, 48));
    p = qemu_params(ovmf, len, true);
    p.vcpu_sig = 0x00a10f10;
    tu_ok(veil_snp_measure(&p, out));
    assert_false(veil_public_equal(out, 48, base, 48));
    /* NULL cmdline and "" are the same (both hash one NUL byte). */
    p = qemu_params(ovmf, len, true);
    p.cmdline = NULL;
    tu_ok(veil_snp_measure(&p, base));
    p.cmdline = "";
    tu_ok(veil_snp_measure(&p, out));
    tu_assert_bytes(out, 48, base, 48);
    tu_free(ovmf);
}

static void test_vcpu_names(void **state)
{
    static const struct {
        const char *name;
        uint32_t sig;
    } want[] = {{"EPYC", 0x00800f12},       {"EPYC-v4", 0x00800f12},    {"EPYC-Rome", 0x00830f10},
                {"EPYC-Milan", 0x00a00f11}, {"EPYC-Genoa", 0x00a10f10}, {"EPYC-Turin", 0x00b00f00}};
    uint32_t sig = 0;
    veil_snp_vmm vmm;
    size_t n = 0;

    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        tu_ok(veil_snp_vcpu_sig_from_name(want[i].name, &sig));
        assert_int_equal(sig, want[i].sig);
    }
    assert_int_equal(veil_snp_vcpu_sig_from_name("epyc", &sig).cls, VEIL_E_USAGE);
    assert_int_equal(veil_snp_vcpu_sig_from_name("EPYC-Milan-v9", &sig).cls, VEIL_E_USAGE);
    while (veil_snp_vcpu_type_name(n) != NULL) {
        tu_ok(veil_snp_vcpu_sig_from_name(veil_snp_vcpu_type_name(n), &sig));
        n++;
    }
    assert_int_equal(n, 16);
    tu_ok(veil_snp_vmm_from_name("gce", &vmm));
    assert_int_equal(vmm, VEIL_SNP_VMM_GCE);
    assert_int_equal(veil_snp_vmm_from_name("QEMU", &vmm).cls, VEIL_E_USAGE);
}

/* The P-384 generator as a key; expected value from Python:
 * sha384(pack('<I',2) + Gx.to_bytes(72,'little') + Gy.to_bytes(72,'little')
 *        + zeros to 0x404). */
static void test_id_key_digest(void **state)
{
    veil_buf x, y;
    uint8_t out[48], want[48];
    tu_hex(&x, "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a38"
               "5502f25dbf55296c3a545e3872760ab7");
    tu_hex(&y, "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c0"
               "0a60b1ce1d7e819d7a431d7c90ea0e5f");
    hex48("01ce77b697886b46c6e363a9d02bbee2506e4b21ca4b3085f35f20e4cf66ac78"
          "0e01e38aad53f973cbcea56e59a7b382",
          want);
    tu_ok(veil_snp_id_key_digest(x.data, y.data, out));
    tu_assert_bytes(out, 48, want, 48);
    veil_buf_free(&x);
    veil_buf_free(&y);
}

/* ----- simulator ---------------------------------------------------------- */

static uint8_t g_exe[4 + 256 * 20];

static void sim_files(veil_sim_image f[3])
{
    memcpy(g_exe,
           "\x7f"
           "ELF",
           4);
    for (size_t i = 0; i < 256 * 20; i++)
        g_exe[4 + i] = (uint8_t)i;
    f[0] = (veil_sim_image){"guest.bin", g_exe, sizeof g_exe};
    f[1] = (veil_sim_image){"config.json", (const uint8_t *)"{\"a\":1}", 7};
    f[2] = (veil_sim_image){"empty", NULL, 0};
}

/* Known answers from a short Python rendering of the algorithm in measure.h. */
static void test_sim_known_answer(void **state)
{
    veil_sim_image f[3];
    uint8_t out[48], want[48];
    sim_files(f);
    hex48("83ccf60530740d83452d9975045a9df0cae6cd31098f0bcf17956b2a6d100811"
          "406f424af517a63985af798a0bde4776",
          want);
    tu_ok(veil_sim_measure(f, 3, out));
    tu_assert_bytes(out, 48, want, 48);
    /* An empty configuration list works. */
    hex48("72209a40eb1d2c16c3a5c3068a90d23ecaefd68f5447d272d4888eeaabe065b0"
          "4f1296b81a64571d98f3d8789b05d163",
          want);
    tu_ok(veil_sim_measure(f, 1, out));
    tu_assert_bytes(out, 48, want, 48);
}

static void test_sim_sensitivity(void **state)
{
    veil_sim_image f[3], g[3];
    uint8_t base[48], out[48];

    sim_files(f);
    tu_ok(veil_sim_measure(f, 3, base));
    tu_ok(veil_sim_measure(f, 3, out)); /* deterministic */
    tu_assert_bytes(out, 48, base, 48);

    g_exe[100] ^= 1; /* one byte of the executable */
    tu_ok(veil_sim_measure(f, 3, out));
    assert_false(veil_public_equal(out, 48, base, 48));
    g_exe[100] ^= 1;

    memcpy(g, f, sizeof g); /* another name, same contents */
    g[1].name = "config2.json";
    tu_ok(veil_sim_measure(g, 3, out));
    assert_false(veil_public_equal(out, 48, base, 48));

    memcpy(g, f, sizeof g); /* same files, another order */
    g[1] = f[2];
    g[2] = f[1];
    tu_ok(veil_sim_measure(g, 3, out));
    assert_false(veil_public_equal(out, 48, base, 48));

    memcpy(g, f, sizeof g); /* a config file dropped */
    tu_ok(veil_sim_measure(g, 2, out));
    assert_false(veil_public_equal(out, 48, base, 48));

    memcpy(g, f, sizeof g); /* a trailing zero byte is not the padding */
    g[1].data = (const uint8_t *)"{\"a\":1}\0";
    g[1].len = 8;
    tu_ok(veil_sim_measure(g, 3, out));
    assert_false(veil_public_equal(out, 48, base, 48));
}

static void test_sim_errors(void **state)
{
    veil_sim_image f[3];
    uint8_t out[48];
    veil_sim_image *many;
    size_t n = 20000; /* 20000 * 67 bytes > 255 pages */

    sim_files(f);
    assert_int_equal(veil_sim_measure(f, 0, out).cls, VEIL_E_USAGE);
    assert_int_equal(veil_sim_measure(NULL, 1, out).cls, VEIL_E_USAGE);
    f[1].name = NULL;
    assert_int_equal(veil_sim_measure(f, 3, out).cls, VEIL_E_USAGE);
    sim_files(f);
    f[1].data = NULL;
    assert_int_equal(veil_sim_measure(f, 3, out).cls, VEIL_E_USAGE);
    for (size_t i = 0; i < 48; i++)
        assert_int_equal(out[i], 0);

    many = veil_calloc(n, sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i < n; i++)
        many[i] = (veil_sim_image){"cfg-1234567", NULL, 0};
    assert_int_equal(veil_sim_measure(many, n, out).cls, VEIL_E_USAGE);
    /* 255 pages hold 4096 * 255 / 71 = 14711 entries of this size. */
    tu_ok(veil_sim_measure(many, 14000, out));
    veil_free(many);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snp_vectors),
        cmocka_unit_test(test_parse_suffix),
        cmocka_unit_test(test_kernel_without_hashes_section),
        cmocka_unit_test(test_malformed_ovmf),
        cmocka_unit_test(test_truncations_and_flips),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_snp_sensitivity),
        cmocka_unit_test(test_vcpu_names),
        cmocka_unit_test(test_id_key_digest),
        cmocka_unit_test(test_sim_known_answer),
        cmocka_unit_test(test_sim_sensitivity),
        cmocka_unit_test(test_sim_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
