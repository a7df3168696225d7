/* The one place rn50cl and cl_bench read the environment: every RN50CL_* variable (and
 * XDG_CACHE_HOME and HOME, for the cache folder) is resolved here into the option structs the
 * library takes, which reads no environment itself; command-line flags then override fields. */
#ifndef RN_CLI_ENV_H
#define RN_CLI_ENV_H

#include "data/download.h"
#include "runtime/rt.h"

typedef struct rn_env {
    /* $RN50CL_CACHE_DIR, else $XDG_CACHE_HOME/rn50cl, else $HOME/.cache/rn50cl */
    char cache_dir[4096];
    /* Point into the environment and into cache_dir above: keep the rn_env in place while they
     * are used (copies of ctx and data are fine). */
    rn_ctx_options ctx;
    rn_data_options data;
} rn_env;

/* Fills *e from the environment: RN50CL_DEVICE, RN50CL_KERNEL_DIR, RN50CL_CACHE_DIR,
 * RN50CL_NO_CACHE, RN50CL_NO_TUNE, RN50CL_PROFILE (a flag is on when set to anything but "" or
 * "0"), RN50CL_DATA, RN50CL_DATA_URL, RN50CL_DATA_MD5. Unset or empty variables leave defaults. */
void rn_env_read(rn_env *e);

/* --device SEL overrides $RN50CL_DEVICE (and errors then name --device); NULL or "" is no flag. */
void rn_env_flag_device(rn_ctx_options *o, const char *device);

/* --data DIR and --data-url URL override $RN50CL_DATA and $RN50CL_DATA_URL; NULL or "" is no
 * flag. */
void rn_env_flag_data(rn_data_options *o, const char *dir, const char *url);

#endif
