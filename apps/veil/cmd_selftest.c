/* veil selftest [hpke|bhttp|ohttp FILE] */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "veil/mem.h"
#include "veil/selftest.h"

#define MAX_VECTOR_FILE ((size_t)64 << 20)

static void print_failure(void *arg, const char *name, const char *why)
{
    fprintf(stderr, "FAIL %s: %s\n", name, why);
}

static int usage(FILE *f, int code)
{
    fprintf(
        f, "usage: veil selftest                run the built-in known-answer tests\n"
           "       veil selftest hpke FILE      RFC 9180 test-vector JSON\n"
           "       veil selftest bhttp FILE     RFC 9292 examples JSON (shared/testdata/bhttp)\n"
           "       veil selftest ohttp FILE     RFC 9458 Appendix A or chunked-OHTTP example JSON\n"
           "Prints 'N passed, M failed'; exits 0 only when M is 0.\n");
    return code;
}

int cmd_selftest(int argc, char **argv)
{
    veil_selftest_report rep = {0, 0, print_failure, NULL};
    veil_result r;
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return usage(stdout, VEIL_EXIT_OK);
    if (argc == 1) {
        r = veil_selftest_builtin(&rep);
    } else if (argc == 3) {
        veil_result (*run)(const char *, size_t, veil_selftest_report *) = NULL;
        if (!strcmp(argv[1], "hpke"))
            run = veil_selftest_hpke_json;
        else if (!strcmp(argv[1], "bhttp"))
            run = veil_selftest_bhttp_json;
        else if (!strcmp(argv[1], "ohttp"))
            run = veil_selftest_ohttp_json;
        else
            return usage(stderr, VEIL_EXIT_USAGE);
        size_t len;
        char *text = cli_read_file(argv[2], &len, MAX_VECTOR_FILE);
        if (!text)
            return VEIL_EXIT_INPUT;
        r = run(text, len, &rep);
        veil_free(text);
    } else {
        return usage(stderr, VEIL_EXIT_USAGE);
    }
    if (!veil_ok(r)) {
        cli_error(argc == 3 ? argv[2] : "selftest", r);
        return cli_exit_for(r);
    }
    printf("%zu passed, %zu failed\n", rep.passed, rep.failed);
    return rep.failed == 0 && rep.passed > 0 ? VEIL_EXIT_OK : VEIL_EXIT_FAILED;
}
