/* Section 3, rn50cl's own kernels at ResNet50 shapes for the batch: each row is one of the
 * model's op cases (host/model/cases.h), run through the ops API on buffers of its own, timed by
 * the OpenCL events of its kernels (rn50cl's profiling mode), and rated in GB/s by the case's
 * traffic model (reads + writes of every pass over every tensor) against the copy bandwidth. */
#include <stdlib.h>
#include <string.h>

#include "cl_bench.h"
#include "model/cases.h"
#include "rn50cl/rn50cl.h"

/* A row: the case (by kind and module name) and the direction; `only` counts just the kernels
 * whose name starts with it ("" = all of the op's), so a conv row times im2col or col2im alone,
 * not its GEMM. as_relu runs ReLU instead on the case's shape (bn1's output). */
typedef struct krow {
    const char *label;
    enum rn_op op;
    const char *name;
    int backward;
    const char *only;
    int as_relu;
} krow;

static const krow rows[] = {
    {"im2col conv1 7x7/2", RN_OP_CONV, "conv1", 0, "rn_im2col", 0},
    {"im2col layer1 3x3", RN_OP_CONV, "layer1.0.conv2", 0, "rn_im2col", 0},
    {"col2im layer1 3x3", RN_OP_CONV, "layer1.0.conv2", 1, "rn_col2im", 0},
    {"im2col layer2 3x3/2", RN_OP_CONV, "layer2.0.conv2", 0, "rn_im2col", 0},
    {"col2im layer2 3x3/2", RN_OP_CONV, "layer2.0.conv2", 1, "rn_col2im", 0},
    {"im2col layer2 1x1/2", RN_OP_CONV, "layer2.0.downsample.0", 0, "rn_im2col", 0},
    {"col2im layer2 1x1/2", RN_OP_CONV, "layer2.0.downsample.0", 1, "rn_col2im", 0},
    {"dense conv fwd layer3 2x2", RN_OP_CONV, "layer3.1.conv2", 0, "rn_conv_", 0},
    {"dense conv bwd layer3 2x2", RN_OP_CONV, "layer3.1.conv2", 1, "rn_conv_", 0},
    {"dense conv bwd layer4 1x1", RN_OP_CONV, "layer4.1.conv2", 1, "rn_conv_", 0},
    {"batchnorm fwd+ReLU bn1", RN_OP_BN, "bn1", 0, "", 0},
    {"batchnorm fwd layer1 bn3", RN_OP_BN, "layer1.0.bn3", 0, "", 0},
    {"batchnorm bwd+ReLU bn1", RN_OP_BN, "bn1", 1, "", 0},
    {"batchnorm bwd layer1 bn3", RN_OP_BN, "layer1.0.bn3", 1, "", 0},
    {"batchnorm fwd layer4 bn3", RN_OP_BN, "layer4.0.bn3", 0, "", 0},
    {"batchnorm bwd layer4 bn3", RN_OP_BN, "layer4.0.bn3", 1, "", 0},
    {"ReLU fwd", RN_OP_BN, "bn1", 0, "", 1},
    {"ReLU bwd", RN_OP_BN, "bn1", 1, "", 1},
    {"add+ReLU fwd layer1", RN_OP_ADD_RELU, "layer1.0", 0, "", 0},
    {"add+ReLU bwd layer1", RN_OP_ADD_RELU, "layer1.0", 1, "", 0},
    {"max-pool fwd 3x3/2", RN_OP_MAXPOOL, "maxpool", 0, "", 0},
    {"max-pool bwd 3x3/2", RN_OP_MAXPOOL, "maxpool", 1, "", 0},
    {"avg-pool fwd layer4", RN_OP_AVGPOOL, "avgpool", 0, "", 0},
    {"avg-pool bwd layer4", RN_OP_AVGPOOL, "avgpool", 1, "", 0},
    {"softmax-CE fwd+grad", RN_OP_LOSS, "loss", 0, "", 0},
    {"SGD (Nesterov) whole slab", RN_OP_SGD, "sgd", 0, "", 0},
};
#define NROWS (int)(sizeof rows / sizeof rows[0])

