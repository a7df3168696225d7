/* A small option parser shared by the subcommands: `--name value`, `--name=value` and flags,
 * with help text generated from the same table so `--help` cannot drift from what is accepted. */
#ifndef RN_ARGS_H
#define RN_ARGS_H

enum rn_opt_kind { RN_OPT_FLAG, RN_OPT_STR, RN_OPT_INT, RN_OPT_FLOAT };

typedef struct rn_opt {
    const char *name; /* without the leading "--" */
    enum rn_opt_kind kind;
    void *dst; /* int* for FLAG and INT, const char** for STR, double* for FLOAT */
    const char *metavar;
    const char *help;
} rn_opt;

/* Parses argv[1..argc) (argv[0] is the command). Returns 0 on success, RN_ERR_INPUT after a
 * one-sentence message and the usage line, or -1 when --help was printed (exit 0). Table ends
 * with a NULL name. */
int rn_parse_opts(int argc, char **argv, const rn_opt *opts, const char *usage,
                  const char *description);

#endif
