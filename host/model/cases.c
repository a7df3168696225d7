/* The model's layer list turned into op cases. Shapes come from the built topology and GEMM
 * shapes from the convs' own rn_conv_gemm_shapes, so every consumer follows any change of the
 * network or of how a conv issues its GEMMs. */
#include "model/cases.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "ops/batchnorm.h"
#include "ops/eltwise.h"
#include "ops/fc.h"
#include "ops/loss.h"
#include "ops/sgd.h"
#include "rn50cl/rn50cl.h"

/* "layer1.0.bn1.weight" -> "layer1.0.bn1" */
static void module_name(char *dst, size_t len, const rn_model *m, int entry)
{
    snprintf(dst, len, "%s", m->e[entry].name);
    char *dot = strrchr(dst, '.');
    if (dot) *dot = 0;
}

static int push(rn_opcase *out, int n, int cap, const rn_opcase *c)
{
    if (n < cap) out[n] = *c;
    return n + 1;
}

/* A convolution and its batch-norm as two cases. */
static int push_cbr(rn_opcase *out, int n, int cap, const rn_model *m, const rn_cbr *c, int batch,
                    int with_dx)
{
    rn_opcase k = {.op = RN_OP_CONV, .with_dx = with_dx};
    module_name(k.name, sizeof k.name, m, c->conv_w);
    k.conv = rn_cbr_conv(c, batch);
    n = push(out, n, cap, &k);
    rn_opcase b = {.op = RN_OP_BN, .C = c->cout, .relu = c->relu, .N = batch};
    module_name(b.name, sizeof b.name, m, c->bn_w);
    b.M = (size_t)batch * c->ho * c->wo;
    return push(out, n, cap, &b);
}

static int model_cases(const rn_model *m, int batch, rn_opcase *out, int cap)
{
    int n = push_cbr(out, 0, cap, m, &m->stem, batch, 0);
    rn_opcase p = {.op = RN_OP_MAXPOOL, .name = "maxpool"};
    p.pool = rn_model_maxpool(m, batch);
    n = push(out, n, cap, &p);
    for (int i = 0; i < m->nblocks; i++) {
        const rn_block *bl = &m->blocks[i];
        n = push_cbr(out, n, cap, m, &bl->c1, batch, 1);
        n = push_cbr(out, n, cap, m, &bl->c2, batch, 1);
        n = push_cbr(out, n, cap, m, &bl->c3, batch, 1);
        if (bl->has_down) n = push_cbr(out, n, cap, m, &bl->down, batch, 1);
        rn_opcase j = {.op = RN_OP_ADD_RELU, .C = bl->c3.cout, .N = batch};
        snprintf(j.name, sizeof j.name, "layer%d.%d", bl->stage + 1, bl->index);
        j.M = (size_t)batch * bl->c3.ho * bl->c3.wo;
        n = push(out, n, cap, &j);
    }
    const rn_cbr *last = &m->blocks[m->nblocks - 1].c3;
    rn_opcase a = {.op = RN_OP_AVGPOOL, .name = "avgpool", .C = last->cout, .N = batch};
    a.HW = last->ho * last->wo;
    n = push(out, n, cap, &a);
    rn_opcase f = {.op = RN_OP_FC, .name = "fc", .C = last->cout, .N = batch};
    f.classes = m->classes;
    n = push(out, n, cap, &f);
    rn_opcase l = {.op = RN_OP_LOSS, .name = "loss", .N = batch, .classes = m->classes};
    n = push(out, n, cap, &l);
    rn_opcase s = {.op = RN_OP_SGD, .name = "sgd", .nparams = m->param_floats};
    return push(out, n, cap, &s);
}

int rn_model_cases(int batch, int classes, rn_opcase **out)
{
    enum { CAP = 256 }; /* ResNet50 has 124 */
    rn_model *m = malloc(sizeof *m);
    *out = malloc(CAP * sizeof **out);
    if (!m || !*out) abort();
    rn_model_init(m, classes);
    int n = model_cases(m, batch, *out, CAP);
    free(m);
    if (n > CAP) abort();
    return n;
}

const rn_opcase *rn_opcase_find(const rn_opcase *c, int n, enum rn_op op, const char *name)
{
    for (int i = 0; i < n; i++)
        if (c[i].op == op && !strcmp(c[i].name, name)) return &c[i];
    return NULL;
}

int rn_opcase_gemms(const rn_opcase *c, size_t ws_floats, int backward, rn_gemm_shape *out, int cap)
{
    if (c->op == RN_OP_CONV)
        return rn_conv_gemm_shapes(&c->conv, ws_floats, backward, c->with_dx, out, cap);
    return 0;
}

