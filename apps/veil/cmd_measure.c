/* veil measure: placeholder until its module lands. */
#include <stdio.h>

#include "cli.h"

int cmd_measure(int argc, char **argv)
{
    fprintf(stderr, "veil measure: not implemented yet\n");
    return VEIL_EXIT_INTERNAL;
}
