/* `rn50cl tune`: searches GEMM choices for the selected device on ResNet50's own GEMM shapes
 * (rn50cl's own kernels per shape, CLBlast parameters) and stores them in the cache folder;
 * --export/--import copy that file so a result found on one machine can be used on another with the
 * same device, driver and CLBlast. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"
#include "runtime/rt.h"
#include "tune/tune.h"

static int bad(const char *what)
{
    fprintf(stderr, "rn50cl: error: %s\n", what);
    return RN_ERR_INPUT;
}

/* Copies a validated tuning file; both directions check it belongs to this device first. */
static int copy_checked(rn_ctx *ctx, const char *from, const char *to, int importing)
{
    rn_tune_params p;
    char tuned[64], why[256] = "";
    FILE *f = fopen(from, "rb");
    if (!f) {
        if (importing) fprintf(stderr, "rn50cl: error: cannot read %s.\n", from);
        else
            fprintf(stderr,
                    "rn50cl: error: there are no tuned GEMM choices for %s yet (%s); run "
                    "`rn50cl tune` first.\n",
                    ctx->info.name, from);
        return RN_ERR_INPUT;
    }
    fclose(f);
    if (rn_tune_load(ctx, from, &p, tuned, sizeof tuned, why, sizeof why)) {
        fprintf(stderr, "rn50cl: error: %s cannot be used on this device: the file %s.\n", from,
                why);
        return RN_ERR_INPUT;
    }
    size_t size;
    char *text = rn_read_file(from, &size);
    if (!text) {
        fprintf(stderr, "rn50cl: error: cannot read %s.\n", from);
        return RN_ERR_INPUT;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", to);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        rn_mkdirs(dir);
    }
    int rc = rn_write_file_atomic(to, text, size);
    free(text);
    if (rc) {
        fprintf(stderr, "rn50cl: error: cannot write %s.\n", to);
        return RN_ERR_INPUT;
    }
    printf("%s %s -> %s (tuned %s)\n", importing ? "imported" : "exported", from, to, tuned);
    return RN_OK;
}

int rn_cmd_tune(int argc, char **argv, const rn_env *env)
{
    const char *device = NULL, *export_to = NULL, *import_from = NULL;
    int batch = 128;
    double budget = 600;
    const rn_opt opts[] = {
        {"device", RN_OPT_STR, &device, "SEL", "device index, gpu|cpu|accel, or part of its name"},
        {"batch-size", RN_OPT_INT, &batch, "N", "batch whose GEMM shapes are timed (default 128)"},
        {"budget", RN_OPT_FLOAT, &budget, "SECONDS", "time the search may take (default 600)"},
        {"export", RN_OPT_STR, &export_to, "FILE", "copy this device's stored parameters to FILE"},
        {"import", RN_OPT_STR, &import_from, "FILE", "store parameters from FILE for this device"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int rc = rn_parse_opts(
        argc, argv, opts,
        "usage: rn50cl tune [--device SEL] [--batch-size N] [--budget SECONDS] [--export FILE] "
        "[--import FILE]",
        "Time rn50cl's own GEMM kernels (tile, order, K-chunk) and CLBlast's GEMM parameters "
        "for this device on each of ResNet50's GEMM shapes as a training step runs them (a 3x3 "
        "conv's and the stem's products that gather their columns from the input timed so; "
        "largest first; "
        "shapes a short budget leaves out get choices borrowed from the winners), check the "
        "winners against a double reference and store the choice per shape in the cache "
        "folder, where every later run picks it up (--no-tune or RN50CL_NO_TUNE=1 ignores it: "
        "CLBlast with its own parameters everywhere). Ctrl-C stops the search and keeps the best "
        "so far.");
    if (rc) return rc < 0 ? RN_OK : rc;
    if (batch < 1) return bad("--batch-size must be at least 1.");
    if (!(budget > 0)) return bad("--budget must be a positive number of seconds.");
    if (export_to && import_from) return bad("--export and --import cannot be combined.");
    rn_ctx_options o = env->ctx;
    rn_env_flag_device(&o, device);
    o.no_tune = 1; /* the search starts from CLBlast's own parameters, not from a stored file */
    rn_ctx ctx;
    rc = rn_ctx_create(&ctx, &o);
    if (rc) return rc;
    char path[4096];
    rn_tune_path(&ctx, path, sizeof path);
    if (export_to) rc = copy_checked(&ctx, path, export_to, 0);
    else if (import_from) rc = copy_checked(&ctx, import_from, path, 1);
    else {
        rn_tune_result r;
        rc = rn_tune_run(&ctx, batch, budget, NULL, 0, &r);
        if (!rc)
            printf("GEMM over ResNet50 training shapes at batch %d: %.1f GFLOP/s with CLBlast's "
                   "defaults, %.1f GFLOP/s with CLBlast tuned, %.1f GFLOP/s with %d shapes on "
                   "rn50cl's own kernels (%d candidates, %.0f s); stored in %s\n",
                   batch, r.gflops_default, r.gflops_clblast, r.gflops_tuned, r.best.nown,
                   r.candidates, r.seconds, path);
        if (!rc && r.interrupted) rc = RN_ERR_INTERRUPTED;
    }
    rn_ctx_release(&ctx);
    return rc;
}
