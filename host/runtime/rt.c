/* Context, queue, kernels by name, buffers and launches: the thin layer every op is written on.
 * One in-order profiling queue per process; failures of OpenCL calls here are internal errors. */
#include "runtime/rt.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rn50cl/rn50cl.h"
#include "runtime/program.h"
#include "runtime/tuning.h"

double rn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void collect_kernels(rn_ctx *ctx)
{
    for (size_t p = 0; p < ctx->nprograms; p++) {
        cl_uint nk = 0;
        CL_CHECK(clCreateKernelsInProgram(ctx->programs[p], 0, NULL, &nk));
        if (ctx->nkernels + nk > RN_MAX_KERNELS) rn_fatal("more than %d kernels", RN_MAX_KERNELS);
        CL_CHECK(
            clCreateKernelsInProgram(ctx->programs[p], nk, ctx->kernels + ctx->nkernels, NULL));
        for (cl_uint k = 0; k < nk; k++, ctx->nkernels++)
            CL_CHECK(clGetKernelInfo(ctx->kernels[ctx->nkernels], CL_KERNEL_FUNCTION_NAME,
                                     sizeof ctx->kernel_names[0], ctx->kernel_names[ctx->nkernels],
                                     NULL));
    }
}

static void take_options(rn_ctx *ctx, const rn_ctx_options *o)
{
    snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s", o->cache_dir ? o->cache_dir : "");
    ctx->quiet = o->quiet;
    ctx->no_tune = o->no_tune;
    ctx->no_cache = o->no_cache;
    ctx->profile = o->profile;
}

static int select_device(rn_ctx *ctx, const rn_ctx_options *o)
{
    rn_device_info *devs;
    size_t n, idx;
    int rc = rn_devices_enumerate(&devs, &n);
    if (rc) return rc;
    rc = rn_device_select(devs, n, o->device, o->device_from, &idx);
    if (!rc) ctx->info = devs[idx];
    free(devs);
    return rc;
}

int rn_vectorises_work_items(const rn_ctx *ctx)
{
    return (ctx->info.type & CL_DEVICE_TYPE_CPU) != 0 && ctx->info.pref_vec_float == 1;
}

int rn_ctx_create(rn_ctx *ctx, const rn_ctx_options *opts)
{
    static const rn_ctx_options defaults;
    const rn_ctx_options *o = opts ? opts : &defaults;
    double t0 = rn_now();
    memset(ctx, 0, sizeof *ctx);
    take_options(ctx, o);
    int rc = select_device(ctx, o);
    if (rc) return rc;
    cl_int err;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)ctx->info.platform,
                                     0};
    CL_CHECK((ctx->context = clCreateContext(props, 1, &ctx->info.device, NULL, NULL, &err), err));
    CL_CHECK((ctx->queue = clCreateCommandQueue(ctx->context, ctx->info.device,
                                                CL_QUEUE_PROFILING_ENABLE, &err),
              err));
    /* Parameters live at aligned offsets inside slabs, as sub-buffers; 256 bytes also keeps
     * vector loads aligned on devices that report a smaller base alignment. */
    ctx->sub_align = ctx->info.base_align_bits / 8;
    if (ctx->sub_align < 256) ctx->sub_align = 256;
    ctx->bn_per_channel = (ctx->info.type & CL_DEVICE_TYPE_CPU) != 0;
    ctx->dense_per_co = ctx->bn_per_channel;
    ctx->layout_per_channel = ctx->bn_per_channel;
    ctx->disjoint_grads = !ctx->bn_per_channel;
    /* Whether the float16 tiles gather the columns of 4×4 images (rn_sgemm_rows): measured per
     * conv at batch 128 against im2col + the same product, 0.4x the time on Intel's runtime, 2x
     * on PoCL (Zen 5; cause not found; on rows of 8 both took 0.5x). The 4×16 and 6×16 tiles
     * gather them on every device. */
    ctx->implicit_rows4 = rn_vectorises_work_items(ctx);
    /* Left to choose, PoCL cuts a tile kernel's grid into one work-group per compute unit, so a
     * core that falls behind (a busy machine, a slower edge) leaves the others idle at the end.
     * With 8 groups per unit a step's products ran 1.03-1.04x as fast on 2 PoCL cores (Zen 4; 4
     * and 16 about the same); Intel's runtime, which makes many groups of its own, gained
     * nothing (0.98-1.00x). */
    ctx->tile_groups =
        (ctx->info.type & CL_DEVICE_TYPE_CPU) && !rn_vectorises_work_items(ctx) ? 8 : 0;
    if ((rc = rn_programs_build_all(ctx, o->kernel_dir))) {
        rn_ctx_release(ctx);
        return rc;
    }
    collect_kernels(ctx);
    ctx->startup_seconds = rn_now() - t0;
    if (!ctx->quiet)
        fprintf(stderr, "rn50cl: device %d: %s (%s), %d programs ready in %.2f s (%d from cache)\n",
                ctx->info.index, ctx->info.name, ctx->info.platform_name, (int)ctx->nprograms,
                ctx->startup_seconds, ctx->cache_hits);
    rn_tune_apply(ctx);
    return RN_OK;
}

