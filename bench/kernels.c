/* Section 3, rn50cl's own kernels at ResNet50 shapes for the batch: each op is called through its
 * host/ops API (im2col/col2im through their kernels, as conv.c launches them), timed by the
 * OpenCL events of its kernels (rn50cl's profiling mode), and rated in GB/s by a simple traffic
 * model, reads + writes of every tensor pass the kernels make, against the copy bandwidth. */
#include <stdlib.h>
#include <string.h>

#include "cl_bench.h"
#include "model/resnet50.h"
#include "ops/batchnorm.h"
#include "ops/conv.h"
#include "ops/eltwise.h"
#include "ops/loss.h"
#include "ops/pool.h"
#include "ops/sgd.h"

/* Buffers for every op, sized for the batch (the largest use of each). */
typedef struct kbufs {
    int N;
    size_t nparams;
    cl_mem img, act8, a, b, c, d; /* a..d: 64×N×16×16 = 256×N×8×8 floats each */
    cl_mem w_conv, dw_conv;       /* a convolution's weights: up to 64×576 */
    rn_workspace ws;              /* im2col columns of the whole batch */
    cl_mem gamma, beta, rm, rv, sm, si, dgamma, dbeta;
    cl_mem pool, arg, feat, dfeat;
    cl_mem logits, labels, loss, correct, dlogits;
    cl_mem w, v, g;
} kbufs;

typedef struct kop {
    const char *name, *shape;
    const char *only; /* count only kernels whose name starts with this ("" = all of the op's) */
    void (*run)(rn_ctx *ctx, kbufs *b);
    double (*bytes)(const kbufs *b); /* traffic model, bytes */
} kop;

static rn_conv conv_stem(int N)
{
    return rn_conv_init(N, 3, RN_IMG, RN_IMG, 64, 7, 2, 3);
}

static rn_conv conv_l1(int N)
{
    return rn_conv_init(N, 64, 8, 8, 64, 3, 1, 1); /* layer1.x.conv2 */
}

static size_t act16(int N)
{
    return (size_t)64 * N * 16 * 16; /* conv1 output; also layer1 output 256×N×8×8 */
}

static double col_bytes(const rn_conv *c)
{
    return 4.0 * ((double)c->Cin * c->N * c->H * c->W +
                  (double)c->Cin * c->kh * c->kw * c->N * c->Ho * c->Wo);
}

/* ---- the ops ---------------------------------------------------------------------------- */

/* im2col and col2im run inside conv2d_forward / conv2d_backward (the public API, so the bench
 * follows any change of their arguments); only their own kernels' times are counted (kop.only),
 * not the GEMMs'. The workspace holds the whole batch's columns, so each runs as one launch. */
static void im2col_stem(rn_ctx *ctx, kbufs *b)
{
    rn_conv c = conv_stem(b->N);
    conv2d_forward(ctx, b->b, b->img, b->w_conv, &c, &b->ws);
}
static double im2col_stem_b(const kbufs *b)
{
    rn_conv c = conv_stem(b->N);
    return col_bytes(&c);
}
static void im2col_l1(rn_ctx *ctx, kbufs *b)
{
    rn_conv c = conv_l1(b->N);
    conv2d_forward(ctx, b->b, b->act8, b->w_conv, &c, &b->ws);
}
static double conv_l1_b(const kbufs *b)
{
    rn_conv c = conv_l1(b->N);
    return col_bytes(&c);
}
static void col2im_l1(rn_ctx *ctx, kbufs *b)
{
    rn_conv c = conv_l1(b->N);
    conv2d_backward(ctx, b->act8, b->dw_conv, b->c, b->a, b->w_conv, &c, &b->ws, 0);
}

/* Batch-norm forward (training): statistics read x twice (mean, then deviations), the
 * normalisation reads x and writes y: 4 passes. */
static void bn_fwd_stem(rn_ctx *ctx, kbufs *b)
{
    batchnorm_forward_train(ctx, b->b, b->a, b->gamma, b->beta, b->rm, b->rv, b->sm, b->si, 64,
                            b->N * 256, 0.1f, 1e-5f, 1);
}
static void bn_fwd_l1(rn_ctx *ctx, kbufs *b)
{
    batchnorm_forward_train(ctx, b->b, b->a, b->gamma, b->beta, b->rm, b->rv, b->sm, b->si, 256,
                            b->N * 64, 0.1f, 1e-5f, 0);
}
static double bn_fwd_b(const kbufs *b)
{
    return 4.0 * 4 * act16(b->N);
}
/* Backward: the reduction reads dy, x (and y for the ReLU mask), the per-element pass reads the
 * same and writes dx: 7 passes with ReLU, 5 without. */