static double gemm_flops(const rn_opcase *c, int backward)
{
    enum { CAP = 4096 };
    rn_gemm_shape *s = malloc(CAP * sizeof *s);
    if (!s) abort();
    /* a workspace for the whole batch: chunking splits the same work into more calls */
    int n = rn_opcase_gemms(c, SIZE_MAX / 8, backward, s, CAP);
    if (n > CAP) abort();
    double f = 0;
    for (int i = 0; i < n; i++) f += rn_gemm_flops(&s[i]);
    free(s);
    return f;
}

double rn_opcase_flops(const rn_opcase *c, int backward)
{
    if (c->op == RN_OP_FC) { /* its own kernels: y forward; dx and dw backward */
        double f = 2.0 * c->N * c->C * c->classes;
        return backward ? 2 * f : f;
    }
    double fwd = gemm_flops(c, 0);
    return backward ? gemm_flops(c, 1) - fwd : fwd;
}

/* A conv run as one dense GEMM: the weights spread into the dense matrix (w read, matrix written;
 * backward again, and the matrix's gradient summed back into dw); where the image (output) is
 * larger than 1×1, x (y) turned into rows or back (backward: x and dy into rows, dx back). */
static double dense_conv_bytes(const rn_conv *v, int backward)
{
    const double P = (double)v->H * v->W, Q = (double)v->Ho * v->Wo;
    const double wmoves = (double)v->Cout * v->Cin * (v->kh * v->kw + Q * P);
    const double x = P > 1 ? 2 * (double)v->Cin * v->N * P : 0;
    const double y = Q > 1 ? 2 * (double)v->Cout * v->N * Q : 0;
    return sizeof(float) * (backward ? 2 * (wmoves + x) + y : wmoves + x + y);
}

double rn_opcase_bytes(const rn_opcase *c, int backward)
{
    const double f = sizeof(float), n = (double)c->C * (double)c->M;
    const rn_conv *v = &c->conv;
    const rn_pool *p = &c->pool;
    switch (c->op) {
    case RN_OP_CONV: /* im2col reads x and writes the columns; col2im reads them back into dx */
        if (rn_conv_is_pointwise(v)) return 0;
        if (rn_conv_is_dense(v)) return dense_conv_bytes(v, backward);
        return f * ((double)v->Cin * v->N * v->H * v->W +
                    (double)v->Cin * v->kh * v->kw * v->N * v->Ho * v->Wo);
    case RN_OP_BN: /* forward: mean, deviations, normalise (read + write); backward: the
                      reduction reads dy and x (the ReLU's mask is recomputed from x), the element
                      pass the same plus dx */
        return f * n * (backward ? 5 : 4);
    case RN_OP_RELU: return f * n * (backward ? 3 : 2);
    case RN_OP_ADD_RELU: return f * n * 3;
    case RN_OP_MAXPOOL: /* input once; output and argmax (or dy and argmax, then dx) */
        return f * ((double)p->C * p->N * p->H * p->W + 2.0 * p->C * p->N * p->Ho * p->Wo);
    case RN_OP_AVGPOOL: return f * ((double)c->C * c->N * c->HW + (double)c->C * c->N);
    case RN_OP_FC: /* the bias pass over the logits (the rest is GEMM) */
        return f * (backward ? (double)c->N * c->classes + c->classes
                             : 2.0 * c->N * c->classes + c->classes);
    case RN_OP_LOSS: /* logits and labels in; loss, correct and dlogits out */
        return backward ? 0 : f * c->N * (2.0 * c->classes + 3);
    case RN_OP_SGD: return backward ? 0 : f * 5 * (double)c->nparams; /* w, v, g in; w, v out */
    }
    return 0;
}

/* ---- running a case on its own buffers ---------------------------------------------------- */

/* Allocation for one case: a refused buffer is remembered (rn_buffer has said so) and the
 * rest goes on, so the caller checks once. */
typedef struct io_alloc {
    rn_ctx *ctx;
    int refused;
} io_alloc;

static cl_mem buffer(io_alloc *a, size_t bytes)
{
    cl_mem m = rn_buffer(a->ctx, bytes);
    if (!m) a->refused = 1;
    return m;
}

