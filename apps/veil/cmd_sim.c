/* veil sim: placeholder until its module lands. */
#include <stdio.h>

#include "cli.h"

int cmd_sim(int argc, char **argv)
{
    fprintf(stderr, "veil sim: not implemented yet\n");
    return VEIL_EXIT_INTERNAL;
}
