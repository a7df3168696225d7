/* Data-parallel training over MPI (see dist.h). Backward hands over each layer's gradients as it
 * completes them; they are read back in buckets, all-reduced without blocking while the device
 * computes the layers below, and written back before one SGD step over the slab. Built without
 * RN50CL_MPI, only the single-process case is compiled. */
#include "train/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rn50cl/rn50cl.h"
#ifdef RN50CL_MPI
#include <mpi.h>
#endif

/* Rank `rank` of `size` gets images [off, off + cnt) of n: the first n % size ranks one more. */
static void shard_of(size_t n, int size, int rank, size_t *off, size_t *cnt)
{
    size_t q = n / (size_t)size, r = n % (size_t)size, k = (size_t)rank;
    *cnt = q + (k < r);
    *off = k * q + (k < r ? k : r);
}

int rn_dist_check_sizes(const rn_dist *d, int batch, size_t test_images)
{
    if (batch / d->size < 2) {
        fprintf(stderr,
                "rn50cl: error: --batch-size %d gives some of the %d ranks fewer than 2 images "
                "(batch-norm needs two); use --batch-size %d or more.\n",
                batch, d->size, 2 * d->size);
        return RN_ERR_INPUT;
    }
    if (test_images < (size_t)d->size) {
        fprintf(stderr,
                "rn50cl: error: the %zu test images cannot be shared among %d ranks; use at "
                "least %d (--test-limit).\n",
                test_images, d->size, d->size);
        return RN_ERR_INPUT;
    }
    return RN_OK;
}

int rn_dist_local_batch(const rn_dist *d, int batch)
{
    return (batch + d->size - 1) / d->size;
}

rn_cifar rn_dist_eval_shard(const rn_dist *d, const rn_cifar *full, size_t count)
{
    size_t total = count && count < full->n ? count : full->n, off, k;
    shard_of(total, d->size, d->rank, &off, &k);
    rn_cifar v = {k, full->labels + off, full->pixels + off * RN_CIFAR_IMAGE};
    return v;
}

/* Which selection entry a node-local rank takes from a comma-separated list. */
static int device_from_list(rn_dist *d, rn_ctx_options *o)
{
    const char *p = o->device;
    int entries = 1;
    for (const char *q = p; *q; q++) entries += *q == ',';
    for (int i = 0; i < d->local_rank && p; i++)
        if ((p = strchr(p, ','))) p++;
    const char *from = o->device_from ? o->device_from : "--device";
    if (!p) {
        fprintf(stderr,
                "rn50cl: error: %s \"%s\" has %d entries but this node runs %d ranks; give one "
                "device per rank (the node's ranks take them in order).\n",
                from, o->device, entries, d->local_size);
        return RN_ERR_INPUT;
    }
    size_t len = strcspn(p, ",");
    if (!len || len >= sizeof d->device) {
        fprintf(stderr, "rn50cl: error: entry %d of %s \"%s\" is %s; give a device per rank.\n",
                d->local_rank + 1, from, o->device, len ? "too long" : "empty");
        return RN_ERR_INPUT;
    }
    memcpy(d->device, p, len);
    d->device[len] = 0;
    o->device = d->device;
    return RN_OK;
}

int rn_dist_device(rn_dist *d, rn_ctx_options *o)
{
    if (o->device && strchr(o->device, ',')) return device_from_list(d, o);
    if ((o->device && *o->device) || d->local_size < 2) return RN_OK;
    rn_device_info *devs;
    size_t n, gpus = 0;
    if (rn_devices_enumerate(&devs, &n)) return RN_ERR_INPUT;
    for (size_t i = 0; i < n; i++) gpus += (devs[i].type & CL_DEVICE_TYPE_GPU) != 0;
    /* several ranks on one node: each its own GPU (round robin when there are fewer GPUs) */
    size_t want = gpus ? (size_t)d->local_rank % gpus : 0;
    for (size_t i = 0; i < n && gpus; i++) {
        if (!(devs[i].type & CL_DEVICE_TYPE_GPU) || want--) continue;
        snprintf(d->device, sizeof d->device, "%d", devs[i].index);
        o->device = d->device;
        break;
    }
    free(devs);
    return RN_OK;
}

static void set_share(rn_dist *d, size_t k, size_t n);

