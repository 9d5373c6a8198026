/* The simulated NVIDIA H100 (gpu_sim.h): its state under DIR/gpu/ and SPDM
 * evidence in the H100 layout (veil/nvgpu.h), signed by the simulated leaf. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/digest.h"
#include "crypto/nvgpu_crypto.h"
#include "sim/gpu_sim.h"
#include "sim/sim_internal.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/rand.h"

#define GPU_JSON "gpu.json"
#define GPU_JSON_MAX ((size_t)16 << 10)
#define MEAS_LABEL "veil-sim gpu measurement v1"
#define SPDM_VERSION 0x11
#define MEAS_LEN 48
#define SIG_LEN 96
#define NONCE_LEN 32
#define NVDEC_DISABLED 0x55 /* as on the 2023 nvtrust sample */

/* Opaque-data TLV types (veil/nvgpu.h VEIL_NVGPU_OPAQUE_*). */
enum {
    T_DRIVER_VERSION = 3,
    T_VBIOS_VERSION = 6,
    T_NVDEC0_STATUS = 11,
    T_MSRSCNT = 12,
    T_CHIP_SKU = 15,
    T_PROJECT = 17,
    T_PROJECT_SKU = 18,
    T_FWID = 20,
    T_FEATURE_FLAG = 36
};

static const uint8_t vbios_raw[8] = {0x00, 0x9f, 0x00, 0x96, 0x01, 0x00, 0x00, 0x00};

void veil_gpu_sim_init(veil_gpu_sim *g)
{
    memset(g, 0, sizeof *g);
    veil_buf_init(&g->root_der, VEIL_NVGPU_SIM_MAX_DER);
    veil_buf_init(&g->chain_pem, VEIL_NVGPU_SIM_MAX_PEM);
    veil_buf_init(&g->leaf_key, VEIL_NVGPU_SIM_MAX_KEY);
}

void veil_gpu_sim_free(veil_gpu_sim *g)
{
    if (!g)
        return;
    veil_buf_free(&g->root_der);
    veil_buf_free(&g->chain_pem);
    veil_buf_free(&g->leaf_key);
    veil_gpu_sim_init(g);
}

veil_result veil_gpu_sim_measurement(unsigned index, uint8_t out[VEIL_GPU_SIM_FWID_LEN])
{
    uint8_t msg[sizeof MEAS_LABEL];
    VEIL_ENSURE(index >= 1 && index <= VEIL_GPU_SIM_BLOCKS, VEIL_E_USAGE,
                "simulated GPU: measurement index is not 1..64");
    memcpy(msg, MEAS_LABEL, sizeof MEAS_LABEL - 1);
    msg[sizeof MEAS_LABEL - 1] = (uint8_t)index;
    return veil_sha384(msg, sizeof msg, out);
}

/* ---- the state directory ----------------------------------------------------------- */

/* DIR holds private keys: create it 0700 if missing; it must be ours and
 * closed to others (as `veil sim` requires of its state). */
static veil_result private_dir(const char *dir)
{
    struct stat st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return VEIL_ERR(VEIL_E_USAGE, "simulated GPU: cannot create the state directory");
    VEIL_ENSURE(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), VEIL_E_USAGE,
                "simulated GPU: the state path is not a directory");
    VEIL_ENSURE(st.st_uid == geteuid(), VEIL_E_USAGE,
                "simulated GPU: the state directory belongs to another user");
    VEIL_ENSURE((st.st_mode & 077) == 0, VEIL_E_USAGE,
                "simulated GPU: the state directory is accessible to other users (chmod 700 it)");
    return VEIL_OK;
}

static veil_result write_in(const char *dir, const char *name, const void *p, size_t n,
                            unsigned mode)
{
    char path[VEIL_GPU_SIM_PATH_MAX];
    VEIL_GUARD(veil_sim_join(path, sizeof path, dir, name));
    return veil_sim_write_file(path, p, n, mode, "simulated GPU: cannot write its state");
}

static veil_result read_in(const char *dir, const char *name, size_t max, veil_buf *out)
{
    char path[VEIL_GPU_SIM_PATH_MAX];
    VEIL_GUARD(veil_sim_join(path, sizeof path, dir, name));
    return veil_sim_read_file(path, max, out,
                              "simulated GPU: state file missing, unreadable or too large");
}

