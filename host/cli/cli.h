/* The subcommand table shared by main.c and the files that implement each command's options. */
#ifndef RN_CLI_H
#define RN_CLI_H

#include "cli/env.h"

/* A command's flags override the options main() read from the environment once (env). */
typedef struct rn_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv, const rn_env *env); /* argv[0] is the command name */
} rn_command;

extern const rn_command rn_commands[];

#endif
