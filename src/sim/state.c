/* The simulated chip's state directory (layout in sim.h): creation, once and
 * under a lock, and loading with consistency checks. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/digest.h"
#include "crypto/sim_pki.h"
#include "sim/sim.h"
#include "sim/sim_internal.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/rand.h"

#define STATE_JSON "sim.json"
#define STATE_JSON_MAX ((size_t)64 << 10)

void veil_sim_state_init(veil_sim_state *s)
{
    memset(s, 0, sizeof *s);
    veil_buf_init(&s->ark_der, VEIL_SIM_PKI_MAX_DER);
    veil_buf_init(&s->ask_der, VEIL_SIM_PKI_MAX_DER);
    veil_buf_init(&s->vcek_der, VEIL_SIM_PKI_MAX_DER);
    veil_buf_init(&s->vcek_key, VEIL_SIM_PKI_MAX_KEY);
}

void veil_sim_state_free(veil_sim_state *s)
{
    if (!s)
        return;
    veil_buf_free(&s->ark_der);
    veil_buf_free(&s->ask_der);
    veil_buf_free(&s->vcek_der);
    veil_buf_free(&s->vcek_key);
    veil_wipe(s->root_secret, sizeof s->root_secret);
    veil_sim_state_init(s);
}

/* The directory holds private keys: it must be ours and closed to others. */
static veil_result check_private_dir(const char *dir)
{
    struct stat st;
    VEIL_ENSURE(stat(dir, &st) == 0, VEIL_E_USAGE,
                "sim state directory does not exist (run `veil sim init --state DIR` first)");
    VEIL_ENSURE(S_ISDIR(st.st_mode), VEIL_E_USAGE, "sim state path is not a directory");
    VEIL_ENSURE(st.st_uid == geteuid(), VEIL_E_USAGE,
                "sim state directory belongs to another user");
    VEIL_ENSURE((st.st_mode & 077) == 0, VEIL_E_USAGE,
                "sim state directory is accessible to other users (chmod 700 it)");
    return VEIL_OK;
}

static veil_result state_path(const veil_sim_state *s, const char *name, char *out, size_t cap)
{
    return veil_sim_join(out, cap, s->dir, name);
}

static veil_result read_state_file(const veil_sim_state *s, const char *name, size_t max,
                                   veil_buf *out, const char *msg)
{
    char path[VEIL_SIM_PATH_MAX];
    VEIL_GUARD(state_path(s, name, path, sizeof path));
    return veil_sim_read_file(path, max, out, msg);
}

static veil_result tcb_member(json_t *tcb, const char *key, uint8_t *out)
{
    json_t *v = json_object_get(tcb, key);
    VEIL_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 255,
                VEIL_E_PROTOCOL, "sim.json: tcb components must be integers 0..255");
    *out = (uint8_t)json_integer_value(v);
    return VEIL_OK;
}

static veil_result parse_state_json(const veil_buf *text, veil_sim_state *s, uint8_t ark_fp[32])
{
    veil_result res = VEIL_OK;
    json_t *root = json_loadb((const char *)text->data, text->len, JSON_REJECT_DUPLICATES, NULL);
    VEIL_ENSURE_GOTO(res, json_is_object(root), VEIL_E_PROTOCOL, "sim.json is not a JSON object");
    json_t *ver = json_object_get(root, "version");
    VEIL_ENSURE_GOTO(res, json_is_integer(ver) && json_integer_value(ver) == 1, VEIL_E_PROTOCOL,
                     "sim.json: \"version\" must be 1");
    json_t *product = json_object_get(root, "product");
    VEIL_ENSURE_GOTO(
        res, json_is_string(product) && !strcmp(json_string_value(product), VEIL_SIM_PRODUCT),
        VEIL_E_PROTOCOL, "sim.json: \"product\" must be \"" VEIL_SIM_PRODUCT "\"");
    json_t *chip = json_object_get(root, "chip_id");
    VEIL_TRY(res, veil_sim_hex_exact(json_string_value(chip), json_string_length(chip), s->chip_id,
                                     sizeof s->chip_id, "sim.json: \"chip_id\" must be 128 hex"));
    json_t *fp = json_object_get(root, "ark_sha256");
    VEIL_TRY(res, veil_sim_hex_exact(json_string_value(fp), json_string_length(fp), ark_fp, 32,
                                     "sim.json: \"ark_sha256\" must be 64 hex"));
    json_t *tcb = json_object_get(root, "tcb");
    VEIL_ENSURE_GOTO(res, json_is_object(tcb), VEIL_E_PROTOCOL, "sim.json: \"tcb\" is missing");
    memset(&s->tcb, 0, sizeof s->tcb);
    VEIL_TRY(res, tcb_member(tcb, "bootloader", &s->tcb.bootloader));
    VEIL_TRY(res, tcb_member(tcb, "tee", &s->tcb.tee));
    VEIL_TRY(res, tcb_member(tcb, "snp", &s->tcb.snp));
    VEIL_TRY(res, tcb_member(tcb, "microcode", &s->tcb.microcode));
out:
    json_decref(root);
    return res;
}