static veil_result write_json(const char *dir, const uint8_t fwid[48], const uint8_t root_fp[32])
{
    char fwid_hex[97], fp_hex[65];
    veil_buf text;
    veil_hex_encode(fwid, 48, fwid_hex);
    veil_hex_encode(root_fp, 32, fp_hex);
    veil_buf_init(&text, GPU_JSON_MAX);
    json_t *doc = json_pack("{s:i,s:s,s:s,s:s}", "version", 1, "note",
                            "SIMULATED NVIDIA H100 (veil sim): no confidentiality", "fwid",
                            fwid_hex, "root_sha256", fp_hex);
    veil_result res = doc ? veil_sim_json_dump(doc, JSON_INDENT(2), &text)
                          : VEIL_ERR(VEIL_E_NOMEM, "simulated GPU: out of memory");
    if (veil_ok(res))
        res = veil_buf_u8(&text, '\n');
    if (veil_ok(res))
        res = write_in(dir, GPU_JSON, text.data, text.len, 0644);
    json_decref(doc);
    veil_buf_free(&text);
    return res;
}

/* Remove a temporary device directory (best effort). */
static void remove_tmp(const char *tmp)
{
    static const char *const names[] = {GPU_JSON, "root.der", "chain.pem", "leaf.key"};
    char path[VEIL_GPU_SIM_PATH_MAX];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (veil_ok(veil_sim_join(path, sizeof path, tmp, names[i])))
            unlink(path);
    rmdir(tmp);
}

/* A fresh device in DIR/gpu.tmp-XXXXXX, renamed to DIR/gpu. *won = false when
 * another process got there first (theirs is kept). */
static veil_result create(const char *state_dir, const char *gpu_dir, bool *won)
{
    veil_result res = VEIL_OK;
    veil_nvgpu_sim_pki pki;
    uint8_t fwid[48], fp[32];
    char tmp[VEIL_GPU_SIM_PATH_MAX];
    bool made = false;
    *won = false;
    veil_nvgpu_sim_pki_init(&pki);
    VEIL_ENSURE_GOTO(res,
                     (size_t)snprintf(tmp, sizeof tmp, "%s/gpu.tmp-XXXXXX", state_dir) < sizeof tmp,
                     VEIL_E_USAGE, "simulated GPU: state path too long");
    VEIL_ENSURE_GOTO(res, mkdtemp(tmp) != NULL, VEIL_E_INTERNAL,
                     "simulated GPU: cannot create a temporary directory in the state directory");
    made = true;
    VEIL_TRY(res, veil_random_bytes(fwid, sizeof fwid));
    VEIL_TRY(res, veil_nvgpu_sim_pki_generate(fwid, &pki));
    VEIL_TRY(res, veil_sha256(pki.root_der.data, pki.root_der.len, fp));
    VEIL_TRY(res, write_in(tmp, "root.der", pki.root_der.data, pki.root_der.len, 0644));
    VEIL_TRY(res, write_in(tmp, "chain.pem", pki.chain_pem.data, pki.chain_pem.len, 0644));
    VEIL_TRY(res, write_in(tmp, "leaf.key", pki.leaf_key.data, pki.leaf_key.len, 0600));
    VEIL_TRY(res, write_json(tmp, fwid, fp));
    if (rename(tmp, gpu_dir) == 0) {
        *won = true;
        made = false;
    } else {
        VEIL_ENSURE_GOTO(res, errno == EEXIST || errno == ENOTEMPTY, VEIL_E_INTERNAL,
                         "simulated GPU: cannot move the new device into place");
    }
out:
    if (made)
        remove_tmp(tmp);
    veil_nvgpu_sim_pki_free(&pki);
    return res;
}

static veil_result parse_json(const veil_buf *text, veil_gpu_sim *g, uint8_t want_fp[32])
{
    veil_result res = VEIL_OK;
    json_t *root = json_loadb((const char *)text->data, text->len, JSON_REJECT_DUPLICATES, NULL);
    VEIL_ENSURE_GOTO(res, json_is_object(root), VEIL_E_PROTOCOL,
                     "simulated GPU: gpu.json is not a JSON object");
    json_t *ver = json_object_get(root, "version");
    VEIL_ENSURE_GOTO(res, json_is_integer(ver) && json_integer_value(ver) == 1, VEIL_E_PROTOCOL,
                     "simulated GPU: gpu.json \"version\" must be 1");
    json_t *fwid = json_object_get(root, "fwid");
    json_t *fp = json_object_get(root, "root_sha256");
    VEIL_ENSURE_GOTO(res, json_is_string(fwid) && json_is_string(fp), VEIL_E_PROTOCOL,
                     "simulated GPU: gpu.json lacks \"fwid\" or \"root_sha256\"");
    VEIL_TRY(res, veil_sim_hex_exact(json_string_value(fwid), json_string_length(fwid), g->fwid,
                                     sizeof g->fwid, "simulated GPU: gpu.json \"fwid\" is bad"));
    VEIL_TRY(res, veil_sim_hex_exact(json_string_value(fp), json_string_length(fp), want_fp, 32,
                                     "simulated GPU: gpu.json \"root_sha256\" is bad"));
out:
    json_decref(root);
    return res;
}

