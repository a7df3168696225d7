/* Environment variables to options, once, at the edge (see env.h): the library below only ever
 * sees the structs, so tests and embedders steer it with fields instead of setenv. */
#include "cli/env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The variable's value, or NULL when unset or empty (empty means "not given" everywhere). */
static const char *var(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* A switch is on when set to anything but "0". */
static int var_on(const char *name)
{
    const char *v = var(name);
    return v && strcmp(v, "0") != 0;
}

static void cache_dir(char *buf, size_t len)
{
    const char *v;
    if ((v = var("RN50CL_CACHE_DIR"))) snprintf(buf, len, "%s", v);
    else if ((v = var("XDG_CACHE_HOME"))) snprintf(buf, len, "%s/rn50cl", v);
    else snprintf(buf, len, "%s/.cache/rn50cl", (v = var("HOME")) ? v : "/tmp");
}

void rn_env_read(rn_env *e)
{
    memset(e, 0, sizeof *e);
    cache_dir(e->cache_dir, sizeof e->cache_dir);
    e->ctx.cache_dir = e->cache_dir;
    if ((e->ctx.device = var("RN50CL_DEVICE"))) e->ctx.device_from = "RN50CL_DEVICE";
    e->ctx.kernel_dir = var("RN50CL_KERNEL_DIR");
    e->ctx.no_cache = var_on("RN50CL_NO_CACHE");
    e->ctx.no_tune = var_on("RN50CL_NO_TUNE");
    e->ctx.profile = var_on("RN50CL_PROFILE");
    e->data.cache_dir = e->cache_dir;
    if ((e->data.dir = var("RN50CL_DATA"))) e->data.dir_what = "the $RN50CL_DATA folder";
    e->data.url = var("RN50CL_DATA_URL");
    e->data.md5 = var("RN50CL_DATA_MD5");
}

void rn_env_flag_device(rn_ctx_options *o, const char *device)
{
    if (!device || !*device) return;
    o->device = device;
    o->device_from = "--device";
}

void rn_env_flag_data(rn_data_options *o, const char *dir, const char *url)
{
    if (dir && *dir) {
        o->dir = dir;
        o->dir_what = "the --data folder";
    }
    if (url && *url) o->url = url;
}
