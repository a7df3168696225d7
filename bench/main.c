/* cl_bench: measures an OpenCL device for rn50cl (peak, GEMMs, rn50cl's kernels, the whole
 * model, start-up) and prints one table per section, optionally JSON for comparing devices;
 * `cl_bench compare A.json B.json …` puts such files side by side, `cl_bench ab` two stored GEMM
 * choices (bench/ab.c). See bench/README.md. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl_bench.h"
#include "cli/env.h"
#include "rn50cl/rn50cl.h"
#include "tune/tune.h"

#ifndef RN50CL_CLBLAST_VERSION
#define RN50CL_CLBLAST_VERSION "unknown"
#endif

static const char usage[] =
    "usage: cl_bench [--device SEL|all] [--batch-size N] [--quick] [--repeats N] [--json FILE]\n"
    "                [--no-tune] [--only peak,gemm,kernels,model,startup]\n"
    "       cl_bench --list-devices\n"
    "       cl_bench compare A.json [B.json ...]\n"
    "       cl_bench ab A.txt B.txt [--device SEL] [--batch-size N] [--repeats N]\n"
    "                   [--groups GA,GB]\n";

static const char help[] =
    "Benchmarks an OpenCL device for rn50cl: 1. fp32 peak, copy bandwidth, launch latency and\n"
    "transfers; 2. SGEMM (CLBlast, or rn50cl's own kernels where tuned) at square sizes and at\n"
    "every ResNet50 training GEMM shape; 3. rn50cl's kernels at ResNet50 shapes; 4. a whole\n"
    "training step and inference pass, memory, and the inference-only model of eval and predict;\n"
    "5. start-up time with cold and warm program caches.\n\n"
    "  --device SEL|all  index, gpu|cpu|accel, part of a name (as rn50cl), or every device\n"
    "  --batch-size N    batch for sections 2-4 (default 128; --quick: 16)\n"
    "  --quick           small batch, fewer repeats and sizes: about a minute on a 2-core CPU\n"
    "  --repeats N       timed runs per figure, after warm-up, and profiled steps\n"
    "                    (default 5; --quick: 3)\n"
    "  --json FILE       also write every figure and the environment as JSON\n"
    "  --no-tune         CLBlast with its default parameters for every GEMM, even when tuned\n"
    "                    choices are stored\n"
    "  --only LIST       run only these sections (peak is still measured for the shares)\n\n"
    "compare puts JSON files side by side, with ratios to the first. ab times two stored GEMM\n"
    "choices of one device (files as `rn50cl tune` writes them) on every GEMM shape of a\n"
    "training step in one process, taking turns (--repeats runs each, default 11), the calls\n"
    "a step runs gathering from a conv's input timed so; --groups runs A's and B's own kernels\n"
    "in GA and GB work-groups per compute unit (0: as many as the runtime chooses; default:\n"
    "the device's rule for both).\n";

static const char *const section_names[5] = {"peak", "gemm", "kernels", "model", "startup"};

static int parse_only(const char *list)
{
    int bits = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        int k = 0;
        while (k < 5 && strcmp(t, section_names[k])) k++;
        if (k == 5) return -1;
        bits |= 1 << k;
    }
    return bits;
}

static int parse_int(const char *s, int lo, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > 1 << 20) return -1;
    *out = (int)v;
    return 0;
}

static int bad(const char *what, const char *arg)
{
    fprintf(stderr, "cl_bench: error: %s '%s'.\n%s", what, arg ? arg : "", usage);
    return RN_ERR_INPUT;
}

static void environment(rn_ctx *ctx, const clb_cfg *cfg, rn_jw *j)
{
    char path[4096], now[64];
    rn_tune_path(ctx, path, sizeof path);
    int tuned = ctx->tuned_on[0] != 0; /* rn_ctx_create applied stored GEMM parameters */
    time_t t = time(NULL);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    printf("cl_bench (rn50cl %s, CLBlast %s), %s\n", RN50CL_VERSION, RN50CL_CLBLAST_VERSION, now);
    printf("device %d: %s | %s | driver %s | %s | %u compute units | %.1f GB\n", ctx->info.index,
           ctx->info.name, ctx->info.platform_name, ctx->info.driver_version,
           ctx->info.device_version, ctx->info.compute_units, ctx->info.global_mem / 1e9);
    printf("batch %d, %d timed repeats after warm-up (median, min, max)%s; GEMM choices: %s%s\n",
           cfg->batch, cfg->repeats, cfg->quick ? ", --quick" : "",
           tuned          ? "tuned, from "
           : ctx->no_tune ? "CLBlast defaults (--no-tune)"
                          : "CLBlast defaults (none stored)",
           tuned ? path : "");
    if (ctx->tile_groups)
        printf("own GEMM kernels in %d work-groups per compute unit\n", ctx->tile_groups);
    else printf("own GEMM kernels in the work-groups the runtime chooses\n");
    rn_jw_obj(j, "environment");
    rn_jw_int(j, "device_index", ctx->info.index);
    rn_jw_str(j, "device", ctx->info.name);
    rn_jw_str(j, "device_type", rn_device_type_name(ctx->info.type));
    rn_jw_str(j, "platform", ctx->info.platform_name);
    rn_jw_str(j, "platform_version", ctx->info.platform_version);
    rn_jw_str(j, "driver", ctx->info.driver_version);
    rn_jw_str(j, "opencl_version", ctx->info.device_version);
    rn_jw_str(j, "opencl_c_version", ctx->info.c_version);
    rn_jw_int(j, "compute_units", (long)ctx->info.compute_units);
    rn_jw_str(j, "clblast_version", RN50CL_CLBLAST_VERSION);
    rn_jw_str(j, "rn50cl_version", RN50CL_VERSION);
    rn_jw_str(j, "date", now);
    rn_jw_int(j, "batch", cfg->batch);
    rn_jw_int(j, "repeats", cfg->repeats);
    rn_jw_bool(j, "quick", cfg->quick);
    rn_jw_bool(j, "tuned_gemm", tuned);
    rn_jw_int(j, "tile_groups", ctx->tile_groups); /* 0: the runtime's work-groups */
    if (tuned) {
        rn_jw_str(j, "tuning_file", path);
        rn_jw_str(j, "tuned_on", ctx->tuned_on);
    }
    rn_jw_end(j);
}

