/* The subcommand table shared by main.c and the files that implement each command's options. */
#ifndef RN_CLI_H
#define RN_CLI_H

typedef struct rn_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} rn_command;

extern const rn_command rn_commands[];

#endif
