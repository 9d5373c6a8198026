/* veil attest: placeholder until its module lands. */
#include <stdio.h>

#include "cli.h"

int cmd_attest(int argc, char **argv)
{
    fprintf(stderr, "veil attest: not implemented yet\n");
    return VEIL_EXIT_INTERNAL;
}