/* Every selected section on one device, as one element of the JSON "runs" array. */
static int bench_device(const char *sel, const clb_cfg *cfg, const rn_env *env, rn_jw *j)
{
    rn_ctx_options o = env->ctx;
    rn_env_flag_device(&o, sel);
    o.quiet = 1;
    if (cfg->no_tune) o.no_tune = 1;
    rn_ctx ctx;
    int rc = rn_ctx_create(&ctx, &o);
    if (rc) return rc;
    clb_peak pk = {0, 0, clb_rss_mib()};
    rn_jw_obj(j, NULL);
    environment(&ctx, cfg, j);
    /* the shares in sections 2-4 need the peak even when it is not asked for */
    rn_jw none;
    rn_jw_open(&none, NULL, RN_JW_PRETTY);
    int want_peak = cfg->sections & CLB_PEAK;
    if (want_peak || (cfg->sections & (CLB_GEMM | CLB_KERNELS | CLB_MODEL)))
        clb_section_peak(&ctx, cfg, want_peak ? j : &none, &pk, want_peak);
    fflush(stdout);
    if (cfg->sections & CLB_GEMM) clb_section_gemm(&ctx, cfg, j, &pk);
    fflush(stdout);
    if (cfg->sections & CLB_KERNELS) clb_section_kernels(&ctx, cfg, j, &pk);
    fflush(stdout);
    if (cfg->sections & CLB_MODEL) clb_section_model(&ctx, cfg, j, &pk);
    fflush(stdout);
    if (cfg->sections & CLB_STARTUP) clb_section_startup(&ctx, cfg, j);
    rn_jw_end(j);
    rn_ctx_release(&ctx);
    return RN_OK;
}