static void bn_bwd_stem(rn_ctx *ctx, kbufs *b)
{
    batchnorm_backward(ctx, b->d, b->dgamma, b->dbeta, b->c, b->a, b->b, b->gamma, b->sm, b->si, 64,
                       b->N * 256, 1);
}
static double bn_bwd_relu_b(const kbufs *b)
{
    return 4.0 * 7 * act16(b->N);
}
static void bn_bwd_l1(rn_ctx *ctx, kbufs *b)
{
    batchnorm_backward(ctx, b->d, b->dgamma, b->dbeta, b->c, b->a, NULL, b->gamma, b->sm, b->si,
                       256, b->N * 64, 0);
}
static double bn_bwd_b(const kbufs *b)
{
    return 4.0 * 5 * act16(b->N);
}
static void relu_f(rn_ctx *ctx, kbufs *b)
{
    relu_forward(ctx, b->b, b->a, act16(b->N));
}
static double pass2_b(const kbufs *b)
{
    return 4.0 * 2 * act16(b->N);
}
static void relu_b(rn_ctx *ctx, kbufs *b)
{
    relu_backward(ctx, b->d, b->c, b->b, act16(b->N));
}
static double pass3_b(const kbufs *b)
{
    return 4.0 * 3 * act16(b->N);
}
static void add_relu_f(rn_ctx *ctx, kbufs *b)
{
    add_relu_forward(ctx, b->c, b->a, b->b, act16(b->N));
}
static void add_relu_b(rn_ctx *ctx, kbufs *b)
{
    add_relu_backward(ctx, b->d, b->c, b->b, act16(b->N));
}
static rn_pool pool_stem(int N)
{
    return rn_pool_init(64, N, 16, 16, 3, 2, 1);
}
static void maxpool_f(rn_ctx *ctx, kbufs *b)
{
    rn_pool p = pool_stem(b->N);
    maxpool_forward(ctx, b->pool, b->arg, b->a, &p);
}
static void maxpool_b(rn_ctx *ctx, kbufs *b)
{
    rn_pool p = pool_stem(b->N);
    maxpool_backward(ctx, b->d, b->pool, b->arg, &p);
}
/* input once + output and argmax (forward); dy and argmax + dx (backward) */
static double maxpool_bytes(const kbufs *b)
{
    return 4.0 * (act16(b->N) + 2.0 * 64 * b->N * 64);
}
static void avgpool_f(rn_ctx *ctx, kbufs *b)
{
    avgpool_forward(ctx, b->feat, b->dfeat, 2048, b->N, 1);
}
static void avgpool_b(rn_ctx *ctx, kbufs *b)
{
    avgpool_backward(ctx, b->dfeat, b->feat, 2048, b->N, 1);
}
static double avgpool_bytes(const kbufs *b)
{
    return 4.0 * 2 * 2048 * b->N;
}
static void softmax_ce(rn_ctx *ctx, kbufs *b)
{
    softmax_ce_forward(ctx, b->loss, b->correct, b->dlogits, b->logits, b->labels, b->N, 10, 0.0f);
}
/* logits and labels in; loss, correct and dlogits out */
static double softmax_bytes(const kbufs *b)
{
    return 4.0 * b->N * (10 + 1 + 1 + 1 + 10);
}
static void sgd(rn_ctx *ctx, kbufs *b)
{
    sgd_step(ctx, b->w, b->v, b->g, b->nparams, 0.01f, 0.9f, 5e-4f, 1);
}
/* w, v, g in; w, v out */
static double sgd_bytes(const kbufs *b)
{
    return 4.0 * 5 * b->nparams;
}

