/* Section 1, the device's measured peak (clpeak-style): fp32 multiply-add chains at five vector
 * widths, copy-kernel bandwidth, empty-kernel launch latency and host↔device transfer rates. The
 * later sections state their figures as shares of these. Kernels: bench/peak.cl, embedded. */
#include <stdlib.h>
#include <string.h>

#include "cl_bench.h"
#include "runtime/program.h"

/* Must match bench/peak.cl (tests/cli_bench.sh re-derives them from the file and compares with
 * the JSON): PEAK_ITERS, and the number of mad statements in PEAK_MAD_BLOCK. */
#define CLB_PEAK_ITERS 128
#define CLB_PEAK_MADS_PER_ITER 16

extern const unsigned char cl_bench_peak_cl[];
extern const size_t cl_bench_peak_cl_size;

static const struct {
    const char *type, *kernel;
    int width;
} widths[] = {
    {"float", "peak_mad_float", 1},      {"float2", "peak_mad_float2", 2},
    {"float4", "peak_mad_float4", 4},    {"float8", "peak_mad_float8", 8},
    {"float16", "peak_mad_float16", 16},
};
#define NWIDTHS (int)(sizeof widths / sizeof widths[0])

/* Builds peak.cl with the trainer's options (no fast-math); a failure prints the log and gives
 * NULL (the section is skipped). Through rn50cl's program cache, like the model's programs: a
 * build from source loads the runtime's compiler, which a run with a warm cache never does
 * (Intel's kept ~127 MiB resident, which section 4 counted as the model's). */
static cl_program build_peak(rn_ctx *ctx)
{
    return rn_program_build(ctx, "cl_bench-peak.cl", (const char *)cl_bench_peak_cl,
                            cl_bench_peak_cl_size);
}

/* Runs k once over `global` work-items and returns its event time in ms. */
static double run_event_ms(rn_ctx *ctx, cl_kernel k, size_t global, const size_t *local)
{
    cl_event ev;
    cl_ulong t0, t1;
    CL_CHECK(clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &global, local, 0, NULL, &ev));
    CL_CHECK(clWaitForEvents(1, &ev));
    CL_CHECK(clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL));
    CL_CHECK(clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL));
    CL_CHECK(clReleaseEvent(ev));
    return (double)(t1 - t0) * 1e-6;
}

/* Median of `repeats` event timings after one warm-up run. */
static clb_stats time_kernel(rn_ctx *ctx, cl_kernel k, size_t global, const size_t *local,
                             int repeats)
{
    double t[64];
    if (repeats > 64) repeats = 64;
    run_event_ms(ctx, k, global, local);
    for (int i = 0; i < repeats; i++) t[i] = run_event_ms(ctx, k, global, local);
    return clb_stats_of(t, repeats);
}

/* fp32 rate of one vector width: the global size grows ×4 until one launch takes ≥ target_ms
 * (so a fast GPU and a 2-core CPU both get a measurable run), then the median is taken. */
static double mad_gflops(rn_ctx *ctx, cl_program p, int wi, const clb_cfg *cfg, cl_mem out,
                         size_t out_floats, double *flops_per_item)
{
    cl_int err;
    cl_kernel k;
    CL_CHECK((k = clCreateKernel(p, widths[wi].kernel, &err), err));
    float a = 1.3f;
    CL_CHECK(clSetKernelArg(k, 0, sizeof out, &out));
    CL_CHECK(clSetKernelArg(k, 1, sizeof a, &a));
    const size_t local = 64;
    const double target_ms = cfg->quick ? 10.0 : 40.0;
    const size_t max_items = out_floats / (size_t)widths[wi].width;
    size_t global = 4096;
    while (global * 4 <= max_items && run_event_ms(ctx, k, global, &local) < target_ms) global *= 4;
    clb_stats s = time_kernel(ctx, k, global, &local, cfg->repeats);
    CL_CHECK(clReleaseKernel(k));
    *flops_per_item = 2.0 * widths[wi].width * CLB_PEAK_MADS_PER_ITER * CLB_PEAK_ITERS;
    return *flops_per_item * (double)global / (s.med * 1e-3) * 1e-9;
}

