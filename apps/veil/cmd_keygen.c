#include "cli.h"
int cmd_keygen(int argc, char **argv) { return VEIL_EXIT_INTERNAL; }