static cl_mem random_buffer(io_alloc *a, size_t n, uint64_t stream)
{
    cl_mem m = buffer(a, n * sizeof(float));
    float *h = malloc(n * sizeof *h);
    if (!h) abort();
    rn_rng r;
    rn_rng_seed(&r, 1, stream);
    for (size_t i = 0; i < n; i++) h[i] = 2 * rn_rng_uniform(&r) - 1;
    if (m) rn_write(a->ctx, m, 0, n * sizeof *h, h);
    free(h);
    return m;
}

static cl_mem filled(io_alloc *a, size_t n, float v)
{
    cl_mem m = buffer(a, n * sizeof(float));
    if (m) rn_fill(a->ctx, m, n, v);
    return m;
}

/* x, y and their gradients: nx and ny floats. */
static void alloc_xy(io_alloc *a, rn_opcase_io *io, size_t nx, size_t ny)
{
    io->x = random_buffer(a, nx, 1);
    io->dx = filled(a, nx, 0);
    io->y = filled(a, ny, 0);
    io->dy = random_buffer(a, ny, 2);
}

static void alloc_bn(io_alloc *a, const rn_opcase *c, rn_opcase_io *io)
{
    alloc_xy(a, io, (size_t)c->C * c->M, (size_t)c->C * c->M);
    io->w = filled(a, c->C, 1);
    io->b = filled(a, c->C, 0);
    io->dw = filled(a, c->C, 0);
    io->db = filled(a, c->C, 0);
    io->rmean = filled(a, c->C, 0);
    io->rvar = filled(a, c->C, 1);
    io->smean = filled(a, c->C, 0);
    io->sinv = filled(a, c->C, 0);
    io->part = buffer(a, batchnorm_part_floats(c->C, (int)c->M) * sizeof(float));
}

static void alloc_labels(io_alloc *a, const rn_opcase *c, rn_opcase_io *io)
{
    int32_t *lab = malloc((size_t)c->N * sizeof *lab);
    if (!lab) abort();
    for (int i = 0; i < c->N; i++) lab[i] = i % c->classes;
    io->index = buffer(a, (size_t)c->N * sizeof *lab);
    if (io->index) rn_write(a->ctx, io->index, 0, (size_t)c->N * sizeof *lab, lab);
    free(lab);
}

static void alloc_conv(io_alloc *a, const rn_conv *v, rn_opcase_io *io)
{
    size_t nw = (size_t)v->Cout * v->Cin * v->kh * v->kw;
    alloc_xy(a, io, (size_t)v->Cin * v->N * v->H * v->W, (size_t)v->Cout * v->N * v->Ho * v->Wo);
    io->w = random_buffer(a, nw, 3);
    io->dw = filled(a, nw, 0);
    /* the whole batch's columns: im2col and col2im (or the dense form's passes) run as one
     * launch each */
    if (rn_workspace_create(a->ctx, &io->ws, rn_conv_workspace_floats(v, v->N))) a->refused = 1;
}

int rn_opcase_io_alloc(rn_ctx *ctx, const rn_opcase *c, rn_opcase_io *io)
{
    memset(io, 0, sizeof *io);
    io_alloc a = {ctx, 0};
    const rn_pool *p = &c->pool;
    size_t n = (size_t)c->C * c->M;
    switch (c->op) {
    case RN_OP_CONV: alloc_conv(&a, &c->conv, io); break;
    case RN_OP_BN: alloc_bn(&a, c, io); break;
    case RN_OP_RELU:
    case RN_OP_ADD_RELU:
        alloc_xy(&a, io, n, n);
        io->x2 = random_buffer(&a, n, 3);
        break;
    case RN_OP_MAXPOOL:
        alloc_xy(&a, io, (size_t)p->C * p->N * p->H * p->W, (size_t)p->C * p->N * p->Ho * p->Wo);
        io->index = buffer(&a, (size_t)p->C * p->N * p->Ho * p->Wo * sizeof(int32_t));
        break;
    case RN_OP_AVGPOOL: alloc_xy(&a, io, (size_t)c->C * c->N * c->HW, (size_t)c->C * c->N); break;
    case RN_OP_FC:
        alloc_xy(&a, io, (size_t)c->C * c->N, (size_t)c->N * c->classes);
        io->w = random_buffer(&a, (size_t)c->classes * c->C, 3);
        io->dw = filled(&a, (size_t)c->classes * c->C, 0);
        io->b = random_buffer(&a, (size_t)c->classes, 4);
        io->db = filled(&a, (size_t)c->classes, 0);
        break;
    case RN_OP_LOSS:
        alloc_xy(&a, io, (size_t)c->N * c->classes, (size_t)c->N);
        io->correct = filled(&a, (size_t)c->N, 0);
        alloc_labels(&a, c, io);
        break;
    case RN_OP_SGD:
        io->w = random_buffer(&a, c->nparams, 1);
        io->dw = random_buffer(&a, c->nparams, 2);
        io->v = filled(&a, c->nparams, 0);
        break;
    }
    if (a.refused) {
        rn_opcase_io_free(io);
        return RN_ERR_INPUT;
    }
    /* what a backward run needs from its forward: argmax, batch statistics, the ReLU mask */
    rn_opcase_run(ctx, c, 0, io);
    rn_finish(ctx);
    return RN_OK;
}

