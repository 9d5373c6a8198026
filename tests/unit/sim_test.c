/* The simulated secure processor (src/sim) and the attesters
 * (src/attest/attester*.c): state, reports that verify only with the
 * simulated root, measurement, derived keys, the socket protocol and its
 * peer check, guest launch, and the configfs-tsm emulation driven by the
 * real tsm attester. Everything runs in a private temp directory; forked
 * helpers are bounded in time and killed at the end of each test. */
#define _GNU_SOURCE /* mkdtemp, kill */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim.h"
#include "veil/attester.h"
#include "veil/base64.h"
#include "veil/hex.h"
#include "veil/mem.h"
#include "veil/snp.h"

static char g_tmp[256];
static char g_state_dir[512];
static veil_sim_state g_state;

/* ---- helpers ------------------------------------------------------------------ */

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            rm_rf(sub);
        }
        if (d)
            closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void write_file(const char *path, const void *p, size_t n, mode_t mode)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void wait_for_path(const char *path)
{
    struct stat st;
    for (int i = 0; i < 1000 && stat(path, &st) != 0; i++)
        sleep_ms(10);
    assert_int_equal(stat(path, &st), 0);
}

static void stop_child(pid_t pid)
{
    int st;
    kill(pid, SIGTERM);
    for (int i = 0; i < 500; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return;
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
}

static void verify_report(const uint8_t *report, size_t report_len, const veil_buf *vcek,
                          const veil_buf *ask, bool with_sim_root, veil_verdict *v,
                          veil_snp_report *decoded, bool *simulated)
{
    veil_snp_evidence ev;
    memset(&ev, 0, sizeof ev);
    ev.report = report;
    ev.report_len = report_len;
    ev.vcek_or_vlek = vcek->data;
    ev.cert_len = vcek->len;
    ev.ask = ask->data;
    ev.ask_len = ask->len;
    const uint8_t *roots[1] = {g_state.ark_der.data};
    size_t root_lens[1] = {g_state.ark_der.len};
    veil_snp_trust trust;
    memset(&trust, 0, sizeof trust);
    trust.extra_roots_der = roots;
    trust.extra_roots_len = root_lens;
    trust.n_extra_roots = 1;
    veil_verdict_init(v);
    *simulated = false;
    tu_ok(veil_snp_verify(&ev, with_sim_root ? &trust : NULL, decoded, v, simulated));
}

static void guest_for(const char *exe_contents, veil_sim_guest *g)
{
    tu_ok(veil_sim_guest_init(g));
    veil_sim_image img = {"guest", (const uint8_t *)exe_contents, strlen(exe_contents)};
    tu_ok(veil_sim_measure(&img, 1, g->measurement));
}

/* ---- setup -------------------------------------------------------------------- */

static int group_setup(void **st)
{
    snprintf(g_tmp, sizeof g_tmp, "/tmp/veil-sim-test-XXXXXX");
    if (!mkdtemp(g_tmp))
        return -1;
    snprintf(g_state_dir, sizeof g_state_dir, "%s/state", g_tmp);
    veil_sim_state_init(&g_state);
    bool created = false;
    veil_result r = veil_sim_state_create(g_state_dir, &created, &g_state);
    if (!veil_ok(r) || !created) {
        fprintf(stderr, "sim state: %s\n", r.msg ? r.msg : "not created");
        return -1;
    }
    return 0;
}

static int group_teardown(void **st)
{
    veil_sim_state_free(&g_state);
    rm_rf(g_tmp);
    return 0;
}

/* ---- state -------------------------------------------------------------------- */

static void test_state_idempotent(void **st)
{
    veil_sim_state again;
    bool created = true;
    veil_sim_state_init(&again);
    tu_ok(veil_sim_state_create(g_state_dir, &created, &again));
    assert_false(created);
    tu_assert_bytes(again.chip_id, 64, g_state.chip_id, 64);
    tu_assert_bytes(again.ark_sha256, 32, g_state.ark_sha256, 32);
    assert_true(veil_ct_equal(again.root_secret, g_state.root_secret, 32));
    veil_sim_state_free(&again);

    struct stat sb;
    assert_int_equal(stat(g_state_dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    char path[1024];
    for (const char *const *k =
             (const char *const[]){"vcek.key", "ask.key", "ark.key", "root_secret", NULL};
         *k; k++) {
        snprintf(path, sizeof path, "%s/%s", g_state_dir, *k);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_mode & 0777, 0600);
    }
    assert_int_equal(g_state.tcb.bootloader, VEIL_SIM_TCB_BL);
    assert_int_equal(g_state.tcb.microcode, VEIL_SIM_TCB_UCODE);
}

static void test_state_rejects_tampering(void **st)
{
    char path[1024];
    veil_sim_state s;
    veil_sim_state_init(&s);
    /* Another ARK than the one sim.json names. */
    snprintf(path, sizeof path, "%s/ark.der", g_state_dir);
    write_file(path, g_state.ask_der.data, g_state.ask_der.len, 0644);
    veil_result r = veil_sim_state_load(g_state_dir, &s);
    assert_int_equal(r.cls, VEIL_E_PROTOCOL);
    assert_non_null(strstr(r.msg, "fingerprint"));
    write_file(path, g_state.ark_der.data, g_state.ark_der.len, 0644);
    /* A state directory others can read. */
    assert_int_equal(chmod(g_state_dir, 0755), 0);
    r = veil_sim_state_load(g_state_dir, &s);
    assert_int_equal(r.cls, VEIL_E_USAGE);
    assert_int_equal(chmod(g_state_dir, 0700), 0);
    tu_ok(veil_sim_state_load(g_state_dir, &s));
    veil_sim_state_free(&s);
    /* Missing state. */
    snprintf(path, sizeof path, "%s/nope", g_tmp);
    r = veil_sim_state_load(path, &s);
    assert_int_equal(r.cls, VEIL_E_USAGE);
}

/* ---- reports ------------------------------------------------------------------ */

static void test_report_fields_and_verify(void **st)
{
    veil_sim_guest g;
    uint8_t rd[64], report[VEIL_SNP_REPORT_SIZE];
    veil_snp_report rep;
    veil_verdict v;
    bool simulated;

    guest_for("#!/bin/sh\necho guest\n", &g);
    g.policy = 0x30000;
    memset(g.host_data, 0xAB, sizeof g.host_data);
    for (int i = 0; i < 64; i++)
        rd[i] = (uint8_t)i;
    tu_ok(veil_sim_report(&g_state, &g, rd, 2, report));
    tu_ok(veil_snp_report_decode(report, sizeof report, &rep));
    assert_int_equal(rep.version, 3);
    assert_int_equal(rep.cpuid_fam_id, 0x19);
    assert_int_equal(rep.cpuid_mod_id, 0x01);
    assert_int_equal(rep.cpuid_step, 0x01);
    assert_int_equal(rep.signature_algo, 1);
    assert_int_equal(veil_snp_signing_key(&rep), VEIL_SNP_SIGNING_KEY_VCEK);
    assert_int_equal(rep.vmpl, 2);
    assert_int_equal(rep.policy, 0x30000);
    tu_assert_bytes(rep.report_data, 64, rd, 64);
    tu_assert_bytes(rep.measurement, 48, g.measurement, 48);
    tu_assert_bytes(rep.host_data, 32, g.host_data, 32);
    tu_assert_bytes(rep.chip_id, 64, g_state.chip_id, 64);
    tu_assert_bytes(rep.report_id, 32, g.report_id, 32);
    for (int i = 0; i < 32; i++)
        assert_int_equal(rep.report_id_ma[i], 0xFF);
    uint64_t tcb = veil_snp_tcb_encode(&g_state.tcb, VEIL_SNP_MILAN);
    assert_true(rep.reported_tcb == tcb && rep.current_tcb == tcb && rep.committed_tcb == tcb &&
                rep.launch_tcb == tcb);
    assert_int_equal(rep.current_major, 1);

    /* With the simulated ARK as an extra root: authentic, and simulated. */
    verify_report(report, sizeof report, &g_state.vcek_der, &g_state.ask_der, true, &v, &rep,
                  &simulated);
    assert_int_equal(v.failed, VEIL_CHECK_UNCHECKED);
    assert_true(veil_verdict_finish(&v));
    assert_true(simulated);
    assert_true(v.simulated);

    /* AMD roots only: the chain fails. */
    verify_report(report, sizeof report, &g_state.vcek_der, &g_state.ask_der, false, &v, &rep,
                  &simulated);
    assert_int_equal(v.failed, VEIL_CHECK_CHAIN);
    assert_false(veil_verdict_finish(&v));

    /* One flipped bit in the signed part: the signature fails. */
    report[0x90] ^= 1;
    verify_report(report, sizeof report, &g_state.vcek_der, &g_state.ask_der, true, &v, &rep,
                  &simulated);
    assert_int_equal(v.failed, VEIL_CHECK_SIGNATURE);

    /* Bad parameters. */
    assert_int_equal(veil_sim_report(&g_state, &g, rd, 4, report).cls, VEIL_E_USAGE);
    g.policy = 0x10000; /* reserved bit 17 clear */
    assert_int_equal(veil_sim_report(&g_state, &g, rd, 0, report).cls, VEIL_E_USAGE);
}

static void test_cert_table(void **st)
{
    veil_buf t;
    veil_snp_cert_table ct;
    veil_buf_init(&t, 0);
    tu_ok(veil_sim_cert_table(&g_state, &t));
    tu_ok(veil_snp_cert_table_decode(t.data, t.len, &ct));
    tu_assert_bytes(ct.vcek, ct.vcek_len, g_state.vcek_der.data, g_state.vcek_der.len);
    tu_assert_bytes(ct.ask, ct.ask_len, g_state.ask_der.data, g_state.ask_der.len);
    tu_assert_bytes(ct.ark, ct.ark_len, g_state.ark_der.data, g_state.ark_der.len);
    assert_null(ct.vlek);
    veil_buf_free(&t);
}

/* ---- measurement ------------------------------------------------------------- */

static void test_measure_paths(void **st)
{
    char exe[1024], cfg[1024];
    uint8_t a[48], b[48], want[48];
    static const char exe_data[] = "\x7f"
                                   "ELF pretend executable";
    static const char cfg_data[] = "model = tiny\n";
    snprintf(exe, sizeof exe, "%s/guest-bin", g_tmp);
    snprintf(cfg, sizeof cfg, "%s/guest.conf", g_tmp);
    write_file(exe, exe_data, sizeof exe_data - 1, 0755);
    write_file(cfg, cfg_data, sizeof cfg_data - 1, 0644);

    const char *paths[2] = {exe, cfg};
    size_t bad = 99;
    tu_ok(veil_sim_measure_paths(paths, 2, a, &bad));
    veil_sim_image imgs[2] = {{"guest-bin", (const uint8_t *)exe_data, sizeof exe_data - 1},
                              {"guest.conf", (const uint8_t *)cfg_data, sizeof cfg_data - 1}};
    tu_ok(veil_sim_measure(imgs, 2, want));
    tu_assert_bytes(a, 48, want, 48);

    /* One byte of the executable changed: another measurement. */
    char changed[sizeof exe_data];
    memcpy(changed, exe_data, sizeof exe_data);
    changed[5] ^= 0x01;
    write_file(exe, changed, sizeof changed - 1, 0755);
    tu_ok(veil_sim_measure_paths(paths, 2, b, NULL));
    assert_false(veil_public_equal(a, 48, b, 48));

    /* A missing file is named by index. */
    const char *missing[2] = {exe, "/nonexistent/veil-sim-config"};
    assert_false(veil_ok(veil_sim_measure_paths(missing, 2, b, &bad)));
    assert_int_equal(bad, 1);
    unlink(exe);
    unlink(cfg);
}

/* ---- derived keys -------------------------------------------------------------- */

static void test_derived_keys(void **st)
{
    veil_sim_guest g1, g2;
    uint8_t k1[32], k2[32], k3[32], k4[32], k5[32], k6[64];
    guest_for("guest one", &g1);
    guest_for("guest two", &g2);
    const uint8_t *ctx = (const uint8_t *)"sealing";
    tu_ok(veil_sim_derive_key(&g_state, &g1, ctx, 7, k1, 32));
    tu_ok(veil_sim_derive_key(&g_state, &g1, ctx, 7, k2, 32));
    assert_true(veil_ct_equal(k1, k2, 32)); /* same guest, same context */
    /* A new launch of the same guest (another REPORT_ID) gets the same key. */
    g1.report_id[0] ^= 0xFF;
    tu_ok(veil_sim_derive_key(&g_state, &g1, ctx, 7, k2, 32));
    assert_true(veil_ct_equal(k1, k2, 32));
    tu_ok(veil_sim_derive_key(&g_state, &g1, (const uint8_t *)"sealinG", 7, k3, 32));
    assert_false(veil_ct_equal(k1, k3, 32)); /* other context */
    tu_ok(veil_sim_derive_key(&g_state, &g2, ctx, 7, k4, 32));
    assert_false(veil_ct_equal(k1, k4, 32)); /* other measurement */
    g1.policy = 0x30000 | VEIL_SNP_POLICY_DEBUG;
    tu_ok(veil_sim_derive_key(&g_state, &g1, ctx, 7, k5, 32));
    assert_false(veil_ct_equal(k1, k5, 32)); /* other policy */
    tu_ok(veil_sim_derive_key(&g_state, &g2, NULL, 0, k6, 64));
    assert_int_equal(veil_sim_derive_key(&g_state, &g2, ctx, 7, k6, 8).cls, VEIL_E_USAGE);
    assert_int_equal(veil_sim_derive_key(&g_state, &g2, ctx, 7, k6, 65).cls, VEIL_E_USAGE);
    assert_int_equal(veil_sim_derive_key(&g_state, &g2, ctx, 257, k6, 32).cls, VEIL_E_USAGE);
}

/* ---- protocol ------------------------------------------------------------------- */

static void request(const veil_sim_guest *g, bool authorized, const char *req, veil_buf *reply)
{
    veil_buf_free(reply);
    veil_buf_init(reply, 0);
    tu_ok(
        veil_sim_handle_request(&g_state, g, authorized, (const uint8_t *)req, strlen(req), reply));
    assert_true(reply->len > 0 && reply->data[reply->len - 1] == '\n');
    tu_ok(veil_buf_u8(reply, 0));
}

static void test_protocol(void **st)
{
    veil_sim_guest g;
    veil_buf reply;
    veil_buf_init(&reply, 0);
    guest_for("protocol guest", &g);
    char rd_req[400];
    snprintf(rd_req, sizeof rd_req, "{\"op\":\"report\",\"report_data\":\"%0128d\",\"vmpl\":1}", 7);

    /* Not the guest: refused, nothing signed. */
    request(&g, false, rd_req, &reply);
    assert_non_null(strstr((char *)reply.data, "\"error\""));
    assert_non_null(strstr((char *)reply.data, "refused"));
    assert_null(strstr((char *)reply.data, "report\":"));
    request(&g, false, "{\"op\":\"derived_key\",\"context\":\"x\",\"length\":32}", &reply);
    assert_non_null(strstr((char *)reply.data, "refused"));

    /* Malformed requests. */
    static const char *const bad[] = {
        "not json",
        "[1,2]",
        "{\"op\":\"reboot\"}",
        "{\"op\":\"report\"}",
        "{\"op\":\"report\",\"report_data\":\"00\"}",
        "{\"op\":\"report\",\"report_data\":\"zz\"}",
        "{\"op\":\"derived_key\",\"length\":32}",
        "{\"op\":\"derived_key\",\"context\":\"x\",\"length\":8}",
        "{\"op\":\"derived_key\",\"context\":\"x\",\"length\":\"32\"}",
        "{\"op\":\"report\",\"op\":\"report\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        request(&g, true, bad[i], &reply);
        assert_non_null(strstr((char *)reply.data, "\"error\""));
    }
    char vmpl_bad[400];
    snprintf(vmpl_bad, sizeof vmpl_bad, "{\"op\":\"report\",\"report_data\":\"%0128d\",\"vmpl\":4}",
             0);
    request(&g, true, vmpl_bad, &reply);
    assert_non_null(strstr((char *)reply.data, "vmpl"));

    /* The guest: a report and a table. */
    request(&g, true, rd_req, &reply);
    assert_null(strstr((char *)reply.data, "\"error\""));
    assert_non_null(strstr((char *)reply.data, "\"report\":\""));
    assert_non_null(strstr((char *)reply.data, "\"cert_table\":\""));
    request(&g, true, "{\"op\":\"derived_key\",\"context\":\"disk\",\"length\":16}", &reply);
    uint8_t key[16];
    char hex[33], want[64];
    tu_ok(veil_sim_derive_key(&g_state, &g, (const uint8_t *)"disk", 4, key, 16));
    veil_hex_encode(key, 16, hex);
    snprintf(want, sizeof want, "{\"key\":\"%s\"}\n", hex);
    assert_string_equal((char *)reply.data, want);
    veil_buf_free(&reply);
}

/* ---- the guest socket ---------------------------------------------------------- */

static void test_pid_ancestry(void **st)
{
    assert_true(veil_sim_pid_descends_from(getpid(), getpid()));
    assert_true(veil_sim_pid_descends_from(getpid(), getppid()));
    assert_false(veil_sim_pid_descends_from(getppid(), getpid()));
    assert_false(veil_sim_pid_descends_from(getpid(), 1)); /* init is nobody's guest */
    assert_false(veil_sim_pid_descends_from(0, getpid()));
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        sleep_ms(5000);
        _exit(0);
    }
    assert_true(veil_sim_pid_descends_from(child, getpid()));
    assert_false(veil_sim_pid_descends_from(getpid(), child));
    stop_child(child);
}

/* A server in a child process whose guest is `guest` (0: the test process). */
static pid_t start_server(const veil_sim_guest *g, const char *path, bool guest_is_parent)
{
    pid_t parent = getpid();
    unlink(path);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        veil_sim_server *srv = NULL;
        if (!veil_ok(veil_sim_server_open(&g_state, g, path, &srv)))
            _exit(2);
        veil_sim_server_set_guest(srv, guest_is_parent ? parent : getpid());
        for (int i = 0; i < 200 && getppid() == parent; i++)
            if (!veil_ok(veil_sim_server_poll(srv, 100)))
                break;
        veil_sim_server_free(srv);
        _exit(0);
    }
    wait_for_path(path);
    return pid;
}