static void peak_flops(rn_ctx *ctx, cl_program p, const clb_cfg *cfg, rn_jw *j, clb_peak *pk,
                       int print)
{
    const size_t out_floats = (size_t)16 << 20; /* 64 MiB: the largest float16 launch */
    cl_mem out = clb_buffer(ctx, out_floats * sizeof(float));
    double g[NWIDTHS], fpi[NWIDTHS];
    int best = 0;
    for (int i = 0; i < NWIDTHS; i++) {
        g[i] = mad_gflops(ctx, p, i, cfg, out, out_floats, &fpi[i]);
        if (g[i] > g[best]) best = i;
    }
    rn_release(&out);
    pk->gflops = g[best];
    if (print) {
        printf("fp32 multiply-add chains (%d mad/iteration × %d iterations per work-item):\n",
               CLB_PEAK_MADS_PER_ITER, CLB_PEAK_ITERS);
        for (int i = 0; i < NWIDTHS; i++)
            printf("  %-8s %10.1f GFLOP/s%s\n", widths[i].type, g[i], i == best ? "  (best)" : "");
    }
    rn_jw_obj(j, "fp32_gflops");
    for (int i = 0; i < NWIDTHS; i++) rn_jw_num(j, widths[i].type, g[i], CLB_DIGITS);
    rn_jw_num(j, "best", g[best], CLB_DIGITS);
    rn_jw_end(j);
    rn_jw_obj(j, "flops_per_work_item");
    for (int i = 0; i < NWIDTHS; i++) rn_jw_num(j, widths[i].type, fpi[i], CLB_DIGITS);
    rn_jw_end(j);
    rn_jw_int(j, "mad_per_iteration", CLB_PEAK_MADS_PER_ITER);
    rn_jw_int(j, "iterations", CLB_PEAK_ITERS);
}

/* Copy bandwidth: bytes read + bytes written per second, over buffers far larger than caches. */
static void peak_copy(rn_ctx *ctx, cl_program p, const clb_cfg *cfg, rn_jw *j, clb_peak *pk,
                      int print)
{
    size_t bytes = (size_t)(cfg->quick ? 64 : 256) << 20;
    while (bytes > ctx->info.max_alloc || 2 * bytes > ctx->info.global_mem / 2) bytes /= 2;
    cl_mem src = clb_buffer(ctx, bytes), dst = clb_buffer(ctx, bytes);
    rn_fill(ctx, src, bytes / sizeof(float), 1.0f);
    rn_fill(ctx, dst, bytes / sizeof(float), 0.0f);
    cl_int err;
    cl_kernel k;
    CL_CHECK((k = clCreateKernel(p, "peak_copy", &err), err));
    CL_CHECK(clSetKernelArg(k, 0, sizeof dst, &dst));
    CL_CHECK(clSetKernelArg(k, 1, sizeof src, &src));
    const size_t local = 64;
    clb_stats s = time_kernel(ctx, k, bytes / 16, &local, cfg->repeats);
    CL_CHECK(clReleaseKernel(k));
    rn_release(&src);
    rn_release(&dst);
    pk->copy_gbs = 2.0 * (double)bytes / (s.med * 1e-3) * 1e-9;
    if (print)
        printf("copy kernel (%zu MiB → %zu MiB)   %10.1f GB/s   (%.2f ms, min %.2f, max %.2f)\n",
               bytes >> 20, bytes >> 20, pk->copy_gbs, s.med, s.min, s.max);
    rn_jw_num(j, "copy_gbs", pk->copy_gbs, CLB_DIGITS);
    rn_jw_int(j, "copy_bytes", (long)bytes);
}

/* Launch latency: enqueue + clFinish of one empty kernel (what a synchronised launch costs), and
 * the per-launch cost of a burst of back-to-back launches (what an op sequence pays). */
