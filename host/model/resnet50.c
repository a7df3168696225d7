/* ResNet50 as torchvision builds it, for CIFAR-sized inputs: the parameter table (state_dict
 * names and order), slab layout, initialisation, and the forward/backward passes as plain calls
 * into host/ops. Backward reuses three scratch buffers, so only forward activations are kept (and
 * of those not the batch-norm+ReLU outputs, which it recomputes), and takes each layer's SGD step
 * as soon as that layer is done, so only one layer's gradients are. */
#include "model/resnet50.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "model/cases.h"
#include "ops/batchnorm.h"
#include "ops/fc.h"
#include "ops/pool.h"
#include "ops/sgd.h"
#include "rn50cl/rn50cl.h"

static const int stage_blocks[4] = {3, 4, 6, 3};

static int add_entry(rn_model *m, const char *name, enum rn_entry_kind kind, int ndim,
                     const int64_t *shape)
{
    rn_entry *e = &m->e[m->nentries];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->kind = kind;
    e->ndim = ndim;
    e->numel = 1;
    for (int i = 0; i < ndim; i++) {
        e->shape[i] = shape[i];
        e->numel *= (size_t)shape[i];
    }
    if (kind == RN_PARAM) m->nparams += e->numel;
    return (int)m->nentries++;
}

/* add_entry for the state_dict key "<module>.<member>". */
static int add_member(rn_model *m, const char *module, const char *member, enum rn_entry_kind kind,
                      int ndim, const int64_t *shape)
{
    char n[64];
    snprintf(n, sizeof n, "%s.%s", module, member);
    return add_entry(m, n, kind, ndim, shape);
}

/* Registers conv `cname`.weight and batch-norm `bname`.* in torchvision's order. */
static void make_cbr(rn_model *m, rn_cbr *c, const char *cname, const char *bname, int cin,
                     int cout, int k, int stride, int h, int relu)
{
    memset(c, 0, sizeof *c);
    c->cin = cin;
    c->cout = cout;
    c->k = k;
    c->stride = stride;
    c->pad = (k - 1) / 2;
    c->h = c->w = h;
    c->ho = c->wo = (h + 2 * c->pad - k) / stride + 1;
    c->relu = relu;
    int64_t ws[4] = {cout, cin, k, k}, cs[1] = {cout};
    c->conv_w = add_member(m, cname, "weight", RN_PARAM, 4, ws);
    c->bn_w = add_member(m, bname, "weight", RN_PARAM, 1, cs);
    c->bn_b = add_member(m, bname, "bias", RN_PARAM, 1, cs);
    c->bn_rm = add_member(m, bname, "running_mean", RN_BUFFER, 1, cs);
    c->bn_rv = add_member(m, bname, "running_var", RN_BUFFER, 1, cs);
    c->bn_nbt = add_member(m, bname, "num_batches_tracked", RN_COUNTER, 0, NULL);
}

/* Gives every slab entry an offset that is a multiple of `align` floats (sub-buffer rule). */
static void layout(rn_model *m, size_t align)
{
    size_t po = 0, bo = 0;
    for (size_t i = 0; i < m->nentries; i++) {
        rn_entry *e = &m->e[i];
        size_t *o = e->kind == RN_PARAM ? &po : e->kind == RN_BUFFER ? &bo : NULL;
        if (!o) continue;
        e->off = *o;
        *o += (e->numel + align - 1) / align * align;
    }
    m->param_floats = po;
    m->buffer_floats = bo;
}