size_t rn_dist_take_shard(rn_dist *d, float *x, int32_t *lab, size_t n)
{
    if (d->size < 2) return n;
    size_t off, k;
    shard_of(n, d->size, d->rank, &off, &k);
    /* channel c's rows move down to c·k: never over a later channel's rows still to move */
    for (size_t c = 0; c < 3; c++)
        memmove(x + c * k * RN_CIFAR_PLANE, x + (c * n + off) * RN_CIFAR_PLANE,
                k * RN_CIFAR_PLANE * sizeof *x);
    memmove(lab, lab + off, k * sizeof *lab);
    set_share(d, k, n);
    return k;
}

#ifndef RN50CL_MPI

const char *rn_dist_build_info(void)
{
    return NULL;
}

void rn_dist_init(rn_dist *d)
{
    memset(d, 0, sizeof *d);
    d->size = d->local_size = 1;
}

void rn_dist_announce(const rn_dist *d, const rn_ctx *ctx)
{
    (void)d;
    (void)ctx;
}

static void set_share(rn_dist *d, size_t k, size_t n)
{
    (void)d;
    (void)k;
    (void)n;
}

void rn_dist_attach(rn_dist *d, rn_model *m, size_t bucket_bytes)
{
    (void)d;
    (void)m;
    (void)bucket_bytes;
}

void rn_dist_sum(const rn_dist *d, double *v, int n)
{
    (void)d;
    (void)v;
    (void)n;
}

void rn_dist_average_buffers(const rn_dist *d, rn_model *m)
{
    (void)d;
    (void)m;
}

int rn_dist_check_replicas(const rn_dist *d, rn_model *m, const char *when)
{
    (void)d;
    (void)m;
    (void)when;
    return RN_OK;
}

void rn_dist_reduce_eval(const rn_dist *d, rn_eval_result *r)
{
    (void)d;
    (void)r;
}

void rn_dist_report(const rn_dist *d)
{
    (void)d;
}

int rn_dist_end(rn_dist *d, int rc)
{
    (void)d;
    return rc;
}

#else /* RN50CL_MPI */

#define RN_MAX_BUCKETS 64 /* backward completes 54 groups (53 conv+BN, fc) */

typedef struct bucket {
    size_t off, n;   /* floats of the gradient slab */
    cl_event read;   /* the read-back into host memory */
    MPI_Request req; /* its all-reduce */
} bucket;

struct rn_dist_grad {
    rn_model *m;
    rn_grad_hook hook;
    float *host;             /* the gradient slab's host copy, laid out like it */
    size_t cap;              /* floats at which a bucket is sent */
    float share;             /* this rank's images / the global batch */
    size_t pend_off, pend_n; /* groups gathered for the next bucket */
    bucket b[RN_MAX_BUCKETS];
    MPI_Request req[RN_MAX_BUCKETS];
    int nb;
    double span_ms, exposed_ms; /* totals: first send to last arrival; after backward ended */
    long steps;
};

const char *rn_dist_build_info(void)
{
    static char info[MPI_MAX_LIBRARY_VERSION_STRING + 8];
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(lib, &len);
    lib[strcspn(lib, ",\n")] = 0; /* "Open MPI v4.1.4, package: ..." → its first part */
    snprintf(info, sizeof info, "MPI (%s)", lib);
    return info;
}

/* Whether a launcher started this process: only then is MPI started, so that a plain `rn50cl
 * train` neither starts a singleton MPI runtime nor differs in any way from a build without. */
static int launched_by_mpi(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

void rn_dist_init(rn_dist *d)
{
    memset(d, 0, sizeof *d);
    d->size = d->local_size = 1;
    if (!launched_by_mpi()) return;
    MPI_Init(NULL, NULL);
    d->mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &d->local_rank);
    MPI_Comm_size(node, &d->local_size);
    MPI_Comm_free(&node);
    /* one voice: rank 0 reports progress; another rank's stdout would only repeat it */
    if (d->rank && !freopen("/dev/null", "w", stdout)) fclose(stdout);
}