static veil_result load(const char *gpu_dir, veil_gpu_sim *g)
{
    veil_result res = VEIL_OK;
    veil_buf text;
    uint8_t want_fp[32];
    veil_buf_init(&text, GPU_JSON_MAX);
    VEIL_TRY(res, read_in(gpu_dir, GPU_JSON, GPU_JSON_MAX, &text));
    VEIL_TRY(res, parse_json(&text, g, want_fp));
    VEIL_TRY(res, read_in(gpu_dir, "root.der", VEIL_NVGPU_SIM_MAX_DER, &g->root_der));
    VEIL_TRY(res, read_in(gpu_dir, "chain.pem", VEIL_NVGPU_SIM_MAX_PEM, &g->chain_pem));
    VEIL_TRY(res, read_in(gpu_dir, "leaf.key", VEIL_NVGPU_SIM_MAX_KEY, &g->leaf_key));
    VEIL_TRY(res, veil_sha256(g->root_der.data, g->root_der.len, g->root_sha256));
    VEIL_ENSURE_GOTO(res, veil_public_equal(g->root_sha256, 32, want_fp, 32), VEIL_E_PROTOCOL,
                     "simulated GPU: root.der does not match the fingerprint in gpu.json");
    VEIL_TRY(res, veil_nvgpu_sim_check_pair(g->leaf_key.data, g->leaf_key.len, g->chain_pem.data,
                                            g->chain_pem.len));
out:
    veil_buf_free(&text);
    return res;
}

veil_result veil_gpu_sim_open(const char *state_dir, bool *created, veil_gpu_sim *out)
{
    veil_result res = VEIL_OK;
    struct stat st;
    bool won = false;
    VEIL_ENSURE(state_dir && out, VEIL_E_USAGE, "simulated GPU: NULL argument");
    veil_gpu_sim_free(out);
    if (created)
        *created = false;
    VEIL_TRY(res, private_dir(state_dir));
    VEIL_TRY(res, veil_sim_join(out->dir, sizeof out->dir, state_dir, VEIL_GPU_SIM_SUBDIR));
    if (stat(out->dir, &st) != 0) {
        VEIL_ENSURE_GOTO(res, errno == ENOENT, VEIL_E_INTERNAL,
                         "simulated GPU: cannot inspect DIR/gpu");
        VEIL_TRY(res, create(state_dir, out->dir, &won));
    }
    VEIL_TRY(res, load(out->dir, out));
    if (created)
        *created = won;
out:
    if (!veil_ok(res))
        veil_gpu_sim_free(out);
    return res;
}

/* ---- evidence --------------------------------------------------------------------------- */

static veil_result put_u16le(veil_buf *b, uint16_t v)
{
    VEIL_GUARD(veil_buf_u8(b, (uint8_t)v));
    return veil_buf_u8(b, (uint8_t)(v >> 8));
}

static veil_result put_tlv(veil_buf *b, uint16_t type, const void *p, size_t n)
{
    VEIL_GUARD(put_u16le(b, type));
    VEIL_GUARD(put_u16le(b, (uint16_t)n));
    return veil_buf_append(b, p, n);
}

/* 64 blocks {Index, 1 (DMTF), u16 51, ValueType 1, u16 48, value}. */
static veil_result put_blocks(veil_buf *b)
{
    for (unsigned i = 1; i <= VEIL_GPU_SIM_BLOCKS; i++) {
        uint8_t m[MEAS_LEN];
        VEIL_GUARD(veil_gpu_sim_measurement(i, m));
        VEIL_GUARD(veil_buf_u8(b, (uint8_t)i));
        VEIL_GUARD(veil_buf_u8(b, 1));
        VEIL_GUARD(put_u16le(b, 3 + MEAS_LEN));
        VEIL_GUARD(veil_buf_u8(b, 1));
        VEIL_GUARD(put_u16le(b, MEAS_LEN));
        VEIL_GUARD(veil_buf_append(b, m, sizeof m));
    }
    return VEIL_OK;
}