/* The shape column, from the case ("N" stands for the batch). */
static void shape_text(char *buf, size_t len, const rn_opcase *c, int backward)
{
    const rn_conv *v = &c->conv;
    const rn_pool *p = &c->pool;
    char col[48];
    switch (c->op) {
    case RN_OP_CONV:
        snprintf(col, sizeof col, "%d x N·%d", v->Cin * v->kh * v->kw, v->Ho * v->Wo);
        if (backward) snprintf(buf, len, "%s -> %dx%dx%d", col, v->Cin, v->H, v->W);
        else snprintf(buf, len, "%dx%dx%d -> %s", v->Cin, v->H, v->W, col);
        break;
    case RN_OP_MAXPOOL:
        if (backward) snprintf(buf, len, "%dxNx%dx%d -> %dx%d", p->C, p->Ho, p->Wo, p->H, p->W);
        else snprintf(buf, len, "%dxNx%dx%d -> %dx%d", p->C, p->H, p->W, p->Ho, p->Wo);
        break;
    case RN_OP_AVGPOOL: snprintf(buf, len, "%dxNx%d", c->C, c->HW); break;
    case RN_OP_LOSS: snprintf(buf, len, "N x %d", c->classes); break;
    case RN_OP_SGD: snprintf(buf, len, "all parameters"); break;
    default: snprintf(buf, len, "%d x N·%zu", c->C, c->M / (size_t)c->N); break;
    }
}

/* Sum of the row's kernel event times in ms (profiling mode waits for each launch; a GEMM inside
 * is recorded under RN_PROF_GEMM and left out by krow.only). */
static double op_once(rn_ctx *ctx, const krow *r, const rn_opcase *c, rn_opcase_io *io)
{
    rn_profile_reset(ctx);
    rn_opcase_run(ctx, c, r->backward, io);
    return rn_profile_ms(ctx, r->only);
}

/* The row's case, at the batch: one of the model's, or (as_relu) ReLU on that case's shape. */
static rn_opcase row_case(const krow *r, const rn_opcase *cases, int n)
{
    const rn_opcase *c = rn_opcase_find(cases, n, r->op, r->name);
    if (!c) abort(); /* the rows name modules the model has */
    rn_opcase k = *c;
    if (r->as_relu) k.op = RN_OP_RELU;
    return k;
}

void clb_section_kernels(rn_ctx *ctx, const clb_cfg *cfg, rn_jw *j, const clb_peak *pk)
{
    clb_title("3. rn50cl kernels at ResNet50 shapes (OpenCL event time of the op's kernels)");
    rn_opcase *cases;
    int ncases = rn_model_cases(cfg->batch, 10, &cases);
    int saved = ctx->profile;
    ctx->profile = 1;
    printf("%-26s %-24s %9s %9s %9s %9s %8s %6s\n", "op", "shape (N = batch)", "MB moved", "ms",
           "min", "max", "GB/s", "%copy");
    rn_jw_obj(j, "kernels");
    for (int i = 0; i < NROWS; i++) {
        rn_opcase c = row_case(&rows[i], cases, ncases);
        rn_opcase_io io;
        if (rn_opcase_io_alloc(ctx, &c, &io)) exit(RN_ERR_INPUT); /* it said why */
        double t[64];
        int n = cfg->repeats > 64 ? 64 : cfg->repeats;
        for (int w = 0; w < CLB_WARMUP; w++) op_once(ctx, &rows[i], &c, &io);
        for (int r = 0; r < n; r++) t[r] = op_once(ctx, &rows[i], &c, &io);
        rn_opcase_io_free(&io);
        clb_stats s = clb_stats_of(t, n);
        const double bytes = rn_opcase_bytes(&c, rows[i].backward);
        char pct[16], shape[64];
        shape_text(shape, sizeof shape, &c, rows[i].backward);
        rn_jw_obj(j, rows[i].label);
        rn_jw_num(j, "bytes", bytes, CLB_DIGITS);
        if (s.max <= 0) { /* no such kernel ran: the conv's product gathers its columns itself */
            printf("%-26s %-24s %9.1f   none: the stored GEMM choice gathers the columns\n",
                   rows[i].label, shape, bytes * 1e-6);
            rn_jw_bool(j, "in_product", 1);
            rn_jw_end(j);
            continue;
        }
        const double gbs = bytes / (s.med * 1e-3) * 1e-9;
        printf("%-26s %-24s %9.1f %9.3f %9.3f %9.3f %8.1f %6s\n", rows[i].label, shape,
               bytes * 1e-6, s.med, s.min, s.max, gbs, clb_pct(pct, sizeof pct, gbs, pk->copy_gbs));
        clb_json_stats(j, "ms", s);
        rn_jw_num(j, "gbs", gbs, CLB_DIGITS);
        if (pk->copy_gbs > 0) rn_jw_num(j, "pct_copy", 100 * gbs / pk->copy_gbs, CLB_DIGITS);
        rn_jw_end(j);
    }
    rn_jw_end(j);
    ctx->profile = saved;
    free(cases);
}