veil_result veil_sim_state_load(const char *dir, veil_sim_state *out)
{
    veil_buf text, secret;
    uint8_t want_fp[32];
    veil_result res = VEIL_OK;

    veil_sim_state_free(out);
    veil_buf_init(&text, STATE_JSON_MAX);
    veil_buf_init(&secret, VEIL_SIM_ROOT_SECRET_LEN);
    VEIL_TRY(res, check_private_dir(dir));
    /* Absolute, so the socket path handed to guests survives a chdir. */
    char abs[PATH_MAX];
    VEIL_ENSURE_GOTO(res, realpath(dir, abs) != NULL, VEIL_E_USAGE,
                     "cannot resolve the sim state directory");
    VEIL_ENSURE_GOTO(res, strlen(abs) < sizeof out->dir, VEIL_E_USAGE,
                     "sim state path is too long");
    memcpy(out->dir, abs, strlen(abs) + 1);

    VEIL_TRY(res, read_state_file(out, STATE_JSON, STATE_JSON_MAX, &text,
                                  "sim state is missing or incomplete: cannot read sim.json "
                                  "(run `veil sim init --state DIR`)"));
    VEIL_TRY(res, parse_state_json(&text, out, want_fp));
    VEIL_TRY(res, read_state_file(out, "root_secret", VEIL_SIM_ROOT_SECRET_LEN, &secret,
                                  "sim state: cannot read root_secret"));
    VEIL_ENSURE_GOTO(res, secret.len == VEIL_SIM_ROOT_SECRET_LEN, VEIL_E_PROTOCOL,
                     "sim state: root_secret must be 32 bytes");
    memcpy(out->root_secret, secret.data, VEIL_SIM_ROOT_SECRET_LEN);
    VEIL_TRY(res, read_state_file(out, "ark.der", VEIL_SIM_PKI_MAX_DER, &out->ark_der,
                                  "sim state: cannot read ark.der"));
    VEIL_TRY(res, read_state_file(out, "ask.der", VEIL_SIM_PKI_MAX_DER, &out->ask_der,
                                  "sim state: cannot read ask.der"));
    VEIL_TRY(res, read_state_file(out, "vcek.der", VEIL_SIM_PKI_MAX_DER, &out->vcek_der,
                                  "sim state: cannot read vcek.der"));
    VEIL_TRY(res, read_state_file(out, "vcek.key", VEIL_SIM_PKI_MAX_KEY, &out->vcek_key,
                                  "sim state: cannot read vcek.key"));
    VEIL_TRY(res, veil_sha256(out->ark_der.data, out->ark_der.len, out->ark_sha256));
    VEIL_ENSURE_GOTO(res, veil_public_equal(out->ark_sha256, 32, want_fp, 32), VEIL_E_PROTOCOL,
                     "sim state: ark.der does not match the fingerprint in sim.json");
    VEIL_TRY(res, veil_sim_pki_check_pair(out->vcek_key.data, out->vcek_key.len, out->vcek_der.data,
                                          out->vcek_der.len));
out:
    veil_buf_free(&text);
    veil_buf_free(&secret);
    if (!veil_ok(res))
        veil_sim_state_free(out);
    return res;
}

static veil_result write_state_file(const char *dir, const char *name, const veil_buf *b,
                                    unsigned mode)
{
    char path[VEIL_SIM_PATH_MAX];
    VEIL_GUARD(veil_sim_join(path, sizeof path, dir, name));
    return veil_sim_write_file(path, b->data, b->len, mode,
                               "sim state: cannot write a file in the state directory");
}