void rn_ctx_release(rn_ctx *ctx)
{
    if (!ctx->context) return;
    clFinish(ctx->queue);
    rn_release(&ctx->gemm_tmp);
    /* CLBlast caches programs per context; a later context could reuse this one's address and
     * be handed programs of a released context, and the cache's own teardown at exit would
     * release them twice. */
    CLBLAST_CHECK(CLBlastClearCache());
    for (size_t i = 0; i < ctx->nkernels; i++) clReleaseKernel(ctx->kernels[i]);
    for (size_t i = 0; i < ctx->nprograms; i++) clReleaseProgram(ctx->programs[i]);
    clReleaseCommandQueue(ctx->queue);
    clReleaseContext(ctx->context);
    memset(ctx, 0, sizeof *ctx);
}

cl_kernel rn_kernel(rn_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->nkernels; i++)
        if (!strcmp(ctx->kernel_names[i], name)) return ctx->kernels[i];
    rn_fatal("no kernel named %s in any program", name);
}

rn_args rn_args_begin(cl_kernel k)
{
    rn_args a = {k, 0};
    return a;
}

void rn_arg_mem(rn_args *a, cl_mem m)
{
    CL_CHECK(clSetKernelArg(a->k, a->i++, sizeof m, &m));
}

void rn_arg_int(rn_args *a, int v)
{
    CL_CHECK(clSetKernelArg(a->k, a->i++, sizeof v, &v));
}

void rn_arg_float(rn_args *a, float v)
{
    CL_CHECK(clSetKernelArg(a->k, a->i++, sizeof v, &v));
}

void rn_arg_local(rn_args *a, size_t bytes)
{
    CL_CHECK(clSetKernelArg(a->k, a->i++, bytes, NULL));
}

void rn_profile_add(rn_ctx *ctx, const char *name, double ms)
{
    int i = 0;
    while (i < ctx->nprof && strcmp(ctx->prof[i].name, name)) i++;
    if (i == ctx->nprof) {
        if (ctx->nprof == RN_MAX_PROF) return;
        rn_prof_entry *e = &ctx->prof[ctx->nprof++];
        snprintf(e->name, sizeof e->name, "%s", name);
        e->ms = 0; /* the slot may hold totals from before rn_profile_reset */
        e->calls = 0;
    }
    ctx->prof[i].ms += ms;
    ctx->prof[i].calls++;
}

static void prof_kernel(rn_ctx *ctx, cl_kernel k, cl_event ev)
{
    cl_ulong t0, t1;
    char name[64];
    CL_CHECK(clWaitForEvents(1, &ev));
    CL_CHECK(clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL));
    CL_CHECK(clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL));
    CL_CHECK(clGetKernelInfo(k, CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL));
    CL_CHECK(clReleaseEvent(ev));
    rn_profile_add(ctx, name, (t1 - t0) * 1e-6);
}

void rn_profile_reset(rn_ctx *ctx)
{
    ctx->nprof = 0;
}

double rn_profile_ms(const rn_ctx *ctx, const char *prefix)
{
    double ms = 0;
    for (int i = 0; i < ctx->nprof; i++)
        if (!strncmp(ctx->prof[i].name, prefix, strlen(prefix))) ms += ctx->prof[i].ms;
    return ms;
}

static int by_time(const void *a, const void *b)
{
    double x = ((const rn_prof_entry *)a)->ms, y = ((const rn_prof_entry *)b)->ms;
    return (x < y) - (x > y);
}