static void peak_launch(rn_ctx *ctx, cl_program p, const clb_cfg *cfg, rn_jw *j, int print)
{
    cl_mem dummy = clb_buffer(ctx, 64);
    cl_int err;
    cl_kernel k;
    CL_CHECK((k = clCreateKernel(p, "peak_empty", &err), err));
    CL_CHECK(clSetKernelArg(k, 0, sizeof dummy, &dummy));
    const size_t one = 1;
    const int n = cfg->quick ? 50 : 200, burst = cfg->quick ? 100 : 500;
    double t[200];
    for (int i = -5; i < n; i++) { /* the first few are warm-up */
        double t0 = rn_now();
        CL_CHECK(clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &one, &one, 0, NULL, NULL));
        CL_CHECK(clFinish(ctx->queue));
        if (i >= 0) t[i] = (rn_now() - t0) * 1e6;
    }
    clb_stats s = clb_stats_of(t, n);
    double t0 = rn_now();
    for (int i = 0; i < burst; i++)
        CL_CHECK(clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &one, &one, 0, NULL, NULL));
    CL_CHECK(clFinish(ctx->queue));
    double per = (rn_now() - t0) * 1e6 / burst;
    CL_CHECK(clReleaseKernel(k));
    rn_release(&dummy);
    if (print) {
        printf("launch latency, empty kernel        %10.1f µs   (enqueue→finish, median of %d; "
               "min %.1f, max %.1f)\n",
               s.med, n, s.min, s.max);
        printf("launch cost, %d back-to-back       %10.1f µs per kernel\n", burst, per);
    }
    clb_json_stats(j, "launch_latency_us", s);
    rn_jw_num(j, "launch_burst_us", per, CLB_DIGITS);
}

/* Blocking clEnqueueWriteBuffer / clEnqueueReadBuffer from/to ordinary (pageable) host memory,
 * as the trainer does for each batch. */
static void peak_transfer(rn_ctx *ctx, const clb_cfg *cfg, rn_jw *j, int print)
{
    size_t bytes = (size_t)(cfg->quick ? 32 : 128) << 20;
    while (bytes > ctx->info.max_alloc) bytes /= 2;
    char *host = malloc(bytes);
    if (!host) abort();
    memset(host, 1, bytes);
    cl_mem m = clb_buffer(ctx, bytes);
    double tw[64], tr[64];
    int n = cfg->repeats > 64 ? 64 : cfg->repeats;
    for (int i = -1; i < n; i++) {
        double t0 = rn_now();
        rn_write(ctx, m, 0, bytes, host);
        double t1 = rn_now();
        rn_read(ctx, m, 0, bytes, host);
        double t2 = rn_now();
        if (i >= 0) {
            tw[i] = (t1 - t0) * 1e3;
            tr[i] = (t2 - t1) * 1e3;
        }
    }
    clb_stats w = clb_stats_of(tw, n), r = clb_stats_of(tr, n);
    double wg = bytes / (w.med * 1e-3) * 1e-9, rg = bytes / (r.med * 1e-3) * 1e-9;
    if (print) {
        printf("host → device write (%zu MiB)      %10.1f GB/s   (%.2f ms)\n", bytes >> 20, wg,
               w.med);
        printf("device → host read  (%zu MiB)      %10.1f GB/s   (%.2f ms)\n", bytes >> 20, rg,
               r.med);
    }
    rn_jw_num(j, "write_gbs", wg, CLB_DIGITS);
    rn_jw_num(j, "read_gbs", rg, CLB_DIGITS);
    rn_release(&m);
    free(host);
}

void clb_section_peak(rn_ctx *ctx, const clb_cfg *cfg, rn_jw *j, clb_peak *pk, int print)
{
    if (print) clb_title("1. device peak");
    cl_program p = build_peak(ctx);
    if (!p) {
        if (print) printf("(skipped: bench/peak.cl did not build; shares below are unknown)\n");
        return;
    }
    rn_jw_obj(j, "peak");
    peak_flops(ctx, p, cfg, j, pk, print);
    /* Only for the shares: section 3 needs the copy bandwidth, nothing needs the rest. Its
     * 256 MiB buffers would stay in the resident set of a runtime that keeps freed memory
     * (Intel's kept ~127 MiB) and count as section 4's model memory. */
    if (print || (cfg->sections & CLB_KERNELS)) peak_copy(ctx, p, cfg, j, pk, print);
    if (print) {
        peak_launch(ctx, p, cfg, j, print);
        peak_transfer(ctx, cfg, j, print);
    }
    rn_jw_end(j);
    CL_CHECK(clReleaseProgram(p));
}
