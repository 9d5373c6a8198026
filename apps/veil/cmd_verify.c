/* veil verify: placeholder until its module lands. */
#include <stdio.h>

#include "cli.h"

int cmd_verify(int argc, char **argv)
{
    fprintf(stderr, "veil verify: not implemented yet\n");
    return VEIL_EXIT_INTERNAL;
}