void rn_model_init(rn_model *m, int classes)
{
    memset(m, 0, sizeof *m);
    m->classes = classes;
    make_cbr(m, &m->stem, "conv1", "bn1", 3, 64, 7, 2, RN_IMG, 1);
    m->pool_h = rn_model_maxpool(m, 1).Ho;
    int cin = 64, h = m->pool_h;
    for (int s = 0; s < 4; s++) {
        int width = 64 << s;
        for (int b = 0; b < stage_blocks[s]; b++) {
            rn_block *bl = &m->blocks[m->nblocks++];
            bl->stage = s;
            bl->index = b;
            int stride = (s > 0 && b == 0) ? 2 : 1;
            char cn[64], bn[64];
            for (int j = 1; j <= 3; j++) {
                snprintf(cn, sizeof cn, "layer%d.%d.conv%d", s + 1, b, j);
                snprintf(bn, sizeof bn, "layer%d.%d.bn%d", s + 1, b, j);
                rn_cbr *c = j == 1 ? &bl->c1 : j == 2 ? &bl->c2 : &bl->c3;
                if (j == 1) make_cbr(m, c, cn, bn, cin, width, 1, 1, h, 1);
                if (j == 2) make_cbr(m, c, cn, bn, width, width, 3, stride, h, 1);
                if (j == 3) make_cbr(m, c, cn, bn, width, 4 * width, 1, 1, bl->c2.ho, 0);
            }
            bl->has_down = b == 0;
            if (bl->has_down) {
                snprintf(cn, sizeof cn, "layer%d.%d.downsample.0", s + 1, b);
                snprintf(bn, sizeof bn, "layer%d.%d.downsample.1", s + 1, b);
                make_cbr(m, &bl->down, cn, bn, cin, 4 * width, 1, stride, h, 0);
            }
            cin = 4 * width;
            h = bl->c2.ho;
        }
    }
    int64_t fw[2] = {classes, cin}, fb[1] = {classes};
    m->fc_w = add_entry(m, "fc.weight", RN_PARAM, 2, fw);
    m->fc_b = add_entry(m, "fc.bias", RN_PARAM, 1, fb);
    layout(m, 64);
}

rn_conv rn_cbr_conv(const rn_cbr *c, int n)
{
    if (c->padding == RN_PAD_SAME)
        return rn_conv_init_same(n, c->cin, c->h, c->w, c->cout, c->k, c->stride);
    return rn_conv_init(n, c->cin, c->h, c->w, c->cout, c->k, c->stride, c->pad);
}

rn_pool rn_model_maxpool(const rn_model *m, int n)
{
    if (m->padding == RN_PAD_SAME)
        return rn_pool_init_same(m->stem.cout, n, m->stem.ho, m->stem.wo, 3, 2);
    return rn_pool_init(m->stem.cout, n, m->stem.ho, m->stem.wo, 3, 2, 1);
}

/* Sets c's rule; the activations were sized by the symmetric rule, which must give the same. */
static void set_cbr_padding(rn_cbr *c, rn_padding p)
{
    c->padding = p;
    rn_conv v = rn_cbr_conv(c, 1);
    if (v.Ho != c->ho || v.Wo != c->wo)
        rn_fatal("%s padding changes a %dx%d conv's output from %dx%d to %dx%d", rn_padding_name(p),
                 c->h, c->w, c->ho, c->wo, v.Ho, v.Wo);
}

void rn_model_set_padding(rn_model *m, rn_padding p)
{
    m->padding = p;
    set_cbr_padding(&m->stem, p);
    for (int i = 0; i < m->nblocks; i++) {
        rn_block *bl = &m->blocks[i];
        set_cbr_padding(&bl->c1, p);
        set_cbr_padding(&bl->c2, p);
        set_cbr_padding(&bl->c3, p);
        if (bl->has_down) set_cbr_padding(&bl->down, p);
    }
    if (rn_model_maxpool(m, 1).Ho != m->pool_h)
        rn_fatal("%s padding changes the max-pool's output size", rn_padding_name(p));
}

int rn_model_find(const rn_model *m, const char *name)
{
    for (size_t i = 0; i < m->nentries; i++)
        if (!strcmp(m->e[i].name, name)) return (int)i;
    return -1;
}

/* ---- memory plan ---------------------------------------------------------------------------- */

static size_t cbr_out(const rn_cbr *c)
{
    return (size_t)c->cout * c->ho * c->wo;
}

static size_t cbr_in(const rn_cbr *c)
{
    return (size_t)c->cin * c->h * c->w;
}

