/* `rn50cl plot LOG.jsonl`: the training curves picture that `train` writes beside its checkpoints
 * (loss, accuracy, learning rate per epoch), drawn from any `train --log` file. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "rn50cl/rn50cl.h"
#include "train/curves.h"

#define USAGE "usage: rn50cl plot LOG.jsonl [-o|--out FILE.png]"

int rn_cmd_plot(int argc, char **argv, const rn_env *env)
{
    (void)env;
    const char *out = "curves.png", *log = NULL;
    const rn_opt opts[] = {
        {"out", RN_OPT_STR, &out, "FILE.png", "picture to write, also -o (default curves.png)"},
        {NULL, 0, NULL, NULL, NULL},
    };
    /* The log comes first, as in `rn50cl plot run.jsonl -o run.png`; -o is --out. */
    if (argc > 1 && strncmp(argv[1], "-", 1)) {
        log = argv[1];
        argv++;
        argc--;
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-o")) argv[i] = "--out";
    int rc = rn_parse_opts(argc, argv, opts, USAGE,
                           "Draw loss, accuracy and learning rate per epoch from a `train --log` "
                           "file, as train draws curves.png beside its checkpoints.");
    if (rc) return rc < 0 ? RN_OK : rc;
    if (!log) {
        fprintf(stderr,
                "rn50cl: error: name the log to draw (the file of `train --log FILE`).\n"
                "%s\n",
                USAGE);
        return RN_ERR_INPUT;
    }
    rn_curves c = {0};
    rc = rn_curves_read_log(&c, log);
    if (!rc) rc = rn_curves_png(&c, out);
    if (!rc)
        printf("wrote %s (%zu epochs, %zu learning-rate points from %s)\n", out, c.nep, c.nlr, log);
    rn_curves_free(&c);
    return rc;
}
