/* Launching a guest: resolve the command as execvp would, run it with
 * $VEIL_SIM_SOCKET naming the guest socket, serve the socket until the guest
 * exits, and hand back its exit status. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim/sim.h"
#include "veil/attester.h"

#define POLL_MS 100 /* how often the loop looks at the guest's state */

static volatile sig_atomic_t g_forward_sig;

static void on_signal(int sig) { g_forward_sig = sig; }

static bool is_executable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

veil_result veil_sim_resolve_command(const char *cmd, char *out, size_t cap)
{
    VEIL_ENSURE(cmd && *cmd, VEIL_E_USAGE, "no guest command given");
    if (strchr(cmd, '/')) {
        VEIL_ENSURE(strlen(cmd) < cap, VEIL_E_USAGE, "guest command path too long");
        VEIL_ENSURE(is_executable_file(cmd), VEIL_E_USAGE,
                    "guest command is not an executable regular file");
        memcpy(out, cmd, strlen(cmd) + 1);
        return VEIL_OK;
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    /* Each PATH element in order; an empty element means the current
     * directory, as for execvp. */
    for (const char *p = path;;) {
        const char *colon = strchr(p, ':');
        size_t dlen = colon ? (size_t)(colon - p) : strlen(p);
        int n = dlen ? snprintf(out, cap, "%.*s/%s", (int)dlen, p, cmd)
                     : snprintf(out, cap, "./%s", cmd);
        if (n > 0 && (size_t)n < cap && is_executable_file(out))
            return VEIL_OK;
        if (!colon)
            break;
        p = colon + 1;
    }
    out[0] = '\0';
    return VEIL_ERR(VEIL_E_USAGE, "guest command not found in PATH (or not executable)");
}

/* In the child: the guest. Only async-signal-safe calls plus setenv/execv
 * (we are single-threaded, so setenv is safe here). */
static void exec_guest(const char *socket_path, const char *exe, char *const argv[])
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    if (setenv(VEIL_SIM_SOCKET_ENV, socket_path, 1) == 0)
        execv(exe, argv);
    static const char msg[] = "veil sim: cannot execute the guest command\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
}

veil_result veil_sim_run_guest(veil_sim_server *srv, const char *socket_path, const char *exe,
                               char *const argv[], int *status)
{
    struct sigaction sa, old_int, old_term, old_hup;
    veil_result res = VEIL_OK;
    int wstatus = 0;

    *status = 127;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
    sigemptyset(&sa.sa_mask);
    g_forward_sig = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);

    fflush(NULL);
    pid_t pid = fork();
    VEIL_ENSURE_GOTO(res, pid >= 0, VEIL_E_INTERNAL, "cannot fork the guest");
    if (pid == 0)
        exec_guest(socket_path, exe, argv);
    /* Connections made before this line wait in the backlog and are then
     * checked against the guest's pid like any other. */
    veil_sim_server_set_guest(srv, pid);
    for (;;) {
        VEIL_TRY(res, veil_sim_server_poll(srv, POLL_MS));
        int sig = g_forward_sig;
        g_forward_sig = 0;
        /* SIGINT from a terminal already reached the guest (same process
         * group); forward only what was aimed at the simulator itself. */
        if (sig == SIGTERM || sig == SIGHUP)
            kill(pid, sig);
        pid_t w = waitpid(pid, &wstatus, WNOHANG);
        if (w == pid)
            break;
        VEIL_ENSURE_GOTO(res, w == 0 || errno == EINTR, VEIL_E_INTERNAL,
                         "cannot wait for the guest");
    }
    if (WIFEXITED(wstatus))
        *status = WEXITSTATUS(wstatus);
    else if (WIFSIGNALED(wstatus))
        *status = 128 + WTERMSIG(wstatus);
out:
    if (!veil_ok(res) && pid > 0) {
        /* The server failed: do not leave an unserved guest behind. */
        kill(pid, SIGTERM);
        waitpid(pid, &wstatus, 0);
    }
    veil_sim_server_set_guest(srv, 0);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    return res;
}