#define FOR_EACH_CBR(m, c, body)                                                                   \
    do {                                                                                           \
        rn_cbr *c = &(m)->stem;                                                                    \
        body;                                                                                      \
        for (int bi_ = 0; bi_ < (m)->nblocks; bi_++) {                                             \
            rn_block *bl_ = &(m)->blocks[bi_];                                                     \
            rn_cbr *list_[4] = {&bl_->c1, &bl_->c2, &bl_->c3, bl_->has_down ? &bl_->down : NULL};  \
            for (int li_ = 0; li_ < 4; li_++) {                                                    \
                if (!list_[li_]) continue;                                                         \
                c = list_[li_];                                                                    \
                body;                                                                              \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* Per image, rn_model.act[i]: the largest c1 (i = 0) or c2 (i = 1) output of the blocks. */
static size_t act_floats_per_image(rn_model *m, int i)
{
    size_t mx = 0;
    for (int b = 0; b < m->nblocks; b++) {
        size_t f = cbr_out(i ? &m->blocks[b].c2 : &m->blocks[b].c1);
        if (f > mx) mx = f;
    }
    return mx;
}

/* Per image, scratch buffer i: the largest activation, except for buffer 2, which only ever holds
 * the gradient of a block's c2 output (see block_backward). */
static size_t scratch_floats_per_image(rn_model *m, int i)
{
    if (i == 2) return act_floats_per_image(m, 1);
    size_t mx = 0;
    FOR_EACH_CBR(m, c, {
        if (cbr_out(c) > mx) mx = cbr_out(c);
        if (cbr_in(c) > mx) mx = cbr_in(c);
    });
    return mx;
}

static size_t workspace_floats_for(rn_model *m, int images)
{
    size_t mx = 0;
    FOR_EACH_CBR(m, c, {
        rn_conv cv = rn_cbr_conv(c, images);
        if (rn_conv_workspace_floats(&cv, images) > mx) mx = rn_conv_workspace_floats(&cv, images);
    });
    return mx;
}

/* Batch-norm scratch for the layer that needs the most at this batch. */
static size_t bn_part_floats(rn_model *m, int batch)
{
    size_t mx = 0;
    FOR_EACH_CBR(m, c, {
        size_t f = batchnorm_part_floats(c->cout, batch * c->ho * c->wo);
        if (f > mx) mx = f;
    });
    return mx;
}

/* Per image, the forward outputs every model has: the max-pool output and argmax, features and
 * logits. */
static size_t head_floats_per_image(rn_model *m)
{
    return (size_t)64 * m->pool_h * m->pool_h * 2 + 2048 + (size_t)m->classes;
}

/* Per image, what only training keeps for backward: each conv output, each block output, and
 * the gradients of features and logits. */
static size_t saved_floats_per_image(rn_model *m)
{
    size_t total = 2048 + (size_t)m->classes;
    FOR_EACH_CBR(m, c, total += cbr_out(c));
    for (int b = 0; b < m->nblocks; b++) total += cbr_out(&m->blocks[b].c3);
    return total;
}

/* The batch statistics every batch-norm saves for backward (independent of the batch). */
static size_t stat_floats(rn_model *m)
{
    size_t total = 0;
    FOR_EACH_CBR(m, c, total += 2 * (size_t)c->cout);
    return total;
}

/* The entries backward completes together, first..last, consecutive in the table and the slab: a
 * conv with its batch-norm's weight and bias, or fc's weight and bias. */
static size_t group_floats(const rn_model *m, int first, int last)
{
    return m->e[last].off + m->e[last].numel - m->e[first].off;
}

/* Whether each layer's gradients have their own place in the gradient slab (at its weights'
 * offset), rather than every layer's at the slab's start, where the sub-buffers of different
 * layers overlap: with keep_gradients, and on devices that ask for it (rn_ctx.disjoint_grads:
 * NVIDIA's OpenCL, driver 580 on an H200, crashes in clReleaseMemObject on such overlapping
 * views). Either way the fused SGD step takes the same values, so the same bits. */
static int grads_apart(const rn_model *m)
{
    return m->keep_gradients || (m->ctx && m->ctx->disjoint_grads);
}

static size_t grad_floats(rn_model *m)
{
    if (grads_apart(m)) return m->param_floats;
    size_t mx = group_floats(m, m->fc_w, m->fc_b);
    FOR_EACH_CBR(m, c, {
        size_t g = group_floats(m, c->conv_w, c->bn_b);
        if (g > mx) mx = g;
    });
    return mx;
}

/* The workspace asked for, but never more than the whole batch's columns of the largest layer:
 * beyond that every layer runs in one chunk anyway, so the GEMMs (and results) are the same. */
static size_t workspace_floats(rn_model *m, size_t workspace_bytes, int batch)
{
    size_t w = workspace_bytes / sizeof(float), one = workspace_floats_for(m, 1);
    size_t all = workspace_floats_for(m, batch);
    return w < one ? one : w > all ? all : w;
}

/* Per image, the largest block output: the two buffers an inference-only model's blocks take
 * turns in. */
static size_t block_out_floats(rn_model *m)
{
    size_t mx = 0;
    for (int b = 0; b < m->nblocks; b++)
        if (cbr_out(&m->blocks[b].c3) > mx) mx = cbr_out(&m->blocks[b].c3);
    return mx;
}

/* What rn_model_alloc allocates: what every model has, then (inference_only) the
 * two buffers the blocks' outputs take turns in, or training's state. */
rn_model_mem rn_model_mem_plan(const rn_model *m, int batch, size_t workspace_bytes)
{
    rn_model *mm = (rn_model *)m;
    size_t N = (size_t)batch, f = sizeof(float);
    rn_model_mem p = {0};
    p.weights = (m->param_floats + m->buffer_floats) * f;
    p.activations = N * head_floats_per_image(mm) * f;
    for (int i = 0; i < 2; i++)
        p.scratch += N * (scratch_floats_per_image(mm, i) + act_floats_per_image(mm, i)) * f;
    p.workspace = workspace_floats(mm, workspace_bytes, batch) * f;
    if (m->inference_only) {
        p.activations += 2 * N * block_out_floats(mm) * f;
        return p;
    }
    p.gradients = grad_floats(mm) * f;
    p.momentum = m->param_floats * f;
    p.activations += (N * saved_floats_per_image(mm) + stat_floats(mm)) * f;
    p.scratch += (bn_part_floats(mm, batch) + N * scratch_floats_per_image(mm, 2)) * f;
    return p;
}

size_t rn_model_mem_total(const rn_model_mem *p)
{
    return p->weights + p->gradients + p->momentum + p->activations + p->scratch + p->workspace;
}

size_t rn_model_bytes(const rn_model *m, int batch, size_t workspace_bytes)
{
    rn_model_mem p = rn_model_mem_plan(m, batch, workspace_bytes);
    return rn_model_mem_total(&p);
}

/* Allocates and touches a buffer so that lazy allocators fail here, not in the middle of a step. */
static cl_mem alloc_touch(rn_ctx *ctx, size_t floats, cl_int *err)
{
    cl_mem b = rn_buffer_try(ctx, floats * sizeof(float), err);
    if (!b) return NULL;
    float zero = 0;
    *err = clEnqueueFillBuffer(ctx->queue, b, &zero, sizeof zero, 0, floats * sizeof(float), 0,
                               NULL, NULL);
    if (*err == CL_SUCCESS) *err = clFinish(ctx->queue);
    if (*err != CL_SUCCESS) {
        clReleaseMemObject(b);
        return NULL;
    }
    return b;
}

static int largest_fitting_batch(const rn_model *m, const rn_ctx *ctx, size_t workspace_bytes)
{
    int b = 0;
    while (b < 65536 && rn_model_bytes(m, b + 1, workspace_bytes) <= ctx->info.global_mem * 9 / 10)
        b++;
    return b;
}

/* The GEMM scratch for every product a step issues, so a step never allocates (see rn_sgemm).
 * An input gradient whose every call runs as its forward's gathering product (the listing's
 * runs_as, as conv.c's dx_implicit decides) never issues its own shape: layer1's would reserve
 * 18 MiB at batch 128 for nothing. CL_SUCCESS or the device's refusal. */
static cl_int reserve_gemm_scratch(const rn_model *m, rn_ctx *ctx, int batch)
{
    rn_gemm_use *uses;
    int n = rn_model_gemm_uses(batch, m->classes, !m->inference_only, m->ws.floats * sizeof(float),
                               &uses);
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < n && err == CL_SUCCESS; i++)
        if (!rn_gemm_use_only_as_other(ctx, uses, i)) rn_gemm_reserve(ctx, &uses[i].s, &err);
    free(uses);
    return err;
}

static int alloc_fail(rn_model *m, rn_ctx *ctx, int batch, size_t workspace_bytes, cl_int err)
{
    int fit = largest_fitting_batch(m, ctx, workspace_bytes);
    fprintf(stderr,
            "rn50cl: error: %s cannot hold ResNet50 %s at batch size %d (needs about "
            "%.0f MB, %s); use --batch-size %d or less.\n",
            ctx->info.name, m->inference_only ? "inference" : "training", batch,
            rn_model_bytes(m, batch, workspace_bytes) / 1e6,
            err == CL_SUCCESS ? "more than the device has" : rn_cl_error_name(err),
            fit > 0 ? fit : 1);
    rn_model_free(m);
    return RN_ERR_INPUT;
}

/* The gradient sub-buffers of one group: at the weights' offsets (grads_apart), else from the
 * start of the (one-layer) gradient slab. */
static void grad_views(rn_model *m, int first, int last)
{
    size_t base = grads_apart(m) ? 0 : m->e[first].off;
    for (int i = first; i <= last; i++) {
        rn_entry *e = &m->e[i];
        e->g = rn_subbuffer(m->ctx, m->gslab, (e->off - base) * sizeof(float),
                            e->numel * sizeof(float));
    }
}

int rn_model_alloc(rn_model *m, rn_ctx *ctx, int batch, size_t workspace_bytes)
{
    m->ctx = ctx;
    m->batch = batch;
    layout(m, ctx->sub_align / sizeof(float));
    if (rn_model_bytes(m, batch, workspace_bytes) > ctx->info.global_mem)
        return alloc_fail(m, ctx, batch, workspace_bytes, CL_SUCCESS);
    cl_int err = CL_SUCCESS;
    size_t N = (size_t)batch;
#define ALLOC(dst, floats)                                                                         \
    do {                                                                                           \
        if (!((dst) = alloc_touch(ctx, (floats), &err)))                                           \
            return alloc_fail(m, ctx, batch, workspace_bytes, err);                                \
    } while (0)
    const int train = !m->inference_only;
    ALLOC(m->wslab, m->param_floats);
    ALLOC(m->bslab, m->buffer_floats);
    if (train) {
        ALLOC(m->gslab, grad_floats(m));
        ALLOC(m->vslab, m->param_floats);
        FOR_EACH_CBR(m, c, {
            ALLOC(c->t, N * cbr_out(c));
            ALLOC(c->smean, (size_t)c->cout);
            ALLOC(c->sinv, (size_t)c->cout);
        });
        for (int b = 0; b < m->nblocks; b++) ALLOC(m->blocks[b].out, N * cbr_out(&m->blocks[b].c3));
    } else {
        ALLOC(m->blocks[0].out, N * block_out_floats(m));
        ALLOC(m->blocks[1].out, N * block_out_floats(m));
        for (int b = 2; b < m->nblocks; b++) { /* one reference per block, as rn_model_free takes */
            m->blocks[b].out = m->blocks[b % 2].out;
            CL_CHECK(clRetainMemObject(m->blocks[b].out));
        }
    }
    size_t pool = (size_t)64 * m->pool_h * m->pool_h * N;
    ALLOC(m->pool_out, pool);
    ALLOC(m->pool_arg, pool);
    ALLOC(m->feat, 2048 * N);
    ALLOC(m->logits, N * m->classes);
    for (int i = 0; i < 2; i++) ALLOC(m->scratch[i], N * scratch_floats_per_image(m, i));
    for (int i = 0; i < 2; i++) ALLOC(m->act[i], N * act_floats_per_image(m, i));
    if (train) {
        ALLOC(m->dfeat, 2048 * N);
        ALLOC(m->dlogits, N * m->classes);
        ALLOC(m->scratch[2], N * scratch_floats_per_image(m, 2));
        ALLOC(m->bn_part, bn_part_floats(m, batch));
    }
#undef ALLOC
    m->ws.floats = workspace_floats(m, workspace_bytes, batch);
    m->ws.buf = alloc_touch(ctx, m->ws.floats, &err);
    if (!m->ws.buf || (err = reserve_gemm_scratch(m, ctx, batch)) != CL_SUCCESS)
        return alloc_fail(m, ctx, batch, workspace_bytes, err);
    for (size_t i = 0; i < m->nentries; i++) {
        rn_entry *e = &m->e[i];
        size_t off = e->off * sizeof(float), bytes = e->numel * sizeof(float);
        if (e->kind == RN_PARAM) {
            e->w = rn_subbuffer(ctx, m->wslab, off, bytes);
            if (train) e->v = rn_subbuffer(ctx, m->vslab, off, bytes);
        } else if (e->kind == RN_BUFFER) {
            e->w = rn_subbuffer(ctx, m->bslab, off, bytes);
        }
    }
    if (train) {
        FOR_EACH_CBR(m, c, grad_views(m, c->conv_w, c->bn_b));
        grad_views(m, m->fc_w, m->fc_b);
    }
    return RN_OK;
}

void rn_model_free(rn_model *m)
{
    for (size_t i = 0; i < m->nentries; i++) {
        rn_release(&m->e[i].w);
        rn_release(&m->e[i].g);
        rn_release(&m->e[i].v);
    }
    FOR_EACH_CBR(m, c, {
        rn_release(&c->t);
        rn_release(&c->smean);
        rn_release(&c->sinv);
    });
    for (int b = 0; b < m->nblocks; b++) rn_release(&m->blocks[b].out);
    cl_mem *bufs[] = {&m->wslab,      &m->gslab,      &m->vslab,      &m->bslab,  &m->pool_out,
                      &m->pool_arg,   &m->feat,       &m->dfeat,      &m->logits, &m->dlogits,
                      &m->scratch[0], &m->scratch[1], &m->scratch[2], &m->act[0], &m->act[1],
                      &m->bn_part,    &m->ws.buf};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) rn_release(bufs[i]);
    m->batch = 0;
}

/* ---- initialisation ---------------------------------------------------------------------------
 */

/* Entry e's initial values into p[0..numel). fc_bound: PyTorch Linear's U(±1/√fan_in) bound, for
 * both fc.weight and fc.bias, times the head's scale. */
static void init_entry(const rn_entry *e, float *p, uint64_t seed, size_t idx,
                       double residual_gamma, double fc_bound)
{
    rn_rng r;
    rn_rng_seed(&r, seed, 0x1000 + idx); /* one stream per tensor: re-initialising one is local */
    size_t len = strlen(e->name);
    int is_bn_weight = e->ndim == 1 && len > 7 && !strcmp(e->name + len - 7, ".weight");
    if (e->ndim == 4) { /* conv: Kaiming normal, mode fan_out, gain √2 */
        double std = sqrt(2.0 / (double)(e->shape[0] * e->shape[2] * e->shape[3]));
        for (size_t i = 0; i < e->numel; i++) p[i] = (float)(std * rn_rng_normal(&r));
    } else if (!strcmp(e->name, "fc.weight") || !strcmp(e->name, "fc.bias")) {
        for (size_t i = 0; i < e->numel; i++)
            p[i] = (float)(fc_bound * (2.0 * rn_rng_uniform(&r) - 1.0));
    } else {
        int last_bn = len > 11 && !strcmp(e->name + len - 11, ".bn3.weight");
        int one = is_bn_weight || strstr(e->name, "running_var") != NULL;
        float v = last_bn ? (float)residual_gamma : one ? 1.0f : 0.0f;
        for (size_t i = 0; i < e->numel; i++) p[i] = v;
    }
}

/* Entry by entry through one host buffer of the largest entry, not a host copy of the slabs: on a
 * CPU device that copy would add to the peak memory of the process. */
static void init_where(rn_model *m, uint64_t seed, int head_only, const rn_model_initcfg *ic)
{
    size_t most = 0;
    for (size_t i = 0; i < m->nentries; i++)
        if (m->e[i].numel > most) most = m->e[i].numel;
    float *p = malloc(most * sizeof *p);
    if (!p) abort();
    /* fan_in is fc.weight's input count (shape [classes, features]); the bias shares it */
    double fc_bound = ic->fc_scale / sqrt((double)m->e[m->fc_w].shape[1]);
    for (size_t i = 0; i < m->nentries; i++) {
        const rn_entry *e = &m->e[i];
        if (e->kind == RN_COUNTER || (head_only && strncmp(e->name, "fc.", 3))) continue;
        init_entry(e, p, seed, i, ic->residual_gamma, fc_bound);
        rn_write(m->ctx, e->w, 0, e->numel * sizeof(float), p);
    }
    if (!head_only) m->num_batches_tracked = 0;
    if (!m->inference_only) {
        rn_fill(m->ctx, m->vslab, m->param_floats, 0.0f);
        rn_fill(m->ctx, m->gslab, grad_floats(m), 0.0f);
    }
    free(p);
}

static const rn_model_initcfg torchvision_init = {.residual_gamma = 1, .fc_scale = 1};

void rn_model_init_params(rn_model *m, uint64_t seed, const rn_model_initcfg *ic)
{
    init_where(m, seed, 0, ic ? ic : &torchvision_init);
}

void rn_model_init_head(rn_model *m, uint64_t seed)
{
    init_where(m, seed, 1, &torchvision_init);
}

void rn_model_download(rn_model *m, float *wslab, float *bslab)
{
    rn_read(m->ctx, m->wslab, 0, m->param_floats * sizeof(float), wslab);
    rn_read(m->ctx, m->bslab, 0, m->buffer_floats * sizeof(float), bslab);
}

void rn_model_upload(rn_model *m, const float *wslab, const float *bslab)
{
    rn_write(m->ctx, m->wslab, 0, m->param_floats * sizeof(float), wslab);
    rn_write(m->ctx, m->bslab, 0, m->buffer_floats * sizeof(float), bslab);
}

/* ---- forward ----------------------------------------------------------------------------------
 */

/* conv then batch-norm from x into y, with c's ReLU, or (res) the residual join y = max(0,
 * BN + res) of c3. */
static void cbr_forward(rn_model *m, rn_cbr *c, cl_mem x, cl_mem y, int n, int train, cl_mem res)
{
    /* Inference keeps no conv output for a backward, so batch-norm runs over it in y itself: the
     * lines it writes are the ones it has just read, already in the cache. */
    cl_mem t = train ? c->t : y;
    rn_conv cv = rn_cbr_conv(c, n);
    conv2d_forward(m->ctx, t, x, m->e[c->conv_w].w, &cv, &m->ws);
    int M = n * c->ho * c->wo, relu = c->relu || res;
    cl_mem g = m->e[c->bn_w].w, b = m->e[c->bn_b].w, rm = m->e[c->bn_rm].w, rv = m->e[c->bn_rv].w;
    if (train)
        batchnorm_forward_train(m->ctx, y, t, g, b, rm, rv, c->smean, c->sinv, m->bn_part, c->cout,
                                M, 0.1f, 1e-5f, relu, res);
    else batchnorm_forward_eval(m->ctx, y, t, g, b, rm, rv, c->cout, M, 1e-5f, relu, res);
}

static cl_mem last_out(rn_model *m)
{
    return m->blocks[m->nblocks - 1].out;
}

void rn_model_forward(rn_model *m, cl_mem input, int n, int train)
{
    if (train && m->inference_only) rn_fatal("a training forward of an inference-only model");
    /* batch-norm outputs that backward recomputes live in buffers it reuses: the stem's in the
     * idle backward scratch, c1's and c2's in act */
    cbr_forward(m, &m->stem, input, m->scratch[0], n, train, NULL);
    rn_pool p = rn_model_maxpool(m, n);
    maxpool_forward(m->ctx, m->pool_out, m->pool_arg, m->scratch[0], &p);
    cl_mem x = m->pool_out;
    for (int b = 0; b < m->nblocks; b++) {
        rn_block *bl = &m->blocks[b];
        cbr_forward(m, &bl->c1, x, m->act[0], n, train, NULL);
        cbr_forward(m, &bl->c2, m->act[0], m->act[1], n, train, NULL);
        /* the projection's batch-norm output feeds only the join: it lives in idle backward
         * scratch; c3's batch-norm adds it (or x) and applies the join's ReLU */
        cl_mem res = x;
        if (bl->has_down) cbr_forward(m, &bl->down, x, res = m->scratch[1], n, train, NULL);
        cbr_forward(m, &bl->c3, m->act[1], bl->out, n, train, res);
        x = bl->out;
    }
    const rn_cbr *lc = &m->blocks[m->nblocks - 1].c3;
    avgpool_forward(m->ctx, m->feat, last_out(m), lc->cout, n, lc->ho * lc->wo);
    fc_forward(m->ctx, m->logits, m->feat, m->e[m->fc_w].w, m->e[m->fc_b].w, n, lc->cout,
               m->classes);
    if (train) m->num_batches_tracked++;
}

/* ---- backward ---------------------------------------------------------------------------------
 */

/* The SGD step of parameter tensor e (no weight decay on a 1-D one unless o->decay_1d). */
static void entry_step(rn_model *m, const rn_entry *e, const rn_model_sgd *o)
{
    float wd = e->ndim == 1 && !o->decay_1d ? 0.0f : o->weight_decay;
    sgd_step(m->ctx, e->w, e->v, e->g, e->numel, o->lr, o->momentum, wd, o->nesterov);
}

/* The SGD step of entries first..last, whose gradients backward has just completed and whose
 * weights it no longer reads; with a gradient hook, their gradients go to the hook instead. */
static void group_step(rn_model *m, int first, int last, const rn_model_sgd *o)
{
    if (m->grad_hook) {
        m->grad_hook->ready(m->grad_hook->user, m->e[first].off, group_floats(m, first, last));
        return;
    }
    for (int i = first; o && i <= last; i++) entry_step(m, &m->e[i], o);
}

/* c's batch-norm+ReLU output of the last training forward, recomputed into a from c->t and the
 * saved batch statistics: the same values the forward wrote (see batchnorm_apply). */
static void cbr_recompute(rn_model *m, rn_cbr *c, cl_mem a, int n)
{
    batchnorm_apply(m->ctx, a, c->t, m->e[c->bn_w].w, m->e[c->bn_b].w, c->smean, c->sinv, c->cout,
                    n * c->ho * c->wo, 1, NULL);
}

/* From dy (gradient of c's output) through batch-norm (+ReLU: c's own, whose mask batch-norm
 * recomputes from c->t, or the residual join's after c3, whose output a gives the mask; a is NULL
 * otherwise; dmask as in batchnorm_backward) into tmp, then through the convolution: weight
 * gradient into the slab, input gradient into dx (NULL: none; acc: add to dx). Unless they are
 * apart (grads_apart) every layer's gradients share the start of the slab, so the caller takes
 * c's SGD step (step) before the next layer's backward. */
static void cbr_backward(rn_model *m, rn_cbr *c, cl_mem x, cl_mem a, cl_mem dy, cl_mem tmp,
                         cl_mem dx, int acc, int n, cl_mem dmask)
{
    int M = n * c->ho * c->wo;
    batchnorm_backward(m->ctx, tmp, m->e[c->bn_w].g, m->e[c->bn_b].g, dy, c->t, a, m->e[c->bn_w].w,
                       m->e[c->bn_b].w, c->smean, c->sinv, m->bn_part, c->cout, M, c->relu || a,
                       dmask);
    rn_conv cv = rn_cbr_conv(c, n);
    conv2d_backward(m->ctx, dx, m->e[c->conv_w].g, tmp, x, m->e[c->conv_w].w, &cv, &m->ws, acc);
}

static void step(rn_model *m, const rn_cbr *c, const rn_model_sgd *o)
{
    group_step(m, c->conv_w, c->bn_b, o);
}

/* dout in S0 (gradient of bl->out); leaves the gradient of the block input x in S0. c2's and
 * c1's batch-norm+ReLU outputs (c3's and c2's conv inputs) are recomputed into act just before
 * the weight gradients need them. Each batch-norm's backward writes its input gradient over a
 * buffer it has just read and that is not needed after it (its dy, or c3's mask): the lines
 * written are then already in the cache, where a buffer of its own would first be read from
 * memory. */
static void block_backward(rn_model *m, rn_block *bl, cl_mem x, int n, const rn_model_sgd *o)
{
    cl_mem *S = m->scratch, *A = m->act;
    /* c3's backward starts at the join's ReLU (its mask is bl->out) and also leaves the join's
     * gradient, which both summands receive: with a projection in S1 (whose backward then
     * overwrites S0 with its input gradient), else in S0 itself, the shortcut's gradient that c1
     * adds to; c3's batch-norm gradient goes over the mask, bl->out, which nothing reads after */
    cl_mem djoin = bl->has_down ? S[1] : S[0];
    cbr_recompute(m, &bl->c2, A[1], n);
    cbr_backward(m, &bl->c3, A[1], bl->out, S[0], bl->out, S[2], 0, n, djoin);
    step(m, &bl->c3, o);
    if (bl->has_down) {
        cbr_backward(m, &bl->down, x, NULL, S[1], S[1], S[0], 0, n, NULL);
        step(m, &bl->down, o);
    }
    cbr_recompute(m, &bl->c1, A[0], n);
    cbr_backward(m, &bl->c2, A[0], NULL, S[2], S[2], S[1], 0, n, NULL);
    step(m, &bl->c2, o);
    cbr_backward(m, &bl->c1, x, NULL, S[1], S[1], S[0], 1, n, NULL);
    step(m, &bl->c1, o);
}

void rn_model_backward(rn_model *m, cl_mem input, int n, const rn_model_sgd *sgd)
{
    if (m->inference_only) rn_fatal("rn_model_backward of an inference-only model");
    if ((!sgd || m->grad_hook) && !m->keep_gradients)
        rn_fatal("rn_model_backward without an SGD step or with a gradient hook needs "
                 "keep_gradients");
    const rn_cbr *lc = &m->blocks[m->nblocks - 1].c3;
    fc_backward(m->ctx, m->dfeat, m->e[m->fc_w].g, m->e[m->fc_b].g, m->dlogits, m->feat,
                m->e[m->fc_w].w, n, lc->cout, m->classes);
    group_step(m, m->fc_w, m->fc_b, sgd);
    avgpool_backward(m->ctx, m->scratch[0], m->dfeat, lc->cout, n, lc->ho * lc->wo);
    for (int b = m->nblocks - 1; b >= 0; b--)
        block_backward(m, &m->blocks[b], b ? m->blocks[b - 1].out : m->pool_out, n, sgd);
    rn_pool p = rn_model_maxpool(m, n);
    maxpool_backward(m->ctx, m->scratch[1], m->scratch[0], m->pool_arg, &p);
    cbr_backward(m, &m->stem, input, NULL, m->scratch[1], m->scratch[1], NULL, 0, n, NULL);
    step(m, &m->stem, sgd);
    if (m->grad_hook) {
        m->grad_hook->finish(m->grad_hook->user);
        for (size_t i = 0; sgd && i < m->nentries; i++)
            if (m->e[i].kind == RN_PARAM) entry_step(m, &m->e[i], sgd);
    }
}