void rn_profile_print(const rn_ctx *ctx, FILE *f)
{
    rn_prof_entry e[RN_MAX_PROF];
    memcpy(e, ctx->prof, sizeof e[0] * (size_t)ctx->nprof);
    qsort(e, (size_t)ctx->nprof, sizeof e[0], by_time);
    double total = rn_profile_ms(ctx, "");
    fprintf(f, "%-28s %10s %8s %7s\n", "kernel", "ms", "calls", "share");
    for (int i = 0; i < ctx->nprof; i++)
        fprintf(f, "%-28s %10.1f %8ld %6.1f%%\n", e[i].name, e[i].ms, e[i].calls,
                total > 0 ? 100 * e[i].ms / total : 0);
    fprintf(f, "%-28s %10.1f\n", "total", total);
}

static size_t round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}

void rn_launch1d(rn_ctx *ctx, cl_kernel k, size_t n, size_t local)
{
    if (n == 0) return;
    if (!local) local = 64;
    size_t global = round_up(n, local);
    cl_event ev = NULL;
    CL_CHECK(clEnqueueNDRangeKernel(ctx->queue, k, 1, NULL, &global, &local, 0, NULL,
                                    ctx->profile ? &ev : NULL));
    if (ev) prof_kernel(ctx, k, ev);
}

void rn_launch2d(rn_ctx *ctx, cl_kernel k, size_t n0, size_t n1, size_t l0, size_t l1)
{
    if (n0 == 0 || n1 == 0) return;
    size_t local[2] = {l0, l1};
    size_t global[2] = {round_up(n0, l0), round_up(n1, l1)};
    cl_event ev = NULL;
    CL_CHECK(clEnqueueNDRangeKernel(ctx->queue, k, 2, NULL, global, local, 0, NULL,
                                    ctx->profile ? &ev : NULL));
    if (ev) prof_kernel(ctx, k, ev);
}

cl_mem rn_buffer_try(rn_ctx *ctx, size_t bytes, cl_int *err)
{
    if (bytes == 0) bytes = 4;
    if (bytes > ctx->info.max_alloc) {
        *err = CL_INVALID_BUFFER_SIZE;
        return NULL;
    }
    cl_mem m = clCreateBuffer(ctx->context, CL_MEM_READ_WRITE, bytes, NULL, err);
    return *err == CL_SUCCESS ? m : NULL;
}

cl_mem rn_buffer(rn_ctx *ctx, size_t bytes)
{
    cl_int err;
    cl_mem m = rn_buffer_try(ctx, bytes, &err);
    if (!m)
        fprintf(stderr, "rn50cl: error: cannot allocate %.1f MB on %s (%s).\n", bytes / 1e6,
                ctx->info.name, rn_cl_error_name(err));
    return m;
}

cl_mem rn_subbuffer(rn_ctx *ctx, cl_mem parent, size_t offset_bytes, size_t bytes)
{
    (void)ctx;
    cl_int err;
    cl_buffer_region r = {offset_bytes, bytes ? bytes : 4};
    cl_mem m;
    CL_CHECK(
        (m = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &r, &err),
         err));
    return m;
}

void rn_write(rn_ctx *ctx, cl_mem m, size_t offset_bytes, size_t bytes, const void *src)
{
    if (bytes)
        CL_CHECK(
            clEnqueueWriteBuffer(ctx->queue, m, CL_TRUE, offset_bytes, bytes, src, 0, NULL, NULL));
}

void rn_read(rn_ctx *ctx, cl_mem m, size_t offset_bytes, size_t bytes, void *dst)
{
    if (bytes)
        CL_CHECK(
            clEnqueueReadBuffer(ctx->queue, m, CL_TRUE, offset_bytes, bytes, dst, 0, NULL, NULL));
}

void rn_release(cl_mem *m)
{
    if (*m) CL_CHECK(clReleaseMemObject(*m));
    *m = NULL;
}

void rn_finish(rn_ctx *ctx)
{
    CL_CHECK(clFinish(ctx->queue));
}

void rn_fill(rn_ctx *ctx, cl_mem out, size_t n, float value)
{
    cl_kernel k = rn_kernel(ctx, "rn_fill_fwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, out);
    rn_arg_int(&a, (int)n);
    rn_arg_float(&a, value);
    rn_launch1d(ctx, k, n, 0);
}