static void test_sim_attester(void **st)
{
    veil_sim_guest g;
    char path[4200];
    veil_attester *a = NULL;
    veil_evidence ev;
    veil_snp_report rep;
    veil_verdict v;
    bool simulated;
    uint8_t rd[64];

    guest_for("socket guest", &g);
    snprintf(path, sizeof path, "%s/guest-test.sock", g_state.dir);
    pid_t srv = start_server(&g, path, true);

    tu_ok(veil_attester_open("sim", path, &a));
    assert_string_equal(veil_attester_kind(a), "sim");
    memset(rd, 0x5A, sizeof rd);
    veil_evidence_init(&ev);
    tu_ok(veil_attester_evidence(a, rd, 0, &ev));
    assert_string_equal(ev.tee, "sev-snp");
    assert_string_equal(ev.attester, "sim");
    assert_true(ev.claims_simulated);
    veil_snp_cert_table ct;
    tu_ok(veil_snp_cert_table_decode(ev.cert_table.data, ev.cert_table.len, &ct));
    veil_buf vcek = {(uint8_t *)ct.vcek, ct.vcek_len, ct.vcek_len, 0};
    veil_buf ask = {(uint8_t *)ct.ask, ct.ask_len, ct.ask_len, 0};
    verify_report(ev.report.data, ev.report.len, &vcek, &ask, true, &v, &rep, &simulated);
    assert_true(veil_verdict_finish(&v));
    assert_true(simulated);
    tu_assert_bytes(rep.report_data, 64, rd, 64);
    tu_assert_bytes(rep.measurement, 48, g.measurement, 48);

    /* The bundle round-trips through the evidence format. */
    veil_buf json;
    veil_evidence back;
    veil_buf_init(&json, 0);
    veil_evidence_init(&back);
    tu_ok(veil_evidence_write(&ev, &json));
    tu_ok(veil_evidence_parse(json.data, json.len, &back));
    tu_assert_bytes(back.report.data, back.report.len, ev.report.data, ev.report.len);
    assert_true(back.claims_simulated);
    veil_evidence_free(&back);
    veil_buf_free(&json);

    uint8_t key[32], want[32];
    tu_ok(veil_attester_derived_key(a, "seal", key, sizeof key));
    tu_ok(veil_sim_derive_key(&g_state, &g, (const uint8_t *)"seal", 4, want, sizeof want));
    assert_true(veil_ct_equal(key, want, 32));
    veil_attester_free(a);
    veil_evidence_free(&ev);
    stop_child(srv);

    /* A server whose guest is someone else: this process is refused. */
    srv = start_server(&g, path, false);
    tu_ok(veil_attester_open("sim", path, &a));
    veil_evidence_init(&ev);
    veil_result r = veil_attester_evidence(a, rd, 0, &ev);
    assert_false(veil_ok(r));
    assert_non_null(strstr(r.msg, "refused"));
    assert_int_equal(ev.report.len, 0);
    r = veil_attester_derived_key(a, "seal", key, sizeof key);
    assert_false(veil_ok(r));
    veil_attester_free(a);
    veil_evidence_free(&ev);
    stop_child(srv);
    unlink(path);
}