static const kop ops[] = {
    {"im2col conv1 7x7/2", "3x32x32 -> 147 x N·256", "rn_im2col", im2col_stem, im2col_stem_b},
    {"im2col layer1 3x3", "64x8x8 -> 576 x N·64", "rn_im2col", im2col_l1, conv_l1_b},
    {"col2im layer1 3x3", "576 x N·64 -> 64x8x8", "rn_col2im", col2im_l1, conv_l1_b},
    {"batchnorm fwd+ReLU bn1", "64 x N·256", "", bn_fwd_stem, bn_fwd_b},
    {"batchnorm fwd layer1 bn3", "256 x N·64", "", bn_fwd_l1, bn_fwd_b},
    {"batchnorm bwd+ReLU bn1", "64 x N·256", "", bn_bwd_stem, bn_bwd_relu_b},
    {"batchnorm bwd layer1 bn3", "256 x N·64", "", bn_bwd_l1, bn_bwd_b},
    {"ReLU fwd", "64 x N·256", "", relu_f, pass2_b},
    {"ReLU bwd", "64 x N·256", "", relu_b, pass3_b},
    {"add+ReLU fwd layer1", "256 x N·64", "", add_relu_f, pass3_b},
    {"add+ReLU bwd layer1", "256 x N·64", "", add_relu_b, pass3_b},
    {"max-pool fwd 3x3/2", "64xNx16x16 -> 8x8", "", maxpool_f, maxpool_bytes},
    {"max-pool bwd 3x3/2", "64xNx8x8 -> 16x16", "", maxpool_b, maxpool_bytes},
    {"avg-pool fwd layer4", "2048xNx1x1", "", avgpool_f, avgpool_bytes},
    {"avg-pool bwd layer4", "2048xNx1x1", "", avgpool_b, avgpool_bytes},
    {"softmax-CE fwd+grad", "N x 10", "", softmax_ce, softmax_bytes},
    {"SGD (Nesterov) whole slab", "all parameters", "", sgd, sgd_bytes},
};
#define NOPS (int)(sizeof ops / sizeof ops[0])

/* ---- buffers ------------------------------------------------------------------------------- */

/* Uniform values in [-1, 1) from a fixed seed (realistic: signs for ReLU, spread for max-pool). */
static cl_mem random_buffer(rn_ctx *ctx, size_t n, unsigned seed)
{
    float *h = malloc(n * sizeof *h);
    if (!h) abort();
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        h[i] = (float)(seed >> 8) / 8388608.0f - 1.0f;
    }
    cl_mem m = rn_buffer(ctx, n * sizeof *h);
    rn_write(ctx, m, 0, n * sizeof *h, h);
    free(h);
    return m;
}

static void alloc_kbufs(rn_ctx *ctx, kbufs *b, int N)
{
    memset(b, 0, sizeof *b);
    b->N = N;
    rn_model *m = malloc(sizeof *m);
    if (!m) abort();
    rn_model_init(m, 10);
    b->nparams = m->param_floats;
    free(m);
    rn_conv s = conv_stem(N), l = conv_l1(N);
    size_t col = rn_conv_col_floats_per_image(&s) > rn_conv_col_floats_per_image(&l)
                     ? rn_conv_col_floats_per_image(&s)
                     : rn_conv_col_floats_per_image(&l);
    rn_workspace_create(ctx, &b->ws, col * N);
    unsigned seed = 1;
    b->img = random_buffer(ctx, (size_t)3 * N * RN_IMG * RN_IMG, seed++);
    b->w_conv = random_buffer(ctx, (size_t)64 * 576, seed++);
    b->dw_conv = rn_buffer(ctx, (size_t)64 * 576 * 4);
    b->act8 = random_buffer(ctx, (size_t)64 * N * 64, seed++);
    cl_mem *act[4] = {&b->a, &b->b, &b->c, &b->d};
    for (int i = 0; i < 4; i++) *act[i] = random_buffer(ctx, act16(N), seed++);
    cl_mem *ch[8] = {&b->gamma, &b->beta, &b->rm, &b->rv, &b->sm, &b->si, &b->dgamma, &b->dbeta};
    for (int i = 0; i < 8; i++) *ch[i] = rn_buffer(ctx, 256 * sizeof(float));
    rn_fill(ctx, b->gamma, 256, 1.0f);
    rn_fill(ctx, b->beta, 256, 0.0f);
    rn_fill(ctx, b->rm, 256, 0.0f);
    rn_fill(ctx, b->rv, 256, 1.0f);
    b->pool = random_buffer(ctx, (size_t)64 * N * 64, seed++);
    b->arg = rn_buffer(ctx, (size_t)64 * N * 64 * 4);
    b->feat = random_buffer(ctx, (size_t)2048 * N, seed++);
    b->dfeat = random_buffer(ctx, (size_t)2048 * N, seed++);
    b->logits = random_buffer(ctx, (size_t)10 * N, seed++);
    int *lab = malloc((size_t)N * sizeof *lab);
    for (int i = 0; i < N; i++) lab[i] = i % 10;
    b->labels = rn_buffer(ctx, (size_t)N * 4);
    rn_write(ctx, b->labels, 0, (size_t)N * 4, lab);
    free(lab);
    b->loss = rn_buffer(ctx, (size_t)N * 4);
    b->correct = rn_buffer(ctx, (size_t)N * 4);
    b->dlogits = rn_buffer(ctx, (size_t)N * 40);
    b->w = random_buffer(ctx, b->nparams, seed++);
    b->g = random_buffer(ctx, b->nparams, seed++);
    b->v = rn_buffer(ctx, b->nparams * 4);
    rn_fill(ctx, b->v, b->nparams, 0.0f);
    /* max-pool backward needs a valid argmax: one forward fills it */
    maxpool_f(ctx, b);
    bn_fwd_stem(ctx, b);
    rn_finish(ctx);
}