void rn_opcase_io_free(rn_opcase_io *io)
{
    cl_mem *all[] = {&io->x,    &io->x2,   &io->y,     &io->dy,    &io->dx,      &io->w,
                     &io->dw,   &io->b,    &io->db,    &io->rmean, &io->rvar,    &io->smean,
                     &io->sinv, &io->part, &io->index, &io->loss,  &io->correct, &io->v};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) rn_release(all[i]);
    rn_workspace_release(&io->ws);
}

static void run_forward(rn_ctx *ctx, const rn_opcase *c, rn_opcase_io *io)
{
    size_t n = (size_t)c->C * c->M;
    switch (c->op) {
    case RN_OP_CONV: conv2d_forward(ctx, io->y, io->x, io->w, &c->conv, &io->ws); break;
    case RN_OP_BN:
        batchnorm_forward_train(ctx, io->y, io->x, io->w, io->b, io->rmean, io->rvar, io->smean,
                                io->sinv, io->part, c->C, (int)c->M, 0.1f, 1e-5f, c->relu, NULL);
        break;
    case RN_OP_RELU: relu_forward(ctx, io->y, io->x, n); break;
    case RN_OP_ADD_RELU: add_relu_forward(ctx, io->y, io->x, io->x2, n); break;
    case RN_OP_MAXPOOL: maxpool_forward(ctx, io->y, io->index, io->x, &c->pool); break;
    case RN_OP_AVGPOOL: avgpool_forward(ctx, io->y, io->x, c->C, c->N, c->HW); break;
    case RN_OP_FC: fc_forward(ctx, io->y, io->x, io->w, io->b, c->N, c->C, c->classes); break;
    case RN_OP_LOSS: /* the gradient comes with the forward */
        softmax_ce_forward(ctx, io->y, io->correct, io->dx, io->x, io->index, c->N, c->classes,
                           0.0f);
        break;
    case RN_OP_SGD: sgd_step(ctx, io->w, io->v, io->dw, c->nparams, 0.01f, 0.9f, 5e-4f, 1); break;
    }
}

static void run_backward(rn_ctx *ctx, const rn_opcase *c, rn_opcase_io *io)
{
    size_t n = (size_t)c->C * c->M;
    switch (c->op) {
    case RN_OP_CONV:
        conv2d_backward(ctx, c->with_dx ? io->dx : NULL, io->dw, io->dy, io->x, io->w, &c->conv,
                        &io->ws, 0);
        break;
    case RN_OP_BN:
        /* as the model's own-ReLU batch-norms run it: the mask recomputed, y not read */
        batchnorm_backward(ctx, io->dx, io->dw, io->db, io->dy, io->x, NULL, io->w, io->b,
                           io->smean, io->sinv, io->part, c->C, (int)c->M, c->relu, NULL);
        break;
    case RN_OP_RELU: relu_backward(ctx, io->dx, io->dy, io->y, n); break;
    case RN_OP_ADD_RELU: add_relu_backward(ctx, io->dx, io->dy, io->y, n); break;
    case RN_OP_MAXPOOL: maxpool_backward(ctx, io->dx, io->dy, io->index, &c->pool); break;
    case RN_OP_AVGPOOL: avgpool_backward(ctx, io->dx, io->dy, c->C, c->N, c->HW); break;
    case RN_OP_FC:
        fc_backward(ctx, io->dx, io->dw, io->db, io->dy, io->x, io->w, c->N, c->C, c->classes);
        break;
    case RN_OP_LOSS:
    case RN_OP_SGD: break; /* no backward of their own */
    }
}

void rn_opcase_run(rn_ctx *ctx, const rn_opcase *c, int backward, rn_opcase_io *io)
{
    if (backward) run_backward(ctx, c, io);
    else run_forward(ctx, c, io);
}

/* ---- the GEMMs of a step ------------------------------------------------------------------ */

/* Adds one issued shape to the distinct list, counting repeats, and returns its index. With
 * g (N > 0), the call may run as use runs_as's product gathering from conv g (rn_gemm_use;
 * runs_as -2: this use itself). */