static void test_attester_open_errors(void **st)
{
    veil_attester *a = NULL;
    unsetenv(VEIL_SIM_SOCKET_ENV);
    veil_result r = veil_attester_open("sim", NULL, &a);
    assert_int_equal(r.cls, VEIL_E_USAGE);
    assert_non_null(strstr(r.msg, "VEIL_SIM_SOCKET"));
    assert_null(a);
    r = veil_attester_open("sim", "/nonexistent/veil.sock", &a);
    assert_false(veil_ok(r));
    r = veil_attester_open("tsm", "/nonexistent/tsm/report", &a);
    assert_int_equal(r.cls, VEIL_E_UNSUPPORTED);
    assert_non_null(strstr(r.msg, "configfs-tsm is not available"));
    assert_non_null(strstr(r.msg, "CONFIG_TSM_REPORTS"));
    r = veil_attester_open("nitro", NULL, &a);
    assert_int_equal(r.cls, VEIL_E_USAGE);
}

/* ---- launch ----------------------------------------------------------------------- */

static void test_resolve_and_launch(void **st)
{
    char exe[4096], sock[4096];
    veil_sim_guest g;
    veil_sim_server *srv = NULL;
    int status = -1;

    tu_ok(veil_sim_resolve_command("sh", exe, sizeof exe));
    assert_non_null(strstr(exe, "/sh"));
    assert_int_equal(veil_sim_resolve_command("veil-no-such-command-xyz", exe, sizeof exe).cls,
                     VEIL_E_USAGE);
    assert_int_equal(veil_sim_resolve_command("/nonexistent/x", exe, sizeof exe).cls, VEIL_E_USAGE);
    tu_ok(veil_sim_resolve_command("sh", exe, sizeof exe));

    guest_for("launch guest", &g);
    tu_ok(veil_sim_socket_path(&g_state, sock, sizeof sock));
    tu_ok(veil_sim_server_open(&g_state, &g, sock, &srv));
    struct stat sb;
    assert_int_equal(stat(sock, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* The guest sees its socket, and its exit status comes back. */
    char script[4400];
    snprintf(script, sizeof script,
             "test \"$VEIL_SIM_SOCKET\" = '%s' && test -S \"$VEIL_SIM_SOCKET\" && exit 7", sock);
    char *argv1[] = {"sh", "-c", script, NULL};
    tu_ok(veil_sim_run_guest(srv, sock, exe, argv1, &status));
    assert_int_equal(status, 7);
    char *argv2[] = {"sh", "-c", "kill -TERM $$", NULL};
    tu_ok(veil_sim_run_guest(srv, sock, exe, argv2, &status));
    assert_int_equal(status, 128 + SIGTERM);
    veil_sim_server_free(srv);
    assert_int_not_equal(stat(sock, &sb), 0); /* removed */
}

/* ---- configfs-tsm emulation ------------------------------------------------------ */

static void test_tsm_emulation(void **st)
{
    veil_sim_guest g;
    char tsm[1024];
    veil_attester *a = NULL;
    veil_evidence ev;
    veil_snp_report rep;
    veil_verdict v;
    bool simulated;
    uint8_t rd[64];

    guest_for("tsm guest", &g);
    snprintf(tsm, sizeof tsm, "%s/tsm", g_tmp);
    assert_int_equal(mkdir(tsm, 0700), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        veil_result r = veil_sim_tsm_serve(&g_state, &g, tsm, 30, NULL, NULL);
        _exit(veil_ok(r) ? 0 : 3);
    }
    tu_ok(veil_attester_open("tsm", tsm, &a));
    assert_string_equal(veil_attester_kind(a), "tsm");
    for (unsigned vmpl = 0; vmpl <= 2; vmpl += 2) {
        memset(rd, (int)(0x30 + vmpl), sizeof rd);
        veil_evidence_init(&ev);
        tu_ok(veil_attester_evidence(a, rd, vmpl, &ev));
        assert_string_equal(ev.attester, "tsm");
        assert_false(ev.claims_simulated); /* the verifier finds out from the chain */
        assert_int_equal(ev.report.len, VEIL_SNP_REPORT_SIZE);
        veil_snp_cert_table ct;
        tu_ok(veil_snp_cert_table_decode(ev.cert_table.data, ev.cert_table.len, &ct));
        veil_buf vcek = {(uint8_t *)ct.vcek, ct.vcek_len, ct.vcek_len, 0};
        veil_buf ask = {(uint8_t *)ct.ask, ct.ask_len, ct.ask_len, 0};
        verify_report(ev.report.data, ev.report.len, &vcek, &ask, true, &v, &rep, &simulated);
        assert_true(veil_verdict_finish(&v));
        assert_true(simulated);
        tu_assert_bytes(rep.report_data, 64, rd, 64);
        tu_assert_bytes(rep.measurement, 48, g.measurement, 48);
        assert_int_equal(rep.vmpl, vmpl);
        veil_evidence_free(&ev);
    }
    veil_attester_free(a);
    /* Entries are removed after use. */
    DIR *d = opendir(tsm);
    assert_non_null(d);
    struct dirent *de;
    int entries = 0;
    while ((de = readdir(d)) != NULL)
        entries += de->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 0);

    int status = 0;
    kill(child, SIGTERM);
    for (int i = 0; i < 500 && waitpid(child, &status, WNOHANG) != child; i++)
        sleep_ms(10);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0); /* stopped cleanly on SIGTERM */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_idempotent),
        cmocka_unit_test(test_state_rejects_tampering),
        cmocka_unit_test(test_report_fields_and_verify),
        cmocka_unit_test(test_cert_table),
        cmocka_unit_test(test_measure_paths),
        cmocka_unit_test(test_derived_keys),
        cmocka_unit_test(test_protocol),
        cmocka_unit_test(test_pid_ancestry),
        cmocka_unit_test(test_sim_attester),
        cmocka_unit_test(test_attester_open_errors),
        cmocka_unit_test(test_resolve_and_launch),
        cmocka_unit_test(test_tsm_emulation),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