static veil_result put_opaque(veil_buf *b, const veil_gpu_sim *g)
{
    static const char driver[] = VEIL_GPU_SIM_DRIVER_VERSION; /* with its NUL, as NVIDIA's */
    uint8_t nvdec = NVDEC_DISABLED, flag[2] = {0, 0};
    uint8_t counts[4 * VEIL_GPU_SIM_BLOCKS] = {0};
    for (size_t i = 0; i < VEIL_GPU_SIM_BLOCKS; i++)
        counts[4 * i] = 1;
    VEIL_GUARD(put_tlv(b, T_VBIOS_VERSION, vbios_raw, sizeof vbios_raw));
    VEIL_GUARD(put_tlv(b, T_CHIP_SKU, "882", 4));
    VEIL_GUARD(put_tlv(b, T_PROJECT, "1010", 5));
    VEIL_GUARD(put_tlv(b, T_PROJECT_SKU, "0200", 5));
    VEIL_GUARD(put_tlv(b, T_DRIVER_VERSION, driver, sizeof driver));
    VEIL_GUARD(put_tlv(b, T_MSRSCNT, counts, sizeof counts));
    VEIL_GUARD(put_tlv(b, T_NVDEC0_STATUS, &nvdec, 1));
    VEIL_GUARD(put_tlv(b, T_FWID, g->fwid, sizeof g->fwid));
    return put_tlv(b, T_FEATURE_FLAG, flag, sizeof flag);
}

veil_result veil_gpu_sim_evidence(const veil_gpu_sim *g, const uint8_t nonce[32], veil_buf *report)
{
    veil_result res = VEIL_OK;
    veil_buf b;
    uint8_t resp_nonce[NONCE_LEN], sig[SIG_LEN];
    VEIL_ENSURE(g && nonce && report && g->leaf_key.len, VEIL_E_USAGE,
                "simulated GPU: not opened, or a NULL argument");
    veil_buf_init(&b, 0x2000);
    /* request: 11 E0 01 FF nonce[32] slot 0 */
    static const uint8_t req_head[] = {SPDM_VERSION, 0xE0, 0x01, 0xFF};
    VEIL_TRY(res, veil_buf_append(&b, req_head, sizeof req_head));
    VEIL_TRY(res, veil_buf_append(&b, nonce, NONCE_LEN));
    VEIL_TRY(res, veil_buf_u8(&b, 0));
    /* response header: 11 60 00 00 NumberOfBlocks L1 (u24, back-patched) */
    static const uint8_t resp_head[] = {SPDM_VERSION, 0x60, 0x00, 0x00, VEIL_GPU_SIM_BLOCKS};
    VEIL_TRY(res, veil_buf_append(&b, resp_head, sizeof resp_head));
    size_t l1_at = b.len;
    VEIL_TRY(res, veil_buf_zeros(&b, 3));
    VEIL_TRY(res, put_blocks(&b));
    size_t l1 = b.len - l1_at - 3;
    b.data[l1_at] = (uint8_t)l1;
    b.data[l1_at + 1] = (uint8_t)(l1 >> 8);
    b.data[l1_at + 2] = (uint8_t)(l1 >> 16);
    VEIL_TRY(res, veil_random_bytes(resp_nonce, sizeof resp_nonce));
    VEIL_TRY(res, veil_buf_append(&b, resp_nonce, sizeof resp_nonce));
    size_t l2_at = b.len;
    VEIL_TRY(res, veil_buf_zeros(&b, 2));
    VEIL_TRY(res, put_opaque(&b, g));
    size_t l2 = b.len - l2_at - 2;
    b.data[l2_at] = (uint8_t)l2;
    b.data[l2_at + 1] = (uint8_t)(l2 >> 8);
    /* SPDM 1.1: the leaf signs request || response-before-the-signature. */
    VEIL_TRY(res, veil_nvgpu_sim_sign(g->leaf_key.data, g->leaf_key.len, b.data, b.len, sig));
    VEIL_TRY(res, veil_buf_append(&b, sig, sizeof sig));
    VEIL_TRY(res, veil_buf_append(report, b.data, b.len));
out:
    veil_buf_free(&b);
    return res;
}