static int add_use(rn_gemm_use *u, int *nu, int cap, const rn_gemm_shape *s, const char *layer,
                   const char *form, int runs_as, const rn_conv *g)
{
    int i = 0;
    while (i < *nu && !rn_gemm_shape_equal(&u[i].s, s)) i++;
    rn_gemm_use *n = &u[i];
    if (i < *nu) n->count++;
    else {
        if (*nu == cap) abort(); /* cap covers every shape of the network */
        (*nu)++;
        memset(n, 0, sizeof *n);
        n->s = *s;
        snprintf(n->layer, sizeof n->layer, "%s", layer);
        n->form = form;
        n->count = 1;
        n->runs_as = -1;
    }
    if (runs_as == -2) runs_as = i;
    if (g->N && n->runs_as < 0) {
        n->runs_as = runs_as;
        n->gconv = *g;
        snprintf(n->glayer, sizeof n->glayer, "%s", layer);
    }
    n->gathered += g->N && n->runs_as == runs_as && !memcmp(&n->gconv, g, sizeof *g);
    return i;
}

/* The conv of which s is the forward product (NN) or the weight gradient's (NT) on im2col's
 * columns for a chunk of images, with N that chunk's images; N = 0 when s is another product of
 * c. */
static rn_conv columns_conv(const rn_conv *c, const rn_gemm_shape *s)
{
    rn_conv k = *c;
    const size_t hw = (size_t)c->Ho * c->Wo, taps = (size_t)c->Cin * c->kh * c->kw;
    const size_t cols = s->tb ? s->K : s->N;
    k.N = !s->ta && s->M == (size_t)c->Cout && (s->tb ? s->N : s->K) == taps && cols % hw == 0
              ? (int)(cols / hw)
              : 0;
    if (!k.N) memset(&k, 0, sizeof k);
    return k;
}

int rn_gemm_use_gathered(rn_ctx *ctx, const rn_gemm_use *uses, int i)
{
    const rn_gemm_use *u = &uses[i];
    return u->runs_as >= 0 &&
                   rn_sgemm_rows_fits(ctx, &uses[u->runs_as].s, u->gconv.Cin, u->gconv.W, 0, 0)
               ? u->gathered
               : 0;
}

int rn_gemm_use_only_as_other(rn_ctx *ctx, const rn_gemm_use *uses, int i)
{
    return uses[i].runs_as != i && rn_gemm_use_gathered(ctx, uses, i) == uses[i].count;
}

int rn_model_gemm_uses(int batch, int classes, int train, size_t ws_bytes, rn_gemm_use **out)
{
    enum { CAP = 1024 };
    rn_opcase *c;
    int nc = rn_model_cases(batch, classes, &c), nu = 0;
    rn_gemm_use *u = malloc(CAP * sizeof *u);
    if (!u) abort();
    for (int i = 0; i < nc; i++) {
        if (c[i].op != RN_OP_CONV) continue;
        rn_gemm_shape s[256];
        int n = rn_opcase_gemms(&c[i], ws_bytes / sizeof(float), train, s, 256);
        if (n > 256) abort();
        /* (ta, tb) = (0,0) forward, (0,1) weight gradient, (1,0) input gradient. A conv that
         * gathers its forward columns may run its forward and weight-gradient products so; one
         * that can form its input gradient as its forward's products runs the k-th one, chunk by
         * chunk, as the k-th forward product. */
        const rn_conv *cv = &c[i].conv;
        const int gathers = rn_conv_rows_width(cv),
                  as_fwd =
                      train && c[i].with_dx && rn_conv_dx_as_forward(cv, ws_bytes / sizeof(float));
        int fwd[256], nf = 0, nd = 0;
        for (int j = 0; j < n; j++) {
            const int is_fwd = !s[j].ta && !s[j].tb,
                      as = s[j].ta && as_fwd && nd < nf ? fwd[nd] : -1;
            rn_conv g = {0};
            if ((is_fwd || s[j].tb) && gathers) g = columns_conv(cv, &s[j]);
            if (as >= 0) g = columns_conv(cv, &u[as].s);
            const int at = add_use(u, &nu, CAP, &s[j], c[i].name,
                                   is_fwd    ? "fwd"
                                   : s[j].tb ? "wgrad"
                                             : "dgrad",
                                   is_fwd || s[j].tb ? -2 : as, &g);
            if (is_fwd) fwd[nf++] = at;
            nd += s[j].ta;
        }
    }
    free(c);
    *out = u;
    return nu;
}
