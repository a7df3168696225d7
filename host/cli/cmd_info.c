/* `rn50cl info`: selects a device exactly as training would, builds every kernel program (using
 * the cache) and reports the device and the start-up time, so a user can check a setup quickly. */
#include <stdio.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "rn50cl/rn50cl.h"
#include "runtime/rt.h"

int rn_cmd_info(int argc, char **argv, const rn_env *env)
{
    const char *device = NULL;
    const rn_opt opts[] = {
        {"device", RN_OPT_STR, &device, "SEL", "device index, gpu|cpu|accel, or part of its name"},
        {NULL, 0, NULL, NULL, NULL},
    };
    int rc = rn_parse_opts(argc, argv, opts, "usage: rn50cl info [--device SEL]",
                           "Select a device, build all kernel programs and report start-up time.");
    if (rc) return rc < 0 ? RN_OK : rc;
    rn_ctx_options o = env->ctx;
    rn_env_flag_device(&o, device);
    o.quiet = 1;
    rn_ctx ctx;
    rc = rn_ctx_create(&ctx, &o);
    if (rc) return rc;
    printf("device %d: %s\nplatform: %s\ndriver: %s\nprograms: %zu (%d from cache, %d built)\n"
           "kernels: %zu\nstart-up: %.3f s\n",
           ctx.info.index, ctx.info.name, ctx.info.platform_name, ctx.info.driver_version,
           ctx.nprograms, ctx.cache_hits, ctx.cache_misses, ctx.nkernels, ctx.startup_seconds);
    rn_ctx_release(&ctx);
    return RN_OK;
}
