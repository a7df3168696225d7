/* The edge that turns the environment into options (host/cli/env.c), shared by rn50cl, cl_bench
 * and the tests' context: each variable lands in its field, empty means unset, "0" turns a switch
 * off, the cache folder falls back as documented, and --device / --data / --data-url win. */
#include <stdlib.h>
#include <string.h>

#include "cli/env.h"
#include "testutil.h"

static const char *const all_vars[] = {
    "RN50CL_DEVICE",  "RN50CL_KERNEL_DIR", "RN50CL_CACHE_DIR", "RN50CL_NO_CACHE", "RN50CL_NO_TUNE",
    "RN50CL_PROFILE", "RN50CL_DATA",       "RN50CL_DATA_URL",  "RN50CL_DATA_MD5", "XDG_CACHE_HOME",
    "HOME",
};

static void clear_all(void)
{
    for (size_t i = 0; i < sizeof all_vars / sizeof all_vars[0]; i++) unsetenv(all_vars[i]);
}

static int same(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

static void check_each_variable(void)
{
    clear_all();
    setenv("RN50CL_DEVICE", "cpu", 1);
    setenv("RN50CL_KERNEL_DIR", "/k", 1);
    setenv("RN50CL_CACHE_DIR", "/c", 1);
    setenv("RN50CL_NO_CACHE", "1", 1);
    setenv("RN50CL_NO_TUNE", "yes", 1);
    setenv("RN50CL_PROFILE", "1", 1);
    setenv("RN50CL_DATA", "/d", 1);
    setenv("RN50CL_DATA_URL", "file:///u.tar.gz", 1);
    setenv("RN50CL_DATA_MD5", "0123", 1);
    rn_env e;
    rn_env_read(&e);
    TU_CHECK(same(e.ctx.device, "cpu") && same(e.ctx.device_from, "RN50CL_DEVICE"),
             "RN50CL_DEVICE -> ctx.device, named as the variable in errors");
    TU_CHECK(same(e.ctx.kernel_dir, "/k"), "RN50CL_KERNEL_DIR -> ctx.kernel_dir");
    TU_CHECK(same(e.ctx.cache_dir, "/c") && same(e.data.cache_dir, "/c"),
             "RN50CL_CACHE_DIR -> ctx.cache_dir and data.cache_dir");
    TU_CHECK(e.ctx.no_cache && e.ctx.no_tune && e.ctx.profile,
             "RN50CL_NO_CACHE, RN50CL_NO_TUNE, RN50CL_PROFILE -> no_cache, no_tune, profile");
    TU_CHECK(!e.ctx.quiet, "no variable makes the context quiet");
    TU_CHECK(same(e.data.dir, "/d") && same(e.data.dir_what, "the $RN50CL_DATA folder"),
             "RN50CL_DATA -> data.dir, named as the variable in errors");
    TU_CHECK(same(e.data.url, "file:///u.tar.gz"), "RN50CL_DATA_URL -> data.url");
    TU_CHECK(same(e.data.md5, "0123"), "RN50CL_DATA_MD5 -> data.md5");
}

static void check_unset_empty_and_zero(void)
{
    clear_all();
    setenv("HOME", "/h", 1);
    rn_env e;
    rn_env_read(&e);
    TU_CHECK(!e.ctx.device && !e.ctx.device_from && !e.ctx.kernel_dir && !e.ctx.no_cache &&
                 !e.ctx.no_tune && !e.ctx.profile && !e.data.dir && !e.data.url && !e.data.md5,
             "nothing set: every field at its default");
    TU_CHECK(same(e.cache_dir, "/h/.cache/rn50cl"), "cache folder from $HOME: %s", e.cache_dir);
    setenv("XDG_CACHE_HOME", "/x", 1);
    rn_env_read(&e);
    TU_CHECK(same(e.cache_dir, "/x/rn50cl"), "$XDG_CACHE_HOME comes before $HOME: %s", e.cache_dir);
    setenv("RN50CL_CACHE_DIR", "", 1);
    setenv("RN50CL_DEVICE", "", 1);
    setenv("RN50CL_DATA", "", 1);
    setenv("RN50CL_NO_TUNE", "0", 1);
    setenv("RN50CL_NO_CACHE", "0", 1);
    setenv("RN50CL_PROFILE", "", 1);
    rn_env_read(&e);
    TU_CHECK(same(e.cache_dir, "/x/rn50cl") && !e.ctx.device && !e.data.dir,
             "an empty variable counts as unset");
    TU_CHECK(!e.ctx.no_tune && !e.ctx.no_cache && !e.ctx.profile, "\"0\" and \"\" are off");
    unsetenv("HOME");
    unsetenv("XDG_CACHE_HOME");
    rn_env_read(&e);
    TU_CHECK(same(e.cache_dir, "/tmp/.cache/rn50cl"), "no $HOME: under /tmp: %s", e.cache_dir);
}

static void check_flags_win(void)
{
    clear_all();
    setenv("RN50CL_DEVICE", "gpu", 1);
    setenv("RN50CL_DATA", "/env-data", 1);
    setenv("RN50CL_DATA_URL", "file:///env.tar.gz", 1);
    rn_env e;
    rn_env_read(&e);
    rn_ctx_options o = e.ctx;
    rn_env_flag_device(&o, NULL);
    rn_env_flag_device(&o, "");
    TU_CHECK(same(o.device, "gpu") && same(o.device_from, "RN50CL_DEVICE"),
             "no --device (or an empty one) keeps $RN50CL_DEVICE");
    rn_env_flag_device(&o, "1");
    TU_CHECK(same(o.device, "1") && same(o.device_from, "--device"), "--device wins");
    rn_data_options d = e.data;
    rn_env_flag_data(&d, NULL, NULL);
    TU_CHECK(same(d.dir, "/env-data") && same(d.url, "file:///env.tar.gz"),
             "no --data, --data-url: the environment's");
    rn_env_flag_data(&d, "/flag-data", "file:///flag.tar.gz");
    TU_CHECK(same(d.dir, "/flag-data") && same(d.dir_what, "the --data folder") &&
                 same(d.url, "file:///flag.tar.gz"),
             "--data and --data-url win");
}

int main(void)
{
    check_each_variable();
    check_unset_empty_and_zero();
    check_flags_win();
    return tu_finish("test_env");
}