static void free_kbufs(kbufs *b)
{
    rn_workspace_release(&b->ws);
    cl_mem *all[] = {&b->img,     &b->w_conv, &b->dw_conv, &b->act8,   &b->a,    &b->b,
                     &b->c,       &b->d,      &b->gamma,   &b->beta,   &b->rm,   &b->rv,
                     &b->sm,      &b->si,     &b->dgamma,  &b->dbeta,  &b->pool, &b->arg,
                     &b->feat,    &b->dfeat,  &b->logits,  &b->labels, &b->loss, &b->correct,
                     &b->dlogits, &b->w,      &b->v,       &b->g};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) rn_release(all[i]);
}

/* Sum of the op's kernel event times in ms (profiling mode waits for each launch; a GEMM inside
 * is recorded as "CLBlastSgemm" and left out by kop.only). */
static double op_once(rn_ctx *ctx, const kop *o, kbufs *b)
{
    rn_profile_reset(ctx);
    o->run(ctx, b);
    return rn_profile_ms(ctx, o->only);
}

void clb_section_kernels(rn_ctx *ctx, const clb_cfg *cfg, rn_jw *j, const clb_peak *pk)
{
    clb_title("3. rn50cl kernels at ResNet50 shapes (OpenCL event time of the op's kernels)");
    kbufs b;
    alloc_kbufs(ctx, &b, cfg->batch);
    int saved = ctx->profile;
    ctx->profile = 1;
    printf("%-26s %-24s %9s %9s %9s %9s %8s %6s\n", "op", "shape (N = batch)", "MB moved", "ms",
           "min", "max", "GB/s", "%copy");
    rn_jw_obj(j, "kernels");
    for (int i = 0; i < NOPS; i++) {
        double t[64];
        int n = cfg->repeats > 64 ? 64 : cfg->repeats;
        for (int w = 0; w < CLB_WARMUP; w++) op_once(ctx, &ops[i], &b);
        for (int r = 0; r < n; r++) t[r] = op_once(ctx, &ops[i], &b);
        clb_stats s = clb_stats_of(t, n);
        double bytes = ops[i].bytes(&b), gbs = bytes / (s.med * 1e-3) * 1e-9;
        char pct[16];
        printf("%-26s %-24s %9.1f %9.3f %9.3f %9.3f %8.1f %6s\n", ops[i].name, ops[i].shape,
               bytes * 1e-6, s.med, s.min, s.max, gbs, clb_pct(pct, sizeof pct, gbs, pk->copy_gbs));
        rn_jw_obj(j, ops[i].name);
        rn_jw_num(j, "bytes", bytes, CLB_DIGITS);
        clb_json_stats(j, "ms", s);
        rn_jw_num(j, "gbs", gbs, CLB_DIGITS);
        if (pk->copy_gbs > 0) rn_jw_num(j, "pct_copy", 100 * gbs / pk->copy_gbs, CLB_DIGITS);
        rn_jw_end(j);
    }
    rn_jw_end(j);
    ctx->profile = saved;
    free_kbufs(&b);
}