static veil_result write_state_json(const char *dir, const uint8_t chip_id[64],
                                    const uint8_t ark_fp[32])
{
    char chip_hex[129], fp_hex[65];
    veil_hex_encode(chip_id, 64, chip_hex);
    veil_hex_encode(ark_fp, 32, fp_hex);
    json_t *doc = json_pack(
        "{s:i,s:s,s:s,s:s,s:{s:i,s:i,s:i,s:i},s:s}", "version", 1, "note",
        "SIMULATED AMD secure processor (veil sim): no memory encryption, no confidentiality",
        "product", VEIL_SIM_PRODUCT, "chip_id", chip_hex, "tcb", "bootloader", VEIL_SIM_TCB_BL,
        "tee", VEIL_SIM_TCB_TEE, "snp", VEIL_SIM_TCB_SNP, "microcode", VEIL_SIM_TCB_UCODE,
        "ark_sha256", fp_hex);
    char path[VEIL_SIM_PATH_MAX];
    veil_buf text;
    veil_buf_init(&text, STATE_JSON_MAX);
    veil_result res = veil_sim_json_dump(doc, JSON_INDENT(2), &text);
    if (veil_ok(res))
        res = veil_buf_u8(&text, '\n');
    if (veil_ok(res))
        res = veil_sim_join(path, sizeof path, dir, STATE_JSON);
    if (veil_ok(res))
        res = veil_sim_write_file(path, text.data, text.len, 0644,
                                  "sim state: cannot write sim.json");
    json_decref(doc);
    veil_buf_free(&text);
    return res;
}

/* A new chip: identity, root secret, the chain; sim.json is written last so
 * an interrupted init leaves no half-valid state behind. */
static veil_result generate(const char *dir)
{
    uint8_t chip_id[VEIL_SIM_CHIP_ID_BYTES], ark_fp[32];
    veil_buf secret;
    veil_sim_pki pki;
    veil_result res = VEIL_OK;

    veil_buf_init(&secret, VEIL_SIM_ROOT_SECRET_LEN);
    veil_sim_pki_init(&pki);
    VEIL_TRY(res, veil_random_bytes(chip_id, sizeof chip_id));
    VEIL_TRY(res, veil_buf_zeros(&secret, VEIL_SIM_ROOT_SECRET_LEN));
    VEIL_TRY(res, veil_random_bytes(secret.data, secret.len));
    veil_sim_pki_params params = {chip_id,          VEIL_SIM_TCB_BL,    VEIL_SIM_TCB_TEE,
                                  VEIL_SIM_TCB_SNP, VEIL_SIM_TCB_UCODE, VEIL_SIM_PRODUCT};
    VEIL_TRY(res, veil_sim_pki_generate(&params, &pki));
    VEIL_TRY(res, write_state_file(dir, "root_secret", &secret, 0600));
    VEIL_TRY(res, write_state_file(dir, "ark.key", &pki.ark_key, 0600));
    VEIL_TRY(res, write_state_file(dir, "ask.key", &pki.ask_key, 0600));
    VEIL_TRY(res, write_state_file(dir, "vcek.key", &pki.vcek_key, 0600));
    VEIL_TRY(res, write_state_file(dir, "ark.der", &pki.ark_der, 0644));
    VEIL_TRY(res, write_state_file(dir, "ask.der", &pki.ask_der, 0644));
    VEIL_TRY(res, write_state_file(dir, "vcek.der", &pki.vcek_der, 0644));
    VEIL_TRY(res, veil_sha256(pki.ark_der.data, pki.ark_der.len, ark_fp));
    VEIL_TRY(res, write_state_json(dir, chip_id, ark_fp));
out:
    veil_buf_free(&secret);
    veil_sim_pki_free(&pki);
    return res;
}

/* Exclusive lock on DIR/lock for the duration of a create (POSIX record
 * lock, released when the descriptor closes). */
static int lock_dir(const char *dir)
{
    char path[VEIL_SIM_PATH_MAX];
    if (!veil_ok(veil_sim_join(path, sizeof path, dir, "lock")))
        return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    while (fcntl(fd, F_SETLKW, &fl) != 0) {
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

veil_result veil_sim_state_create(const char *dir, bool *created, veil_sim_state *out)
{
    char path[VEIL_SIM_PATH_MAX];
    struct stat st;
    veil_result res = VEIL_OK;
    int lock = -1;

    *created = false;
    veil_sim_state_free(out);
    VEIL_ENSURE(dir && *dir, VEIL_E_USAGE, "no sim state directory given");
    VEIL_ENSURE(mkdir(dir, 0700) == 0 || errno == EEXIST, VEIL_E_USAGE,
                "cannot create the sim state directory (does its parent exist?)");
    VEIL_GUARD(check_private_dir(dir));
    lock = lock_dir(dir);
    VEIL_ENSURE(lock >= 0, VEIL_E_INTERNAL, "cannot lock the sim state directory");
    VEIL_TRY(res, veil_sim_join(path, sizeof path, dir, STATE_JSON));
    if (stat(path, &st) != 0) {
        VEIL_TRY(res, generate(dir));
        *created = true;
    }
    VEIL_TRY(res, veil_sim_state_load(dir, out));
out:
    if (lock >= 0)
        close(lock);
    if (!veil_ok(res))
        *created = false;
    return res;
}