void rn_dist_announce(const rn_dist *d, const rn_ctx *ctx)
{
    if (d->size < 2) return;
    enum { LINE = 400 };
    char mine[LINE], host[128] = "?", *all = d->rank ? NULL : malloc((size_t)d->size * LINE);
    if (!d->rank && !all) abort();
    gethostname(host, sizeof host - 1);
    snprintf(mine, sizeof mine, "rank %d on %s: device %d, %s", d->rank, host, ctx->info.index,
             ctx->info.name);
    MPI_Gather(mine, LINE, MPI_CHAR, all, LINE, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (d->rank) return;
    printf("data-parallel training on %d ranks (batch-norm statistics per rank):\n", d->size);
    for (int r = 0; r < d->size; r++) printf("  %s\n", all + (size_t)r * LINE);
    free(all);
}

static void set_share(rn_dist *d, size_t k, size_t n)
{
    if (d->grad) d->grad->share = (float)k / (float)n;
}

static void send_bucket(rn_dist_grad *g)
{
    if (!g->pend_n) return;
    if (g->nb == RN_MAX_BUCKETS) rn_fatal("more than %d gradient buckets", RN_MAX_BUCKETS);
    bucket *b = &g->b[g->nb++];
    b->off = g->pend_off;
    b->n = g->pend_n;
    rn_ctx *ctx = g->m->ctx;
    CL_CHECK(clEnqueueReadBuffer(ctx->queue, g->m->gslab, CL_FALSE, b->off * sizeof(float),
                                 b->n * sizeof(float), g->host + b->off, 0, NULL, &b->read));
    CL_CHECK(clFlush(ctx->queue));
    g->pend_n = 0;
}

/* Backward goes down the slab: a group joins the pending bucket when it lies just below it. */
static void grad_ready(void *user, size_t off, size_t n)
{
    rn_dist_grad *g = user;
    if (g->pend_n && off + n != g->pend_off) send_bucket(g);
    g->pend_off = off;
    g->pend_n += n;
    if (g->pend_n >= g->cap) send_bucket(g);
}

static int read_done(cl_event e)
{
    cl_int st;
    CL_CHECK(clGetEventInfo(e, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL));
    if (st < 0) rn_fatal("reading gradients back failed: %s", rn_cl_error_name(st));
    return st == CL_COMPLETE;
}

/* Weights this rank's (batch-averaged) gradients by its share of the global batch and starts
 * summing them over the ranks. */
static void start_allreduce(rn_dist_grad *g, int i)
{
    bucket *b = &g->b[i];
    float *p = g->host + b->off;
    for (size_t j = 0; j < b->n; j++) p[j] *= g->share;
    MPI_Iallreduce(MPI_IN_PLACE, p, (int)b->n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &g->req[i]);
    CL_CHECK(clReleaseEvent(b->read));
}

/* Starts each bucket's all-reduce as soon as its read-back lands, while the device computes the
 * layers below; Open MPI moves a non-blocking collective on only inside MPI calls, so the wait
 * polls MPI_Testall. Then writes the sums back in order, ahead of the SGD step on the queue. */
static void grad_finish(void *user)
{
    rn_dist_grad *g = user;
    send_bucket(g);
    double t_first = 0, t_backward = 0;
    int started = 0, flag;
    const struct timespec nap = {0, 50000};
    while (started < g->nb) {
        if (read_done(g->b[started].read)) {
            if (!started) t_first = rn_now();
            start_allreduce(g, started++);
            continue;
        }
        if (started) MPI_Testall(started, g->req, &flag, MPI_STATUSES_IGNORE);
        nanosleep(&nap, NULL);
    }
    t_backward = rn_now();
    rn_ctx *ctx = g->m->ctx;
    for (int i = 0; i < g->nb; i++) {
        MPI_Wait(&g->req[i], MPI_STATUS_IGNORE);
        CL_CHECK(clEnqueueWriteBuffer(ctx->queue, g->m->gslab, CL_FALSE,
                                      g->b[i].off * sizeof(float), g->b[i].n * sizeof(float),
                                      g->host + g->b[i].off, 0, NULL, NULL));
    }
    double t_end = rn_now();
    g->span_ms += (t_end - t_first) * 1e3;
    g->exposed_ms += (t_end - t_backward) * 1e3;
    g->steps++;
    g->nb = 0;
}

void rn_dist_attach(rn_dist *d, rn_model *m, size_t bucket_bytes)
{
    if (d->size < 2) return;
    if (!m->keep_gradients) rn_fatal("rn_dist_attach needs a model with keep_gradients");
    rn_dist_grad *g = calloc(1, sizeof *g);
    if (!g || !(g->host = calloc(m->param_floats, sizeof(float)))) abort();
    g->m = m;
    g->cap = bucket_bytes / sizeof(float) ? bucket_bytes / sizeof(float) : 1;
    g->share = 1.0f / (float)d->size;
    g->hook = (rn_grad_hook){grad_ready, grad_finish, g};
    m->grad_hook = &g->hook;
    d->grad = g;
}

void rn_dist_sum(const rn_dist *d, double *v, int n)
{
    if (d->size < 2) return;
    MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

void rn_dist_average_buffers(const rn_dist *d, rn_model *m)
{
    if (d->size < 2) return;
    size_t n = m->buffer_floats;
    float *b = malloc(n * sizeof *b);
    if (!b) abort();
    rn_read(m->ctx, m->bslab, 0, n * sizeof *b, b);
    MPI_Allreduce(MPI_IN_PLACE, b, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (size_t i = 0; i < n; i++) b[i] /= (float)d->size;
    rn_write(m->ctx, m->bslab, 0, n * sizeof *b, b);
    free(b);
}

/* FNV-1a over 32-bit words. */
static uint64_t hash_words(uint64_t h, const uint32_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t hash_slab(uint64_t h, rn_ctx *ctx, cl_mem slab, size_t floats, uint32_t *tmp)
{
    rn_read(ctx, slab, 0, floats * sizeof *tmp, tmp);
    return hash_words(h, tmp, floats);
}

int rn_dist_check_replicas(const rn_dist *d, rn_model *m, const char *when)
{
    if (d->size < 2) return RN_OK;
    uint32_t *tmp = malloc(m->param_floats * sizeof *tmp);
    if (!tmp) abort();
    uint64_t h = 14695981039346656037ull;
    h = hash_slab(h, m->ctx, m->wslab, m->param_floats, tmp);
    h = hash_slab(h, m->ctx, m->vslab, m->param_floats, tmp);
    h = hash_slab(h, m->ctx, m->bslab, m->buffer_floats, tmp);
    free(tmp);
    uint64_t nbt = (uint64_t)m->num_batches_tracked;
    uint32_t words[2] = {(uint32_t)nbt, (uint32_t)(nbt >> 32)};
    h = hash_words(h, words, 2);
    uint64_t v[2] = {h, ~h}; /* the maximum of both: the largest and the smallest hash */
    MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (v[0] == ~v[1]) return RN_OK;
    if (!d->rank)
        fprintf(stderr,
                "rn50cl: error: the %d ranks' models are no longer the same %s (weights, "
                "momentum or batch-norm statistics differ); training stopped. Every rank must "
                "run the same rn50cl build and read the same --resume/--pretrained file.\n",
                d->size, when);
    return RN_ERR_INTERNAL;
}

void rn_dist_reduce_eval(const rn_dist *d, rn_eval_result *r)
{
    if (d->size < 2) return;
    enum { K = RN_CIFAR_CLASSES, N = 3 + 2 * K + K * K };
    double v[N];
    v[0] = (double)r->n;
    v[1] = (double)r->correct;
    v[2] = r->loss * (double)r->n;
    for (int i = 0; i < K; i++) {
        v[3 + i] = (double)r->class_total[i];
        v[3 + K + i] = (double)r->class_correct[i];
        for (int j = 0; j < K; j++) v[3 + 2 * K + i * K + j] = (double)r->confusion[i][j];
    }
    MPI_Allreduce(MPI_IN_PLACE, v, N, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    r->n = (size_t)v[0];
    r->correct = (size_t)v[1];
    r->loss = r->n ? v[2] / (double)r->n : 0;
    for (int i = 0; i < K; i++) {
        r->class_total[i] = (size_t)v[3 + i];
        r->class_correct[i] = (size_t)v[3 + K + i];
        for (int j = 0; j < K; j++) r->confusion[i][j] = (size_t)v[3 + 2 * K + i * K + j];
    }
}

void rn_dist_report(const rn_dist *d)
{
    const rn_dist_grad *g = d->grad;
    if (!g || d->rank || !g->steps) return;
    printf("gradient all-reduce: %.1f MB per step; %.1f ms per step from the first bucket's start "
           "to the last's end, %.1f ms of it after backward (mean of %ld steps, %d ranks)\n",
           g->m->param_floats * sizeof(float) / 1e6, g->span_ms / (double)g->steps,
           g->exposed_ms / (double)g->steps, g->steps, d->size);
}

int rn_dist_end(rn_dist *d, int rc)
{
    if (d->grad) {
        free(d->grad->host);
        free(d->grad);
        d->grad = NULL;
    }
    if (!d->mpi) return rc;
    fflush(stdout);
    fflush(stderr);
    if (d->size > 1 && rc != RN_OK && rc != RN_ERR_DIVERGED && rc != RN_ERR_INTERRUPTED)
        MPI_Abort(MPI_COMM_WORLD, rc);
    MPI_Finalize();
    return rc;
}

#endif /* RN50CL_MPI */
