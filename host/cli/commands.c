/* The table of subcommands. Each entry's function parses that command's options and calls into
 * the library; new commands are added here and documented in README.md. */
#include "cli/cli.h"

#include <stddef.h>

int rn_cmd_info(int argc, char **argv);

const rn_command rn_commands[] = {
    {"info", "select a device, build all kernels, report start-up time", rn_cmd_info},
    {NULL, NULL, NULL},
};