static int list_devices(void)
{
    rn_device_info *devs;
    size_t n;
    int rc = rn_devices_enumerate(&devs, &n);
    if (rc) return rc;
    rn_devices_print_table(stdout, devs, n);
    free(devs);
    return RN_OK;
}

static int run_all(const char *sel, const clb_cfg *cfg, const rn_env *env, rn_jw *j)
{
    if (!sel || strcmp(sel, "all")) return bench_device(sel, cfg, env, j);
    rn_device_info *devs;
    size_t n;
    int rc = rn_devices_enumerate(&devs, &n);
    if (rc) return rc;
    free(devs);
    for (size_t i = 0; i < n && !rc; i++) {
        char s[16];
        snprintf(s, sizeof s, "%zu", i);
        if (i) printf("\n");
        rc = bench_device(s, cfg, env, j);
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "compare")) return clb_compare(argc - 2, argv + 2);
    if (argc > 1 && !strcmp(argv[1], "ab")) return clb_ab(argc - 2, argv + 2);
    clb_cfg cfg = {.batch = 0, .repeats = 0, .sections = CLB_ALL};
    const char *sel = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = !strcmp(a, "--device") || !strcmp(a, "--batch-size") ||
                    !strcmp(a, "--repeats") || !strcmp(a, "--json") || !strcmp(a, "--only");
        if (takes && !v) return bad("missing value after", a);
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("%s\n%s", usage, help);
            return RN_OK;
        } else if (!strcmp(a, "--list-devices")) {
            return list_devices();
        } else if (!strcmp(a, "--quick")) {
            cfg.quick = 1;
        } else if (!strcmp(a, "--no-tune")) {
            cfg.no_tune = 1;
        } else if (!strcmp(a, "--device")) {
            sel = v;
        } else if (!strcmp(a, "--json")) {
            cfg.json_path = v;
        } else if (!strcmp(a, "--batch-size")) {
            if (parse_int(v, 1, &cfg.batch))
                return bad("--batch-size needs a positive integer, not", v);
        } else if (!strcmp(a, "--repeats")) {
            if (parse_int(v, 1, &cfg.repeats) || cfg.repeats > 64)
                return bad("--repeats needs an integer from 1 to 64, not", v);
        } else if (!strcmp(a, "--only")) {
            if ((cfg.sections = parse_only(v)) <= 0) return bad("--only: unknown section in", v);
        } else {
            return bad("unknown option", a);
        }
        i += takes;
    }
    if (!cfg.batch) cfg.batch = cfg.quick ? 16 : 128;
    if (!cfg.repeats) cfg.repeats = cfg.quick ? 3 : 5;
    FILE *jf = NULL;
    if (cfg.json_path && !(jf = fopen(cfg.json_path, "w"))) {
        fprintf(stderr, "cl_bench: error: cannot write %s.\n", cfg.json_path);
        return RN_ERR_INPUT;
    }
    rn_jw j;
    rn_jw_open(&j, jf, RN_JW_PRETTY);
    rn_jw_obj(&j, NULL);
    rn_jw_str(&j, "tool", "cl_bench");
    rn_jw_int(&j, "format", 1);
    rn_jw_arr(&j, "runs");
    rn_env env;
    rn_env_read(&env);
    int rc = run_all(sel, &cfg, &env, &j);
    rn_jw_end(&j);
    rn_jw_end(&j);
    if (jf && fclose(jf) != 0) {
        fprintf(stderr, "cl_bench: error: could not finish writing %s.\n", cfg.json_path);
        return RN_ERR_INPUT;
    }
    if (!rc && jf) printf("\nwrote %s\n", cfg.json_path);
    return rc;
}
